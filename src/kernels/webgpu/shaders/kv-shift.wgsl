// Context shift of one sequence (backend.ts shiftKeys), in two passes so that no position is overwritten before it
// is read: pass 0 (P.h = 0) reads positions from..to-1 into `moved` (f32: K rotated by the host-built cos/sin of
// position delta, as rope.wgsl; V as is), pass 1 writes them as F16 to positions from+delta.. . One thread per
// (position, KV head, pair) in pass 0 and per (position, word) in pass 1. P.a = from, P.b = count, P.c = delta
// (bitcast i32), P.d = blockSize, P.e = kvDim, P.f = rowWords, P.g = headDim | (neox << 16), table row in `row`.
@group(0) @binding(1) var<storage, read_write> kc: array<u32>;
@group(0) @binding(2) var<storage, read_write> vc: array<u32>;
@group(0) @binding(3) var<storage, read> row: array<i32>;
@group(0) @binding(4) var<storage, read> cs: array<f32>;
@group(0) @binding(5) var<storage, read_write> moved: array<f32>;

fn word_of(pos: u32, e: u32) -> u32 {
  let blk = u32(row[pos / P.d]);
  return (blk * P.d + pos % P.d) * P.f + (e >> 1u);
}

fn half_of(w: u32, e: u32) -> f32 {
  return f16_value((w >> ((e & 1u) * 16u)) & 0xffffu);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  let headDim = P.g & 0xffffu;
  let neox = (P.g >> 16u) == 1u;
  let half = headDim / 2u;
  if (P.h == 0u) {
    let pairs = P.e / 2u;
    if (idx >= P.b * pairs) { return; }
    let j = idx / pairs;
    let r = idx % pairs;
    let h = r / half;
    let i = r % half;
    let pos = P.a + j;
    var e0 = h * headDim + 2u * i;
    var e1 = e0 + 1u;
    if (neox) { e0 = h * headDim + i; e1 = e0 + half; }
    let x0 = half_of(kc[word_of(pos, e0)], e0);
    let x1 = half_of(kc[word_of(pos, e1)], e1);
    let c = cs[2u * i];
    let s = cs[2u * i + 1u];
    let base = j * 2u * P.e;
    moved[base + e0] = x0 * c - x1 * s;
    moved[base + e1] = x0 * s + x1 * c;
    moved[base + P.e + e0] = half_of(vc[word_of(pos, e0)], e0);
    moved[base + P.e + e1] = half_of(vc[word_of(pos, e1)], e1);
    return;
  }
  if (idx >= P.b * P.f) { return; }
  let j = idx / P.f;
  let w = idx % P.f;
  let dst = u32(i32(P.a + j) + bitcast<i32>(P.c));
  let base = j * 2u * P.e;
  let e = 2u * w;
  var kw = f16_bits(moved[base + e]);
  var vw = f16_bits(moved[base + P.e + e]);
  if (e + 1u < P.e) {
    kw = kw | (f16_bits(moved[base + e + 1u]) << 16u);
    vw = vw | (f16_bits(moved[base + P.e + e + 1u]) << 16u);
  }
  kc[word_of(dst, e)] = kw;
  vc[word_of(dst, e)] = vw;
}
