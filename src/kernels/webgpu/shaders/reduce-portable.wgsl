// Workgroup reductions whose result does not depend on the order (a max, an integer sum), for kernels of 64 threads
// (index.ts REDUCE_USERS): shared-memory trees. reduce-subgroups.wgsl does the same with subgroup operations where the
// adapter has them; both give the same value. Every thread calls them, in uniform control flow (they hold barriers).
var<workgroup> red_max: array<f32, 64>;
var<workgroup> red_sum: array<i32, 64>;

// The largest v of the workgroup, for v >= 0 and not NaN.
fn wg_max_nonneg(v: f32, lid: u32) -> f32 {
  red_max[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) { red_max[lid] = max(red_max[lid], red_max[lid + s]); }
    workgroupBarrier();
  }
  let m = red_max[0];
  workgroupBarrier();
  return m;
}

// The sum of v over the workgroup (exact while it fits an i32).
fn wg_sum_i32(v: i32, lid: u32) -> i32 {
  red_sum[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) { red_sum[lid] = red_sum[lid] + red_sum[lid + s]; }
    workgroupBarrier();
  }
  let t = red_sum[0];
  workgroupBarrier();
  return t;
}
