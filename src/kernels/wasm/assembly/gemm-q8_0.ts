// Multi-token matmul for Q8_0 weights (the tied embedding / output of a batched decode step): every weight block is
// widened to int16 once and dotted with the activations of all the step's tokens, instead of once per token.
//
// Why: with 8 logits rows the output matmul (128256 x 2560, 328 M MACs per token) is compute bound, and the
// per-row kernel (matmul-q8_0.ts) spends 4 of its ~11 instructions per block and token widening the weights
// again for every token. Here two blocks' 8 widened vectors stay in registers while a run-time loop over the
// tokens does the 4 activation loads, 4 i32x4.dot_i16x8_s and 3 adds per block and token.
//
// Results are bit-identical to matmul-q8_0.ts for every (row, token): the same integer block dots (exact), the
// same 4-block step (sum4I32 of the block sums, times d_w * 2^-112 times d_x * 2^112 in f32, promoted and added to
// an f64x2 accumulator with addF32x4ToF64x2), the same tail (rowTail) and the same final f32(sum * scale). Only the
// order in which (row, token) pairs are computed changes.
//
// Fused variant (ARG_VARIANT 2; the glue sets it only where self-check.ts relaxedDotLowering reads 'vnni', i.e. the
// relaxed dot-add is one x86 vpdpbusd, which reads its second operand as unsigned bytes, and the start-up self-check
// passed, probe.ts): the activations come a second time as bytes u = x + 128 (biasQ8_0Act, 1..255) at ARG_TAB, and a
// block's integer dot is sum w u - 128 sum w: two vpdpbusd per block and token on the file's signed weight bytes, no
// widening, started from the block's -128 sum w (two vpdpbusd against bytes of 128, once per block for all tokens).
// The same integers as the i16 path (|lane| <= 8 * 255 * 128: no overflow), so the same outputs bit for bit. Only
// valid under that lowering: a signed reading of u (Arm sdot, vpdpbssd) or V8's saturating pmaddubsw pairs would be
// wrong, so no other lowering may take it.

import { addF32x4ToF64x2, hsumF64, q8ScalesTimes, q8WeightScales } from './common';
import { C_F16_BITS, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_AUX, ARG_AUX_STRIDE, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_SCRATCH, ARG_SCRATCH_STRIDE,
  ARG_TAB, ARG_TAB_STRIDE, ARG_VARIANT, ARG_W, ARG_X, ARG_X_STRIDE,
} from './job';
import { Q8_0_BLOCK_BYTES, Q8_0_EXACT_SCALES, rowTail as q8RowTail } from './matmul-q8_0';

/** Tokens per pass (the glue splits larger batches); per-thread scratch: 64 B of block sums and a 16 B accumulator per token. */
export const GEMM_Q8_0_TOKENS: u32 = 16;


/**
 * The integer dots of two consecutive blocks (at blk, blk + 34; 4 widened weight vectors each) with the nTokens
 * tokens' activations at xb (xStride bytes apart): per token, the two blocks' i32x4 partial sums a and b, half
 * transposed as sum4I32 does first ([a0 + a2, a1 + a3, b0 + b2, b1 + b3]), stored at sums + 64 t + j (j: 0 for the
 * first pair of a 4-block step, 16 for the second). The weights stay in registers across the token loop: the point
 * of this kernel.
 */
// @ts-ignore: decorator
@inline function blockPairTokens(blk: usize, xb: usize, xStride: usize, nTokens: u32, sums: usize): void {
  const w0 = v128.load8x8_s(blk, 2);
  const w1 = v128.load8x8_s(blk, 10);
  const w2 = v128.load8x8_s(blk, 18);
  const w3 = v128.load8x8_s(blk, 26);
  const v0 = v128.load8x8_s(blk, 36);
  const v1 = v128.load8x8_s(blk, 44);
  const v2 = v128.load8x8_s(blk, 52);
  const v3 = v128.load8x8_s(blk, 60);
  let xp = xb;
  let sp = sums;
  const spEnd = sums + (<usize>nTokens << 6);
  for (; sp < spEnd; sp += 64) {
    const a = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(xp)), i32x4.dot_i16x8_s(w1, v128.load(xp, 16))),
      i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(xp, 32)), i32x4.dot_i16x8_s(w3, v128.load(xp, 48))),
    );
    v128.store(sp, a); // the barrier: b's loads are issued after it
    const b = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(v0, v128.load(xp, 64)), i32x4.dot_i16x8_s(v1, v128.load(xp, 80))),
      i32x4.add(i32x4.dot_i16x8_s(v2, v128.load(xp, 96)), i32x4.dot_i16x8_s(v3, v128.load(xp, 112))),
    );
    v128.store(sp, i32x4.add(i8x16.shuffle(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), i8x16.shuffle(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31)));
    xp += xStride;
  }
}

