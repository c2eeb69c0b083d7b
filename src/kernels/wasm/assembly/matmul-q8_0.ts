// Matmul for Q8_0 weights (tied embeddings / output) with Q8_0 activations, as ggml_vec_dot_q8_0_q8_0
// (ggml/src/ggml-cpu/quants.c): out[t, r] = scale * sum_blocks d_w * d_x * (integer dot of the 32 int8 weights
// with the 32 int8 activations).
// Q8_0 block (ggml-common.h block_q8_0): f16 d, then qs[32] int8; 34 bytes per 32 weights. The activations come
// as int16 (quantize-activations.ts quantizeQ8_0Act) so one i32x4.dot_i16x8_s multiplies 8 pairs; the weights are
// widened by v128.load8x8_s. Four blocks at a time: their integer sums are gathered into one i32x4, their four
// d_w read as f32 bits worth d_w * 2^-112 (common.ts f16x4ScaledDown) times d_x * 2^112, so every block term
// d_w d_x idot is one f32 rounding from exact, and the terms are summed in f64. A weight with a subnormal d_w (the glue
// scans the scales at load) runs with ARG_VARIANT bit Q8_0_EXACT_SCALES: d_w converted exactly, the same products
// (common.ts q8BlockScales), because the shortcut's d_w * 2^-112 is then a subnormal f32, which x86 multiplies through
// a microcode assist: 8192x2560 with every d_w subnormal, 1 thread, CPU time, 11.5-12.0 ms against 2.6 with normal
// scales; 2.6-3.3 ms with the exact conversion.
//
// Summation order (kept across rewrites; wasm.test.ts checks the kernels bit for bit against a host model of it):
// per row, the block terms f32(f32(idot) * f32(d_w 2^-112 * d_x 2^112)) of the whole 4-block steps summed in f64 as
// two chains, even blocks and odd blocks, each in block order (step4's acc lanes 0 and 1); then even + odd, the tail
// blocks in order (rowTail), and f32(sum * scale).
//
// Speed (issue 13): the job body takes four rows a quarter of the chunk apart and runs them in lockstep, the four
// rows of one block sharing its four activation loads (quadBlock: their integer sums transposed into the lanes of
// one i32x4, four d_w gathered, one d_x splat), two blocks per loop iteration for the even / odd chains, which now
// hold the four rows' sums in f64x2 pairs. Per 4 blocks x 4 rows ~80 x64 instructions (--print-wasm-code) against
// ~100 and more spill moves before (each row's step4 loaded its own activations). 1 thread, Node 22 relaxed-simd and
// simd128 alike, CPU time, min of 300: 256x2560 (L2) 18.5 against 14.1 GB/s; 8192x2560 over a 256 MiB ring (DRAM)
// 16-17 against 12-13 GB/s (bench/README.md has the 2-thread figures).
// Tried and dropped: the four rows consecutive instead of a quarter apart (four streams 2720 bytes apart): 5-7 GB/s
// from DRAM on 1 thread against 16-17; an in-loop touch 1536 bytes ahead in each of the four streams (as
// matmul-i2s-dot.ts): 11.5-12.4 against 16.5-17.4 GB/s from DRAM; a second barrier store after the transpose: no
// change; four blocks per loop iteration: 15.7-16.0 against 18.6 GB/s from L2; one block per iteration with the
// even / odd accumulators swapped: 17.9-18.1 against 17.8-19.1 (no gain); relaxed SIMD
// (i16x8.relaxed_dot_i8x16_i7x16_s on 16 weights whose signs are moved from the activations, |x| the 7-bit
// operand): a speed probe with a stand-in activation layout ran 19.9 against 18.6 GB/s from L2 (7%),
// the same instruction count per block and row (2 loads, 2 xor, 2 sub, 2 dots, 2 widening dots, 1 add against 4
// widening loads, 4 dots, 3 adds); not worth a second activation layout and a scan of every weight for -128.

import { addF32x4ToF64x2, f16ScaledDown, f16ToF32, hsumF64, hsumI32, q8BlockScales, sum4I32 } from './common';
import { C_F16_BITS, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_AUX, ARG_AUX_STRIDE, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_SCRATCH, ARG_SCRATCH_STRIDE,
  ARG_VARIANT, ARG_W, ARG_X, ARG_X_STRIDE,
} from './job';

/** ARG_VARIANT bit of the Q8_0 kernels (this file, gemm-q8_0.ts): the weight holds subnormal block scales (common.ts q8BlockScales). */
export const Q8_0_EXACT_SCALES: u32 = 4;

export const Q8_0_BLOCK_BYTES: u32 = 34;

