// The prefill GEMM of the tiled ternary layout (ternary-lut.ts) and of native I2_S: each weight byte of a tile is read
// once per pass of up to GEMM_WIDE32_TOKENS tokens and applied to all of them at once.
//
// Why: the decode kernel (ternary-lut.ts) holds 16 rows in the lanes of a v128 and spends ~0.28 instructions per
// weight per token on table lookups and byte joins; with several tokens the weight decoding is shared but the
// per-token lookups are not. Here the lanes hold tokens instead: a tile byte is the 4 codes of one row for a group of
// 4 columns (c0 | c1 << 2 | c2 << 4 | c3 << 6, value code - 1), and per group a table holds, for every byte value, the
// 16 tokens' sums (c0 - 1) x0 + (c1 - 1) x1 + (c2 - 1) x2 + (c3 - 1) x3 as i16 (32 bytes). One byte load, two v128
// loads and two i16x8 adds apply 4 weights to 16 tokens: ~0.13 instructions per weight and token, exact integers.
// Only the 81 entries with codes 0..2 are built unless the weight holds code 3 (ARG_VARIANT 1: all 256, value +2).
//
// The tables (~0.9 KiB per column touched) outweigh the weights (8 bytes per column per 32 rows), so the loop order
// keeps them close: one job chunk per thread; superspans of 64 groups whose tables the thread builds itself (in L2;
// tables another core built cost more to fetch than to build); blocks of GEMM_BLOCK_TILES tiles; spans of
// GEMM_SPAN_GROUPS groups (tables in L1); every row of the block, its 16 i16 partial sums kept in scratch. Measured on
// 2560x2560 I2_S, 16 tokens, 1 thread, simd128: 1.2 ms against 3.9 ms for 16 per-token passes (3.1 ms with relaxed
// SIMD); rows-inner with the tables read from L3 it was 2.8 ms.
// The partial sums hold at most 64 entries (|entry| <= 4 * 127 = 508, 64 * 508 < 32768), 32 with code 3 (|entry| <=
// 1016); then they are widened to i32 per token, or (Q8_K activations, TQ2_0 per-block d) folded into f64 sums in the
// reference's order: I2_S per 128 columns S += f64(idot) * a, TQ2_0 per 256 S += d * (f64(idot) * a).
//
// Three widths, a compile-time type argument: Wide32 (32 token lanes, four v128 per entry: one cache line), Wide (16
// lanes, two v128) and Narrow (8 lanes, one v128, tables of half the size). A decode step of up to 8 sequences takes
// Narrow: with 16 lanes half of every lookup, add and table byte was spent on zero tokens. Under relaxed SIMD,
// native-layout I2_S weights whose tables do not pay off over a thread's rows take the table-free dot kernel instead
// (gemm-i2s-dot.ts; GEMM_DOT_COST in index.ts). Passes above 16 tokens (a prefill) take Wide32: one byte load and its
// address arithmetic (movzx, shl, add, and V8's add of the memory base) serve four v128 loads and adds instead of two,
// and a prefill reads every weight byte 4 times per 128 tokens instead of 8. Its tables are twice the size, so its
// blocks are 4 tiles, and without code 3 they are dense: entry c0 + 3 c1 + 9 c2 + 27 c3 (81 consecutive cache lines,
// spread over the L1 sets; the sparse 256-entry layout put them in 27 sets, 3 lines each), the weight bytes mapped to
// those indices when they are staged (denseIndex: two nibble swizzles).
// Native row-major I2_S bytes are staged per block of rows and superspan (stageI2STile), so the lookups walk 256
// consecutive bytes per tile and span as in the tiled layout rather than touching 32 rows' cache lines each (those
// pushed the tables out of L1).
//
// Measured (2026-12-07, 1 thread, 128 tokens, CPU time of the fastest of 20-30 calls, load 6-7 on the 2 cores, so
// only indicative): relaxed SIMD 2560x2560 77 GMAC/s (Wide) -> 84 (Wide, staged) -> 89-91 (Wide32, spans of 4
// groups, blocks of 8 tiles) -> 87-93 (spans of 8, blocks of 4); 6912x2560 and 2560x6912 ~78 -> ~90 -> 89-94. The table offsets as load immediates (quadLo / quadHi) gained nothing measurable (V8 then adds
// the memory base to each address instead). Tried and dropped: rows-inner over a whole superspan with the sums in
// registers and the tables from L2 (2-4x slower).
// Narrow (8 tokens, batched decode), 2026-12-07: its 81-entry tables are built unrolled as 9 low + 9 high parts
// (buildTable81: ~12 ns per column against ~26 (relaxed) / ~41 (simd128) with buildTable's loops; the 16- and 32-lane
// tables too: 128-token prefill 1 thread 2560x2560 8.77 -> 8.14 ms relaxed, 8.60 -> 8.36 simd128), and the
// lookups read table entry addresses staged per tile and span (stageNarrowAddresses), two per u64 load: the lookups
// are bound by their loads (a byte load and a v128 load each before) more than by their instructions. 1 thread, CPU
// time, 8 tokens: relaxed SIMD 2560x2560 0.983 -> 0.854 ms, simd128 (Node 20) 0.878 -> 0.764. Tried and dropped: the
// addresses made in a v128 and taken out with extract_lane (no staging; ~4% where the u32 staging gave ~5%); one u32
// load per lookup (6-8% slower than the u64 pairs); two u64 from one v128 load and i64x2.extract_lane (~10% slower);
// spans of 16 groups (fewer instructions, the same time); blocks of 4 tiles (no better).

import { finishQ8K, finishTernary, f16ToF32 } from './common';
import {
  argF64, argPtr, argU32, ARG_ACT_QUANT, ARG_ASCALES, ARG_ASCALES_STRIDE, ARG_AUX, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_ROWS,
  ARG_OUT_STRIDE, ARG_PANEL_ROWS, ARG_ROW_MAJOR, ARG_SCALE, ARG_SCRATCH, ARG_SCRATCH_STRIDE, ARG_TILED_ROWS, ARG_UNIFORM, ARG_VARIANT, ARG_W,
  ARG_WSCALE, ARG_X, ARG_X_STRIDE,
} from './job';
import { i2sUntiledRow } from './matmul-i2s';
import { I2S_PANEL_COLS } from './matmul-i2s-dot';
import { TQ2_TILE_BLOCK_BYTES, tq2UntiledRow } from './matmul-tq2';

/** Tokens per GEMM pass: 16 i16 lanes (two v128) per table entry (Narrow: GEMM_NARROW_TOKENS, one v128). */
export const GEMM_TOKENS: u32 = 16;
export const GEMM_NARROW_TOKENS: u32 = 8;
/** Tokens per pass of the 32-lane GEMM (Wide32: four v128 per table entry, one cache line). */
export const GEMM_WIDE32_TOKENS: u32 = 32;
/** The width type arguments (their sizes tell them apart at compile time, as matmul-f16.ts's Exact / Scaled). */
type Wide = u64;
type Narrow = u32;
type Wide32 = v128;
/**
 * Bytes from one group's table to the next: 256 entries of 16 tokens' i16 sums (8 KiB) plus 3 cache lines, so that
 * the same entry of consecutive groups falls in different L1 sets (a plain 8 KiB stride maps them all to one).
 */
export const GEMM_TABLE_BYTES: usize = 8192 + 192;
/** The same for Narrow: 256 entries of 8 tokens (4 KiB) plus 3 cache lines. */
export const GEMM_NARROW_TABLE_BYTES: usize = 4096 + 192;
const NARROW_TB: i32 = 4096 + 192;
/**
 * Wide32: room for 256 entries of 64 bytes (code 3), plus 17 cache lines. Without code 3 its tables are dense (entry
 * c0 + 3 c1 + 9 c2 + 27 c3: 81 consecutive lines), and the 17-line offset spreads a span's 4 tables over the L1 sets.
 */
