// out[i, :] = x[rows[i], :] for rows of P.a floats; P.b = number of rows. One thread per value.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * 64u;
  if (j >= P.a * P.b) { return; }
  let i = j / P.a;
  out[j] = x[rows[i] * P.a + (j % P.a)];
}
