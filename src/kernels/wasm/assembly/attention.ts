// Causal grouped-query attention over an F16 KV cache, one (token, head) pair per job row:
// out[t, h] = sum_p softmax_p(q[t, h] . K[p, kvh] / sqrt(headDim)) V[p, kvh], p = 0..startPos+t,
// kvh = h / (nHeads / nKvHeads). As ggml (and kernels/reference/attention.ts): q is rounded to F16 before
// its dot with K, each probability to F16 before its product with V. Per-thread scratch: the F16-rounded
// query (headDim f32) then the scores (f64 per position).
// Unless the layer's cache holds Inf / NaN (ATT_EXACT 1), K and V are read as f32 bits worth value * 2^-112 by a
// shift and a mask (common.ts f16x4ScaledDown) and q and the probabilities are scaled by 2^112: the products are the
// same exact values (11 x 11 significant bits) as with a full F16 conversion, at a third of the instructions.

import { expF64, expF64x2, f16ScaledDown, f16ToF32, f16x4ToF32x4, f32ToF16, hsumF32 } from './common';
import { C_F16_BITS, vconst } from './constants';
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
export const ATT_EXACT: u32 = 12; // 1: the cache holds Inf / NaN, convert F16 exactly

/** dot of f16 k (headDim halves) with f32 q; `exact` false: q is scaled by 2^112 and k read as scaled-down bits. */
// @ts-ignore: decorator
@inline function dotF16(k: usize, q: usize, headDim: u32, exact: bool, bits: v128): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let i: u32 = 0;
  for (; i + 8 <= headDim; i += 8) {
    const kp = k + (<usize>i << 1);
    const k0 = exact ? f16x4ToF32x4(v128.load16x4_u(kp)) : v128.and(i32x4.shl(v128.load16x4_s(kp), 13), bits);
    const k1 = exact ? f16x4ToF32x4(v128.load16x4_u(kp + 8)) : v128.and(i32x4.shl(v128.load16x4_s(kp + 8), 13), bits);
    a0 = f32x4.add(a0, f32x4.mul(k0, v128.load(q + (<usize>i << 2))));
    a1 = f32x4.add(a1, f32x4.mul(k1, v128.load(q + (<usize>i << 2), 16)));
  }
  let s = hsumF32(f32x4.add(a0, a1));
  for (; i < headDim; i++) {
    const kv = exact ? f16ToF32(load<u16>(k + (<usize>i << 1))) : f16ScaledDown(<i32>load<i16>(k + (<usize>i << 1)));
    s += kv * load<f32>(q + (<usize>i << 2));
  }
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
  const exact = argU32(job, ATT_EXACT) != 0;
  const bits = vconst(C_F16_BITS);
  const up: f32 = exact ? 1.0 : reinterpret<f32>(0x77800000); // 2^112
  for (let item = start; item < end; item++) {
    const t = item / nHeads;
    const h = item % nHeads;
    const kvOff = (<usize>(h / group) * headDim) << 1;
    const qIn = q + ((<usize>item * headDim) << 2);
    const qv = sc0;
    for (let i: usize = 0; i < headDim; i++) store<f32>(qv + (i << 2), f16ToF32(f32ToF16(load<f32>(qIn + (i << 2)))) * up);
    const n = startPos + t + 1;
    let maxScore: f64 = -Infinity;
    for (let p: u32 = 0; p < n; p++) {
      const kp = kc + ((<usize>p * kvDim) << 1) + kvOff;
      const s = <f64>(exact ? dotF16(kp, qv, headDim, true, bits) : dotF16(kp, qv, headDim, false, bits)) * scale;
      store<f64>(sc + (<usize>p << 3), s);
      if (s > maxScore) maxScore = s;
    }
    // e^(s - max) two at a time (expF64x2: expF64's operations; arguments <= 0, and below -708 both give what
    // rounds away in the F16 probability), then the sum in position order as before
    const m2 = f64x2.splat(maxScore);
    let p2: u32 = 0;
    for (; p2 + 2 <= n; p2 += 2) {
      const at = sc + (<usize>p2 << 3);
      v128.store(at, expF64x2(f64x2.sub(v128.load(at), m2)));
    }
    if (p2 < n) store<f64>(sc + (<usize>p2 << 3), expF64(load<f64>(sc + (<usize>p2 << 3)) - maxScore));
    let sum: f64 = 0;
    for (let p: u32 = 0; p < n; p++) sum += load<f64>(sc + (<usize>p << 3));
    const o = out + ((<usize>item * headDim) << 2);
    memory.fill(o, 0, <usize>headDim << 2);
    for (let p: u32 = 0; p < n; p++) {
      // the F16-rounded probability (scaled by 2^112 on the fast path: an exact power-of-two scaling)
      const wp = f16ToF32(f32ToF16(<f32>(load<f64>(sc + (<usize>p << 3)) / sum))) * up;
      const v = vc + ((<usize>p * kvDim) << 1) + kvOff;
      const w4 = f32x4.splat(wp);
      let i: u32 = 0;
      for (; i + 8 <= headDim; i += 8) {
        const vp = v + (<usize>i << 1);
        const oi = o + (<usize>i << 2);
        const v0 = exact ? f16x4ToF32x4(v128.load16x4_u(vp)) : v128.and(i32x4.shl(v128.load16x4_s(vp), 13), bits);
        const v1 = exact ? f16x4ToF32x4(v128.load16x4_u(vp + 8)) : v128.and(i32x4.shl(v128.load16x4_s(vp + 8), 13), bits);
        v128.store(oi, f32x4.add(v128.load(oi), f32x4.mul(v0, w4)));
        v128.store(oi, f32x4.add(v128.load(oi, 16), f32x4.mul(v1, w4)), 16);
      }
      for (; i < headDim; i++) {
        const oi = o + (<usize>i << 2);
        const vv = exact ? f16ToF32(load<u16>(v + (<usize>i << 1))) : f16ScaledDown(<i32>load<i16>(v + (<usize>i << 1)));
        store<f32>(oi, load<f32>(oi) + vv * wp);
      }
    }
  }
}
