// Byte-wise equality of two regions (the glue reuses quantized activations when a matmul input repeats).

/** 1 when the n bytes at a and b are equal, else 0. */
export function bytesEqual(a: usize, b: usize, n: u32): u32 {
  let i: usize = 0;
  for (; i + 16 <= n; i += 16) {
    if (!v128.any_true(v128.xor(v128.load(a + i), v128.load(b + i)))) continue;
    return 0;
  }
  for (; i < n; i++) if (load<u8>(a + i) != load<u8>(b + i)) return 0;
  return 1;
}
