// TQ2_0 tensors: 256 ternary values per block at 2 bits each, then one F16 scale (66 bytes, 2.0625 bpw).
// Layout: ggml/src/ggml-common.h block_tq2_0 { uint8_t qs[64]; ggml_half d; } (d AFTER qs).
// Element order (ggml/src/ggml-quants.c quantize_row_tq2_0_ref / dequantize_row_tq2_0): for each 32-byte
// half j of qs (j = 0, 32), shift l in 0..3, m in 0..31: element 4j + 32l + m = ((qs[j + m] >> 2l) & 3) - 1.

import type { BlockLayout } from './layout.js';
import { readF16, writeF16 } from './f16.js';
import { requireFiniteScale, requireRows, requireTernaryCodes, roundHalfAway } from './ternary-common.js';
import { requireBytes, requireMultiple, requireRoom, requireRow } from './validate.js';

export const TQ2_0_BLOCK_ELEMENTS = 256;
export const TQ2_0_BLOCK_BYTES = 66;

export const TQ2_0_LAYOUT: BlockLayout = [
  { name: 'qs', byteOffset: 0, byteLength: 64, meaning: '2-bit codes 0,1,2 = -1,0,+1; byte 32h + m holds element 128h + 32l + m at bit shift 2l' },
  { name: 'd', byteOffset: 64, byteLength: 2, meaning: 'F16 scale: value = (code - 1) * d' },
];

const D = 64;

/** Byte (within the block) and bit shift of element e (0..255). */
export function tq2_0Position(e: number): { byteIndex: number; shift: number } {
  const half = e >>> 7;
  const within = e & 127;
  return { byteIndex: 32 * half + (within & 31), shift: 2 * (within >>> 5) };
}

/**
 * TQ2_0 bytes of `values` (rows of `rowLength`, a multiple of 256), as quantize_row_tq2_0_ref:
 * per block d = max|x|, q = lround(x / d) (f32 x * (1/d)), stored as q + 1; d as F16.
 */
export function quantizeTq2_0(values: Float32Array, rowLength: number): Uint8Array {
  requireRows('TQ2_0', values.length, rowLength, TQ2_0_BLOCK_ELEMENTS);
  const nBlocks = values.length / TQ2_0_BLOCK_ELEMENTS;
  const bytes = new Uint8Array(nBlocks * TQ2_0_BLOCK_BYTES);
  for (let b = 0; b < nBlocks; b++) {
    const first = b * TQ2_0_BLOCK_ELEMENTS;
    let amax = 0;
    for (let e = 0; e < TQ2_0_BLOCK_ELEMENTS; e++) amax = Math.max(amax, Math.abs(values[first + e]));
    const id = amax !== 0 ? Math.fround(1 / amax) : 0;
    const blockOffset = b * TQ2_0_BLOCK_BYTES;
    writeF16(bytes, blockOffset + D, amax);
    for (let e = 0; e < TQ2_0_BLOCK_ELEMENTS; e++) {
      const code = roundHalfAway(Math.fround(values[first + e] * id)) + 1;
      const at = tq2_0Position(e);
      bytes[blockOffset + at.byteIndex] |= (code & 3) << at.shift;
    }
  }
  return bytes;
}

/** TQ2_0 bytes holding `codes` (-1/0/+1) with every block's d = F16(scale). */
export function packTq2_0(codes: Int8Array, scale: number, rowLength: number): Uint8Array {
  requireRows('TQ2_0', codes.length, rowLength, TQ2_0_BLOCK_ELEMENTS);
  requireTernaryCodes('TQ2_0', codes);
  requireFiniteScale('TQ2_0', scale);
  const nBlocks = codes.length / TQ2_0_BLOCK_ELEMENTS;
  const bytes = new Uint8Array(nBlocks * TQ2_0_BLOCK_BYTES);
  for (let b = 0; b < nBlocks; b++) {
    const blockOffset = b * TQ2_0_BLOCK_BYTES;
    for (let e = 0; e < TQ2_0_BLOCK_ELEMENTS; e++) {
      const at = tq2_0Position(e);
      bytes[blockOffset + at.byteIndex] |= (codes[b * TQ2_0_BLOCK_ELEMENTS + e] + 1) << at.shift;
    }
    writeF16(bytes, blockOffset + D, scale);
  }
  return bytes;
}

