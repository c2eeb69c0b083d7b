// Shared inline helpers of the kernels: binary16 <-> f32, horizontal sums, exp and the 16-byte dot step.
// AssemblyScript; compiled by scripts/build-wasm.mjs twice (ASC_FEATURE_RELAXED_SIMD false / true).

import {
  C_2M112, C_F16_EM, C_F16_INF, C_F16_KEEP, C_F16_MANT, C_F16_MIN_NORMAL, C_F16_OVERFLOW, C_F16_REBIAS, C_F16_ROUND, C_F16_SIGN,
  C_F32_EXP, C_F32_QUIET, C_F32_SIGN, C_HALF, vconst,
} from './constants';

/** 2^-24: the value of the lowest binary16 subnormal bit. */
const F32_2_POW_M24: f32 = reinterpret<f32>(0x33800000);

/**
 * The f32 value of binary16 bits `h` (0..65535), exact for every input (ggml-impl.h GGML_FP16_TO_FP32 semantics):
 * normals by rebiasing the exponent in the bits, subnormals as mantissa * 2^-24, inf/NaN by forcing the exponent to
 * all ones. No step holds an f32 subnormal: x86 takes a microcode assist (~100+ cycles) for a subnormal operand, and
 * the multiply by 2^112 this did before made every subnormal F16 scale (a Q6_K block's d, say) cost one: a 2b-4t
 * file whose Q6_K embeddings all had subnormal d decoded 3x slower in its output matmul (bench/README.md).
 */
// @ts-ignore: decorator
@inline export function f16ToF32(h: u32): f32 {
  const em = h & 0x7fff;
  let f: f32;
  if (em >= 0x7c00) f = reinterpret<f32>((em << 13) | 0x7f800000);
  else if (em >= 0x0400) f = reinterpret<f32>((em << 13) + 0x38000000);
  else f = <f32>em * F32_2_POW_M24;
  return reinterpret<f32>(reinterpret<u32>(f) | ((h & 0x8000) << 16));
}

/**
 * Four binary16 bit patterns held in the low halves of i32x4 lanes, converted to f32x4 (same rules as f16ToF32, and
 * like it without a subnormal f32 operand, which x86 takes through a microcode assist: normals get f32's exponent bias
 * by an integer add to their shifted bits; a subnormal m * 2^-24 is (2^-14 + m * 2^-24) - 2^-14, both operands normal
 * and the difference exact). The constants come from memory (constants.ts) so loops keep them in registers.
 */
// @ts-ignore: decorator
@inline export function f16x4ToF32x4(h: v128): v128 {
  const em = v128.and(h, vconst(C_F16_EM));
  const bits = i32x4.shl(em, 13);
  const two14 = vconst(C_F16_MIN_NORMAL); // 2^-14 as f32, and 113 << 23 as an integer
  const normal = i32x4.add(bits, vconst(C_F16_REBIAS));
  const small = f32x4.sub(i32x4.add(bits, two14), two14);
  let f = v128.bitselect(small, normal, i32x4.le_s(em, vconst(C_F16_MANT)));
  const special = v128.or(bits, vconst(C_F32_EXP));
  f = v128.bitselect(special, f, i32x4.gt_s(em, vconst(C_F16_INF)));
  return v128.or(f, i32x4.shl(v128.and(h, vconst(C_F16_SIGN)), 16));
}

/**
 * d_w d_x of four Q8_0 blocks (matmul-q8_0.ts, gemm-q8_0.ts): the blocks' binary16 d_w in 16-bit lanes 0..3 of h, the
 * activations' scales as d_x * 2^112 in dx. Shortcut (`exact` false): d_w read as f32 bits worth d_w * 2^-112 (a shift
 * and a mask), times dx: one rounding of the exact product. For a weight holding subnormal d_w (WasmBackend: the
 * load-time scan), the shortcut's operand is a subnormal f32 (a microcode assist per multiply on x86: 8192x2560 with
 * every d_w subnormal ran 4.4-4.8x slower on one thread); `exact`: d_w converted by f16x4ToF32x4 times d_x (dx * 2^-112,
 * exact for a normal d_x): the same exact product rounded once, so the same bits.
 */
// @ts-ignore: decorator
@inline export function q8BlockScales(h: v128, dx: v128, bits: v128, exact: bool): v128 {
  return q8ScalesTimes(q8WeightScales(h, bits, exact), dx, exact);
}

