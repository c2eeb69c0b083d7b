// Decode GEMV for TQ2_0 weights (llama.cpp's ternary type; TQ1_0 is repacked to it) under relaxed SIMD: the I2_S
// multiply-add kernel's groups (matmul-i2s-dot.ts: two rows per activation load) on TQ2_0 codes repacked at load into
// I2_S's native byte order, with TQ2_0's per-block scales folded per 256 columns as the reference does.
//
// Why: the tiled lookup-table GEMV (matmul-tq2.ts) read 5.7-6.0 GB of weights per CPU-second from DRAM (1 thread,
// 4096x2560, Q8_K activations, in-process sweep) where the I2_S multiply-add kernel reads ~11; this one reads 8.3-8.6
// (the per-block fold costs it the rest), and from L2 8.5 against 6.3-6.5. Row pairs are rows r and r + half of a
// job chunk (two weight streams; matmul-i2s-dot.ts rowQuadDots says why): on an Intel Xeon, 4096x2560 from DRAM, 1
// thread 8.0 (i16) / 9.0 (fused) GB/s against 6.9 for adjacent rows (fused), 2 threads 14.1-16.0 against 11.9-12.3.
//
// Layout ("dot" layout, repack.ts dotLayoutTQ2; the whole 32-row tiles, rows past them stay TQ2_0 blocks): first
// every row's code bytes (cols / 4 of them, row after row, as native I2_S), block b's 64 bytes at b * 64 of the row,
// each byte with its four 2-bit fields in reverse order; then the scales, 32 f16 per tile and block (row order): the
// same bytes as the TQ2_0 blocks (rows x cols / 256 x 66). TQ2_0 (ggml-common.h block_tq2_0: qs[64], f16 d;
// ggml-quants.c dequantize_row_tq2_0): byte m of half j holds elements 128 j + m + 32 l at shift 2 l; I2_S's byte p
// of block k holds 128 k + p + 32 l at shift 6 - 2 l (matmul-i2s.ts): half j of TQ2_0 block b is I2_S block 2 b + j
// once the fields are reversed. The prefill GEMM (ternary-gemm.ts: rowMajor with TQ2_0's folds, a tile's scales of a
// block in the shape the tiled layout keeps them) and embed read this layout. The scales apart from the codes: with
// each tile's scales after its codes (a 640-byte gap every 20 KiB at 2560 columns) this kernel read 8.4 GB per
// CPU-second from DRAM where the same code over contiguous rows read 10.8 (1 thread, 4096x2560).
//
// Arithmetic (tq2UntiledRow's, the reference's, bit for bit): per row and 256-column block the exact integer dot
// idot = sum code x - sum x (codes 0..3; a block's i16 sums hold 8 relaxed dots per lane: x4 lanes at most
// 8 * 2 * 12 * 128 = 24576, x1 lanes 8 * 2 * 3 * 128 = 6144, times 4 when widened: both below 32768, code 3 too, so
// a block is one pass whatever the codes; activations in [-128, 127]); Q8_K activations (llama.cpp's
// scheme, TQ2_0's default): dot += d * (f64(idot) * a_b) in block order, y = finishQ8K(dot); per-token activations:
// with one d for the whole weight y = finishTernary(wscale * sum idot), else dot += d * f64(idot), finishTernary(dot).
// The two rows of a pair run in the two lanes of f64x2 with the same operations in the same order.

import { dotAdd32, finishQ8K, finishTernary } from './common';
import { C_03, C_0C, C_F16_BITS, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_ACT_QUANT, ARG_ASCALES, ARG_ASCALES_STRIDE, ARG_AUX, ARG_BSUMS, ARG_BSUMS_STRIDE, ARG_COLS, ARG_N_TOKENS,
  ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_TILED_ROWS, ARG_UNIFORM, ARG_VARIANT, ARG_W, ARG_WSCALE, ARG_X, ARG_X_STRIDE,
} from './job';
import { fieldDot, widen } from './matmul-i2s-dot';
import { TQ2_BLOCK_BYTES, tq2UntiledRow } from './matmul-tq2';

/**
 * Job body (op tq2Dot): rows [start, end) of a TQ2_0 weight whose first ARG_TILED_ROWS rows are in the dot layout
 * (whole 32-row tiles; the job's chunks are whole tiles), every token; rows past them through tq2UntiledRow.
 */
