// Causal grouped-query attention over the paged F16 KV pool, one (entry, KV head) unit or a part of one per job row:
// out[t, h] = sum_p softmax_p(q[t, h] . K[p, kvh] / sqrt(headDim)) V[p, kvh], p = 0..positions[t] of entry t's
// sequence, kvh = h / (nHeads / nKvHeads). Position p sits in block table[p / blockSize], slot p % blockSize; within a
// block each KV head's positions are together (ATT_KV_HEAD_BYTES apart). The passes walk the positions in order, a
// block at a time, so the arithmetic is the same whatever blocks hold them. As ggml (and kernels/reference/attention.ts): q is rounded to F16 before
// its dot with K, each probability to F16 before its product with V.
// A row's query heads (the unit's whole group, or ATT_SPLIT_HEADS of them where the glue cut the last units so the
// rows spread evenly over the threads) go in batches of up to BATCH: one pass over K loads and converts each K row
// once for the batch's dots, two positions at a time so each query chunk is loaded once for both (scorePair); one
// pass over V each V element once for the batch's outputs. Per head and position the dot is one f32x4 sum over the
// 4-element pieces in order, summed across, then the scalar tail; e^(s - max) in f32 (common.ts expF32x4, as ggml's
// soft-max), summed in f64 (four partial sums over the positions mod 4); each output element summed over positions in order from 0. The V pass
// goes 8 output elements at a time (2 vectors per head in registers) down all positions.
// Both passes are bound by the x86 vector ALU ports that take the multiply-adds and the F16 shifts (measured at
// 2000 positions, headDim 128, 1 thread: the score pass ~45% of a call, the V pass ~30%; before the f32 exponential
// the f64 one took another ~20%). At 2000 positions of context a 2b-4t decode token spent a third of its time here
// before that change (bench/README.md "Attention at long context").
// Per-thread scratch: BATCH f64 score maxima, the batch's F16-rounded queries (8-element chunks, heads interleaved),
// the scores (f64 per position, one row per head), then the probabilities (f32, BATCH per position).
// Unless the layer's cache holds Inf / NaN (ATT_EXACT 1), K and V are read as f32 bits worth value * 2^-112 by a
// shift and a mask (common.ts f16x4ScaledDown) and q and the probabilities are scaled by 2^112: the products are the
// same exact values (11 x 11 significant bits) as with a full F16 conversion, at a third of the instructions.
// F16 rounding of q and of the probabilities: four lanes at a time (common.ts f16RoundF32x4, the same values).
// Every product of the two passes is exact in f32 (F16 values: 11 x 11 significant bits; with the 2^112 scalings the
// factors stay finite and the products normal), so acc + a * b rounds once whether fused or not: the relaxed-SIMD build
// multiplies and adds with f32x4.relaxed_madd (one x64 vfmadd instead of a multiply and an add), the same bits (madd).

import { expF32x4, f16RoundF32x4, f16ScaledDown, f16ToF32, f16x4ScaledDown, f16x4ToF32x4, f32ToF16, hsumF32 } from './common';
import { C_F16_BITS, vconst } from './constants';
import { argF64, argPtr, argU32 } from './job';

export const ATT_OUT: u32 = 0;
export const ATT_Q: u32 = 1;
export const ATT_K: u32 = 2; // layer's K plane (f16 blocks), laid out as ATT_BLOCK_BYTES / ATT_KV_HEAD_BYTES / ATT_POS_BYTES say
export const ATT_V: u32 = 3;
export const ATT_ENTRIES: u32 = 4; // per entry two i32: byte offset of its block table row (i32 block ids), positions to attend

