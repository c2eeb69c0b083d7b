// Matmul for F16 weights: out[t, r] = scale * sum_c f32(W[r, c]) * x[t, c], converting 8 halves per load.

import { f16ToF32, f16x4ToF32x4, hsumF32 } from './common';
import { argF64, argPtr, argU32, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_W, ARG_X, ARG_X_STRIDE } from './job';

/** Job body: rows [start, end) for every token. */
export function matmulF16Rows(job: usize, start: u32, end: u32, thread: u32): void {
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
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let c: u32 = 0;
      for (; c + 8 <= cols; c += 8) {
        const h = v128.load(wr + (<usize>c << 1));
        const o = <usize>c << 2;
        a0 = f32x4.add(a0, f32x4.mul(f16x4ToF32x4(i32x4.extend_low_i16x8_u(h)), v128.load(xt + o)));
        a1 = f32x4.add(a1, f32x4.mul(f16x4ToF32x4(i32x4.extend_high_i16x8_u(h)), v128.load(xt + o, 16)));
      }
      let sum = hsumF32(f32x4.add(a0, a1));
      for (; c < cols; c++) sum += f16ToF32(load<u16>(wr + (<usize>c << 1))) * load<f32>(xt + (<usize>c << 2));
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(<f64>sum * scale));
    }
  }
}
