// Rotary position embedding in place with a host-built cos/sin table (kernels/reference/rope.ts: ggml's f32 angle
// recurrence, cos and sin rounded to f32 on the host, so every backend rotates by the same numbers). P.a = nTokens,
// P.b = nHeads, P.c = headDim, P.d = 1 for NEOX (pairs i, i + headDim/2) else normal (pairs 2i, 2i + 1).
// cs[2 (t half + i)] = cos, [.. + 1] = sin. One thread per pair. P.e = nHeads of a second tensor x2 rotated by the same
// table in the same dispatch (a layer's q and k: the backend's deferred ops, docs/next-shape.md); 0: x2 is unused.
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> cs: array<f32>;
@group(0) @binding(3) var<storage, read_write> x2: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let half = P.c / 2u;
  let heads = P.b + P.e;
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= P.a * heads * half) { return; }
  let i = idx % half;
  let th = idx / half;
  let t = th / heads;
  let h = th % heads;
  let second = h >= P.b;
  // the pair's first value within its tensor's token row of heads
  let base = select(t * P.b + h, t * P.e + h - P.b, second) * P.c;
  var i0 = base + 2u * i;
  var i1 = i0 + 1u;
  if (P.d == 1u) { i0 = base + i; i1 = base + i + half; }
  let c = cs[2u * (t * half + i)];
  let s = cs[2u * (t * half + i) + 1u];
  if (second) {
    let x0 = x2[i0];
    let x1 = x2[i1];
    x2[i0] = x0 * c - x1 * s;
    x2[i1] = x0 * s + x1 * c;
  } else {
    let x0 = x[i0];
    let x1 = x[i1];
    x[i0] = x0 * c - x1 * s;
    x[i1] = x0 * s + x1 * c;
  }
}
