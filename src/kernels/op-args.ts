// Argument checks shared by every backend (kernels/backend.ts): shapes and scalars an op must refuse with BAD_ARGUMENT
// whatever backend runs it. Checks that touch a backend's own memory (tensor sizes, ownership) stay in the backend.

import { BitNetError } from '../errors.js';

function bad(op: string, message: string, details: Record<string, string | number>): BitNetError {
  return new BitNetError('BAD_ARGUMENT', `${op}: ${message}`, { details: { op, ...details } });
}

function intAtLeast(op: string, field: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) throw bad(op, `${field} must be an integer >= ${min}, got ${n}`, { field, expected: min, actual: n });
}

/** Most F16 values of one layer's K (or V) plane of a pool: a typed array's and a wasm32 offset's reach. */
export const MAX_KV_PLANE_VALUES = 2 ** 30;

/** createKvPool: positive sizes, headDim divides kvDim, one layer's plane within MAX_KV_PLANE_VALUES. */
export function checkKvPoolArgs(nLayers: number, kvDim: number, headDim: number, blockSize: number, nBlocks: number): void {
  intAtLeast('createKvPool', 'nLayers', nLayers, 1);
  intAtLeast('createKvPool', 'kvDim', kvDim, 1);
  intAtLeast('createKvPool', 'headDim', headDim, 1);
  intAtLeast('createKvPool', 'blockSize', blockSize, 1);
  intAtLeast('createKvPool', 'nBlocks', nBlocks, 1);
  if (kvDim % headDim !== 0) throw bad('createKvPool', `headDim ${headDim} must divide kvDim ${kvDim}`, { field: 'headDim', expected: kvDim, actual: headDim });
  if (nBlocks * blockSize * kvDim > MAX_KV_PLANE_VALUES) {
    throw bad('createKvPool', `${nBlocks} blocks of ${blockSize} x ${kvDim} values exceed ${MAX_KV_PLANE_VALUES} per layer`, { field: 'nBlocks', actual: nBlocks });
  }
}

/** rope: token and head counts, an even headDim, a known style, a positive finite theta, a non-negative integer position per token. */
export function checkRopeArgs(nTokens: number, nHeads: number, headDim: number, positions: ArrayLike<number>, theta: number, style: string): void {
  intAtLeast('rope', 'nTokens', nTokens, 0);
  intAtLeast('rope', 'nHeads', nHeads, 1);
  intAtLeast('rope', 'headDim', headDim, 2);
  if (headDim % 2 !== 0) throw bad('rope', `headDim must be even, got ${headDim}`, { field: 'headDim', actual: headDim });
  if (style !== 'neox' && style !== 'normal') throw bad('rope', `unknown style '${style}'`, { field: 'style' });
  if (!(theta > 0) || !Number.isFinite(theta)) throw bad('rope', `theta must be a positive number, got ${theta}`, { field: 'theta' });
  if (positions.length < nTokens) throw bad('rope', `positions needs at least ${nTokens} elements, has ${positions.length}`, { field: 'positions', expected: nTokens, actual: positions.length });
  for (let t = 0; t < nTokens; t++) intAtLeast('rope', `positions[${t}]`, positions[t], 0);
}

/**
 * Throws BAD_ARGUMENT unless nHeads, nKvHeads and headDim are positive integers, nHeads is a multiple of nKvHeads,
 * nKvHeads * headDim is the pool's kvDim, and headDim is the one the pool was created with.
 */
export function checkAttentionShape(nHeads: number, nKvHeads: number, headDim: number, cache: { readonly kvDim: number; readonly headDim: number }): void {
  intAtLeast('attention', 'nHeads', nHeads, 1);
  intAtLeast('attention', 'nKvHeads', nKvHeads, 1);
  intAtLeast('attention', 'headDim', headDim, 1);
  if (nHeads % nKvHeads !== 0 || nKvHeads * headDim !== cache.kvDim) {
    throw bad('attention', `nHeads ${nHeads} must be a multiple of nKvHeads ${nKvHeads}, and nKvHeads * headDim (${nKvHeads * headDim}) must equal the cache kvDim ${cache.kvDim}`, {
      nHeads,
      nKvHeads,
      headDim,
      kvDim: cache.kvDim,
    });
  }
  if (cache.headDim !== headDim) {
    throw bad('attention', `headDim ${headDim} differs from the ${cache.headDim} the cache was created with`, { field: 'headDim', expected: cache.headDim, actual: headDim });
  }
}
