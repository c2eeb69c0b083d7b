// Q8_0 tensors: blocks of 32 int8 values sharing one F16 scale; reference quantize, dequantize and a row dot.
// Layout: ggml/src/ggml-common.h block_q8_0 { ggml_half d; int8_t qs[32]; } (34 bytes).
// Rules: ggml/src/ggml-quants.c quantize_row_q8_0_ref / dequantize_row_q8_0.

import type { BlockLayout } from './layout.js';
import { f16BitsToF32, f32ToF16Bits, readF16, writeF16 } from './f16.js';
import { requireBytes, requireMultiple, requireRoom, requireRow } from './validate.js';

export const Q8_0_BLOCK_ELEMENTS = 32;
export const Q8_0_BLOCK_BYTES = 34;

export const Q8_0_LAYOUT: BlockLayout = [
  { name: 'd', byteOffset: 0, byteLength: 2, meaning: 'F16 scale: value = d * q' },
  { name: 'qs', byteOffset: 2, byteLength: 32, meaning: 'int8 quants q, element j of the block in byte j' },
];

/** round() of C: halves away from zero. */
function roundHalfAway(v: number): number {
  const r = Math.round(Math.abs(v));
  return v < 0 ? -r : r;
}

/**
 * Q8_0 bytes of `values` (length a multiple of 32), as quantize_row_q8_0_ref: per block
 * amax = max|x|, d = amax / 127 (f32), id = 1/d, q = round(x * id) (halves away from zero); d stored as F16.
 */
export function quantizeQ8_0(values: ArrayLike<number>): Uint8Array {
  requireMultiple('Q8_0', 'element count', values.length, Q8_0_BLOCK_ELEMENTS);
  const nBlocks = values.length / Q8_0_BLOCK_ELEMENTS;
  const bytes = new Uint8Array(nBlocks * Q8_0_BLOCK_BYTES);
  for (let b = 0; b < nBlocks; b++) {
    const first = b * Q8_0_BLOCK_ELEMENTS;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK_ELEMENTS; j++) amax = Math.max(amax, Math.abs(Math.fround(values[first + j])));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const blockOffset = b * Q8_0_BLOCK_BYTES;
    writeF16(bytes, blockOffset, d);
    for (let j = 0; j < Q8_0_BLOCK_ELEMENTS; j++) {
      const q = roundHalfAway(Math.fround(Math.fround(values[first + j]) * id));
      bytes[blockOffset + 2 + j] = q & 0xff;
    }
  }
  return bytes;
}

/** out[outOffset + i] = d * q for element i < nElements (nElements a multiple of 32). */
export function dequantizeQ8_0(bytes: Uint8Array, nElements: number, out: Float32Array, outOffset = 0, firstElement = 0): void {
  requireMultiple('Q8_0', 'element count', nElements, Q8_0_BLOCK_ELEMENTS);
  requireMultiple('Q8_0', 'first element', firstElement, Q8_0_BLOCK_ELEMENTS);
  const firstBlock = firstElement / Q8_0_BLOCK_ELEMENTS;
  const nBlocks = nElements / Q8_0_BLOCK_ELEMENTS;
  requireBytes('Q8_0', bytes, (firstBlock + nBlocks) * Q8_0_BLOCK_BYTES);
  requireRoom('Q8_0', 'out', out, outOffset, nElements);
  for (let b = 0; b < nBlocks; b++) {
    const blockOffset = (firstBlock + b) * Q8_0_BLOCK_BYTES;
    const d = readF16(bytes, blockOffset);
    const o = outOffset + b * Q8_0_BLOCK_ELEMENTS;
    for (let j = 0; j < Q8_0_BLOCK_ELEMENTS; j++) out[o + j] = d * ((bytes[blockOffset + 2 + j] << 24) >> 24);
  }
}

/** sum_c W[row, c] * x[xOffset + c] in float64, W a Q8_0 matrix with `cols` columns (weights dequantized exactly). */
export function dotRowQ8_0(bytes: Uint8Array, row: number, cols: number, x: ArrayLike<number>, xOffset = 0): number {
  requireMultiple('Q8_0', 'row length', cols, Q8_0_BLOCK_ELEMENTS);
  const blocksPerRow = cols / Q8_0_BLOCK_ELEMENTS;
  requireRow('Q8_0', row, Math.floor(bytes.length / (blocksPerRow * Q8_0_BLOCK_BYTES)));
  requireRoom('Q8_0', 'x', x, xOffset, cols);
  let sum = 0;
  for (let b = 0; b < blocksPerRow; b++) {
    const blockOffset = (row * blocksPerRow + b) * Q8_0_BLOCK_BYTES;
    const d = readF16(bytes, blockOffset);
    const xo = xOffset + b * Q8_0_BLOCK_ELEMENTS;
    // d * q is exact in f32 (11 + 8 significant bits), so factoring d out of the block changes no product.
    let blockSum = 0;
    for (let j = 0; j < Q8_0_BLOCK_ELEMENTS; j++) blockSum += ((bytes[blockOffset + 2 + j] << 24) >> 24) * x[xo + j];
    sum += d * blockSum;
  }
  return sum;
}