export const ATT_N_HEADS: u32 = 5;
export const ATT_N_KV_HEADS: u32 = 6;
export const ATT_HEAD_DIM: u32 = 7;
export const ATT_SCRATCH: u32 = 8;
export const ATT_SCRATCH_STRIDE: u32 = 9;
export const ATT_SCALE: u32 = 10; // f64 in words 10-11
export const ATT_EXACT: u32 = 12; // 1: the cache holds Inf / NaN, convert F16 exactly
export const ATT_SPLIT_HEADS: u32 = 13; // query heads of a split row, a divisor of nHeads / nKvHeads
export const ATT_WHOLE_ROWS: u32 = 14; // rows before the split ones, each a whole group
export const ATT_KV_HEAD_BYTES: u32 = 15; // from one KV head's first value to the next's within a block (blockSize * headDim * 2)
export const ATT_POS_BYTES: u32 = 16; // from one position's values of a KV head to the next's (headDim * 2)
export const ATT_BLOCK_BYTES: u32 = 17; // from one block to the next in a plane (blockSize * kvDim * 2)
export const ATT_BLOCK_SIZE: u32 = 18; // positions per block

/** Heads served by one pass over K and V (8 f32x4 accumulators, within the 16 vector registers of x64 SSE). */
const BATCH: u32 = 4;

/**
 * acc + a * b for an exact product a * b (header): f32x4.relaxed_madd in the relaxed-SIMD build, fused or not the same
 * bits. The exact conversion's path (a cache with Inf / NaN) keeps the multiply and the add.
 */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, acc: v128, exact: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD && !exact) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

/** 4 f16 at p as f32x4; `exact` false: the scaled-down bits (value * 2^-112). */
// @ts-ignore: decorator
@inline function loadF16x4(p: usize, exact: bool, bits: v128): v128 {
  return exact ? f16x4ToF32x4(v128.load16x4_u(p)) : f16x4ScaledDown(v128.load16x4_s(p), bits);
}

/** One f16 at p as f32; `exact` false: the scaled-down bits. */
// @ts-ignore: decorator
@inline function loadF16(p: usize, exact: bool): f32 {
  return exact ? f16ToF32(load<u16>(p)) : f16ScaledDown(<i32>load<i16>(p));
}

/**
 * One position's dots with the batch's `nb` queries (one f32x4 accumulator per head over all 8-element chunks, dims
 * 4c..4c+3 then 4c+4..4c+7), K[p] at k: the scores (dot * scale as f64) stored at `at` (one row of scStride per head),
 * the maxima m updated. Every position's arithmetic, alone here or paired in scorePair, is this one.
 */
// @ts-ignore: decorator
@inline function finishScores(at: usize, scStride: usize, scale: f64, a0: v128, a1: v128, a2: v128, a3: v128, t0: f32, t1: f32, t2: f32, t3: f32, m: usize, nb: u32): void {
  const d0 = <f64>(hsumF32(a0) + t0) * scale;
  store<f64>(at, d0);
  if (d0 > load<f64>(m)) store<f64>(m, d0);
  if (nb > 1) {
    const d1 = <f64>(hsumF32(a1) + t1) * scale;
    store<f64>(at + scStride, d1);
    if (d1 > load<f64>(m, 8)) store<f64>(m, d1, 8);
  }
  if (nb > 2) {
    const d2 = <f64>(hsumF32(a2) + t2) * scale;
    store<f64>(at + 2 * scStride, d2);
    if (d2 > load<f64>(m, 16)) store<f64>(m, d2, 16);
  }
  if (nb > 3) {
    const d3 = <f64>(hsumF32(a3) + t3) * scale;
    store<f64>(at + 3 * scStride, d3);
    if (d3 > load<f64>(m, 24)) store<f64>(m, d3, 24);
  }
}

/** The scalar tail of one head's dot (dims headDim & ~7 .. headDim - 1) with K at k; qc: the tail's query chunk. */
// @ts-ignore: decorator
@inline function tailDot(k: usize, qc: usize, headDim: u32, j: u32, exact: bool): f32 {
  let t: f32 = 0;
  for (let i = headDim & ~7, r: usize = 0; i < headDim; i++, r += 4) t += loadF16(k + (<usize>i << 1), exact) * load<f32>(qc + r + (<usize>j << 5));
  return t;
}

/**
 * Scores of one position (K row at k) against the batch's queries: finishScores's arithmetic.
 */
