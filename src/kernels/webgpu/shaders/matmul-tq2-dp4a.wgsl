// TQ2_0 matmul (llama.cpp's ternary type) with packed 4 x int8 dot products (dot4I8Packed), where the adapter has them
// (index.ts); matmul-ternary.wgsl otherwise. The same work split, per-segment integer sums and compensated
// accumulation as matmul-ternary.wgsl's TQ2_0 path, so the outputs are its outputs bit for bit: only each 128-value
// segment's integer sum is made with 32 dot4I8Packed instead of 128 code extractions and products.
//
// TQ2_0 block (formats/tq2_0.ts; ggml's block_tq2_0): 64 code bytes, then an F16 scale d: 66 bytes, so every other
// block starts 2 bytes into a u32 word (read through funnel, as matmul-q8_0-dp4a.wgsl). Half h of a block (values
// 128 h ..) is code bytes 32 h .. 32 h + 31; byte l holds values 128 h + 32 f + l at shift 2 f (f = 0..3), code - 1 the
// weight. So code word k of the half (bytes 4k..4k+3), shifted by 2 f and masked, is four codes of consecutive values
// 32 f + 4k .. + 3, whose activations are one packed word of xq (quantize.wgsl). The codes become code - 1 per byte
// without a borrow between bytes (((c | 0x80) - 1) ^ 0x80 on each byte), so dot4I8Packed gives sum (code - 1) x.
// P.a = rows of this part, P.b = cols, P.d = activation mode (0 per token, 1 Q8_K), P.e = rowOffset, P.f = out row
// stride, P.g = nTokens, P.h = threads per row; P.x1 = out scale.
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> xq: array<u32>;
@group(0) @binding(3) var<storage, read> xs: array<f32>;
// out and res (the fused residual add): matmul-out.wgsl
const OUT_BINDING = 4u;

fn funnel(lo: u32, hi: u32, sh: u32) -> u32 { return (lo >> sh) | ((hi << 16u) << (16u - sh)); }

// Four codes (low 2 bits of each byte of c) as code - 1 in signed bytes.
fn minus_one(c: u32) -> u32 { return ((c | 0x80808080u) - 0x01010101u) ^ 0x80808080u; }

// sum over the 32 values 32 f + 4k .. of half words cw (8 code words) of (code - 1) x; xw: the half's first xq word.
fn half_dot(cw: array<u32, 8>, xw: u32) -> i32 {
  var s = 0;
  for (var k = 0u; k < 8u; k = k + 1u) {
    let c = cw[k];
    s = s + dot4I8Packed(minus_one(c & 0x03030303u), xq[xw + k])
      + dot4I8Packed(minus_one((c >> 2u) & 0x03030303u), xq[xw + 8u + k])
      + dot4I8Packed(minus_one((c >> 4u) & 0x03030303u), xq[xw + 16u + k])
      + dot4I8Packed(minus_one((c >> 6u) & 0x03030303u), xq[xw + 24u + k]);
  }
  return s;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let cols = P.b;
  let mode = P.d;
  let sl = row_slice(wid, nwg, lid); // P.h threads per (token, row)
  let nSeg = cols / 128u;
  let nq = (cols + 255u) / 256u;
  let nb = cols / 256u;
  var acc = vec2<f32>(0.0, 0.0);
  for (var seg = sl.lane; seg < select(0u, nSeg, sl.valid); seg = seg + P.h) {
    let block = sl.r * nb + (seg >> 1u);
    let o = block * 66u;
    // the half's 32 code bytes start at byte o + 32 h: 9 words cover them (sh 0 or 16)
    let start = o + 32u * (seg & 1u);
    let i = start >> 2u;
    let sh = (start & 2u) * 8u;
    var cw: array<u32, 8>;
    var lo = w[i];
    for (var k = 0u; k < 8u; k = k + 1u) {
      let hi = w[i + k + 1u];
      cw[k] = funnel(lo, hi, sh);
      lo = hi;
    }
    let isum = half_dot(cw, (sl.t * cols + seg * 128u) >> 2u);
    let xd = select(1.0, xs[sl.t * nq + (seg >> 1u)], mode == 1u);
    // the block's F16 scale at byte o + 64 (even)
    let d = f16_value((w[(o + 64u) >> 2u] >> (((o + 64u) & 2u) * 8u)) & 0xffffu);
    acc = acc_add_prod3(acc, f32(isum), d, xd);
  }
  let sum = join_sums(acc, lid, sl.lane, P.h);
  if (sl.lane == 0u && sl.valid) {
    let total = sum.x + sum.y;
    var y = total;
    if (mode == 0u) { y = div_rn(total, xs[sl.t]); }
    store_out(sl.t * P.f + P.e + sl.r, select(y * P.x1, y, P.x1 == 1.0));
  }
}
