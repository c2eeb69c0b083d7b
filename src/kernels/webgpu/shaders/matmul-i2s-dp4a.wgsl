// I2_S matmul on per-token int8 activations with packed 4 x int8 dot products (dot4I8Packed: WGSL's
// packed_4x8_integer_dot_product, dp4a-class instructions where the GPU has them): decode (one token) and batched /
// prefill tokens alike. Used where the adapter has the language feature (index.ts); matmul-ternary.wgsl otherwise.
//
// I2_S layout (formats/i2s.ts; bitnet.cpp's ggml-bitnet-mad.cpp): blocks of 128 weights in 32 bytes, byte p holding
// weights p, 32+p, 64+p, 96+p at shifts 6, 4, 2, 0 (code 0, 1, 2 = -1, 0, +1; 3 reads as +2 as everywhere here).
// A vec4<u32> is 16 bytes of one block (half v & 1 of block v / 2): (word >> shift) & 0x03030303 gives, per byte, the
// code of 16 consecutive columns, whose int8 activations are one vec4<u32> of xq (quantize.wgsl packs columns
// little-endian): columns 128 b + 32 f + 16 (v & 1) .. + 15 for the field f of shift 6 - 2 f, vec4 8 b + 2 f + (v & 1).
// dot4I8Packed(codes, x) sums code * x over four bytes (codes 0..3 as non-negative int8); the token's sum of x
// (qsum, from quantize.wgsl) is subtracted once per row: sum (code - 1) x. Integer sums are exact in any order
// (|sum| <= 3 * 128 * cols), so the result is the portable kernel's integer and the same output rule:
// y = div_rn(f32(sum) * tensor scale, s), times the out scale.
//
// Work: a workgroup takes ROWS rows x TT tokens; TPR threads per row stride over its vec4s (consecutive threads read
// consecutive 16-byte pieces); each thread decodes a piece's codes once for the workgroup's tokens. Per (row, token)
// the threads' sums meet in workgroup atomics (exact). P.a = rows of this part, P.b = cols, P.e = rowOffset,
// P.f = out row stride, P.g = nTokens; P.x0 = tensor scale, P.x1 = out scale. Workgroups: row groups x token tiles.
// A second weight of the same columns and activations (a matmulMany's q and k, gate and up) may share the dispatch:
// P.i = its rows (0: none), P.j / P.k = the bits of its tensor scale / out scale; its row groups follow the first's,
// into out2 (rows P.i, no residual). Each output is computed as its own dispatch would, so the same bits.
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> xs: array<f32>;
@group(0) @binding(4) var<storage, read> qsum: array<i32>;
// out and res (the fused residual add): matmul-out.wgsl
const OUT_BINDING = 5u;
@group(0) @binding(7) var<storage, read> w2: array<vec4<u32>>;
@group(0) @binding(8) var<storage, read_write> out2: array<f32>;

const ROWS = 8u;
const TPR = 16u;
const TT = 8u;

var<workgroup> sums: array<atomic<i32>, 64>;

// 16 bytes of the first or the second weight.
fn w_at(second: bool, i: u32) -> vec4<u32> {
  if (second) { return w2[i]; }
  return w[i];
}

// sum over 16 bytes of code * x (codes non-negative int8, x int8).
fn dot16(c: vec4<u32>, x: vec4<u32>) -> i32 {
  return dot4I8Packed(c.x, x.x) + dot4I8Packed(c.y, x.y) + dot4I8Packed(c.z, x.z) + dot4I8Packed(c.w, x.w);
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let cols = P.b;
  let firstGroups = (P.a + ROWS - 1u) / ROWS;
  let rowGroups = firstGroups + (P.i + ROWS - 1u) / ROWS;
  let g = flat_wg(wid, nwg);
  let second = g % rowGroups >= firstGroups;
  let rowGroup = select(g % rowGroups, g % rowGroups - firstGroups, second);
  let rows = select(P.a, P.i, second);
  let t0 = (g / rowGroups) * TT;
  let nt = min(TT, P.g - t0);
  let r = rowGroup * ROWS + lid / TPR;
  let lane = lid % TPR;
  let vecsPerRow = cols / 64u;
  let xVecsPerToken = cols / 16u;
  if (lid < ROWS * TT) { atomicStore(&sums[lid], 0); }
  workgroupBarrier();
  var acc: array<i32, TT>;
  let mask = vec4<u32>(0x03030303u);
  let vEnd = select(0u, vecsPerRow, r < rows);
  for (var v = lane; v < vEnd; v = v + TPR) {
    let wv = w_at(second, r * vecsPerRow + v);
    let c0 = (wv >> vec4<u32>(6u)) & mask;
    let c1 = (wv >> vec4<u32>(4u)) & mask;
    let c2 = (wv >> vec4<u32>(2u)) & mask;
    let c3 = wv & mask;
    let xb = (v >> 1u) * 8u + (v & 1u);
    for (var j = 0u; j < TT; j = j + 1u) {
      if (j < nt) {
        let xo = (t0 + j) * xVecsPerToken + xb;
        acc[j] = acc[j] + dot16(c0, xq[xo]) + dot16(c1, xq[xo + 2u]) + dot16(c2, xq[xo + 4u]) + dot16(c3, xq[xo + 6u]);
      }
    }
  }
  let slot = (lid / TPR) * TT;
  for (var j = 0u; j < TT; j = j + 1u) {
    if (j < nt) { atomicAdd(&sums[slot + j], acc[j]); }
  }
  workgroupBarrier();
  if (lid < ROWS * TT) {
    let row = rowGroup * ROWS + lid / TT;
    let j = lid % TT;
    if (row < rows && j < nt) {
      let t = t0 + j;
      let scale = select(P.x1, bitcast<f32>(P.k), second);
      let y = div_rn(f32(atomicLoad(&sums[lid]) - qsum[t]) * select(P.x0, bitcast<f32>(P.j), second), xs[t]);
      let v = select(y * scale, y, scale == 1.0);
      if (second) {
        out2[t * P.i + row] = v;
      } else {
        store_out(t * P.f + P.e + row, v);
      }
    }
  }
}