// @ts-ignore: decorator
@inline function scoreOne(k: usize, qv: usize, headDim: u32, at: usize, scStride: usize, scale: f64, m: usize, nb: u32, exact: bool, bits: v128): void {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  const chunkBytes = <usize>nb << 5; // q bytes per 8 elements
  let qc = qv;
  let i: u32 = 0;
  for (; i + 8 <= headDim; i += 8) {
    const kq = k + (<usize>i << 1);
    let kv = loadF16x4(kq, exact, bits);
    a0 = madd(kv, v128.load(qc), a0, exact);
    if (nb > 1) a1 = madd(kv, v128.load(qc, 32), a1, exact);
    if (nb > 2) a2 = madd(kv, v128.load(qc, 64), a2, exact);
    if (nb > 3) a3 = madd(kv, v128.load(qc, 96), a3, exact);
    kv = loadF16x4(kq + 8, exact, bits);
    a0 = madd(kv, v128.load(qc, 16), a0, exact);
    if (nb > 1) a1 = madd(kv, v128.load(qc, 48), a1, exact);
    if (nb > 2) a2 = madd(kv, v128.load(qc, 80), a2, exact);
    if (nb > 3) a3 = madd(kv, v128.load(qc, 112), a3, exact);
    qc += chunkBytes;
  }
  const t0 = tailDot(k, qc, headDim, 0, exact);
  const t1 = nb > 1 ? tailDot(k, qc, headDim, 1, exact) : 0;
  const t2 = nb > 2 ? tailDot(k, qc, headDim, 2, exact) : 0;
  const t3 = nb > 3 ? tailDot(k, qc, headDim, 3, exact) : 0;
  finishScores(at, scStride, scale, a0, a1, a2, a3, t0, t1, t2, t3, m, nb);
}

/**
 * Scores of two positions (K rows at k and k2) against the batch's queries, each query chunk loaded once for both:
 * per 8 elements 4 K conversions, 2 nb query loads and 4 nb multiply-adds (one accumulator per head and position:
 * 2 nb <= 8 of them, with the two K vectors of the half-chunk, one query vector and the mask, 12 of V8's ~15 xmm
 * registers). Each position's arithmetic is scoreOne's.
 */
// @ts-ignore: decorator
@inline function scorePair(
  k: usize, k2: usize, qv: usize, headDim: u32, at: usize, scStride: usize, scale: f64, m: usize, nb: u32, exact: bool, bits: v128,
): void {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0);
  let b1 = f32x4.splat(0);
  let b2 = f32x4.splat(0);
  let b3 = f32x4.splat(0);
  const chunkBytes = <usize>nb << 5;
  let qc = qv;
  let i: u32 = 0;
  for (; i + 8 <= headDim; i += 8) {
    const o = <usize>i << 1;
    let ka = loadF16x4(k + o, exact, bits);
    let kb = loadF16x4(k2 + o, exact, bits);
    let qx = v128.load(qc);
    a0 = madd(ka, qx, a0, exact);
    b0 = madd(kb, qx, b0, exact);
    if (nb > 1) {
      qx = v128.load(qc, 32);
      a1 = madd(ka, qx, a1, exact);
      b1 = madd(kb, qx, b1, exact);
    }
    if (nb > 2) {
      qx = v128.load(qc, 64);
      a2 = madd(ka, qx, a2, exact);
      b2 = madd(kb, qx, b2, exact);
    }
    if (nb > 3) {
      qx = v128.load(qc, 96);
      a3 = madd(ka, qx, a3, exact);
      b3 = madd(kb, qx, b3, exact);
    }
    ka = loadF16x4(k + o + 8, exact, bits);
    kb = loadF16x4(k2 + o + 8, exact, bits);
    qx = v128.load(qc, 16);
    a0 = madd(ka, qx, a0, exact);
    b0 = madd(kb, qx, b0, exact);
    if (nb > 1) {
      qx = v128.load(qc, 48);
      a1 = madd(ka, qx, a1, exact);
      b1 = madd(kb, qx, b1, exact);
    }
    if (nb > 2) {
      qx = v128.load(qc, 80);
      a2 = madd(ka, qx, a2, exact);
      b2 = madd(kb, qx, b2, exact);
    }
    if (nb > 3) {
      qx = v128.load(qc, 112);
      a3 = madd(ka, qx, a3, exact);
      b3 = madd(kb, qx, b3, exact);
    }
    qc += chunkBytes;
  }
  let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
  if ((headDim & 7) != 0) {
    t0 = tailDot(k, qc, headDim, 0, exact);
    if (nb > 1) t1 = tailDot(k, qc, headDim, 1, exact);
    if (nb > 2) t2 = tailDot(k, qc, headDim, 2, exact);
    if (nb > 3) t3 = tailDot(k, qc, headDim, 3, exact);
  }
  finishScores(at, scStride, scale, a0, a1, a2, a3, t0, t1, t2, t3, m, nb);
  if ((headDim & 7) != 0) {
    t0 = tailDot(k2, qc, headDim, 0, exact);
    if (nb > 1) t1 = tailDot(k2, qc, headDim, 1, exact);
    if (nb > 2) t2 = tailDot(k2, qc, headDim, 2, exact);
    if (nb > 3) t3 = tailDot(k2, qc, headDim, 3, exact);
  }
  finishScores(at + 8, scStride, scale, b0, b1, b2, b3, t0, t1, t2, t3, m, nb);
}

