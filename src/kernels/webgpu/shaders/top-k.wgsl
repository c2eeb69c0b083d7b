// Per row of logits (P.a = vocab, P.b = k, P.c = first element of row 0): the k largest values with their ids,
// descending, ties by lower id, NaN after every number (kernels/row-select.ts topKRows). One workgroup per row, k
// rounds, each picking the best element that ranks after the previous pick. Writes ids[row k + j], values[row k + j].
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> values: array<f32>;

var<workgroup> best_v: array<f32, 64>;
var<workgroup> best_i: array<i32, 64>;

// (av, ai) ranks before (bv, bi).
fn before(av: f32, ai: i32, bv: f32, bi: i32) -> bool {
  if (is_nan(av)) { return is_nan(bv) && ai < bi; }
  if (is_nan(bv)) { return true; }
  return av > bv || (av == bv && ai < bi);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let vocab = P.a;
  let k = P.b;
  let row = wid.x;
  let base = P.c + row * vocab;
  var pv = 0.0;
  var pi = -1;
  for (var j = 0u; j < k; j = j + 1u) {
    var bv = 0.0;
    var bi = -1;
    for (var i = lid; i < vocab; i = i + 64u) {
      let v = logits[base + i];
      if ((pi < 0 || before(pv, pi, v, i32(i))) && (bi < 0 || before(v, i32(i), bv, bi))) { bv = v; bi = i32(i); }
    }
    best_v[lid] = bv;
    best_i[lid] = bi;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
      if (lid < s) {
        let ov = best_v[lid + s];
        let oi = best_i[lid + s];
        if (oi >= 0 && (best_i[lid] < 0 || before(ov, oi, best_v[lid], best_i[lid]))) {
          best_v[lid] = ov;
          best_i[lid] = oi;
        }
      }
      workgroupBarrier();
    }
    pv = best_v[0];
    pi = best_i[0];
    if (lid == 0u) {
      ids[row * k + j] = pi;
      values[row * k + j] = pv;
    }
    workgroupBarrier();
  }
}
