// Matmul for Q4_0 weights with Q8_0 activations (Q4_0's vec_dot_type), as ggml_vec_dot_q4_0_q8_0
// (ggml/src/ggml-cpu/quants.c): out[t, r] = scale * sum_blocks d_w * d_x * sum_j (nibble_j - 8) * q_j.
// Q4_0 block (ggml-common.h block_q4_0; order from ggml-quants.c dequantize_row_q4_0): f16 d, qs[16]; element
// j = (qs[j] & 15) - 8, element j + 16 = (qs[j] >> 4) - 8; 18 bytes per 32 weights. Same structure as
// matmul-q8_0.ts: int16 activations, four blocks' integer sums and scales at a time, f64 sum of the block terms.

import { addF32x4ToF64x2, f16ScaledDown, f16ToF32, hsumF64, hsumI32, q8BlockScales, sum4I32 } from './common';
import { C_08, C_0F, C_F16_BITS, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_AUX, ARG_AUX_STRIDE, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_VARIANT, ARG_W, ARG_X, ARG_X_STRIDE,
} from './job';
import { Q8_0_EXACT_SCALES } from './matmul-q8_0';

export const Q4_0_BLOCK_BYTES: u32 = 18;

/** Integer dot of one block (qs at blk + 2) with 32 int16 activations at xb, as i32x4 partial sums. */
// @ts-ignore: decorator
@inline function blockDot(blk: usize, xb: usize, m15: v128, eight: v128): v128 {
  const qs = v128.load(blk, 2);
  const lo = i8x16.sub(v128.and(qs, m15), eight);
  const hi = i8x16.sub(v128.and(i16x8.shr_u(qs, 4), m15), eight);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(lo), v128.load(xb)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(lo), v128.load(xb, 16))),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(hi), v128.load(xb, 32)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(hi), v128.load(xb, 48))),
  );
}

/** Job body: rows [start, end) for every token. */
export function matmulQ4_0Rows(job: usize, start: u32, end: u32, thread: u32): void {
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
  const rowBytes = <usize>nBlocks * Q4_0_BLOCK_BYTES;
  const m15 = vconst(C_0F);
  const eight = vconst(C_08);
  const bits = vconst(C_F16_BITS);
  // subnormal block scales: converted exactly (common.ts q8BlockScales, as the Q8_0 kernels)
  const exact = (argU32(job, ARG_VARIANT) & Q8_0_EXACT_SCALES) != 0;
  for (let r = start; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      const dt = dx + <usize>t * dxStride;
      let acc = f64x2.splat(0);
      let b: u32 = 0;
      for (; b < nBlocks4; b += 4) {
        const blk = wr + <usize>b * Q4_0_BLOCK_BYTES;
        const xb = xt + (<usize>b << 6);
        const s = sum4I32(blockDot(blk, xb, m15, eight), blockDot(blk + 18, xb + 64, m15, eight), blockDot(blk + 36, xb + 128, m15, eight), blockDot(blk + 54, xb + 192, m15, eight));
        let h = v128.load16_lane(blk, i32x4.splat(0), 0);
        h = v128.load16_lane(blk + 18, h, 1);
        h = v128.load16_lane(blk + 36, h, 2);
        h = v128.load16_lane(blk + 54, h, 3);
        const dwdx = q8BlockScales(h, v128.load(dt + (<usize>b << 2)), bits, exact);
        acc = addF32x4ToF64x2(acc, f32x4.mul(f32x4.convert_i32x4_s(s), dwdx));
      }
      let sum = hsumF64(acc);
      for (; b < nBlocks; b++) {
        const blk = wr + <usize>b * Q4_0_BLOCK_BYTES;
        const idot = hsumI32(blockDot(blk, xt + (<usize>b << 6), m15, eight));
        const dxb = load<f32>(dt + (<usize>b << 2));
        const dwdx = exact ? f16ToF32(load<u16>(blk)) * (dxb * reinterpret<f32>(0x07800000)) : f16ScaledDown(<i32>load<i16>(blk)) * dxb;
        sum += <f64>(<f32>idot * dwdx);
      }
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(sum * scale));
    }
  }
}
