// RMS normalization times a weight vector, per token, as ggml_compute_forward_rms_norm_f32 then ggml_mul.
// ggml (ggml/src/ggml-cpu/ops.cpp): sum of f32 squares accumulated in double, mean = (float)(sum / n),
// scale = 1.0f / sqrtf(mean + eps), y = x * scale, then y * w (each step rounded to f32).

/** out[t, i] = x[t, i] * scale_t * weight[i]; out may alias x (each element is read before it is written). */
export function rmsnormRef(out: Float32Array, x: Float32Array, weight: Float32Array, nTokens: number, dim: number, eps: number): void {
  const epsF32 = Math.fround(eps);
  for (let t = 0; t < nTokens; t++) {
    const base = t * dim;
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += Math.fround(x[base + i] * x[base + i]);
    const mean = Math.fround(sum / dim);
    const scale = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(mean + epsF32))));
    for (let i = 0; i < dim; i++) out[base + i] = Math.fround(x[base + i] * scale) * weight[i];
  }
}
