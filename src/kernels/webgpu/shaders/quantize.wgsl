// Activation quantization for the integer matmuls, exactly as kernels/reference/quantize-activations.ts and
// formats/q8_0.ts: P.a = mode (0 per token: s = 127 / max(|x|max, 1e-5), q = round-away(x s) clamped to [-128, 127],
// one s per token; 1 Q8_K blocks: iscale = -127 / (signed max), q = min(127, nearest-even(iscale x)), d = 1 / iscale;
// 2 Q8_0 blocks: d = F16(amax / 127), q = nearest-even(x * (127 / amax))); P.b = block length (cols for mode 0),
// P.c = cols, P.d = blocks per token. One workgroup per (token, block).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> xq: array<i32>;
@group(0) @binding(3) var<storage, read_write> scales: array<f32>;

var<workgroup> red_abs: array<f32, 64>;
var<workgroup> red_idx: array<u32, 64>;
var<workgroup> red_bad: array<u32, 64>;

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
  if (mode == 0u) {
    let s = div_rn(127.0, max(amax, 1e-5));
    for (var i = start + lid; i < end; i = i + 64u) {
      xq[base + i] = i32(clamp(round_away(x[base + i] * s), -128.0, 127.0));
    }
    if (lid == 0u) { scales[t] = s; }
  } else if (mode == 1u) {
    if (amax == 0.0) {
      for (var i = start + lid; i < end; i = i + 64u) { xq[base + i] = 0; }
      if (lid == 0u) { scales[w] = 0.0; }
    } else {
      let iscale = div_rn(-127.0, x[base + first]);
      for (var i = start + lid; i < end; i = i + 64u) {
        xq[base + i] = i32(min(127.0, round_even(iscale * x[base + i])));
      }
      if (lid == 0u) { scales[w] = select(div_rn(1.0, iscale), bitcast<f32>(0x7fc00000u | (P.a & 0u)), nonFinite); }
    }
  } else {
    let d = select(round_f16(div_rn(amax, 127.0)), 0.0, amax == 0.0);
    let id = select(div_rn(127.0, amax), 0.0, amax == 0.0);
    for (var i = start + lid; i < end; i = i + 64u) {
      xq[base + i] = i32(round_even(x[base + i] * id));
    }
    if (lid == 0u) { scales[w] = d; }
  }
}
