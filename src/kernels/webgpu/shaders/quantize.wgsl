// Activation quantization for the integer matmuls, exactly as kernels/reference/quantize-activations.ts and
// formats/q8_0.ts: P.a = mode (0 per token: s = 127 / max(|x|max, 1e-5), q = round-away(x s) clamped to [-128, 127],
// one s per token; 1 Q8_K blocks: iscale = -127 / (signed max), q = min(127, nearest-even(iscale x)), d = 1 / iscale;
// 2 Q8_0 blocks: d = F16(amax / 127), q = nearest-even(x * (127 / amax))); P.b = block length (cols for mode 0),
// P.c = cols, P.d = blocks per token. One workgroup per (token, block).
// xq holds the int8 values packed four to a u32 (little-endian: column c in byte c % 4 of word c / 4), the layout
// dot4I8Packed reads; cols and the block length are multiples of 4 (the glue checks). Mode 0 also writes the sum of
// the token's int8 values (qsum), which the dot-product ternary kernel subtracts (codes 0..2 stand for -1..+1).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> xq: array<u32>;
@group(0) @binding(3) var<storage, read_write> scales: array<f32>;
@group(0) @binding(4) var<storage, read_write> qsum: array<i32>;

var<workgroup> red_abs: array<f32, 64>;
var<workgroup> red_idx: array<u32, 64>;
var<workgroup> red_bad: array<u32, 64>;

// The four f32 values from column i (a multiple of 4) of x.
fn x4(i: u32) -> vec4<f32> { return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]); }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = flat_wg(wid, nwg);
  let mode = P.a;
  let blen = P.b;
  let cols = P.c;
  let nb = P.d;
  let t = w / nb;
  let j = w % nb;
  let start = j * blen;
  let end = min(cols, start + blen);
  let base = t * cols;
  var best = 0.0;
  var bidx = 0xffffffffu;
  var bad = 0u;
  for (var i = start + lid; i < end; i = i + 64u) {
    let v = x[base + i];
    let a = abs(v);
    if (is_nan(v) || is_inf(v)) { bad = 1u; }
    if (a > best) { best = a; bidx = i; }
  }
  red_abs[lid] = best;
  red_idx[lid] = bidx;
  red_bad[lid] = bad;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let oa = red_abs[lid + s];
      let oi = red_idx[lid + s];
      if (oa > red_abs[lid] || (oa == red_abs[lid] && oi < red_idx[lid])) {
        red_abs[lid] = oa;
        red_idx[lid] = oi;
      }
      red_bad[lid] = red_bad[lid] | red_bad[lid + s];
    }
    workgroupBarrier();
  }
  let amax = red_abs[0];
  let first = red_idx[0];
  let nonFinite = red_bad[0] != 0u;
  // start, end and base are multiples of 4: word (base + i) / 4 holds columns i..i+3
  if (mode == 0u) {
    let s = div_rn(127.0, max(amax, 1e-5));
    var sum = 0;
    for (var i = start + 4u * lid; i < end; i = i + 256u) {
      let v = x4(base + i);
      let q = quant_token4(v, s);
      xq[(base + i) >> 2u] = pack_i8x4(q);
      sum = sum + q.x + q.y + q.z + q.w;
    }
    let total = wg_sum_i32(sum, lid);
    if (lid == 0u) {
      scales[t] = s;
      qsum[t] = total;
    }
  } else if (mode == 1u) {
    if (amax == 0.0) {
      for (var i = start + 4u * lid; i < end; i = i + 256u) { xq[(base + i) >> 2u] = 0u; }
      if (lid == 0u) { scales[w] = 0.0; }
    } else {
      let iscale = div_rn(-127.0, x[base + first]);
      for (var i = start + 4u * lid; i < end; i = i + 256u) {
        let v = x4(base + i);
        xq[(base + i) >> 2u] = pack_i8x4(vec4<i32>(
          i32(min(127.0, round_even(iscale * v.x))), i32(min(127.0, round_even(iscale * v.y))),
          i32(min(127.0, round_even(iscale * v.z))), i32(min(127.0, round_even(iscale * v.w)))));
      }
      if (lid == 0u) { scales[w] = select(div_rn(1.0, iscale), bitcast<f32>(0x7fc00000u | (P.a & 0u)), nonFinite); }
    }
  } else {
    let d = select(round_f16(div_rn(amax, 127.0)), 0.0, amax == 0.0);
    let id = select(div_rn(127.0, amax), 0.0, amax == 0.0);
    for (var i = start + 4u * lid; i < end; i = i + 256u) {
      let v = x4(base + i);
      xq[(base + i) >> 2u] = pack_i8x4(vec4<i32>(
        i32(round_even(v.x * id)), i32(round_even(v.y * id)), i32(round_even(v.z * id)), i32(round_even(v.w * id))));
    }
    if (lid == 0u) { scales[w] = d; }
  }
}
