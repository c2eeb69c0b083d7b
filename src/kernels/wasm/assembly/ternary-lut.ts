// The inner loop of the tiled ternary kernel (both builds; relaxed SIMD uses i8x16.relaxed_swizzle): table
// lookups instead of multiplies.
//
// Why: wasm SIMD128 has no u8 x i8 multiply-add (x86 pmaddubsw), and V8 lowers i16x8.extmul_*_i8x16 to
// 3-5 instructions each, so a multiply-based ternary dot costs ~0.6 instructions per weight. Even with
// relaxed SIMD (pmaddubsw + pmaddwd, no VNNI in V8 12) the lookups measured faster: 8.5 vs 4.9 GB/s. Following
// the lookup-table idea of T-MAC / bitnet.cpp TL1-TL2 (src/ggml-bitnet-lut.cpp), weights are repacked
// at load time so that one byte lane holds two 4-bit indices (two column pairs) of one row, 16 rows per
// v128; per token, tables hold the 16 possible pair sums (c0-1)*x0 + (c1-1)*x1 as i16 split in low and
// high bytes; i8x16.swizzle looks up 16 rows at once: ~0.3 instructions per weight, exact integers.
//
// Tiled layout: tiles of 32 rows; per group of 4 columns (4g..4g+3) 32 bytes, byte r for row r of the
// tile: low nibble = c(4g) | c(4g+1) << 2, high nibble = c(4g+2) | c(4g+3) << 2 (codes 0..3, value c-1).

import { C_0F, C_F16_BITS, vconst } from './constants';

// @ts-ignore: decorator
@inline function lookup(table: v128, idx: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(table, idx);
  return i8x16.swizzle(table, idx);
}

// @ts-ignore: decorator
@inline function joinLow(lo: v128, hi: v128): v128 {
  return i8x16.shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}

