// Per row of logits (P.a = vocab, P.c = first element of row 0): the lowest id of the largest value, -1 when the row
// holds NaN or +Infinity or only -Infinity (kernels/row-select.ts argmaxRows). One workgroup per row; 4 bytes per
// row go back to the host.
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<i32>;

var<workgroup> best_v: array<f32, 64>;
var<workgroup> best_i: array<i32, 64>;
var<workgroup> bad: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let vocab = P.a;
  let row = wid.x;
  let base = P.c + row * vocab;
  var bv = -3.4028234e38;
  var bi = -1;
  var b = 0u;
  for (var i = lid; i < vocab; i = i + 64u) {
    let v = logits[base + i];
    if (is_nan(v) || v > 3.4028234e38) { b = 1u; }
    else if (v > bv || (bi < 0 && v >= -3.4028234e38)) { bv = v; bi = i32(i); }
  }
  best_v[lid] = bv;
  best_i[lid] = bi;
  bad[lid] = b;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let ov = best_v[lid + s];
      let oi = best_i[lid + s];
      if (oi >= 0 && (best_i[lid] < 0 || ov > best_v[lid] || (ov == best_v[lid] && oi < best_i[lid]))) {
        best_v[lid] = ov;
        best_i[lid] = oi;
      }
      bad[lid] = bad[lid] | bad[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { ids[row] = select(best_i[0], -1, bad[0] != 0u); }
}
