// Multi-token matmul for I2_S weights in their native layout (relaxed-SIMD kernel set only), for the few tokens of a
// batched decode step: each 16-byte group of 2-bit codes is loaded and decoded once, then multiplied with every
// token's activations by i16x8.relaxed_dot_i8x16_i7x16_s (x86 pmaddubsw). No lookup tables to build.
//
// Why: the lookup GEMM (ternary-gemm.ts Narrow) spends ~0.25 ms per thread building its tables for 2560 columns at
// 8 tokens, and every thread builds all of them for its own rows, so on 2 threads the tables are ~40% of a 2560-row
// matmul (NARROW_COST in index.ts); the single-token dot GEMV (matmul-i2s-dot.ts) decodes every code byte again for
// each token. This kernel is no faster per weight and token than the Narrow lookups (1 thread, Node 22, loaded
// machine: ~45 G weight-tokens per CPU-second at 8 tokens, ~0.3 x64 instructions per weight and token: 4 loads,
// 4 vpmaddubsw, 4 vpaddw, address arithmetic and a barrier per token and group); it wins where the tables do not pay
// off over a thread's rows (GEMM_DOT_COST in index.ts) and against per-token passes from 3 tokens on.
// Tried and dropped (same machine, alternating in one process): 8 tokens per pass (V8 spilled two accumulators and
// the mask: no faster), two rows x two tokens sharing each activation load (spills; 5-15% slower), activations
// re-laid out per 128-column block so every token's loads take immediate offsets (+5% on some shapes, -10% on
// 2560x6912: within the noise of a machine at load 6-9).
//
// Layout and codes as matmul-i2s-dot.ts (its header): byte p of a 128-weight block holds weights 96+p, 64+p, 32+p, p
// at shifts 0, 2, 4, 6. Here all four fields are brought to bits 2-3 (16-bit shifts left 2, none, right 2, right 4,
// then & 0x0c), so each is the code x4 (0, 4, 8 or 12) and one i16 accumulator per token takes all four relaxed dots
// of a group: 1 load, 3 shifts and 4 ands per group of 64 weights, then per token 4 activation loads, 4 relaxed dots
// and 4 adds. One row and up to 4 tokens per pass: 4 codes and 4 accumulators stay in registers.
// Under fused i32 dots (ARG_VARIANT bit 2, where the relaxed dot-add is one vpdpbusd: matmul-i2s-dot.ts header)
// rowTokensFused replaces rowTokens: the same codes and sums, 4 activation loads and 4 fused dots per token and group;
// rowTokensFused5 takes 5 tokens a pass (10 accumulators), and a job's tokens go in the fewest even passes of at
// most 5, so fused dots take up to 14 tokens (index.ts GEMM_DOT_TOKENS.maxFused).
// Scheduling: TurboFan issues every load of a basic block first (matmul-i2s-dot.ts header), so the token steps of a
// group are separated by branches that are never taken (wp + k == groupEnd with 0 < k < 16: wp and groupEnd are
// multiples of 16 apart) but that V8 cannot prove so; each token's 4 activation loads stay next to their dots.
//
// Exactness: the result is the same integer sum_c code[c] x[c] as matmul-i2s-dot.ts, then the same f64 / f32 output
// rule, so outputs are bit-identical to one call per token of it. Bounds: activations are in [-128, 127]
// (quantize-activations.ts), the 7-bit operand is at most 12 (< 128: relaxed_dot is deterministic there), and one
// relaxed_dot lane adds two products: |lane| <= 2 * 12 * 128 = 3072, no pmaddubsw saturation. An i16 accumulator
// takes a pass of 4 groups (2 blocks, 16 dots) when no weight has code 3: lanes in 16 * [2 * 8 * -128, 2 * 8 * 127]
// = [-32768, 32512]; with code 3 (ARG_VARIANT) a pass of 2 groups (1 block, 8 dots): [-24576, 24384]. Then it is
// widened with i32x4.extadd_pairwise_i16x8_s into the token's i32 sums (scratch). The i32 row sum is at most
// 4 * 3 * 128 * cols in magnitude: exact below cols = 2^31 / 1536 (~1.4M columns).

import { dotAdd32, dotPairs16, finishTernary } from './common';
import { C_0C, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_ACT_QUANT, ARG_AUX, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_PANEL_ROWS, ARG_SCALE, ARG_SCRATCH,
  ARG_SCRATCH_STRIDE, ARG_VARIANT, ARG_W, ARG_WSCALE, ARG_X, ARG_X_STRIDE,
} from './job';
import { I2S_PANEL_COLS, I2S_PANEL_ROWS } from './matmul-i2s-dot';
import { i2sUntiledRow } from './matmul-i2s';

