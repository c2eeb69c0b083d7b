// The sampler's softmax weights in WebAssembly SIMD: w[j] = exp((x[j] - max) * invT) for a list of f32 logits, and
// their sum in list order, bit-identical to the JavaScript loop `Math.exp(...)` it replaces in V8 (Node, Chromium).
//
// Why: sampling over a 128k vocabulary without top-k (the OpenAI-style server default: temperature only, or top-p)
// costs one exp per token of the vocabulary; Math.exp is ~11 ns a call here, ~1.4 ms per sampled token. This runs
// two lanes at once (f64x2) at ~5 ns per value.
//
// Exactness: V8's Math.exp is fdlibm's __ieee754_exp (src/base/ieee754.cc, from FreeBSD msun e_exp.c; checked here
// against 11.1M arguments on Node 20 and 22 with zero mismatches). This is the same algorithm, the same constants and
// the same IEEE f64 operations in the same order (wasm never fuses a multiply and an add), so every value is the same
// double. The vector path takes the reduction k = trunc(x / ln2 +- 1/2) for every |x| > ln2 / 2 (by the high word,
// as fdlibm): for 0.5 ln2 < |x| < 1.5 ln2 that gives k = +-1 and the same hi = x -+ ln2_hi, lo = +-ln2_lo as fdlibm's
// special case there; for smaller |x|, k = 0 and 1 - ((lo - xc / (2 - c)) - hi) with hi = x, lo = 0 is fdlibm's
// 1 - (xc / (c - 2) - x) operation for operation (negations are exact); |x| < 2^-28 returns 1 + x as fdlibm does.
// Lanes with |x| > 708 (2^k below the normal range, overflow, infinities, NaN) go through expScalar, the whole
// fdlibm function written out. k << 52 is added to the result's bits (fdlibm adds k << 20 to its high word). The
// sum is one f64 add per value, in list order, as the loop it replaces. src/sampling/exp-weights.test.ts compares
// every value with Math.exp.
//
// Memory (host-managed, no static data): the host passes the byte offsets of a 256-byte constant block, the f32
// values, an optional u32 id list (0: the values in order; else value ids[j] of the f32 array) and the f64 weights.

// fdlibm e_exp.c constants (ln2 split in hi / lo; the Remez polynomial P1..P5 of R(r^2); the thresholds)
const LN2_HI: f64 = 6.93147180369123816490e-1;
const LN2_LO: f64 = 1.90821492927058770002e-10;
const INV_LN2: f64 = 1.44269504088896338700e0;
const P1: f64 = 1.66666666666666019037e-1;
const P2: f64 = -2.77777777770155933842e-3;
const P3: f64 = 6.61375632143793436117e-5;
const P4: f64 = -1.65339022054652515390e-6;
const P5: f64 = 4.13813679705723846039e-8;
const O_THRESHOLD: f64 = 7.09782712893383973096e2;
const U_THRESHOLD: f64 = -7.45133219101941108420e2;
const TWOM1000: f64 = 9.33263618503218878990e-302;
/** 1.5 * 2^52: an integer k in f64 plus this has k's two's complement in its low mantissa bits. */
const ROUND_MAGIC: f64 = 6755399441055744.0;

/** fdlibm's exp for one f64 (every range). */
export function expScalar(x: f64): f64 {
  const bits = reinterpret<u64>(x);
  let hx = <u32>(bits >> 32);
  const xsb = hx >> 31;
  hx &= 0x7fffffff;
  if (hx >= 0x40862e42) {
    // |x| >= 709.78...
    if (hx >= 0x7ff00000) {
      if (((hx & 0xfffff) | <u32>bits) != 0) return x + x; // NaN
      return xsb == 0 ? x : 0.0; // exp(+-inf) = inf, 0
    }
    if (x > O_THRESHOLD) return Infinity;
    if (x < U_THRESHOLD) return 0.0;
  }
  let hi: f64 = 0;
  let lo: f64 = 0;
  let k: i32 = 0;
  if (hx > 0x3fd62e42) {
    // |x| > 0.5 ln2
    if (hx < 0x3ff0a2b2) {
      // and |x| < 1.5 ln2
      hi = xsb == 0 ? x - LN2_HI : x + LN2_HI;
      lo = xsb == 0 ? LN2_LO : -LN2_LO;
      k = 1 - <i32>xsb - <i32>xsb;
    } else {
      k = <i32>(INV_LN2 * x + (xsb == 0 ? 0.5 : -0.5));
      const t = <f64>k;
      hi = x - t * LN2_HI; // exact: t * LN2_HI has the low bits of LN2_HI clear
      lo = t * LN2_LO;
    }
    x = hi - lo;
  } else if (hx < 0x3e300000) {
    return 1.0 + x; // |x| < 2^-28
  }
  const t = x * x;
  const c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k == 0) return 1.0 - ((x * c) / (c - 2.0) - x);
  const y = 1.0 - ((lo - (x * c) / (2.0 - c)) - hi);
  if (k >= -1021) return reinterpret<f64>(reinterpret<u64>(y) + (<u64>(<i64>k) << 52));
  return reinterpret<f64>(reinterpret<u64>(y) + (<u64>(<i64>(k + 1000)) << 52)) * TWOM1000;
}

