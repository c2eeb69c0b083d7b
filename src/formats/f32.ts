// F32 tensors (norm weights, small scale tensors): layout, little-endian read/write and a row dot.

import type { BlockLayout } from './layout.js';
import { requireBytes, requireRoom, requireRow } from './validate.js';

export const F32_BLOCK_ELEMENTS = 1;
export const F32_BLOCK_BYTES = 4;

export const F32_LAYOUT: BlockLayout = [{ name: 'value', byteOffset: 0, byteLength: 4, meaning: 'IEEE binary32, little-endian' }];

/** The f32 stored little-endian at `byteOffset` (any alignment). */
export function readF32(bytes: Uint8Array, byteOffset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + byteOffset, 4).getFloat32(0, true);
}

/** Store `x` as f32 little-endian at `byteOffset`. */
export function writeF32(bytes: Uint8Array, byteOffset: number, x: number): void {
  new DataView(bytes.buffer, bytes.byteOffset + byteOffset, 4).setFloat32(0, x, true);
}

/** out[outOffset + i] = element i of an F32 tensor, for i < nElements. */
export function dequantizeF32(bytes: Uint8Array, nElements: number, out: Float32Array, outOffset = 0): void {
  requireBytes('F32', bytes, nElements * F32_BLOCK_BYTES);
  requireRoom('F32', 'out', out, outOffset, nElements);
  const view = new DataView(bytes.buffer, bytes.byteOffset, nElements * F32_BLOCK_BYTES);
  for (let i = 0; i < nElements; i++) out[outOffset + i] = view.getFloat32(4 * i, true);
}

/** F32 bytes (little-endian) of `values`. */
export function quantizeF32(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * F32_BLOCK_BYTES);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
  return bytes;
}

/** sum_c W[row, c] * x[xOffset + c] in float64 for an F32 matrix with `cols` columns. */
export function dotRowF32(bytes: Uint8Array, row: number, cols: number, x: ArrayLike<number>, xOffset = 0): number {
  requireRow('F32', row, Math.floor(bytes.length / (cols * F32_BLOCK_BYTES)));
  requireRoom('F32', 'x', x, xOffset, cols);
  const view = new DataView(bytes.buffer, bytes.byteOffset + row * cols * F32_BLOCK_BYTES, cols * F32_BLOCK_BYTES);
  let sum = 0;
  for (let c = 0; c < cols; c++) sum += view.getFloat32(4 * c, true) * x[xOffset + c];
  return sum;
}
