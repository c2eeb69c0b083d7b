// Decode GEMV for I2_S weights kept in their native layout (relaxed-SIMD kernel set only): multiply-adds on the 2-bit
// codes instead of table lookups, two rows per pass sharing every activation load.
//
// I2_S layout (matmul-i2s.ts): blocks of 128 weights, 32 bytes; byte p holds weights p, 32+p, 64+p, 96+p at bit
// shifts 6, 4, 2, 0 (code 0, 1, 2 = -1, 0, +1). One 16-bit shift by 4 per 16 code bytes brings the shift-4 / shift-6
// fields down to where the shift-0 / shift-2 fields are; the masks 0x03 and 0x0c then give codes (x1) and codes x4
// without a second shift. i16x8.relaxed_dot_i8x16_i7x16_s (x86 pmaddubsw) multiplies 16 codes by 16 int8
// activations and adds pairs. The x1 and x4 products go to their own i16 accumulators; the row's i32 sum is kept x4
// (4 x1 + x4), so one arithmetic shift at the end gives sum_c code[c] x[c] exactly. The activation sum (the -1 of
// code 0) is subtracted per row, as matmul-i2s.ts's callers do.
//
// Instruction scheduling, seen with node --print-wasm-code (TurboFan, x64 AVX): V8 unrolls small wasm loops, and
// TurboFan's scheduler issues every load of a basic block first (loads keep their order on the effect chain; the
// pure SIMD ops are placed late, next to their uses). The first version of this kernel (7c3a99d) looped over the
// four 16-byte groups of a 2-block pass with a constant trip count: one 354-instruction block, 24 loaded vectors
// live against V8's ~15 usable xmm registers, 89 spill loads and 86 spill stores per 512 weights. The second
// (bd18a00) wrote the groups out and ended each with four 16-byte stores of the i16 accumulators to scratch (a
// store is effectful, so it splits the block): 9 spill moves and 16 stores per pass. Now the barrier is a branch:
// the inner loop runs one block (two groups) per iteration with an exit test between its groups that never fires
// but that V8 cannot prove (wa == passLast), so each group is its own basic block, and the accumulators, live on
// that exit, are computed before it. Per group of 2 x 16 code bytes: 6 loads, 2 shifts, 8 ands, 8 relaxed dots
// (vpmaddubsw), 8 adds and 2-3 scalar ops, no spill (about 0.3 instructions per weight, two rows counted). The
// same loop compiled from C with clang 16 (the issue-13 probe, bench/README.md) reads ~12.7 GB/s per thread from cache
// with a touch-ahead; this function now reads ~13.2 from L2 against ~12.2 before (1024x2560, 1 thread, Node 22, min
// of 3000 calls: 52.4 against 58.3 us, less the fixed cost of a 2-row call, 2.8 against 4.7 us): the row pair's
// output rule runs on f64x2 lanes for both rows (one vdivpd instead of two scalar divides and their reloads) and the
// touch is one unused load inside the block loop instead of a loop of its own.
// What did not pay (measured the same way, and V8's code read): the 4 blocks of a pass written out as one loop body
// (TurboFan hoisted the activation loads of the unrolled body and spilled ~20 vectors: 23% slower); the pass loop
// folded into the block loop with a countdown (the pass accumulators moved through the stack every block: no gain);
// the pass's first block peeled so it sets the i16 accumulators instead of adding to zero (4% slower); a separate
// row loop for one token (3% slower). V8 does not fold a load into vpand / vpmaddubsw / vpsrlw (a load used once
// still costs its own vmovdqu), and i32x4.relaxed_dot_i8x16_i7x16_add_s is 5 instructions on this AVX-512-VNNI
// machine without AVX-VNNI (pmaddubsw, a ones constant, pmaddwd, paddd), so the i16 accumulators stay. Where V8
// lowers it to one vpdpbusd (V8 13.6+ with AVX-VNNI; the start-up probe self-check.ts relaxedDotLowering says so),
// rowPairDotsFused runs instead (ARG_VARIANT bit 2): the same sums on i32 accumulators, no passes.
// Throughput (microbenchmarks on this machine's Zen 4, ~3.7 GHz by a dependent-multiply chain, from L1): relaxed dots
// issue 2 per cycle, i16 adds 4; this loop alone runs ~8.2 cycles per 2 x 16 code bytes at best (~4.3 instructions
// per cycle) where its 26 SIMD ops would take 6.5 on 4 pipes: the instruction count, not one unit, bounds it.
// Memory-level parallelism: with that much work per byte the out-of-order window holds only ~3 cache lines of the
// weight stream, and wasm has no prefetch instruction. History: the row pair touched one byte per line of the pair two
// pairs ahead in its block loop (an unused load that may trap, so kept; 1 thread, DRAM, a loaded Zen 4: 9.7-10.3 GB/s
// per CPU-second with a touch, 4.7 without; 12-13 at best, bench/README.md). On an Intel Xeon (2 vCPUs) no touch
// distance helped: one thread read 6.1-6.9 GB/s from DRAM through the row pair, against 9.4-16 from L2. The rows now
// go four at a time, a quarter of the chunk apart (rowQuadDots: four weight streams, as the Q8_0 GEMV reads them),
// 9.1-11.8 GB/s there on one thread, and the touch is gone (with the streams apart it changed nothing or cost 3%).
//
// Long rows (column panels): past ~8192 columns the row's int8 activations no longer stay in L1 beside the row pair
// and the touched lines ahead. From DRAM, 1 thread, GB of weights per CPU-second (Node 22, 4096 rows, a 384 MiB ring):
// 2560 columns 10.5, 8192 11.1, 14336 (Llama3-8B's down projection) 6.9; from L2 all of them 9-11 (matmul-f16.ts has
// the same cliff and the probe that showed the cause). Such weights (more than I2S_PANEL_MIN_COLS columns, index.ts)
// are stored in column panels: in each group of I2S_PANEL_ROWS rows, the rows' first I2S_PANEL_COLS columns (their
// code bytes, row after row), then their next ones (the last panel takes the rest). Each pass over a panel reads 8 KiB
// of activations; a panel's piece of the group is read as four streams, rows i, i + 8, i + 16, i + 24 (panelRows,
// rowQuadDots). The integer partial sums of a row's panels are added in i32 (exact in any order), so the outputs are
// the row-major kernel's. A group's row i, column c (panel p = c / I2S_PANEL_COLS, pc its width): code byte
// (I2S_PANEL_ROWS * p * I2S_PANEL_COLS + i * pc) / 4 + the byte of column c - p * I2S_PANEL_COLS in a row of pc
// columns, from the group's start. The prefill GEMM (ternary-gemm.ts: its 32-row tiles are the groups, its
// superspans never straddle a panel), the multi-token dot kernel (gemm-i2s-dot.ts) and embed read the layout.
//
// Exactness: codes are at most 3 (hasCode3 files too), so the 7-bit operand is at most 12 (< 128: relaxed_dot is
// deterministic there), and the per-token activations are in [-128, 127] (quantize-activations.ts clamps them).
// One relaxed_dot lane adds two products, so no pmaddubsw saturation (|lane| <= 2 * 12 * 128 = 3072 < 32767). A pass
// sums each i16 accumulator over 2 relaxed dots per group, 8 groups (4 blocks) per pass, or 4 groups (2 blocks) where
// the weight holds code 3 (ARG_VARIANT: the exact scan of every code byte at prepareWeight, which the prefill GEMM's
// tables rely on too); a row's last pass may be shorter. Codes 0..2: an x4 lane is in [2 * 8 * -128, 2 * 8 * 127] =
// [-2048, 2032], 16 of them in [-32768, 32512]; an x1 lane in [-512, 508], 16 of them in [-8192, 8128], x4 (the
// shift before widening) [-32768, 32512]: both fit i16. With code 3: x4 lanes in [-3072, 3048], 8 of them in
// [-24576, 24384]; x1 lanes in [-768, 762], 8 of them x4 in [-24576, 24384]. The accumulators are then widened
// with i32x4.extadd_pairwise_i16x8_s. The i32 row sum is at most 4 * 3 * 128 * cols in magnitude: exact below
// cols = 2^31 / 1536 (~1.4M columns). The kernel tests drive the bounds: every code +1 (or 3) and equal
// activations of either sign.

