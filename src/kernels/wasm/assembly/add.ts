// x += y over n floats (residual connections).

export function addInPlace(x: usize, y: usize, n: u32): void {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) v128.store(x + (i << 2), f32x4.add(v128.load(x + (i << 2)), v128.load(y + (i << 2))));
  for (; i < n; i++) store<f32>(x + (i << 2), load<f32>(x + (i << 2)) + load<f32>(y + (i << 2)));
}