/** q8BlockScales's first half: the four d_w as the shortcut's f32 bits (d_w * 2^-112) or, `exact`, as f32. */
// @ts-ignore: decorator
@inline export function q8WeightScales(h: v128, bits: v128, exact: bool): v128 {
  return exact ? f16x4ToF32x4(i32x4.extend_low_i16x8_u(h)) : v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(h), 13), bits);
}

/**
 * q8BlockScales's second half: q8WeightScales's dw times the activations' d_x * 2^112, or (`exact`) times d_x itself
 * (d_x * 2^112 * 2^-112: exact while d_x is a normal f32; scaling the product instead could overflow).
 */
// @ts-ignore: decorator
@inline export function q8ScalesTimes(dw: v128, dx: v128, exact: bool): v128 {
  return exact ? f32x4.mul(dw, f32x4.mul(dx, vconst(C_2M112))) : f32x4.mul(dw, dx);
}

/**
 * f16ToF32(f32ToF16(x)) on four lanes, bit for bit (every f32 input checked): x rounded to binary16 precision,
 * kept as f32. Normal range: round to nearest even at mantissa bit 13 by an integer add; below 2^-14:
 * (|x| + 0.5) - 0.5, whose f32 ulp 2^-24 is the F16 subnormal step; from 65520 on: inf; NaN: quiet, mantissa
 * cut to its top 10 bits.
 */
// @ts-ignore: decorator
@inline export function f16RoundF32x4(x: v128): v128 {
  const sign = v128.and(x, vconst(C_F32_SIGN));
  const a = v128.xor(x, sign);
  const odd = i32x4.shr_u(i32x4.shl(a, 18), 31);
  const normal = v128.and(i32x4.add(i32x4.add(a, vconst(C_F16_ROUND)), odd), vconst(C_F16_KEEP));
  const half = vconst(C_HALF);
  const small = f32x4.sub(f32x4.add(a, half), half);
  const exp = vconst(C_F32_EXP);
  const nan = v128.or(v128.and(a, vconst(C_F16_KEEP)), vconst(C_F32_QUIET));
  const big = v128.bitselect(nan, exp, i32x4.gt_s(a, exp));
  let r = v128.bitselect(small, normal, i32x4.lt_s(a, vconst(C_F16_MIN_NORMAL)));
  r = v128.bitselect(big, r, i32x4.ge_s(a, vconst(C_F16_OVERFLOW)));
  return v128.or(r, sign);
}

/** binary16 bits of f32 `x`, round to nearest even; overflow -> inf, NaN -> quiet NaN (same as formats/f16.ts). */
export function f32ToF16(x: f32): u32 {
  const u = reinterpret<u32>(x);
  const sign = (u >> 16) & 0x8000;
  const e32 = (u >> 23) & 0xff;
  const m32 = u & 0x7fffff;
  if (e32 == 0xff) return m32 == 0 ? sign | 0x7c00 : sign | 0x7e00 | (m32 >> 13);
  const e16 = <i32>e32 - 112;
  if (e16 >= 31) return sign | 0x7c00;
  if (e16 >= 1) {
    const kept = (<u32>e16 << 10) | (m32 >> 13);
    const rest = m32 & 0x1fff;
    const up: u32 = rest > 0x1000 || (rest == 0x1000 && (kept & 1) == 1) ? 1 : 0;
    return sign | (kept + up);
  }
  if (e16 < -10 || e32 == 0) return sign;
  const m = m32 | 0x800000;
  const shift = <u32>(14 - e16);
  const kept = m >> shift;
  const rest = m & ((1 << shift) - 1);
  const half: u32 = 1 << (shift - 1);
  const up: u32 = rest > half || (rest == half && (kept & 1) == 1) ? 1 : 0;
  return sign | (kept + up);
}

