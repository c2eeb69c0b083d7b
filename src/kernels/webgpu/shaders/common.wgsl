// Helpers every kernel of the webgpu backend includes (prepended by the backend): exact F16 / BF16 rounding,
// correctly rounded division, C-style rounding, and byte reads from u32 storage.
// WGSL only bounds x / y to 2.5 ulp and leaves f32 -> f16 rounding to the implementation, while the CPU backends
// round to nearest even (docs/numerics.md): these helpers do it in integer arithmetic, so every adapter agrees.

// Sixteen-bit float bits of f32 x, round to nearest even (formats/f16.ts f32ToF16Bits). NaN stays NaN.
fn f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let e = i32((b >> 23u) & 0xffu);
  var m = b & 0x7fffffu;
  if (e == 255) {
    return sign | 0x7c00u | select(0u, 0x200u, m != 0u);
  }
  let he = e - 127 + 15;
  if (he >= 31) { return sign | 0x7c00u; }
  if (he <= 0) {
    if (he < -10) { return sign; }
    m = m | 0x800000u;
    let shift = u32(14 - he);
    var r = m >> shift;
    let rem = m & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u) == 1u)) { r = r + 1u; }
    return sign | r;
  }
  var r = (u32(he) << 10u) | (m >> 13u);
  let rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u) == 1u)) { r = r + 1u; }
  return sign | r;
}

// The f32 value of F16 bits (exact): the bits moved into place (normal: exponent re-biased by 112; subnormal: the
// integer m times 2^-24, an exact normal f32), no float arithmetic that an implementation may round.
fn f16_value(h: u32) -> f32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return bitcast<f32>(s | bitcast<u32>(f32(m) * 5.9604644775390625e-8)); }
  if (e == 31u) { return bitcast<f32>(s | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(s | ((e + 112u) << 23u) | (m << 13u));
}

fn round_f16(x: f32) -> f32 { return f16_value(f16_bits(x)); }

// x rounded to BF16, ties to even (finite x), as formats/bf16.ts.
fn round_bf16(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  let lsb = (u >> 16u) & 1u;
  return bitcast<f32>(((u + 0x7fffu + lsb) >> 16u) << 16u);
}

// a * b of two u32 values as (lo, hi) 64 bits.
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u;
  let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let lo = (p00 & 0xffffu) | ((mid & 0xffffu) << 16u);
  let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2<u32>(lo, hi);
}

// a << s for 64-bit (lo, hi), s < 64.
fn shl64(a: vec2<u32>, s: u32) -> vec2<u32> {
  if (s == 0u) { return a; }
  if (s >= 32u) { return vec2<u32>(0u, a.x << (s - 32u)); }
  return vec2<u32>(a.x << s, (a.y << s) | (a.x >> (32u - s)));
}

// -1, 0, 1 as a < b, a == b, a > b (unsigned 64-bit).
fn cmp64(a: vec2<u32>, b: vec2<u32>) -> i32 {
  if (a.y != b.y) { return select(-1, 1, a.y > b.y); }
  if (a.x != b.x) { return select(-1, 1, a.x > b.x); }
  return 0;
}

// n / d correctly rounded to nearest even, for finite nonzero normal n and d whose quotient is a normal f32.
// Starts from WGSL's division (within a few ulp) and moves by one ulp while an exact integer comparison of the
// quotient with the candidate's half-way points says so.
fn div_rn(n: f32, d: f32) -> f32 {
  let neg = (n < 0.0) != (d < 0.0);
  let an = abs(n);
  let ad = abs(d);
  var q = an / ad;
  // zero, subnormal, infinite or NaN operands or results: WGSL's quotient as it is
  if (!(an >= 1.17549435e-38 && an <= 3.4028234e38 && ad >= 1.17549435e-38 && ad <= 3.4028234e38 && q >= 1.17549435e-38 && q <= 3.4028234e38)) {
    return n / d;
  }
  let bn = bitcast<u32>(an);
  let bd = bitcast<u32>(ad);
  let mn = (bn & 0x7fffffu) | 0x800000u;
  let md = (bd & 0x7fffffu) | 0x800000u;
  let en = i32(bn >> 23u);
  let ed = i32(bd >> 23u);
  for (var it = 0; it < 6; it = it + 1) {
    let bq = bitcast<u32>(q);
    let mq = (bq & 0x7fffffu) | 0x800000u;
    let eq = i32(bq >> 23u);
    // n / d vs (mq +- 1/2) 2^(eq-150): compare 2 mn 2^s with (2 mq +- 1) md, s = en - eq - ed + 127 + 23
    let s = en - eq - ed + 150;
    if (s < 0 || s > 30) { break; }
    let lhs = shl64(vec2<u32>(2u * mn, 0u), u32(s));
    let up = mul_wide(2u * mq + 1u, md);
    let down = mul_wide(2u * mq - 1u, md);
    let cu = cmp64(lhs, up);
    let cd = cmp64(lhs, down);
    if (cu > 0 || (cu == 0 && (mq & 1u) == 1u)) {
      q = bitcast<f32>(bq + 1u);
    } else if (cd < 0 || (cd == 0 && (mq & 1u) == 1u)) {
      q = bitcast<f32>(bq - 1u);
    } else {
      break;
    }
  }
  return select(q, -q, neg);
}

// C round(): halves away from zero.
fn round_away(v: f32) -> f32 {
  let a = abs(v);
  let f = floor(a);
  let r = select(f, f + 1.0, a - f >= 0.5);
  return select(r, -r, v < 0.0);
}

