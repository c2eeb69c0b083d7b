// Activation quantization, bit for bit as the reference: int8 for ternary matmuls (kernels/reference/quantize-activations.ts),
// and the vec_dot_type conversions of the float matmuls (kernels/reference/matmul.ts):
// - per token (bitnet.cpp quantize_row_i8_s, I2_S): absmax = max(max|x|, 1e-5) (double), s = f32(127 / absmax),
//   q = round-half-away(f32(x * s)) clamped to [-128, 127];
// - Q8_K blocks of 256 (llama.cpp quantize_row_q8_K_ref, TQ1_0/TQ2_0): max = the first value of largest
//   magnitude (signed), iscale = f32(-127 / max), q = min(127, round-half-even(f32(iscale * x))),
//   d = f32(1 / iscale); an all-zero block has d = 0.

import { f16RoundF32x4, f16ToF32, f32ToF16 } from './common';
import { C_F32_127, C_F32_M128, C_F32_MAGIC, C_F32_ONE, C_F32_SIGN, C_HALF, vconst } from './constants';

/**
 * Quantize `nTokens` tokens of `cols` floats (x[t*cols + c]). Writes xq (int8, xqStride bytes per token,
 * zero padded to a multiple of 16); per token mode (q8k = 0) a 16-byte record per token at info (f32 s,
 * i32 sum of xq); Q8_K mode (q8k = 1) one f64 d per 256 columns at ascales; optional sums of xq per
 * 128-element block (bsums, i32; when cols % 128 == 0) and optional lookup tables for the tiled ternary
 * kernel (tab, 16 bytes per column: ternary-lut.ts).
 */
export function quantizeTernary(
  x: usize, nTokens: u32, cols: u32,
  xq: usize, xqStride: u32, info: usize,
  bsums: usize, bsumsStride: u32, tab: usize, tabStride: u32,
  q8k: u32, ascales: usize, ascalesStride: u32,
): void {
  for (let t: u32 = 0; t < nTokens; t++) {
    const xt = x + ((<usize>t * cols) << 2);
    const qt = xq + <usize>t * xqStride;
    if (q8k != 0) {
      quantizeQ8K(xt, cols, qt, ascales + <usize>t * ascalesStride);
      finishToken(qt, cols, t, bsums, bsumsStride, tab, tabStride);
      continue;
    }
    // max is exact in any order: four chains side by side. f32x4.pmax is one x86 instruction (maxps) where f32x4.max
    // costs V8 about seven (NaN and signed-zero rules); it drops NaN, so NaN lanes are collected apart (x != x) and
    // make absmax NaN, as the reference's max does. |x| has no -0, so pmax and max agree on everything else.
    let m4 = f32x4.splat(0);
    let n4 = f32x4.splat(0);
    let o4 = f32x4.splat(0);
    let p4 = f32x4.splat(0);
    let nan4 = i32x4.splat(0);
    let c: u32 = 0;
    for (; c + 16 <= cols; c += 16) {
      const p = xt + (<usize>c << 2);
      const v0 = v128.load(p);
      const v1 = v128.load(p, 16);
      const v2 = v128.load(p, 32);
      const v3 = v128.load(p, 48);
      m4 = f32x4.pmax(m4, f32x4.abs(v0));
      n4 = f32x4.pmax(n4, f32x4.abs(v1));
      o4 = f32x4.pmax(o4, f32x4.abs(v2));
      p4 = f32x4.pmax(p4, f32x4.abs(v3));
      nan4 = v128.or(nan4, v128.or(v128.or(f32x4.ne(v0, v0), f32x4.ne(v1, v1)), v128.or(f32x4.ne(v2, v2), f32x4.ne(v3, v3))));
    }
    for (; c + 4 <= cols; c += 4) {
      const v0 = v128.load(xt + (<usize>c << 2));
      m4 = f32x4.pmax(m4, f32x4.abs(v0));
      nan4 = v128.or(nan4, f32x4.ne(v0, v0));
    }
    m4 = f32x4.pmax(f32x4.pmax(m4, n4), f32x4.pmax(o4, p4));
    let absmax = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
    if (v128.any_true(nan4)) absmax = NaN;
    for (; c < cols; c++) absmax = max(absmax, abs(load<f32>(xt + (<usize>c << 2))));
    const s = <f32>(127.0 / max(<f64>absmax, 1e-5));
    const s4 = f32x4.splat(s);
    // finite values give integers in [-128, 127] here: converted by the 1.5 * 2^23 bias instead of trunc_sat (NaN
    // or +-Inf anywhere keep trunc_sat's rules); one loop per case, so the test is not redone per vector
    const sum4 = isFinite(absmax) ? quantizeScaled(xt, qt, cols, s4, true) : quantizeScaled(xt, qt, cols, s4, false);
    c = cols & ~15;
    let sum = i32x4.extract_lane(sum4, 0) + i32x4.extract_lane(sum4, 1) + i32x4.extract_lane(sum4, 2) + i32x4.extract_lane(sum4, 3);
    for (; c < cols; c++) {
      const v = load<f32>(xt + (<usize>c << 2)) * s;
      const r = floor(<f64>abs(v) + 0.5);
      let q = <i32>min(r, 128.0);
      if (v < 0) q = -q;
      q = min(q, 127);
      store<i8>(qt + c, <i8>q);
      sum += q;
    }
    const rec = info + (<usize>t << 4);
    store<f32>(rec, s);
    store<i32>(rec, sum, 4);
    finishToken(qt, cols, t, bsums, bsumsStride, tab, tabStride);
  }
}

