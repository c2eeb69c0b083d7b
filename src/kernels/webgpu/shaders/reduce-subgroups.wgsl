// reduce-portable.wgsl's reductions with subgroup operations (WGSL `enable subgroups`, where the adapter has the
// 'subgroups' feature): each subgroup reduces in registers, one invocation of each folds its result into a workgroup
// atomic (a max of non-negative floats is the max of their bit patterns), three barriers instead of seven. Max and
// integer sums do not depend on the order, so the values are reduce-portable.wgsl's.
var<workgroup> red_max_bits: atomic<u32>;
var<workgroup> red_sum_i: atomic<i32>;

// The largest v of the workgroup, for v >= 0 and not NaN.
fn wg_max_nonneg(v: f32, lid: u32) -> f32 {
  if (lid == 0u) { atomicStore(&red_max_bits, 0u); }
  workgroupBarrier();
  let m = subgroupMax(v);
  if (subgroupElect()) { atomicMax(&red_max_bits, bitcast<u32>(m)); }
  workgroupBarrier();
  let r = bitcast<f32>(atomicLoad(&red_max_bits));
  workgroupBarrier();
  return r;
}

// The sum of v over the workgroup (exact while it fits an i32).
fn wg_sum_i32(v: i32, lid: u32) -> i32 {
  if (lid == 0u) { atomicStore(&red_sum_i, 0); }
  workgroupBarrier();
  let s = subgroupAdd(v);
  if (subgroupElect()) { atomicAdd(&red_sum_i, s); }
  workgroupBarrier();
  let t = atomicLoad(&red_sum_i);
  workgroupBarrier();
  return t;
}
