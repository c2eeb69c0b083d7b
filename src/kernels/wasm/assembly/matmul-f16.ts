// Matmul for F16 weights with F16-rounded activations (F16's vec_dot_type in ggml's CPU matmul, ggml-cpu.c
// type_traits_cpu): out[t, r] = scale * sum_c W[r, c] * f16(x[t, c]).
//
// Fast path (weights all finite): an F16 weight in the high half of a 32-bit lane becomes f32 bits worth w * 2^-112
// by an arithmetic shift right 3 and a mask (C_F16_BITS: the sign and the shifted exponent and mantissa). A 16-byte
// load gives the odd columns of its 8 weights that way; the even ones come from the 16 bytes 2 bytes earlier, where
// they sit in the high halves (evenAt; before, a shift left 16 moved them up: 2 ops per 4 weights now instead of 2.5).
// The activations come rounded, pre-scaled by 2^112 and stored even columns first in each group of 8
// (quantize-activations.ts roundActivationsF16), so every product is w * x exactly (11 x 11 bits).
//
// Summation order (what keeps logits unchanged across rewrites; matmul-f16.test.ts checks it bit for bit against a
// scalar model): per whole 64-column chunk, 16 f32 sums S(m) of columns m, m+16, m+32, m+48 in that order, held in
// four accumulators of even / odd columns; at the chunk's end four shuffles put them back into the natural order's
// [S0..S3], [S4..S7], [S8..S11], [S12..S15], added (a0 + a1) + (a2 + a3) and the four lanes into an f64 pair
// (addChunkSums); the columns past the whole chunks four at a time into that pair, then one at a time in f64.
// ARG_VARIANT 1 (a weight with Inf / NaN): exact conversion of the same halves, unscaled x in the same layout.
// Subnormal weights were moved to per-row lists at load (f16-subnormals.ts, ARG_SUB_*): added after each row's dot.
//
// Speed (issue 13, bench/README.md): one chunk per loop iteration with its four 16-column groups written out between
// never-taken exit tests (rowChunks says why). An older kernel advanced four rows a quarter of the range apart in
// lockstep, each row's chunk a loop of 4: V8 kept the 16 f32 accumulators of the four rows on the stack between the
// loops (16 stores and 16 loads per 256 weights), and on the Zen 4 of those measurements one row after the other read
// DRAM at the L2 rate. On an Intel Xeon a single row stream read DRAM at 6.2-7.4 GB/s per thread against 15-17 from L2,
// so the row-major rows now run four rows a quarter of the range apart again (rowChunksQuad), a chunk of each in turn
// with only their f64 sums live between chunks: 11.3-11.7 GB/s from DRAM on 1 thread, 22.3 on 2 (the whole
// 128256x2560 matrix) against 13.5; from L2 it costs 3-13% (rotation and stream bookkeeping per chunk).
//
// Long rows (column panels): the row's activations are 4 bytes per column, and they must stay in L1 (32 KiB here)
// while the weights stream past them. Past ~3072 columns they no longer do: from DRAM, 1 thread, GB of weights per
// CPU-second (Node 22, a 384 MiB ring): 2048-3072 columns 16.8-17.2, 3584 14.3, 4096 12.4-13.1, 8192 8.1-8.7; from
// L2 the same shapes all run 14.5-15.9. With the activation reads confined to an 8 KiB window (wrong sums, a probe)
// 4096 columns ran 17.3-17.5 and 8192 14.4: the activations' L1 misses, not the arithmetic. Reading the rows in
// column segments instead (16 rows' first 2048 columns, then their next 2048) ran 6.2-6.8 on every shape: the
// hardware prefetchers follow one sequential stream, and that order jumps between rows; a touch of the stream 1-3
// KiB ahead made the plain kernel 10-20% slower (more lines in L1). So such weights are stored in column panels
// (F16_PANEL_COLS, prepareWeight's repack, panelF16Rows): in each group of F16_PANEL_ROWS rows, the 16 rows'
// first F16_PANEL_COLS columns, then their next ones, and so on (the last panel takes the rest): reading a group's
// bytes in order is one sequential stream whose activations stay within one panel's 8 KiB. Each row's f64x2 sum is
// kept in scratch between its panels and continued in the same order, so the sums are the row-major kernel's, bit
// for bit. A group's row i, column c (panel p = c / F16_PANEL_COLS, pc its width): byte
// 2 * (F16_PANEL_ROWS * p * F16_PANEL_COLS + i * pc + c - p * F16_PANEL_COLS) from the group's start.

