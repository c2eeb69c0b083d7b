// Block-quantized-weight matmul (Q8_0, Q4_0: Q8_0 activations; Q6_K: Q8_K activations, from quantize.wgsl): per weight
// block an integer dot times both scales, summed compensated (kernels/reference/matmul.ts). One workgroup per
// (token, row) of one weight part. P.a = rows of this part, P.b = cols, P.c = format (0 Q8_0, 1 Q4_0, 2 Q6_K),
// P.e = rowOffset, P.f = out row stride, P.g = nTokens, P.h = threads per row; P.x1 = out scale.
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> xq: array<u32>;
@group(0) @binding(3) var<storage, read> xs: array<f32>;
// out and res (the fused residual add): matmul-out.wgsl
const OUT_BINDING = 4u;

// Activation i (int8, four to a u32 word: quantize.wgsl), sign-extended.
fn xq_at(i: u32) -> i32 { return extractBits(bitcast<i32>(xq[i >> 2u]), (i & 3u) * 8u, 8u); }

fn wbyte(i: u32) -> u32 { return byte_of(w[i >> 2u], i); }
fn f16_at(i: u32) -> f32 { return f16_value(wbyte(i) | (wbyte(i + 1u) << 8u)); }
fn i8_of(b: u32) -> i32 { return select(i32(b), i32(b) - 256, b >= 128u); }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let cols = P.b;
  let fmt = P.c;
  let sl = row_slice(wid, nwg, lid); // P.h threads per (token, row)
  let xBase = sl.t * cols;
  var acc = vec2<f32>(0.0, 0.0);
  if (fmt == 2u) {
    let nb = cols / 256u;
    for (var b = sl.lane; b < select(0u, nb, sl.valid); b = b + P.h) {
      let o = (sl.r * nb + b) * 210u;
      var isum = 0;
      for (var e = 0u; e < 256u; e = e + 1u) {
        let h = e >> 7u;
        let g = (e & 127u) >> 5u;
        let l = e & 31u;
        let lo = (wbyte(o + 64u * h + l + 32u * (g & 1u)) >> select(0u, 4u, g >= 2u)) & 15u;
        let hi = (wbyte(o + 128u + 32u * h + l) >> (2u * g)) & 3u;
        let q = i32(lo | (hi << 4u)) - 32;
        let sc = i8_of(wbyte(o + 192u + 8u * h + 2u * g + (l >> 4u)));
        isum = isum + sc * q * xq_at(xBase + b * 256u + e);
      }
      acc = acc_add_prod3(acc, f32(isum), f16_at(o + 208u), xs[sl.t * nb + b]);
    }
  } else {
    let nb = cols / 32u;
    let bb = select(34u, 18u, fmt == 1u);
    for (var b = sl.lane; b < select(0u, nb, sl.valid); b = b + P.h) {
      let o = (sl.r * nb + b) * bb;
      var isum = 0;
      for (var j = 0u; j < 32u; j = j + 1u) {
        var q: i32;
        if (fmt == 0u) { q = i8_of(wbyte(o + 2u + j)); }
        else { q = i32((wbyte(o + 2u + (j & 15u)) >> select(0u, 4u, j >= 16u)) & 15u) - 8; }
        isum = isum + q * xq_at(xBase + b * 32u + j);
      }
      acc = acc_add_prod3(acc, f32(isum), f16_at(o), xs[sl.t * nb + b]);
    }
  }
  let sum = join_sums(acc, lid, sl.lane, P.h);
  if (sl.lane == 0u && sl.valid) {
    store_out(sl.t * P.f + P.e + sl.r, (sum.x + sum.y) * P.x1);
  }
}
