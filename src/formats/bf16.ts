// BF16 (bfloat16) tensors: the top 16 bits of an f32; conversions, dequantize, quantize and a row dot.
// f32 -> bf16 as ggml_compute_fp32_to_bf16 (ggml/src/ggml-impl.h): NaN -> quiet NaN (bit 6 set),
// otherwise round to nearest even on the dropped 16 bits; subnormals are kept (current ggml does not flush).

import type { BlockLayout } from './layout.js';
import { requireBytes, requireRoom, requireRow } from './validate.js';

export const BF16_BLOCK_ELEMENTS = 1;
export const BF16_BLOCK_BYTES = 2;

export const BF16_LAYOUT: BlockLayout = [
  { name: 'value', byteOffset: 0, byteLength: 2, meaning: 'bfloat16, little-endian: the high 16 bits of an IEEE binary32' },
];

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The number a BF16 bit pattern (0..65535) stands for. */
export function bf16BitsToF32(bits: number): number {
  u32Scratch[0] = (bits & 0xffff) << 16;
  return f32Scratch[0];
}

/** BF16 bits of `x` (first rounded to f32), round to nearest even; NaN stays NaN (made quiet). */
export function f32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  // u + 0x7fff + lsb stays below 2^32 for every non-NaN f32, so plain number arithmetic is exact.
  return Math.floor((u + 0x7fff + ((u >>> 16) & 1)) / 65536) & 0xffff;
}

/**
 * `x` rounded to the nearest BF16 value (via f32, ties to even), as a number: what ggml's CPU matmul does to the
 * F32 activations before a dot with a BF16 weight (ggml-cpu.c type_traits_cpu: BF16's vec_dot_type is BF16).
 */
export function roundToBf16(x: number): number {
  return bf16BitsToF32(f32ToBf16Bits(x));
}

/** out[outOffset + i] = element i of a BF16 tensor, for i < nElements. */
export function dequantizeBf16(bytes: Uint8Array, nElements: number, out: Float32Array, outOffset = 0): void {
  requireBytes('BF16', bytes, nElements * BF16_BLOCK_BYTES);
  requireRoom('BF16', 'out', out, outOffset, nElements);
  for (let i = 0; i < nElements; i++) out[outOffset + i] = bf16BitsToF32(bytes[2 * i] | (bytes[2 * i + 1] << 8));
}

/** BF16 bytes of `values`. */
export function quantizeBf16(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * BF16_BLOCK_BYTES);
  for (let i = 0; i < values.length; i++) {
    const bits = f32ToBf16Bits(values[i]);
    bytes[2 * i] = bits & 0xff;
    bytes[2 * i + 1] = bits >>> 8;
  }
  return bytes;
}

/** sum_c W[row, c] * x[xOffset + c] in float64 for a BF16 matrix with `cols` columns. */
export function dotRowBf16(bytes: Uint8Array, row: number, cols: number, x: ArrayLike<number>, xOffset = 0): number {
  requireRow('BF16', row, Math.floor(bytes.length / (cols * BF16_BLOCK_BYTES)));
  requireRoom('BF16', 'x', x, xOffset, cols);
  let byteOffset = row * cols * BF16_BLOCK_BYTES;
  let sum = 0;
  for (let c = 0; c < cols; c++, byteOffset += 2) sum += bf16BitsToF32(bytes[byteOffset] | (bytes[byteOffset + 1] << 8)) * x[xOffset + c];
  return sum;
}
