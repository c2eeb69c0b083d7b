// Matmul for Q4_0 weights: out[t, r] = scale * sum_blocks d * sum_j (nibble_j - 8) * x[t, 32b + j], f32 activations.
// Q4_0 block (ggml-common.h block_q4_0; order from ggml-quants.c dequantize_row_q4_0): f16 d, qs[16];
// element j = (qs[j] & 15) - 8, element j + 16 = (qs[j] >> 4) - 8; 18 bytes per 32 weights.

import { f16ToF32, hsumF32 } from './common';
import { C_08, C_0F, vconst } from './constants';
import { argF64, argPtr, argU32, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_W, ARG_X, ARG_X_STRIDE } from './job';

export const Q4_0_BLOCK_BYTES: u32 = 18;

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
export function matmulQ4_0Rows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const nBlocks = cols >> 5;
  const rowBytes = <usize>nBlocks * Q4_0_BLOCK_BYTES;
  const m15 = vconst(C_0F);
  const eight = vconst(C_08);
  for (let r = start; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      let xb = x + <usize>t * xStride;
      let acc = f32x4.splat(0);
      let blk = wr;
      for (let b: u32 = 0; b < nBlocks; b++) {
        const qs = v128.load(blk, 2);
        const lo = i8x16.sub(v128.and(qs, m15), eight);
        const hi = i8x16.sub(v128.and(i16x8.shr_u(qs, 4), m15), eight);
        const s = f32x4.add(dot16(lo, xb), dot16(hi, xb + 64));
        acc = f32x4.add(acc, f32x4.mul(s, f32x4.splat(f16ToF32(load<u16>(blk)))));
        blk += 18;
        xb += 128;
      }
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(<f64>hsumF32(acc) * scale));
    }
  }
}
