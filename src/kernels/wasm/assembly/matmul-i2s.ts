// Ternary matmul for I2_S weights (bitnet.cpp, x86 layout), int8 activations per token or in Q8_K blocks.
//
// I2_S layout (bitnet.cpp src/ggml-bitnet-mad.cpp): codes 0,1,2 = -1,0,+1; the tensor is cut into
// blocks of 128 consecutive weights (row-major), 32 bytes each; byte p of a block holds weights
// p, 32+p, 64+p, 96+p at bit shifts 6, 4, 2, 0. The per-tensor f32 scale follows the codes.
// Rows below ARG_TILED_ROWS are in the 32-row tiled layout instead (see ternary-lut.ts).

import { dotPairs16, finishQ8K, finishTernary, hsumI32 } from './common';
import { C_03, C_ONES16, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_ACT_QUANT, ARG_ASCALES, ARG_ASCALES_STRIDE, ARG_AUX, ARG_BSUMS, ARG_BSUMS_STRIDE, ARG_COLS,
  ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_SCRATCH, ARG_SCRATCH_STRIDE, ARG_TAB, ARG_TAB_STRIDE,
  ARG_TILED_ROWS, ARG_W, ARG_WSCALE, ARG_X, ARG_X_STRIDE,
} from './job';
import { lutSpan, LUT_SPAN_GROUPS, LUT_STREAMS, tileEpilogue, zeroAcc32, zeroSums32 } from './ternary-lut';

/** Integer dot of the 8 code groups of one I2_S block (32 code bytes at w) with 128 int8 at x, as i16x8 pair sums. */
// @ts-ignore: decorator
@inline function blockPairs(w: usize, x: usize, m3: v128): v128 {
  const w0 = v128.load(w);
  const w1 = v128.load(w, 16);
  let a = dotPairs16(v128.load(x), v128.and(i16x8.shr_u(w0, 6), m3));
  let b = dotPairs16(v128.load(x, 32), v128.and(i16x8.shr_u(w0, 4), m3));
  a = i16x8.add(a, dotPairs16(v128.load(x, 64), v128.and(i16x8.shr_u(w0, 2), m3)));
  b = i16x8.add(b, dotPairs16(v128.load(x, 96), v128.and(w0, m3)));
  a = i16x8.add(a, dotPairs16(v128.load(x, 16), v128.and(i16x8.shr_u(w1, 6), m3)));
  b = i16x8.add(b, dotPairs16(v128.load(x, 48), v128.and(i16x8.shr_u(w1, 4), m3)));
  a = i16x8.add(a, dotPairs16(v128.load(x, 80), v128.and(i16x8.shr_u(w1, 2), m3)));
  b = i16x8.add(b, dotPairs16(v128.load(x, 112), v128.and(w1, m3)));
  return i16x8.add(a, b); // |lane| <= 8 * 762
}

/** sum_c code[c] * x[c] over one row of `nBlocks` whole I2_S blocks (row start = block start). */
export function dotRowI2S(w: usize, x: usize, nBlocks: u32): i32 {
  const m3 = vconst(C_03);
  const ones = vconst(C_ONES16);
  let acc = i32x4.splat(0);
  let b: u32 = 0;
  // i16 sums of up to 4 blocks (|lane| <= 4 * 6096 < 32768), then widened
  for (; b + 4 <= nBlocks; b += 4) {
    const p = i16x8.add(
      i16x8.add(blockPairs(w, x, m3), blockPairs(w + 32, x + 128, m3)),
      i16x8.add(blockPairs(w + 64, x + 256, m3), blockPairs(w + 96, x + 384, m3)),
    );
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(p, ones));
    w += 128;
    x += 512;
  }
  for (; b < nBlocks; b++) {
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(blockPairs(w, x, m3), ones));
    w += 32;
    x += 128;
  }
  return hsumI32(acc);
}

/** The I2_S code of element `e` (row-major index from the tensor start). */
// @ts-ignore: decorator
@inline export function codeI2S(w: usize, e: usize): u32 {
  const byte = load<u8>(w + ((e >> 7) << 5) + (e & 31));
  return (<u32>byte >> (6 - 2 * <u32>((e >> 5) & 3))) & 3;
}

/** Scalar sum_c code * x[c] for any row length (blocks may straddle rows). */
function dotRowI2SScalar(w: usize, e0: usize, x: usize, cols: u32): i32 {
  let sum: i32 = 0;
  for (let c: u32 = 0; c < cols; c++) sum += <i32>codeI2S(w, e0 + c) * <i32>load<i8>(x + c);
  return sum;
}

/** sum_c code * x over one 128-weight block (32 code bytes at w, 128 int8 at x). */
// @ts-ignore: decorator
@inline function dotBlockI2S(w: usize, x: usize, m3: v128, ones: v128): i32 {
  return hsumI32(i32x4.dot_i16x8_s(blockPairs(w, x, m3), ones));
}

/**
 * Job body: rows [start, end) for every token. Per-token activations (ARG_ACT_QUANT 0):
 * y = f32(w_scale * idot / s); Q8_K activations (1): y = f32(w_scale * sum_128-blocks idot_k * d_{k/2})
 * (formats/i2s.ts dotI2s order); then times the caller's scale.
 */