// @ts-ignore: decorator
@inline export function hsumI32(v: v128): i32 {
  const s = i32x4.add(v, i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

// @ts-ignore: decorator
@inline export function hsumF32(v: v128): f32 {
  const s = f32x4.add(v, i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

/**
 * Pairwise dot products of 16 signed bytes `x` (in [-127, 127]) with 16 ternary codes `c` (0..3) as i16x8:
 * lane i = x[2i] c[2i] + x[2i+1] c[2i+1], |lane| <= 762. Relaxed SIMD: i16x8.relaxed_dot_i8x16_i7x16_s
 * (x86 pmaddubsw; c is the 7-bit operand). SIMD128: i8 x i8 -> i16 products, added.
 * Callers add up to 42 of these in i16 and widen with i32x4.dot_i16x8_s(acc, ones).
 */
// @ts-ignore: decorator
@inline export function dotPairs16(x: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i16x8.relaxed_dot_i8x16_i7x16_s(x, c);
  } else {
    return i16x8.add(i16x8.extmul_low_i8x16_s(x, c), i16x8.extmul_high_i8x16_s(x, c));
  }
}

/**
 * acc + the dot products of 16 signed bytes `x` with 16 codes `c` (0..127) in groups of four, as i32x4: lane i +=
 * sum_{j<4} x[4i+j] c[4i+j], exact. Relaxed SIMD: i32x4.relaxed_dot_i8x16_i7x16_add_s, one x86 vpdpbusd where V8
 * has AVX-VNNI (Node 24's V8 13.6 does, Node 22's 12.4 does not: 5 instructions there); the glue uses the kernels
 * built on it only where the start-up probe (self-check.ts relaxedDotLowering) says so. SIMD128: the i16 pairs widened.
 */
// @ts-ignore: decorator
@inline export function dotAdd32(acc: v128, x: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.relaxed_dot_i8x16_i7x16_add_s(x, c, acc);
  } else {
    return i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(dotPairs16(x, c)));
  }
}

const LN2_HI: f64 = 6.93147180369123816490e-01;
const LN2_LO: f64 = 1.90821492927058770002e-10;
const INV_LN2: f64 = 1.44269504088896338700e+00;

/**
 * e^x in f64 for the softmax (x <= 0 in practice): x = n ln2 + r, |r| <= ln2/2, degree-11 Taylor
 * polynomial (relative error < 1e-15), then scale by 2^n. Own code: AssemblyScript's Math.exp pulls in
 * a lookup table (a data segment), and these modules must stay free of data segments.
 */
export function expF64(x: f64): f64 {
  if (x != x) return x;
  if (x > 709.0) return Infinity;
  if (x < -745.0) return 0.0;
  const n = nearest(x * INV_LN2);
  const r = (x - n * LN2_HI) - n * LN2_LO;
  let p: f64 = 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  let k = <i64>n;
  // Two steps so 2^k stays a normal number down to k = -1074 (the result may be subnormal).
  if (k < -1000) {
    p *= reinterpret<f64>(<i64>(1023 - 60) << 52);
    k += 60;
  }
  return p * reinterpret<f64>((k + 1023) << 52);
}

/**
 * expF64 on two f64 lanes, the same operations in the same order, for x in [-708, 709] (inputs are clamped to that
 * range: e^-708 and below round to 0 in f32, e^709 to +inf, as expF64's results do). NaN stays NaN.
 */
// @ts-ignore: decorator
@inline export function expF64x2(x: v128): v128 {
  x = f64x2.min(f64x2.max(x, f64x2.splat(-708.0)), f64x2.splat(709.0));
  const n = f64x2.nearest(f64x2.mul(x, f64x2.splat(INV_LN2)));
  const r = f64x2.sub(f64x2.sub(x, f64x2.mul(n, f64x2.splat(LN2_HI))), f64x2.mul(n, f64x2.splat(LN2_LO)));
  let p = f64x2.splat(1.0 / 39916800.0);
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 3628800.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 362880.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 40320.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 5040.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 720.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 120.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 24.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 6.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(0.5));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0));
  const k = i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(n));
  return f64x2.mul(p, i64x2.shl(i64x2.add(k, i64x2.splat(1023)), 52));
}

// The softmax's f32 exponential (expF32x4): ln 2 split so that n * LN2_HI_F32 is exact for |n| <= 2^15 (LN2_HI_F32 =
// 355 / 512 has 9 significant bits), LN2_LO_F32 the f32 nearest to ln 2 - LN2_HI_F32; LOG2E_F32 the f32 nearest to
// 1 / ln 2 (an error there only moves n, which r absorbs).
const LOG2E_F32: f32 = 1.44269504088896340736;
const LN2_HI_F32: f32 = 0.693359375;
const LN2_LO_F32: f32 = -2.12194440054690583e-4;

