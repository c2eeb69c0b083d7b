// F16 (IEEE binary16) tensors: bit conversions with round-to-nearest-even, dequantize, quantize and a row dot.
// Semantics follow ggml's GGML_FP32_TO_FP16 / GGML_FP16_TO_FP32 (ggml/src/ggml-impl.h: F16C hardware
// conversion or the FP16-library fallback ggml_compute_fp32_to_fp16, both round to nearest even).

import type { BlockLayout } from './layout.js';
import { requireBytes, requireRoom, requireRow } from './validate.js';

export const F16_BLOCK_ELEMENTS = 1;
export const F16_BLOCK_BYTES = 2;

export const F16_LAYOUT: BlockLayout = [
  { name: 'value', byteOffset: 0, byteLength: 2, meaning: 'IEEE binary16, little-endian: sign bit, 5 exponent bits (bias 15), 10 mantissa bits' },
];

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The number an F16 bit pattern (0..65535) stands for (NaN for NaN patterns). */
export function f16BitsToF32(bits: number): number {
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  let magnitude: number;
  if (exponent === 0) magnitude = mantissa * 2 ** -24; // zero or subnormal
  else if (exponent === 31) magnitude = mantissa === 0 ? Infinity : NaN;
  else magnitude = (1024 + mantissa) * 2 ** (exponent - 25);
  return bits & 0x8000 ? -magnitude : magnitude;
}

/** Shift a positive integer right by `shift` bits (1..24), rounding to nearest, ties to even. */
function shiftRoundEven(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

/**
 * F16 bits of `x` rounded first to f32 (ggml converts from float), then to binary16 with round to
 * nearest even: overflow gives +-inf, tiny values become subnormals or +-0, NaN stays a quiet NaN.
 */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  const sign = (u >>> 16) & 0x8000;
  const exponent32 = (u >>> 23) & 0xff;
  const mantissa32 = u & 0x7fffff;
  if (exponent32 === 0xff) return mantissa32 === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa32 >>> 13);
  const exponent16 = exponent32 - 127 + 15;
  if (exponent16 >= 31) return sign | 0x7c00;
  if (exponent16 >= 1) {
    // Normal: keep 10 mantissa bits; a carry out of the mantissa bumps the exponent (up to inf), as it should.
    const kept = (exponent16 << 10) | (mantissa32 >>> 13);
    return sign | (kept + roundBit(mantissa32, 13, kept));
  }
  if (exponent16 < -10 || exponent32 === 0) return sign; // below half the smallest subnormal (or an f32 subnormal)
  // Subnormal: value in units of 2^-24 is (1.mantissa) * 2^(exponent16 - 1) = m >> (14 - exponent16).
  return sign | shiftRoundEven(mantissa32 | 0x800000, 14 - exponent16);
}

/** 1 when dropping the low `shift` bits of `dropped` should round `kept` up (nearest, ties to even), else 0. */
function roundBit(dropped: number, shift: number, kept: number): number {
  const rest = dropped & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? 1 : 0;
}

let f16Table: Float32Array | undefined;

/** All 65536 F16 values as f32, built on first use (256 KiB): dequantize loops read it instead of branching. */
export function f16ToF32Table(): Float32Array {
  if (f16Table === undefined) {
    const table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) table[bits] = f16BitsToF32(bits);
    f16Table = table;
  }
  return f16Table;
}

/** The F16 value stored little-endian at `byteOffset`, as a number. */
export function readF16(bytes: Uint8Array, byteOffset: number): number {
  return f16ToF32Table()[bytes[byteOffset] | (bytes[byteOffset + 1] << 8)];
}

/**
 * `x` rounded to the nearest F16 value (via f32, ties to even), as a number: what ggml's CPU matmul does to the
 * F32 activations before a dot with an F16 weight (ggml-cpu.c type_traits_cpu: F16's vec_dot_type is F16,
 * from_float = ggml_cpu_fp32_to_fp16). Overflow gives +-Infinity.
 */
export function roundToF16(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

/** Store `x` as F16 little-endian at `byteOffset`. */
export function writeF16(bytes: Uint8Array, byteOffset: number, x: number): void {
  const bits = f32ToF16Bits(x);
  bytes[byteOffset] = bits & 0xff;
  bytes[byteOffset + 1] = bits >>> 8;
}

/** out[outOffset + i] = element i of an F16 tensor, for i < nElements. */
export function dequantizeF16(bytes: Uint8Array, nElements: number, out: Float32Array, outOffset = 0): void {
  requireBytes('F16', bytes, nElements * F16_BLOCK_BYTES);
  requireRoom('F16', 'out', out, outOffset, nElements);
  const table = f16ToF32Table();
  for (let i = 0; i < nElements; i++) out[outOffset + i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
}

/** F16 bytes of `values` (round to nearest even). */
export function quantizeF16(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * F16_BLOCK_BYTES);
  for (let i = 0; i < values.length; i++) writeF16(bytes, 2 * i, values[i]);
  return bytes;
}

/** sum_c W[row, c] * x[xOffset + c] in float64 for an F16 matrix with `cols` columns. */
export function dotRowF16(bytes: Uint8Array, row: number, cols: number, x: ArrayLike<number>, xOffset = 0): number {
  requireRow('F16', row, Math.floor(bytes.length / (cols * F16_BLOCK_BYTES)));
  requireRoom('F16', 'x', x, xOffset, cols);
  const table = f16ToF32Table();
  let byteOffset = row * cols * F16_BLOCK_BYTES;
  let sum = 0;
  for (let c = 0; c < cols; c++, byteOffset += 2) sum += table[bytes[byteOffset] | (bytes[byteOffset + 1] << 8)] * x[xOffset + c];
  return sum;
}