/** Tokens of one pass over a row (registers: 4 codes, 4 accumulators, 1 activation vector). */
export const GEMM_I2S_DOT_TOKENS: u32 = 4;
/** Tokens a job takes (the glue splits larger batches): per-thread scratch of 16 B of i32 sums per token. */
export const GEMM_I2S_DOT_MAX_TOKENS: u32 = 16;

/** acc + the pair sums of 16 activations at x + off times the codes x4 c. */
// @ts-ignore: decorator
@inline function tokenDot(acc: v128, x: usize, off: usize, c: v128): v128 {
  return i16x8.add(acc, dotPairs16(v128.load(x + off), c));
}

/**
 * acc + one token's four relaxed dots of one group: the codes x4 c0..c3 (shift 0, 2, 4, 6 fields: weights 96 + p,
 * 64 + p, 32 + p, p of the block) against the token's activations at x (the block's first) + g (0 or 16: the group).
 */
// @ts-ignore: decorator
@inline function groupDot(acc: v128, x: usize, c0: v128, c1: v128, c2: v128, c3: v128): v128 {
  return tokenDot(tokenDot(tokenDot(tokenDot(acc, x, 96, c0), x, 64, c1), x, 32, c2), x, 0, c3);
}

/**
 * One row (code bytes at wr, rowBytes of them) against K (1..4, a constant after inlining) tokens whose activations
 * start at x (xStride bytes apart): adds 4 sum_c code[c] x[c] of token k to the i32x4 at sums + 16 k.
 */
// @ts-ignore: decorator
@inline function rowTokens(wr: usize, rowBytes: usize, x: usize, xStride: usize, K: u32, passBytes: usize, mc: v128, sums: usize): void {
  const rowEnd = wr + rowBytes;
  const x1 = x + xStride;
  const x2 = x1 + xStride;
  const x3 = x2 + xStride;
  let wp = wr;
  let xo: usize = 0; // offset of the current block's activations
  while (wp < rowEnd) {
    const passEnd = min(wp + passBytes, rowEnd);
    let a0 = i16x8.splat(0);
    let a1 = i16x8.splat(0);
    let a2 = i16x8.splat(0);
    let a3 = i16x8.splat(0);
    do {
      // group of 16 code bytes: block byte g..g+15 (g = 0 or 16), activations at xo + g
      const v = v128.load(wp);
      const c0 = v128.and(i16x8.shl(v, 2), mc);
      const c1 = v128.and(v, mc);
      const c2 = v128.and(i16x8.shr_u(v, 2), mc);
      const c3 = v128.and(i16x8.shr_u(v, 4), mc);
      const g: usize = (wp - wr) & 16;
      const xg = xo + g;
      a0 = groupDot(a0, x + xg, c0, c1, c2, c3);
      if (K > 1) {
        if (wp + 1 == passEnd) break; // barriers: never taken (wp, passEnd are 16-byte multiples apart)
        a1 = groupDot(a1, x1 + xg, c0, c1, c2, c3);
      }
      if (K > 2) {
        if (wp + 2 == passEnd) break;
        a2 = groupDot(a2, x2 + xg, c0, c1, c2, c3);
      }
      if (K > 3) {
        if (wp + 3 == passEnd) break;
        a3 = groupDot(a3, x3 + xg, c0, c1, c2, c3);
      }
      wp += 16;
      xo += g << 3; // after a block's second group: the next block's activations (128 further)
    } while (wp != passEnd);
    v128.store(sums, i32x4.add(v128.load(sums), i32x4.extadd_pairwise_i16x8_s(a0)));
    if (K > 1) v128.store(sums, i32x4.add(v128.load(sums, 16), i32x4.extadd_pairwise_i16x8_s(a1)), 16);
    if (K > 2) v128.store(sums, i32x4.add(v128.load(sums, 32), i32x4.extadd_pairwise_i16x8_s(a2)), 32);
    if (K > 3) v128.store(sums, i32x4.add(v128.load(sums, 48), i32x4.extadd_pairwise_i16x8_s(a3)), 48);
  }
}

/** acc + the i32 dots of 16 activations at x + off with the codes x4 c (fused: one vpdpbusd under AVX-VNNI). */
// @ts-ignore: decorator
@inline function tokenDot32(acc: v128, x: usize, off: usize, c: v128): v128 {
  return dotAdd32(acc, v128.load(x + off), c);
}