export const GEMM_WIDE32_TABLE_BYTES: usize = 16384 + 17 * 64;

/** Bytes of one table entry (one row's i16 partial sums): 64 Wide32, 32 Wide, 16 Narrow. */
// @ts-ignore: decorator
@inline function entryShift<L>(): usize {
  return sizeof<L>() == 16 ? 6 : sizeof<L>() == 8 ? 5 : 4;
}

// @ts-ignore: decorator
@inline function tableBytes<L>(): usize {
  return sizeof<L>() == 16 ? GEMM_WIDE32_TABLE_BYTES : sizeof<L>() == 8 ? GEMM_TABLE_BYTES : GEMM_NARROW_TABLE_BYTES;
}

// @ts-ignore: decorator
@inline function lanes<L>(): u32 {
  return sizeof<L>() == 16 ? GEMM_WIDE32_TOKENS : sizeof<L>() == 8 ? GEMM_TOKENS : GEMM_NARROW_TOKENS;
}

/** Groups per span (GEMM_SPAN_GROUPS; Wide32: 4, its tables are twice the size). */
// @ts-ignore: decorator
@inline function spanGroups<L>(): u32 {
  return sizeof<L>() == 16 ? GEMM_WIDE32_SPAN_GROUPS : GEMM_SPAN_GROUPS;
}

/** Tiles per block of rows (GEMM_BLOCK_TILES; Wide32: GEMM_WIDE32_BLOCK_TILES). */
// @ts-ignore: decorator
@inline function blockTiles<L>(): u32 {
  return sizeof<L>() == 16 ? GEMM_WIDE32_BLOCK_TILES : GEMM_BLOCK_TILES;
}
/**
 * Groups per span: the tables a span touches (~3.4 KiB each) and the i16 partial sums of a block of rows (32 bytes
 * each) stay in L1 while every row of the block does its lookups.
 */
export const GEMM_SPAN_GROUPS: u32 = 8;
/** Tiles per block of rows: their i16 partial sums (8 KiB) stay in L1 next to a span's tables (~27 KiB). */
export const GEMM_BLOCK_TILES: u32 = 8;
/**
 * Wide32: groups per span (rowSpan8W32 or rowSpan4W32). 8 (~41 KiB of dense tables, more than L1) measured a few
 * percent faster than 4 (~20 KiB): the partial sums' loads and stores are paid per span.
 */
export const GEMM_WIDE32_SPAN_GROUPS: u32 = 8;
/** Wide32: tiles per block of rows (partial sums 64 bytes per row: 8 KiB); 2 measured the same, 8 a little slower. */
export const GEMM_WIDE32_BLOCK_TILES: u32 = 4;

/**
 * The tables of groups [g0, g1) (group g = columns 4g..4g+3) for the `nTokens` tokens of int8 activations at x
 * (xStride bytes per token; group xGroup first), at tab + (g - g0) * tableBytes<L>(); tokens past nTokens (up to the
 * width's lanes) get zeros. `full` builds all 256 entries (code 3 = +2), else the 81 with codes 0..2.
 */
// @ts-ignore: decorator
@inline function buildTables<L>(x: usize, xStride: usize, nTokens: u32, g0: u32, g1: u32, tab: usize, full: bool, xGroup: u32): void {
  if (sizeof<L>() == 16) {
    // Wide32: tokens 0-15 in bytes 0-31 of each 64-byte entry, tokens 16-31 in bytes 32-63
    buildTables16<L>(x, xStride, nTokens, g0, g1, tab, full, xGroup);
    if (nTokens > 16) buildTables16<L>(x + (xStride << 4), xStride, nTokens - 16, g0, g1, tab + 32, full, xGroup);
    else buildTables16<L>(x, xStride, 0, g0, g1, tab + 32, full, xGroup);
  } else {
    buildTables16<L>(x, xStride, nTokens, g0, g1, tab, full, xGroup);
  }
}