/** Zero padding to 16 bytes, block sums and lookup tables of one quantized token. */
function finishToken(qt: usize, cols: u32, t: u32, bsums: usize, bsumsStride: u32, tab: usize, tabStride: u32): void {
  for (let c = cols; c < ((cols + 15) & ~15); c++) store<i8>(qt + c, 0);
  if (bsums != 0 && (cols & 127) == 0) {
    const bt = bsums + <usize>t * bsumsStride;
    for (let b: u32 = 0; b < (cols >> 7); b++) {
      const qb = qt + (<usize>b << 7);
      let a = i32x4.splat(0);
      for (let i: usize = 0; i < 128; i += 16) {
        a = i32x4.add(a, i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(qb + i))));
      }
      store<i32>(bt + (<usize>b << 2), i32x4.extract_lane(a, 0) + i32x4.extract_lane(a, 1) + i32x4.extract_lane(a, 2) + i32x4.extract_lane(a, 3));
    }
  }
  if (tab != 0) buildPairTables(qt, cols, tab + <usize>t * tabStride);
}

/** One token in Q8_K blocks of 256 (the last block may be shorter): int8 at qt, f64 d per block at dt. */
function quantizeQ8K(xt: usize, cols: u32, qt: usize, dt: usize): void {
  const hi = f32x4.splat(127.0);
  for (let b0: u32 = 0, b: u32 = 0; b0 < cols; b0 += 256, b++) {
    const end = min(cols, b0 + 256);
    // the first value of largest magnitude, as the reference's strict '>' scan finds it (NaNs never win): the
    // magnitude by pmax (b > a ? b : a, so a NaN lane never replaces the running value), then the first lane holding it
    let m4 = f32x4.splat(0);
    let i0 = b0;
    for (; i0 + 4 <= end; i0 += 4) m4 = f32x4.pmax(m4, f32x4.abs(v128.load(xt + (<usize>i0 << 2))));
    let amax: f32 = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
    for (; i0 < end; i0++) {
      const a = abs(load<f32>(xt + (<usize>i0 << 2)));
      if (a > amax) amax = a;
    }
    let maxv: f32 = 0;
    if (amax > 0) {
      const am4 = f32x4.splat(amax);
      let i = b0;
      while (i + 4 <= end && !v128.any_true(f32x4.eq(f32x4.abs(v128.load(xt + (<usize>i << 2))), am4))) i += 4;
      while (abs(load<f32>(xt + (<usize>i << 2))) != amax) i++;
      maxv = load<f32>(xt + (<usize>i << 2));
    }
    if (amax == 0) {
      memory.fill(qt + b0, 0, end - b0);
      store<f64>(dt + (<usize>b << 3), 0);
      continue;
    }
    const iscale = <f32>(-127.0 / <f64>maxv);
    const is4 = f32x4.splat(iscale);
    let i = b0;
    for (; i + 16 <= end; i += 16) {
      const p = xt + (<usize>i << 2);
      const q0 = i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.nearest(f32x4.mul(v128.load(p), is4)), hi));
      const q1 = i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.nearest(f32x4.mul(v128.load(p, 16), is4)), hi));
      const q2 = i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.nearest(f32x4.mul(v128.load(p, 32), is4)), hi));
      const q3 = i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.nearest(f32x4.mul(v128.load(p, 48), is4)), hi));
      v128.store(qt + i, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
    }
    for (; i < end; i++) {
      const v = nearest<f32>(iscale * load<f32>(xt + (<usize>i << 2)));
      store<i8>(qt + i, v != v ? 0 : <i8>max<f32>(min<f32>(v, 127), -128));
    }
    store<f64>(dt + (<usize>b << 3), <f64><f32>(1.0 / <f64>iscale));
  }
}