// Offsets in the constant block (V8 rematerializes a splatted constant at every use inside a loop; loads from a
// block written once per call are cheaper).
const C_HALF: usize = 0;
const C_SIGN: usize = 16;
const C_INV_LN2: usize = 32;
const C_HALF_LN2_HX: usize = 48;
const C_LN2_HI: usize = 64;
const C_LN2_LO: usize = 80;
const C_P1: usize = 96;
const C_P2: usize = 112;
const C_P3: usize = 128;
const C_P4: usize = 144;
const C_P5: usize = 160;
const C_ONE: usize = 176;
const C_TWO: usize = 192;
const C_MAGIC: usize = 208;
const C_TINY_HX: usize = 224;

/** exp of both lanes of x (|x| <= 708: the caller checks hx, the high words of |x|, first). */
// @ts-ignore: decorator
@inline function expPair(x: v128, hx: v128, cs: usize): v128 {
  // k = trunc(x / ln2 +- 1/2) where |x| > 0.5 ln2, else 0
  const halfSigned = v128.or(v128.load(cs, C_HALF), v128.and(x, v128.load(cs, C_SIGN)));
  const kf = v128.and(f64x2.trunc(f64x2.add(f64x2.mul(x, v128.load(cs, C_INV_LN2)), halfSigned)), i64x2.gt_s(hx, v128.load(cs, C_HALF_LN2_HX)));
  const hi = f64x2.sub(x, f64x2.mul(kf, v128.load(cs, C_LN2_HI)));
  const lo = f64x2.mul(kf, v128.load(cs, C_LN2_LO));
  const r = f64x2.sub(hi, lo);
  const t = f64x2.mul(r, r);
  const p = f64x2.add(
    v128.load(cs, C_P1),
    f64x2.mul(t, f64x2.add(v128.load(cs, C_P2), f64x2.mul(t, f64x2.add(v128.load(cs, C_P3), f64x2.mul(t, f64x2.add(v128.load(cs, C_P4), f64x2.mul(t, v128.load(cs, C_P5)))))))),
  );
  const c = f64x2.sub(r, f64x2.mul(t, p));
  const one = v128.load(cs, C_ONE);
  const y = f64x2.sub(one, f64x2.sub(f64x2.sub(lo, f64x2.div(f64x2.mul(r, c), f64x2.sub(v128.load(cs, C_TWO), c))), hi));
  // y * 2^k: k << 52 added to the bits (k + 1.5 * 2^52 holds k in its low bits; only the low 12 reach the exponent)
  const scaled = i64x2.add(y, i64x2.shl(f64x2.add(kf, v128.load(cs, C_MAGIC)), 52));
  return v128.bitselect(f64x2.add(one, x), scaled, i64x2.lt_s(hx, v128.load(cs, C_TINY_HX)));
}

/** Both lanes through expScalar. */
// @ts-ignore: decorator
@inline function expPairScalar(x: v128): v128 {
  return f64x2.replace_lane(f64x2.splat(expScalar(f64x2.extract_lane(x, 0))), 1, expScalar(f64x2.extract_lane(x, 1)));
}

/** Value j of the list: x[j], or x[ids[j]] when ids != 0. */
// @ts-ignore: decorator
@inline function valueAt(x: usize, ids: usize, j: u32): f64 {
  const i = ids == 0 ? j : load<u32>(ids + (<usize>j << 2));
  return <f64>load<f32>(x + (<usize>i << 2));
}

/**
 * dst[j] = exp((value j - max) * invT) for j < n (values: f32 at x, in order, or x[ids[j]] when ids != 0); returns
 * the sum of dst[0..n) added in order. cs: 256 bytes of scratch for the constants (16-aligned); dst 16-aligned.
 */
