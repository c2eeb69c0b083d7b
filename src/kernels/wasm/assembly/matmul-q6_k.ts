// Matmul for Q6_K weights (bitnet.cpp's recommended embedding / output type) with Q8_K activations (Q6_K's
// vec_dot_type), as ggml_vec_dot_q6_K_q8_K (ggml/src/ggml-cpu/quants.c):
// out[t, r] = scale * sum_superblocks d_w * d_x * sum_16 sc_16 * (integer dot of 16 weights q - 32 with xq).
// Q6_K block (ggml-common.h block_q6_K; order from ggml-quants.c dequantize_row_q6_K): ql[128], qh[64],
// int8 scales[16], f16 d = 210 bytes per 256 weights; for half n, l in 0..31 (is = l/16):
//   q1 = ql[l] & 15 | (qh[l] & 3) << 4        -> element 128n + l,      scale sc[is]
//   q2 = ql[l+32] & 15 | (qh[l]>>2 & 3) << 4  -> element 128n + 32 + l, scale sc[is+2]
//   q3 = ql[l] >> 4 | (qh[l]>>4 & 3) << 4     -> element 128n + 64 + l, scale sc[is+4]
//   q4 = ql[l+32] >> 4 | (qh[l]>>6 & 3) << 4  -> element 128n + 96 + l, scale sc[is+6]
// each minus 32; then ql += 64, qh += 32, sc += 8. The activations come as int16 (quantize-activations.ts
// quantizeQ8KAct) with an f64 d per block; (q - 32) * sc fits int16, so each 16-weight sub-block is two
// i32x4.dot_i16x8_s. The block's integer sum is exact (|sum| < 2^28); the float part is the reference's own
// float64 order, ((d_w * d_x) * idot) summed over blocks, so results are bit-identical to it. The relaxed-SIMD build
// takes the activations as int8 with i16 sums per 16 instead (quantize-activations.ts quantizeQ8KAct) and multiplies
// with i16x8.relaxed_dot_i8x16_i7x16_s (dotBlockQ6KRelaxed).

import { f16ToF32, hsumI32 } from './common';
import { C_0F, C_20, C_30, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_AUX, ARG_AUX_STRIDE, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_SCRATCH, ARG_SCRATCH_STRIDE, ARG_W, ARG_X,
  ARG_X_STRIDE,
} from './job';

export const Q6_K_BLOCK_BYTES: u32 = 210;

/** sc * sum (q - 32) * x over 16 weights (6-bit q in q6) and 16 int16 activations at xh, as i32x4 partial sums. */
// @ts-ignore: decorator
@inline function sub16(q6: v128, c32: v128, sc: i32, xh: usize): v128 {
  const q = i8x16.sub(q6, c32);
  const s16 = i16x8.splat(<i16>sc);
  // |(q - 32) * sc| <= 4096, |x| <= 127: each i32 lane sums 2 products
  const qa = i16x8.mul(i16x8.extend_low_i8x16_s(q), s16);
  const qb = i16x8.mul(i16x8.extend_high_i8x16_s(q), s16);
  return i32x4.add(i32x4.dot_i16x8_s(qa, v128.load(xh)), i32x4.dot_i16x8_s(qb, v128.load(xh, 16)));
}