/**
 * e^x on four f32 lanes for x <= 0 (the softmax's s - max): x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite, n * LN2_HI_F32
 * exact), the degree-7 Taylor polynomial of e^r in Horner form (truncation < 2^-27 relative), times 2^n made in the
 * exponent bits. Inputs below -87 are taken as -87: e^-87 ~ 1.6e-38 is still a normal f32, so neither 2^n nor the
 * result is ever subnormal (x86 takes a microcode assist per subnormal operand or result), and anything that small
 * rounds to 0 as an F16 probability and vanishes in the f64 sum of the e's (which is >= 1). NaN stays NaN. Accuracy,
 * checked against f64 over [-87, 0] (wasm.test.ts, expF32Rows): at most ~1.2 f32 ulps, 0.27 on average.
 * Why f32: ggml's soft-max (the reference of these models' logits) computes its exponentials in f32 too, the
 * probabilities are rounded to F16 before their products with V, and the degree-11 f64 polynomial (expF64x2, two lanes)
 * took ~20% of a decode token's attention at 2000 positions; this one takes about a quarter of that.
 */
// @ts-ignore: decorator
@inline export function expF32x4(x: v128): v128 {
  x = f32x4.max(x, f32x4.splat(-87.0));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(LOG2E_F32)));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI_F32))), f32x4.mul(n, f32x4.splat(LN2_LO_F32)));
  let p = f32x4.splat(<f32>(1.0 / 5040.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>(1.0 / 720.0)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>(1.0 / 120.0)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>(1.0 / 24.0)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>(1.0 / 6.0)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  // 2^n for n in [-126, 0]: the biased exponent n + 127 in bits 30..23
  return f32x4.mul(p, i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23));
}

/** expF32x4 over n f32 at src into dst (the softmax's exponential alone, for the accuracy test). */
export function expF32Rows(src: usize, dst: usize, n: u32): void {
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), expF32x4(v128.load(src + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), f32x4.extract_lane(expF32x4(f32x4.splat(load<f32>(src + (<usize>i << 2)))), 0));
}

/**
 * The ternary output rule of the reference (kernels/reference/matmul.ts): y = f32(dot / s), then
 * f32(y * scale) unless scale is 1; dot is the exact float64 weight-scaled integer dot.
 */
// @ts-ignore: decorator
@inline export function finishTernary(dot: f64, s: f32, scale: f64): f32 {
  const y = <f32>(dot / <f64>s);
  return scale == 1.0 ? y : <f32>(<f64>y * scale);
}

/** The Q8_K-activation output rule of the reference: y = f32(dot), then f32(y * scale) unless scale is 1. */
// @ts-ignore: decorator
@inline export function finishQ8K(dot: f64, scale: f64): f32 {
  const y = <f32>dot;
  return scale == 1.0 ? y : <f32>(<f64>y * scale);
}

/**
 * Four finite binary16 values, sign-extended to i32 lanes (v128.load16x4_s), as the f32 values w * 2^-112: the
 * sign lands on bit 31 and exponent and mantissa on bits 27..13 after a shift by 13, and the mask `bits`
 * (constants.ts C_F16_BITS) clears the sign copies in bits 30..28; exact for normals and subnormals. Multiplied
 * by an activation pre-scaled by 2^112 the product is w * x, exact when both are F16. Inf / NaN patterns come out
 * finite: callers check the weights first (quantize-activations.ts hasF16NonFinite).
 */
// @ts-ignore: decorator
@inline export function f16x4ScaledDown(h: v128, bits: v128): v128 {
  return v128.and(i32x4.shl(h, 13), bits);
}

/** The scalar form of f16x4ScaledDown for one sign-extended binary16 value. */
// @ts-ignore: decorator
@inline export function f16ScaledDown(h: i32): f32 {
  return reinterpret<f32>((h << 13) & 0x8fffe000);
}

/** Lanes [a0+a1+a2+a3, b0+..., c0+..., d0+...] of four i32x4 (a transpose-and-add). */
// @ts-ignore: decorator
@inline export function sum4I32(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i8x16.shuffle(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), i8x16.shuffle(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
  const cd = i32x4.add(i8x16.shuffle(c, d, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), i8x16.shuffle(c, d, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
  return i32x4.add(i8x16.shuffle(ab, cd, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), i8x16.shuffle(ab, cd, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31));
}

/** f64 sum of the four f32 lanes of p added to the two f64 lanes of acc (exact promotion, two f64 adds). */
// @ts-ignore: decorator
@inline export function addF32x4ToF64x2(acc: v128, p: v128): v128 {
  return f64x2.add(f64x2.add(acc, f64x2.promote_low_f32x4(p)), f64x2.promote_low_f32x4(i8x16.shuffle(p, p, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)));
}

// @ts-ignore: decorator
@inline export function hsumF64(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}