import { addF32x4ToF64x2, f16ScaledDown, f16ToF32, f16x4ToF32x4, hsumF64 } from './common';
import { C_F16_BITS, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_SUB_COLS, ARG_SUB_ROWS, ARG_SUB_VALUES,
  ARG_SCRATCH, ARG_SCRATCH_STRIDE, ARG_PANEL_ROWS, ARG_VARIANT, ARG_W, ARG_X, ARG_X_STRIDE,
} from './job';

/** Rows per group of the column-panel layout (the header's long rows); job chunks are whole groups. */
export const F16_PANEL_ROWS: u32 = 16;
/** Columns per panel (8 KiB of f32 activations); the last panel of a row takes what is left. */
export const F16_PANEL_COLS: u32 = 2048;

/**
 * Compile-time choice of the weight conversion, a type argument so that each instantiation holds one path only
 * (a `bool` argument of an inlined function stayed a run-time test in the inner loop: a compare and a branch per
 * four weights, seen with --print-wasm-code): `Exact` converts every F16 exactly, `Scaled` takes the shortcut.
 */
type Exact = f64;
type Scaled = f32;

// @ts-ignore: decorator
@inline function prod4<M>(wp: usize, xp: usize, bits: v128): v128 {
  const exact = sizeof<M>() == 8;
  const w4 = exact ? f16x4ToF32x4(v128.load16x4_u(wp)) : v128.and(i32x4.shl(v128.load16x4_s(wp), 13), bits);
  return f32x4.mul(w4, v128.load(xp));
}

/** The even-column weights (low halves of the i32 lanes) of eight F16 values `h`, as f32 (see the file header). */
// @ts-ignore: decorator
@inline export function evenW<M>(h: v128, bits: v128): v128 {
  // Exact: f16x4ToF32x4 masks each lane to its low 16 bits itself
  return sizeof<M>() == 8 ? f16x4ToF32x4(h) : v128.and(i32x4.shr_s(i32x4.shl(h, 16), 3), bits);
}

/** The odd-column weights (high halves) of eight F16 values `h`, as f32; the mask clears the even half's bits. */
// @ts-ignore: decorator
@inline export function oddW<M>(h: v128, bits: v128): v128 {
  return sizeof<M>() == 8 ? f16x4ToF32x4(i32x4.shr_u(h, 16)) : v128.and(i32x4.shr_s(h, 3), bits);
}

/**
 * The even-column weights of the eight F16 values at p + 2, as f32: the 16 bytes at p hold them in the high halves
 * of their i32 lanes, where oddW takes them, one shift fewer than evenW (the low halves, the odd columns before
 * them, are masked off). p may be 2 bytes before a row's first weight: weights lie past MEMORY_MAP.heapByteOffset,
 * so p is always inside the memory.
 */
// @ts-ignore: decorator
@inline function evenAt<M>(p: usize, bits: v128): v128 {
  return oddW<M>(v128.load(p), bits);
}

/**
 * acc + w * x on four lanes. Every product is exact (11 x 11 significant bits), so a fused multiply-add rounds once,
 * as mul-then-add does: relaxed SIMD's madd (FMA where the CPU has it, else mul + add) gives the same bits with one
 * instruction fewer.
 */
// @ts-ignore: decorator
@inline function madd(acc: v128, w: v128, x: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(w, x, acc);
  return f32x4.add(acc, f32x4.mul(w, x));
}