/**
 * The codes (value / d) of the first nElements elements. A 2-bit code 3, which no quantizer writes,
 * decodes to +2 exactly as upstream's (q - 1) * d does.
 */
export function unpackTq2_0(bytes: Uint8Array, nElements: number): Int8Array {
  requireMultiple('TQ2_0', 'element count', nElements, TQ2_0_BLOCK_ELEMENTS);
  requireBytes('TQ2_0', bytes, (nElements / TQ2_0_BLOCK_ELEMENTS) * TQ2_0_BLOCK_BYTES);
  const codes = new Int8Array(nElements);
  for (let b = 0; b < nElements / TQ2_0_BLOCK_ELEMENTS; b++) {
    const blockOffset = b * TQ2_0_BLOCK_BYTES;
    for (let e = 0; e < TQ2_0_BLOCK_ELEMENTS; e++) {
      const at = tq2_0Position(e);
      codes[b * TQ2_0_BLOCK_ELEMENTS + e] = ((bytes[blockOffset + at.byteIndex] >>> at.shift) & 3) - 1;
    }
  }
  return codes;
}

/** out[outOffset + i] = (code - 1) * d for element firstElement + i, i < nElements (multiples of 256). */
export function dequantizeTq2_0(bytes: Uint8Array, nElements: number, out: Float32Array, outOffset = 0, firstElement = 0): void {
  requireMultiple('TQ2_0', 'element count', nElements, TQ2_0_BLOCK_ELEMENTS);
  requireMultiple('TQ2_0', 'first element', firstElement, TQ2_0_BLOCK_ELEMENTS);
  const firstBlock = firstElement / TQ2_0_BLOCK_ELEMENTS;
  const nBlocks = nElements / TQ2_0_BLOCK_ELEMENTS;
  requireBytes('TQ2_0', bytes, (firstBlock + nBlocks) * TQ2_0_BLOCK_BYTES);
  requireRoom('TQ2_0', 'out', out, outOffset, nElements);
  for (let b = 0; b < nBlocks; b++) {
    const blockOffset = (firstBlock + b) * TQ2_0_BLOCK_BYTES;
    const d = readF16(bytes, blockOffset + D);
    let y = outOffset + b * TQ2_0_BLOCK_ELEMENTS;
    // Upstream's loop order: j (half), l (shift), m (byte) walks the elements in storage order.
    for (let j = 0; j < 64; j += 32) {
      for (let l = 0; l < 4; l++) {
        for (let m = 0; m < 32; m++) out[y++] = (((bytes[blockOffset + j + m] >>> (2 * l)) & 3) - 1) * d;
      }
    }
  }
}

/**
 * sum_c w[row, c] * xq[c] as float64: sum over blocks of d * (integer dot of codes and xq), exact for
 * any F16 d (|d * int| < 2^53). `cols` must be a multiple of 256; xq holds at least `cols` int8 values.
 */
export function dotTq2_0(bytes: Uint8Array, row: number, cols: number, xq: Int8Array, actScales?: Float64Array): number {
  requireMultiple('TQ2_0', 'row length', cols, TQ2_0_BLOCK_ELEMENTS);
  const blocksPerRow = cols / TQ2_0_BLOCK_ELEMENTS;
  requireRow('TQ2_0', row, Math.floor(bytes.length / (blocksPerRow * TQ2_0_BLOCK_BYTES)));
  requireRoom('TQ2_0', 'xq', xq, 0, cols);
  let sum = 0;
  for (let b = 0; b < blocksPerRow; b++) {
    const blockOffset = (row * blocksPerRow + b) * TQ2_0_BLOCK_BYTES;
    const x0 = b * TQ2_0_BLOCK_ELEMENTS;
    let acc = 0;
    for (let j = 0; j < 64; j += 32) {
      const xj = x0 + 4 * j;
      for (let m = 0; m < 32; m++) {
        const byte = bytes[blockOffset + j + m];
        acc +=
          ((byte & 3) - 1) * xq[xj + m] +
          (((byte >>> 2) & 3) - 1) * xq[xj + 32 + m] +
          (((byte >>> 4) & 3) - 1) * xq[xj + 64 + m] +
          ((byte >>> 6) - 1) * xq[xj + 96 + m];
      }
    }
    sum += readF16(bytes, blockOffset + D) * (actScales === undefined ? acc : acc * actScales[x0 >>> 8]);
  }
  return sum;
}