/** Integer dot of one block (qs at blk + 2) with 32 int16 activations at xb, as i32x4 partial sums. */
// @ts-ignore: decorator
@inline function blockDot(blk: usize, xb: usize): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(blk, 2), v128.load(xb)), i32x4.dot_i16x8_s(v128.load8x8_s(blk, 10), v128.load(xb, 16))),
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(blk, 18), v128.load(xb, 32)), i32x4.dot_i16x8_s(v128.load8x8_s(blk, 26), v128.load(xb, 48))),
  );
}

/**
 * One 4-block step of a row at blk (activations at xb, their 4 scales at dq): acc (f64x2) += the four block terms
 * d_w d_x idot. Each block's sums are stored to tmp before the next block's loads: keeps V8 from hoisting all 32
 * loads ahead of the arithmetic (which spilled most of them).
 */
// @ts-ignore: decorator
@inline function step4(blk: usize, xb: usize, dq: usize, acc: v128, bits: v128, tmp: usize, exact: bool): v128 {
  v128.store(tmp, blockDot(blk, xb));
  v128.store(tmp, blockDot(blk + 34, xb + 64), 16);
  v128.store(tmp, blockDot(blk + 68, xb + 128), 32);
  v128.store(tmp, blockDot(blk + 102, xb + 192), 48);
  const s = sum4I32(v128.load(tmp), v128.load(tmp, 16), v128.load(tmp, 32), v128.load(tmp, 48));
  let h = v128.load16_lane(blk, i32x4.splat(0), 0);
  h = v128.load16_lane(blk + 34, h, 1);
  h = v128.load16_lane(blk + 68, h, 2);
  h = v128.load16_lane(blk + 102, h, 3);
  const dwdx = q8BlockScales(h, v128.load(dq), bits, exact);
  return addF32x4ToF64x2(acc, f32x4.mul(f32x4.convert_i32x4_s(s), dwdx));
}

/** Integer dot of one block (qs at blk + 2) with 32 int16 activations already in x0..x3, as i32x4 partial sums. */
// @ts-ignore: decorator
@inline function blockDotX(blk: usize, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(blk, 2), x0), i32x4.dot_i16x8_s(v128.load8x8_s(blk, 10), x1)),
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(blk, 18), x2), i32x4.dot_i16x8_s(v128.load8x8_s(blk, 26), x3)),
  );
}

/**
 * The block terms d_w d_x idot of one block (at blk in row 0; rows 1..3 rowStride apart) of four rows sharing one load
 * of the block's activations (at xb, scale at dq), as f32x4 [row 0, row 1, row 2, row 3]: the same integer sums,
 * f32 products and order of rounding as step4's lanes. The store of rows 0-1's partial transpose to tmp is the
 * scheduling barrier (file header): rows 2-3's loads are issued after it.
 */