/**
 * acc0 (f64x2) plus the sum over a row's whole 64-column chunks (weights at wr in column order, activations at xt
 * even-first per 8; whole > 0, a multiple of 64): acc0 is +0 or the sum of the row's chunks before these (a panel).
 * Per chunk, lane l of e0 / o0 / e1 / o1 sums columns 2l / 2l+1 / 8+2l / 9+2l of each 16, the four 16-column groups in turn: exactly the sums S(m) (columns m, m+16, m+32, m+48) the unsplit
 * kernel kept in lane m % 4 of accumulator m / 4; addChunkSums adds them to the f64x2 sum at the chunk's end.
 * One loop iteration is one chunk, its four groups written out with immediate offsets. TurboFan's scheduler issues
 * every load of a basic block first and places pure SIMD ops next to their uses (matmul-i2s-dot.ts): as one block,
 * the chunk's 24 loads would come first, more vectors than registers. Between the groups sits an exit test that
 * never fires but that V8 cannot prove (three different ones: a repeated test is folded away), so each group is its
 * own block, and the accumulators are used after the loop, on every exit, so each group's products are computed
 * before the test that follows it (else they sink into the last block): 6 loaded vectors live at a time, no spill.
 * The first group multiplies instead of adding to zeroed accumulators: the same values except that a product -0
 * stays -0 where 0 + -0 gave +0, and a sign of zero cannot reach the f64 sum (which starts at +0, so it is never
 * -0, and acc + -0 = acc + +0 = acc for every other acc).
 */
// @ts-ignore: decorator
@inline function rowChunks<M>(wr: usize, xt: usize, whole: u32, bits: v128, acc0: v128): v128 {
  let acc = acc0;
  let wp = wr;
  let xp = xt;
  const wEnd = wr + (<usize>whole << 1);
  let e0 = f32x4.splat(0);
  let o0 = f32x4.splat(0);
  let e1 = f32x4.splat(0);
  let o1 = f32x4.splat(0);
  do {
    // the previous chunk's sums (zeros the first time: +0 + +0 = +0, what the f64 sum starts from)
    acc = addChunkSums(acc, e0, o0, e1, o1);
    e0 = f32x4.mul(evenAt<M>(wp - 2, bits), v128.load(xp));
    o0 = f32x4.mul(oddW<M>(v128.load(wp), bits), v128.load(xp, 16));
    e1 = f32x4.mul(evenAt<M>(wp + 14, bits), v128.load(xp, 32));
    o1 = f32x4.mul(oddW<M>(v128.load(wp, 16), bits), v128.load(xp, 48));
    // the barriers: never taken (wp < wEnd in the loop; wp and xp, xp and wr point into different buffers)
    if (wp == wEnd) break;
    e0 = madd(e0, evenAt<M>(wp + 30, bits), v128.load(xp, 64));
    o0 = madd(o0, oddW<M>(v128.load(wp, 32), bits), v128.load(xp, 80));
    e1 = madd(e1, evenAt<M>(wp + 46, bits), v128.load(xp, 96));
    o1 = madd(o1, oddW<M>(v128.load(wp, 48), bits), v128.load(xp, 112));
    if (wp == xp) break;
    e0 = madd(e0, evenAt<M>(wp + 62, bits), v128.load(xp, 128));
    o0 = madd(o0, oddW<M>(v128.load(wp, 64), bits), v128.load(xp, 144));
    e1 = madd(e1, evenAt<M>(wp + 78, bits), v128.load(xp, 160));
    o1 = madd(o1, oddW<M>(v128.load(wp, 80), bits), v128.load(xp, 176));
    if (xp == wr) break;
    e0 = madd(e0, evenAt<M>(wp + 94, bits), v128.load(xp, 192));
    o0 = madd(o0, oddW<M>(v128.load(wp, 96), bits), v128.load(xp, 208));
    e1 = madd(e1, evenAt<M>(wp + 110, bits), v128.load(xp, 224));
    o1 = madd(o1, oddW<M>(v128.load(wp, 112), bits), v128.load(xp, 240));
    wp += 128;
    xp += 256;
  } while (wp != wEnd);
  // used on every exit (see above)
  return addChunkSums(acc, e0, o0, e1, o1);
}