/** buildTables for up to 16 tokens (8 Narrow) at the entries' first 32 (16) bytes. */
// @ts-ignore: decorator
@inline function buildTables16<L>(x: usize, xStride: usize, nTokens: u32, g0: u32, g1: u32, tab: usize, full: bool, xGroup: u32): void {
  const wide = sizeof<L>() >= 8;
  const n16: u32 = wide ? 16 : 8;
  const zero = i32x4.splat(0);
  for (let g = g0; g < g1; g++) {
    // the 4 bytes of the group for each of the 16 tokens (zeros past nTokens), 4 tokens per v128; x holds group xGroup first
    const xg = x + (<usize>(g - xGroup) << 2);
    let v0 = zero;
    let v1 = zero;
    let v2 = zero;
    let v3 = zero;
    if (nTokens >= n16) {
      v0 = v128.load32_lane(xg, v0, 0);
      v0 = v128.load32_lane(xg + xStride, v0, 1);
      v0 = v128.load32_lane(xg + 2 * xStride, v0, 2);
      v0 = v128.load32_lane(xg + 3 * xStride, v0, 3);
      v1 = v128.load32_lane(xg + 4 * xStride, v1, 0);
      v1 = v128.load32_lane(xg + 5 * xStride, v1, 1);
      v1 = v128.load32_lane(xg + 6 * xStride, v1, 2);
      v1 = v128.load32_lane(xg + 7 * xStride, v1, 3);
      if (wide) {
      v2 = v128.load32_lane(xg + 8 * xStride, v2, 0);
      v2 = v128.load32_lane(xg + 9 * xStride, v2, 1);
      v2 = v128.load32_lane(xg + 10 * xStride, v2, 2);
      v2 = v128.load32_lane(xg + 11 * xStride, v2, 3);
      v3 = v128.load32_lane(xg + 12 * xStride, v3, 0);
      v3 = v128.load32_lane(xg + 13 * xStride, v3, 1);
      v3 = v128.load32_lane(xg + 14 * xStride, v3, 2);
      v3 = v128.load32_lane(xg + 15 * xStride, v3, 3);
      }
    } else {
      for (let t: u32 = 0; t < min(nTokens, n16); t++) {
        const word = i32x4.splat(load<i32>(xg + <usize>t * xStride));
        const keep = i32x4.eq(i32x4(0, 1, 2, 3), i32x4.splat(t & 3));
        if (t < 4) v0 = v128.bitselect(word, v0, keep);
        else if (t < 8) v1 = v128.bitselect(word, v1, keep);
        else if (t < 12) v2 = v128.bitselect(word, v2, keep);
        else v3 = v128.bitselect(word, v3, keep);
      }
    }
    // columns 0, 1 of tokens 0-7 and 8-15 (bytes token-major), then columns 2, 3
    const a01 = i8x16.shuffle(v0, v1, 0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const b01 = i8x16.shuffle(v2, v3, 0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const a23 = i8x16.shuffle(v0, v1, 2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    const b23 = i8x16.shuffle(v2, v3, 2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    // X_k for tokens 0-7 (suffix 0) and 8-15 (suffix 1), i16
    const x00 = i16x8.extend_low_i8x16_s(a01);
    const x01 = i16x8.extend_low_i8x16_s(b01);
    const x10 = i16x8.extend_high_i8x16_s(a01);
    const x11 = i16x8.extend_high_i8x16_s(b01);
    const x20 = i16x8.extend_low_i8x16_s(a23);
    const x21 = i16x8.extend_low_i8x16_s(b23);
    const x30 = i16x8.extend_high_i8x16_s(a23);
    const x31 = i16x8.extend_high_i8x16_s(b23);
    const tg = tab + <usize>(g - g0) * tableBytes<L>();
    if (!full) {
      // tokens 0-7 at the entries' first 16 bytes, 8-15 at the next 16 (not Narrow)
      buildTable81<L>(tg, x00, x10, x20, x30);
      if (sizeof<L>() >= 8) buildTable81<L>(tg + 16, x01, x11, x21, x31);
    } else if (full) {
      buildTable<L>(tg, x00, x01, x10, x11, x20, x21, x30, x31, 4);
    } else {
      buildTable<L>(tg, x00, x01, x10, x11, x20, x21, x30, x31, 3);
    }
  }
}

/**
 * Without code 3: the 81 entries of one group's table, 8 tokens' i16 lanes (at the entries' offset 0 or 16, tg), as the
 * sums of 9 low parts (c0 - 1) X0 + (c1 - 1) X1 and 9 high parts (c2 - 1) X2 + (c3 - 1) X3, unrolled with constant
 * offsets (buildTable's loops spent most of their instructions on the index and loop arithmetic): entry c0 | c1 << 2 |
 * c2 << 4 | c3 << 6, or Wide32's dense c0 + 3 c1 + 9 c2 + 27 c3. Exact i16 integers as there, so the entries are the same.
 */
// @ts-ignore: decorator
@inline function buildTable81<L>(tg: usize, x0: v128, x1: v128, x2: v128, x3: v128): void {
  const l00 = i16x8.sub(i16x8.neg(x0), x1);
  const l10 = i16x8.add(l00, x0);
  const l20 = i16x8.add(l10, x0);
  const l01 = i16x8.add(l00, x1);
  const l11 = i16x8.add(l10, x1);
  const l21 = i16x8.add(l20, x1);
  const l02 = i16x8.add(l01, x1);
  const l12 = i16x8.add(l11, x1);
  const l22 = i16x8.add(l21, x1);
  const h00 = i16x8.sub(i16x8.neg(x2), x3);
  const h10 = i16x8.add(h00, x2);
  const h20 = i16x8.add(h10, x2);
  const h01 = i16x8.add(h00, x3);
  const h11 = i16x8.add(h10, x3);
  const h21 = i16x8.add(h20, x3);
  const h02 = i16x8.add(h01, x3);
  const h12 = i16x8.add(h11, x3);
  const h22 = i16x8.add(h21, x3);
  // the high part's entry index (c2, c3): sparse (c2 << 4 | c3 << 6), dense 9 c2 + 27 c3
  const dense = sizeof<L>() == 16;
  const es = entryShift<L>();
  entries9<L>(tg, h00, l00, l10, l20, l01, l11, l21, l02, l12, l22);
  entries9<L>(tg + ((dense ? <usize>9 : <usize>16) << es), h10, l00, l10, l20, l01, l11, l21, l02, l12, l22);
  entries9<L>(tg + ((dense ? <usize>18 : <usize>32) << es), h20, l00, l10, l20, l01, l11, l21, l02, l12, l22);
  entries9<L>(tg + ((dense ? <usize>27 : <usize>64) << es), h01, l00, l10, l20, l01, l11, l21, l02, l12, l22);
  entries9<L>(tg + ((dense ? <usize>36 : <usize>80) << es), h11, l00, l10, l20, l01, l11, l21, l02, l12, l22);
  entries9<L>(tg + ((dense ? <usize>45 : <usize>96) << es), h21, l00, l10, l20, l01, l11, l21, l02, l12, l22);
  entries9<L>(tg + ((dense ? <usize>54 : <usize>128) << es), h02, l00, l10, l20, l01, l11, l21, l02, l12, l22);
  entries9<L>(tg + ((dense ? <usize>63 : <usize>144) << es), h12, l00, l10, l20, l01, l11, l21, l02, l12, l22);
  entries9<L>(tg + ((dense ? <usize>72 : <usize>160) << es), h22, l00, l10, l20, l01, l11, l21, l02, l12, l22);
}

/** The 9 entries h + l[c0 + 3 c1] at p + (entry index of c0, c1: c0 | c1 << 2, dense c0 + 3 c1) << entryShift (buildTable81). */
// @ts-ignore: decorator
@inline function entries9<L>(p: usize, h: v128, l00: v128, l10: v128, l20: v128, l01: v128, l11: v128, l21: v128, l02: v128, l12: v128, l22: v128): void {
  if (sizeof<L>() == 16) {
    v128.store(p, i16x8.add(h, l00));
    v128.store(p, i16x8.add(h, l10), 64);
    v128.store(p, i16x8.add(h, l20), 128);
    v128.store(p, i16x8.add(h, l01), 192);
    v128.store(p, i16x8.add(h, l11), 256);
    v128.store(p, i16x8.add(h, l21), 320);
    v128.store(p, i16x8.add(h, l02), 384);
    v128.store(p, i16x8.add(h, l12), 448);
    v128.store(p, i16x8.add(h, l22), 512);
  } else {
    const e = <usize>1 << entryShift<L>(); // 16 Narrow, 32 Wide
    v128.store(p, i16x8.add(h, l00));
    v128.store(p, i16x8.add(h, l10), e);
    v128.store(p, i16x8.add(h, l20), 2 * e);
    v128.store(p, i16x8.add(h, l01), 4 * e);
    v128.store(p, i16x8.add(h, l11), 5 * e);
    v128.store(p, i16x8.add(h, l21), 6 * e);
    v128.store(p, i16x8.add(h, l02), 8 * e);
    v128.store(p, i16x8.add(h, l12), 9 * e);
    v128.store(p, i16x8.add(h, l22), 10 * e);
  }
}

/**
 * The entries n | m << 4 (n = c0 | c1 << 2, m = c2 | c3 << 2, codes < nCodes) of one group's table: the 16 tokens'
 * (c0 - 1) X0 + (c1 - 1) X1 + (c2 - 1) X2 + (c3 - 1) X3, built by adding X0 step by step to a running value.
 */
// @ts-ignore: decorator
@inline function buildTable<L>(tg: usize, x00: v128, x01: v128, x10: v128, x11: v128, x20: v128, x21: v128, x30: v128, x31: v128, nCodes: u32): void {
  // h = (c2 - 1) X2 + (c3 - 1) X3, starting at c2 = c3 = 0
  let h3_0 = i16x8.sub(i16x8.neg(x20), x30);
  let h3_1 = i16x8.sub(i16x8.neg(x21), x31);
  for (let c3: u32 = 0; c3 < nCodes; c3++) {
    let h0 = h3_0;
    let h1 = h3_1;
    for (let c2: u32 = 0; c2 < nCodes; c2++) {
      const m = c2 | (c3 << 2);
      // e = h + (c0 - 1) X0 + (c1 - 1) X1, starting at c0 = c1 = 0
      let l0 = i16x8.sub(i16x8.sub(h0, x00), x10);
      let l1 = i16x8.sub(i16x8.sub(h1, x01), x11);
      for (let c1: u32 = 0; c1 < nCodes; c1++) {
        let e0 = l0;
        let e1 = l1;
        for (let c0: u32 = 0; c0 < nCodes; c0++) {
          // Wide32 without code 3: dense entries (stageTile maps each weight byte to c0 + 3 c1 + 9 c2 + 27 c3)
          const idx = sizeof<L>() == 16 && nCodes == 3 ? c0 + 3 * c1 + 9 * c2 + 27 * c3 : c0 | (c1 << 2) | (m << 4);
          const p = tg + (<usize>idx << entryShift<L>());
          v128.store(p, e0);
          if (sizeof<L>() >= 8) v128.store(p, e1, 16);
          e0 = i16x8.add(e0, x00);
          e1 = i16x8.add(e1, x01);
        }
        l0 = i16x8.add(l0, x10);
        l1 = i16x8.add(l1, x11);
      }
      h0 = i16x8.add(h0, x20);
      h1 = i16x8.add(h1, x21);
    }
    h3_0 = i16x8.add(h3_0, x30);
    h3_1 = i16x8.add(h3_1, x31);
  }
}

/**
 * The native I2_S layout as tile bytes for the tables: byte p of a 128-column block holds columns 96+p, 64+p, 32+p, p at
 * shifts 0, 2, 4, 6 (matmul-i2s.ts), so group p of the block takes the activations in that order. Writes dst[4p + k] =
 * src[32 (3 - k) + p] for one block of 128 int8 values (byte interleaves of the four quarters).
 */
// @ts-ignore: decorator
@inline function permuteI2SBlock(src: usize, dst: usize): void {
  for (let h: usize = 0; h < 32; h += 16) {
    const q0 = v128.load(src + h);
    const q1 = v128.load(src + h, 32);
    const q2 = v128.load(src + h, 64);
    const q3 = v128.load(src + h, 96);
    const a = i8x16.shuffle(q3, q2, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const ah = i8x16.shuffle(q3, q2, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const b = i8x16.shuffle(q1, q0, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const bh = i8x16.shuffle(q1, q0, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const d = dst + (h << 2);
    v128.store(d, i8x16.shuffle(a, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));
    v128.store(d, i8x16.shuffle(a, b, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), 16);
    v128.store(d, i8x16.shuffle(ah, bh, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23), 32);
    v128.store(d, i8x16.shuffle(ah, bh, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), 48);
  }
}

/**
 * Stage one 32-row tile of native row-major I2_S bytes for a superspan: nq * 16 bytes (nq = 2 or 4: 32 or 64 groups)
 * of each row at src (rows rowBytes apart) go to dst span-major: span s (8 groups) of row i at dst + 256 s + 8 i. The
 * lookups then walk 256 consecutive bytes per tile and span, as the tiled layout's, instead of touching 32 rows' cache
 * lines (which pushed the tables out of L1).
 */
// @ts-ignore: decorator
@inline function stageI2STile(src: usize, rowBytes: usize, dst: usize, nq: u32, dense: bool): void {
  for (let i: usize = 0; i < 32; i++) {
    const d = dst + (i << 3);
    let v0 = v128.load(src);
    let v1 = v128.load(src, 16);
    if (dense) {
      v0 = denseIndex(v0);
      v1 = denseIndex(v1);
    }
    v128.store64_lane(d, v0, 0);
    v128.store64_lane(d, v0, 1, 256);
    v128.store64_lane(d, v1, 0, 512);
    v128.store64_lane(d, v1, 1, 768);
    if (nq > 2) {
      let v2 = v128.load(src, 32);
      let v3 = v128.load(src, 48);
      if (dense) {
        v2 = denseIndex(v2);
        v3 = denseIndex(v3);
      }
      v128.store64_lane(d, v2, 0, 1024);
      v128.store64_lane(d, v2, 1, 1280);
      v128.store64_lane(d, v3, 0, 1536);
      v128.store64_lane(d, v3, 1, 1792);
    }
    src += rowBytes;
  }
}

/**
 * The dense table index c0 + 3 c1 + 9 c2 + 27 c3 (0..80) of 16 weight bytes c0 | c1 << 2 | c2 << 4 | c3 << 6 with codes
 * 0..2 (Wide32's tables without code 3): one nibble lookup per half.
 */
// @ts-ignore: decorator
@inline function denseIndex(v: v128): v128 {
  const lo = v128.and(v, i8x16.splat(15));
  const hi = i8x16.shr_u(v, 4);
  return i8x16.add(
    i8x16.swizzle(i8x16(0, 1, 2, 0, 3, 4, 5, 0, 6, 7, 8, 0, 0, 0, 0, 0), lo),
    i8x16.swizzle(i8x16(0, 9, 18, 0, 27, 36, 45, 0, 54, 63, 72, 0, 0, 0, 0, 0), hi),
  );
}

/**
 * Stage a tiled tile's bytes of nGroups groups (32 per group, contiguous) for Wide32, as dense indices unless not
 * `dense`: group g of row i at dst + 32 g + i, as in the tiles.
 */
// @ts-ignore: decorator
@inline function stageTiledTile(src: usize, dst: usize, nGroups: u32, dense: bool): void {
  const n = <usize>nGroups << 5;
  for (let i: usize = 0; i < n; i += 32) {
    let v0 = v128.load(src + i);
    let v1 = v128.load(src + i, 16);
    if (dense) {
      v0 = denseIndex(v0);
      v1 = denseIndex(v1);
    }
    v128.store(dst + i, v0);
    v128.store(dst + i, v1, 16);
  }
}

/**
 * Wide32 lookups of one row over a span of 4 groups: weight bytes (staged) at wp, wp + gs, ...; 4 v128 of 8 tokens per
 * entry; adds to the 32 tokens' i16 partial sums at part. Offsets are load immediates.
 */
// @ts-ignore: decorator
@inline function rowSpan4W32(wp: usize, tab: usize, part: usize, gs: usize): void {
  const tb = GEMM_WIDE32_TABLE_BYTES;
  const e0 = tab + (<usize>load<u8>(wp) << 6);
  const e1 = tab + (<usize>load<u8>(wp + gs) << 6);
  const e2 = tab + (<usize>load<u8>(wp + 2 * gs) << 6);
  const e3 = tab + (<usize>load<u8>(wp + 3 * gs) << 6);
  v128.store(part, i16x8.add(v128.load(part), i16x8.add(i16x8.add(v128.load(e0), v128.load(e1, tb)), i16x8.add(v128.load(e2, 2 * tb), v128.load(e3, 3 * tb)))));
  v128.store(part, i16x8.add(v128.load(part, 16), i16x8.add(i16x8.add(v128.load(e0, 16), v128.load(e1, tb + 16)), i16x8.add(v128.load(e2, 2 * tb + 16), v128.load(e3, 3 * tb + 16)))), 16);
  v128.store(part, i16x8.add(v128.load(part, 32), i16x8.add(i16x8.add(v128.load(e0, 32), v128.load(e1, tb + 32)), i16x8.add(v128.load(e2, 2 * tb + 32), v128.load(e3, 3 * tb + 32)))), 32);
  v128.store(part, i16x8.add(v128.load(part, 48), i16x8.add(i16x8.add(v128.load(e0, 48), v128.load(e1, tb + 48)), i16x8.add(v128.load(e2, 2 * tb + 48), v128.load(e3, 3 * tb + 48)))), 48);
}

/** rowSpan4W32 over 8 groups. */
// @ts-ignore: decorator
@inline function rowSpan8W32(wp: usize, tab: usize, part: usize, gs: usize): void {
  const tb = GEMM_WIDE32_TABLE_BYTES;
  const e0 = tab + (<usize>load<u8>(wp) << 6);
  const e1 = tab + (<usize>load<u8>(wp + gs) << 6);
  const e2 = tab + (<usize>load<u8>(wp + 2 * gs) << 6);
  const e3 = tab + (<usize>load<u8>(wp + 3 * gs) << 6);
  const f0 = tab + 4 * tb + (<usize>load<u8>(wp + 4 * gs) << 6);
  const f1 = tab + 4 * tb + (<usize>load<u8>(wp + 5 * gs) << 6);
  const f2 = tab + 4 * tb + (<usize>load<u8>(wp + 6 * gs) << 6);
  const f3 = tab + 4 * tb + (<usize>load<u8>(wp + 7 * gs) << 6);
  v128.store(part, i16x8.add(v128.load(part), i16x8.add(
    i16x8.add(i16x8.add(v128.load(e0), v128.load(e1, tb)), i16x8.add(v128.load(e2, 2 * tb), v128.load(e3, 3 * tb))),
    i16x8.add(i16x8.add(v128.load(f0), v128.load(f1, tb)), i16x8.add(v128.load(f2, 2 * tb), v128.load(f3, 3 * tb))))));
  v128.store(part, i16x8.add(v128.load(part, 16), i16x8.add(
    i16x8.add(i16x8.add(v128.load(e0, 16), v128.load(e1, tb + 16)), i16x8.add(v128.load(e2, 2 * tb + 16), v128.load(e3, 3 * tb + 16))),
    i16x8.add(i16x8.add(v128.load(f0, 16), v128.load(f1, tb + 16)), i16x8.add(v128.load(f2, 2 * tb + 16), v128.load(f3, 3 * tb + 16))))), 16);
  v128.store(part, i16x8.add(v128.load(part, 32), i16x8.add(
    i16x8.add(i16x8.add(v128.load(e0, 32), v128.load(e1, tb + 32)), i16x8.add(v128.load(e2, 2 * tb + 32), v128.load(e3, 3 * tb + 32))),
    i16x8.add(i16x8.add(v128.load(f0, 32), v128.load(f1, tb + 32)), i16x8.add(v128.load(f2, 2 * tb + 32), v128.load(f3, 3 * tb + 32))))), 32);
  v128.store(part, i16x8.add(v128.load(part, 48), i16x8.add(
    i16x8.add(i16x8.add(v128.load(e0, 48), v128.load(e1, tb + 48)), i16x8.add(v128.load(e2, 2 * tb + 48), v128.load(e3, 3 * tb + 48))),
    i16x8.add(i16x8.add(v128.load(f0, 48), v128.load(f1, tb + 48)), i16x8.add(v128.load(f2, 2 * tb + 48), v128.load(f3, 3 * tb + 48))))), 48);
}

/** rowSpan4W32 for a partial span of n < 4 groups. */
// @ts-ignore: decorator
@inline function rowSpanTailW32(wp: usize, tab: usize, n: u32, part: usize, gs: usize): void {
  let a0 = v128.load(part);
  let a1 = v128.load(part, 16);
  let a2 = v128.load(part, 32);
  let a3 = v128.load(part, 48);
  for (let g: u32 = 0; g < n; g++) {
    const e = tab + <usize>g * GEMM_WIDE32_TABLE_BYTES + (<usize>load<u8>(wp + <usize>g * gs) << 6);
    a0 = i16x8.add(a0, v128.load(e));
    a1 = i16x8.add(a1, v128.load(e, 16));
    a2 = i16x8.add(a2, v128.load(e, 32));
    a3 = i16x8.add(a3, v128.load(e, 48));
  }
  v128.store(part, a0);
  v128.store(part, a1, 16);
  v128.store(part, a2, 32);
  v128.store(part, a3, 48);
}

/**
 * The sum of the table entries e0..e3 of 4 consecutive groups (tables tableBytes<L>() apart), tokens 0-7 (quadLo) or
 * 8-15 (quadHi). The half and the table offsets are load immediates (they must be literal constants), no address adds.
 */
// @ts-ignore: decorator
@inline function quadLo<L>(e0: usize, e1: usize, e2: usize, e3: usize): v128 {
  return i16x8.add(
    i16x8.add(v128.load(e0), v128.load(e1, tableBytes<L>())),
    i16x8.add(v128.load(e2, 2 * tableBytes<L>()), v128.load(e3, 3 * tableBytes<L>())),
  );
}

// @ts-ignore: decorator
@inline function quadHi<L>(e0: usize, e1: usize, e2: usize, e3: usize): v128 {
  return i16x8.add(
    i16x8.add(v128.load(e0, 16), v128.load(e1, 16 + tableBytes<L>())),
    i16x8.add(v128.load(e2, 16 + 2 * tableBytes<L>()), v128.load(e3, 16 + 3 * tableBytes<L>())),
  );
}

/**
 * Lookups of one tile row over a full span (GEMM_SPAN_GROUPS = 8 groups): weight bytes at wp, wp + gs, ... (gs = 32
 * tiled, 1 row-major: a constant, so the offsets are immediates), tables at tab, tab + GEMM_TABLE_BYTES, ...; adds to
 * the 16 tokens' i16 partial sums at part.
 */
// @ts-ignore: decorator
@inline function rowSpan8<L>(wp: usize, tab: usize, part: usize, gs: usize): void {
  const es = entryShift<L>();
  const tb = tableBytes<L>();
  const e0 = tab + (<usize>load<u8>(wp) << es);
  const e1 = tab + (<usize>load<u8>(wp + gs) << es);
  const e2 = tab + (<usize>load<u8>(wp + 2 * gs) << es);
  const e3 = tab + (<usize>load<u8>(wp + 3 * gs) << es);
  const f0 = tab + 4 * tb + (<usize>load<u8>(wp + 4 * gs) << es);
  const f1 = tab + 4 * tb + (<usize>load<u8>(wp + 5 * gs) << es);
  const f2 = tab + 4 * tb + (<usize>load<u8>(wp + 6 * gs) << es);
  const f3 = tab + 4 * tb + (<usize>load<u8>(wp + 7 * gs) << es);
  v128.store(part, i16x8.add(v128.load(part), i16x8.add(quadLo<L>(e0, e1, e2, e3), quadLo<L>(f0, f1, f2, f3))));
  if (sizeof<L>() == 8) v128.store(part, i16x8.add(v128.load(part, 16), i16x8.add(quadHi<L>(e0, e1, e2, e3), quadHi<L>(f0, f1, f2, f3))), 16);
}

/**
 * Narrow: the table entry addresses of one tile's 32 rows over a full span, staged at st as u32 (the lookups then take a
 * load each instead of a movzx, shl and add). Native row-major I2_S (rowMajor; row i's 8 bytes at wp + i * rowBytes):
 * row i's 8 addresses at st + 32 i; tiled (32 bytes per group, byte i for row i): groups j and j + 1 (j even) as pairs,
 * row i's at st + 128 j + 8 i. Tables at tp + j * GEMM_NARROW_TABLE_BYTES.
 */
// @ts-ignore: decorator
@inline function stageNarrowAddresses(wp: usize, rowBytes: usize, tp: usize, st: usize, rowMajor: bool): void {
  const tpv = i32x4.splat(<i32>tp);
  if (rowMajor) {
    const blo = i32x4.add(tpv, i32x4(0, NARROW_TB, 2 * NARROW_TB, 3 * NARROW_TB));
    const bhi = i32x4.add(tpv, i32x4(4 * NARROW_TB, 5 * NARROW_TB, 6 * NARROW_TB, 7 * NARROW_TB));
    for (let i: usize = 0; i < 32; i++) {
      const e = i16x8.shl(i16x8.extend_low_i8x16_u(v128.load64_zero(wp)), 4);
      v128.store(st, i32x4.add(i32x4.extend_low_i16x8_u(e), blo));
      v128.store(st, i32x4.add(i32x4.extend_high_i16x8_u(e), bhi), 16);
      wp += rowBytes;
      st += 32;
    }
  } else {
    // groups j, j + 1 (j even) interleaved: row i's pair at st + 128 j + 8 i
    for (let j: i32 = 0; j < 8; j += 2) {
      const base = i32x4.add(tpv, i32x4.splat(j * NARROW_TB));
      const base1 = i32x4.add(base, i32x4.splat(NARROW_TB));
      for (let h: usize = 0; h < 32; h += 16) {
        const a = v128.load(wp + h);
        const b = v128.load(wp + h, 32);
        const a0 = i16x8.shl(i16x8.extend_low_i8x16_u(a), 4);
        const a1 = i16x8.shl(i16x8.extend_high_i8x16_u(a), 4);
        const b0 = i16x8.shl(i16x8.extend_low_i8x16_u(b), 4);
        const b1 = i16x8.shl(i16x8.extend_high_i8x16_u(b), 4);
        const p = st + (h << 3);
        stagePairs(p, i32x4.add(i32x4.extend_low_i16x8_u(a0), base), i32x4.add(i32x4.extend_low_i16x8_u(b0), base1));
        stagePairs(p + 32, i32x4.add(i32x4.extend_high_i16x8_u(a0), base), i32x4.add(i32x4.extend_high_i16x8_u(b0), base1));
        stagePairs(p + 64, i32x4.add(i32x4.extend_low_i16x8_u(a1), base), i32x4.add(i32x4.extend_low_i16x8_u(b1), base1));
        stagePairs(p + 96, i32x4.add(i32x4.extend_high_i16x8_u(a1), base), i32x4.add(i32x4.extend_high_i16x8_u(b1), base1));
      }
      wp += 64;
      st += 256;
    }
  }
}

/** Four rows' addresses of two groups (a: group j, b: group j + 1) as pairs (a_i, b_i) at p + 8 i. */
// @ts-ignore: decorator
@inline function stagePairs(p: usize, a: v128, b: v128): void {
  v128.store(p, i8x16.shuffle(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23));
  v128.store(p, i8x16.shuffle(a, b, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31), 16);
}

/**
 * Narrow: the lookups of one row over a full span, its 8 staged entry addresses (stageNarrowAddresses) read as four u64
 * of two at sp, sp + ps, ... (ps 8 row-major, 256 tiled): one load per two lookups. A load per lookup (u32) was ~6%
 * slower: the loop is bound by its loads more than by its instructions (16-group spans, fewer instructions, no faster).
 */
// @ts-ignore: decorator
@inline function rowSpan8StagedPairs(sp: usize, part: usize, ps: usize): void {
  const a01 = load<u64>(sp);
  const a23 = load<u64>(sp + ps);
  const a45 = load<u64>(sp + 2 * ps);
  const a67 = load<u64>(sp + 3 * ps);
  const s0 = i16x8.add(
    i16x8.add(v128.load(<usize>(<u32>a01)), v128.load(<usize>(<u32>(a01 >> 32)))),
    i16x8.add(v128.load(<usize>(<u32>a23)), v128.load(<usize>(<u32>(a23 >> 32)))),
  );
  const s1 = i16x8.add(
    i16x8.add(v128.load(<usize>(<u32>a45)), v128.load(<usize>(<u32>(a45 >> 32)))),
    i16x8.add(v128.load(<usize>(<u32>a67)), v128.load(<usize>(<u32>(a67 >> 32)))),
  );
  v128.store(part, i16x8.add(v128.load(part), i16x8.add(s0, s1)));
}

/** rowSpan8 for a partial span of n < GEMM_SPAN_GROUPS groups. */
// @ts-ignore: decorator
@inline function rowSpanTail<L>(wp: usize, tab: usize, n: u32, part: usize, gs: usize): void {
  const wide = sizeof<L>() == 8;
  let a0 = v128.load(part);
  let a1 = wide ? v128.load(part, 16) : a0;
  for (let g: u32 = 0; g < n; g++) {
    const e = tab + <usize>g * tableBytes<L>() + (<usize>load<u8>(wp + <usize>g * gs) << entryShift<L>());
    a0 = i16x8.add(a0, v128.load(e));
    if (wide) a1 = i16x8.add(a1, v128.load(e, 16));
  }
  v128.store(part, a0);
  if (wide) v128.store(part, a1, 16);
}

/**
 * Widen the 32 rows' i16 partial sums (2^entryShift bytes each) into i32 sums at dst (twice that per row; added
 * unless `first`) and zero them.
 */
// @ts-ignore: decorator
@inline function flushPartials<L>(part: usize, dst: usize, first: bool): void {
  const z = i16x8.splat(0);
  for (let i: usize = 0; i < 32; i++) {
    const p0 = part + (i << entryShift<L>());
    const d0 = dst + (i << (entryShift<L>() + 1));
    for (let h: usize = 0; h < <usize>(lanes<L>() >> 3); h++) {
      const p = p0 + (h << 4);
      const d = d0 + (h << 5);
      const a0 = v128.load(p);
      let s0 = i32x4.extend_low_i16x8_s(a0);
      let s1 = i32x4.extend_high_i16x8_s(a0);
      if (!first) {
        s0 = i32x4.add(s0, v128.load(d));
        s1 = i32x4.add(s1, v128.load(d, 16));
      }
      v128.store(d, s0);
      v128.store(d, s1, 16);
      v128.store(p, z);
    }
  }
}

/** sums[i][t] += d_i * (f64(idot[i][t]) * a[t]) for the 32 rows and the width's tokens (d_i = 1 when ds is 0). */
// @ts-ignore: decorator
@inline function foldBlock<L>(idot: usize, sums: usize, a: usize, ds: usize): void {
  for (let i: usize = 0; i < 32; i++) {
    const d = ds != 0 ? <f64>f16ToF32(load<u16>(ds + (i << 1))) : 1.0;
    const d2 = f64x2.splat(d);
    const ip = idot + (i << (entryShift<L>() + 1));
    const sp = sums + (i << (entryShift<L>() + 2));
    for (let t: usize = 0; t < <usize>lanes<L>(); t += 4) {
      const v = v128.load(ip + (t << 2));
      const vh = i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
      let lo = f64x2.mul(f64x2.convert_low_i32x4_s(v), v128.load(a + (t << 3)));
      let hi = f64x2.mul(f64x2.convert_low_i32x4_s(vh), v128.load(a + (t << 3), 16));
      if (ds != 0) {
        lo = f64x2.mul(d2, lo);
        hi = f64x2.mul(d2, hi);
      }
      v128.store(sp + (t << 3), f64x2.add(v128.load(sp + (t << 3)), lo));
      v128.store(sp + (t << 3), f64x2.add(v128.load(sp + (t << 3), 16), hi), 16);
    }
  }
}

/**
 * Job body for I2_S (isTQ2 false) or TQ2_0 (true) weights: rows [start, end) for up to lanes<L>() tokens of int8 activations
 * at ARG_X. The whole tiles below ARG_TILED_ROWS go through tables this thread builds (the glue gives each thread one
 * chunk): per superspan of 64 groups (tables in L2), per block of GEMM_BLOCK_TILES tiles, per span of
 * GEMM_SPAN_GROUPS groups (tables in L1), every row of the block. Other rows go through the per-token kernels.
 * Tokens [t0, t0 + lanes) of the job's (a pass of a multi-pass job, gemmPassRows); the other rows' per-token kernels
 * take all of the job's tokens, so only the pass t0 = 0 runs them.
 */
// @ts-ignore: decorator
@inline function gemmRows<L>(job: usize, start: u32, end: u32, thread: u32, isTQ2: bool, t0: u32): void {
  const es = entryShift<L>(); // a row's i16 partials: 1 << es bytes; its i32 sums twice that, its f64 sums four times
  const tb = tableBytes<L>();
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const out = argPtr(job, ARG_OUT) + ((<usize>t0 * outStride) << 2);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const info = argPtr(job, ARG_AUX) + (<usize>t0 << 4);
  const nTokens = min(argU32(job, ARG_N_TOKENS) - t0, lanes<L>());
  const scale = argF64(job, ARG_SCALE);
  const wscale = argF64(job, ARG_WSCALE);
  const q8k = argU32(job, ARG_ACT_QUANT) != 0;
  const ascalesStride = <usize>argU32(job, ARG_ASCALES_STRIDE);
  const ascales = argPtr(job, ARG_ASCALES) + <usize>t0 * ascalesStride;
  const uniform = isTQ2 && !q8k && argU32(job, ARG_UNIFORM) != 0;
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const x = argPtr(job, ARG_X) + <usize>t0 * xStride;
  const tiledRows = argU32(job, ARG_TILED_ROWS);
  const full = (argU32(job, ARG_VARIANT) & 1) != 0;
  // I2_S in the native row-major layout (relaxed SIMD, matmul-i2s-dot.ts): tile row i of tile k is weight row 32k + i,
  // a row's group bytes are consecutive, and the activations are permuted per 128-column block (permuteI2SBlock)
  // TQ2_0 in matmul-tq2-dot.ts's dot layout (relaxed SIMD) is row-major too: its codes in I2_S's byte order, cols / 4
  // bytes per row, the scales after all the codes (a tile's 32 of block b at 64 b of the tile's part)
  const rowMajor = argU32(job, ARG_ROW_MAJOR) != 0;
  // native I2_S in column panels (matmul-i2s-dot.ts): every whole tile (ARG_PANEL_ROWS = the tiled rows then)
  const panels = rowMajor && !isTQ2 && argU32(job, ARG_PANEL_ROWS) != 0;
  const tiledEnd = min(end, tiledRows);
  const nTiles = tiledEnd > start ? (tiledEnd - start) >> 5 : 0;
  const nRows = <usize>nTiles << 5;
  // per-thread scratch: the tables of one superspan (64 groups), i16 partials (2 B per row and lane: 32 B per row
  // Wide), i32 sums (4 B per row and lane) or f64 sums (8 B), i32 fold block sums (4 B), an f64 scale per lane, the
  // lanes' permuted activations of one superspan (256 B each, rowMajor only), the staged weights of a block (2 KiB per
  // tile; not Narrow). index.ts gemmScratchBytes sizes it.
  const scratch = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  const tab = scratch;
  const part = tab + 64 * tb;
  const acc = part + (nRows << es);
  const sums = acc; // folds use f64 sums instead of i32 sums
  const blk = acc + (nRows << (es + 2)); // folds: i32 sums of the current fold block
  const a = blk + (nRows << (es + 1));
  const xperm = a + (<usize>lanes<L>() << 3);
  const stage = xperm + (<usize>lanes<L>() << 8);
  const w32 = sizeof<L>() == 16;
  // native row-major I2_S weights are staged per block and superspan for 16 and 32 lanes (not Narrow)
  const staged = sizeof<L>() >= 8;
  const nGroups = cols >> 2;
  const rowBytes: usize = isTQ2 ? <usize>(cols >> 8) * 66 : <usize>(cols >> 2);
  const tileBytes = rowBytes << 5;
  // integer accumulation over the whole row, or float folds per block (I2_S: 128 columns, TQ2_0: 256)
  const folds = isTQ2 ? !uniform : q8k;
  const foldGroups: u32 = isTQ2 ? 64 : 32;
  // i16 partial sums hold at most 64 entries of <= 508 (32 of <= 1016 with code 3), and flush at least at each fold
  const flushGroups: u32 = min(full ? 32 : 64, folds ? foldGroups : 64);
  if (nTiles > 0) {
    const w0 = w + <usize>start * rowBytes;
    // row-major codes (native I2_S, TQ2_0's dot layout): the tile's first row and the bytes between tiles; TQ2_0's
    // scales of the job's first tile (matmul-tq2-dot.ts: after the dot layout's codes, 32 per tile and block)
    const cw0 = w + <usize>start * <usize>(cols >> 2);
    const cTile = <usize>(cols >> 2) << 5;
    const dq0 = w + <usize>argU32(job, ARG_TILED_ROWS) * <usize>(cols >> 2) + <usize>(start >> 5) * (<usize>(cols >> 8) << 6);
    const z = i16x8.splat(0);
    for (let i: usize = 0; i < (nRows << es); i += 16) v128.store(part + i, z);
    if (folds) for (let i: usize = 0; i < (nRows << (es + 2)); i += 16) v128.store(sums + i, z);
    // superspans of 64 groups: this thread builds their tables (~220 KiB touched), which stay in its L2 while every
    // block of rows uses them (tables built by another core cost more to fetch than to build)
    for (let s0: u32 = 0; s0 < nGroups; s0 += 64) {
      const sEnd = min(s0 + 64, nGroups);
      // native row-major I2_S: the superspan's byte in a tile's first row and the bytes between its rows; in column
      // panels (matmul-i2s-dot.ts: the tiles are its groups, and a superspan of 256 columns never straddles a panel)
      // the panel's piece of each row
      let spanOff: usize = <usize>s0;
      let rowStride: usize = rowMajor ? <usize>(cols >> 2) : rowBytes;
      if (panels) {
        const p0 = s0 / (I2S_PANEL_COLS >> 2) * (I2S_PANEL_COLS >> 2); // the panel's first group (4 columns each)
        rowStride = <usize>min(I2S_PANEL_COLS >> 2, nGroups - p0);
        spanOff = (<usize>p0 << 5) + <usize>(s0 - p0);
      }
      if (rowMajor) {
        // superspans are whole 128-column blocks here (cols % 128 == 0): 2 blocks per token at most
        for (let t: u32 = 0; t < nTokens; t++) {
          for (let g = s0; g < sEnd; g += 32) permuteI2SBlock(x + <usize>t * xStride + (<usize>g << 2), xperm + (<usize>t << 8) + (<usize>(g - s0) << 2));
        }
        buildTables<L>(xperm, 256, nTokens, s0, sEnd, tab, full, s0);
      } else {
        buildTables<L>(x, xStride, nTokens, s0, sEnd, tab, full, 0);
      }
      for (let kb: u32 = 0; kb < nTiles; kb += blockTiles<L>()) {
        const kEnd = min(nTiles, kb + blockTiles<L>());
        if (rowMajor && staged) {
          // the block's bytes of this superspan, staged span-major as the tiled layout's (stageI2STile); Wide32: as
          // dense table indices unless code 3
          for (let k = kb; k < kEnd; k++) stageI2STile(cw0 + <usize>k * cTile + spanOff, rowStride, stage + (<usize>(k - kb) << 11), (sEnd - s0) >> 4, w32 && !full);
        } else if (w32) {
          // Wide32, tiled: the tiles' bytes of this superspan (contiguous), as dense table indices unless code 3
          const sOff = isTQ2 ? <usize>(s0 >> 6) * TQ2_TILE_BLOCK_BYTES : <usize>s0 << 5;
          for (let k = kb; k < kEnd; k++) stageTiledTile(w0 + <usize>k * tileBytes + sOff, stage + (<usize>(k - kb) << 11), sEnd - s0, !full);
        }
        for (let g0 = s0; g0 < sEnd; g0 += spanGroups<L>()) {
          const n = min(spanGroups<L>(), sEnd - g0);
          const gOff = rowMajor ? spanOff + <usize>(g0 - s0) : isTQ2 ? <usize>(g0 >> 6) * TQ2_TILE_BLOCK_BYTES + (<usize>(g0 & 63) << 5) : <usize>g0 << 5;
          const tp = tab + <usize>(g0 - s0) * tb;
          for (let k = kb; k < kEnd; k++) {
            let wp = (rowMajor ? cw0 + <usize>k * cTile : w0 + <usize>k * tileBytes) + gOff;
            const pb: usize = 1 << es; // bytes of one row's partials
            let pp = part + (<usize>k << (es + 5));
            const ppEnd = pp + (pb << 5);
            if (w32) {
              if (rowMajor) {
                // staged span-major: 8 bytes per row and span of 8 groups (spans are always full here)
                wp = stage + (<usize>(k - kb) << 11) + (<usize>((g0 - s0) >> 3) << 8) + <usize>((g0 - s0) & 4);
                for (; pp < ppEnd; pp += pb) {
                  if (GEMM_WIDE32_SPAN_GROUPS == 8) rowSpan8W32(wp, tp, pp, 1);
                  else rowSpan4W32(wp, tp, pp, 1);
                  wp += 8;
                }
              } else {
                // staged as the tiles: 32 bytes per group
                wp = stage + (<usize>(k - kb) << 11) + (<usize>(g0 - s0) << 5);
                if (n == GEMM_WIDE32_SPAN_GROUPS) {
                  for (; pp < ppEnd; pp += pb) {
                    if (GEMM_WIDE32_SPAN_GROUPS == 8) rowSpan8W32(wp, tp, pp, 32);
                    else rowSpan4W32(wp, tp, pp, 32);
                    wp++;
                  }
                } else {
                  for (; pp < ppEnd; pp += pb) {
                    rowSpanTailW32(wp, tp, n, pp, 32);
                    wp++;
                  }
                }
              }
            } else if (rowMajor && staged) {
              // staged: the tile's 32 rows of this span, 8 bytes each (superspans are whole 128-column blocks, so
              // spans are always full)
              wp = stage + (<usize>(k - kb) << 11) + (<usize>(g0 - s0) << 5);
              for (; pp < ppEnd; pp += pb) {
                rowSpan8<L>(wp, tp, pp, 1);
                wp += GEMM_SPAN_GROUPS;
              }
            } else if (sizeof<L>() == 4 && n == GEMM_SPAN_GROUPS) {
              // Narrow: the rows' bytes read in place (staging them cost more than it saved at 8 tokens) into the
              // tile's entry addresses (stageNarrowAddresses), then the lookups
              stageNarrowAddresses(wp, rowStride, tp, stage, rowMajor);
              let sp = stage;
              for (; pp < ppEnd; pp += pb) {
                if (rowMajor) {
                  rowSpan8StagedPairs(sp, pp, 8);
                  sp += 32;
                } else {
                  rowSpan8StagedPairs(sp, pp, 256);
                  sp += 8;
                }
              }
            } else if (n == GEMM_SPAN_GROUPS) {
              for (; pp < ppEnd; pp += pb) {
                rowSpan8<L>(wp, tp, pp, 32);
                wp++;
              }
            } else {
              for (; pp < ppEnd; pp += pb) {
                rowSpanTail<L>(wp, tp, n, pp, 32);
                wp++;
              }
            }
          }
          const g1 = g0 + n;
          if (g1 % flushGroups != 0 && g1 < nGroups) continue;
          const flushStart = (g1 - 1) / flushGroups * flushGroups; // first group of this flush block
          if (folds) {
            const b = flushStart / foldGroups; // fold block index
            for (let k = kb; k < kEnd; k++) flushPartials<L>(part + (<usize>k << (es + 5)), blk + (<usize>k << (es + 6)), flushStart % foldGroups == 0);
            if (g1 % foldGroups != 0 && g1 < nGroups) continue;
            const sb = isTQ2 ? b : b >> 1; // the 256-column activation block
            for (let t: u32 = 0; t < lanes<L>(); t++) {
              store<f64>(a + (<usize>t << 3), q8k && t < nTokens ? load<f64>(ascales + <usize>t * ascalesStride + (<usize>sb << 3)) : 1.0);
            }
            for (let k = kb; k < kEnd; k++) {
              const dq: usize = !isTQ2 ? 0 : rowMajor ? dq0 + <usize>k * (<usize>(cols >> 8) << 6) + (<usize>b << 6) : w0 + <usize>k * tileBytes + <usize>b * TQ2_TILE_BLOCK_BYTES + 2048;
              foldBlock<L>(blk + (<usize>k << (es + 6)), sums + (<usize>k << (es + 7)), a, dq);
            }
          } else {
            for (let k = kb; k < kEnd; k++) flushPartials<L>(part + (<usize>k << (es + 5)), acc + (<usize>k << (es + 6)), flushStart == 0);
          }
        }
      }
    }
    for (let t: u32 = 0; t < nTokens; t++) {
      const o = out + ((<usize>t * outStride + start) << 2);
      const s = load<f32>(info + (<usize>t << 4));
      for (let i: usize = 0; i < nRows; i++) {
        let y: f32;
        if (!folds) y = finishTernary(wscale * <f64>load<i32>(acc + (i << (es + 1)) + (<usize>t << 2)), s, scale);
        else if (q8k) y = finishQ8K(isTQ2 ? load<f64>(sums + (i << (es + 2)) + (<usize>t << 3)) : wscale * load<f64>(sums + (i << (es + 2)) + (<usize>t << 3)), scale);
        else y = finishTernary(load<f64>(sums + (i << (es + 2)) + (<usize>t << 3)), s, scale);
        store<f32>(o + (i << 2), y);
      }
    }
  }
  if (t0 == 0) for (let r = max(start, tiledEnd); r < end; r++) {
    if (isTQ2) tq2UntiledRow(job, r);
    else i2sUntiledRow(job, r);
  }
}

/**
 * A job of one or several passes: rows [start, end) of pass p = start / ARG_ROWS (tokens 32p..32p + 31 of the job's
 * ARG_N_TOKENS). With several passes the glue makes each chunk one whole pass (ARG_ROWS rows), so that on 2 threads
 * each thread builds the tables of its own passes only instead of both building every pass's tables for half the rows;
 * with one pass (totalRows = ARG_ROWS) it is the one-pass row split.
 */
// @ts-ignore: decorator
@inline function gemmPassRows<L>(job: usize, start: u32, end: u32, thread: u32, isTQ2: bool): void {
  const rows = argU32(job, ARG_ROWS);
  const p = start / rows;
  gemmRows<L>(job, start - p * rows, end - p * rows, thread, isTQ2, p * lanes<L>());
}

export function gemmI2SRows(job: usize, start: u32, end: u32, thread: u32): void {
  gemmRows<Wide>(job, start, end, thread, false, 0);
}

export function gemmTQ2Rows(job: usize, start: u32, end: u32, thread: u32): void {
  gemmRows<Wide>(job, start, end, thread, true, 0);
}

/** The 32-lane GEMM (up to GEMM_WIDE32_TOKENS tokens per pass), I2_S. */
export function gemmWide32I2SRows(job: usize, start: u32, end: u32, thread: u32): void {
  gemmPassRows<Wide32>(job, start, end, thread, false);
}

/** The 32-lane GEMM, TQ2_0. */
export function gemmWide32TQ2Rows(job: usize, start: u32, end: u32, thread: u32): void {
  gemmPassRows<Wide32>(job, start, end, thread, true);
}

/** The Narrow GEMM (up to GEMM_NARROW_TOKENS tokens per pass), I2_S. */
export function gemmNarrowI2SRows(job: usize, start: u32, end: u32, thread: u32): void {
  gemmRows<Narrow>(job, start, end, thread, false, 0);
}

/** The Narrow GEMM, TQ2_0. */
export function gemmNarrowTQ2Rows(job: usize, start: u32, end: u32, thread: u32): void {
  gemmRows<Narrow>(job, start, end, thread, true, 0);
}

/** 1 when any 2-bit field of the first codeBytes bytes of each blockBytes-byte block in [p, p + nBytes) is 3. */
export function hasCode3(p: usize, nBytes: u32, blockBytes: u32, codeBytes: u32): u32 {
  let any = i32x4.splat(0);
  const m = i8x16.splat(0x55);
  for (let b: usize = 0; b + <usize>blockBytes <= <usize>nBytes; b += blockBytes) {
    let i: u32 = 0;
    for (; i + 16 <= codeBytes; i += 16) {
      const v = v128.load(p + b + i);
      any = v128.or(any, v128.and(v128.and(v, i16x8.shr_u(v, 1)), m));
    }
    for (; i < codeBytes; i++) {
      const v = <u32>load<u8>(p + b + i);
      if ((v & (v >> 1) & 0x55) != 0) return 1;
    }
  }
  return v128.any_true(any) ? 1 : 0;
}
