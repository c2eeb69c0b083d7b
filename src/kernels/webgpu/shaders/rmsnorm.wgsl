// RMS norm times a weight vector per token, as kernels/reference/rmsnorm.ts (ggml rms_norm then mul): squares rounded
// to f32 and summed (compensated), mean = sum / dim, scale = 1 / sqrt(mean + eps), y = f32(x scale) w. One workgroup
// per token. P.a = dim, P.b = 1 to write the result over x (out is then an unused binding); P.x0 = eps.
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let dim = P.a;
  let base = flat_wg(wid, nwg) * dim;
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
  }
}