/**
 * Four rows (at wa, wa + qBytes, wa + 2 qBytes, wa + 3 qBytes: a quarter of the chunk apart) over their whole 64-column
 * chunks against one token's activations at xt: the four weight streams advance together, a chunk of each row in turn
 * (row a's chunk k, b's, c's, d's, then chunk k + 1). Each row's sums are rowChunks's, in the same order: a chunk's
 * four f32 accumulators start from its first group's products and are added (addChunkSums) into that row's f64x2
 * sum before the next chunk; only the four f64x2 sums (q0..q3, rotated one place per chunk so the loop body is
 * rowChunks's) stay live between chunks. Row d's sum takes one +0 first (the loop adds the previous chunk's sums at its
 * top: zeros the first time), which leaves it unchanged (it starts at +0). Writes the four f64x2 sums to res (rows a, b,
 * c, d, 16 bytes each).
 *
 * Why: on an Intel Xeon (2 vCPUs; bench/README.md) one thread read a sequential row at 6.2-7.4 GB/s from DRAM against
 * 15-17 from L2, where four streams a quarter of the chunk apart keep more lines in flight (the I2_S and Q8_0 GEMVs
 * read the thread's bandwidth that way). The barriers are comparisons that never hold whatever the rows (weights and
 * activations are different buffers; no weight sits at address 0).
 */
// @ts-ignore: decorator
@inline function rowChunksQuad<M>(wa: usize, qBytes: usize, xt: usize, whole: u32, bits: v128, res: usize): void {
  const wholeBytes = <usize>whole << 1;
  let q0 = f64x2.splat(0);
  let q1 = f64x2.splat(0);
  let q2 = f64x2.splat(0);
  let q3 = f64x2.splat(0);
  let e0 = f32x4.splat(0);
  let o0 = f32x4.splat(0);
  let e1 = f32x4.splat(0);
  let o1 = f32x4.splat(0);
  let k: usize = 0; // the chunk's byte offset in each row
  let sOff: usize = 0; // the stream's offset from wa: 0, qBytes, 2 qBytes, 3 qBytes
  const sLast: usize = qBytes * 3;
  do {
    // the previous chunk's sums into its row's sum (q3 after the rotation below)
    q3 = addChunkSums(q3, e0, o0, e1, o1);
    const wp = wa + sOff + k;
    const xp = xt + (k << 1);
    e0 = f32x4.mul(evenAt<M>(wp - 2, bits), v128.load(xp));
    o0 = f32x4.mul(oddW<M>(v128.load(wp), bits), v128.load(xp, 16));
    e1 = f32x4.mul(evenAt<M>(wp + 14, bits), v128.load(xp, 32));
    o1 = f32x4.mul(oddW<M>(v128.load(wp, 16), bits), v128.load(xp, 48));
    if (wp == xp) break; // the barriers (rowChunks): never taken
    e0 = madd(e0, evenAt<M>(wp + 30, bits), v128.load(xp, 64));
    o0 = madd(o0, oddW<M>(v128.load(wp, 32), bits), v128.load(xp, 80));
    e1 = madd(e1, evenAt<M>(wp + 46, bits), v128.load(xp, 96));
    o1 = madd(o1, oddW<M>(v128.load(wp, 48), bits), v128.load(xp, 112));
    if (xp == wa) break;
    e0 = madd(e0, evenAt<M>(wp + 62, bits), v128.load(xp, 128));
    o0 = madd(o0, oddW<M>(v128.load(wp, 64), bits), v128.load(xp, 144));
    e1 = madd(e1, evenAt<M>(wp + 78, bits), v128.load(xp, 160));
    o1 = madd(o1, oddW<M>(v128.load(wp, 80), bits), v128.load(xp, 176));
    if (wp == 0) break;
    e0 = madd(e0, evenAt<M>(wp + 94, bits), v128.load(xp, 192));
    o0 = madd(o0, oddW<M>(v128.load(wp, 96), bits), v128.load(xp, 208));
    e1 = madd(e1, evenAt<M>(wp + 110, bits), v128.load(xp, 224));
    o1 = madd(o1, oddW<M>(v128.load(wp, 112), bits), v128.load(xp, 240));
    // rotate: the row just done becomes q3, the next row's sum q0
    const t = q0;
    q0 = q1;
    q1 = q2;
    q2 = q3;
    q3 = t;
    if (sOff == sLast) {
      sOff = 0;
      k += 128;
    } else {
      sOff += qBytes;
    }
  } while (k != wholeBytes);
  // used on every exit (rowChunks); after a multiple of 4 rotations q0..q3 are rows a..d again
  q3 = addChunkSums(q3, e0, o0, e1, o1);
  v128.store(res, q0);
  v128.store(res, q1, 16);
  v128.store(res, q2, 32);
  v128.store(res, q3, 48);
}

