// Matmul for Q6_K weights (bitnet.cpp's recommended embedding / output type):
// out[t, r] = scale * sum_superblocks d_w * d_x * sum_16 sc_16 * (int dot of 16 weights q-32 with xq).
// Q6_K block (ggml-common.h block_q6_K; order from ggml-quants.c dequantize_row_q6_K): ql[128], qh[64],
// int8 scales[16], f16 d = 210 bytes per 256 weights; for half n, l in 0..31 (is = l/16):
//   q1 = ql[l] & 15 | (qh[l] & 3) << 4        -> element 128n + l,      scale sc[is]
//   q2 = ql[l+32] & 15 | (qh[l]>>2 & 3) << 4  -> element 128n + 32 + l, scale sc[is+2]
//   q3 = ql[l] >> 4 | (qh[l]>>4 & 3) << 4     -> element 128n + 64 + l, scale sc[is+4]
//   q4 = ql[l+32] >> 4 | (qh[l]>>6 & 3) << 4  -> element 128n + 96 + l, scale sc[is+6]
// each minus 32; then ql += 64, qh += 32, sc += 8. The activations come split in two int16 parts per 32
// values (quantize-activations.ts quantizeSplit16, x = d_x * (h + l / 32768)); (q - 32) * sc fits int16, so
// each 16-weight sub-block is i32x4.dot_i16x8_s with h and with l: an f32-accurate float dot.

import { f16ToF32, hsumF32 } from './common';
import { C_0F, C_20, C_30, vconst } from './constants';
import { argF64, argPtr, argU32, ARG_AUX, ARG_AUX_STRIDE, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_W, ARG_X, ARG_X_STRIDE } from './job';

export const Q6_K_BLOCK_BYTES: u32 = 210;

/** (q - 32) * sc times the split activations of 16 weights at xh: adds h-products to ph[0], l-products to ph[1]. */
// @ts-ignore: decorator
@inline function sub16(q6: v128, c32: v128, sc: i32, xh: usize, ph: v128, pl: v128, which: u32): v128 {
  const q = i8x16.sub(q6, c32);
  const s16 = i16x8.splat(<i16>sc);
  // |(q - 32) * sc| <= 4096, |h|, |l| <= 32767: each i32 lane sums at most 8 products < 2^31
  const qa = i16x8.mul(i16x8.extend_low_i8x16_s(q), s16);
  const qb = i16x8.mul(i16x8.extend_high_i8x16_s(q), s16);
  if (which == 0) return i32x4.add(ph, i32x4.add(i32x4.dot_i16x8_s(qa, v128.load(xh)), i32x4.dot_i16x8_s(qb, v128.load(xh, 16))));
  return i32x4.add(pl, i32x4.add(i32x4.dot_i16x8_s(qa, v128.load(xh, 64)), i32x4.dot_i16x8_s(qb, v128.load(xh, 80))));
}

/** One activation block (32 weights, scales sc0 for the first 16 and sc1 for the next) as f32x4 partials. */
// @ts-ignore: decorator
@inline function group32(q0: v128, q1: v128, sc0: i32, sc1: i32, xj: usize, dxj: f32, c32: v128, lowWeight: v128): v128 {
  let ph = i32x4.splat(0);
  let pl = i32x4.splat(0);
  ph = sub16(q0, c32, sc0, xj, ph, pl, 0);
  pl = sub16(q0, c32, sc0, xj, ph, pl, 1);
  ph = sub16(q1, c32, sc1, xj + 32, ph, pl, 0);
  pl = sub16(q1, c32, sc1, xj + 32, ph, pl, 1);
  const v = f32x4.add(f32x4.convert_i32x4_s(ph), f32x4.mul(f32x4.convert_i32x4_s(pl), lowWeight));
  return f32x4.mul(v, f32x4.splat(dxj));
}

/**
 * sum over one 256-weight block of sc * (q - 32) * x as f32x4 partials, without d (the caller multiplies).
 * xb: the block's split activations (8 x 128 bytes), dx: its 8 activation scales.
 */
function dotBlockQ6K(blk: usize, xb: usize, dx: usize, m4: v128, m30: v128, c32: v128, lowWeight: v128): v128 {
  let acc = f32x4.splat(0);
  for (let n: usize = 0; n < 2; n++) {
    const ql = blk + (n << 6);
    const qh = blk + 128 + (n << 5);
    const sc = blk + 192 + (n << 3);
    const xn = xb + (n << 9);
    const dn = dx + (n << 4);
    const a0 = v128.load(ql);
    const a1 = v128.load(ql, 16);
    const b0 = v128.load(ql, 32);
    const b1 = v128.load(ql, 48);
    const h0 = v128.load(qh);
    const h1 = v128.load(qh, 16);
    // weights 128n + 32k + l: k = 0 low nibbles of a | qh bits 0-1, k = 1 of b | bits 2-3, k = 2 high of a | 4-5, k = 3 high of b | 6-7
    acc = f32x4.add(acc, group32(
      v128.or(v128.and(a0, m4), v128.and(i16x8.shl(h0, 4), m30)), v128.or(v128.and(a1, m4), v128.and(i16x8.shl(h1, 4), m30)),
      <i32>load<i8>(sc), <i32>load<i8>(sc, 1), xn, load<f32>(dn), c32, lowWeight));
    acc = f32x4.add(acc, group32(
      v128.or(v128.and(b0, m4), v128.and(i16x8.shl(h0, 2), m30)), v128.or(v128.and(b1, m4), v128.and(i16x8.shl(h1, 2), m30)),
      <i32>load<i8>(sc, 2), <i32>load<i8>(sc, 3), xn + 128, load<f32>(dn, 4), c32, lowWeight));
    acc = f32x4.add(acc, group32(
      v128.or(v128.and(i16x8.shr_u(a0, 4), m4), v128.and(h0, m30)), v128.or(v128.and(i16x8.shr_u(a1, 4), m4), v128.and(h1, m30)),
      <i32>load<i8>(sc, 4), <i32>load<i8>(sc, 5), xn + 256, load<f32>(dn, 8), c32, lowWeight));
    acc = f32x4.add(acc, group32(
      v128.or(v128.and(i16x8.shr_u(b0, 4), m4), v128.and(i16x8.shr_u(h0, 2), m30)), v128.or(v128.and(i16x8.shr_u(b1, 4), m4), v128.and(i16x8.shr_u(h1, 2), m30)),
      <i32>load<i8>(sc, 6), <i32>load<i8>(sc, 7), xn + 384, load<f32>(dn, 12), c32, lowWeight));
  }
  return acc;
}

/** Job body: rows [start, end) for every token. */
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
  const lowWeight = f32x4.splat(1.0 / 32768.0);
  for (let r = start; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      const dt = dx + <usize>t * dxStride;
      let acc = f32x4.splat(0);
      for (let b: u32 = 0; b < nBlocks; b++) {
        const blk = wr + <usize>b * Q6_K_BLOCK_BYTES;
        const p = dotBlockQ6K(blk, xt + (<usize>b << 10), dt + (<usize>b << 5), m4, m30, c32, lowWeight);
        acc = f32x4.add(acc, f32x4.mul(p, f32x4.splat(f16ToF32(load<u16>(blk, 208)))));
      }
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(<f64>hsumF32(acc) * scale));
    }
  }
}