// @ts-ignore: decorator
@inline function quadBlock(blk: usize, rowStride: usize, xb: usize, dq: usize, bits: v128, tmp: usize, exact: bool): v128 {
  const x0 = v128.load(xb);
  const x1 = v128.load(xb, 16);
  const x2 = v128.load(xb, 32);
  const x3 = v128.load(xb, 48);
  const s0 = blockDotX(blk, x0, x1, x2, x3);
  const s1 = blockDotX(blk + rowStride, x0, x1, x2, x3);
  const ab = i32x4.add(i8x16.shuffle(s0, s1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), i8x16.shuffle(s0, s1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
  v128.store(tmp, ab);
  const s2 = blockDotX(blk + 2 * rowStride, x0, x1, x2, x3);
  const s3 = blockDotX(blk + 3 * rowStride, x0, x1, x2, x3);
  const cd = i32x4.add(i8x16.shuffle(s2, s3, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), i8x16.shuffle(s2, s3, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
  const s = i32x4.add(i8x16.shuffle(ab, cd, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), i8x16.shuffle(ab, cd, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31));
  let h = v128.load16_lane(blk, i32x4.splat(0), 0);
  h = v128.load16_lane(blk + rowStride, h, 1);
  h = v128.load16_lane(blk + 2 * rowStride, h, 2);
  h = v128.load16_lane(blk + 3 * rowStride, h, 3);
  const dwdx = q8BlockScales(h, v128.load32_splat(dq), bits, exact);
  return f32x4.mul(f32x4.convert_i32x4_s(s), dwdx);
}

/**
 * The blocks of a row past its last whole 4-block step, added to sum in block order (gemm-q8_0.ts shares it); `exact`:
 * d_w converted exactly, as q8BlockScales.
 */
export function rowTail(wr: usize, xt: usize, dt: usize, b: u32, nBlocks: u32, sum: f64, exact: bool): f64 {
  for (; b < nBlocks; b++) {
    const blk = wr + <usize>b * Q8_0_BLOCK_BYTES;
    const idot = hsumI32(blockDot(blk, xt + (<usize>b << 6)));
    const dx = load<f32>(dt + (<usize>b << 2));
    const dwdx = exact ? f16ToF32(load<u16>(blk)) * (dx * reinterpret<f32>(0x07800000)) : f16ScaledDown(<i32>load<i16>(blk)) * dx;
    sum += <f64>(<f32>idot * dwdx);
  }
  return sum;
}

/**
 * Job body: rows [start, end) for every token. The rows are taken as four streams a quarter of the range apart,
 * advanced in lockstep: one row stream at a time left most of the DRAM latency exposed (a single thread reached
 * 6.9 GB/s from DRAM against 12.7 GB/s from L2); four concurrent streams keep more lines in flight. The four rows of
 * a step share each activation load (quadBlock); two blocks per iteration, the even one to the rows' even-block
 * accumulators and the odd one to their odd-block ones, so each row's f64 sums run in the order step4's acc lanes
 * take (even blocks, odd blocks, then even + odd and rowTail). Rows past four whole quarters: one at a time (step4).
 */
export function matmulQ8_0Rows(job: usize, start: u32, end: u32, thread: u32): void {
  if ((argU32(job, ARG_VARIANT) & Q8_0_EXACT_SCALES) != 0) q8Rows(job, start, end, thread, true);
  else q8Rows(job, start, end, thread, false);
}

/** matmulQ8_0Rows's body, `exact` (the scale conversion, q8BlockScales) a constant after inlining. */
// @ts-ignore: decorator
@inline function q8Rows(job: usize, start: u32, end: u32, thread: u32, exact: bool): void {
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
  const nBlocks = cols >> 5;
  const nBlocks4 = nBlocks & ~3;
  const rowBytes = <usize>nBlocks * Q8_0_BLOCK_BYTES;
  const bits = vconst(C_F16_BITS);
  const tmp = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE); // 64 bytes
  const quarter = (end - start) >> 2;
  const stride = <usize>quarter * rowBytes;
  const q4 = <usize>quarter << 2;
  for (let r = start; r < start + quarter; r++) {
    const w0 = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      const dt = dx + <usize>t * dxStride;
      let e01 = f64x2.splat(0);
      let e23 = f64x2.splat(0);
      let o01 = f64x2.splat(0);
      let o23 = f64x2.splat(0);
      let blk = w0;
      let xb = xt;
      let dq = dt;
      const xEnd = xt + (<usize>nBlocks4 << 6);
      while (xb < xEnd) {
        let p = quadBlock(blk, stride, xb, dq, bits, tmp, exact);
        e01 = f64x2.add(e01, f64x2.promote_low_f32x4(p));
        e23 = f64x2.add(e23, f64x2.promote_low_f32x4(i8x16.shuffle(p, p, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)));
        p = quadBlock(blk + Q8_0_BLOCK_BYTES, stride, xb + 64, dq + 4, bits, tmp, exact);
        o01 = f64x2.add(o01, f64x2.promote_low_f32x4(p));
        o23 = f64x2.add(o23, f64x2.promote_low_f32x4(i8x16.shuffle(p, p, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)));
        blk += 2 * Q8_0_BLOCK_BYTES;
        xb += 128;
        dq += 8;
      }
      const o = out + ((<usize>t * outStride + r) << 2);
      store<f32>(o, <f32>(rowTail(w0, xt, dt, nBlocks4, nBlocks, f64x2.extract_lane(e01, 0) + f64x2.extract_lane(o01, 0), exact) * scale));
      store<f32>(o + q4, <f32>(rowTail(w0 + stride, xt, dt, nBlocks4, nBlocks, f64x2.extract_lane(e01, 1) + f64x2.extract_lane(o01, 1), exact) * scale));
      store<f32>(o + 2 * q4, <f32>(rowTail(w0 + 2 * stride, xt, dt, nBlocks4, nBlocks, f64x2.extract_lane(e23, 0) + f64x2.extract_lane(o23, 0), exact) * scale));
      store<f32>(o + 3 * q4, <f32>(rowTail(w0 + 3 * stride, xt, dt, nBlocks4, nBlocks, f64x2.extract_lane(e23, 1) + f64x2.extract_lane(o23, 1), exact) * scale));
    }
  }
  const quadEnd = start + 4 * quarter;
  // rows past four whole quarters, one at a time
  for (let r = quadEnd; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      const dt = dx + <usize>t * dxStride;
      let acc = f64x2.splat(0);
      for (let b: u32 = 0; b < nBlocks4; b += 4) {
        acc = step4(wr + <usize>b * Q8_0_BLOCK_BYTES, xt + (<usize>b << 6), dt + (<usize>b << 2), acc, bits, tmp, exact);
      }
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(rowTail(wr, xt, dt, nBlocks4, nBlocks, hsumF64(acc), exact) * scale));
    }
  }
}
