// Causal grouped-query attention over one layer's paged F16 pool, as kernels/reference/attention.ts (llama.cpp's
// non-flash path): q rounded to F16, scores = q.k / sqrt(headDim), softmax with the max subtracted, probabilities
// rounded to F16 before their product with the F16 values. One workgroup per (entry, head); entry t attends to
// positions 0..entries[2t + 1] of sequence slot entries[2t], position p in block tables[seq * maxBlocks + p / blockSize]
// (kv-write.wgsl's layout: rowWords u32 words per position). The scores of a workgroup sit in `scratch` (global,
// P.f floats each). P.a = maxBlocks, P.b = nHeads, P.c = nKvHeads, P.d = headDim (<= 256), P.e = rowWords,
// P.f = score stride, P.g = blockSize; P.x0 = 1 / sqrt(headDim).
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<u32>;
@group(0) @binding(3) var<storage, read> vc: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(6) var<storage, read> tables: array<i32>;
@group(0) @binding(7) var<storage, read> entries: array<i32>;

var<workgroup> qh: array<f32, 256>;
fn half_at(plane_is_k: bool, seq: u32, p: u32, e: u32) -> f32 {
  let blk = u32(tables[seq * P.a + p / P.g]);
  let wi = (blk * P.g + p % P.g) * P.e + (e >> 1u);
  let word = select(vc[wi], kc[wi], plane_is_k);
  return f16_value((word >> ((e & 1u) * 16u)) & 0xffffu);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let nHeads = P.b;
  let headDim = P.d;
  let w = flat_wg(wid, nwg);
  let t = w / nHeads;
  let h = w % nHeads;
  let seq = u32(entries[2u * t]);
  let nPos = u32(entries[2u * t + 1u]) + 1u;
  let kvOff = (h / (nHeads / P.c)) * headDim;
  let qBase = w * headDim;
  let sBase = w * P.f;
  for (var d = lid; d < headDim; d = d + 64u) { qh[d] = round_f16(q[qBase + d]); }
  workgroupBarrier();
  var mx = -3.4028234e38;
  for (var p = lid; p < nPos; p = p + 64u) {
    var dot = 0.0;
    for (var d = 0u; d < headDim; d = d + 1u) { dot = dot + qh[d] * half_at(true, seq, p, kvOff + d); }
    let s = dot * P.x0;
    scratch[sBase + p] = s;
    mx = max(mx, s);
  }
  red_f[lid] = vec2<f32>(mx, 0.0);
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) { red_f[lid] = vec2<f32>(max(red_f[lid].x, red_f[lid + s].x), 0.0); }
    workgroupBarrier();
  }
  let m = red_f[0].x;
  workgroupBarrier();
  var acc = vec2<f32>(0.0, 0.0);
  for (var p = lid; p < nPos; p = p + 64u) {
    let e = exp(scratch[sBase + p] - m);
    scratch[sBase + p] = e;
    let s2 = two_sum(acc.x, e);
    acc = vec2<f32>(s2.x, acc.y + s2.y);
  }
  let joined = join_sums(acc, lid, lid, 64u);
  let sum = joined.x + joined.y;
  for (var p = lid; p < nPos; p = p + 64u) {
    scratch[sBase + p] = round_f16(div_rn(scratch[sBase + p], sum));
  }
  storageBarrier();
  workgroupBarrier();
  for (var d = lid; d < headDim; d = d + 64u) {
    var o = 0.0;
    for (var p = 0u; p < nPos; p = p + 1u) { o = o + scratch[sBase + p] * half_at(false, seq, p, kvOff + d); }
    out[qBase + d] = o;
  }
}
