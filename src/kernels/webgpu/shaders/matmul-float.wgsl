// Float-weight matmul (F32, F16, BF16) on x already rounded to the weight type as ggml's vec_dot_type does
// (kernels/reference/matmul.ts; the backend rounds it first: elementwise.wgsl ops 3 / 4); products summed compensated.
// An F16 x F16 or BF16 x BF16 product fits f32's 24 bits exactly, so only F32 weights need two_prod's error term.
// P.a = rows of this part, P.b = cols, P.c = format (0 F32, 1 F16, 2 BF16), P.e = rowOffset, P.f = out row stride,
// P.g = nTokens, P.h = threads per row; P.x1 = out scale.
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
// out and res (the fused residual add): matmul-out.wgsl
const OUT_BINDING = 3u;

fn weight_at(fmt: u32, g: u32) -> f32 {
  if (fmt == 0u) { return bitcast<f32>(w[g]); }
  let half = (w[g >> 1u] >> ((g & 1u) * 16u)) & 0xffffu;
  if (fmt == 1u) { return f16_value(half); }
  return bitcast<f32>(half << 16u);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let cols = P.b;
  let fmt = P.c;
  let sl = row_slice(wid, nwg, lid); // P.h threads per (token, row)
  var acc = vec2<f32>(0.0, 0.0);
  for (var c = sl.lane; c < select(0u, cols, sl.valid); c = c + P.h) {
    let wv = weight_at(fmt, sl.r * cols + c);
    let xv = x[sl.t * cols + c];
    if (fmt == 0u) {
      let p = two_prod(wv, xv);
      acc = acc_add(acc_add(acc, p.x), p.y);
    } else {
      acc = acc_add(acc, wv * xv);
    }
  }
  let sum = join_sums(acc, lid, sl.lane, P.h);
  if (sl.lane == 0u && sl.valid) {
    store_out(sl.t * P.f + P.e + sl.r, (sum.x + sum.y) * P.x1);
  }
}