export function matmulTQ2DotRows(job: usize, start: u32, end: u32, thread: u32): void {
  const dotRows = argU32(job, ARG_TILED_ROWS);
  const dotEnd = min(end, dotRows);
  if (start < dotEnd) {
    // ARG_VARIANT bit 2: the fused i32 dots (WasmBackend.fusedDot)
    if ((argU32(job, ARG_VARIANT) & 2) != 0) tq2DotPairs(job, start, dotEnd, dotRows, true);
    else tq2DotPairs(job, start, dotEnd, dotRows, false);
  }
  for (let r = max(start, dotEnd); r < end; r++) tq2UntiledRow(job, r);
}

/** 2^112: F16 bits shifted into f32 read as d * 2^-112 (common.ts f16x4ScaledDown); times this in f64, d exactly. */
const P112: f64 = 5.192296858534828e33;

/**
 * One block folded into acc (pairBlocks's result so far): ra, rb the block's i32x4 sums (4 sum code x) of rows a and
 * b; their lanes (0 + 1, 2 + 3), then the halves added (row a in lane 0, b in 1); idot = sum code x - sum x (the
 * 128-column block sums of the activations at bs); with `uniform` idot is added as i32, else the two rows' d of the
 * block (row a's at dTab, row b's at dTab + dOff) times f64(idot) (times the Q8_K scale at `at` with q8k) is added in f64.
 */
