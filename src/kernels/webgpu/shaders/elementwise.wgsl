// Element-wise ops of the forward pass, in place on a (kernels/reference/elementwise.ts): P.a = op (0: a += b;
// 1: a = f32(relu(a)^2) b; 2: a = silu(a) b with silu(g) = g / (1 + exp(-g)) in f32 steps), P.b = n.
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.b) { return; }
  let g = a[i];
  if (P.a == 0u) {
    a[i] = g + b[i];
  } else if (P.a == 1u) {
    let r = max(g, 0.0);
    a[i] = (r * r) * b[i];
  } else {
    a[i] = div_rn(g, 1.0 + exp(-g)) * b[i];
  }
}
