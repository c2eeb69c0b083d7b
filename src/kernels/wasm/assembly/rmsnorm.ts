// RMS norm per token, bit for bit as kernels/reference/rmsnorm.ts (ggml_compute_forward_rms_norm_f32 then ggml_mul):
// sum of f32 squares in double, mean = f32(sum / dim), scale = f32(1 / sqrtf(mean + eps)), y = f32(x * scale) * w.
// out may alias x (each element is read before it is written).

export function rmsnorm(out: usize, x: usize, weight: usize, nTokens: u32, dim: u32, eps: f32): void {
  for (let t: u32 = 0; t < nTokens; t++) {
    const xt = x + ((<usize>t * dim) << 2);
    const ot = out + ((<usize>t * dim) << 2);
    let sum: f64 = 0;
    for (let i: usize = 0; i < dim; i++) {
      const v = load<f32>(xt + (i << 2));
      sum += <f64>(v * v);
    }
    const mean = <f32>(sum / <f64>dim);
    const scale = <f32>(1.0 / <f64>sqrt<f32>(mean + eps));
    const s4 = f32x4.splat(scale);
    let i: usize = 0;
    for (; i + 4 <= dim; i += 4) {
      v128.store(ot + (i << 2), f32x4.mul(f32x4.mul(v128.load(xt + (i << 2)), s4), v128.load(weight + (i << 2))));
    }
    for (; i < dim; i++) store<f32>(ot + (i << 2), load<f32>(xt + (i << 2)) * scale * load<f32>(weight + (i << 2)));
  }
}
