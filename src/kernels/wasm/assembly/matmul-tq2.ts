// Ternary matmul for TQ2_0 weights (and TQ1_0, repacked to TQ2_0 at load): per 256-weight block an f16 scale d,
// int8 activations per token or in Q8_K blocks; block sums in float64 in the reference's order.
//
// TQ2_0 block (ggml-common.h block_tq2_0; order from ggml-quants.c dequantize_row_tq2_0): qs[64] then f16 d,
// 66 bytes per 256 weights; for half j (bytes 32j..32j+31), shift 2l, byte m: element 128j + 32l + m,
// value ((qs >> 2l) & 3) - 1. Rows below ARG_TILED_ROWS are in the tiled layout: per tile of 32 rows
// and per block, 64 column groups x 32 bytes (ternary-lut.ts) then the 32 rows' f16 d (2112 bytes).

import { dotPairs16, f16ToF32, finishQ8K, finishTernary, hsumI32 } from './common';
import { C_03, C_ONES16, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_ACT_QUANT, ARG_ASCALES, ARG_ASCALES_STRIDE, ARG_AUX, ARG_BSUMS, ARG_BSUMS_STRIDE, ARG_COLS,
  ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_SCRATCH, ARG_SCRATCH_STRIDE, ARG_TAB, ARG_TAB_STRIDE,
  ARG_TILED_ROWS, ARG_UNIFORM, ARG_W, ARG_WSCALE, ARG_X, ARG_X_STRIDE,
} from './job';
import { lutSpan, LUT_STREAMS, tileEpilogue, zeroAcc32, zeroSums32 } from './ternary-lut';

export const TQ2_BLOCK_BYTES: u32 = 66;
export const TQ2_TILE_BLOCK_BYTES: u32 = 2112;

/** sum code * x over one TQ2_0 block (qs at q, 256 int8 activations at x). */
// @ts-ignore: decorator
@inline function dotBlockTQ2(q: usize, x: usize, m3: v128, ones: v128): i32 {
  let a = i16x8.splat(0);
  let b = i16x8.splat(0);
  for (let h: usize = 0; h < 2; h++) {
    const v0 = v128.load(q + (h << 5));
    const v1 = v128.load(q + (h << 5), 16);
    const xh = x + (h << 7);
    a = i16x8.add(a, dotPairs16(v128.load(xh), v128.and(v0, m3)));
    b = i16x8.add(b, dotPairs16(v128.load(xh, 32), v128.and(i16x8.shr_u(v0, 2), m3)));
    a = i16x8.add(a, dotPairs16(v128.load(xh, 64), v128.and(i16x8.shr_u(v0, 4), m3)));
    b = i16x8.add(b, dotPairs16(v128.load(xh, 96), v128.and(i16x8.shr_u(v0, 6), m3)));
    a = i16x8.add(a, dotPairs16(v128.load(xh, 16), v128.and(v1, m3)));
    b = i16x8.add(b, dotPairs16(v128.load(xh, 48), v128.and(i16x8.shr_u(v1, 2), m3)));
    a = i16x8.add(a, dotPairs16(v128.load(xh, 80), v128.and(i16x8.shr_u(v1, 4), m3)));
    b = i16x8.add(b, dotPairs16(v128.load(xh, 112), v128.and(i16x8.shr_u(v1, 6), m3)));
  }
  // each of a, b: 8 pair sums per lane, |lane| <= 6096
  return hsumI32(i32x4.add(i32x4.dot_i16x8_s(a, ones), i32x4.dot_i16x8_s(b, ones)));
}

/**
 * Job body: rows [start, end) for every token. Per-token activations (ARG_ACT_QUANT 0): y = f32(sum_b d_b *
 * idot_b / s) (with one d everywhere: f32(d * idot / s)); Q8_K activations (1): y = f32(sum_b d_b * (idot_b *
 * a_b)) (formats/tq2_0.ts dotTq2_0 order); then times the caller's scale.
 */