/** The integer sum over one 256-weight block of sc * (q - 32) * xq (xb: the block's 256 int16 activations). */
function dotBlockQ6K(blk: usize, xb: usize, m4: v128, m30: v128, c32: v128): i32 {
  let acc = i32x4.splat(0);
  for (let n: usize = 0; n < 2; n++) {
    const ql = blk + (n << 6);
    const qh = blk + 128 + (n << 5);
    const sc = blk + 192 + (n << 3);
    const xn = xb + (n << 8);
    const a0 = v128.load(ql);
    const a1 = v128.load(ql, 16);
    const b0 = v128.load(ql, 32);
    const b1 = v128.load(ql, 48);
    const h0 = v128.load(qh);
    const h1 = v128.load(qh, 16);
    // weights 128n + 32k + l: k = 0 low nibbles of a | qh bits 0-1, k = 1 of b | bits 2-3, k = 2 high of a | 4-5, k = 3 high of b | 6-7
    acc = i32x4.add(acc, sub16(v128.or(v128.and(a0, m4), v128.and(i16x8.shl(h0, 4), m30)), c32, <i32>load<i8>(sc), xn));
    acc = i32x4.add(acc, sub16(v128.or(v128.and(a1, m4), v128.and(i16x8.shl(h1, 4), m30)), c32, <i32>load<i8>(sc, 1), xn + 32));
    acc = i32x4.add(acc, sub16(v128.or(v128.and(b0, m4), v128.and(i16x8.shl(h0, 2), m30)), c32, <i32>load<i8>(sc, 2), xn + 64));
    acc = i32x4.add(acc, sub16(v128.or(v128.and(b1, m4), v128.and(i16x8.shl(h1, 2), m30)), c32, <i32>load<i8>(sc, 3), xn + 96));
    acc = i32x4.add(acc, sub16(v128.or(v128.and(i16x8.shr_u(a0, 4), m4), v128.and(h0, m30)), c32, <i32>load<i8>(sc, 4), xn + 128));
    acc = i32x4.add(acc, sub16(v128.or(v128.and(i16x8.shr_u(a1, 4), m4), v128.and(h1, m30)), c32, <i32>load<i8>(sc, 5), xn + 160));
    acc = i32x4.add(acc, sub16(v128.or(v128.and(i16x8.shr_u(b0, 4), m4), v128.and(i16x8.shr_u(h0, 2), m30)), c32, <i32>load<i8>(sc, 6), xn + 192));
    acc = i32x4.add(acc, sub16(v128.or(v128.and(i16x8.shr_u(b1, 4), m4), v128.and(i16x8.shr_u(h1, 2), m30)), c32, <i32>load<i8>(sc, 7), xn + 224));
  }
  return hsumI32(acc);
}

/**
 * Relaxed SIMD: the same integer sum from int8 activations (xb: the block's 256, bs: its 16 i16 sums of 16): the 6-bit
 * q (0..63, a valid i7 operand) times x by i16x8.relaxed_dot_i8x16_i7x16_s (|pair| <= 2 * 63 * 127), times the
 * sub-block's scale by i32x4.dot_i16x8_s, less 32 * sum_j sc_j * bsum_j for the -32 offset: exact integers.
 */
function dotBlockQ6KRelaxed(blk: usize, xb: usize, bs: usize, m4: v128, m30: v128): i32 {
  let acc = i32x4.splat(0);
  const scAll = v128.load(blk + 192); // the 16 int8 sub-block scales
  const sc0 = i16x8.extend_low_i8x16_s(scAll);
  const sc1 = i16x8.extend_high_i8x16_s(scAll);
  for (let n: usize = 0; n < 2; n++) {
    const ql = blk + (n << 6);
    const qh = blk + 128 + (n << 5);
    const xn = xb + (n << 7);
    const sc = n == 0 ? sc0 : sc1;
    const a0 = v128.load(ql);
    const a1 = v128.load(ql, 16);
    const b0 = v128.load(ql, 32);
    const b1 = v128.load(ql, 48);
    const h0 = v128.load(qh);
    const h1 = v128.load(qh, 16);
    // sub-block j (elements 16j.. of the half) has scale lane j of sc, broadcast by a shuffle
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xn), v128.or(v128.and(a0, m4), v128.and(i16x8.shl(h0, 4), m30))), i8x16.shuffle(sc, sc, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xn, 16), v128.or(v128.and(a1, m4), v128.and(i16x8.shl(h1, 4), m30))), i8x16.shuffle(sc, sc, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xn, 32), v128.or(v128.and(b0, m4), v128.and(i16x8.shl(h0, 2), m30))), i8x16.shuffle(sc, sc, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xn, 48), v128.or(v128.and(b1, m4), v128.and(i16x8.shl(h1, 2), m30))), i8x16.shuffle(sc, sc, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xn, 64), v128.or(v128.and(i16x8.shr_u(a0, 4), m4), v128.and(h0, m30))), i8x16.shuffle(sc, sc, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xn, 80), v128.or(v128.and(i16x8.shr_u(a1, 4), m4), v128.and(h1, m30))), i8x16.shuffle(sc, sc, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xn, 96), v128.or(v128.and(i16x8.shr_u(b0, 4), m4), v128.and(i16x8.shr_u(h0, 2), m30))), i8x16.shuffle(sc, sc, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xn, 112), v128.or(v128.and(i16x8.shr_u(b1, 4), m4), v128.and(i16x8.shr_u(h1, 2), m30))), i8x16.shuffle(sc, sc, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15)));
  }
  // the -32 offset: 32 * sum_j sc_j * bsum_j
  const corr = i32x4.add(i32x4.dot_i16x8_s(sc0, v128.load(bs)), i32x4.dot_i16x8_s(sc1, v128.load(bs, 16)));
  return hsumI32(i32x4.sub(acc, i32x4.shl(corr, 5)));
}

