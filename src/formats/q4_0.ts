// Q4_0 tensors: blocks of 32 4-bit values sharing one F16 scale; reference quantize, dequantize and a row dot.
// Layout: ggml/src/ggml-common.h block_q4_0 { ggml_half d; uint8_t qs[16]; } (18 bytes); byte j holds
// element j in its low nibble and element j + 16 in its high nibble; value = (nibble - 8) * d.
// Rules: ggml/src/ggml-quants.c quantize_row_q4_0_ref / dequantize_row_q4_0.

import type { BlockLayout } from './layout.js';
import { readF16, writeF16 } from './f16.js';
import { requireBytes, requireMultiple, requireRoom, requireRow } from './validate.js';

export const Q4_0_BLOCK_ELEMENTS = 32;
export const Q4_0_BLOCK_BYTES = 18;

export const Q4_0_LAYOUT: BlockLayout = [
  { name: 'd', byteOffset: 0, byteLength: 2, meaning: 'F16 scale: value = (nibble - 8) * d' },
  { name: 'qs', byteOffset: 2, byteLength: 16, meaning: 'byte j: element j in bits 0..3, element j + 16 in bits 4..7' },
];

/**
 * Q4_0 bytes of `values` (length a multiple of 32), as quantize_row_q4_0_ref: per block take the value
 * with the largest magnitude (signed) `max`, d = max / -8, id = 1/d, nibble = min(15, trunc(x * id + 8.5)).
 */
export function quantizeQ4_0(values: ArrayLike<number>): Uint8Array {
  requireMultiple('Q4_0', 'element count', values.length, Q4_0_BLOCK_ELEMENTS);
  const nBlocks = values.length / Q4_0_BLOCK_ELEMENTS;
  const bytes = new Uint8Array(nBlocks * Q4_0_BLOCK_BYTES);
  const half = Q4_0_BLOCK_ELEMENTS / 2;
  for (let b = 0; b < nBlocks; b++) {
    const first = b * Q4_0_BLOCK_ELEMENTS;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < Q4_0_BLOCK_ELEMENTS; j++) {
      const v = Math.fround(values[first + j]);
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const blockOffset = b * Q4_0_BLOCK_BYTES;
    writeF16(bytes, blockOffset, d);
    for (let j = 0; j < half; j++) {
      const lo = Math.min(15, Math.trunc(Math.fround(Math.fround(Math.fround(values[first + j]) * id) + 8.5)));
      const hi = Math.min(15, Math.trunc(Math.fround(Math.fround(Math.fround(values[first + half + j]) * id) + 8.5)));
      bytes[blockOffset + 2 + j] = lo | (hi << 4);
    }
  }
  return bytes;
}

/** out[outOffset + i] = (nibble - 8) * d for element i < nElements (nElements a multiple of 32). */
export function dequantizeQ4_0(bytes: Uint8Array, nElements: number, out: Float32Array, outOffset = 0, firstElement = 0): void {
  requireMultiple('Q4_0', 'element count', nElements, Q4_0_BLOCK_ELEMENTS);
  requireMultiple('Q4_0', 'first element', firstElement, Q4_0_BLOCK_ELEMENTS);
  const firstBlock = firstElement / Q4_0_BLOCK_ELEMENTS;
  const nBlocks = nElements / Q4_0_BLOCK_ELEMENTS;
  requireBytes('Q4_0', bytes, (firstBlock + nBlocks) * Q4_0_BLOCK_BYTES);
  requireRoom('Q4_0', 'out', out, outOffset, nElements);
  for (let b = 0; b < nBlocks; b++) {
    const blockOffset = (firstBlock + b) * Q4_0_BLOCK_BYTES;
    const d = readF16(bytes, blockOffset);
    const o = outOffset + b * Q4_0_BLOCK_ELEMENTS;
    for (let j = 0; j < 16; j++) {
      const byte = bytes[blockOffset + 2 + j];
      out[o + j] = ((byte & 0x0f) - 8) * d;
      out[o + 16 + j] = ((byte >>> 4) - 8) * d;
    }
  }
}

/** sum_c W[row, c] * x[xOffset + c] in float64, W a Q4_0 matrix with `cols` columns (weights dequantized exactly). */
export function dotRowQ4_0(bytes: Uint8Array, row: number, cols: number, x: ArrayLike<number>, xOffset = 0): number {
  requireMultiple('Q4_0', 'row length', cols, Q4_0_BLOCK_ELEMENTS);
  const blocksPerRow = cols / Q4_0_BLOCK_ELEMENTS;
  requireRow('Q4_0', row, Math.floor(bytes.length / (blocksPerRow * Q4_0_BLOCK_BYTES)));
  requireRoom('Q4_0', 'x', x, xOffset, cols);
  let sum = 0;
  for (let b = 0; b < blocksPerRow; b++) {
    const blockOffset = (row * blocksPerRow + b) * Q4_0_BLOCK_BYTES;
    const d = readF16(bytes, blockOffset);
    const xo = xOffset + b * Q4_0_BLOCK_ELEMENTS;
    for (let j = 0; j < 16; j++) {
      const byte = bytes[blockOffset + 2 + j];
      sum += ((byte & 0x0f) - 8) * d * x[xo + j] + ((byte >>> 4) - 8) * d * x[xo + 16 + j];
    }
  }
  return sum;
}

/**
 * sum_c W[row, c] * x[c] for a Q4_0 matrix with `cols` columns and Q8_0 activations (Q4_0's vec_dot_type; xq,
 * xd from quantizeActivationsQ8_0 in q8_0.ts), as ggml_vec_dot_q4_0_q8_0 (ggml-cpu/quants.c): per block the
 * integer dot of (nibble - 8) with the int8 activations times d_w * d_x, each term exact in float64.
 */
export function dotRowQ4_0Q8_0(bytes: Uint8Array, row: number, cols: number, xq: Int8Array, xd: ArrayLike<number>): number {
  requireMultiple('Q4_0', 'row length', cols, Q4_0_BLOCK_ELEMENTS);
  const blocksPerRow = cols / Q4_0_BLOCK_ELEMENTS;
  requireRow('Q4_0', row, Math.floor(bytes.length / (blocksPerRow * Q4_0_BLOCK_BYTES)));
  requireRoom('Q4_0', 'xq', xq, 0, cols);
  requireRoom('Q4_0', 'xd', xd, 0, blocksPerRow);
  let sum = 0;
  for (let b = 0; b < blocksPerRow; b++) {
    const blockOffset = (row * blocksPerRow + b) * Q4_0_BLOCK_BYTES;
    const xo = b * Q4_0_BLOCK_ELEMENTS;
    let isum = 0;
    for (let j = 0; j < 16; j++) {
      const byte = bytes[blockOffset + 2 + j];
      isum += ((byte & 0x0f) - 8) * xq[xo + j] + ((byte >>> 4) - 8) * xq[xo + 16 + j];
    }
    sum += readF16(bytes, blockOffset) * xd[b] * isum;
  }
  return sum;
}