/**
 * q = roundClamp(x * s) for the whole groups of 16 columns of one token (x at xt, int8 q at qt); returns the i32x4
 * partial sums of q. The constants come from memory (constants.ts): as immediates V8 rebuilt each of them at every
 * iteration (3 instructions apiece, seen with --print-wasm-code).
 */
// @ts-ignore: decorator
@inline function quantizeScaled(xt: usize, qt: usize, cols: u32, s4: v128, finite: bool): v128 {
  const half = vconst(C_HALF);
  const one = vconst(C_F32_ONE);
  const signMask = vconst(C_F32_SIGN);
  const lo = vconst(C_F32_M128);
  const hi = vconst(C_F32_127);
  const magic = vconst(C_F32_MAGIC);
  let sum4 = i32x4.splat(0);
  for (let c: u32 = 0; c + 16 <= cols; c += 16) {
    const p = xt + (<usize>c << 2);
    const q0 = roundClamp(f32x4.mul(v128.load(p), s4), half, one, signMask, lo, hi, magic, finite);
    const q1 = roundClamp(f32x4.mul(v128.load(p, 16), s4), half, one, signMask, lo, hi, magic, finite);
    const q2 = roundClamp(f32x4.mul(v128.load(p, 32), s4), half, one, signMask, lo, hi, magic, finite);
    const q3 = roundClamp(f32x4.mul(v128.load(p, 48), s4), half, one, signMask, lo, hi, magic, finite);
    sum4 = i32x4.add(sum4, i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)));
    v128.store(qt + c, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
  }
  return sum4;
}

/**
 * round-half-away-from-zero(v) clamped to [-128, 127] as i32x4, exactly: t = trunc(v) and v - t are exact
 * in f32, so |v - t| >= 0.5 decides the step away from zero without any rounding of v + 0.5.
 */
// @ts-ignore: decorator
@inline function roundClamp(v: v128, half: v128, one: v128, signMask: v128, lo: v128, hi: v128, magic: v128, finite: bool): v128 {
  const t = f32x4.trunc(v);
  const away = f32x4.ge(f32x4.abs(f32x4.sub(v, t)), half);
  const step = v128.and(away, v128.or(one, v128.and(v, signMask)));
  const u = f32x4.add(t, step);
  if (finite) {
    // no NaN here: pmin / pmax (one instruction each, where min / max cost V8 about seven) clamp the same way, -0
    // included (pmax(lo, -0) and pmin(hi, -0) are -0); then r integral in [-128, 127]: r + 1.5 * 2^23 is exact and
    // holds r in its low mantissa bits
    const r = f32x4.pmin(hi, f32x4.pmax(lo, u));
    return i32x4.sub(f32x4.add(r, magic), magic);
  }
  return i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.max(u, lo), hi));
}