/** One block's term (d_w * d_x) * idot of the row whose block is at blk (activations xt, their d at dt). */
// @ts-ignore: decorator
@inline function blockTerm(blk: usize, xt: usize, cols: u32, b: u32, dt: usize, m4: v128, m30: v128, c32: v128): f64 {
  const idot = ASC_FEATURE_RELAXED_SIMD
    ? dotBlockQ6KRelaxed(blk, xt + (<usize>b << 8), xt + <usize>cols + (<usize>b << 5), m4, m30)
    : dotBlockQ6K(blk, xt + (<usize>b << 9), m4, m30, c32);
  return (<f64>f16ToF32(load<u16>(blk, 208)) * load<f64>(dt + (<usize>b << 3))) * <f64>idot;
}

/**
 * Job body: rows [start, end) for every token. Four row streams a quarter of the range apart advance block by block
 * (more DRAM lines in flight than one stream, see matmul-q8_0.ts), then the rows past four whole quarters one by one;
 * each row's sum keeps the reference's block order.
 */
export function matmulQ6KRows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const dx = argPtr(job, ARG_AUX);
  const dxStride = <usize>argU32(job, ARG_AUX_STRIDE);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const nBlocks = cols >> 8;
  const rowBytes = <usize>nBlocks * Q6_K_BLOCK_BYTES;
  const m4 = vconst(C_0F);
  const m30 = vconst(C_30);
  const c32 = vconst(C_20);
  const quarter = (end - start) >> 2;
  const stride = <usize>quarter * rowBytes;
  for (let r = start; r < start + quarter; r++) {
    const w0 = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      const dt = dx + <usize>t * dxStride;
      let s0: f64 = 0;
      let s1: f64 = 0;
      let s2: f64 = 0;
      let s3: f64 = 0;
      for (let b: u32 = 0; b < nBlocks; b++) {
        const blk = w0 + <usize>b * Q6_K_BLOCK_BYTES;
        s0 += blockTerm(blk, xt, cols, b, dt, m4, m30, c32);
        s1 += blockTerm(blk + stride, xt, cols, b, dt, m4, m30, c32);
        s2 += blockTerm(blk + 2 * stride, xt, cols, b, dt, m4, m30, c32);
        s3 += blockTerm(blk + 3 * stride, xt, cols, b, dt, m4, m30, c32);
      }
      const o = out + ((<usize>t * outStride + r) << 2);
      const q4 = <usize>quarter << 2;
      store<f32>(o, <f32>(s0 * scale));
      store<f32>(o + q4, <f32>(s1 * scale));
      store<f32>(o + 2 * q4, <f32>(s2 * scale));
      store<f32>(o + 3 * q4, <f32>(s3 * scale));
    }
  }
  for (let r = start + 4 * quarter; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      const dt = dx + <usize>t * dxStride;
      let sum: f64 = 0;
      for (let b: u32 = 0; b < nBlocks; b++) sum += blockTerm(wr + <usize>b * Q6_K_BLOCK_BYTES, xt, cols, b, dt, m4, m30, c32);
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(sum * scale));
    }
  }
}

