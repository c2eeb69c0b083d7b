// Store k and v rows (f32) into a layer's F16 KV cache at positions startPos.. (round to nearest even).

import { f32ToF16 } from './common';

export function kvWrite(kCache: usize, vCache: usize, k: usize, v: usize, startPos: u32, nTokens: u32, kvDim: u32): void {
  const n = <usize>nTokens * kvDim;
  const kd = kCache + ((<usize>startPos * kvDim) << 1);
  const vd = vCache + ((<usize>startPos * kvDim) << 1);
  for (let i: usize = 0; i < n; i++) {
    store<u16>(kd + (i << 1), <u16>f32ToF16(load<f32>(k + (i << 2))));
    store<u16>(vd + (i << 1), <u16>f32ToF16(load<f32>(v + (i << 2))));
  }
}