/** The tiled kernel's lookup tables of nTokens quantized tokens (xq, xqStride bytes apart), tabStride bytes apart at tab. */
export function buildLutTables(xq: usize, xqStride: u32, nTokens: u32, cols: u32, tab: usize, tabStride: u32): void {
  for (let t: u32 = 0; t < nTokens; t++) buildPairTables(xq + <usize>t * xqStride, cols, tab + <usize>t * tabStride);
}

/**
 * Lookup tables of the tiled ternary kernel: for each column pair p (columns 2p, 2p+1) 32 bytes, the low
 * then the high bytes of the 16 i16 values (c0 - 1) * x[2p] + (c1 - 1) * x[2p+1] for index c0 | c1 << 2.
 */
function buildPairTables(qt: usize, cols: u32, tab: usize): void {
  const k0 = i16x8(-1, 0, 1, 2, -1, 0, 1, 2);
  const kLo = i16x8(-1, -1, -1, -1, 0, 0, 0, 0);
  const kHi = i16x8(1, 1, 1, 1, 2, 2, 2, 2);
  const nPairs = cols >> 1;
  for (let p: u32 = 0; p < nPairs; p++) {
    const x0 = i16x8.splat(<i16>load<i8>(qt + (<usize>p << 1)));
    const x1 = i16x8.splat(<i16>load<i8>(qt + (<usize>p << 1), 1));
    const base = i16x8.mul(x0, k0);
    const e0 = i16x8.add(base, i16x8.mul(x1, kLo)); // entries 0..7
    const e1 = i16x8.add(base, i16x8.mul(x1, kHi)); // entries 8..15
    const dst = tab + (<usize>p << 5);
    v128.store(dst, i8x16.shuffle(e0, e1, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30));
    v128.store(dst, i8x16.shuffle(e0, e1, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), 16);
  }
}

/** 2^112 as f32: activations scaled by it meet F16 weights read as f32 bits (em << 13) worth w * 2^-112. */
const F32_2_POW_112: f32 = reinterpret<f32>(0x77800000);

/**
 * Activations for the Q8_0 / Q4_0 kernels: Q8_0 blocks of 32, the vec_dot_type of both weight types, as llama.cpp's
 * x86 quantize_row_q8_0 (ggml/src/ggml-cpu/arch/x86/quants.c; formats/q8_0.ts quantizeActivationsQ8_0): amax,
 * d = F16(f32(amax / 127)), id = f32(127 / amax) (0 when amax is 0), q = nearest-even(f32(x * id)). Per token:
 * q as int16 (2 bytes per column, outStride bytes per token) and per block the F16 d times 2^112 as f32 at
 * scales (scalesStride bytes per token; the kernels multiply it by the weight's d read as f32 bits >> 112).
 * A block holding NaN or +-Infinity gets d = NaN and q = 0.
 */