/** Tokens per pass of the multi-token Q6_K kernel (the glue splits larger batches): scratch 544 B + 8 B per token. */
export const GEMM_Q6_K_TOKENS: u32 = 16;
/** Per-thread scratch of one unpacked block (unpackBlockQ6K), before the tokens' f64 sums. */
const GEMM_Q6_K_UNPACKED_BYTES: usize = 544;

/** Sub-block k's 16 unpacked q (qv, 0..63) into the scratch at u, in the layout of unpackBlockQ6K. */
// @ts-ignore: decorator
@inline function storeSub(u: usize, blk: usize, k: usize, qv: v128, c32: v128): void {
  const sc = <i32>load<i8>(blk + 192 + k);
  if (ASC_FEATURE_RELAXED_SIMD) {
    v128.store(u + (k << 4), qv);
    v128.store(u + 256 + (k << 4), i16x8.splat(<i16>sc));
  } else {
    const qs = i8x16.sub(qv, c32);
    const s16 = i16x8.splat(<i16>sc);
    v128.store(u + (k << 5), i16x8.mul(i16x8.extend_low_i8x16_s(qs), s16));
    v128.store(u + (k << 5), i16x8.mul(i16x8.extend_high_i8x16_s(qs), s16), 16);
  }
}

/**
 * One block's weights unpacked once for every token of a pass, into scratch at u: relaxed SIMD the 16 sub-blocks'
 * 6-bit q (0..63) at u + 16 k, their scales as i16 splats at u + 256 + 16 k (k = 8 n + j: dotBlockQ6KRelaxed's
 * order, activations at 16 k) and the 16 scales as i16 at u + 512; SIMD128 the i16 products (q - 32) * sc, sub-block k's 16 at u + 32 k (sub16's qa, qb).
 */
// @ts-ignore: decorator
@inline function unpackBlockQ6K(blk: usize, u: usize, m4: v128, m30: v128, c32: v128): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    // the 16 scales as i16 for the -32 offset's correction (dotUnpackedQ6K)
    const scAll = v128.load(blk + 192);
    v128.store(u + 512, i16x8.extend_low_i8x16_s(scAll));
    v128.store(u + 528, i16x8.extend_high_i8x16_s(scAll));
  }
  for (let n: usize = 0; n < 2; n++) {
    const ql = blk + (n << 6);
    const qh = blk + 128 + (n << 5);
    const a0 = v128.load(ql);
    const a1 = v128.load(ql, 16);
    const b0 = v128.load(ql, 32);
    const b1 = v128.load(ql, 48);
    const h0 = v128.load(qh);
    const h1 = v128.load(qh, 16);
    storeSub(u, blk, n << 3, v128.or(v128.and(a0, m4), v128.and(i16x8.shl(h0, 4), m30)), c32);
    storeSub(u, blk, (n << 3) + 1, v128.or(v128.and(a1, m4), v128.and(i16x8.shl(h1, 4), m30)), c32);
    storeSub(u, blk, (n << 3) + 2, v128.or(v128.and(b0, m4), v128.and(i16x8.shl(h0, 2), m30)), c32);
    storeSub(u, blk, (n << 3) + 3, v128.or(v128.and(b1, m4), v128.and(i16x8.shl(h1, 2), m30)), c32);
    storeSub(u, blk, (n << 3) + 4, v128.or(v128.and(i16x8.shr_u(a0, 4), m4), v128.and(h0, m30)), c32);
    storeSub(u, blk, (n << 3) + 5, v128.or(v128.and(i16x8.shr_u(a1, 4), m4), v128.and(h1, m30)), c32);
    storeSub(u, blk, (n << 3) + 6, v128.or(v128.and(i16x8.shr_u(b0, 4), m4), v128.and(i16x8.shr_u(h0, 2), m30)), c32);
    storeSub(u, blk, (n << 3) + 7, v128.or(v128.and(i16x8.shr_u(b1, 4), m4), v128.and(i16x8.shr_u(h1, 2), m30)), c32);
  }
}

