// Element-wise ops of the forward pass, in place on a (kernels/reference/elementwise.ts): P.a = op (0: a += b;
// 1: a = f32(relu(a)^2) b; 2: a = silu(a) b: common.wgsl's gate_mul; 3 / 4: a = b rounded to F16 / BF16, the input
// of a float matmul), P.b = n.
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.b) { return; }
  if (P.a == 0u) {
    a[i] = a[i] + b[i];
  } else if (P.a == 3u) {
    a[i] = round_f16(b[i]);
  } else if (P.a == 4u) {
    a[i] = round_bf16(b[i]);
  } else {
    a[i] = gate_mul(P.a, a[i], b[i]);
  }
}
