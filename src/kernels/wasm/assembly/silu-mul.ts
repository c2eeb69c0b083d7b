// gate = silu(gate) * up over n floats (bitnet / llama feed-forward), silu(g) = g / (1 + e^-g) in f32 steps
// as kernels/reference/elementwise.ts (ggml_silu_f32): e = f32(exp(-g)), den = f32(1 + e), silu = f32(g / den).
// Four at a time with the two-lane expF64x2 (the scalar expF64's operations, so results are the same).

import { expF64, expF64x2 } from './common';

export function siluMul(gate: usize, up: usize, n: u32): void {
  const one = f32x4.splat(1.0);
  let i: usize = 0;
  for (; i + 4 <= <usize>n; i += 4) {
    const g = v128.load(gate + (i << 2));
    const gl = f64x2.promote_low_f32x4(g);
    const gh = f64x2.promote_low_f32x4(i8x16.shuffle(g, g, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
    const el = f32x4.demote_f64x2_zero(expF64x2(f64x2.neg(gl)));
    const eh = f32x4.demote_f64x2_zero(expF64x2(f64x2.neg(gh)));
    const den = f32x4.add(one, i8x16.shuffle(el, eh, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
    const sl = f32x4.demote_f64x2_zero(f64x2.div(gl, f64x2.promote_low_f32x4(den)));
    const sh = f32x4.demote_f64x2_zero(f64x2.div(gh, f64x2.promote_low_f32x4(i8x16.shuffle(den, den, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7))));
    const silu = i8x16.shuffle(sl, sh, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    v128.store(gate + (i << 2), f32x4.mul(silu, v128.load(up + (i << 2))));
  }
  for (; i < <usize>n; i++) {
    const g = load<f32>(gate + (i << 2));
    const den = <f32>1.0 + <f32>expF64(-<f64>g);
    const silu = <f32>(<f64>g / <f64>den);
    store<f32>(gate + (i << 2), silu * load<f32>(up + (i << 2)));
  }
}
