// KV write into the paged pool: entry t's k and v (kvDim f32 each) rounded to F16 (nearest even) at block
// tables[seq * maxBlocks + pos / blockSize], slot pos % blockSize. Each position's values start on a u32 word
// (rowWords = ceil(kvDim / 2) words, two halves per word, the odd tail half 0), so no two entries share a word.
// One thread per (entry, word). P.a = nTokens, P.b = kvDim, P.c = rowWords, P.d = blockSize, P.e = maxBlocks.
// entries[2t] = sequence slot, entries[2t + 1] = position.
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> kc: array<u32>;
@group(0) @binding(4) var<storage, read_write> vc: array<u32>;
@group(0) @binding(5) var<storage, read> tables: array<i32>;
@group(0) @binding(6) var<storage, read> entries: array<i32>;

fn packed(src_is_k: bool, at: u32, i: u32) -> u32 {
  var r = f16_bits(select(v[at + i], k[at + i], src_is_k));
  if (i + 1u < P.b) {
    r = r | (f16_bits(select(v[at + i + 1u], k[at + i + 1u], src_is_k)) << 16u);
  }
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * 64u;
  if (j >= P.a * P.c) { return; }
  let t = j / P.c;
  let w = j % P.c;
  let seq = u32(entries[2u * t]);
  let pos = u32(entries[2u * t + 1u]);
  let blk = u32(tables[seq * P.e + pos / P.d]);
  let word = (blk * P.d + pos % P.d) * P.c + w;
  kc[word] = packed(true, t * P.b, 2u * w);
  vc[word] = packed(false, t * P.b, 2u * w);
}
