// Ternary matmul (I2_S, TQ2_0, TQ1_0) on int8 activations from quantize.wgsl: out[t, rowOffset + r] for the rows of
// one weight part. Codes are unpacked from the packed bytes in registers and multiplied as integers.
// P.a = rows of this part, P.b = cols, P.c = format (0 I2_S, 1 TQ2_0, 2 TQ1_0), P.d = activation mode (0 per token,
// 1 Q8_K), P.e = rowOffset, P.f = out row stride (all rows), P.g = nTokens,
// P.h = threads per row; P.x0 = I2_S tensor scale, P.x1 = out scale.
// Per token with one tensor scale (I2_S): one exact integer sum per row, y = f32(sum) scale / s.
// Otherwise per 128-value segment: integer sum times weight scale times activation scale, summed compensated.
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> xq: array<u32>;
@group(0) @binding(3) var<storage, read> xs: array<f32>;
// out and res (the fused residual add): matmul-out.wgsl
const OUT_BINDING = 4u;

var<workgroup> red_i: array<i32, 64>;
// Activation i (int8, four to a u32 word: quantize.wgsl), sign-extended.
fn xq_at(i: u32) -> i32 { return extractBits(bitcast<i32>(xq[i >> 2u]), (i & 3u) * 8u, 8u); }

fn wbyte(i: u32) -> u32 { return byte_of(w[i >> 2u], i); }

fn f16_at(byteIndex: u32) -> f32 { return f16_value(wbyte(byteIndex) | (wbyte(byteIndex + 1u) << 8u)); }

// Code 0..3 (value code - 1) of element g (row-major index within the part).
fn code_at(fmt: u32, g: u32) -> i32 {
  if (fmt == 0u) {
    let p = g & 127u;
    return i32((wbyte((g >> 7u) * 32u + (p & 31u)) >> (6u - 2u * (p >> 5u))) & 3u);
  }
  let e = g & 255u;
  if (fmt == 1u) {
    let byte = wbyte((g >> 8u) * 66u + (e >> 7u) * 32u + (e & 31u));
    return i32((byte >> (2u * ((e & 127u) >> 5u))) & 3u);
  }
  var bi: u32;
  var n: u32;
  if (e < 160u) { bi = e & 31u; n = e >> 5u; }
  else if (e < 240u) { bi = 32u + ((e - 160u) & 15u); n = (e - 160u) >> 4u; }
  else { bi = 48u + ((e - 240u) & 3u); n = (e - 240u) >> 2u; }
  let byte = wbyte((g >> 8u) * 54u + bi);
  var p3 = 1u;
  for (var k = 0u; k < n; k = k + 1u) { p3 = p3 * 3u; }
  return i32((((byte * p3) & 0xffu) * 3u) >> 8u);
}

fn block_scale(fmt: u32, g: u32) -> f32 {
  if (fmt == 0u) { return P.x0; }
  if (fmt == 1u) { return f16_at((g >> 8u) * 66u + 64u); }
  return f16_at((g >> 8u) * 54u + 52u);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let cols = P.b;
  let fmt = P.c;
  let mode = P.d;
  let sl = row_slice(wid, nwg, lid); // P.h threads per (token, row)
  let rowBase = sl.r * cols;
  let xBase = sl.t * cols;
  let outIndex = sl.t * P.f + P.e + sl.r;
  if (mode == 0u && fmt == 0u) {
    var acc = 0;
    for (var c = sl.lane; c < select(0u, cols, sl.valid); c = c + P.h) {
      acc = acc + (code_at(fmt, rowBase + c) - 1) * xq_at(xBase + c);
    }
    red_i[lid] = acc;
    workgroupBarrier();
    for (var s = P.h / 2u; s > 0u; s = s >> 1u) {
      if (sl.lane < s) { red_i[lid] = red_i[lid] + red_i[lid + s]; }
      workgroupBarrier();
    }
    if (sl.lane == 0u && sl.valid) {
      let y = div_rn(f32(red_i[lid]) * P.x0, xs[sl.t]);
      store_out(outIndex, select(y * P.x1, y, P.x1 == 1.0));
    }
    return;
  }
  let nSeg = cols / 128u;
  let nq = (cols + 255u) / 256u;
  var acc = vec2<f32>(0.0, 0.0);
  for (var seg = sl.lane; seg < select(0u, nSeg, sl.valid); seg = seg + P.h) {
    var isum = 0;
    let c0 = seg * 128u;
    for (var c = c0; c < c0 + 128u; c = c + 1u) {
      isum = isum + (code_at(fmt, rowBase + c) - 1) * xq_at(xBase + c);
    }
    let xd = select(1.0, xs[sl.t * nq + (c0 >> 8u)], mode == 1u);
    acc = acc_add_prod3(acc, f32(isum), block_scale(fmt, rowBase + c0), xd);
  }
  let sum = join_sums(acc, lid, sl.lane, P.h);
  if (sl.lane == 0u && sl.valid) {
    let total = sum.x + sum.y;
    var y = total;
    if (mode == 0u) { y = div_rn(total, xs[sl.t]); }
    store_out(outIndex, select(y * P.x1, y, P.x1 == 1.0));
  }
}