// @ts-ignore: decorator
@inline function joinHigh(lo: v128, hi: v128): v128 {
  return i8x16.shuffle(lo, hi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

/**
 * Tiles a thread advances at once, their spans interleaved: several weight streams keep more DRAM lines in flight
 * than one (wasm has no prefetch instruction; a demand load far ahead stalls the core instead). Per-thread scratch
 * of the per-token kernels: LUT_STREAMS x 32 i32 accumulators, then LUT_STREAMS x 32 f64 sums.
 */
export const LUT_STREAMS: u32 = 4;

/** Max groups per i16 span: 2 lookups per group and accumulator, |value| <= 508 (code 3): 64 * 508 < 32768. */
export const LUT_SPAN_GROUPS: u32 = 32;

/**
 * Bytes ahead of the weights the loop touches (one byte per group): wasm has no prefetch instruction, and
 * the early touch measured 5-8% faster from DRAM. The glue keeps this much memory after every allocation.
 */
export const TOUCH_AHEAD_BYTES: usize = 4096;

/**
 * acc[r] += sum over `nGroups` (<= LUT_SPAN_GROUPS) column groups of tile row r (r = 0..31), with the
 * tile's weights at `wp` (32 bytes per group) and the token's tables at `tab` (64 bytes per group).
 */
export function lutSpan(wp: usize, tab: usize, nGroups: u32, acc: usize): void {
  const m15 = vconst(C_0F);
  let s0 = i16x8.splat(0);
  let s1 = i16x8.splat(0);
  let s2 = i16x8.splat(0);
  let s3 = i16x8.splat(0);
  let touched: u32 = 0;
  for (let g: u32 = 0; g < nGroups; g++) {
    touched += load<u8>(wp + TOUCH_AHEAD_BYTES);
    const a = v128.load(wp);
    const b = v128.load(wp, 16);
    const tl0 = v128.load(tab);
    const th0 = v128.load(tab, 16);
    const tl1 = v128.load(tab, 32);
    const th1 = v128.load(tab, 48);
    const ia0 = v128.and(a, m15);
    const ia1 = v128.and(i16x8.shr_u(a, 4), m15);
    const ib0 = v128.and(b, m15);
    const ib1 = v128.and(i16x8.shr_u(b, 4), m15);
    let lo = lookup(tl0, ia0);
    let hi = lookup(th0, ia0);
    s0 = i16x8.add(s0, joinLow(lo, hi));
    s1 = i16x8.add(s1, joinHigh(lo, hi));
    lo = lookup(tl1, ia1);
    hi = lookup(th1, ia1);
    s0 = i16x8.add(s0, joinLow(lo, hi));
    s1 = i16x8.add(s1, joinHigh(lo, hi));
    lo = lookup(tl0, ib0);
    hi = lookup(th0, ib0);
    s2 = i16x8.add(s2, joinLow(lo, hi));
    s3 = i16x8.add(s3, joinHigh(lo, hi));
    lo = lookup(tl1, ib1);
    hi = lookup(th1, ib1);
    s2 = i16x8.add(s2, joinLow(lo, hi));
    s3 = i16x8.add(s3, joinHigh(lo, hi));
    wp += 32;
    tab += 64;
  }
  // touched <= 255 * 32, so touched >> 31 is 0; using it keeps the touching loads alive
  s0 = i16x8.add(s0, i16x8.splat(<i16>(touched >> 31)));
  v128.store(acc, i32x4.add(v128.load(acc), i32x4.extend_low_i16x8_s(s0)));
  v128.store(acc, i32x4.add(v128.load(acc, 16), i32x4.extend_high_i16x8_s(s0)), 16);
  v128.store(acc, i32x4.add(v128.load(acc, 32), i32x4.extend_low_i16x8_s(s1)), 32);
  v128.store(acc, i32x4.add(v128.load(acc, 48), i32x4.extend_high_i16x8_s(s1)), 48);
  v128.store(acc, i32x4.add(v128.load(acc, 64), i32x4.extend_low_i16x8_s(s2)), 64);
  v128.store(acc, i32x4.add(v128.load(acc, 80), i32x4.extend_high_i16x8_s(s2)), 80);
  v128.store(acc, i32x4.add(v128.load(acc, 96), i32x4.extend_low_i16x8_s(s3)), 96);
  v128.store(acc, i32x4.add(v128.load(acc, 112), i32x4.extend_high_i16x8_s(s3)), 112);
}

/** Zero 32 i32 accumulators. */
// @ts-ignore: decorator
@inline export function zeroAcc32(acc: usize): void {
  const z = i32x4.splat(0);
  for (let i: usize = 0; i < 128; i += 16) v128.store(acc + i, z);
}

/**
 * The float epilogue of one block for the 32 rows of a tile: S[r] += d_r * (f64(acc[r]) * a), or
 * f64(acc[r]) * a when ds is 0; d_r are the tile block's 32 f16 scales at ds. The products are exact, the
 * order of the float64 sums is the reference's (formats dotTq2_0 / dotI2s), so results are bit-identical.
 */
export function tileEpilogue(acc: usize, sums: usize, a: f64, ds: usize): void {
  // with block scales d: d read as f32 bits worth d * 2^-112 (common.ts f16x4ScaledDown; finite d, checked at load)
  // and a taken times 2^112, so d' * (idot * a') = d * (idot * a) with the same roundings (power-of-two scalings)
  const a2 = f64x2.splat(ds != 0 ? a * 5.192296858534828e33 : a);
  const bits = vconst(C_F16_BITS);
  for (let i: usize = 0; i < 8; i++) {
    const v = v128.load(acc + (i << 4));
    const vh = i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    let lo = f64x2.mul(f64x2.convert_low_i32x4_s(v), a2);
    let hi = f64x2.mul(f64x2.convert_low_i32x4_s(vh), a2);
    if (ds != 0) {
      const d = v128.and(i32x4.shl(v128.load16x4_s(ds + (i << 3)), 13), bits);
      const dh = i8x16.shuffle(d, d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
      lo = f64x2.mul(f64x2.promote_low_f32x4(d), lo);
      hi = f64x2.mul(f64x2.promote_low_f32x4(dh), hi);
    }
    const p = sums + (i << 5);
    v128.store(p, f64x2.add(v128.load(p), lo));
    v128.store(p, f64x2.add(v128.load(p, 16), hi), 16);
  }
}

/** Zero 32 f64 sums. */
// @ts-ignore: decorator
@inline export function zeroSums32(sums: usize): void {
  const z = f64x2.splat(0);
  for (let i: usize = 0; i < 256; i += 16) v128.store(sums + i, z);
}
