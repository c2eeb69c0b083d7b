// Checks shared by every backend's attention (kernels/backend.ts): head counts and sizes against the KV cache they read.

import { BitNetError } from '../errors.js';

function bad(message: string, details: Record<string, string | number>): BitNetError {
  return new BitNetError('BAD_ARGUMENT', `attention: ${message}`, { details: { op: 'attention', ...details } });
}

function positiveInt(field: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw bad(`${field} must be an integer >= 1, got ${n}`, { field, expected: 1, actual: n });
}

/**
 * Throws BAD_ARGUMENT unless nHeads, nKvHeads and headDim are positive integers, nHeads is a multiple of nKvHeads,
 * nKvHeads * headDim is the cache's kvDim, and headDim is the one the cache was created with (when it was given).
 */
export function checkAttentionShape(nHeads: number, nKvHeads: number, headDim: number, cache: { readonly kvDim: number; readonly headDim?: number | undefined }): void {
  positiveInt('nHeads', nHeads);
  positiveInt('nKvHeads', nKvHeads);
  positiveInt('headDim', headDim);
  if (nHeads % nKvHeads !== 0 || nKvHeads * headDim !== cache.kvDim) {
    throw bad(`nHeads ${nHeads} must be a multiple of nKvHeads ${nKvHeads}, and nKvHeads * headDim (${nKvHeads * headDim}) must equal the cache kvDim ${cache.kvDim}`, {
      nHeads,
      nKvHeads,
      headDim,
      kvDim: cache.kvDim,
    });
  }
  if (cache.headDim !== undefined && cache.headDim !== headDim) {
    throw bad(`headDim ${headDim} differs from the ${cache.headDim} the cache was created with`, { field: 'headDim', expected: cache.headDim, actual: headDim });
  }
}
