// gate = relu(gate)^2 * up over n floats (BitNet b1.58 2B-4T feed-forward).

export function reluSqrMul(gate: usize, up: usize, n: u32): void {
  const zero = f32x4.splat(0);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const g = f32x4.max(v128.load(gate + (i << 2)), zero);
    v128.store(gate + (i << 2), f32x4.mul(f32x4.mul(g, g), v128.load(up + (i << 2))));
  }
  for (; i < n; i++) {
    const g = max(load<f32>(gate + (i << 2)), 0);
    store<f32>(gate + (i << 2), g * g * load<f32>(up + (i << 2)));
  }
}
