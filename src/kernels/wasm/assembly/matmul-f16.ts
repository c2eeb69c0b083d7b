// Matmul for F16 weights with F16-rounded activations (F16's vec_dot_type in ggml's CPU matmul, ggml-cpu.c
// type_traits_cpu): out[t, r] = scale * sum_c W[r, c] * f16(x[t, c]).
// Fast path (weights all finite): four weights per v128.load16x4_s become f32 bits worth w * 2^-112 with a shift
// and a mask (common.ts f16x4ScaledDown), the activations come rounded and pre-scaled by 2^112
// (quantize-activations.ts roundActivationsF16), so every product is w * x exactly (11 x 11 bits); sums of 16
// products per lane in f32, then f64. ARG_VARIANT 1 (a weight with Inf / NaN): exact conversion, unscaled x.
// Subnormal weights were moved to per-row lists at load (f16-subnormals.ts, ARG_SUB_*): added after each row's dot.

import { addF32x4ToF64x2, f16ScaledDown, f16ToF32, f16x4ToF32x4, hsumF64 } from './common';
import { C_F16_BITS, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_SUB_COLS, ARG_SUB_ROWS, ARG_SUB_VALUES,
  ARG_VARIANT, ARG_W, ARG_X, ARG_X_STRIDE,
} from './job';

/**
 * Compile-time choice of the weight conversion, a type argument so that each instantiation holds one path only
 * (a `bool` argument of an inlined function stayed a run-time test in the inner loop: a compare and a branch per
 * four weights, seen with --print-wasm-code): `Exact` converts every F16 exactly, `Scaled` takes the shortcut.
 */
type Exact = f64;
type Scaled = f32;

// @ts-ignore: decorator
@inline function prod4<M>(wp: usize, xp: usize, bits: v128): v128 {
  const exact = sizeof<M>() == 8;
  const w4 = exact ? f16x4ToF32x4(v128.load16x4_u(wp)) : v128.and(i32x4.shl(v128.load16x4_s(wp), 13), bits);
  return f32x4.mul(w4, v128.load(xp));
}

/**
 * acc + w * x for four weights at wp and four activations at xp. Every product is exact (11 x 11 significant bits),
 * so a fused multiply-add rounds once, as mul-then-add does: relaxed SIMD's madd (FMA where the CPU has it, else
 * mul + add) gives the same bits with one instruction fewer.
 */
// @ts-ignore: decorator
@inline function madd4<M>(acc: v128, wp: usize, xp: usize, bits: v128): v128 {
  const exact = sizeof<M>() == 8;
  if (ASC_FEATURE_RELAXED_SIMD) {
    const w4 = exact ? f16x4ToF32x4(v128.load16x4_u(wp)) : v128.and(i32x4.shl(v128.load16x4_s(wp), 13), bits);
    return f32x4.relaxed_madd(w4, v128.load(xp), acc);
  }
  return f32x4.add(acc, prod4<M>(wp, xp, bits));
}

/** acc (f64x2) + the 64 products of one chunk (weights at wp, activations at xp), summed as rowDot does. */
// @ts-ignore: decorator
@inline function chunk64<M>(wp: usize, xp: usize, acc: v128, bits: v128): v128 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  for (let k: usize = 0; k < 64; k += 16) {
    a0 = madd4<M>(a0, wp + (k << 1), xp + (k << 2), bits);
    a1 = madd4<M>(a1, wp + (k << 1) + 8, xp + (k << 2) + 16, bits);
    a2 = madd4<M>(a2, wp + (k << 1) + 16, xp + (k << 2) + 32, bits);
    a3 = madd4<M>(a3, wp + (k << 1) + 24, xp + (k << 2) + 48, bits);
  }
  return addF32x4ToF64x2(acc, f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
}

/** A row's dot after its whole 64-column chunks (from column c0, with their f64x2 sum acc). */
// @ts-ignore: decorator
@inline function rowTail<M>(wr: usize, xt: usize, c0: u32, cols: u32, acc: v128, bits: v128): f64 {
  const exact = sizeof<M>() == 8;
  let c = c0;
  for (; c + 4 <= cols; c += 4) acc = addF32x4ToF64x2(acc, prod4<M>(wr + (<usize>c << 1), xt + (<usize>c << 2), bits));
  let sum = hsumF64(acc);
  for (; c < cols; c++) {
    const wv = exact ? f16ToF32(load<u16>(wr + (<usize>c << 1))) : f16ScaledDown(<i32>load<i16>(wr + (<usize>c << 1)));
    sum += <f64>(wv * load<f32>(xt + (<usize>c << 2)));
  }
  return sum;
}

