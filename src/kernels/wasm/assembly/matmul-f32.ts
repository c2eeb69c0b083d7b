// Matmul for F32 weights (F32's vec_dot_type is F32: x as is): out[t, r] = scale * sum_c W[r, c] * x[t, c];
// sums of 16 products per lane in f32, then f64.

import { addF32x4ToF64x2, hsumF64 } from './common';
import { argF64, argPtr, argU32, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_W, ARG_X, ARG_X_STRIDE } from './job';

/** Job body: rows [start, end) for every token. */
export function matmulF32Rows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  for (let r = start; r < end; r++) {
    const wr = w + ((<usize>r * cols) << 2);
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      let acc = f64x2.splat(0);
      let c: u32 = 0;
      for (; c + 64 <= cols; c += 64) {
        let a0 = f32x4.splat(0);
        let a1 = f32x4.splat(0);
        const o = <usize>c << 2;
        for (let k: usize = 0; k < 256; k += 32) {
          a0 = f32x4.add(a0, f32x4.mul(v128.load(wr + o + k), v128.load(xt + o + k)));
          a1 = f32x4.add(a1, f32x4.mul(v128.load(wr + o + k, 16), v128.load(xt + o + k, 16)));
        }
        acc = addF32x4ToF64x2(acc, f32x4.add(a0, a1));
      }
      for (; c + 4 <= cols; c += 4) acc = addF32x4ToF64x2(acc, f32x4.mul(v128.load(wr + (<usize>c << 2)), v128.load(xt + (<usize>c << 2))));
      let sum = hsumF64(acc);
      for (; c < cols; c++) sum += <f64>(load<f32>(wr + (<usize>c << 2)) * load<f32>(xt + (<usize>c << 2)));
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(sum * scale));
    }
  }
}