export function matmulI2SRows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const info = argPtr(job, ARG_AUX);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const wscale = argF64(job, ARG_WSCALE);
  const q8k = argU32(job, ARG_ACT_QUANT) != 0;
  const ascales = argPtr(job, ARG_ASCALES);
  const ascalesStride = <usize>argU32(job, ARG_ASCALES_STRIDE);
  const tab = argPtr(job, ARG_TAB);
  const tabStride = <usize>argU32(job, ARG_TAB_STRIDE);
  const tiledRows = argU32(job, ARG_TILED_ROWS);
  const acc = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  const sums = acc + (<usize>LUT_STREAMS << 7); // LUT_STREAMS x 32 f64, after LUT_STREAMS x 32 i32
  const nGroups = cols >> 2;
  const tileBytes = <usize>cols << 3; // 32 rows x cols / 4
  let r = start;
  while (r < end) {
    if (r + 32 <= tiledRows) {
      // up to LUT_STREAMS tiles at once, their spans interleaved (ternary-lut.ts LUT_STREAMS)
      let nTiles: u32 = 1;
      while (nTiles < LUT_STREAMS && r + 32 * (nTiles + 1) <= min(end, tiledRows)) nTiles++;
      const wt = w + <usize>r * (cols >> 2);
      for (let t: u32 = 0; t < nTokens; t++) {
        const tabT = tab + <usize>t * tabStride;
        for (let k: u32 = 0; k < nTiles; k++) zeroAcc32(acc + (<usize>k << 7));
        if (!q8k) {
          for (let g: u32 = 0; g < nGroups; g += LUT_SPAN_GROUPS) {
            const n = min(LUT_SPAN_GROUPS, nGroups - g);
            for (let k: u32 = 0; k < nTiles; k++) lutSpan(wt + <usize>k * tileBytes + (<usize>g << 5), tabT + (<usize>g << 6), n, acc + (<usize>k << 7));
          }
          const s = load<f32>(info + (<usize>t << 4));
          for (let k: u32 = 0; k < nTiles; k++) {
            const o = out + ((<usize>t * outStride + r + 32 * k) << 2);
            const a = acc + (<usize>k << 7);
            for (let i: usize = 0; i < 32; i++) store<f32>(o + (i << 2), finishTernary(wscale * <f64>load<i32>(a + (i << 2)), s, scale));
          }
        } else {
          // one span = 32 groups = one 128-column block: its integer dot, times the 256-block's d
          const at = ascales + <usize>t * ascalesStride;
          for (let k: u32 = 0; k < nTiles; k++) zeroSums32(sums + (<usize>k << 8));
          for (let g: u32 = 0; g < nGroups; g += LUT_SPAN_GROUPS) {
            const n = min(LUT_SPAN_GROUPS, nGroups - g);
            const a = load<f64>(at + (<usize>(g >> 6) << 3));
            for (let k: u32 = 0; k < nTiles; k++) {
              const ak = acc + (<usize>k << 7);
              zeroAcc32(ak);
              lutSpan(wt + <usize>k * tileBytes + (<usize>g << 5), tabT + (<usize>g << 6), n, ak);
              tileEpilogue(ak, sums + (<usize>k << 8), a, 0);
            }
          }
          for (let k: u32 = 0; k < nTiles; k++) {
            const o = out + ((<usize>t * outStride + r + 32 * k) << 2);
            const sk = sums + (<usize>k << 8);
            for (let i: usize = 0; i < 32; i++) store<f32>(o + (i << 2), finishQ8K(wscale * load<f64>(sk + (i << 3)), scale));
          }
        }
      }
      r += 32 * nTiles;
    } else {
      i2sUntiledRow(job, r);
      r++;
    }
  }
}

/** One row r outside the tiled layout, every token (per-token or Q8_K activations); also used by the GEMM job. */
export function i2sUntiledRow(job: usize, r: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const info = argPtr(job, ARG_AUX);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const wscale = argF64(job, ARG_WSCALE);
  const q8k = argU32(job, ARG_ACT_QUANT) != 0;
  const ascales = argPtr(job, ARG_ASCALES);
  const ascalesStride = <usize>argU32(job, ARG_ASCALES_STRIDE);
  const bsums = argPtr(job, ARG_BSUMS);
  const bsumsStride = <usize>argU32(job, ARG_BSUMS_STRIDE);
  const nBlocks = cols >> 7;
  const m3 = vconst(C_03);
  const ones = vconst(C_ONES16);
  const wr = w + <usize>r * (cols >> 2);
  for (let t: u32 = 0; t < nTokens; t++) {
    const xt = x + <usize>t * xStride;
    const o = out + ((<usize>t * outStride + r) << 2);
    if (!q8k) {
      const dot = (cols & 127) == 0 ? dotRowI2S(wr, xt, nBlocks) : dotRowI2SScalar(w, <usize>r * cols, xt, cols);
      const rec = info + (<usize>t << 4);
      store<f32>(o, finishTernary(wscale * <f64>(dot - load<i32>(rec, 4)), load<f32>(rec), scale));
    } else {
      const bs = bsums + <usize>t * bsumsStride;
      const at = ascales + <usize>t * ascalesStride;
      let sum: f64 = 0;
      for (let k: u32 = 0; k < nBlocks; k++) {
        const idot = dotBlockI2S(wr + (<usize>k << 5), xt + (<usize>k << 7), m3, ones) - load<i32>(bs + (<usize>k << 2));
        sum += <f64>idot * load<f64>(at + (<usize>(k >> 1) << 3));
      }
      store<f32>(o, finishQ8K(wscale * sum, scale));
    }
  }
}
