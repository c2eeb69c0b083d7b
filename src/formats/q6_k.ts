// Q6_K tensors: 256-element super-blocks of 6-bit values with 16 int8 sub-block scales and an F16 scale.
// Layout: ggml/src/ggml-common.h block_q6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; ggml_half d; }
// (210 bytes). Dequantization is exactly ggml/src/ggml-quants.c dequantize_row_q6_K.

import type { BlockLayout } from './layout.js';
import { readF16, writeF16 } from './f16.js';
import { requireBytes, requireMultiple, requireRoom, requireRow } from './validate.js';

export const Q6_K_BLOCK_ELEMENTS = 256;
export const Q6_K_BLOCK_BYTES = 210;

export const Q6_K_LAYOUT: BlockLayout = [
  { name: 'ql', byteOffset: 0, byteLength: 128, meaning: 'low 4 bits of the 6-bit quants (two 64-byte halves, see q6kIndex)' },
  { name: 'qh', byteOffset: 128, byteLength: 64, meaning: 'high 2 bits of the quants, four per byte (two 32-byte halves)' },
  { name: 'scales', byteOffset: 192, byteLength: 16, meaning: 'int8 scale of each 16-element sub-block' },
  { name: 'd', byteOffset: 208, byteLength: 2, meaning: 'F16 super-block scale: value = d * scales[sub] * (q - 32)' },
];

const QL = 0;
const QH = 128;
const SCALES = 192;
const D = 208;

/**
 * Where element e (0..255) of a block lives, per dequantize_row_q6_K: half h = e / 128 uses ql[64h..],
 * qh[32h..], scales[8h..]; within the half, l = e % 32 and group g = (e % 128) / 32 pick
 * ql byte l + 32 * (g & 1) (low nibble for g < 2, high for g >= 2), qh byte l at shift 2g, scale 2g + l / 16.
 */
export interface Q6kIndex {
  readonly qlByte: number;
  readonly qlShift: number;
  readonly qhByte: number;
  readonly qhShift: number;
  readonly scaleIndex: number;
}

export function q6kIndex(e: number): Q6kIndex {
  const h = e >>> 7;
  const g = (e & 127) >>> 5;
  const l = e & 31;
  return {
    qlByte: QL + 64 * h + l + 32 * (g & 1),
    qlShift: g < 2 ? 0 : 4,
    qhByte: QH + 32 * h + l,
    qhShift: 2 * g,
    scaleIndex: 8 * h + 2 * g + (l >>> 4),
  };
}