import { dotAdd32, dotPairs16 } from './common';
import { C_03, C_0C, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_ACT_QUANT, ARG_AUX, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_PANEL_ROWS, ARG_SCALE, ARG_SCRATCH,
  ARG_SCRATCH_STRIDE, ARG_VARIANT, ARG_W, ARG_WSCALE, ARG_X, ARG_X_STRIDE,
} from './job';
import { i2sUntiledRow } from './matmul-i2s';

/** Rows per group of the column-panel layout (the header's long rows): the prefill GEMM's 32-row tile. */
export const I2S_PANEL_ROWS: u32 = 32;
/** Columns per panel (8 KiB of int8 activations); the last panel of a row takes what is left. */
export const I2S_PANEL_COLS: u32 = 7168;

/** acc + the pair sums of 16 activations xv times the codes (v & mask: x1 with 0x03, x4 with 0x0c). */
// @ts-ignore: decorator
@inline export function fieldDot(acc: v128, xv: v128, v: v128, mask: v128): v128 {
  return i16x8.add(acc, dotPairs16(xv, v128.and(v, mask)));
}

/** The i32x4 row sum plus the widened pass accumulators: 4 x1 + x4 per i32 lane pair. */
// @ts-ignore: decorator
@inline export function widen(acc: v128, x1: v128, x4: v128): v128 {
  return i32x4.add(acc, i32x4.add(i32x4.extadd_pairwise_i16x8_s(x4), i32x4.extadd_pairwise_i16x8_s(i16x8.shl(x1, 2))));
}

