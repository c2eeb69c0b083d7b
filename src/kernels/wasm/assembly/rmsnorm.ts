// RMS norm per token, bit for bit as kernels/reference/rmsnorm.ts (ggml_compute_forward_rms_norm_f32 then ggml_mul):
// sum of f32 squares in double, mean = f32(sum / dim), scale = f32(1 / sqrtf(mean + eps)), y = f32(x * scale) * w.
// out may alias x (each element is read before it is written).
// The sum is one chain of dependent f64 adds per token (its order is the reference's), so a batch runs four tokens'
// chains side by side: the adds overlap and each token's sum is still added in column order.

// @ts-ignore: decorator
@inline function sq(p: usize): f64 {
  const v = load<f32>(p);
  return <f64>(v * v);
}

/** y = f32(x * scale) * w over one token. */
// @ts-ignore: decorator
@inline function apply(ot: usize, xt: usize, weight: usize, dim: u32, sum: f64, eps: f32): void {
  const mean = <f32>(sum / <f64>dim);
  const scale = <f32>(1.0 / <f64>sqrt<f32>(mean + eps));
  const s4 = f32x4.splat(scale);
  let i: usize = 0;
  for (; i + 4 <= <usize>dim; i += 4) {
    v128.store(ot + (i << 2), f32x4.mul(f32x4.mul(v128.load(xt + (i << 2)), s4), v128.load(weight + (i << 2))));
  }
  for (; i < <usize>dim; i++) store<f32>(ot + (i << 2), load<f32>(xt + (i << 2)) * scale * load<f32>(weight + (i << 2)));
}

export function rmsnorm(out: usize, x: usize, weight: usize, nTokens: u32, dim: u32, eps: f32): void {
  const rowBytes = <usize>dim << 2;
  let t: u32 = 0;
  for (; t + 4 <= nTokens; t += 4) {
    const x0 = x + <usize>t * rowBytes;
    let s0: f64 = 0;
    let s1: f64 = 0;
    let s2: f64 = 0;
    let s3: f64 = 0;
    for (let i: usize = 0; i < rowBytes; i += 4) {
      s0 += sq(x0 + i);
      s1 += sq(x0 + rowBytes + i);
      s2 += sq(x0 + 2 * rowBytes + i);
      s3 += sq(x0 + 3 * rowBytes + i);
    }
    const o0 = out + <usize>t * rowBytes;
    apply(o0, x0, weight, dim, s0, eps);
    apply(o0 + rowBytes, x0 + rowBytes, weight, dim, s1, eps);
    apply(o0 + 2 * rowBytes, x0 + 2 * rowBytes, weight, dim, s2, eps);
    apply(o0 + 3 * rowBytes, x0 + 3 * rowBytes, weight, dim, s3, eps);
  }
  for (; t < nTokens; t++) {
    const xt = x + <usize>t * rowBytes;
    let sum: f64 = 0;
    for (let i: usize = 0; i < rowBytes; i += 4) sum += sq(xt + i);
    apply(out + <usize>t * rowBytes, xt, weight, dim, sum, eps);
  }
}
