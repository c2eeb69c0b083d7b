// Argument checks shared by the reference kernels: every bad size or index becomes a BitNetError naming it.

import { BitNetError } from '../../errors.js';

/** Throws BAD_ARGUMENT unless n is an integer >= min. */
export function requireInt(op: string, what: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) {
    throw new BitNetError('BAD_ARGUMENT', `${op}: ${what} must be an integer >= ${min}, got ${n}`, { details: { op, field: what, expected: min, actual: n } });
  }
}

/** Throws BAD_ARGUMENT when `buffer` holds fewer than n elements. */
export function requireLength(op: string, what: string, buffer: ArrayLike<number>, n: number): void {
  if (buffer.length < n) {
    throw new BitNetError('BAD_ARGUMENT', `${op}: ${what} needs at least ${n} elements, has ${buffer.length}`, {
      details: { op, field: what, expected: n, actual: buffer.length },
    });
  }
}

/** Throws BAD_ARGUMENT unless x is a finite number. */
export function requireFinite(op: string, what: string, x: number): void {
  if (!Number.isFinite(x)) {
    throw new BitNetError('BAD_ARGUMENT', `${op}: ${what} must be finite, got ${x}`, { details: { op, field: what, actual: String(x) } });
  }
}