/**
 * Rows at wa and wb (first code byte of each) against one token's int8 activations at x, over nBlocks blocks:
 * 4 sum_c code[c] x[c] of row a in lane 0, of row b in lane 1. An iteration of the inner loop is one block: two
 * groups of 16 code bytes per row (bytes p..p+15 of the block: va, vb, and their copies shifted by 4, sa, sb),
 * written out so every offset is an immediate, with an exit test between them that never fires for whole blocks
 * but that V8 cannot prove so: it is the scheduling barrier of the file header. Used for the rows past a chunk's
 * whole quarters (rowQuadDots takes the rest).
 */
// @ts-ignore: decorator
@inline function rowPairDots4(wa: usize, wb: usize, x: usize, nBlocks: u32, passBytes: usize, m3: v128, mc: v128): v128 {
  let accA = i32x4.splat(0);
  let accB = i32x4.splat(0);
  const rowEnd = wa + (<usize>nBlocks << 5);
  while (wa < rowEnd) {
    // a pass of passBytes / 32 blocks (the i16 bound in the header), or what is left of the row
    const passEnd = min(wa + passBytes, rowEnd);
    const passLast = passEnd - 16;
    let a1 = i16x8.splat(0);
    let a4 = i16x8.splat(0);
    let b1 = i16x8.splat(0);
    let b4 = i16x8.splat(0);
    let va: v128, vb: v128, sa: v128, sb: v128, xv: v128;
    do {
      va = v128.load(wa);
      vb = v128.load(wb);
      sa = i16x8.shr_u(va, 4);
      sb = i16x8.shr_u(vb, 4);
      xv = v128.load(x, 96); // shift 0: weights 96 + p, x1
      a1 = fieldDot(a1, xv, va, m3);
      b1 = fieldDot(b1, xv, vb, m3);
      xv = v128.load(x, 64); // shift 2: weights 64 + p, x4
      a4 = fieldDot(a4, xv, va, mc);
      b4 = fieldDot(b4, xv, vb, mc);
      xv = v128.load(x, 32); // shift 4: weights 32 + p, x1
      a1 = fieldDot(a1, xv, sa, m3);
      b1 = fieldDot(b1, xv, sb, m3);
      xv = v128.load(x); // shift 6: weights p, x4
      a4 = fieldDot(a4, xv, sa, mc);
      b4 = fieldDot(b4, xv, sb, mc);
      if (wa == passLast) break; // the barrier: never taken (passes hold whole blocks)
      va = v128.load(wa, 16);
      vb = v128.load(wb, 16);
      sa = i16x8.shr_u(va, 4);
      sb = i16x8.shr_u(vb, 4);
      xv = v128.load(x, 112); // shift 0: weights 96 + p, x1
      a1 = fieldDot(a1, xv, va, m3);
      b1 = fieldDot(b1, xv, vb, m3);
      xv = v128.load(x, 80); // shift 2: weights 64 + p, x4
      a4 = fieldDot(a4, xv, va, mc);
      b4 = fieldDot(b4, xv, vb, mc);
      xv = v128.load(x, 48); // shift 4: weights 32 + p, x1
      a1 = fieldDot(a1, xv, sa, m3);
      b1 = fieldDot(b1, xv, sb, m3);
      xv = v128.load(x, 16); // shift 6: weights p, x4
      a4 = fieldDot(a4, xv, sa, mc);
      b4 = fieldDot(b4, xv, sb, mc);
      wa += 32;
      wb += 32;
      x += 128;
    } while (wa != passEnd);
    accA = widen(accA, a1, a4);
    accB = widen(accB, b1, b4);
  }
  return pairSums(accA, accB);
}

