// Memory read bandwidth probe for bench/kernels.ts: sums bytes [start, end) MiB of a region, 64 bytes a step.

import { argPtr } from './job';

export const BW_BASE: u32 = 0;
export const BW_SINK: u32 = 1; // per-thread i32 results, 64 bytes apart

/** Job body: MiB chunks [start, end) of the region at BW_BASE. */
export function bandwidthRows(job: usize, start: u32, end: u32, thread: u32): void {
  const base = argPtr(job, BW_BASE);
  let a = i32x4.splat(0);
  let b = i32x4.splat(0);
  const from = base + (<usize>start << 20);
  const to = base + (<usize>end << 20);
  for (let p = from; p < to; p += 64) {
    a = i32x4.add(a, i32x4.add(v128.load(p), v128.load(p, 32)));
    b = i32x4.add(b, i32x4.add(v128.load(p, 16), v128.load(p, 48)));
  }
  a = i32x4.add(a, b);
  const sink = argPtr(job, BW_SINK) + (<usize>thread << 6);
  store<i32>(sink, load<i32>(sink) + i32x4.extract_lane(a, 0) + i32x4.extract_lane(a, 3));
}
