// Matmul for Q8_0 weights (tied embeddings / output): out[t, r] = scale * sum_blocks d * sum_j q_j * x[t, 32b + j],
// f32 activations as the reference (the backend contract is a float dot with the exactly dequantized row).
// Q8_0 block (ggml-common.h block_q8_0): f16 d, then qs[32] int8; 34 bytes per 32 weights.

import { f16ToF32, hsumF32 } from './common';
import { argF64, argPtr, argU32, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_W, ARG_X, ARG_X_STRIDE } from './job';

export const Q8_0_BLOCK_BYTES: u32 = 34;

/** sum_j q_j * x_j over 16 int8 weights `q` and 16 floats at xp, as f32x4 partials. */
// @ts-ignore: decorator
@inline function dot16(q: v128, xp: usize): v128 {
  const lo = i16x8.extend_low_i8x16_s(q);
  const hi = i16x8.extend_high_i8x16_s(q);
  const a = f32x4.add(
    f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), v128.load(xp)),
    f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), v128.load(xp, 16)),
  );
  const b = f32x4.add(
    f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), v128.load(xp, 32)),
    f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), v128.load(xp, 48)),
  );
  return f32x4.add(a, b);
}

/** Job body: rows [start, end) for every token. */
export function matmulQ8_0Rows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const nBlocks = cols >> 5;
  const rowBytes = <usize>nBlocks * Q8_0_BLOCK_BYTES;
  for (let r = start; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      let xb = x + <usize>t * xStride;
      let acc0 = f32x4.splat(0);
      let acc1 = f32x4.splat(0);
      let blk = wr;
      for (let b: u32 = 0; b < nBlocks; b++) {
        const d = f32x4.splat(f16ToF32(load<u16>(blk)));
        acc0 = f32x4.add(acc0, f32x4.mul(dot16(v128.load(blk, 2), xb), d));
        acc1 = f32x4.add(acc1, f32x4.mul(dot16(v128.load(blk, 18), xb + 64), d));
        blk += 34;
        xb += 128;
      }
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(<f64>hsumF32(f32x4.add(acc0, acc1)) * scale));
    }
  }
}
