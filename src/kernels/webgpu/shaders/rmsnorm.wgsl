// RMS norm times a weight vector per token, as kernels/reference/rmsnorm.ts (ggml rms_norm then mul): squares rounded
// to f32 and summed (compensated), mean = sum / dim, scale = 1 / sqrt(mean + eps), y = f32(x scale) w. One workgroup
// per token. P.a = dim, P.b = 1 to write the result over x (out is then an unused binding); P.x0 = eps.
// Fused stages (the backend's deferred ops, docs/next-shape.md), each as its own kernel would do it, so the same bits:
// P.c = 1 or 2 first applies elementwise.wgsl's gating to the token's row of x, in place (x = relu(x)^2 up or
// silu(x) up: gate_mul), and P.d = 1 then quantizes the normed row per token as quantize.wgsl's mode 0 into xq / xs /
// qsum (unused bindings otherwise); its max and sum come from reduce-portable.wgsl or reduce-subgroups.wgsl.
// P.e = 1 leaves the norm out (the gated values quantized as they are: a gating whose matmul has no norm before it;
// x is then written in place with the gated values, weight is unused).
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> up: array<f32>;
@group(0) @binding(5) var<storage, read_write> xq: array<u32>;
@group(0) @binding(6) var<storage, read_write> xs: array<f32>;
@group(0) @binding(7) var<storage, read_write> qsum: array<i32>;

fn y_at(i: u32) -> f32 {
  if (P.b == 1u) { return x[i]; }
  return out[i];
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let dim = P.a;
  let t = flat_wg(wid, nwg);
  let base = t * dim;
  if (P.c != 0u) {
    // each thread gates the values it reads next: no barrier needed
    for (var i = lid; i < dim; i = i + 64u) { x[base + i] = gate_mul(P.c, x[base + i], up[base + i]); }
  }
  var best = 0.0;
  if (P.e == 1u) {
    for (var i = lid; i < dim; i = i + 64u) { best = max_abs(best, x[base + i]); }
  } else {
    var acc = vec2<f32>(0.0, 0.0);
    for (var i = lid; i < dim; i = i + 64u) {
      let v = x[base + i];
      let s2 = two_sum(acc.x, v * v);
      acc = vec2<f32>(s2.x, acc.y + s2.y);
    }
    let sum = join_sums(acc, lid, lid, 64u);
    let mean = div_rn(sum.x + sum.y, f32(dim));
    let scale = div_rn(1.0, sqrt(mean + P.x0));
    workgroupBarrier();
    for (var i = lid; i < dim; i = i + 64u) {
      let y = (x[base + i] * scale) * weight[i];
      if (P.b == 1u) { x[base + i] = y; } else { out[base + i] = y; }
      best = max_abs(best, y);
    }
  }
  if (P.d == 0u) { return; }
  // quantize.wgsl mode 0 on the normed row: the largest |y| (order-free), s = 127 / max(amax, 1e-5), the int8 words
  storageBarrier();
  let s = div_rn(127.0, max(wg_max_nonneg(best, lid), 1e-5));
  var qs = 0;
  for (var i = 4u * lid; i < dim; i = i + 256u) {
    let q = quant_token4(vec4<f32>(y_at(base + i), y_at(base + i + 1u), y_at(base + i + 2u), y_at(base + i + 3u)), s);
    xq[(base + i) >> 2u] = pack_i8x4(q);
    qs = qs + q.x + q.y + q.z + q.w;
  }
  let total = wg_sum_i32(qs, lid);
  if (lid == 0u) {
    xs[t] = s;
    qsum[t] = total;
  }
}
