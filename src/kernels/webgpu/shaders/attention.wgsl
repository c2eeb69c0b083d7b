// Causal grouped-query attention over one layer's paged F16 pool, as kernels/reference/attention.ts (llama.cpp's
// non-flash path): q rounded to F16, scores = q.k / sqrt(headDim), softmax with the max subtracted, probabilities
// rounded to F16 before their product with the F16 values. Entry t attends to positions 0..entries[2t + 1] of
// sequence slot entries[2t], position p in block tables[seq * maxBlocks + p / blockSize] (kv-write.wgsl's layout:
// rowWords u32 words per position). P.a = maxBlocks, P.b = nHeads, P.c = nKvHeads, P.d = headDim (<= 256),
// P.e = rowWords, P.f = score stride, P.g = blockSize, P.h = head groups per KV head (ceil(group / 4)); P.x0 =
// 1 / sqrt(headDim). The scores of a head sit in `scratch` (global, P.f floats each).
// A workgroup takes (entry, KV head, group of up to 4 of its query heads): the 4 heads are the lanes of vec4 sums, so
// every K and V value is read once for them, and a position's block is looked up once per workgroup. Each lane sums
// in the order of one head alone (scores over d, softmax over p by thread, then a two-sum tree; values over p).
// P.i = 0: one workgroup does all of it. Long contexts with few workgroups (decode) split the positions into chunks of
// P.j (P.k chunks per head), one workgroup per (entry, KV head, group, chunk), in three dispatches: P.i = 1 scores of
// the chunk and its max; P.i = 2 the max of the chunk maxima, the softmax sum over all positions (each chunk's
// workgroup computes the same sum, in mode 0's order), the chunk's probabilities and its partial value sums; P.i = 3
// (a workgroup per entry, KV head and group) the partial sums added in chunk order. Per (entry, head), from float
// P.l of scratch: P.k chunk maxima, then P.k x headDim partial sums. Only the value sums' order differs from mode 0.
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<u32>;
@group(0) @binding(3) var<storage, read> vc: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(6) var<storage, read> tables: array<i32>;
@group(0) @binding(7) var<storage, read> entries: array<i32>;

// the query heads' F16-rounded values by dimension (lane i: head h0 + i; 0 past the group)
var<workgroup> qh: array<vec4<f32>, 256>;
// a chunk of 64 positions for the value sums: each one's first word, and its probabilities
var<workgroup> rows: array<u32, 64>;
var<workgroup> probs: array<vec4<f32>, 64>;
// the max and compensated-sum trees, a lane per head
var<workgroup> red_hi: array<vec4<f32>, 64>;
var<workgroup> red_lo: array<vec4<f32>, 64>;

// The first word of position p of sequence slot seq.
fn row_of(seq: u32, p: u32) -> u32 {
  let blk = u32(tables[seq * P.a + p / P.g]);
  return (blk * P.g + p % P.g) * P.e;
}

// Element e of a position's row from its first word, in a plane (K or V words).
fn k_at(row: u32, e: u32) -> f32 { return f16_value((kc[row + (e >> 1u)] >> ((e & 1u) * 16u)) & 0xffffu); }
fn v_at(row: u32, e: u32) -> f32 { return f16_value((vc[row + (e >> 1u)] >> ((e & 1u) * 16u)) & 0xffffu); }

// a + b exactly as (hi, lo) per lane (common.wgsl two_sum on vec4).
fn two_sum4(a: vec4<f32>, b: vec4<f32>) -> array<vec4<f32>, 2> {
  let s = a + b;
  let bb = s - a;
  return array<vec4<f32>, 2>(s, (a - (s - bb)) + (b - bb));
}

// The max of v over the workgroup, a lane per head (every thread calls it).
fn max_tree(v: vec4<f32>, lid: u32) -> vec4<f32> {
  red_hi[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) { red_hi[lid] = max(red_hi[lid], red_hi[lid + s]); }
    workgroupBarrier();
  }
  let m = red_hi[0];
  workgroupBarrier();
  return m;
}

// Where a workgroup's (entry, heads) are.
struct Unit { t: u32, seq: u32, nPos: u32, h0: u32, nh: u32, kvOff: u32, qBase: u32, sBase: u32 }

fn unit_of(w: u32) -> Unit {
  let group = P.b / P.c;
  let perEntry = P.c * P.h;
  let t = w / perEntry;
  let kvh = (w % perEntry) / P.h;
  let h0 = kvh * group + (w % P.h) * 4u;
  return Unit(t, u32(entries[2u * t]), u32(entries[2u * t + 1u]) + 1u, h0, min(4u, (kvh + 1u) * group - h0), kvh * P.d,
    (t * P.b + h0) * P.d, (t * P.b + h0) * P.f);
}