/** ggml's nearest-integer rounding of the x86 path (_mm256_round_ps(_MM_ROUND_NEAREST)): halves to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Quantize activations x[offset .. offset + n) (n a multiple of 32) to Q8_0 blocks, the vec_dot_type of Q8_0
 * and Q4_0 weights in ggml's CPU matmul (ggml-cpu.c type_traits_cpu), as llama.cpp's x86 quantize_row_q8_0
 * computes them (ggml/src/ggml-cpu/arch/x86/quants.c, AVX/AVX2 path): per block amax = max|x|,
 * d = f32(amax / 127) stored as F16, id = f32(127 / amax) (0 for an all-zero block), q = nearest-even(f32(x * id)).
 * (The portable quantize_row_q8_0_ref in ggml-quants.c uses id = 1 / d and roundf, halves away from zero; ARM NEON
 * uses id = 1 / d with nearest-even. We follow x86, where the cross-validation peer runs.) Writes q to
 * outQ[0 .. n) and the F16-rounded d of block b to outD[b], the value the dot multiplies by. A block holding
 * NaN or +-Infinity gets d = NaN and q = 0, so the outputs it touches are NaN as a float dot's would be.
 */
export function quantizeActivationsQ8_0(x: ArrayLike<number>, offset: number, n: number, outQ: Int8Array, outD: Float64Array | Float32Array): void {
  requireMultiple('Q8_0', 'activation count', n, Q8_0_BLOCK_ELEMENTS);
  requireRoom('Q8_0', 'x', x, offset, n);
  requireRoom('Q8_0', 'outQ', outQ, 0, n);
  requireRoom('Q8_0', 'outD', outD, 0, n / Q8_0_BLOCK_ELEMENTS);
  for (let b = 0; b < n / Q8_0_BLOCK_ELEMENTS; b++) {
    const first = b * Q8_0_BLOCK_ELEMENTS;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK_ELEMENTS; j++) amax = Math.max(amax, Math.abs(Math.fround(x[offset + first + j])));
    if (!Number.isFinite(amax)) {
      outQ.fill(0, first, first + Q8_0_BLOCK_ELEMENTS);
      outD[b] = NaN;
      continue;
    }
    const id = amax !== 0 ? Math.fround(127 / amax) : 0;
    outD[b] = f16BitsToF32(f32ToF16Bits(Math.fround(amax / 127)));
    for (let j = 0; j < Q8_0_BLOCK_ELEMENTS; j++) {
      const q = roundHalfEven(Math.fround(Math.fround(x[offset + first + j]) * id));
      outQ[first + j] = Math.max(-128, Math.min(127, q));
    }
  }
}

/**
 * sum_c W[row, c] * x[c] for a Q8_0 matrix with `cols` columns and Q8_0 activations (xq, xd from
 * quantizeActivationsQ8_0), as ggml_vec_dot_q8_0_q8_0 (ggml-cpu/quants.c): per block the integer dot of the two
 * int8 vectors times d_w * d_x. Each block term is exact in float64 (11 + 11 + 20 bits); the sum is float64.
 */
export function dotRowQ8_0Q8_0(bytes: Uint8Array, row: number, cols: number, xq: Int8Array, xd: ArrayLike<number>): number {
  requireMultiple('Q8_0', 'row length', cols, Q8_0_BLOCK_ELEMENTS);
  const blocksPerRow = cols / Q8_0_BLOCK_ELEMENTS;
  requireRow('Q8_0', row, Math.floor(bytes.length / (blocksPerRow * Q8_0_BLOCK_BYTES)));
  requireRoom('Q8_0', 'xq', xq, 0, cols);
  requireRoom('Q8_0', 'xd', xd, 0, blocksPerRow);
  let sum = 0;
  for (let b = 0; b < blocksPerRow; b++) {
    const blockOffset = (row * blocksPerRow + b) * Q8_0_BLOCK_BYTES;
    const xo = b * Q8_0_BLOCK_ELEMENTS;
    let isum = 0;
    for (let j = 0; j < Q8_0_BLOCK_ELEMENTS; j++) isum += ((bytes[blockOffset + 2 + j] << 24) >> 24) * xq[xo + j];
    sum += readF16(bytes, blockOffset) * xd[b] * isum;
  }
  return sum;
}
