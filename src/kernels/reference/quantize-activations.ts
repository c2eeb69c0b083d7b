// Per-token int8 quantization of activations for ternary matmuls (BitNet "bitlinear" input, absmax scaling).
//
// Contract (FORMATS.md "bitlinear"), as bitnet.cpp's quantize_row_i8_s computes it for I2_S matmuls
// (microsoft/BitNet, the fork's ggml quantize_row_i8_s): absmax = max|x| taken in double and at least
// 1e-5; s = (float)(127 / absmax); q = round((float)(x * s)) with C round() = halves away from zero,
// clamped to [-128, 127]. (BitNet's PyTorch reference rounds halves to even; exact .5 products are rare and
// we follow the C kernels the published GGUF runs on.) The matmul result is y = acc / s * weight_scale.

/** Smallest absmax used, so an all-zero token does not divide by zero. */
export const ACTIVATION_ABSMAX_FLOOR = 1e-5;

/**
 * Quantize x[offset .. offset + n) into outQ[0 .. n) and return the scale s (q ~= x * s).
 * outQ must hold at least n values.
 */
export function quantizeActivations(x: ArrayLike<number>, offset: number, n: number, outQ: Int8Array): number {
  let absmax = ACTIVATION_ABSMAX_FLOOR;
  for (let i = 0; i < n; i++) absmax = Math.max(absmax, Math.abs(x[offset + i]));
  const s = Math.fround(127 / absmax);
  for (let i = 0; i < n; i++) {
    const v = Math.fround(x[offset + i] * s);
    const r = Math.round(Math.abs(v)); // Math.round of a non-negative value rounds halves up = away from zero
    const q = v < 0 ? -r : r;
    outQ[i] = q > 127 ? 127 : q < -128 ? -128 : q;
  }
  return s;
}
