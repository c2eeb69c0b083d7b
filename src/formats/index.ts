// Dispatch by ggml type over the per-format scalar functions: dequantize rows, ternary, float and quantized row dots.

import { BitNetError } from '../errors.js';
import { dequantizeBf16, dotRowBf16 } from './bf16.js';
import { dequantizeF16, dotRowF16 } from './f16.js';
import { dequantizeF32, dotRowF32 } from './f32.js';
import { GgmlType, I2S_TAIL_BYTES, lookupType } from './ggml-type.js';
import { dequantizeI2s, dotI2s } from './i2s.js';
import { dequantizeQ4_0, dotRowQ4_0, dotRowQ4_0Q8_0 } from './q4_0.js';
import { dequantizeQ6_K, dotRowQ6_K, dotRowQ6_KQ8_K } from './q6_k.js';
import { dequantizeQ8_0, dotRowQ8_0, dotRowQ8_0Q8_0 } from './q8_0.js';
import { dequantizeTq1_0, dotTq1_0 } from './tq1_0.js';
import { dequantizeTq2_0, dotTq2_0 } from './tq2_0.js';

function typeName(type: number): string {
  return lookupType(type)?.name ?? `id ${type}`;
}

function unsupported(type: number, what: string): BitNetError {
  return new BitNetError('UNSUPPORTED_TENSOR_TYPE', `tensor type ${typeName(type)} is not supported for ${what}`, {
    details: { type: typeName(type), typeId: type, operation: what },
  });
}

function requireCount(what: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) {
    throw new BitNetError('BAD_ARGUMENT', `${what} must be an integer >= ${min}, got ${n}`, { details: { field: what, actual: n } });
  }
}

/** True for the ternary weight types whose matmul quantizes activations to int8 (TQ1_0, TQ2_0, I2_S). */
export function isTernary(type: GgmlType): boolean {
  return type === GgmlType.TQ1_0 || type === GgmlType.TQ2_0 || type === GgmlType.I2_S;
}

/** True for the types floatRowDot accepts (F32, F16, BF16, Q8_0, Q4_0, Q6_K). */
export function isFloatDotType(type: GgmlType): boolean {
  return (
    type === GgmlType.F32 || type === GgmlType.F16 || type === GgmlType.BF16 || type === GgmlType.Q8_0 || type === GgmlType.Q4_0 || type === GgmlType.Q6_K
  );
}

/** True for every type dequantizeRows can read. */
export function isReadable(type: GgmlType): boolean {
  return isTernary(type) || isFloatDotType(type);
}

/**
 * out[outOffset + i * cols + c] = W[rowStart + i, c] for i < nRows, from the bytes of a [cols x rows]
 * tensor of `type`. For block types, cols must be a multiple of the block size. For I2_S, `bytes` must
 * be exactly the tensor's bytes (its scale sits in the 32-byte tail).
 */
export function dequantizeRows(type: GgmlType, bytes: Uint8Array, rowStart: number, nRows: number, cols: number, out: Float32Array, outOffset = 0): void {
  requireCount('rowStart', rowStart, 0);
  requireCount('nRows', nRows, 0);
  requireCount('cols', cols, 1);
  const firstElement = rowStart * cols;
  const nElements = nRows * cols;
  switch (type) {
    case GgmlType.F32:
      return dequantizeF32(bytes.subarray(firstElement * 4), nElements, out, outOffset);
    case GgmlType.F16:
      return dequantizeF16(bytes.subarray(firstElement * 2), nElements, out, outOffset);
    case GgmlType.BF16:
      return dequantizeBf16(bytes.subarray(firstElement * 2), nElements, out, outOffset);
    case GgmlType.Q8_0:
      return dequantizeQ8_0(bytes, nElements, out, outOffset, firstElement);
    case GgmlType.Q4_0:
      return dequantizeQ4_0(bytes, nElements, out, outOffset, firstElement);
    case GgmlType.Q6_K:
      return dequantizeQ6_K(bytes, nElements, out, outOffset, firstElement);
    case GgmlType.TQ1_0:
      return dequantizeTq1_0(bytes, nElements, out, outOffset, firstElement);
    case GgmlType.TQ2_0:
      return dequantizeTq2_0(bytes, nElements, out, outOffset, firstElement);
    case GgmlType.I2_S:
      return dequantizeI2s(bytes, Math.max(0, bytes.length - I2S_TAIL_BYTES) * 4, out, outOffset, firstElement, nElements);
    default:
      throw unsupported(type, 'dequantization');
  }
}

/**
 * The activation quantization each ternary format's own engine uses: bitnet.cpp quantizes per token
 * for I2_S (src/ggml-bitnet-mad.cpp), llama.cpp quantizes to Q8_K blocks for TQ1_0/TQ2_0
 * (ggml-cpu type_traits: vec_dot_type = GGML_TYPE_Q8_K).
 */