/**
 * Scores of `nb` heads (1..4, a constant after inlining) against positions 0..n-1: sc[j * scStride + 8p] =
 * (q_j . K[p]) * scale as f64, K[p] at kp + table[p / bsz] * blockBytes + (p % bsz) * rowBytes. q: element i of head j
 * at qv + 4 (nb (i & ~7) + 8j + (i & 7)). Positions go two at a time within a block (scorePair), a block's odd last one
 * alone (scoreOne): the same arithmetic per position either way. The per-head maxima go to maxOut (f64 per head).
 */
// @ts-ignore: decorator
@inline function scorePass(
  kp: usize, vp: usize, tbl: usize, blockBytes: usize, bsz: u32, rowBytes: usize, n: u32, qv: usize, headDim: u32, sc: usize,
  scStride: usize, scale: f64, maxOut: usize, nb: u32, exact: bool, bits: v128,
): void {
  // the value pass reads V[p] in 8-element columns, one cache line of a row at a time: touch each line of V[p] here,
  // beside the loads of K[p], so those lines arrive while the scores are computed
  let touched: u32 = 0;
  const vBytes = <usize>headDim << 1;
  for (let j: usize = 0; j < 32; j += 8) store<f64>(maxOut + j, -Infinity);
  for (let p0: u32 = 0; p0 < n; p0 += bsz) {
    const blk = <usize>load<i32>(tbl + (<usize>(p0 / bsz) << 2)) * blockBytes;
    const pEnd = min(n, p0 + bsz);
    let p: u32 = p0;
    for (; p + 2 <= pEnd; p += 2) {
      const k = kp + blk + <usize>(p - p0) * rowBytes;
      const vr = vp + blk + <usize>(p - p0) * rowBytes;
      for (let j: usize = 0; j < vBytes; j += 64) touched += load<u8>(vr + j) + load<u8>(vr + rowBytes + j);
      scorePair(k, k + rowBytes, qv, headDim, sc + (<usize>p << 3), scStride, scale, maxOut, nb, exact, bits);
    }
    if (p < pEnd) {
      const k = kp + blk + <usize>(p - p0) * rowBytes;
      const vr = vp + blk + <usize>(p - p0) * rowBytes;
      for (let j: usize = 0; j < vBytes; j += 64) touched += load<u8>(vr + j);
      scoreOne(k, qv, headDim, sc + (<usize>p << 3), scStride, scale, maxOut, nb, exact, bits);
    }
  }
  // never true (touched <= 510 per line pair touched); the test keeps the touching loads alive
  if (touched == 0xffffffff) store<f64>(maxOut, NaN);
}

