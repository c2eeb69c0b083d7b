// F16 weights whose value is subnormal (exponent 0, mantissa != 0) moved out of the matrix into per-row lists at load.
//
// Why: the fast F16 kernel (matmul-f16.ts) reads a weight as f32 bits worth w * 2^-112, which for an F16 subnormal is
// an f32 subnormal; x86 multiplies with a subnormal operand through a microcode assist (~150 cycles), and a real
// embedding table (values ~N(0, 0.02)) has ~0.25% of them: measured 6.0 -> 4.5 GB/s on one thread. Each one is
// zeroed in the matrix and kept as (column, value) in its row's list, added by the kernel after the row's dot (and put
// back by embed). Their products are exact either way (<= 10 x 11 significant bits), so results do not change.

// @ts-ignore: decorator
@inline function subnormalMask(h: v128): v128 {
  return v128.and(i16x8.eq(v128.and(h, i16x8.splat(0x7c00)), i16x8.splat(0)), i16x8.ne(v128.and(h, i16x8.splat(0x03ff)), i16x8.splat(0)));
}

/** Count of F16 subnormals (exponent 0, mantissa nonzero) among the n values at p. */
export function f16SubnormalCount(p: usize, n: u32): u32 {
  let count: u32 = 0;
  let i: u32 = 0;
  while (i + 8 <= n) {
    // per-lane counts in i16 (a mask lane is -1): at most 32767 steps before they are added up
    let acc = i16x8.splat(0);
    const end = min(n & ~7, i + 8 * 32767);
    for (; i < end; i += 8) acc = i16x8.sub(acc, subnormalMask(v128.load(p + (<usize>i << 1))));
    const wide = i32x4.extadd_pairwise_i16x8_u(acc);
    count += <u32>(i32x4.extract_lane(wide, 0) + i32x4.extract_lane(wide, 1) + i32x4.extract_lane(wide, 2) + i32x4.extract_lane(wide, 3));
  }
  for (; i < n; i++) {
    const h = <u32>load<u16>(p + (<usize>i << 1));
    if ((h & 0x7c00) == 0 && (h & 0x3ff) != 0) count++;
  }
  return count;
}

/**
 * Move the subnormals of a rows x cols F16 matrix at p into lists: rowStarts[r] .. rowStarts[r + 1] (u32, rows + 1
 * entries) index colsOut (u32 column) and valuesOut (f32 value, exact); each moved weight becomes +0 in the matrix.
 * Eight values at a time are tested together; only groups holding a subnormal are taken one by one.
 */
export function f16ExtractSubnormals(p: usize, rows: u32, cols: u32, rowStarts: usize, colsOut: usize, valuesOut: usize): void {
  let k: u32 = 0;
  for (let r: u32 = 0; r < rows; r++) {
    store<u32>(rowStarts + (<usize>r << 2), k);
    const wr = p + ((<usize>r * cols) << 1);
    let c: u32 = 0;
    while (c < cols) {
      if (c + 8 <= cols && !v128.any_true(subnormalMask(v128.load(wr + (<usize>c << 1))))) {
        c += 8;
        continue;
      }
      const end = min(cols, c + 8);
      for (; c < end; c++) {
        const h = <u32>load<u16>(wr + (<usize>c << 1));
        if ((h & 0x7c00) == 0 && (h & 0x3ff) != 0) {
          const v = <f32>(<f64>(h & 0x3ff) * 5.9604644775390625e-8); // m * 2^-24, exact
          store<u32>(colsOut + (<usize>k << 2), c);
          store<f32>(valuesOut + (<usize>k << 2), (h & 0x8000) != 0 ? -v : v);
          store<u16>(wr + (<usize>c << 1), 0);
          k++;
        }
      }
    }
  }
  store<u32>(rowStarts + (<usize>rows << 2), k);
}