export function nativeActivationQuant(type: GgmlType): 'per-token' | 'q8k-block' {
  return type === GgmlType.TQ1_0 || type === GgmlType.TQ2_0 ? 'q8k-block' : 'per-token';
}

/**
 * sum_c w[row, c] * xq[c] for a ternary matrix (TQ1_0, TQ2_0, I2_S) with `cols` columns and int8
 * activations xq: float64 sum over blocks of (block scale * integer block dot), which is exact, so the three
 * formats give bit-identical results for identical codes when the scale is representable in F16.
 * `actScales`, when given, holds one activation scale per 256 columns (llama.cpp's Q8_K blocks): each
 * block's integer dot is multiplied by the scale of the 256 columns it covers.
 */
export function dotTernaryRow(type: GgmlType, bytes: Uint8Array, row: number, cols: number, xq: Int8Array, actScales?: Float64Array): number {
  requireCount('cols', cols, 1);
  switch (type) {
    case GgmlType.TQ1_0:
      return dotTq1_0(bytes, row, cols, xq, actScales);
    case GgmlType.TQ2_0:
      return dotTq2_0(bytes, row, cols, xq, actScales);
    case GgmlType.I2_S:
      return dotI2s(bytes, row, cols, xq, actScales);
    default:
      throw unsupported(type, 'a ternary row dot');
  }
}

/**
 * sum_c W[row, c] * x[xOffset + c] in float64 for F32/F16/BF16/Q8_0/Q4_0/Q6_K weights: each weight is
 * dequantized exactly as upstream does, then multiplied in float64 with x as given. (A matmul as ggml computes
 * it first rounds x to the weight's vecDotType: kernels/reference/matmul.ts.) `scratch` (>= 256 floats) avoids
 * an allocation per Q6_K row.
 */
export function floatRowDot(type: GgmlType, bytes: Uint8Array, row: number, cols: number, x: ArrayLike<number>, xOffset = 0, scratch?: Float32Array): number {
  requireCount('cols', cols, 1);
  switch (type) {
    case GgmlType.F32:
      return dotRowF32(bytes, row, cols, x, xOffset);
    case GgmlType.F16:
      return dotRowF16(bytes, row, cols, x, xOffset);
    case GgmlType.BF16:
      return dotRowBf16(bytes, row, cols, x, xOffset);
    case GgmlType.Q8_0:
      return dotRowQ8_0(bytes, row, cols, x, xOffset);
    case GgmlType.Q4_0:
      return dotRowQ4_0(bytes, row, cols, x, xOffset);
    case GgmlType.Q6_K:
      return dotRowQ6_K(bytes, row, cols, x, xOffset, scratch);
    default:
      throw unsupported(type, 'a float row dot');
  }
}

/**
 * What ggml's CPU matmul converts the F32 activations to before its row dots with a weight of `type` (the
 * weight type's vec_dot_type in ggml/src/ggml-cpu/ggml-cpu.c type_traits_cpu): F32 stays F32, F16 -> F16,
 * BF16 -> BF16, Q8_0 and Q4_0 -> Q8_0 blocks of 32, Q6_K -> Q8_K blocks of 256. Float / quantized types only.
 */
export type VecDotType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q8_k';

export function vecDotType(type: GgmlType): VecDotType {
  switch (type) {
    case GgmlType.F32:
      return 'f32';
    case GgmlType.F16:
      return 'f16';
    case GgmlType.BF16:
      return 'bf16';
    case GgmlType.Q8_0:
    case GgmlType.Q4_0:
      return 'q8_0';
    case GgmlType.Q6_K:
      return 'q8_k';
    default:
      throw unsupported(type, 'a float matmul (vec_dot_type)');
  }
}

/**
 * sum_c W[row, c] * x[c] for a Q8_0 / Q4_0 / Q6_K weight and activations already quantized to its vec_dot_type:
 * xq int8 per column and xd one scale per activation block (32 columns for Q8_0 and Q4_0, 256 for Q6_K), as
 * ggml_vec_dot_{q8_0_q8_0, q4_0_q8_0, q6_K_q8_K}: integer block dots times the two block scales, float64 sum.
 */
export function quantizedRowDot(type: GgmlType, bytes: Uint8Array, row: number, cols: number, xq: Int8Array, xd: ArrayLike<number>): number {
  requireCount('cols', cols, 1);
  switch (type) {
    case GgmlType.Q8_0:
      return dotRowQ8_0Q8_0(bytes, row, cols, xq, xd);
    case GgmlType.Q4_0:
      return dotRowQ4_0Q8_0(bytes, row, cols, xq, xd);
    case GgmlType.Q6_K:
      return dotRowQ6_KQ8_K(bytes, row, cols, xq, xd);
    default:
      throw unsupported(type, 'a quantized row dot');
  }
}
