// KV cache write: k and v (nTokens x kvDim) rounded to F16 (nearest even) into one layer's K and V planes, two halves
// per u32, position-major (element pos kvDim + i). One thread per u32 word touched; a word half outside the written
// range keeps its old value. P.a = first element (startPos kvDim), P.b = element count, P.c = first word, P.d = words.
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> kc: array<u32>;
@group(0) @binding(4) var<storage, read_write> vc: array<u32>;

fn merged(old: u32, src_is_k: bool, word: u32) -> u32 {
  var r = old;
  for (var h = 0u; h < 2u; h = h + 1u) {
    let e = 2u * word + h;
    if (e >= P.a && e < P.a + P.b) {
      let val = select(v[e - P.a], k[e - P.a], src_is_k);
      r = (r & ~(0xffffu << (16u * h))) | (f16_bits(val) << (16u * h));
    }
  }
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * 64u;
  if (j >= P.d) { return; }
  let word = P.c + j;
  kc[word] = merged(kc[word], true, word);
  vc[word] = merged(vc[word], false, word);
}
