// Argument checks shared by the scalar format functions: sizes, block multiples and output room.

import { BitNetError } from '../errors.js';

/** Throws BAD_TENSOR_SHAPE unless `n` is a non-negative integer multiple of `multiple`. */
export function requireMultiple(typeName: string, what: string, n: number, multiple: number): void {
  if (!Number.isInteger(n) || n < 0 || n % multiple !== 0) {
    throw new BitNetError('BAD_TENSOR_SHAPE', `${typeName}: ${what} must be a multiple of ${multiple}, got ${n}`, {
      details: { type: typeName, field: what, expected: multiple, actual: n },
    });
  }
}

/** Throws BAD_TENSOR_DATA when `bytes` holds fewer than `byteLength` bytes. */
export function requireBytes(typeName: string, bytes: Uint8Array, byteLength: number): void {
  if (bytes.length < byteLength) {
    throw new BitNetError('BAD_TENSOR_DATA', `${typeName}: need ${byteLength} bytes, got ${bytes.length}`, {
      details: { type: typeName, expected: byteLength, actual: bytes.length },
    });
  }
}

/** Throws BAD_ARGUMENT when `buffer` (starting at `offset`) has room for fewer than `n` elements. */
export function requireRoom(typeName: string, what: string, buffer: ArrayLike<number>, offset: number, n: number): void {
  if (!Number.isInteger(offset) || offset < 0 || buffer.length - offset < n) {
    throw new BitNetError('BAD_ARGUMENT', `${typeName}: ${what} needs ${n} elements from offset ${offset}, has length ${buffer.length}`, {
      details: { type: typeName, field: what, expected: offset + n, actual: buffer.length },
    });
  }
}

/** Throws BAD_ARGUMENT when row `row` of a [cols x rows] matrix lies outside `nRows` rows. */
export function requireRow(typeName: string, row: number, nRows: number): void {
  if (!Number.isInteger(row) || row < 0 || row >= nRows) {
    throw new BitNetError('BAD_ARGUMENT', `${typeName}: row ${row} out of range [0, ${nRows})`, {
      details: { type: typeName, field: 'row', expected: nRows, actual: row },
    });
  }
}