// The first float of head h0 + i's chunk maxima and partial sums (modes 1-3).
fn split_base(u: Unit, i: u32) -> u32 { return P.l + (u.t * P.b + u.h0 + i) * P.k * (1u + P.d); }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let headDim = P.d;
  let mode = P.i;
  let flat = flat_wg(wid, nwg);
  // modes 1 and 2: P.k workgroups per unit, one per chunk of P.j positions
  let chunk = select(0u, flat % P.k, mode == 1u || mode == 2u);
  let u = unit_of(select(flat, flat / P.k, mode == 1u || mode == 2u));
  if (mode == 3u) {
    for (var i = 0u; i < u.nh; i = i + 1u) {
      let sb = split_base(u, i) + P.k;
      let nChunks = (u.nPos + P.j - 1u) / P.j;
      for (var d = lid; d < headDim; d = d + 64u) {
        var o = 0.0;
        for (var c = 0u; c < nChunks; c = c + 1u) { o = o + scratch[sb + c * headDim + d]; }
        out[u.qBase + i * headDim + d] = o;
      }
    }
    return;
  }
  // the positions this workgroup scores and sums values over
  let pStart = select(0u, chunk * P.j, mode != 0u);
  let pEnd = select(u.nPos, min(u.nPos, pStart + P.j), mode != 0u);
  if (pStart >= pEnd) { return; }
  if (mode != 2u) {
    for (var d = lid; d < headDim; d = d + 64u) {
      var v = vec4<f32>(0.0);
      for (var i = 0u; i < u.nh; i = i + 1u) { v[i] = round_f16(q[u.qBase + i * headDim + d]); }
      qh[d] = v;
    }
  }
  workgroupBarrier();
  var m = vec4<f32>(-3.4028234e38);
  if (mode != 2u) {
    // scores, a thread per position
    var mx = vec4<f32>(-3.4028234e38);
    for (var p = pStart + lid; p < pEnd; p = p + 64u) {
      let row = row_of(u.seq, p);
      var dot = vec4<f32>(0.0);
      for (var d = 0u; d < headDim; d = d + 1u) { dot = dot + qh[d] * k_at(row, u.kvOff + d); }
      let s = dot * P.x0;
      for (var i = 0u; i < u.nh; i = i + 1u) { scratch[u.sBase + i * P.f + p] = s[i]; }
      mx = max(mx, s);
    }
    m = max_tree(mx, lid);
    if (mode == 1u) {
      if (lid == 0u) { for (var i = 0u; i < u.nh; i = i + 1u) { scratch[split_base(u, i) + chunk] = m[i]; } }
      return;
    }
  } else {
    // the max of the chunk maxima (the same max as mode 0's)
    let nChunks = (u.nPos + P.j - 1u) / P.j;
    for (var i = 0u; i < u.nh; i = i + 1u) {
      let sb = split_base(u, i);
      for (var c = 0u; c < nChunks; c = c + 1u) { m[i] = max(m[i], scratch[sb + c]); }
    }
  }
  // exp(s - max) over every position, each thread over the positions it would have scored in mode 0, summed with
  // two-sums; mode 0 keeps them in scratch, mode 2 (other chunks' workgroups read the scores) recomputes them
  var hi = vec4<f32>(0.0);
  var lo = vec4<f32>(0.0);
  for (var p = lid; p < u.nPos; p = p + 64u) {
    var e = vec4<f32>(0.0);
    for (var i = 0u; i < u.nh; i = i + 1u) {
      let at = u.sBase + i * P.f + p;
      e[i] = exp(scratch[at] - m[i]);
      if (mode == 0u) { scratch[at] = e[i]; }
    }
    let s2 = two_sum4(hi, e);
    hi = s2[0];
    lo = lo + s2[1];
  }
  // common.wgsl join_sums, a lane per head
  red_hi[lid] = hi;
  red_lo[lid] = lo;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let s2 = two_sum4(red_hi[lid], red_hi[lid + s]);
      red_lo[lid] = red_lo[lid] + red_lo[lid + s] + s2[1];
      red_hi[lid] = s2[0];
    }
    workgroupBarrier();
  }
  let sum = red_hi[0] + red_lo[0];
  if (mode == 0u) {
    for (var p = lid; p < u.nPos; p = p + 64u) {
      for (var i = 0u; i < u.nh; i = i + 1u) {
        let at = u.sBase + i * P.f + p;
        scratch[at] = round_f16(div_rn(scratch[at], sum[i]));
      }
    }
  }
  storageBarrier();
  workgroupBarrier();
  // the values: a thread per dimension (up to 4 of them), over the positions in chunks of 64 staged by the threads
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var c = pStart; c < pEnd; c = c + 64u) {
    let p = c + lid;
    if (p < pEnd) {
      rows[lid] = row_of(u.seq, p);
      var pr = vec4<f32>(0.0);
      for (var i = 0u; i < u.nh; i = i + 1u) {
        let at = u.sBase + i * P.f + p;
        if (mode == 0u) { pr[i] = scratch[at]; } else { pr[i] = round_f16(div_rn(exp(scratch[at] - m[i]), sum[i])); }
      }
      probs[lid] = pr;
    }
    workgroupBarrier();
    let n = min(64u, pEnd - c);
    for (var j = 0u; j < n; j = j + 1u) {
      let row = rows[j];
      let pr = probs[j];
      if (lid < headDim) { a0 = a0 + pr * v_at(row, u.kvOff + lid); }
      if (lid + 64u < headDim) { a1 = a1 + pr * v_at(row, u.kvOff + lid + 64u); }
      if (lid + 128u < headDim) { a2 = a2 + pr * v_at(row, u.kvOff + lid + 128u); }
      if (lid + 192u < headDim) { a3 = a3 + pr * v_at(row, u.kvOff + lid + 192u); }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < u.nh; i = i + 1u) {
    // mode 0: the output; mode 2: this chunk's partial sums
    var o = u.qBase + i * headDim;
    if (mode == 2u) { o = split_base(u, i) + P.k + chunk * headDim; }
    if (lid < headDim) { write_out(mode, o + lid, a0[i]); }
    if (lid + 64u < headDim) { write_out(mode, o + lid + 64u, a1[i]); }
    if (lid + 128u < headDim) { write_out(mode, o + lid + 128u, a2[i]); }
    if (lid + 192u < headDim) { write_out(mode, o + lid + 192u, a3[i]); }
  }
}

fn write_out(mode: u32, i: u32, v: f32) {
  if (mode == 2u) { scratch[i] = v; } else { out[i] = v; }
}