/** acc + the i32 dots of the signed bytes w with the unsigned bytes u (one vpdpbusd under the 'vnni' lowering). */
// @ts-ignore: decorator
@inline function dotU8(acc: v128, w: v128, u: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_dot_i8x16_i7x16_add_s(w, u, acc);
  return unreachable(); // the SIMD128 build never sets the fused variant
}

/**
 * blockPairTokens on fused dots (the header's fused variant): the pair's 4 weight vectors are the file's bytes, each
 * block's sums start from its -128 sum w, and a token costs 4 activation loads and 4 vpdpbusd per block pair (against
 * 8 loads, 8 pmaddwd and 6 adds). Stores the same half-transposed sums.
 */
// @ts-ignore: decorator
@inline function blockPairTokensFused(blk: usize, xb: usize, xStride: usize, nTokens: u32, sums: usize, k128: v128): void {
  const w0 = v128.load(blk, 2);
  const w1 = v128.load(blk, 18);
  const v0 = v128.load(blk, 36);
  const v1 = v128.load(blk, 52);
  const z = i32x4.splat(0);
  const na = i32x4.sub(z, dotU8(dotU8(z, w0, k128), w1, k128));
  const nb = i32x4.sub(z, dotU8(dotU8(z, v0, k128), v1, k128));
  let xp = xb;
  let sp = sums;
  const spEnd = sums + (<usize>nTokens << 6);
  for (; sp < spEnd; sp += 64) {
    const a = dotU8(dotU8(na, w0, v128.load(xp)), w1, v128.load(xp, 16));
    const b = dotU8(dotU8(nb, v0, v128.load(xp, 32)), v1, v128.load(xp, 48));
    v128.store(sp, i32x4.add(i8x16.shuffle(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), i8x16.shuffle(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31)));
    xp += xStride;
  }
}

/**
 * The fused variant's byte activations: u = x + 128 for the int16 Q8_0 activations x (in [-127, 127] or 0:
 * quantize-activations.ts quantizeQ8_0Act) of nTokens tokens, cols (a multiple of 32) per token.
 */
export function biasQ8_0Act(x: usize, nTokens: u32, cols: u32, xStride: u32, out: usize, outStride: u32): void {
  const k = i8x16.splat(-128);
  for (let t: u32 = 0; t < nTokens; t++) {
    const xt = x + <usize>t * xStride;
    const ot = out + <usize>t * outStride;
    for (let c: usize = 0; c < <usize>cols; c += 32) {
      const p = xt + (c << 1);
      v128.store(ot + c, v128.xor(i8x16.narrow_i16x8_s(v128.load(p), v128.load(p, 16)), k));
      v128.store(ot + c, v128.xor(i8x16.narrow_i16x8_s(v128.load(p, 32), v128.load(p, 48)), k), 16);
    }
  }
}

/**
 * Job body: rows [start, end) for nTokens (<= GEMM_Q8_0_TOKENS) tokens of int16 Q8_0 activations, rows outer so a
 * row (2720 bytes at 2560 columns) comes from DRAM once and from L1 for the other tokens. Per 4-block step: each
 * pair of blocks' weights are widened once (8 vectors) and dotted with every token (blockPairTokens: one store of the
 * pair's half-transposed sums per token, where each block stored its own sums before), then each token's four block
 * sums are summed, scaled and added to its f64x2 accumulator (in scratch) exactly as matmul-q8_0.ts step4 does.
 * Against one block per token loop (each block's sums stored, four loads and the whole transpose per token and step):
 * 0.460-0.468 against 0.513-0.517 ms at 8 tokens, 0.250 against 0.277 at 4, 0.911 against 0.975 at 16 (512x2560,
 * 1 thread, Node 22, CPU time, min of 100; bench/README.md).
 *
 * Tried and dropped: four tokens in the lanes of one sum4I32 with their accumulators in registers (no store per
 * token): V8 issued all 32 loads of a 4-block step first and spilled most of them (--print-wasm-code: 287 spill
 * moves in the function), 10% slower than this on 1 thread. The store per token and block keeps each token's loads
 * next to their arithmetic (the same barrier matmul-q8_0.ts and matmul-i2s-dot.ts use). The block pair without the
 * store of the first block's sums between the two blocks' loads: V8 issued all 8 activation loads first and spilled
 * weight vectors, 0.491-0.498 ms at 8 tokens. The second pair's token loop also finishing the step (transpose, scale,
 * f64 add) instead of a loop of its own: 0.511-0.524 against 0.463 ms. Four tokens in the lanes of one i32x4 per
 * block (transposed d_x, f64 accumulators per token in scratch): no gain (bench/README.md).
 */
