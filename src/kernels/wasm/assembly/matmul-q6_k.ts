// Matmul for Q6_K weights (bitnet.cpp's recommended embedding / output type):
// out[t, r] = scale * sum_superblocks d_w * d_x * sum_16 sc_16 * (int dot of 16 weights q-32 with xq).
// Q6_K block (ggml-common.h block_q6_K; order from ggml-quants.c dequantize_row_q6_K): ql[128], qh[64],
// int8 scales[16], f16 d = 210 bytes per 256 weights; for half n, l in 0..31 (is = l/16):
//   q1 = ql[l] & 15 | (qh[l] & 3) << 4        -> element 128n + l,      scale sc[is]
//   q2 = ql[l+32] & 15 | (qh[l]>>2 & 3) << 4  -> element 128n + 32 + l, scale sc[is+2]
//   q3 = ql[l] >> 4 | (qh[l]>>4 & 3) << 4     -> element 128n + 64 + l, scale sc[is+4]
//   q4 = ql[l+32] >> 4 | (qh[l]>>6 & 3) << 4  -> element 128n + 96 + l, scale sc[is+6]
// each minus 32; then ql += 64, qh += 32, sc += 8. f32 activations (float dot, as the reference).

import { f16ToF32, hsumF32 } from './common';
import { C_0F, C_20, C_30, vconst } from './constants';
import { argF64, argPtr, argU32, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_W, ARG_X, ARG_X_STRIDE } from './job';

export const Q6_K_BLOCK_BYTES: u32 = 210;

/** sum (q - 32) * x over 16 weights (q: bytes 0..63) and 16 floats at xp, as f32x4 partials. */
// @ts-ignore: decorator
@inline function dot16(q: v128, xp: usize): v128 {
  const s = i8x16.sub(q, vconst(C_20));
  const lo = i16x8.extend_low_i8x16_s(s);
  const hi = i16x8.extend_high_i8x16_s(s);
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

/** sum_16 sc * (float dot of 16 weights) over one 256-weight block, as f32x4 partials (times d outside). */
function dotBlockQ6K(blk: usize, xb: usize): v128 {
  const m4 = vconst(C_0F);
  const m30 = vconst(C_30);
  let acc = f32x4.splat(0);
  for (let n: usize = 0; n < 2; n++) {
    const ql = blk + (n << 6);
    const qh = blk + 128 + (n << 5);
    const sc = blk + 192 + (n << 3);
    const xn = xb + (n << 9); // 128 floats
    for (let is: usize = 0; is < 2; is++) {
      const l0 = is << 4;
      const a = v128.load(ql + l0);
      const b = v128.load(ql + 32 + l0);
      const h = v128.load(qh + l0);
      const q1 = v128.or(v128.and(a, m4), v128.and(i16x8.shl(h, 4), m30));
      const q2 = v128.or(v128.and(b, m4), v128.and(i16x8.shl(h, 2), m30));
      const q3 = v128.or(v128.and(i16x8.shr_u(a, 4), m4), v128.and(h, m30));
      const q4 = v128.or(v128.and(i16x8.shr_u(b, 4), m4), v128.and(i16x8.shr_u(h, 2), m30));
      const xl = xn + (l0 << 2);
      acc = f32x4.add(acc, f32x4.mul(dot16(q1, xl), f32x4.splat(<f32>load<i8>(sc + is))));
      acc = f32x4.add(acc, f32x4.mul(dot16(q2, xl + 128), f32x4.splat(<f32>load<i8>(sc + is + 2))));
      acc = f32x4.add(acc, f32x4.mul(dot16(q3, xl + 256), f32x4.splat(<f32>load<i8>(sc + is + 4))));
      acc = f32x4.add(acc, f32x4.mul(dot16(q4, xl + 384), f32x4.splat(<f32>load<i8>(sc + is + 6))));
    }
  }
  return acc;
}

/** Job body: rows [start, end) for every token. */
export function matmulQ6KRows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const nBlocks = cols >> 8;
  const rowBytes = <usize>nBlocks * Q6_K_BLOCK_BYTES;
  for (let r = start; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      let acc = f32x4.splat(0);
      for (let b: u32 = 0; b < nBlocks; b++) {
        const blk = wr + <usize>b * Q6_K_BLOCK_BYTES;
        const p = dotBlockQ6K(blk, xt + (<usize>b << 10));
        acc = f32x4.add(acc, f32x4.mul(p, f32x4.splat(f16ToF32(load<u16>(blk, 208)))));
      }
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(<f64>hsumF32(acc) * scale));
    }
  }
}