/**
 * rowTokens on fused i32 dots (ARG_VARIANT bit 2: common.ts dotAdd32), no i16 passes: two accumulators per token
 * (fields at shifts 0, 2 and 4, 6), so a token's chain of dependent dots is two per group, not four (vpdpbusd has a
 * ~5-cycle latency). Live vectors at 4 tokens: 4 codes, 8 accumulators, one activation vector, the mask.
 */
// @ts-ignore: decorator
@inline function rowTokensFused(wr: usize, rowBytes: usize, x: usize, xStride: usize, K: u32, mc: v128, sums: usize): void {
  const rowEnd = wr + rowBytes;
  const x1 = x + xStride;
  const x2 = x1 + xStride;
  const x3 = x2 + xStride;
  let wp = wr;
  let xo: usize = 0;
  let a0 = i32x4.splat(0);
  let b0 = i32x4.splat(0);
  let a1 = i32x4.splat(0);
  let b1 = i32x4.splat(0);
  let a2 = i32x4.splat(0);
  let b2 = i32x4.splat(0);
  let a3 = i32x4.splat(0);
  let b3 = i32x4.splat(0);
  do {
    const v = v128.load(wp);
    const c0 = v128.and(i16x8.shl(v, 2), mc);
    const c1 = v128.and(v, mc);
    const c2 = v128.and(i16x8.shr_u(v, 2), mc);
    const c3 = v128.and(i16x8.shr_u(v, 4), mc);
    const g: usize = (wp - wr) & 16;
    const xg = xo + g;
    a0 = tokenDot32(tokenDot32(a0, x + xg, 96, c0), x + xg, 64, c1);
    b0 = tokenDot32(tokenDot32(b0, x + xg, 32, c2), x + xg, 0, c3);
    if (K > 1) {
      if (wp + 1 == rowEnd) break; // barriers: never taken (rowTokens)
      a1 = tokenDot32(tokenDot32(a1, x1 + xg, 96, c0), x1 + xg, 64, c1);
      b1 = tokenDot32(tokenDot32(b1, x1 + xg, 32, c2), x1 + xg, 0, c3);
    }
    if (K > 2) {
      if (wp + 2 == rowEnd) break;
      a2 = tokenDot32(tokenDot32(a2, x2 + xg, 96, c0), x2 + xg, 64, c1);
      b2 = tokenDot32(tokenDot32(b2, x2 + xg, 32, c2), x2 + xg, 0, c3);
    }
    if (K > 3) {
      if (wp + 3 == rowEnd) break;
      a3 = tokenDot32(tokenDot32(a3, x3 + xg, 96, c0), x3 + xg, 64, c1);
      b3 = tokenDot32(tokenDot32(b3, x3 + xg, 32, c2), x3 + xg, 0, c3);
    }
    wp += 16;
    xo += g << 3;
  } while (wp != rowEnd);
  v128.store(sums, i32x4.add(v128.load(sums), i32x4.add(a0, b0)));
  if (K > 1) v128.store(sums, i32x4.add(v128.load(sums, 16), i32x4.add(a1, b1)), 16);
  if (K > 2) v128.store(sums, i32x4.add(v128.load(sums, 32), i32x4.add(a2, b2)), 32);
  if (K > 3) v128.store(sums, i32x4.add(v128.load(sums, 48), i32x4.add(a3, b3)), 48);
}

/**
 * rowTokensFused for 5 tokens: 10 accumulators (two per token), so a group's 20 dots meet dependency chains of two
 * per accumulator (vpdpbusd: ~5-cycle latency, 2 per cycle), where 4 tokens' 8 accumulators leave the dots
 * latency-bound (~1.6 per cycle at best; a microbenchmark: 8 accumulators 4.2 G dots/s per core, 10 with register
 * operands 5.4 G). The codes are decoded per field (one live vector, not four): 10 accumulators, the group's codes,
 * one field, one activation vector and the mask. The barriers of rowTokens sit between the fields. Measured (Node 24,
 * Intel Xeon, 1 thread, CPU time, weights rotated through 64 MiB): 61-68 G weight-tokens/s against 43-45 for 4 + 1
 * tokens (5 tokens) and 46-49 for the 16-lane lookup GEMM (10 tokens); at 8 tokens (5 + 3) even with 4 + 4.
 * Tried and dropped: two rows x 5 tokens sharing each activation load (10 accumulators, each field's codes reloaded
 * per row): 49-53 G/s, slower than one row.
 */
