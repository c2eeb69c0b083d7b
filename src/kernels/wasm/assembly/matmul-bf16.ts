// Matmul for BF16 weights with BF16-rounded activations (BF16's vec_dot_type in ggml's CPU matmul):
// out[t, r] = scale * sum_c W[r, c] * bf16(x[t, c]); a bf16 is the high half of an f32, so products are exact
// (8 x 8 bits); sums of 16 products per lane in f32, then f64.

import { addF32x4ToF64x2, hsumF64 } from './common';
import { argF64, argPtr, argU32, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_W, ARG_X, ARG_X_STRIDE } from './job';

// @ts-ignore: decorator
@inline function prod4(wp: usize, xp: usize): v128 {
  return f32x4.mul(i32x4.shl(v128.load16x4_u(wp), 16), v128.load(xp));
}

/** Job body: rows [start, end) for every token. */
export function matmulBF16Rows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  for (let r = start; r < end; r++) {
    const wr = w + ((<usize>r * cols) << 1);
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      let acc = f64x2.splat(0);
      let c: u32 = 0;
      for (; c + 64 <= cols; c += 64) {
        let a0 = f32x4.splat(0);
        let a1 = f32x4.splat(0);
        const wp = wr + (<usize>c << 1);
        const xp = xt + (<usize>c << 2);
        for (let k: usize = 0; k < 64; k += 8) {
          a0 = f32x4.add(a0, prod4(wp + (k << 1), xp + (k << 2)));
          a1 = f32x4.add(a1, prod4(wp + (k << 1) + 8, xp + (k << 2) + 16));
        }
        acc = addF32x4ToF64x2(acc, f32x4.add(a0, a1));
      }
      for (; c + 4 <= cols; c += 4) acc = addF32x4ToF64x2(acc, prod4(wr + (<usize>c << 1), xt + (<usize>c << 2)));
      let sum = hsumF64(acc);
      for (; c < cols; c++) sum += <f64>(reinterpret<f32>(<u32>load<u16>(wr + (<usize>c << 1)) << 16) * load<f32>(xt + (<usize>c << 2)));
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(sum * scale));
    }
  }
}