export function quantizeQ8_0Act(x: usize, nTokens: u32, cols: u32, out: usize, outStride: u32, scales: usize, scalesStride: u32): void {
  const nBlocks = cols >> 5;
  for (let t: u32 = 0; t < nTokens; t++) {
    const xt = x + ((<usize>t * cols) << 2);
    for (let b: u32 = 0; b < nBlocks; b++) {
      const xb = xt + (<usize>b << 7);
      const v0 = v128.load(xb);
      const v1 = v128.load(xb, 16);
      const v2 = v128.load(xb, 32);
      const v3 = v128.load(xb, 48);
      const v4 = v128.load(xb, 64);
      const v5 = v128.load(xb, 80);
      const v6 = v128.load(xb, 96);
      const v7 = v128.load(xb, 112);
      const m4 = f32x4.max(
        f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
        f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))),
      );
      // f32x4.max propagates NaN, so amax is NaN or +inf exactly when the block holds a non-finite value
      const amax = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
      const ob = out + <usize>t * outStride + (<usize>b << 6);
      const sb = scales + <usize>t * scalesStride + (<usize>b << 2);
      if (!isFinite(amax)) {
        v128.store(ob, i32x4.splat(0));
        v128.store(ob, i32x4.splat(0), 16);
        v128.store(ob, i32x4.splat(0), 32);
        v128.store(ob, i32x4.splat(0), 48);
        store<f32>(sb, NaN);
        continue;
      }
      const d: f32 = amax / <f32>127.0;
      const id4 = f32x4.splat(amax != 0 ? <f32>127.0 / amax : 0);
      v128.store(ob, i16x8.narrow_i32x4_s(roundQ(v0, id4), roundQ(v1, id4)));
      v128.store(ob, i16x8.narrow_i32x4_s(roundQ(v2, id4), roundQ(v3, id4)), 16);
      v128.store(ob, i16x8.narrow_i32x4_s(roundQ(v4, id4), roundQ(v5, id4)), 32);
      v128.store(ob, i16x8.narrow_i32x4_s(roundQ(v6, id4), roundQ(v7, id4)), 48);
      store<f32>(sb, f16ToF32(f32ToF16(d)) * F32_2_POW_112);
    }
  }
}

/** nearest-even(x * id) as i32x4, clamped to [-128, 127] as ggml's int8 packing saturates. */
// @ts-ignore: decorator
@inline function roundQ(v: v128, id4: v128): v128 {
  const q = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, id4)));
  return i32x4.max_s(i32x4.min_s(q, i32x4.splat(127)), i32x4.splat(-128));
}

/**
 * Activations for the Q6_K kernel: Q8_K blocks of 256, Q6_K's vec_dot_type (quantize_row_q8_K_ref, as quantizeQ8K
 * above), as int16 (2 bytes per column, outStride bytes per token; the relaxed-SIMD build: int8, then an i16 sum per
 * 16 columns, in the same row) with one f64 d per block at scales
 * (scalesStride bytes per token). A block holding NaN or +-Infinity gets d = NaN (kernels/reference/matmul.ts).
 * cols must be a multiple of 256.
 */
export function quantizeQ8KAct(x: usize, nTokens: u32, cols: u32, out: usize, outStride: u32, scales: usize, scalesStride: u32): void {
  for (let t: u32 = 0; t < nTokens; t++) {
    const xt = x + ((<usize>t * cols) << 2);
    const ot = out + <usize>t * outStride;
    const dt = scales + <usize>t * scalesStride;
    if (ASC_FEATURE_RELAXED_SIMD) {
      // relaxed build (matmul-q6_k.ts dotBlockQ6KRelaxed): int8, then an i16 sum per 16 columns
      quantizeQ8K(xt, cols, ot, dt);
      const bs = ot + <usize>cols;
      for (let c: usize = 0; c < <usize>cols; c += 16) {
        const w = i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(ot + c)));
        store<i16>(bs + (c >> 3), <i16>(i32x4.extract_lane(w, 0) + i32x4.extract_lane(w, 1) + i32x4.extract_lane(w, 2) + i32x4.extract_lane(w, 3)));
      }
    } else {
      // int8 into the second half of the token's row, then widened in place from the front (reads stay ahead of writes)
      const q8 = ot + <usize>cols;
      quantizeQ8K(xt, cols, q8, dt);
      for (let c: usize = 0; c < <usize>cols; c += 16) {
        const v = v128.load(q8 + c);
        v128.store(ot + (c << 1), i16x8.extend_low_i8x16_s(v));
        v128.store(ot + (c << 1), i16x8.extend_high_i8x16_s(v), 16);
      }
    }
    for (let b: u32 = 0; b < (cols >> 8); b++) {
      // x - x is 0 for finite x and NaN otherwise
      let z = f32x4.splat(0);
      const xb = xt + (<usize>b << 10);
      for (let i: usize = 0; i < 1024; i += 16) {
        const v = v128.load(xb + i);
        z = f32x4.add(z, f32x4.sub(v, v));
      }
      const s = f32x4.extract_lane(z, 0) + f32x4.extract_lane(z, 1) + f32x4.extract_lane(z, 2) + f32x4.extract_lane(z, 3);
      if (s != 0) store<f64>(dt + (<usize>b << 3), NaN);
    }
  }
}