// @ts-ignore: decorator
@inline function rowTokensFused5(wr: usize, rowBytes: usize, x: usize, xStride: usize, mc: v128, sums: usize): void {
  const rowEnd = wr + rowBytes;
  const x1 = x + xStride;
  const x2 = x1 + xStride;
  const x3 = x2 + xStride;
  const x4 = x3 + xStride;
  let wp = wr;
  let xo: usize = 0;
  let a0 = i32x4.splat(0);
  let b0 = i32x4.splat(0);
  let a1 = i32x4.splat(0);
  let b1 = i32x4.splat(0);
  let a2 = i32x4.splat(0);
  let b2 = i32x4.splat(0);
  let a3 = i32x4.splat(0);
  let b3 = i32x4.splat(0);
  let a4 = i32x4.splat(0);
  let b4 = i32x4.splat(0);
  do {
    const v = v128.load(wp);
    const g: usize = (wp - wr) & 16;
    const xg = xo + g;
    let c = v128.and(i16x8.shl(v, 2), mc);
    a0 = tokenDot32(a0, x + xg, 96, c);
    a1 = tokenDot32(a1, x1 + xg, 96, c);
    a2 = tokenDot32(a2, x2 + xg, 96, c);
    a3 = tokenDot32(a3, x3 + xg, 96, c);
    a4 = tokenDot32(a4, x4 + xg, 96, c);
    if (wp + 1 == rowEnd) break; // barriers: never taken (rowTokens)
    c = v128.and(v, mc);
    a0 = tokenDot32(a0, x + xg, 64, c);
    a1 = tokenDot32(a1, x1 + xg, 64, c);
    a2 = tokenDot32(a2, x2 + xg, 64, c);
    a3 = tokenDot32(a3, x3 + xg, 64, c);
    a4 = tokenDot32(a4, x4 + xg, 64, c);
    if (wp + 2 == rowEnd) break;
    c = v128.and(i16x8.shr_u(v, 2), mc);
    b0 = tokenDot32(b0, x + xg, 32, c);
    b1 = tokenDot32(b1, x1 + xg, 32, c);
    b2 = tokenDot32(b2, x2 + xg, 32, c);
    b3 = tokenDot32(b3, x3 + xg, 32, c);
    b4 = tokenDot32(b4, x4 + xg, 32, c);
    if (wp + 3 == rowEnd) break;
    c = v128.and(i16x8.shr_u(v, 4), mc);
    b0 = tokenDot32(b0, x + xg, 0, c);
    b1 = tokenDot32(b1, x1 + xg, 0, c);
    b2 = tokenDot32(b2, x2 + xg, 0, c);
    b3 = tokenDot32(b3, x3 + xg, 0, c);
    b4 = tokenDot32(b4, x4 + xg, 0, c);
    wp += 16;
    xo += g << 3;
  } while (wp != rowEnd);
  v128.store(sums, i32x4.add(v128.load(sums), i32x4.add(a0, b0)));
  v128.store(sums, i32x4.add(v128.load(sums, 16), i32x4.add(a1, b1)), 16);
  v128.store(sums, i32x4.add(v128.load(sums, 32), i32x4.add(a2, b2)), 32);
  v128.store(sums, i32x4.add(v128.load(sums, 48), i32x4.add(a3, b3)), 48);
  v128.store(sums, i32x4.add(v128.load(sums, 64), i32x4.add(a4, b4)), 64);
}

/**
 * Adds sum_c code[c] x[c] (x4, as rowTokens) of the row piece at wr (pieceBytes) for each of nTokens tokens (their
 * activations at xc, xStride apart) to the token's i32x4 at sums + 16 t. The i16 kernel: passes of 4 tokens, then 3,
 * 2 or 1. Fused: the fewest passes of at most 5 tokens, as even as can be (6 = 3 + 3, 7 = 4 + 3, 11 = 4 + 4 + 3): a
 * pass of few tokens has few accumulators and runs latency-bound (1 thread, 2560x6912: a pass of 1 token costs 0.85
 * ms, of 5 tokens 1.35).
 */
