// Helpers shared by the ternary formats (TQ1_0, TQ2_0, I2_S): checks on codes and rows.

import { BitNetError } from '../errors.js';
import { requireMultiple } from './validate.js';

/** Throws BAD_ARGUMENT unless every code is -1, 0 or +1. */
export function requireTernaryCodes(typeName: string, codes: Int8Array): void {
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c < -1 || c > 1) {
      throw new BitNetError('BAD_ARGUMENT', `${typeName}: code at index ${i} is ${c}, expected -1, 0 or +1`, {
        details: { type: typeName, index: i, expected: '-1|0|1', actual: c },
      });
    }
  }
}

/** Checks a tensor of `nElements` values made of rows of `rowLength` (a multiple of `blockElements`). */
export function requireRows(typeName: string, nElements: number, rowLength: number, blockElements: number): void {
  if (!Number.isInteger(rowLength) || rowLength <= 0) {
    throw new BitNetError('BAD_TENSOR_SHAPE', `${typeName}: row length must be a positive integer, got ${rowLength}`, {
      details: { type: typeName, field: 'rowLength', actual: rowLength },
    });
  }
  requireMultiple(typeName, 'row length', rowLength, blockElements);
  requireMultiple(typeName, 'element count', nElements, rowLength);
}

/** Throws BAD_ARGUMENT unless `scale` is a finite number. */
export function requireFiniteScale(typeName: string, scale: number): void {
  if (!Number.isFinite(scale)) {
    throw new BitNetError('BAD_ARGUMENT', `${typeName}: scale must be finite, got ${scale}`, { details: { type: typeName, field: 'scale', actual: String(scale) } });
  }
}

/** lroundf of C (nearest, halves away from zero) of an f32 value. */
export function roundHalfAway(v: number): number {
  const r = Math.round(Math.abs(v));
  return v < 0 ? -r : r;
}