/**
 * x rounded to F16 (ties to even; F16's vec_dot_type is F16) as f32, `nTokens` tokens of `cols` values, token t at
 * out + t * cols * 4: times 2^112 when `scaled` (the fast F16 kernel reads weights as f32 bits worth w * 2^-112),
 * else as is. The layout is the F16 kernel's (matmul-f16.ts): in each token's whole 64-column chunks every group
 * of 8 columns is stored even columns first, [x0, x2, x4, x6, x1, x3, x5, x7], matching the even and odd weights
 * the kernel splits one 16-byte load into; the columns past the last whole chunk stay in order.
 */
export function roundActivationsF16(x: usize, nTokens: u32, cols: u32, out: usize, scaled: u32): void {
  const k: f32 = scaled != 0 ? F32_2_POW_112 : 1;
  const kv = f32x4.splat(k);
  const whole = <usize>(cols & ~63);
  for (let t: u32 = 0; t < nTokens; t++) {
    const xt = x + ((<usize>t * cols) << 2);
    const ot = out + ((<usize>t * cols) << 2);
    for (let c: usize = 0; c < whole; c += 8) {
      // f16RoundF32x4 is f16ToF32(f32ToF16(.)) bit for bit, so these values equal the scalar loop's below
      const a = f32x4.mul(f16RoundF32x4(v128.load(xt + (c << 2))), kv);
      const b = f32x4.mul(f16RoundF32x4(v128.load(xt + (c << 2) + 16)), kv);
      v128.store(ot + (c << 2), i8x16.shuffle(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27));
      v128.store(ot + (c << 2) + 16, i8x16.shuffle(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31));
    }
    for (let c = whole; c < <usize>cols; c++) store<f32>(ot + (c << 2), f16ToF32(f32ToF16(load<f32>(xt + (c << 2)))) * k);
  }
}

/** x rounded to BF16 (ties to even, NaN kept; BF16's vec_dot_type is BF16) as f32, for n values (formats/bf16.ts). */
export function roundActivationsBF16(x: usize, n: u32, out: usize): void {
  for (let i: usize = 0; i < <usize>n; i++) {
    const u = load<u32>(x + (i << 2));
    const r = (u & 0x7fffffff) > 0x7f800000 ? (u | 0x400000) & 0xffff0000 : ((u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000);
    store<u32>(out + (i << 2), r);
  }
}

/** 1 when any of the n F16 values at p is +-Infinity or NaN (exponent all ones), else 0. */
export function hasF16NonFinite(p: usize, n: u32): u32 {
  let i: u32 = 0;
  const e = i16x8.splat(0x7c00);
  let any = i16x8.splat(0);
  for (; i + 8 <= n; i += 8) any = v128.or(any, i16x8.eq(v128.and(v128.load(p + (<usize>i << 1)), e), e));
  if (v128.any_true(any)) return 1;
  for (; i < n; i++) if ((load<u16>(p + (<usize>i << 1)) & 0x7c00) == 0x7c00) return 1;
  return 0;
}