export function gemmQ8_0Rows(job: usize, start: u32, end: u32, thread: u32): void {
  if ((argU32(job, ARG_VARIANT) & Q8_0_EXACT_SCALES) != 0) gemmQ8Rows(job, start, end, thread, true);
  else gemmQ8Rows(job, start, end, thread, false);
}

/** gemmQ8_0Rows's body, `exact` (the scale conversion: common.ts q8BlockScales) a constant after inlining. */
// @ts-ignore: decorator
@inline function gemmQ8Rows(job: usize, start: u32, end: u32, thread: u32, exact: bool): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const dx = argPtr(job, ARG_AUX);
  const dxStride = <usize>argU32(job, ARG_AUX_STRIDE);
  const nTokens = min(argU32(job, ARG_N_TOKENS), GEMM_Q8_0_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const nBlocks = cols >> 5;
  const nBlocks4 = nBlocks & ~3;
  const rowBytes = <usize>nBlocks * Q8_0_BLOCK_BYTES;
  const bits = vconst(C_F16_BITS);
  const sums = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  const accs = sums + (<usize>GEMM_Q8_0_TOKENS << 6);
  const apEnd = accs + (<usize>nTokens << 4);
  const zero = f64x2.splat(0);
  // the fused variant (header): byte activations x + 128 at ARG_TAB
  const fused = ASC_FEATURE_RELAXED_SIMD && (argU32(job, ARG_VARIANT) & 2) != 0;
  const u = argPtr(job, ARG_TAB);
  const uStride = <usize>argU32(job, ARG_TAB_STRIDE);
  const k128 = i8x16.splat(-128);
  for (let r = start; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let ap = accs; ap < apEnd; ap += 16) v128.store(ap, zero);
    for (let b: u32 = 0; b < nBlocks4; b += 4) {
      const blk = wr + <usize>b * Q8_0_BLOCK_BYTES;
      const xb = x + (<usize>b << 6);
      if (fused) {
        const ub = u + (<usize>b << 5);
        blockPairTokensFused(blk, ub, uStride, nTokens, sums, k128);
        blockPairTokensFused(blk + 68, ub + 64, uStride, nTokens, sums + 16, k128);
      } else {
        blockPairTokens(blk, xb, xStride, nTokens, sums);
        blockPairTokens(blk + 68, xb + 128, xStride, nTokens, sums + 16);
      }
      // the four blocks' d_w (16-bit lanes 0..3 of h), shared by the tokens: d_w d_x as matmul-q8_0.ts step4 makes it
      // (common.ts q8BlockScales; the shortcut's d_w * 2^-112 bits, or d_w converted exactly)
      let h = v128.load16_lane(blk, i32x4.splat(0), 0);
      h = v128.load16_lane(blk + 34, h, 1);
      h = v128.load16_lane(blk + 68, h, 2);
      h = v128.load16_lane(blk + 102, h, 3);
      const dw = q8WeightScales(h, bits, exact);
      let dq = dx + (<usize>b << 2);
      let sp = sums;
      for (let ap = accs; ap < apEnd; ap += 16) {
        const ab = v128.load(sp);
        const cd = v128.load(sp, 16);
        const s = i32x4.add(i8x16.shuffle(ab, cd, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), i8x16.shuffle(ab, cd, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31));
        const dwdx = q8ScalesTimes(dw, v128.load(dq), exact);
        v128.store(ap, addF32x4ToF64x2(v128.load(ap), f32x4.mul(f32x4.convert_i32x4_s(s), dwdx)));
        sp += 64;
        dq += dxStride;
      }
    }
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      const dt = dx + <usize>t * dxStride;
      const sum = q8RowTail(wr, xt, dt, nBlocks4, nBlocks, hsumF64(v128.load(accs + (<usize>t << 4))), exact);
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(sum * scale));
    }
  }
}
