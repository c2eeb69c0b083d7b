// Store k and v rows (f32) into a layer's F16 KV cache at positions startPos.. (round to nearest even).

import { f32ToF16 } from './common';

/** Returns 1 when some stored value is +-Inf or NaN (attention then converts the cache exactly), else 0. */
export function kvWrite(kCache: usize, vCache: usize, k: usize, v: usize, startPos: u32, nTokens: u32, kvDim: u32): u32 {
  const n = <usize>nTokens * kvDim;
  const kd = kCache + ((<usize>startPos * kvDim) << 1);
  const vd = vCache + ((<usize>startPos * kvDim) << 1);
  let special: u32 = 0;
  for (let i: usize = 0; i < n; i++) {
    const hk = f32ToF16(load<f32>(k + (i << 2)));
    const hv = f32ToF16(load<f32>(v + (i << 2)));
    special |= <u32>((hk & 0x7c00) == 0x7c00) | <u32>((hv & 0x7c00) == 0x7c00);
    store<u16>(kd + (i << 1), <u16>hk);
    store<u16>(vd + (i << 1), <u16>hv);
  }
  return special;
}
