// Q8_0 matmul on Q8_0 activations (quantize.wgsl mode 2: int8 four to a u32, one scale per 32 columns) with packed
// 4 x int8 dot products (dot4I8Packed), where the adapter has them (index.ts); matmul-quant.wgsl otherwise. The output
// matrix of files with Q8_0 embeddings (128256 rows on the 2B-4T shape) is the largest matmul of a decode step.
//
// Q8_0 block (formats/q8_0.ts; ggml's block_q8_0): an F16 scale d, then 32 int8 quants: 34 bytes, so every other
// block's quants start 2 bytes into a u32 word and are read as two half words (quants_word). Per block: the exact
// integer dot of 8 words (dot4I8Packed), then acc_add_prod3(acc, f32(isum), d_w, d_x) as matmul-quant.wgsl (products
// summed compensated); only the order in which a row's blocks meet differs (threads stride over blocks; a tree joins
// them), so float outputs agree with the portable kernel to a few ulp.
//
// Work: a workgroup takes ROWS rows x TT tokens, TPR threads per row; a block's 8 quant words are read once for the
// workgroup's tokens. P.a = rows of this part, P.b = cols, P.e = rowOffset, P.f = out row stride, P.g = nTokens;
// P.x1 = out scale. Workgroups: row groups x token tiles.
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> xs: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const ROWS = 8u;
const TPR = 16u;
const TT = 4u;

var<workgroup> red: array<vec2<f32>, 512>; // ROWS * TPR * TT

// Quant word k (quants 4k..4k+3) of the block whose quants start at byte q (q % 4 is 0 or 2).
fn quants_word(q: u32, k: u32) -> u32 {
  let i = (q >> 2u) + k;
  if ((q & 3u) == 0u) { return w[i]; }
  return (w[i] >> 16u) | (w[i + 1u] << 16u);
}

// The F16 scale at byte o (o even).
fn scale_at(o: u32) -> f32 { return f16_value((w[o >> 2u] >> ((o & 2u) * 8u)) & 0xffffu); }

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = P.a;
  let cols = P.b;
  let rowGroups = (rows + ROWS - 1u) / ROWS;
  let g = flat_wg(wid, nwg);
  let rowGroup = g % rowGroups;
  let t0 = (g / rowGroups) * TT;
  let nt = min(TT, P.g - t0);
  let r = rowGroup * ROWS + lid / TPR;
  let lane = lid % TPR;
  let nb = cols / 32u;
  var acc: array<vec2<f32>, TT>;
  let bEnd = select(0u, nb, r < rows);
  for (var b = lane; b < bEnd; b = b + TPR) {
    let o = (r * nb + b) * 34u;
    let q = o + 2u;
    let w0 = quants_word(q, 0u);
    let w1 = quants_word(q, 1u);
    let w2 = quants_word(q, 2u);
    let w3 = quants_word(q, 3u);
    let w4 = quants_word(q, 4u);
    let w5 = quants_word(q, 5u);
    let w6 = quants_word(q, 6u);
    let w7 = quants_word(q, 7u);
    let d = scale_at(o);
    for (var j = 0u; j < TT; j = j + 1u) {
      if (j < nt) {
        let t = t0 + j;
        // the block's 32 activations: vec4s 2b, 2b + 1 of the token (8 words per block)
        let xa = xq[t * (cols / 16u) + 2u * b];
        let xb = xq[t * (cols / 16u) + 2u * b + 1u];
        let isum = dot4I8Packed(w0, xa.x) + dot4I8Packed(w1, xa.y) + dot4I8Packed(w2, xa.z) + dot4I8Packed(w3, xa.w)
          + dot4I8Packed(w4, xb.x) + dot4I8Packed(w5, xb.y) + dot4I8Packed(w6, xb.z) + dot4I8Packed(w7, xb.w);
        acc[j] = acc_add_prod3(acc[j], f32(isum), d, xs[t * nb + b]);
      }
    }
  }
  for (var j = 0u; j < TT; j = j + 1u) { red[lid * TT + j] = acc[j]; }
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
    if (lane < s) {
      for (var j = 0u; j < TT; j = j + 1u) {
        let a = red[lid * TT + j];
        let c = red[(lid + s) * TT + j];
        let s2 = two_sum(a.x, c.x);
        red[lid * TT + j] = vec2<f32>(s2.x, a.y + c.y + s2.y);
      }
    }
    workgroupBarrier();
  }
  if (lane == 0u && r < rows) {
    for (var j = 0u; j < nt; j = j + 1u) {
      let v = red[lid * TT + j];
      out[(t0 + j) * P.f + P.e + r] = (v.x + v.y) * P.x1;
    }
  }
}
