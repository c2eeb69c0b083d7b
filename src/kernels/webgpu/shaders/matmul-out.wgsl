// The outputs of every matmul kernel (index.ts MATMUL_OUT_USERS includes this file): `out` at the kernel's
// OUT_BINDING, and the residual stream `res` at OUT_BINDING + 1, which P.x2 != 0 adds each output to (the addInPlace
// after the matmul fused in: the elementwise add's f32 sum, so the same bits).
@group(0) @binding(OUT_BINDING) var<storage, read_write> out: array<f32>;
@group(0) @binding(OUT_BINDING + 1) var<storage, read_write> res: array<f32>;

// Output o is v (and res[o] += v with the fused residual add).
fn store_out(o: u32, v: f32) {
  out[o] = v;
  if (P.x2 != 0.0) { res[o] = res[o] + v; }
}