// @ts-ignore: decorator
@inline function foldBlock(acc: v128, ra: v128, rb: v128, bs: usize, dTab: usize, dOff: usize, at: usize, q8k: bool, uniform: bool, bits: v128): v128 {
  const t = i32x4.add(
    i8x16.shuffle(ra, rb, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
    i8x16.shuffle(ra, rb, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31),
  );
  const s4 = i32x4.add(t, i8x16.shuffle(t, t, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  const bd = i32x4.sub(i32x4.shr_s(s4, 2), i32x4.splat(load<i32>(bs) + load<i32>(bs, 4)));
  if (uniform) return i32x4.add(acc, bd);
  // the two rows' d of this block, exactly (d * 2^-112 as f32, then times 2^112 in f64)
  const d16 = v128.load16_lane(dTab + dOff, v128.load16_lane(dTab, i32x4.splat(0), 0), 1);
  const d = f64x2.mul(f64x2.promote_low_f32x4(v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(d16), 13), bits)), f64x2.splat(P112));
  let f = f64x2.convert_low_i32x4_s(bd);
  if (q8k) f = f64x2.mul(f, v128.load64_splat(at));
  return f64x2.add(acc, f64x2.mul(d, f));
}

/**
 * Row pair (codes at wa and wb) of the dot layout against one token's activations at x over nBlocks TQ2_0 blocks:
 * the f64x2 sums of the header (row a in lane 0, row b in lane 1): dot += d * (idot * a_b) (Q8_K), or d * idot (per
 * token), or, with `uniform`, the i32 sum of idot in the lanes of the result's bits (the caller converts). One loop
 * iteration is one block: four groups of 16 code bytes per row, each its own basic block behind a test that never
 * fires (wa, wb and x point into different places) and leaves a do-while(false) whose exit uses the accumulators, as
 * matmul-i2s-dot.ts explains; then the block's i16 sums are widened, the two rows' lanes added into lanes 0 and 1,
 * and folded with the block's scales. No touch-ahead of the codes (the pair's rows are two streams apart:
 * tq2DotPairs).
 */
// @ts-ignore: decorator
@inline function pairBlocks(
  wa: usize, wb: usize, x: usize, nBlocks: u32, dTab: usize, dOff: usize, bs: usize, at: usize, q8k: bool, uniform: bool, m3: v128, mc: v128, bits: v128,
): v128 {
  let acc = uniform ? i32x4.splat(0) : f64x2.splat(0);
  const end = wa + (<usize>nBlocks << 6);
  let va: v128, vb: v128, sa: v128, sb: v128, xv: v128;
  while (wa < end) {
    let a1 = i16x8.splat(0);
    let a4 = i16x8.splat(0);
    let b1 = i16x8.splat(0);
    let b4 = i16x8.splat(0);
    do {
      // half 0, bytes 0..15 (weights p + 96 at shift 0 ... p at shift 6: matmul-i2s-dot.ts)
      va = v128.load(wa);
      vb = v128.load(wb);
      sa = i16x8.shr_u(va, 4);
      sb = i16x8.shr_u(vb, 4);
      xv = v128.load(x, 96);
      a1 = fieldDot(a1, xv, va, m3);
      b1 = fieldDot(b1, xv, vb, m3);
      xv = v128.load(x, 64);
      a4 = fieldDot(a4, xv, va, mc);
      b4 = fieldDot(b4, xv, vb, mc);
      xv = v128.load(x, 32);
      a1 = fieldDot(a1, xv, sa, m3);
      b1 = fieldDot(b1, xv, sb, m3);
      xv = v128.load(x);
      a4 = fieldDot(a4, xv, sa, mc);
      b4 = fieldDot(b4, xv, sb, mc);
      if (wa == wb) break; // the barriers: never taken
      // half 0, bytes 16..31
      va = v128.load(wa, 16);
      vb = v128.load(wb, 16);
      sa = i16x8.shr_u(va, 4);
      sb = i16x8.shr_u(vb, 4);
      xv = v128.load(x, 112);
      a1 = fieldDot(a1, xv, va, m3);
      b1 = fieldDot(b1, xv, vb, m3);
      xv = v128.load(x, 80);
      a4 = fieldDot(a4, xv, va, mc);
      b4 = fieldDot(b4, xv, vb, mc);
      xv = v128.load(x, 48);
      a1 = fieldDot(a1, xv, sa, m3);
      b1 = fieldDot(b1, xv, sb, m3);
      xv = v128.load(x, 16);
      a4 = fieldDot(a4, xv, sa, mc);
      b4 = fieldDot(b4, xv, sb, mc);
      if (wa == x) break;
      // half 1, bytes 0..15
      va = v128.load(wa, 32);
      vb = v128.load(wb, 32);
      sa = i16x8.shr_u(va, 4);
      sb = i16x8.shr_u(vb, 4);
      xv = v128.load(x, 224);
      a1 = fieldDot(a1, xv, va, m3);
      b1 = fieldDot(b1, xv, vb, m3);
      xv = v128.load(x, 192);
      a4 = fieldDot(a4, xv, va, mc);
      b4 = fieldDot(b4, xv, vb, mc);
      xv = v128.load(x, 160);
      a1 = fieldDot(a1, xv, sa, m3);
      b1 = fieldDot(b1, xv, sb, m3);
      xv = v128.load(x, 128);
      a4 = fieldDot(a4, xv, sa, mc);
      b4 = fieldDot(b4, xv, sb, mc);
      if (x == wb) break;
      // half 1, bytes 16..31
      va = v128.load(wa, 48);
      vb = v128.load(wb, 48);
      sa = i16x8.shr_u(va, 4);
      sb = i16x8.shr_u(vb, 4);
      xv = v128.load(x, 240);
      a1 = fieldDot(a1, xv, va, m3);
      b1 = fieldDot(b1, xv, vb, m3);
      xv = v128.load(x, 208);
      a4 = fieldDot(a4, xv, va, mc);
      b4 = fieldDot(b4, xv, vb, mc);
      xv = v128.load(x, 176);
      a1 = fieldDot(a1, xv, sa, m3);
      b1 = fieldDot(b1, xv, sb, m3);
      xv = v128.load(x, 144);
      a4 = fieldDot(a4, xv, sa, mc);
      b4 = fieldDot(b4, xv, sb, mc);
    } while (false);
    // the block's 4 sum code x of both rows
    acc = foldBlock(acc, widen(i32x4.splat(0), a1, a4), widen(i32x4.splat(0), b1, b4), bs, dTab, dOff, at, q8k, uniform, bits);
    wa += 64;
    wb += 64;
    x += 256;
    dTab += 64;
    bs += 8;
    at += 8;
  }
  return acc;
}

/**
 * pairBlocks on fused i32 dots (ARG_VARIANT bit 2; common.ts dotAdd32: one vpdpbusd under AVX-VNNI): the same
 * groups, barriers and fold, with eight i32 accumulators per block, one per row, field scale (x1 / x4) and half of the
 * byte (as loaded / shifted by 4), for the fused dots' latency (matmul-i2s-dot.ts rowPairDotsFused). The i16 kernel
 * keeps four: eight made it 10-25% slower (1 thread, from L2, Node 22 and 24).
 */
// @ts-ignore: decorator
@inline function pairBlocksFused(
  wa: usize, wb: usize, x: usize, nBlocks: u32, dTab: usize, dOff: usize, bs: usize, at: usize, q8k: bool, uniform: bool, m3: v128, mc: v128, bits: v128,
): v128 {
  let acc = uniform ? i32x4.splat(0) : f64x2.splat(0);
  const end = wa + (<usize>nBlocks << 6);
  let va: v128, vb: v128, xv: v128;
  while (wa < end) {
    let a1 = i32x4.splat(0);
    let a4 = i32x4.splat(0);
    let b1 = i32x4.splat(0);
    let b4 = i32x4.splat(0);
    let c1 = i32x4.splat(0);
    let c4 = i32x4.splat(0);
    let d1 = i32x4.splat(0);
    let d4 = i32x4.splat(0);
    do {
      va = v128.load(wa);
      vb = v128.load(wb);
      xv = v128.load(x, 96);
      a1 = dotAdd32(a1, xv, v128.and(va, m3));
      b1 = dotAdd32(b1, xv, v128.and(vb, m3));
      xv = v128.load(x, 64);
      a4 = dotAdd32(a4, xv, v128.and(va, mc));
      b4 = dotAdd32(b4, xv, v128.and(vb, mc));
      va = i16x8.shr_u(va, 4);
      vb = i16x8.shr_u(vb, 4);
      xv = v128.load(x, 32);
      c1 = dotAdd32(c1, xv, v128.and(va, m3));
      d1 = dotAdd32(d1, xv, v128.and(vb, m3));
      xv = v128.load(x);
      c4 = dotAdd32(c4, xv, v128.and(va, mc));
      d4 = dotAdd32(d4, xv, v128.and(vb, mc));
      if (wa == wb) break; // the barriers (pairBlocks)
      va = v128.load(wa, 16);
      vb = v128.load(wb, 16);
      xv = v128.load(x, 112);
      a1 = dotAdd32(a1, xv, v128.and(va, m3));
      b1 = dotAdd32(b1, xv, v128.and(vb, m3));
      xv = v128.load(x, 80);
      a4 = dotAdd32(a4, xv, v128.and(va, mc));
      b4 = dotAdd32(b4, xv, v128.and(vb, mc));
      va = i16x8.shr_u(va, 4);
      vb = i16x8.shr_u(vb, 4);
      xv = v128.load(x, 48);
      c1 = dotAdd32(c1, xv, v128.and(va, m3));
      d1 = dotAdd32(d1, xv, v128.and(vb, m3));
      xv = v128.load(x, 16);
      c4 = dotAdd32(c4, xv, v128.and(va, mc));
      d4 = dotAdd32(d4, xv, v128.and(vb, mc));
      if (wa == x) break;
      va = v128.load(wa, 32);
      vb = v128.load(wb, 32);
      xv = v128.load(x, 224);
      a1 = dotAdd32(a1, xv, v128.and(va, m3));
      b1 = dotAdd32(b1, xv, v128.and(vb, m3));
      xv = v128.load(x, 192);
      a4 = dotAdd32(a4, xv, v128.and(va, mc));
      b4 = dotAdd32(b4, xv, v128.and(vb, mc));
      va = i16x8.shr_u(va, 4);
      vb = i16x8.shr_u(vb, 4);
      xv = v128.load(x, 160);
      c1 = dotAdd32(c1, xv, v128.and(va, m3));
      d1 = dotAdd32(d1, xv, v128.and(vb, m3));
      xv = v128.load(x, 128);
      c4 = dotAdd32(c4, xv, v128.and(va, mc));
      d4 = dotAdd32(d4, xv, v128.and(vb, mc));
      if (x == wb) break;
      va = v128.load(wa, 48);
      vb = v128.load(wb, 48);
      xv = v128.load(x, 240);
      a1 = dotAdd32(a1, xv, v128.and(va, m3));
      b1 = dotAdd32(b1, xv, v128.and(vb, m3));
      xv = v128.load(x, 208);
      a4 = dotAdd32(a4, xv, v128.and(va, mc));
      b4 = dotAdd32(b4, xv, v128.and(vb, mc));
      va = i16x8.shr_u(va, 4);
      vb = i16x8.shr_u(vb, 4);
      xv = v128.load(x, 176);
      c1 = dotAdd32(c1, xv, v128.and(va, m3));
      d1 = dotAdd32(d1, xv, v128.and(vb, m3));
      xv = v128.load(x, 144);
      c4 = dotAdd32(c4, xv, v128.and(va, mc));
      d4 = dotAdd32(d4, xv, v128.and(vb, mc));
    } while (false);
    acc = foldBlock(acc, i32x4.add(i32x4.shl(i32x4.add(a1, c1), 2), i32x4.add(a4, c4)), i32x4.add(i32x4.shl(i32x4.add(b1, d1), 2), i32x4.add(b4, d4)), bs, dTab, dOff, at, q8k, uniform, bits);
    wa += 64;
    wb += 64;
    x += 256;
    dTab += 64;
    bs += 8;
    at += 8;
  }
  return acc;
}

/** Rows [start, end) (whole tiles) in the dot layout, two at a time; FUSED (a constant after inlining): pairBlocksFused. */
// @ts-ignore: decorator
@inline function tq2DotPairs(job: usize, start: u32, end: u32, dotRows: u32, FUSED: bool): void {
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
  const codeBytes = <usize>(cols >> 2); // one row's codes
  const dBase = w + <usize>dotRows * codeBytes; // the scales: 32 per tile and block
  const m3 = vconst(C_03);
  const mc = vconst(C_0C);
  const bits = vconst(C_F16_BITS);
  // the scales are a second, slower stream (64 bytes per tile and block): each pair of a tile touches its share of
  // the next tile's lines (without it Q8_K activations ran at 4-6 GB per CPU-second instead of ~9)
  const dTileBytes = <usize>nBlocks << 6;
  const dShare = ((dTileBytes >> 4) + 63) & ~63;
  // row pairs (r, r + half): two weight streams half the chunk apart (matmul-i2s-dot.ts rowQuadDots says why); the
  // chunk is whole tiles, so half is a whole number of rows
  const half = (end - start) >> 1;
  const halfBytes = <usize>half * codeBytes;
  const dTiles = dBase + <usize>(dotRows >> 5) * dTileBytes;
  for (let r = start; r < start + half; r++) {
    const r2 = r + half;
    const wa = w + <usize>r * codeBytes;
    if (!uniform && (r & 1) == 0) {
      // the next tile's scale lines, the share of this pair index, for both streams' tiles
      for (let k: u32 = 0; k < 2; k++) {
        const rr = k == 0 ? r : r2;
        const dNext = dBase + <usize>((rr >> 5) + 1) * dTileBytes + <usize>((rr & 31) >> 1) * dShare;
        const dEnd = min(dNext + dShare, dTiles);
        for (let p = dNext; p < dEnd; p += 64) load<u8>(p);
      }
    }
    const dTab = dBase + <usize>(r >> 5) * dTileBytes + (<usize>(r & 31) << 1); // block b's scale of row r at dTab + 64 b
    const dOff = dBase + <usize>(r2 >> 5) * dTileBytes + (<usize>(r2 & 31) << 1) - dTab; // row r2's, from row r's
    for (let t: u32 = 0; t < nTokens; t++) {
      const bs = bsums + <usize>t * bsumsStride;
      const at = ascales + <usize>t * ascalesStride;
      const o = out + ((<usize>t * outStride + r) << 2);
      const o2 = o + (<usize>half << 2);
      const xt = x + <usize>t * xStride;
      if (q8k) {
        const dot = FUSED
          ? pairBlocksFused(wa, wa + halfBytes, xt, nBlocks, dTab, dOff, bs, at, true, false, m3, mc, bits)
          : pairBlocks(wa, wa + halfBytes, xt, nBlocks, dTab, dOff, bs, at, true, false, m3, mc, bits);
        store<f32>(o, finishQ8K(f64x2.extract_lane(dot, 0), scale));
        store<f32>(o2, finishQ8K(f64x2.extract_lane(dot, 1), scale));
      } else {
        const s = load<f32>(info + (<usize>t << 4));
        if (uniform) {
          const idot = FUSED
            ? pairBlocksFused(wa, wa + halfBytes, xt, nBlocks, dTab, dOff, bs, at, false, true, m3, mc, bits)
            : pairBlocks(wa, wa + halfBytes, xt, nBlocks, dTab, dOff, bs, at, false, true, m3, mc, bits);
          store<f32>(o, finishTernary(wscale * <f64>i32x4.extract_lane(idot, 0), s, scale));
          store<f32>(o2, finishTernary(wscale * <f64>i32x4.extract_lane(idot, 1), s, scale));
        } else {
          const dot = FUSED
            ? pairBlocksFused(wa, wa + halfBytes, xt, nBlocks, dTab, dOff, bs, at, false, false, m3, mc, bits)
            : pairBlocks(wa, wa + halfBytes, xt, nBlocks, dTab, dOff, bs, at, false, false, m3, mc, bits);
          store<f32>(o, finishTernary(f64x2.extract_lane(dot, 0), s, scale));
          store<f32>(o2, finishTernary(f64x2.extract_lane(dot, 1), s, scale));
        }
      }
    }
  }
}
