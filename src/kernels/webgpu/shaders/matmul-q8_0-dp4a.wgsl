// Q8_0 matmul on Q8_0 activations (quantize.wgsl mode 2: int8 four to a u32, one scale per 32 columns) with packed
// 4 x int8 dot products (dot4I8Packed), where the adapter has them (index.ts); matmul-quant.wgsl otherwise. The output
// matrix of files with Q8_0 embeddings (128256 rows on the 2B-4T shape) is the largest matmul of a decode step.
//
// Q8_0 block (formats/q8_0.ts; ggml's block_q8_0): an F16 scale d, then 32 int8 quants: 34 bytes, so every other
// block's quants start 2 bytes into a u32 word and are read as two half words (quants_word). Per block: the exact
// integer dot of 8 words (dot4I8Packed) instead of matmul-quant.wgsl's 32 byte extractions and products, then the same
// acc_add_prod3(acc, f32(isum), d_w, d_x) in the same order (the same work split: P.h threads per (token, row), each
// over blocks lane, lane + P.h, ...; the same tree), so the outputs are the portable kernel's bit for bit.
// A first version took 8 rows x 4 tokens per workgroup (a block's quants read once for 4 tokens, a tree per token in
// workgroup memory): on SwiftShader 3.8x slower than the portable kernel (16384 x 256, one token); this one ran faster
// there (bench/README.md).
// P.a = rows of this part, P.b = cols, P.e = rowOffset, P.f = out row stride, P.g = nTokens, P.h = threads per row;
// P.x1 = out scale.
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> xs: array<f32>;
// out and res (the fused residual add): matmul-out.wgsl
const OUT_BINDING = 4u;

// Quant word k (quants 4k..4k+3) of a block from the words lo, hi covering it, sh = 0 (aligned: lo is the word) or
// 16 (its halves are lo's high and hi's low): branch-free, so neighbouring threads (blocks of both alignments) agree.
fn funnel(lo: u32, hi: u32, sh: u32) -> u32 { return (lo >> sh) | ((hi << 16u) << (16u - sh)); }

// The F16 scale at byte o (o even).
fn scale_at(o: u32) -> f32 { return f16_value((w[o >> 2u] >> ((o & 2u) * 8u)) & 0xffffu); }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let cols = P.b;
  let sl = row_slice(wid, nwg, lid); // P.h threads per (token, row)
  let nb = cols / 32u;
  var acc = vec2<f32>(0.0, 0.0);
  for (var b = sl.lane; b < select(0u, nb, sl.valid); b = b + P.h) {
    let o = (sl.r * nb + b) * 34u;
    // the quants start at byte o + 2: 9 words cover them (the 9th holds nothing of them when aligned; past the end of
    // the buffer it may read as anything, and then funnel shifts it out)
    let i = (o + 2u) >> 2u;
    let sh = ((o + 2u) & 2u) * 8u;
    let w0 = w[i];
    let w1 = w[i + 1u];
    let w2 = w[i + 2u];
    let w3 = w[i + 3u];
    let w4 = w[i + 4u];
    let w5 = w[i + 5u];
    let w6 = w[i + 6u];
    let w7 = w[i + 7u];
    let w8 = w[i + 8u];
    // the block's 32 activations: vec4s 2b, 2b + 1 of the token
    let xa = xq[sl.t * (cols / 16u) + 2u * b];
    let xb = xq[sl.t * (cols / 16u) + 2u * b + 1u];
    let isum = dot4I8Packed(funnel(w0, w1, sh), xa.x) + dot4I8Packed(funnel(w1, w2, sh), xa.y)
      + dot4I8Packed(funnel(w2, w3, sh), xa.z) + dot4I8Packed(funnel(w3, w4, sh), xa.w)
      + dot4I8Packed(funnel(w4, w5, sh), xb.x) + dot4I8Packed(funnel(w5, w6, sh), xb.y)
      + dot4I8Packed(funnel(w6, w7, sh), xb.z) + dot4I8Packed(funnel(w7, w8, sh), xb.w);
    acc = acc_add_prod3(acc, f32(isum), scale_at(o), xs[sl.t * nb + b]);
  }
  let sum = join_sums(acc, lid, sl.lane, P.h);
  if (sl.lane == 0u && sl.valid) {
    store_out(sl.t * P.f + P.e + sl.r, (sum.x + sum.y) * P.x1);
  }
}
