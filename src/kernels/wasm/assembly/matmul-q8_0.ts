// Matmul for Q8_0 weights (tied embeddings / output): out[t, r] = scale * sum_blocks d_w * sum_j q_j * x[t, 32b + j].
// Q8_0 block (ggml-common.h block_q8_0): f16 d, then qs[32] int8; 34 bytes per 32 weights.
// The activations come split in two int16 parts per 32-block (quantize-activations.ts quantizeSplit16:
// x = d_x * (h + l / 32768) within amax * 2^-31), so the inner loop is i32x4.dot_i16x8_s on exact integer
// products: an f32-accurate float dot at about twice the speed of converting every weight to f32.

import { f16ToF32, hsumF32 } from './common';
import { argF64, argPtr, argU32, ARG_AUX, ARG_AUX_STRIDE, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_W, ARG_X, ARG_X_STRIDE } from './job';

export const Q8_0_BLOCK_BYTES: u32 = 34;

/** Job body: rows [start, end) for every token. */
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
  const rowBytes = <usize>nBlocks * Q8_0_BLOCK_BYTES;
  const lowWeight = f32x4.splat(1.0 / 32768.0);
  for (let r = start; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      let xb = x + <usize>t * xStride;
      let db = dx + <usize>t * dxStride;
      let acc = f32x4.splat(0);
      let blk = wr;
      for (let b: u32 = 0; b < nBlocks; b++) {
        const w0 = v128.load(blk, 2);
        const w1 = v128.load(blk, 18);
        const wl0 = i16x8.extend_low_i8x16_s(w0);
        const wh0 = i16x8.extend_high_i8x16_s(w0);
        const wl1 = i16x8.extend_low_i8x16_s(w1);
        const wh1 = i16x8.extend_high_i8x16_s(w1);
        // |q| <= 128, |h|, |l| <= 32767: each i32 lane sums 8 products, < 2^31
        const ph = i32x4.add(
          i32x4.add(i32x4.dot_i16x8_s(wl0, v128.load(xb)), i32x4.dot_i16x8_s(wh0, v128.load(xb, 16))),
          i32x4.add(i32x4.dot_i16x8_s(wl1, v128.load(xb, 32)), i32x4.dot_i16x8_s(wh1, v128.load(xb, 48))),
        );
        const pl = i32x4.add(
          i32x4.add(i32x4.dot_i16x8_s(wl0, v128.load(xb, 64)), i32x4.dot_i16x8_s(wh0, v128.load(xb, 80))),
          i32x4.add(i32x4.dot_i16x8_s(wl1, v128.load(xb, 96)), i32x4.dot_i16x8_s(wh1, v128.load(xb, 112))),
        );
        const v = f32x4.add(f32x4.convert_i32x4_s(ph), f32x4.mul(f32x4.convert_i32x4_s(pl), lowWeight));
        acc = f32x4.add(acc, f32x4.mul(v, f32x4.splat(f16ToF32(load<u16>(blk)) * load<f32>(db))));
        blk += 34;
        xb += 128;
        db += 4;
      }
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(<f64>hsumF32(acc) * scale));
    }
  }
}