/** ggml's nearest_int: round an f32 to nearest, ties to even. */
function nearestInt(v: number): number {
  const f = Math.floor(v);
  const diff = v - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** out[outOffset + i] for element firstElement + i, i < nElements (both multiples of 256). */
export function dequantizeQ6_K(bytes: Uint8Array, nElements: number, out: Float32Array, outOffset = 0, firstElement = 0): void {
  requireMultiple('Q6_K', 'element count', nElements, Q6_K_BLOCK_ELEMENTS);
  requireMultiple('Q6_K', 'first element', firstElement, Q6_K_BLOCK_ELEMENTS);
  const firstBlock = firstElement / Q6_K_BLOCK_ELEMENTS;
  const nBlocks = nElements / Q6_K_BLOCK_ELEMENTS;
  requireBytes('Q6_K', bytes, (firstBlock + nBlocks) * Q6_K_BLOCK_BYTES);
  requireRoom('Q6_K', 'out', out, outOffset, nElements);
  for (let b = 0; b < nBlocks; b++) {
    dequantizeBlock(bytes, (firstBlock + b) * Q6_K_BLOCK_BYTES, out, outOffset + b * Q6_K_BLOCK_ELEMENTS);
  }
}

/** One block as dequantize_row_q6_K computes it: y = (f32)(d * sc) * q in f32. */
function dequantizeBlock(bytes: Uint8Array, blockOffset: number, out: Float32Array, o: number): void {
  const d = readF16(bytes, blockOffset + D);
  for (let h = 0; h < 2; h++) {
    const ql = blockOffset + QL + 64 * h;
    const qh = blockOffset + QH + 32 * h;
    const sc = blockOffset + SCALES + 8 * h;
    const y = o + 128 * h;
    for (let l = 0; l < 32; l++) {
      const is = l >>> 4;
      const high = bytes[qh + l];
      const q1 = ((bytes[ql + l] & 0xf) | (((high >>> 0) & 3) << 4)) - 32;
      const q2 = ((bytes[ql + l + 32] & 0xf) | (((high >>> 2) & 3) << 4)) - 32;
      const q3 = ((bytes[ql + l] >>> 4) | (((high >>> 4) & 3) << 4)) - 32;
      const q4 = ((bytes[ql + l + 32] >>> 4) | (((high >>> 6) & 3) << 4)) - 32;
      out[y + l] = Math.fround(d * ((bytes[sc + is] << 24) >> 24)) * q1;
      out[y + l + 32] = Math.fround(d * ((bytes[sc + is + 2] << 24) >> 24)) * q2;
      out[y + l + 64] = Math.fround(d * ((bytes[sc + is + 4] << 24) >> 24)) * q3;
      out[y + l + 96] = Math.fround(d * ((bytes[sc + is + 6] << 24) >> 24)) * q4;
    }
  }
}

/**
 * Q6_K bytes of `values` (length a multiple of 256). The outer structure follows upstream
 * quantize_row_q6_K_ref (iscale = -128 / the sub-block scale of largest magnitude, d = 1 / iscale,
 * scales = min(127, nearest(iscale * scale)), q = clamp(nearest(x / (d * scale)), -32, 31) + 32), but each
 * sub-block scale is the plain signed-max rule (max / -32) instead of upstream's make_qx_quants RMSE
 * search, so bytes can differ from llama.cpp's; the blocks are valid and dequantize with small error.
 */
export function quantizeQ6_K(values: ArrayLike<number>): Uint8Array {
  requireMultiple('Q6_K', 'element count', values.length, Q6_K_BLOCK_ELEMENTS);
  const nBlocks = values.length / Q6_K_BLOCK_ELEMENTS;
  const bytes = new Uint8Array(nBlocks * Q6_K_BLOCK_BYTES);
  const subScales = new Float32Array(16);
  const levels = new Uint8Array(Q6_K_BLOCK_ELEMENTS);
  for (let b = 0; b < nBlocks; b++) {
    const first = b * Q6_K_BLOCK_ELEMENTS;
    const blockOffset = b * Q6_K_BLOCK_BYTES;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      let amax = 0;
      let max = 0;
      for (let j = 0; j < 16; j++) {
        const v = Math.fround(values[first + 16 * ib + j]);
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const scale = Math.fround(max / -32);
      subScales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    if (maxAbsScale < 1e-15) continue; // all-zero block: every byte 0, d = 0 (as upstream)
    const iscale = Math.fround(-128 / maxScale);
    writeF16(bytes, blockOffset + D, Math.fround(1 / iscale));
    const d = readF16(bytes, blockOffset + D);
    for (let ib = 0; ib < 16; ib++) {
      const sc = Math.min(127, nearestInt(Math.fround(iscale * subScales[ib])));
      bytes[blockOffset + SCALES + ib] = sc & 0xff;
      const dl = Math.fround(d * sc);
      for (let j = 0; j < 16; j++) {
        const e = 16 * ib + j;
        levels[e] = dl === 0 ? 32 : Math.max(-32, Math.min(31, nearestInt(Math.fround(Math.fround(values[first + e]) / dl)))) + 32;
      }
    }
    for (let e = 0; e < Q6_K_BLOCK_ELEMENTS; e++) {
      const at = q6kIndex(e);
      bytes[blockOffset + at.qlByte] |= (levels[e] & 0xf) << at.qlShift;
      bytes[blockOffset + at.qhByte] |= (levels[e] >>> 4) << at.qhShift;
    }
  }
  return bytes;
}

/** sum_c W[row, c] * x[xOffset + c] in float64, W a Q6_K matrix with `cols` columns (weights dequantized exactly). */
export function dotRowQ6_K(bytes: Uint8Array, row: number, cols: number, x: ArrayLike<number>, xOffset = 0, scratch?: Float32Array): number {
  requireMultiple('Q6_K', 'row length', cols, Q6_K_BLOCK_ELEMENTS);
  const blocksPerRow = cols / Q6_K_BLOCK_ELEMENTS;
  requireRow('Q6_K', row, Math.floor(bytes.length / (blocksPerRow * Q6_K_BLOCK_BYTES)));
  requireRoom('Q6_K', 'x', x, xOffset, cols);
  const block = scratch !== undefined && scratch.length >= Q6_K_BLOCK_ELEMENTS ? scratch : new Float32Array(Q6_K_BLOCK_ELEMENTS);
  let sum = 0;
  for (let b = 0; b < blocksPerRow; b++) {
    dequantizeBlock(bytes, (row * blocksPerRow + b) * Q6_K_BLOCK_BYTES, block, 0);
    const xo = xOffset + b * Q6_K_BLOCK_ELEMENTS;
    for (let j = 0; j < Q6_K_BLOCK_ELEMENTS; j++) sum += block[j] * x[xo + j];
  }
  return sum;
}

/**
 * sum_c W[row, c] * x[c] for a Q6_K matrix with `cols` columns and Q8_K activations (Q6_K's vec_dot_type in
 * ggml's CPU matmul; xq int8 and one d per 256 values in xd, as quantize_row_q8_K_ref makes them), as
 * ggml_vec_dot_q6_K_q8_K (ggml-cpu/quants.c): per block the integer sum over its 16 sub-blocks of
 * scale * dot(q - 32, xq), times d_w * d_x; the integer part is exact, the block terms and their sum float64.
 */
export function dotRowQ6_KQ8_K(bytes: Uint8Array, row: number, cols: number, xq: Int8Array, xd: ArrayLike<number>): number {
  requireMultiple('Q6_K', 'row length', cols, Q6_K_BLOCK_ELEMENTS);
  const blocksPerRow = cols / Q6_K_BLOCK_ELEMENTS;
  requireRow('Q6_K', row, Math.floor(bytes.length / (blocksPerRow * Q6_K_BLOCK_BYTES)));
  requireRoom('Q6_K', 'xq', xq, 0, cols);
  requireRoom('Q6_K', 'xd', xd, 0, blocksPerRow);
  let sum = 0;
  for (let b = 0; b < blocksPerRow; b++) {
    const blockOffset = (row * blocksPerRow + b) * Q6_K_BLOCK_BYTES;
    const x0 = b * Q6_K_BLOCK_ELEMENTS;
    let isum = 0;
    for (let h = 0; h < 2; h++) {
      const ql = blockOffset + QL + 64 * h;
      const qh = blockOffset + QH + 32 * h;
      const sc = blockOffset + SCALES + 8 * h;
      const xh = x0 + 128 * h;
      // per sub-block of 16: l in [16 is, 16 is + 16) of each of the four 32-element groups (see dequantizeBlock)
      for (let is = 0; is < 2; is++) {
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let s4 = 0;
        for (let l = 16 * is; l < 16 * is + 16; l++) {
          const high = bytes[qh + l];
          s1 += (((bytes[ql + l] & 0xf) | ((high & 3) << 4)) - 32) * xq[xh + l];
          s2 += (((bytes[ql + l + 32] & 0xf) | (((high >>> 2) & 3) << 4)) - 32) * xq[xh + l + 32];
          s3 += (((bytes[ql + l] >>> 4) | (((high >>> 4) & 3) << 4)) - 32) * xq[xh + l + 64];
          s4 += (((bytes[ql + l + 32] >>> 4) | (((high >>> 6) & 3) << 4)) - 32) * xq[xh + l + 96];
        }
        isum +=
          ((bytes[sc + is] << 24) >> 24) * s1 +
          ((bytes[sc + is + 2] << 24) >> 24) * s2 +
          ((bytes[sc + is + 4] << 24) >> 24) * s3 +
          ((bytes[sc + is + 6] << 24) >> 24) * s4;
      }
    }
    sum += readF16(bytes, blockOffset + D) * xd[b] * isum;
  }
  return sum;
}
