// Embedding lookup: one row of a weight part, dequantized exactly as formats/*.ts (every format's value is an exact
// f32 product), written to out[outOffset ..]. P.a = local row, P.b = cols (dim), P.c = format (0 F32, 1 F16, 2 BF16,
// 3 Q8_0, 4 Q4_0, 5 Q6_K, 6 I2_S, 7 TQ2_0, 8 TQ1_0), P.d = outOffset; P.x0 = I2_S tensor scale. One thread per value.
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn wbyte(i: u32) -> u32 { return byte_of(w[i >> 2u], i); }
fn f16_at(i: u32) -> f32 { return f16_value(wbyte(i) | (wbyte(i + 1u) << 8u)); }
fn i8_of(b: u32) -> i32 { return select(i32(b), i32(b) - 256, b >= 128u); }

fn value_at(fmt: u32, g: u32) -> f32 {
  switch fmt {
    case 0u: { return bitcast<f32>(w[g]); }
    case 1u: { return f16_value((w[g >> 1u] >> ((g & 1u) * 16u)) & 0xffffu); }
    case 2u: { return bitcast<f32>(((w[g >> 1u] >> ((g & 1u) * 16u)) & 0xffffu) << 16u); }
    case 3u: {
      let o = (g >> 5u) * 34u;
      return f16_at(o) * f32(i8_of(wbyte(o + 2u + (g & 31u))));
    }
    case 4u: {
      let o = (g >> 5u) * 18u;
      let j = g & 31u;
      let q = i32((wbyte(o + 2u + (j & 15u)) >> select(0u, 4u, j >= 16u)) & 15u) - 8;
      return f32(q) * f16_at(o);
    }
    case 5u: {
      let o = (g >> 8u) * 210u;
      let e = g & 255u;
      let h = e >> 7u;
      let gg = (e & 127u) >> 5u;
      let l = e & 31u;
      let lo = (wbyte(o + 64u * h + l + 32u * (gg & 1u)) >> select(0u, 4u, gg >= 2u)) & 15u;
      let hi = (wbyte(o + 128u + 32u * h + l) >> (2u * gg)) & 3u;
      let sc = i8_of(wbyte(o + 192u + 8u * h + 2u * gg + (l >> 4u)));
      return (f16_at(o + 208u) * f32(sc)) * f32(i32(lo | (hi << 4u)) - 32);
    }
    case 6u: {
      let p = g & 127u;
      let code = (wbyte((g >> 7u) * 32u + (p & 31u)) >> (6u - 2u * (p >> 5u))) & 3u;
      return f32(i32(code) - 1) * P.x0;
    }
    case 7u: {
      let e = g & 255u;
      let o = (g >> 8u) * 66u;
      let code = (wbyte(o + (e >> 7u) * 32u + (e & 31u)) >> (2u * ((e & 127u) >> 5u))) & 3u;
      return f32(i32(code) - 1) * f16_at(o + 64u);
    }
    default: {
      let e = g & 255u;
      let o = (g >> 8u) * 54u;
      var bi: u32;
      var n: u32;
      if (e < 160u) { bi = e & 31u; n = e >> 5u; }
      else if (e < 240u) { bi = 32u + ((e - 160u) & 15u); n = (e - 160u) >> 4u; }
      else { bi = 48u + ((e - 240u) & 3u); n = (e - 240u) >> 2u; }
      var p3 = 1u;
      for (var k = 0u; k < n; k = k + 1u) { p3 = p3 * 3u; }
      let code = (((wbyte(o + bi) * p3) & 0xffu) * 3u) >> 8u;
      return f32(i32(code) - 1) * f16_at(o + 52u);
    }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= P.b) { return; }
  out[P.d + i] = value_at(P.c, P.a * P.b + i);
}
