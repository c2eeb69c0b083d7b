// gate = silu(gate) * up over n floats (bitnet / llama feed-forward), silu(g) = g / (1 + e^-g) in f32 steps
// as kernels/reference/elementwise.ts (ggml_silu_f32).

import { expF64 } from './common';

export function siluMul(gate: usize, up: usize, n: u32): void {
  for (let i: usize = 0; i < n; i++) {
    const g = load<f32>(gate + (i << 2));
    const den = <f32>1.0 + <f32>expF64(-<f64>g);
    const silu = <f32>(<f64>g / <f64>den);
    store<f32>(gate + (i << 2), silu * load<f32>(up + (i << 2)));
  }
}