export function expWeights(x: usize, ids: usize, dst: usize, n: u32, max: f64, invT: f64, cs: usize): f64 {
  v128.store(cs, f64x2.splat(0.5), C_HALF);
  v128.store(cs, i64x2.splat(0x8000000000000000), C_SIGN);
  v128.store(cs, f64x2.splat(INV_LN2), C_INV_LN2);
  v128.store(cs, i64x2.splat(0x3fd62e42), C_HALF_LN2_HX);
  v128.store(cs, f64x2.splat(LN2_HI), C_LN2_HI);
  v128.store(cs, f64x2.splat(LN2_LO), C_LN2_LO);
  v128.store(cs, f64x2.splat(P1), C_P1);
  v128.store(cs, f64x2.splat(P2), C_P2);
  v128.store(cs, f64x2.splat(P3), C_P3);
  v128.store(cs, f64x2.splat(P4), C_P4);
  v128.store(cs, f64x2.splat(P5), C_P5);
  v128.store(cs, f64x2.splat(1.0), C_ONE);
  v128.store(cs, f64x2.splat(2.0), C_TWO);
  v128.store(cs, f64x2.splat(ROUND_MAGIC), C_MAGIC);
  v128.store(cs, i64x2.splat(0x3e300000), C_TINY_HX);
  const vmax = f64x2.splat(max);
  const vinvT = f64x2.splat(invT);
  // |x| > 708 (high word above 708.0's): k could pass -1021, or x is out of range: the scalar function
  const big = i64x2.splat(0x40862000);
  const absHigh = i64x2.splat(0x7fffffff);
  let total: f64 = 0;
  let j: u32 = 0;
  for (; j + 4 <= n; j += 4) {
    let v4: v128;
    if (ids == 0) {
      v4 = v128.load(x + (<usize>j << 2));
    } else {
      const p = ids + (<usize>j << 2);
      v4 = f32x4.replace_lane(f32x4.splat(load<f32>(x + (<usize>load<u32>(p) << 2))), 1, load<f32>(x + (<usize>load<u32>(p, 4) << 2)));
      v4 = f32x4.replace_lane(v4, 2, load<f32>(x + (<usize>load<u32>(p, 8) << 2)));
      v4 = f32x4.replace_lane(v4, 3, load<f32>(x + (<usize>load<u32>(p, 12) << 2)));
    }
    const xa = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(v4), vmax), vinvT);
    const xb = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(i8x16.shuffle(v4, v4, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)), vmax), vinvT);
    const ha = v128.and(i64x2.shr_u(xa, 32), absHigh);
    const hb = v128.and(i64x2.shr_u(xb, 32), absHigh);
    let ra: v128;
    let rb: v128;
    if (v128.any_true(v128.or(i64x2.gt_s(ha, big), i64x2.gt_s(hb, big)))) {
      ra = expPairScalar(xa);
      rb = expPairScalar(xb);
    } else {
      ra = expPair(xa, ha, cs);
      rb = expPair(xb, hb, cs);
    }
    const d = dst + (<usize>j << 3);
    v128.store(d, ra);
    v128.store(d, rb, 16);
    total += f64x2.extract_lane(ra, 0);
    total += f64x2.extract_lane(ra, 1);
    total += f64x2.extract_lane(rb, 0);
    total += f64x2.extract_lane(rb, 1);
  }
  for (; j < n; j++) {
    const w = expScalar((valueAt(x, ids, j) - max) * invT);
    store<f64>(dst + (<usize>j << 3), w);
    total += w;
  }
  return total;
}

/**
 * top-p's histogram over the weights w[0..n) of the list (values as expWeights reads them): bucket
 * b_j = min(nb - 1, floor((max - value j) * scale)) to buckets (u16 each) and mass[b_j] += w[j] in list order (mass:
 * nb f64, zeroed first). The same f64 operations as sampler.ts's TopSelector loop, so the same sums.
 */
export function bucketMass(x: usize, ids: usize, w: usize, n: u32, max: f64, scale: f64, nb: u32, mass: usize, buckets: usize): void {
  for (let b: u32 = 0; b < nb; b++) store<f64>(mass + (<usize>b << 3), 0.0);
  const top = <f64>(nb - 1);
  for (let j: u32 = 0; j < n; j++) {
    const b = <u32>min(top, Math.floor((max - valueAt(x, ids, j)) * scale));
    store<u16>(buckets + (<usize>j << 1), <u16>b);
    const p = mass + (<usize>b << 3);
    store<f64>(p, load<f64>(p) + load<f64>(w + (<usize>j << 3)));
  }
}

/**
 * top-p's partition, after bucketMass: the list's ids whose bucket is below `boundary` moved to the front of ids (order
 * kept), those in the boundary bucket copied to out (order kept). Counts at counts (u32) and counts + 4.
 */
export function partitionBuckets(ids: usize, buckets: usize, n: u32, boundary: u32, out: usize, counts: usize): void {
  let above: u32 = 0;
  let inBoundary: u32 = 0;
  for (let j: u32 = 0; j < n; j++) {
    const b = <u32>load<u16>(buckets + (<usize>j << 1));
    const id = load<u32>(ids + (<usize>j << 2));
    if (b < boundary) {
      store<u32>(ids + (<usize>above << 2), id);
      above++;
    } else if (b == boundary) {
      store<u32>(out + (<usize>inBoundary << 2), id);
      inBoundary++;
    }
  }
  store<u32>(counts, above);
  store<u32>(counts, inBoundary, 4);
}