/**
 * acc (f64x2) + one chunk's even / odd accumulators (rowChunks's e0, o0, e1, o1), put back into the natural column
 * order's four accumulators [S0..S3], [S4..S7], [S8..S11], [S12..S15] and added as the unsplit kernel did.
 */
// @ts-ignore: decorator
@inline export function addChunkSums(acc: v128, e0: v128, o0: v128, e1: v128, o1: v128): v128 {
  const a0 = i8x16.shuffle(e0, o0, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const a1 = i8x16.shuffle(e0, o0, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  const a2 = i8x16.shuffle(e1, o1, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const a3 = i8x16.shuffle(e1, o1, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  return addF32x4ToF64x2(acc, f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
}

/** A row's dot after its whole 64-column chunks (from column c0, with their f64x2 sum acc). */
// @ts-ignore: decorator
@inline function rowTail<M>(wr: usize, xt: usize, c0: u32, cols: u32, acc: v128, bits: v128): f64 {
  const exact = sizeof<M>() == 8;
  let c = c0;
  for (; c + 4 <= cols; c += 4) acc = addF32x4ToF64x2(acc, prod4<M>(wr + (<usize>c << 1), xt + (<usize>c << 2), bits));
  let sum = hsumF64(acc);
  for (; c < cols; c++) {
    const wv = exact ? f16ToF32(load<u16>(wr + (<usize>c << 1))) : f16ScaledDown(<i32>load<i16>(wr + (<usize>c << 1)));
    sum += <f64>(wv * load<f32>(xt + (<usize>c << 2)));
  }
  return sum;
}

/**
 * The products of the listed (subnormal) weights of row r with x, scaled back (see matmulF16Rows). Column c sits at
 * position c of x past the whole chunks (`whole` columns), else at its place in its group of 8, even columns first.
 */
export function subExtra(subRows: usize, subCols: usize, subValues: usize, r: u32, xt: usize, subScale: f64, whole: u32): f64 {
  if (subRows == 0) return 0;
  const k0 = load<u32>(subRows + (<usize>r << 2));
  const k1 = load<u32>(subRows + (<usize>r << 2), 4);
  if (k1 <= k0) return 0;
  let extra: f64 = 0;
  for (let k = k0; k < k1; k++) {
    const c = load<u32>(subCols + (<usize>k << 2));
    const at = c < whole ? (c & ~7) | ((c & 1) << 2) | ((c & 7) >> 1) : c;
    extra += <f64>load<f32>(subValues + (<usize>k << 2)) * <f64>load<f32>(xt + (<usize>at << 2));
  }
  return extra * subScale;
}

/**
 * Rows [start, end) for every token (rows outer, so a row is read once for all tokens): four rows a quarter of the
 * range apart at a time (rowChunksQuad; res: 64 bytes of scratch), the rest one after the other.
 */
// @ts-ignore: decorator
@inline function f16Rows<M>(
  w: usize, cols: u32, x: usize, xStride: usize, nTokens: u32, out: usize, outStride: usize, start: u32, end: u32,
  scale: f64, bits: v128, subRows: usize, subCols: usize, subValues: usize, subScale: f64, res: usize,
): void {
  const rowBytes = <usize>cols << 1;
  const whole = cols & ~63;
  // four streams a quarter of the rows apart (rowChunksQuad), then the rows past four whole quarters one at a time
  const q = whole != 0 ? (end - start) >> 2 : 0;
  const qBytes = <usize>q * rowBytes;
  for (let i: u32 = 0; i < q; i++) {
    const wa = w + <usize>(start + i) * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      rowChunksQuad<M>(wa, qBytes, xt, whole, bits, res);
      for (let j: u32 = 0; j < 4; j++) {
        const r = start + i + j * q;
        const sum = rowTail<M>(wa + <usize>j * qBytes, xt, whole, cols, v128.load(res + (<usize>j << 4)), bits) + subExtra(subRows, subCols, subValues, r, xt, subScale, whole);
        store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(sum * scale));
      }
    }
  }
  for (let r = start + 4 * q; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      const acc = whole != 0 ? rowChunks<M>(wr, xt, whole, bits, f64x2.splat(0)) : f64x2.splat(0);
      const sum = rowTail<M>(wr, xt, whole, cols, acc, bits) + subExtra(subRows, subCols, subValues, r, xt, subScale, whole);
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(sum * scale));
    }
  }
}

/**
 * Rows [start, end) (whole groups of F16_PANEL_ROWS, cols a multiple of 64) of a weight in the column-panel layout
 * (file header), for every token: per group and token, the panels in order, each over the group's rows, the rows'
 * f64x2 sums kept in accs (F16_PANEL_ROWS x 16 bytes) between panels.
 */
// @ts-ignore: decorator
@inline function f16PanelRows<M>(
  w: usize, cols: u32, x: usize, xStride: usize, nTokens: u32, out: usize, outStride: usize, start: u32, end: u32,
  scale: f64, bits: v128, subRows: usize, subCols: usize, subValues: usize, subScale: f64, accs: usize,
): void {
  const groupBytes = <usize>cols * F16_PANEL_ROWS * 2;
  for (let r0 = start; r0 < end; r0 += F16_PANEL_ROWS) {
    const g = w + <usize>(r0 / F16_PANEL_ROWS) * groupBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      let piece = g;
      for (let c0: u32 = 0; c0 < cols; c0 += F16_PANEL_COLS) {
        const pc = min(F16_PANEL_COLS, cols - c0);
        const pieceBytes = <usize>pc << 1;
        const xp = xt + (<usize>c0 << 2);
        for (let i: u32 = 0; i < F16_PANEL_ROWS; i++) {
          const slot = accs + (<usize>i << 4);
          v128.store(slot, rowChunks<M>(piece, xp, pc, bits, c0 == 0 ? f64x2.splat(0) : v128.load(slot)));
          piece += pieceBytes;
        }
      }
      for (let i: u32 = 0; i < F16_PANEL_ROWS; i++) {
        const r = r0 + i;
        const sum = hsumF64(v128.load(accs + (<usize>i << 4))) + subExtra(subRows, subCols, subValues, r, xt, subScale, cols);
        store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(sum * scale));
      }
    }
  }
}