/** The integer sum of one unpacked block (at u) with one token's activations: dotBlockQ6KRelaxed's / dotBlockQ6K's. */
// @ts-ignore: decorator
@inline function dotUnpackedQ6K(u: usize, blk: usize, xb: usize, bs: usize): i32 {
  let acc = i32x4.splat(0);
  if (ASC_FEATURE_RELAXED_SIMD) {
    for (let k: usize = 0; k < 256; k += 16) {
      acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xb + k), v128.load(u + k)), v128.load(u + 256 + k)));
    }
    const corr = i32x4.add(i32x4.dot_i16x8_s(v128.load(u + 512), v128.load(bs)), i32x4.dot_i16x8_s(v128.load(u + 528), v128.load(bs, 16)));
    return hsumI32(i32x4.sub(acc, i32x4.shl(corr, 5)));
  }
  for (let k: usize = 0; k < 512; k += 32) {
    acc = i32x4.add(acc, i32x4.add(i32x4.dot_i16x8_s(v128.load(u + k), v128.load(xb + k)), i32x4.dot_i16x8_s(v128.load(u + k, 16), v128.load(xb + k, 16))));
  }
  return hsumI32(acc);
}

/**
 * Job body (op gemmQ6K): rows [start, end) for nTokens (<= GEMM_Q6_K_TOKENS) tokens, rows outer: each block is
 * unpacked once (unpackBlockQ6K) and dotted with every token's activations, where matmulQ6KRows unpacks it again for
 * each token. The same integer block sums and the same f64 terms added in block order per (row, token): the same bits.
 */
export function gemmQ6KRows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const dx = argPtr(job, ARG_AUX);
  const dxStride = <usize>argU32(job, ARG_AUX_STRIDE);
  const nTokens = min(argU32(job, ARG_N_TOKENS), GEMM_Q6_K_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const nBlocks = cols >> 8;
  const rowBytes = <usize>nBlocks * Q6_K_BLOCK_BYTES;
  const m4 = vconst(C_0F);
  const m30 = vconst(C_30);
  const c32 = vconst(C_20);
  const u = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  const sums = u + GEMM_Q6_K_UNPACKED_BYTES;
  const sumsEnd = sums + (<usize>nTokens << 3);
  for (let r = start; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let sp = sums; sp < sumsEnd; sp += 8) store<f64>(sp, 0);
    for (let b: u32 = 0; b < nBlocks; b++) {
      const blk = wr + <usize>b * Q6_K_BLOCK_BYTES;
      unpackBlockQ6K(blk, u, m4, m30, c32);
      const d = <f64>f16ToF32(load<u16>(blk, 208));
      let xt = x;
      let dt = dx;
      for (let sp = sums; sp < sumsEnd; sp += 8) {
        const idot = ASC_FEATURE_RELAXED_SIMD
          ? dotUnpackedQ6K(u, blk, xt + (<usize>b << 8), xt + <usize>cols + (<usize>b << 5))
          : dotUnpackedQ6K(u, blk, xt + (<usize>b << 9), 0);
        store<f64>(sp, load<f64>(sp) + (d * load<f64>(dt + (<usize>b << 3))) * <f64>idot);
        xt += xStride;
        dt += dxStride;
      }
    }
    for (let t: u32 = 0; t < nTokens; t++) store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(load<f64>(sums + (<usize>t << 3)) * scale));
  }
}
