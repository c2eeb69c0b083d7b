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

/** Values per Q8_K block (ggml QK_K). */
export const Q8K_BLOCK = 256;

/** ggml's nearest_int: round to nearest, halves to even (the float magic-number trick in ggml-quants.c). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Quantize x[offset .. offset + n) into Q8_K-style blocks of 256 (the last may be shorter), as ggml-quants.c
 * quantize_row_q8_K_ref: per block the value with the largest magnitude `max` (signed), iscale = f32(-127/max),
 * q = min(127, nearest_int(f32(iscale * x))), d = f32(1/iscale); an all-zero block has d = 0. Writes the
 * int8 values to outQ[0 .. n) and d of block b to outScales[b].
 */
export function quantizeActivationsQ8K(x: ArrayLike<number>, offset: number, n: number, outQ: Int8Array, outScales: Float64Array): void {
  for (let b0 = 0, b = 0; b0 < n; b0 += Q8K_BLOCK, b++) {
    const end = Math.min(n, b0 + Q8K_BLOCK);
    let amax = 0;
    let max = 0;
    for (let i = b0; i < end; i++) {
      const v = x[offset + i];
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    if (amax === 0) {
      outQ.fill(0, b0, end);
      outScales[b] = 0;
      continue;
    }
    const iscale = Math.fround(-127 / max);
    for (let i = b0; i < end; i++) outQ[i] = Math.min(127, roundHalfEven(Math.fround(iscale * x[offset + i])));
    outScales[b] = Math.fround(1 / iscale);
  }
}