/**
 * o_j[i] = sum over p = 0..n-1 in order of V[p][i] * w[p][j] for the batch's `nb` heads (a constant after inlining);
 * V[p] at vp + table[p / bsz] * blockBytes + (p % bsz) * rowBytes, w[p][j] (f32) at w + 16p + 4j, o_j at o + j * oStride.
 */
// @ts-ignore: decorator
@inline function valuePass(
  vp: usize, tbl: usize, blockBytes: usize, bsz: u32, rowBytes: usize, n: u32, w: usize, o: usize, oStride: usize, headDim: u32,
  nb: u32, exact: bool, bits: v128,
): void {
  let i: u32 = 0;
  for (; i + 8 <= headDim; i += 8) {
    let o00 = f32x4.splat(0);
    let o10 = f32x4.splat(0);
    let o01 = f32x4.splat(0);
    let o11 = f32x4.splat(0);
    let o02 = f32x4.splat(0);
    let o12 = f32x4.splat(0);
    let o03 = f32x4.splat(0);
    let o13 = f32x4.splat(0);
    let wp = w;
    for (let p0: u32 = 0; p0 < n; p0 += bsz) {
      let v = vp + <usize>load<i32>(tbl + (<usize>(p0 / bsz) << 2)) * blockBytes + (<usize>i << 1);
      const pEnd = min(n, p0 + bsz);
      for (let p: u32 = p0; p < pEnd; p++) {
        const v0 = loadF16x4(v, exact, bits);
        const v1 = loadF16x4(v + 8, exact, bits);
        const w0 = v128.load32_splat(wp);
        o00 = madd(v0, w0, o00, exact);
        o10 = madd(v1, w0, o10, exact);
        if (nb > 1) {
          const w1 = v128.load32_splat(wp, 4);
          o01 = madd(v0, w1, o01, exact);
          o11 = madd(v1, w1, o11, exact);
        }
        if (nb > 2) {
          const w2 = v128.load32_splat(wp, 8);
          o02 = madd(v0, w2, o02, exact);
          o12 = madd(v1, w2, o12, exact);
        }
        if (nb > 3) {
          const w3 = v128.load32_splat(wp, 12);
          o03 = madd(v0, w3, o03, exact);
          o13 = madd(v1, w3, o13, exact);
        }
        v += rowBytes;
        wp += 16;
      }
    }
    const oi = o + (<usize>i << 2);
    v128.store(oi, o00);
    v128.store(oi, o10, 16);
    if (nb > 1) {
      v128.store(oi + oStride, o01);
      v128.store(oi + oStride, o11, 16);
    }
    if (nb > 2) {
      v128.store(oi + 2 * oStride, o02);
      v128.store(oi + 2 * oStride, o12, 16);
    }
    if (nb > 3) {
      v128.store(oi + 3 * oStride, o03);
      v128.store(oi + 3 * oStride, o13, 16);
    }
  }
  for (; i < headDim; i++) {
    let e0: f32 = 0;
    let e1: f32 = 0;
    let e2: f32 = 0;
    let e3: f32 = 0;
    let wp = w;
    for (let p0: u32 = 0; p0 < n; p0 += bsz) {
      let v = vp + <usize>load<i32>(tbl + (<usize>(p0 / bsz) << 2)) * blockBytes + (<usize>i << 1);
      const pEnd = min(n, p0 + bsz);
      for (let p: u32 = p0; p < pEnd; p++) {
        const vv = loadF16(v, exact);
        e0 += vv * load<f32>(wp);
        if (nb > 1) e1 += vv * load<f32>(wp, 4);
        if (nb > 2) e2 += vv * load<f32>(wp, 8);
        if (nb > 3) e3 += vv * load<f32>(wp, 12);
        v += rowBytes;
        wp += 16;
      }
    }
    const oi = o + (<usize>i << 2);
    store<f32>(oi, e0);
    if (nb > 1) store<f32>(oi + oStride, e1);
    if (nb > 2) store<f32>(oi + 2 * oStride, e2);
    if (nb > 3) store<f32>(oi + 3 * oStride, e3);
  }
}

