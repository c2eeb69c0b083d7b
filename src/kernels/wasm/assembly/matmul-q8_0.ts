// Matmul for Q8_0 weights (tied embeddings / output) with Q8_0 activations, as ggml_vec_dot_q8_0_q8_0
// (ggml/src/ggml-cpu/quants.c): out[t, r] = scale * sum_blocks d_w * d_x * (integer dot of the 32 int8 weights
// with the 32 int8 activations).
// Q8_0 block (ggml-common.h block_q8_0): f16 d, then qs[32] int8; 34 bytes per 32 weights. The activations come
// as int16 (quantize-activations.ts quantizeQ8_0Act) so one i32x4.dot_i16x8_s multiplies 8 pairs; the weights are
// widened by v128.load8x8_s. Four blocks at a time: their integer sums are gathered into one i32x4, their four
// d_w read as f32 bits worth d_w * 2^-112 (common.ts f16x4ScaledDown) times d_x * 2^112, so every block term
// d_w d_x idot is one f32 rounding from exact, and the terms are summed in f64.

import { addF32x4ToF64x2, f16ScaledDown, hsumF64, hsumI32, sum4I32 } from './common';
import { C_F16_BITS, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_AUX, ARG_AUX_STRIDE, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_SCRATCH, ARG_SCRATCH_STRIDE,
  ARG_W, ARG_X, ARG_X_STRIDE,
} from './job';

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
@inline function step4(blk: usize, xb: usize, dq: usize, acc: v128, bits: v128, tmp: usize): v128 {
  v128.store(tmp, blockDot(blk, xb));
  v128.store(tmp, blockDot(blk + 34, xb + 64), 16);
  v128.store(tmp, blockDot(blk + 68, xb + 128), 32);
  v128.store(tmp, blockDot(blk + 102, xb + 192), 48);
  const s = sum4I32(v128.load(tmp), v128.load(tmp, 16), v128.load(tmp, 32), v128.load(tmp, 48));
  let h = v128.load16_lane(blk, i32x4.splat(0), 0);
  h = v128.load16_lane(blk + 34, h, 1);
  h = v128.load16_lane(blk + 68, h, 2);
  h = v128.load16_lane(blk + 102, h, 3);
  const dwdx = f32x4.mul(v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(h), 13), bits), v128.load(dq));
  return addF32x4ToF64x2(acc, f32x4.mul(f32x4.convert_i32x4_s(s), dwdx));
}

/** The blocks of a row past its last whole 4-block step, added to sum in block order (gemm-q8_0.ts shares it). */
export function rowTail(wr: usize, xt: usize, dt: usize, b: u32, nBlocks: u32, sum: f64): f64 {
  for (; b < nBlocks; b++) {
    const blk = wr + <usize>b * Q8_0_BLOCK_BYTES;
    const idot = hsumI32(blockDot(blk, xt + (<usize>b << 6)));
    sum += <f64>(<f32>idot * (f16ScaledDown(<i32>load<i16>(blk)) * load<f32>(dt + (<usize>b << 2))));
  }
  return sum;
}

/**
 * Job body: rows [start, end) for every token. The rows are taken as four streams a quarter of the range apart,
 * advanced in lockstep: one row stream at a time left most of the DRAM latency exposed (a single thread reached
 * 6.9 GB/s from DRAM against 12.7 GB/s from L2); four concurrent streams keep more lines in flight (11.9 GB/s,
 * 128256x2560 from DRAM, Node 22). Each row's arithmetic is unchanged.
 */
export function matmulQ8_0Rows(job: usize, start: u32, end: u32, thread: u32): void {
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
  for (let r = start; r < start + quarter; r++) {
    const w0 = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      const dt = dx + <usize>t * dxStride;
      let a0 = f64x2.splat(0);
      let a1 = f64x2.splat(0);
      let a2 = f64x2.splat(0);
      let a3 = f64x2.splat(0);
      for (let b: u32 = 0; b < nBlocks4; b += 4) {
        const blk = w0 + <usize>b * Q8_0_BLOCK_BYTES;
        const xb = xt + (<usize>b << 6);
        const dq = dt + (<usize>b << 2);
        a0 = step4(blk, xb, dq, a0, bits, tmp);
        a1 = step4(blk + stride, xb, dq, a1, bits, tmp);
        a2 = step4(blk + 2 * stride, xb, dq, a2, bits, tmp);
        a3 = step4(blk + 3 * stride, xb, dq, a3, bits, tmp);
      }
      const o = out + ((<usize>t * outStride + r) << 2);
      const q4 = <usize>quarter << 2;
      store<f32>(o, <f32>(rowTail(w0, xt, dt, nBlocks4, nBlocks, hsumF64(a0)) * scale));
      store<f32>(o + q4, <f32>(rowTail(w0 + stride, xt, dt, nBlocks4, nBlocks, hsumF64(a1)) * scale));
      store<f32>(o + 2 * q4, <f32>(rowTail(w0 + 2 * stride, xt, dt, nBlocks4, nBlocks, hsumF64(a2)) * scale));
      store<f32>(o + 3 * q4, <f32>(rowTail(w0 + 3 * stride, xt, dt, nBlocks4, nBlocks, hsumF64(a3)) * scale));
    }
  }
  // rows past four whole quarters, one at a time
  for (let r = start + 4 * quarter; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      const dt = dx + <usize>t * dxStride;
      let acc = f64x2.splat(0);
      for (let b: u32 = 0; b < nBlocks4; b += 4) {
        acc = step4(wr + <usize>b * Q8_0_BLOCK_BYTES, xt + (<usize>b << 6), dt + (<usize>b << 2), acc, bits, tmp);
      }
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(rowTail(wr, xt, dt, nBlocks4, nBlocks, hsumF64(acc)) * scale));
    }
  }
}