/**
 * Job body: rows [start, end) for every token. Rows below ARG_PANEL_ROWS are in the column-panel layout (file
 * header; prepareWeight repacked them, and the job's chunks are whole groups), the rest row-major.
 */
export function matmulF16Rows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const exact = argU32(job, ARG_VARIANT) != 0;
  const subRows = argPtr(job, ARG_SUB_ROWS);
  const subCols = argPtr(job, ARG_SUB_COLS);
  const subValues = argPtr(job, ARG_SUB_VALUES);
  // the fast path's x is scaled by 2^112: the listed products (value * x) are scaled back
  const subScale: f64 = exact ? 1.0 : 1.925929944387236e-34; // 2^-112
  const bits = vconst(C_F16_BITS);
  const panelEnd = min(end, argU32(job, ARG_PANEL_ROWS));
  const accs = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  if (start < panelEnd) {
    if (exact) f16PanelRows<Exact>(w, cols, x, xStride, nTokens, out, outStride, start, panelEnd, scale, bits, subRows, subCols, subValues, subScale, accs);
    else f16PanelRows<Scaled>(w, cols, x, xStride, nTokens, out, outStride, start, panelEnd, scale, bits, subRows, subCols, subValues, subScale, accs);
    start = panelEnd;
  }
  if (start >= end) return;
  if (exact) f16Rows<Exact>(w, cols, x, xStride, nTokens, out, outStride, start, end, scale, bits, subRows, subCols, subValues, subScale, accs);
  else f16Rows<Scaled>(w, cols, x, xStride, nTokens, out, outStride, start, end, scale, bits, subRows, subCols, subValues, subScale, accs);
}
