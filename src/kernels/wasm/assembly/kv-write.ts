// Store k and v rows (f32) into a layer's F16 planes of the paged KV pool (round to nearest even).
// Eight values at a time when all eight are zero-free normal F16 magnitudes (2^-14 <= |x| < 2^16, the usual case):
// the f32 bits rounded to 10 mantissa bits with ties to even, the exponent rebased by 112 (a carry out of the
// mantissa rounds into the exponent, up to +Inf, as the scalar rule does); otherwise common.ts f32ToF16 per value.

import { f32ToF16 } from './common';

// @ts-ignore: decorator
@inline function inRange(absu: v128): v128 {
  return v128.and(i32x4.ge_u(absu, i32x4.splat(0x38800000)), i32x4.lt_u(absu, i32x4.splat(0x47800000)));
}

/** F16 bits (in i32 lanes) of four f32 whose magnitudes are F16 normals (see inRange). */
// @ts-ignore: decorator
@inline function toF16Lanes(u: v128): v128 {
  const absu = v128.and(u, i32x4.splat(0x7fffffff));
  const odd = v128.and(i32x4.shr_u(absu, 13), i32x4.splat(1));
  const r = i32x4.shr_u(i32x4.add(i32x4.add(absu, i32x4.splat(0x0fff)), odd), 13);
  return v128.or(v128.and(i32x4.shr_u(u, 16), i32x4.splat(0x8000)), i32x4.sub(r, i32x4.splat(112 << 10)));
}

/** Eight f32 at src as F16 at dst; returns 1 when one of them is +-Inf or NaN as F16. */
function store8(src: usize, dst: usize): u32 {
  const a = v128.load(src);
  const b = v128.load(src, 16);
  const mask = i32x4.splat(0x7fffffff);
  if (i32x4.all_true(v128.and(inRange(v128.and(a, mask)), inRange(v128.and(b, mask))))) {
    const h = i16x8.narrow_i32x4_u(toF16Lanes(a), toF16Lanes(b));
    v128.store(dst, h);
    const e = i16x8.splat(0x7c00);
    return v128.any_true(i16x8.eq(v128.and(h, e), e)) ? 1 : 0;
  }
  return storeScalar(src, dst, 8);
}

/** n values one by one (common.ts f32ToF16); returns 1 when one of them is +-Inf or NaN as F16. */
function storeScalar(src: usize, dst: usize, n: usize): u32 {
  let special: u32 = 0;
  for (let i: usize = 0; i < n; i++) {
    const h = f32ToF16(load<f32>(src + (i << 2)));
    special |= <u32>((h & 0x7c00) == 0x7c00);
    store<u16>(dst + (i << 1), <u16>h);
  }
  return special;
}

/** n values from src to dst (F16); returns 1 when one of them is +-Inf or NaN as F16. */
function storeRun(src: usize, dst: usize, n: usize): u32 {
  let special: u32 = 0;
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) special |= store8(src + (i << 2), dst + (i << 1));
  return special | storeScalar(src + (i << 2), dst + (i << 1), n - i);
}

/**
 * Store nTokens rows of k and v (kvDim f32 each) into a layer's K and V planes of the paged pool: entry t at block
 * dst[2t], slot dst[2t + 1] (i32 pairs the glue resolved through the block table). Within a block each KV head's
 * blockSize positions are together (attention streams one head's keys and values contiguously). Returns 1 when some
 * stored value is +-Inf or NaN (attention then converts the layer exactly), else 0.
 */
export function kvWrite(kPlane: usize, vPlane: usize, k: usize, v: usize, dst: usize, nTokens: u32, kvDim: u32, headDim: u32, blockSize: u32): u32 {
  let special: u32 = 0;
  const nHeads = kvDim / headDim;
  const blockBytes = (<usize>blockSize * kvDim) << 1;
  for (let t: u32 = 0; t < nTokens; t++) {
    const block = <usize>load<i32>(dst + (<usize>t << 3));
    const slot = <usize>load<i32>(dst + (<usize>t << 3), 4);
    for (let h: u32 = 0; h < nHeads; h++) {
      const src = (<usize>t * kvDim + <usize>h * headDim) << 2;
      const at = block * blockBytes + (((<usize>h * blockSize + slot) * headDim) << 1);
      special |= storeRun(k + src, kPlane + at, headDim) | storeRun(v + src, vPlane + at, headDim);
    }
  }
  return special;
}
