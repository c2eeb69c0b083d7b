// Causal grouped-query attention over an F16 KV cache, one (token, head) pair per job row:
// out[t, h] = sum_p softmax_p(q[t, h] . K[p, kvh] / sqrt(headDim)) V[p, kvh], p = 0..startPos+t,
// kvh = h / (nHeads / nKvHeads). As ggml (and kernels/reference/attention.ts): q is rounded to F16 before
// its dot with K, each probability to F16 before its product with V. Per-thread scratch: the F16-rounded
// query (headDim f32) then the scores (f64 per position).

import { expF64, f16ToF32, f16x4ToF32x4, f32ToF16, hsumF32 } from './common';
import { argF64, argPtr, argU32 } from './job';

export const ATT_OUT: u32 = 0;
export const ATT_Q: u32 = 1;
export const ATT_K: u32 = 2; // layer's K cache: contextLength x kvDim f16
export const ATT_V: u32 = 3;
export const ATT_START_POS: u32 = 4;
export const ATT_N_HEADS: u32 = 5;
export const ATT_N_KV_HEADS: u32 = 6;
export const ATT_HEAD_DIM: u32 = 7;
export const ATT_SCRATCH: u32 = 8;
export const ATT_SCRATCH_STRIDE: u32 = 9;
export const ATT_SCALE: u32 = 10; // f64 in words 10-11

/** dot of f16 k (headDim halves) with f32 q. */
// @ts-ignore: decorator
@inline function dotF16(k: usize, q: usize, headDim: u32): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let i: u32 = 0;
  for (; i + 8 <= headDim; i += 8) {
    const h = v128.load(k + (<usize>i << 1));
    a0 = f32x4.add(a0, f32x4.mul(f16x4ToF32x4(i32x4.extend_low_i16x8_u(h)), v128.load(q + (<usize>i << 2))));
    a1 = f32x4.add(a1, f32x4.mul(f16x4ToF32x4(i32x4.extend_high_i16x8_u(h)), v128.load(q + (<usize>i << 2), 16)));
  }
  let s = hsumF32(f32x4.add(a0, a1));
  for (; i < headDim; i++) s += f16ToF32(load<u16>(k + (<usize>i << 1))) * load<f32>(q + (<usize>i << 2));
  return s;
}

/** Job body: (token, head) items [start, end). */
export function attentionRows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ATT_OUT);
  const q = argPtr(job, ATT_Q);
  const kc = argPtr(job, ATT_K);
  const vc = argPtr(job, ATT_V);
  const startPos = argU32(job, ATT_START_POS);
  const nHeads = argU32(job, ATT_N_HEADS);
  const nKvHeads = argU32(job, ATT_N_KV_HEADS);
  const headDim = argU32(job, ATT_HEAD_DIM);
  const sc0 = argPtr(job, ATT_SCRATCH) + <usize>thread * argU32(job, ATT_SCRATCH_STRIDE);
  const sc = sc0 + ((((<usize>argU32(job, ATT_HEAD_DIM) << 2) + 15) >> 4) << 4);
  const scale = argF64(job, ATT_SCALE);
  const group = nHeads / nKvHeads;
  const kvDim = <usize>nKvHeads * headDim;
  for (let item = start; item < end; item++) {
    const t = item / nHeads;
    const h = item % nHeads;
    const kvOff = (<usize>(h / group) * headDim) << 1;
    const qIn = q + ((<usize>item * headDim) << 2);
    const qv = sc0;
    for (let i: usize = 0; i < headDim; i++) store<f32>(qv + (i << 2), f16ToF32(f32ToF16(load<f32>(qIn + (i << 2)))));
    const n = startPos + t + 1;
    let maxScore: f64 = -Infinity;
    for (let p: u32 = 0; p < n; p++) {
      const s = <f64>dotF16(kc + ((<usize>p * kvDim) << 1) + kvOff, qv, headDim) * scale;
      store<f64>(sc + (<usize>p << 3), s);
      if (s > maxScore) maxScore = s;
    }
    let sum: f64 = 0;
    for (let p: u32 = 0; p < n; p++) {
      const e = expF64(load<f64>(sc + (<usize>p << 3)) - maxScore);
      store<f64>(sc + (<usize>p << 3), e);
      sum += e;
    }
    const o = out + ((<usize>item * headDim) << 2);
    memory.fill(o, 0, <usize>headDim << 2);
    for (let p: u32 = 0; p < n; p++) {
      const wp = f16ToF32(f32ToF16(<f32>(load<f64>(sc + (<usize>p << 3)) / sum)));
      const v = vc + ((<usize>p * kvDim) << 1) + kvOff;
      const w4 = f32x4.splat(wp);
      let i: u32 = 0;
      for (; i + 8 <= headDim; i += 8) {
        const hv = v128.load(v + (<usize>i << 1));
        const oi = o + (<usize>i << 2);
        v128.store(oi, f32x4.add(v128.load(oi), f32x4.mul(f16x4ToF32x4(i32x4.extend_low_i16x8_u(hv)), w4)));
        v128.store(oi, f32x4.add(v128.load(oi, 16), f32x4.mul(f16x4ToF32x4(i32x4.extend_high_i16x8_u(hv)), w4)), 16);
      }
      for (; i < headDim; i++) {
        const oi = o + (<usize>i << 2);
        store<f32>(oi, load<f32>(oi) + f16ToF32(load<u16>(v + (<usize>i << 1))) * wp);
      }
    }
  }
}