/**
 * e^x of the f32 arguments in lanes 0, 1 of lo and of hi (expF32x4 on the four), stored as f64 at `at`: the first `count`
 * (1..4) of them. Returns the four e's (lanes past `count` hold e^0 of the padding: the caller adds only `count`).
 */
// @ts-ignore: decorator
@inline function expToF64(at: usize, lo: v128, hi: v128, count: u32): v128 {
  const e = expF32x4(i8x16.shuffle(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
  if (count == 4) {
    v128.store(at, f64x2.promote_low_f32x4(e));
    v128.store(at, f64x2.promote_low_f32x4(i8x16.shuffle(e, e, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)), 16);
    return e;
  }
  store<f64>(at, <f64>f32x4.extract_lane(e, 0));
  if (count > 1) store<f64>(at, <f64>f32x4.extract_lane(e, 1), 8);
  if (count > 2) store<f64>(at, <f64>f32x4.extract_lane(e, 2), 16);
  return e;
}

/** Both passes for `nb` (constant) heads, the exact or fast conversion. */
// @ts-ignore: decorator
@inline function batchPasses(
  kp: usize, vp: usize, tbl: usize, blockBytes: usize, bsz: u32, rowBytes: usize, n: u32, qv: usize, headDim: u32, sc: usize,
  scStride: usize, scale: f64, maxOut: usize, w: usize, o: usize, oStride: usize, nb: u32, exact: bool, bits: v128, pass: u32,
): void {
  if (pass == 0) scorePass(kp, vp, tbl, blockBytes, bsz, rowBytes, n, qv, headDim, sc, scStride, scale, maxOut, nb, exact, bits);
  else valuePass(vp, tbl, blockBytes, bsz, rowBytes, n, w, o, oStride, headDim, nb, exact, bits);
}

/** Pass 0 (scores) or 1 (outputs) for a batch of nb (1..4) heads: dispatch to the constant-nb bodies. */
function runPass(
  pass: u32, kp: usize, vp: usize, tbl: usize, blockBytes: usize, bsz: u32, rowBytes: usize, n: u32, qv: usize, headDim: u32,
  sc: usize, scStride: usize, scale: f64, maxOut: usize, w: usize, o: usize, oStride: usize, nb: u32, exact: bool, bits: v128,
): void {
  if (exact) {
    if (nb == 4) batchPasses(kp, vp, tbl, blockBytes, bsz, rowBytes, n, qv, headDim, sc, scStride, scale, maxOut, w, o, oStride, 4, true, bits, pass);
    else if (nb == 3) batchPasses(kp, vp, tbl, blockBytes, bsz, rowBytes, n, qv, headDim, sc, scStride, scale, maxOut, w, o, oStride, 3, true, bits, pass);
    else if (nb == 2) batchPasses(kp, vp, tbl, blockBytes, bsz, rowBytes, n, qv, headDim, sc, scStride, scale, maxOut, w, o, oStride, 2, true, bits, pass);
    else batchPasses(kp, vp, tbl, blockBytes, bsz, rowBytes, n, qv, headDim, sc, scStride, scale, maxOut, w, o, oStride, 1, true, bits, pass);
  } else {
    if (nb == 4) batchPasses(kp, vp, tbl, blockBytes, bsz, rowBytes, n, qv, headDim, sc, scStride, scale, maxOut, w, o, oStride, 4, false, bits, pass);
    else if (nb == 3) batchPasses(kp, vp, tbl, blockBytes, bsz, rowBytes, n, qv, headDim, sc, scStride, scale, maxOut, w, o, oStride, 3, false, bits, pass);
    else if (nb == 2) batchPasses(kp, vp, tbl, blockBytes, bsz, rowBytes, n, qv, headDim, sc, scStride, scale, maxOut, w, o, oStride, 2, false, bits, pass);
    else batchPasses(kp, vp, tbl, blockBytes, bsz, rowBytes, n, qv, headDim, sc, scStride, scale, maxOut, w, o, oStride, 1, false, bits, pass);
  }
}

/**
 * Job body: rows [start, end). The (token, KV head) units in token-major order: the first ATT_WHOLE_ROWS rows are
 * one unit each (all nHeads / nKvHeads query heads), every later unit is cut into rows of ATT_SPLIT_HEADS heads
 * (the glue splits the last units so the rows spread evenly over the threads).
 */
export function attentionRows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ATT_OUT);
  const q = argPtr(job, ATT_Q);
  const kc = argPtr(job, ATT_K);
  const vc = argPtr(job, ATT_V);
  const entries = argPtr(job, ATT_ENTRIES);
  const blockBytes = <usize>argU32(job, ATT_BLOCK_BYTES);
  const bsz = argU32(job, ATT_BLOCK_SIZE);
  const nHeads = argU32(job, ATT_N_HEADS);
  const nKvHeads = argU32(job, ATT_N_KV_HEADS);
  const headDim = argU32(job, ATT_HEAD_DIM);
  const splitHeads = argU32(job, ATT_SPLIT_HEADS);
  const wholeRows = argU32(job, ATT_WHOLE_ROWS);
  const scale = argF64(job, ATT_SCALE);
  const exact = argU32(job, ATT_EXACT) != 0;
  const group = nHeads / nKvHeads;
  const parts = group / splitHeads;
  const rowBytes = <usize>argU32(job, ATT_POS_BYTES);
  const kvHeadBytes = <usize>argU32(job, ATT_KV_HEAD_BYTES);
  const qBytes = (<usize>(headDim + 7) & ~7) << 4; // BATCH heads' queries, whole 8-element chunks
  const maxAt = argPtr(job, ATT_SCRATCH) + <usize>thread * argU32(job, ATT_SCRATCH_STRIDE);
  const qv = maxAt + (<usize>BATCH << 3);
  const sc = qv + qBytes;
  const bits = vconst(C_F16_BITS);
  const up: f32 = exact ? 1.0 : reinterpret<f32>(0x77800000); // 2^112
  const up4 = f32x4.splat(up);
  for (let item = start; item < end; item++) {
    let unit = item;
    let h0: u32 = 0; // first head of the row within its group
    let headsPerItem = group;
    if (item >= wholeRows) {
      unit = wholeRows + (item - wholeRows) / parts;
      h0 = ((item - wholeRows) % parts) * splitHeads;
      headsPerItem = splitHeads;
    }
    const t = unit / nKvHeads;
    const kvh = unit % nKvHeads;
    const kvOff = <usize>kvh * kvHeadBytes;
    const tbl = <usize>load<u32>(entries + (<usize>t << 3));
    const n = load<u32>(entries + (<usize>t << 3), 4);
    const scStride = ((<usize>n << 3) + 15) & ~15;
    const w = sc + <usize>BATCH * scStride;
    for (let b: u32 = 0; b < headsPerItem; b += BATCH) {
      const nb = min(BATCH, headsPerItem - b);
      const h = <usize>t * nHeads + kvh * group + h0 + b; // first (token, head) row of the batch in q and out
      // the batch's queries rounded to F16 (scaled by 2^112 on the fast path), heads interleaved per 8 elements
      for (let j: u32 = 0; j < nb; j++) {
        const qIn = q + (((h + j) * headDim) << 2);
        let i: u32 = 0;
        for (; i + 4 <= headDim; i += 4) {
          const at = qv + ((<usize>(i & ~7) * nb + (j << 3) + (i & 7)) << 2);
          v128.store(at, f32x4.mul(f16RoundF32x4(v128.load(qIn + (<usize>i << 2))), up4));
        }
        for (; i < headDim; i++) {
          const at = qv + ((<usize>(i & ~7) * nb + (j << 3) + (i & 7)) << 2);
          store<f32>(at, f16ToF32(f32ToF16(load<f32>(qIn + (<usize>i << 2)))) * up);
        }
      }
      runPass(0, kc + kvOff, vc + kvOff, tbl, blockBytes, bsz, rowBytes, n, qv, headDim, sc, scStride, scale, maxAt, w, 0, 0, nb, exact, bits);
      for (let j: u32 = 0; j < nb; j++) {
        const s = sc + <usize>j * scStride;
        const maxScore = load<f64>(maxAt + (<usize>j << 3));
        // e^(s - max) four at a time in f32 (common.ts expF32x4; the arguments are <= 0), kept as f64; the last 1-3
        // positions through the same four-lane code, so every position's e is computed alike whatever n is. Their sum
        // in f64 as four partial sums (positions p = 0, 1, 2, 3 mod 4, each in position order), added (s0 + s1) + (s2 +
        // s3): four independent chains of adds instead of one (a serial f64 sum cost ~5% of a call at 2000 positions)
        const m2 = f64x2.splat(maxScore);
        let s01 = f64x2.splat(0);
        let s23 = f64x2.splat(0);
        let p4: u32 = 0;
        for (; p4 + 4 <= n; p4 += 4) {
          const at = s + (<usize>p4 << 3);
          const e = expToF64(at, f32x4.demote_f64x2_zero(f64x2.sub(v128.load(at), m2)), f32x4.demote_f64x2_zero(f64x2.sub(v128.load(at, 16), m2)), 4);
          s01 = f64x2.add(s01, f64x2.promote_low_f32x4(e));
          s23 = f64x2.add(s23, f64x2.promote_low_f32x4(i8x16.shuffle(e, e, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)));
        }
        if (p4 < n) {
          const at = s + (<usize>p4 << 3);
          const c = n - p4;
          const lo = f32x4.demote_f64x2_zero(f64x2.sub(f64x2.replace_lane(f64x2.splat(load<f64>(at)), 1, c > 1 ? load<f64>(at, 8) : maxScore), m2));
          const e = expToF64(at, lo, f32x4.demote_f64x2_zero(f64x2.sub(f64x2.splat(c > 2 ? load<f64>(at, 16) : maxScore), m2)), c);
          // the padding lanes add +0 (the partial sums are >= 0, so x + 0 is x)
          s01 = f64x2.add(s01, f64x2.replace_lane(f64x2.promote_low_f32x4(e), 1, c > 1 ? <f64>f32x4.extract_lane(e, 1) : 0));
          if (c > 2) s23 = f64x2.add(s23, f64x2.replace_lane(f64x2.splat(<f64>f32x4.extract_lane(e, 2)), 1, 0));
        }
        const sum = (f64x2.extract_lane(s01, 0) + f64x2.extract_lane(s01, 1)) + (f64x2.extract_lane(s23, 0) + f64x2.extract_lane(s23, 1));
        // the F16-rounded probabilities (scaled by 2^112 on the fast path: an exact power-of-two scaling), 4 at a time
        const sum2 = f64x2.splat(sum);
        const wj = w + (<usize>j << 2);
        let p: u32 = 0;
        for (; p + 4 <= n; p += 4) {
          const at = s + (<usize>p << 3);
          const lo = f32x4.demote_f64x2_zero(f64x2.div(v128.load(at), sum2));
          const hi = f32x4.demote_f64x2_zero(f64x2.div(v128.load(at, 16), sum2));
          const r = f32x4.mul(f16RoundF32x4(i8x16.shuffle(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)), up4);
          const wp = wj + (<usize>p << 4);
          v128.store32_lane(wp, r, 0);
          v128.store32_lane(wp, r, 1, 16);
          v128.store32_lane(wp, r, 2, 32);
          v128.store32_lane(wp, r, 3, 48);
        }
        for (; p < n; p++) {
          store<f32>(wj + (<usize>p << 4), f16ToF32(f32ToF16(<f32>(load<f64>(s + (<usize>p << 3)) / sum))) * up);
        }
      }
      const o = out + ((h * headDim) << 2);
      runPass(1, kc + kvOff, vc + kvOff, tbl, blockBytes, bsz, rowBytes, n, qv, headDim, sc, scStride, scale, maxAt, w, o, <usize>headDim << 2, nb, exact, bits);
    }
  }
}