/** The lane sums of two i32x4 row sums: row a's in lane 0, row b's in lane 1. */
// @ts-ignore: decorator
@inline function pairSums(accA: v128, accB: v128): v128 {
  // lanes (0 + 1, 2 + 3) of each row, then the two rows' halves added
  const t = i32x4.add(
    i8x16.shuffle(accA, accB, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
    i8x16.shuffle(accA, accB, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31),
  );
  return i32x4.add(t, i8x16.shuffle(t, t, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
}

/**
 * rowPairDots4 on i32 accumulators (the fused kernel, ARG_VARIANT bit 2): each field's 16 codes go into
 * i32x4.relaxed_dot_i8x16_i7x16_add_s (common.ts dotAdd32: one vpdpbusd under AVX-VNNI), no i16 passes and no
 * widening. Eight accumulators, one per row and field (x1 / x4, the 16 bytes as loaded / shifted by 4): vpdpbusd has a
 * ~5-cycle latency, and with four (a chain of two dots per group each) the loop ran at the latency (1 thread, L2,
 * Node 24: 10.8 GB/s against 14.3 with eight and 10.3 for rowPairDots4). Live vectors: 8 accumulators, the two
 * masks, the row pair's 16 bytes (then shifted in place), one activation vector and one masked field: 14 of V8's 15.
 */
// @ts-ignore: decorator
@inline function rowPairDotsFused(wa: usize, wb: usize, x: usize, nBlocks: u32, m3: v128, mc: v128): v128 {
  const rowEnd = wa + (<usize>nBlocks << 5);
  const last = rowEnd - 16;
  let a1 = i32x4.splat(0);
  let a4 = i32x4.splat(0);
  let b1 = i32x4.splat(0);
  let b4 = i32x4.splat(0);
  let c1 = i32x4.splat(0);
  let c4 = i32x4.splat(0);
  let d1 = i32x4.splat(0);
  let d4 = i32x4.splat(0);
  let va: v128, vb: v128, xv: v128;
  do {
    va = v128.load(wa);
    vb = v128.load(wb);
    xv = v128.load(x, 96); // shift 0: weights 96 + p, x1
    a1 = dotAdd32(a1, xv, v128.and(va, m3));
    b1 = dotAdd32(b1, xv, v128.and(vb, m3));
    xv = v128.load(x, 64); // shift 2: weights 64 + p, x4
    a4 = dotAdd32(a4, xv, v128.and(va, mc));
    b4 = dotAdd32(b4, xv, v128.and(vb, mc));
    va = i16x8.shr_u(va, 4);
    vb = i16x8.shr_u(vb, 4);
    xv = v128.load(x, 32); // shift 4: weights 32 + p, x1
    c1 = dotAdd32(c1, xv, v128.and(va, m3));
    d1 = dotAdd32(d1, xv, v128.and(vb, m3));
    xv = v128.load(x); // shift 6: weights p, x4
    c4 = dotAdd32(c4, xv, v128.and(va, mc));
    d4 = dotAdd32(d4, xv, v128.and(vb, mc));
    if (wa == last) break; // the barrier (rowPairDots4): never taken
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
    wa += 32;
    wb += 32;
    x += 128;
  } while (wa != rowEnd);
  // 4 x1 + x4 per row, as rowPairDots4
  return pairSums(i32x4.add(i32x4.shl(i32x4.add(a1, c1), 2), i32x4.add(a4, c4)), i32x4.add(i32x4.shl(i32x4.add(b1, d1), 2), i32x4.add(b4, d4)));
}

/**
 * One group step of the four-stream kernels: v's 16 code bytes (the fields at shifts 0 / 2, or 4 / 6 once shifted by
 * 4) against the activations xv (x1 field, mask 0x03) and xw (x4 field, mask 0x0c), into the row's accumulators
 * acc1 / acc4: i16 pairs (fieldDot) or, `fused`, i32 fused dots (common.ts dotAdd32). Returns nothing: the two
 * accumulators are updated through the caller's locals by the macros below.
 */
// @ts-ignore: decorator
@inline function quadField(acc: v128, xv: v128, v: v128, mask: v128, fused: bool): v128 {
  return fused ? dotAdd32(acc, xv, v128.and(v, mask)) : fieldDot(acc, xv, v, mask);
}

/**
 * Four rows (code bytes at wa, wb, wc, wd: a quarter of the chunk apart) against one token's activations at x over
 * nBlocks blocks, in lockstep: every group of 16 code bytes of the four rows shares its four activation loads (two
 * per half: x1 and x4 fields). Writes the four x4 dots to res: rows a, b in lanes 0, 1 of the v128 at res, rows c, d
 * in lanes 0, 1 of the one at res + 16 (pairSums).
 *
 * Why four streams: on an Intel Xeon (2 vCPUs, AVX-VNNI; bench/README.md) one thread read its weights from DRAM at
 * 6.2-6.9 GB/s through the row-pair kernels (two adjacent rows: one stream) whatever the touch-ahead, against 13-16
 * from L2; four streams a quarter of the chunk apart (as the Q8_0 kernel has them) read 9.2-9.7 (i16) and 11.1-11.8
 * (fused) GB/s from DRAM, the thread's bandwidth, with the same i16 rate from L2 (fused: 13.1 against 15.6). Two
 * streams (the pair's rows half a chunk apart) read 8.0-8.2 (i16) and 9.2-9.4 (fused). No touch-ahead: with the
 * streams apart it changed nothing or cost 3%.
 *
 * Accumulators: two per row (x1, x4), eight; each takes two dots per group, so a fused chain is two vpdpbusd per
 * group, as in rowPairDotsFused. i16 (`fused` false): passes of passBytes as rowPairDots4 (the same two dots per group
 * and accumulator, so the same bounds: file header), each row's i32 sums kept in res between passes (12 live
 * accumulators would not fit V8's 15 registers). Each row's code bytes are loaded twice per group (as loaded, then for
 * the shifted fields), which keeps the live vectors at 8 accumulators, 2 masks, 2 activations and 1 code vector.
 */
// @ts-ignore: decorator
@inline function rowQuadDots(
  wa: usize, wb: usize, wc: usize, wd: usize, x: usize, nBlocks: u32, passBytes: usize, fused: bool, m3: v128, mc: v128, res: usize,
): void {
  const rowEnd = wa + (<usize>nBlocks << 5);
  const z = i32x4.splat(0);
  if (!fused) {
    v128.store(res, z);
    v128.store(res, z, 16);
    v128.store(res, z, 32);
    v128.store(res, z, 48);
  }
  let g: usize = 0; // offset of the group in each row
  while (wa + g < rowEnd) {
    const passEnd = fused ? rowEnd : min(wa + g + passBytes, rowEnd);
    let a1 = z;
    let a4 = z;
    let b1 = z;
    let b4 = z;
    let c1 = z;
    let c4 = z;
    let d1 = z;
    let d4 = z;
    let v: v128, xv: v128, xw: v128;
    do {
      // fields at shift 0 (weights 96 + p, x1) and 2 (weights 64 + p, x4); x + g: the block's activations, + 16 for
      // its second group (x advances by 96 more per block below: 128 per block in all)
      xv = v128.load(x + g, 96);
      xw = v128.load(x + g, 64);
      v = v128.load(wa + g);
      a1 = quadField(a1, xv, v, m3, fused);
      a4 = quadField(a4, xw, v, mc, fused);
      v = v128.load(wb + g);
      b1 = quadField(b1, xv, v, m3, fused);
      b4 = quadField(b4, xw, v, mc, fused);
      v = v128.load(wc + g);
      c1 = quadField(c1, xv, v, m3, fused);
      c4 = quadField(c4, xw, v, mc, fused);
      v = v128.load(wd + g);
      d1 = quadField(d1, xv, v, m3, fused);
      d4 = quadField(d4, xw, v, mc, fused);
      if (wa + g == passEnd) break; // the barrier (rowPairDots4): never taken
      // fields at shift 4 (weights 32 + p, x1) and 6 (weights p, x4)
      xv = v128.load(x + g, 32);
      xw = v128.load(x + g);
      v = i16x8.shr_u(v128.load(wa + g), 4);
      a1 = quadField(a1, xv, v, m3, fused);
      a4 = quadField(a4, xw, v, mc, fused);
      v = i16x8.shr_u(v128.load(wb + g), 4);
      b1 = quadField(b1, xv, v, m3, fused);
      b4 = quadField(b4, xw, v, mc, fused);
      v = i16x8.shr_u(v128.load(wc + g), 4);
      c1 = quadField(c1, xv, v, m3, fused);
      c4 = quadField(c4, xw, v, mc, fused);
      v = i16x8.shr_u(v128.load(wd + g), 4);
      d1 = quadField(d1, xv, v, m3, fused);
      d4 = quadField(d4, xw, v, mc, fused);
      if ((g & 16) != 0) x += 96;
      g += 16;
    } while (wa + g != passEnd);
    if (fused) {
      // 4 x1 + x4 per row (rowPairDotsFused)
      v128.store(res, pairSums(i32x4.add(i32x4.shl(a1, 2), a4), i32x4.add(i32x4.shl(b1, 2), b4)));
      v128.store(res, pairSums(i32x4.add(i32x4.shl(c1, 2), c4), i32x4.add(i32x4.shl(d1, 2), d4)), 16);
      return;
    }
    v128.store(res, widen(v128.load(res), a1, a4));
    v128.store(res, widen(v128.load(res, 16), b1, b4), 16);
    v128.store(res, widen(v128.load(res, 32), c1, c4), 32);
    v128.store(res, widen(v128.load(res, 48), d1, d4), 48);
  }
  if (!fused) {
    v128.store(res, pairSums(v128.load(res), v128.load(res, 16)));
    v128.store(res, pairSums(v128.load(res, 32), v128.load(res, 48)), 16);
  }
}

/**
 * The outputs of a row pair (rows r and r2 of token t, at o and o2) from the x4 dots d4 (lanes 0, 1): y = f32(w_scale * (dot -
 * sum x) / s) as matmul-i2s.ts (finishTernary), in f64x2 for the row pair: the same IEEE operations in the same
 * order, so the same bits.
 */
// @ts-ignore: decorator
@inline function finishPair(d4: v128, rec: usize, wscale: v128, scale: f64, o: usize, o2: usize): void {
  // (dot >> 2) - sum x for both rows, then the output rule on f64x2 lanes
  const d = i32x4.sub(i32x4.shr_s(d4, 2), i32x4.splat(load<i32>(rec, 4)));
  let y = f32x4.demote_f64x2_zero(f64x2.div(f64x2.mul(wscale, f64x2.convert_low_i32x4_s(d)), f64x2.splat(<f64>load<f32>(rec))));
  if (scale != 1.0) y = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.promote_low_f32x4(y), f64x2.splat(scale)));
  v128.store32_lane(o, y, 0);
  v128.store32_lane(o2, y, 1);
}

/**
 * Rows [start, end) (whole groups of I2S_PANEL_ROWS) of a weight in the column-panel layout (file header), every
 * token: per group and token, the panels in order, each over the group's rows as four streams (rows i, i + 8, i + 16,
 * i + 24 of the panel's piece: rowQuadDots), each row's i32 x4 dot added in accs (4 bytes per row, then rowQuadDots's
 * 64 bytes) across panels; then finishPair per adjacent row pair. Four streams instead of the adjacent pairs (one
 * stream): Intel Xeon, 1024x14336 from DRAM, 1 thread, Node 24: 11.2 (fused) / 10.4 (i16) GB/s against 7.2 / 6.7.
 */
// @ts-ignore: decorator
@inline function panelRows(
  w: usize, cols: u32, x: usize, xStride: usize, info: usize, nTokens: u32, out: usize, outStride: usize,
  start: u32, end: u32, passBytes: usize, fused: bool, wscale: v128, scale: f64, m3: v128, mc: v128, accs: usize,
): void {
  const rowBytes = <usize>(cols >> 2);
  const res = accs + (<usize>I2S_PANEL_ROWS << 2); // rowQuadDots's 64 bytes, after the rows' sums
  for (let r0 = start; r0 < end; r0 += I2S_PANEL_ROWS) {
    const g = w + <usize>r0 * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      let wa = g;
      for (let c0: u32 = 0; c0 < cols; c0 += I2S_PANEL_COLS) {
        const pc = min(I2S_PANEL_COLS, cols - c0);
        const pieceBytes = <usize>(pc >> 2);
        const xp = xt + <usize>c0;
        // four streams: rows i, i + 8, i + 16, i + 24 of the group's piece (rowQuadDots), each row's i32 sum in accs
        const q8 = <usize>(I2S_PANEL_ROWS >> 2) * pieceBytes;
        for (let i: u32 = 0; i < I2S_PANEL_ROWS >> 2; i++) {
          const wr = wa + <usize>i * pieceBytes;
          if (fused) rowQuadDots(wr, wr + q8, wr + 2 * q8, wr + 3 * q8, xp, pc >> 7, passBytes, true, m3, mc, res);
          else rowQuadDots(wr, wr + q8, wr + 2 * q8, wr + 3 * q8, xp, pc >> 7, passBytes, false, m3, mc, res);
          const ab = v128.load(res);
          const cd = v128.load(res, 16);
          const s0 = accs + (<usize>i << 2);
          const s1 = s0 + (<usize>(I2S_PANEL_ROWS >> 2) << 2);
          const s2 = s1 + (<usize>(I2S_PANEL_ROWS >> 2) << 2);
          const s3 = s2 + (<usize>(I2S_PANEL_ROWS >> 2) << 2);
          store<i32>(s0, (c0 != 0 ? load<i32>(s0) : 0) + i32x4.extract_lane(ab, 0));
          store<i32>(s1, (c0 != 0 ? load<i32>(s1) : 0) + i32x4.extract_lane(ab, 1));
          store<i32>(s2, (c0 != 0 ? load<i32>(s2) : 0) + i32x4.extract_lane(cd, 0));
          store<i32>(s3, (c0 != 0 ? load<i32>(s3) : 0) + i32x4.extract_lane(cd, 1));
        }
        wa += <usize>I2S_PANEL_ROWS * pieceBytes;
      }
      const rec = info + (<usize>t << 4);
      for (let i: u32 = 0; i < I2S_PANEL_ROWS; i += 2) {
        const o = out + ((<usize>t * outStride + r0 + i) << 2);
        finishPair(v128.load64_zero(accs + (<usize>i << 2)), rec, wscale, scale, o, o + 4);
      }
    }
  }
}