// @ts-ignore: decorator
@inline function tokenPasses(wr: usize, pieceBytes: usize, xc: usize, xStride: usize, nTokens: u32, passBytes: usize, fused: bool, mc: v128, sums: usize): void {
  let t: u32 = 0;
  if (fused) {
    const passes = (nTokens + 4) / 5;
    const base = nTokens / passes;
    const longer = nTokens % passes; // passes of base + 1 tokens (first)
    for (let p: u32 = 0; p < passes; p++) {
      const k = base + (p < longer ? 1 : 0);
      const xp = xc + <usize>t * xStride;
      const sp = sums + (<usize>t << 4);
      if (k == 5) rowTokensFused5(wr, pieceBytes, xp, xStride, mc, sp);
      else if (k == 4) rowTokensFused(wr, pieceBytes, xp, xStride, 4, mc, sp);
      else if (k == 3) rowTokensFused(wr, pieceBytes, xp, xStride, 3, mc, sp);
      else if (k == 2) rowTokensFused(wr, pieceBytes, xp, xStride, 2, mc, sp);
      else rowTokensFused(wr, pieceBytes, xp, xStride, 1, mc, sp);
      t += k;
    }
    return;
  }
  for (; t + 4 <= nTokens; t += 4) rowTokens(wr, pieceBytes, xc + <usize>t * xStride, xStride, 4, passBytes, mc, sums + (<usize>t << 4));
  const left = nTokens - t;
  if (left == 3) rowTokens(wr, pieceBytes, xc + <usize>t * xStride, xStride, 3, passBytes, mc, sums + (<usize>t << 4));
  else if (left == 2) rowTokens(wr, pieceBytes, xc + <usize>t * xStride, xStride, 2, passBytes, mc, sums + (<usize>t << 4));
  else if (left == 1) rowTokens(wr, pieceBytes, xc + <usize>t * xStride, xStride, 1, passBytes, mc, sums + (<usize>t << 4));
}

/**
 * Job body (op gemmI2sDot): rows [start, end) of an untiled I2_S weight with cols % 128 == 0, for nTokens (<=
 * GEMM_I2S_DOT_MAX_TOKENS) tokens of per-token int8 activations. Per row: passes of 4 tokens (then 3, 2 or 1; fused: even passes of up to 5) through
 * rowTokens, the row's code bytes coming from L1 after the first; y = f32(w_scale * (dot - sum x) / s) as
 * matmul-i2s-dot.ts. Q8_K activations go through i2sUntiledRow.
 */
export function gemmI2SDotRows(job: usize, start: u32, end: u32, thread: u32): void {
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
  const nTokens = min(argU32(job, ARG_N_TOKENS), GEMM_I2S_DOT_MAX_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const wscale = argF64(job, ARG_WSCALE);
  const sums = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  const rowBytes = <usize>(cols >> 2);
  // passes of 2 blocks, 1 where the weight holds code 3 (ARG_VARIANT bit 1: the header's i16 bound); bit 2: the fused
  // i32 kernel (rowTokensFused)
  const variant = argU32(job, ARG_VARIANT);
  const passBytes: usize = (variant & 1) != 0 ? 32 : 64;
  const fused = (variant & 2) != 0;
  const mc = vconst(C_0C);
  const z = i32x4.splat(0);
  const sumsEnd = sums + (<usize>nTokens << 4);
  const panelRows = argU32(job, ARG_PANEL_ROWS); // rows in matmul-i2s-dot.ts's column panels
  for (let r = start; r < end; r++) {
    for (let sp = sums; sp < sumsEnd; sp += 16) v128.store(sp, z);
    // the row's pieces: one per panel (column-panel rows), else the whole row; the i32 sums add across them
    const panel = r < panelRows;
    const g = w + <usize>(r - r % I2S_PANEL_ROWS) * rowBytes;
    const i = <usize>(r % I2S_PANEL_ROWS);
    for (let c0: u32 = 0; c0 < cols; ) {
      const pc = panel ? min(I2S_PANEL_COLS, cols - c0) : cols;
      const pieceBytes = <usize>(pc >> 2);
      const wr = panel ? g + <usize>(c0 >> 2) * I2S_PANEL_ROWS + i * pieceBytes : w + <usize>r * rowBytes;
      const xc = x + <usize>c0;
      tokenPasses(wr, pieceBytes, xc, xStride, nTokens, passBytes, fused, mc, sums);
      c0 += pc;
    }
    for (let k: u32 = 0; k < nTokens; k++) {
      const s4 = v128.load(sums + (<usize>k << 4));
      const d4 = i32x4.extract_lane(s4, 0) + i32x4.extract_lane(s4, 1) + i32x4.extract_lane(s4, 2) + i32x4.extract_lane(s4, 3);
      const rec = info + (<usize>k << 4);
      store<f32>(out + ((<usize>k * outStride + r) << 2), finishTernary(wscale * <f64>((d4 >> 2) - load<i32>(rec, 4)), load<f32>(rec), scale));
    }
  }
}