export function matmulTQ2Rows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const info = argPtr(job, ARG_AUX);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const q8k = argU32(job, ARG_ACT_QUANT) != 0;
  const ascales = argPtr(job, ARG_ASCALES);
  const ascalesStride = <usize>argU32(job, ARG_ASCALES_STRIDE);
  const uniform = !q8k && argU32(job, ARG_UNIFORM) != 0;
  const wscale = argF64(job, ARG_WSCALE);
  const tab = argPtr(job, ARG_TAB);
  const tabStride = <usize>argU32(job, ARG_TAB_STRIDE);
  const tiledRows = argU32(job, ARG_TILED_ROWS);
  const acc = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  const sums = acc + (<usize>LUT_STREAMS << 7); // LUT_STREAMS x 32 f64, after LUT_STREAMS x 32 i32
  const nBlocks = cols >> 8;
  const rowBytes = <usize>nBlocks * TQ2_BLOCK_BYTES;
  const tileBytes = <usize>nBlocks * TQ2_TILE_BLOCK_BYTES; // 32 rows
  let r = start;
  while (r < end) {
    if (r + 32 <= tiledRows) {
      // up to LUT_STREAMS tiles at once, their blocks interleaved (ternary-lut.ts LUT_STREAMS)
      let nTiles: u32 = 1;
      while (nTiles < LUT_STREAMS && r + 32 * (nTiles + 1) <= min(end, tiledRows)) nTiles++;
      const wt = w + <usize>r * rowBytes;
      for (let t: u32 = 0; t < nTokens; t++) {
        const tabT = tab + <usize>t * tabStride;
        for (let k: u32 = 0; k < nTiles; k++) zeroAcc32(acc + (<usize>k << 7));
        if (uniform) {
          // One d everywhere: sum_b d * idot_b = d * sum_b idot_b exactly, so accumulate integers.
          for (let b: u32 = 0; b < nBlocks; b++) {
            const tb = tabT + (<usize>b << 12);
            for (let k: u32 = 0; k < nTiles; k++) {
              const wb = wt + <usize>k * tileBytes + <usize>b * TQ2_TILE_BLOCK_BYTES;
              lutSpan(wb, tb, 32, acc + (<usize>k << 7));
              lutSpan(wb + 1024, tb + 2048, 32, acc + (<usize>k << 7));
            }
          }
          const s = load<f32>(info + (<usize>t << 4));
          for (let k: u32 = 0; k < nTiles; k++) {
            const o = out + ((<usize>t * outStride + r + 32 * k) << 2);
            const ak = acc + (<usize>k << 7);
            for (let i: usize = 0; i < 32; i++) store<f32>(o + (i << 2), finishTernary(wscale * <f64>load<i32>(ak + (i << 2)), s, scale));
          }
        } else {
          const at = ascales + <usize>t * ascalesStride;
          for (let k: u32 = 0; k < nTiles; k++) zeroSums32(sums + (<usize>k << 8));
          for (let b: u32 = 0; b < nBlocks; b++) {
            const tb = tabT + (<usize>b << 12);
            const a = q8k ? load<f64>(at + (<usize>b << 3)) : 1.0;
            for (let k: u32 = 0; k < nTiles; k++) {
              const wb = wt + <usize>k * tileBytes + <usize>b * TQ2_TILE_BLOCK_BYTES;
              const ak = acc + (<usize>k << 7);
              zeroAcc32(ak);
              lutSpan(wb, tb, 32, ak);
              lutSpan(wb + 1024, tb + 2048, 32, ak);
              tileEpilogue(ak, sums + (<usize>k << 8), a, wb + 2048);
            }
          }
          for (let k: u32 = 0; k < nTiles; k++) {
            const o = out + ((<usize>t * outStride + r + 32 * k) << 2);
            const sk = sums + (<usize>k << 8);
            if (q8k) {
              for (let i: usize = 0; i < 32; i++) store<f32>(o + (i << 2), finishQ8K(load<f64>(sk + (i << 3)), scale));
            } else {
              const s = load<f32>(info + (<usize>t << 4));
              for (let i: usize = 0; i < 32; i++) store<f32>(o + (i << 2), finishTernary(load<f64>(sk + (i << 3)), s, scale));
            }
          }
        }
      }
      r += 32 * nTiles;
    } else {
      tq2UntiledRow(job, r);
      r++;
    }
  }
}

/** One row r outside the tiled layout, every token (per-token or Q8_K activations); also used by the GEMM job. */
export function tq2UntiledRow(job: usize, r: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const info = argPtr(job, ARG_AUX);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const q8k = argU32(job, ARG_ACT_QUANT) != 0;
  const ascales = argPtr(job, ARG_ASCALES);
  const ascalesStride = <usize>argU32(job, ARG_ASCALES_STRIDE);
  const uniform = !q8k && argU32(job, ARG_UNIFORM) != 0;
  const wscale = argF64(job, ARG_WSCALE);
  const bsums = argPtr(job, ARG_BSUMS);
  const bsumsStride = <usize>argU32(job, ARG_BSUMS_STRIDE);
  const nBlocks = cols >> 8;
  const rowBytes = <usize>nBlocks * TQ2_BLOCK_BYTES;
  const m3 = vconst(C_03);
  const ones = vconst(C_ONES16);
  const wr = w + <usize>r * rowBytes;
  for (let t: u32 = 0; t < nTokens; t++) {
    const xt = x + <usize>t * xStride;
    const bs = bsums + <usize>t * bsumsStride;
    const at = ascales + <usize>t * ascalesStride;
    let dot: f64 = 0;
    let idot: i32 = 0;
    for (let b: u32 = 0; b < nBlocks; b++) {
      const q = wr + <usize>b * TQ2_BLOCK_BYTES;
      const sumX = load<i32>(bs + (<usize>b << 3)) + load<i32>(bs + (<usize>b << 3), 4);
      const blockDot = dotBlockTQ2(q, xt + (<usize>b << 8), m3, ones) - sumX;
      const d = <f64>f16ToF32(load<u16>(q, 64));
      if (uniform) idot += blockDot;
      else if (q8k) dot += d * (<f64>blockDot * load<f64>(at + (<usize>b << 3)));
      else dot += d * <f64>blockDot;
    }
    const o = out + ((<usize>t * outStride + r) << 2);
    if (q8k) store<f32>(o, finishQ8K(dot, scale));
    else store<f32>(o, finishTernary(uniform ? wscale * <f64>idot : dot, load<f32>(info + (<usize>t << 4)), scale));
  }
}