/**
 * Job body (op i2sDot): rows [start, end) of an untiled I2_S weight with cols % 128 == 0, every token. Per-token
 * activations: rows in column panels through panelRows; row-major rows four at a time, a quarter of the rows
 * apart (rowQuadDots), the rest two at a time (rowPairDots4 / rowPairDotsFused); y = f32(w_scale * (dot - sum x) /
 * s) as matmul-i2s.ts (finishTernary), in f64x2 for two rows: the same IEEE operations in the same order, so the same
 * bits; a last odd row and Q8_K activations go through i2sUntiledRow.
 */
export function matmulI2SDotRows(job: usize, start: u32, end: u32, thread: u32): void {
  if (argU32(job, ARG_ACT_QUANT) != 0) {
    for (let r = start; r < end; r++) i2sUntiledRow(job, r);
    return;
  }
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const info = argPtr(job, ARG_AUX);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const wscale = f64x2.splat(argF64(job, ARG_WSCALE));
  const rowBytes = <usize>(cols >> 2);
  const nBlocks = cols >> 7;
  // passes of 4 blocks, 2 where the weight holds code 3 (ARG_VARIANT bit 1, the exact scan at load: header); bit 2:
  // the fused i32 kernel (rowPairDotsFused)
  const variant = argU32(job, ARG_VARIANT);
  const passBytes: usize = (variant & 1) != 0 ? 64 : 128;
  const fused = (variant & 2) != 0;
  const m3 = vconst(C_03);
  const mc = vconst(C_0C);
  // rows in column panels first (whole groups; the job's chunks are whole groups), then the row-major rest
  const panelEnd = min(end, argU32(job, ARG_PANEL_ROWS));
  if (start < panelEnd) {
    const accs = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
    panelRows(w, cols, x, xStride, info, nTokens, out, outStride, start, panelEnd, passBytes, fused, wscale, scale, m3, mc, accs);
    start = panelEnd;
  }
  // row-major rows: four streams a quarter of the rows apart (rowQuadDots), then the rows past four whole quarters
  // (at most 3) as adjacent pairs and a last single row
  const res = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  const q = (end - start) >> 2;
  const qBytes = <usize>q * rowBytes;
  const q4 = <usize>q << 2;
  for (let i: u32 = 0; i < q; i++) {
    const r = start + i;
    const wa = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      if (fused) rowQuadDots(wa, wa + qBytes, wa + 2 * qBytes, wa + 3 * qBytes, xt, nBlocks, passBytes, true, m3, mc, res);
      else rowQuadDots(wa, wa + qBytes, wa + 2 * qBytes, wa + 3 * qBytes, xt, nBlocks, passBytes, false, m3, mc, res);
      const rec = info + (<usize>t << 4);
      const o = out + ((<usize>t * outStride + r) << 2);
      finishPair(v128.load(res), rec, wscale, scale, o, o + q4);
      finishPair(v128.load(res, 16), rec, wscale, scale, o + 2 * q4, o + 3 * q4);
    }
  }
  let r = start + 4 * q;
  for (; r + 2 <= end; r += 2) {
    const wa = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const d4 = fused
        ? rowPairDotsFused(wa, wa + rowBytes, x + <usize>t * xStride, nBlocks, m3, mc)
        : rowPairDots4(wa, wa + rowBytes, x + <usize>t * xStride, nBlocks, passBytes, m3, mc);
      const o = out + ((<usize>t * outStride + r) << 2);
      finishPair(d4, info + (<usize>t << 4), wscale, scale, o, o + 4);
    }
  }
  if (r < end) i2sUntiledRow(job, r);
}
