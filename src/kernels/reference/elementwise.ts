// Element-wise kernels of the forward pass: residual add and the two gated FFN activations (f32 results).

/** x[i] += y[i] for i < n. */
export function addInPlaceRef(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] += y[i];
}

/** gate[i] = relu(gate[i])^2 * up[i] (BitNet b1.58 2B-4T; ggml_relu, ggml_sqr, ggml_mul, each rounded to f32). */
export function reluSqrMulRef(gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const r = gate[i] > 0 ? gate[i] : 0;
    gate[i] = Math.fround(r * r) * up[i];
  }
}

/** gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)) as ggml_silu_f32 (f32 steps). */
export function siluMulRef(gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const silu = Math.fround(g / Math.fround(1 + Math.fround(Math.exp(-g))));
    gate[i] = silu * up[i];
  }
}