/** The products of the listed (subnormal) weights of row r with x, scaled back (see matmulF16Rows). */
function subExtra(subRows: usize, subCols: usize, subValues: usize, r: u32, xt: usize, subScale: f64): f64 {
  if (subRows == 0) return 0;
  const k0 = load<u32>(subRows + (<usize>r << 2));
  const k1 = load<u32>(subRows + (<usize>r << 2), 4);
  if (k1 <= k0) return 0;
  let extra: f64 = 0;
  for (let k = k0; k < k1; k++) {
    extra += <f64>load<f32>(subValues + (<usize>k << 2)) * <f64>load<f32>(xt + (<usize>load<u32>(subCols + (<usize>k << 2)) << 2));
  }
  return extra * subScale;
}

/**
 * Rows [start, end) for every token (rows outer, so a row is read once for all tokens): four row streams a quarter of the range apart advance in lockstep (more DRAM
 * lines in flight than one stream; see matmul-q8_0.ts), then the rows past four whole quarters one at a time.
 */
// @ts-ignore: decorator
@inline function f16Rows<M>(
  w: usize, cols: u32, x: usize, xStride: usize, nTokens: u32, out: usize, outStride: usize, start: u32, end: u32,
  scale: f64, bits: v128, subRows: usize, subCols: usize, subValues: usize, subScale: f64,
): void {
  const rowBytes = <usize>cols << 1;
  const quarter = (end - start) >> 2;
  const stride = <usize>quarter * rowBytes;
  const whole = cols & ~63;
  for (let r = start; r < start + quarter; r++) for (let t: u32 = 0; t < nTokens; t++) {
    const xt = x + <usize>t * xStride;
    const o = out + ((<usize>t * outStride) << 2);
    const w0 = w + <usize>r * rowBytes;
    let a0 = f64x2.splat(0);
    let a1 = f64x2.splat(0);
    let a2 = f64x2.splat(0);
    let a3 = f64x2.splat(0);
    for (let c: u32 = 0; c < whole; c += 64) {
      const wp = w0 + (<usize>c << 1);
      const xp = xt + (<usize>c << 2);
      a0 = chunk64<M>(wp, xp, a0, bits);
      a1 = chunk64<M>(wp + stride, xp, a1, bits);
      a2 = chunk64<M>(wp + 2 * stride, xp, a2, bits);
      a3 = chunk64<M>(wp + 3 * stride, xp, a3, bits);
    }
    const s0 = rowTail<M>(w0, xt, whole, cols, a0, bits) + subExtra(subRows, subCols, subValues, r, xt, subScale);
    const s1 = rowTail<M>(w0 + stride, xt, whole, cols, a1, bits) + subExtra(subRows, subCols, subValues, r + quarter, xt, subScale);
    const s2 = rowTail<M>(w0 + 2 * stride, xt, whole, cols, a2, bits) + subExtra(subRows, subCols, subValues, r + 2 * quarter, xt, subScale);
    const s3 = rowTail<M>(w0 + 3 * stride, xt, whole, cols, a3, bits) + subExtra(subRows, subCols, subValues, r + 3 * quarter, xt, subScale);
    store<f32>(o + (<usize>r << 2), <f32>(s0 * scale));
    store<f32>(o + (<usize>(r + quarter) << 2), <f32>(s1 * scale));
    store<f32>(o + (<usize>(r + 2 * quarter) << 2), <f32>(s2 * scale));
    store<f32>(o + (<usize>(r + 3 * quarter) << 2), <f32>(s3 * scale));
  }
  for (let r = start + 4 * quarter; r < end; r++) for (let t: u32 = 0; t < nTokens; t++) {
    const xt = x + <usize>t * xStride;
    const o = out + ((<usize>t * outStride) << 2);
    const wr = w + <usize>r * rowBytes;
    let acc = f64x2.splat(0);
    for (let c: u32 = 0; c < whole; c += 64) acc = chunk64<M>(wr + (<usize>c << 1), xt + (<usize>c << 2), acc, bits);
    const sum = rowTail<M>(wr, xt, whole, cols, acc, bits) + subExtra(subRows, subCols, subValues, r, xt, subScale);
    store<f32>(o + (<usize>r << 2), <f32>(sum * scale));
  }
}

/** Job body: rows [start, end) for every token. */
export function matmulF16Rows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const exact = argU32(job, ARG_VARIANT) != 0;
  const subRows = argPtr(job, ARG_SUB_ROWS);
  const subCols = argPtr(job, ARG_SUB_COLS);
  const subValues = argPtr(job, ARG_SUB_VALUES);
  // the fast path's x is scaled by 2^112: the listed products (value * x) are scaled back
  const subScale: f64 = exact ? 1.0 : 1.925929944387236e-34; // 2^-112
  const bits = vconst(C_F16_BITS);
  if (exact) f16Rows<Exact>(w, cols, x, xStride, nTokens, out, outStride, start, end, scale, bits, subRows, subCols, subValues, subScale);
  else f16Rows<Scaled>(w, cols, x, xStride, nTokens, out, outStride, start, end, scale, bits, subRows, subCols, subValues, subScale);
}