// ggml nearest_int: halves to even.
fn round_even(v: f32) -> f32 {
  let f = floor(v);
  let diff = v - f;
  if (diff > 0.5) { return f + 1.0; }
  if (diff < 0.5) { return f; }
  return select(f + 1.0, f, f - 2.0 * floor(f * 0.5) == 0.0);
}

// Every kernel's parameters (binding 0): meanings per kernel file.
struct Params {
  a: u32, b: u32, c: u32, d: u32,
  e: u32, f: u32, g: u32, h: u32,
  x0: f32, x1: f32, x2: f32, x3: f32,
  i: u32, j: u32, k: u32, l: u32,
};
@group(0) @binding(0) var<uniform> P: Params;

// Flat workgroup index of a dispatch laid out as (min(n, 65535), ceil(n / 65535)).
fn flat_wg(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }

// The (token t, row r) slice a thread works on in the matmuls with one slice of threads per (token, row): P.h threads
// per slice (a power of two <= 64; lane: the thread's index in it), 64 / P.h slices per workgroup of 64, P.a rows x
// P.g tokens. valid is false for the threads past the last slice (their t and r are 0). Loops with barriers take
// their bounds from P.h itself (uniform), not from the slice.
struct Slice { t: u32, r: u32, lane: u32, valid: bool }

fn row_slice(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> Slice {
  let wi = flat_wg(wid, nwg) * (64u / P.h) + lid / P.h;
  let valid = wi < P.a * P.g;
  let i = select(0u, wi, valid);
  return Slice(i / P.a, i % P.a, lid % P.h, valid);
}

// Byte i of a u32 storage array (little-endian).
fn byte_of(word: u32, i: u32) -> u32 { return (word >> ((i & 3u) * 8u)) & 0xffu; }

// Two-sum of f32 (Knuth): s + e == a + b exactly.
fn two_sum(a: f32, b: f32) -> vec2<f32> {
  let s = a + b;
  let bb = s - a;
  let e = (a - (s - bb)) + (b - bb);
  return vec2<f32>(s, e);
}

// Workgroup scratch of the compensated sums' trees (join_sums; attention.wgsl's max tree too).
var<workgroup> red_f: array<vec2<f32>, 64>;

// Joins the compensated sums (hi, lo) `acc` of each slice of `width` consecutive threads (a power of two <= 64; lane =
// the thread's index in its slice) in a tree of two_sums, and gives every thread its slice's sum. Has barriers: every
// thread of the workgroup calls it, in uniform control flow; a later write to red_f needs a barrier first.
fn join_sums(acc: vec2<f32>, lid: u32, lane: u32, width: u32) -> vec2<f32> {
  red_f[lid] = acc;
  workgroupBarrier();
  for (var s = width / 2u; s > 0u; s = s >> 1u) {
    if (lane < s) {
      let a = red_f[lid];
      let b = red_f[lid + s];
      let s2 = two_sum(a.x, b.x);
      red_f[lid] = vec2<f32>(s2.x, a.y + b.y + s2.y);
    }
    workgroupBarrier();
  }
  return red_f[lid - lane];
}

// NaN and infinity tests on the bits: WGSL lets compilers assume finite floats, so v != v may fold to false.
fn is_nan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn is_inf(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u; }

// a * b exactly as hi + lo (Dekker's product with Veltkamp's split; no fma needed).
fn two_prod(a: f32, b: f32) -> vec2<f32> {
  let p = a * b;
  let ca = 4097.0 * a;
  let ah = ca - (ca - a);
  let al = a - ah;
  let cb = 4097.0 * b;
  let bh = cb - (cb - b);
  let bl = b - bh;
  let e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
  return vec2<f32>(p, e);
}

// acc (a compensated sum, hi + lo) plus v.
fn acc_add(acc: vec2<f32>, v: f32) -> vec2<f32> {
  let s = two_sum(acc.x, v);
  return vec2<f32>(s.x, acc.y + s.y);
}

// acc plus a * b * c with the products kept exact to about 2^-48 of their size.
fn acc_add_prod3(acc: vec2<f32>, a: f32, b: f32, c: f32) -> vec2<f32> {
  let ab = two_prod(a, b);
  let abc = two_prod(ab.x, c);
  return acc_add(acc_add(acc, abc.x), abc.y + ab.y * c);
}

// Four int8 values (each in [-128, 127]) in one u32, the first in the low byte (the layout dot4I8Packed reads).
fn pack_i8x4(q: vec4<i32>) -> u32 {
  let b = vec4<u32>(q) & vec4<u32>(0xffu);
  return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

// Per-token activation quantization of four values with the token's scale s (quantize.wgsl mode 0, as
// kernels/reference/quantize-activations.ts): round-away(v s) clamped to [-128, 127].
fn quant_token4(v: vec4<f32>, s: f32) -> vec4<i32> {
  return vec4<i32>(
    i32(clamp(round_away(v.x * s), -128.0, 127.0)), i32(clamp(round_away(v.y * s), -128.0, 127.0)),
    i32(clamp(round_away(v.z * s), -128.0, 127.0)), i32(clamp(round_away(v.w * s), -128.0, 127.0)));
}

// The larger of best and |v|; a NaN v leaves best (quantize.wgsl's `|v| > best` scan).
fn max_abs(best: f32, v: f32) -> f32 {
  let a = abs(v);
  return select(best, a, a > best);
}

// The gated value of a feed-forward gate g and up value u (kernels/reference/elementwise.ts): code 1 f32(relu(g)^2) u,
// code 2 silu(g) u with silu(g) = g / (1 + exp(-g)) in f32 steps.
fn gate_mul(code: u32, g: f32, u: f32) -> f32 {
  if (code == 1u) {
    let r = max(g, 0.0);
    return (r * r) * u;
  }
  return div_rn(g, 1.0 + exp(-g)) * u;
}
