// KV cache writes and causal grouped-query attention over the F16 cache.
//
// As llama.cpp's non-flash path (build_attn_mha): scores = q . k (K from the F16 cache), scaled by
// 1/sqrt(headDim), causal mask, softmax with the max subtracted (ggml_soft_max_ext), then the weighted
// sum of V. Query head h reads KV head floor(h / (nHeads / nKvHeads)). Like ggml's CPU mul_mat with an F16
// operand (vec_dot_type F16), q is rounded to F16 before its dot with K and the probabilities are rounded
// to F16 before their dot with V: cross-validation against llama.cpp showed these roundings move the
// next-token distribution by ~1e-2 in total variation on synthetic models, so the oracle keeps them.
// Sums are float64, rounded to f32 once at the output.

import { f16ToF32Table, f32ToF16Bits } from '../../formats/f16.js';
import type { RefKvCache } from './kv-cache.js';

/** Store k and v (nTokens x kvDim each) as F16 at positions startPos.. of `layer`. */
export function kvWriteRef(cache: RefKvCache, layer: number, k: Float32Array, v: Float32Array, startPos: number, nTokens: number): void {
  const keys = cache.keys[layer];
  const values = cache.values[layer];
  const n = nTokens * cache.kvDim;
  const base = startPos * cache.kvDim;
  for (let i = 0; i < n; i++) {
    keys[base + i] = f32ToF16Bits(k[i]);
    values[base + i] = f32ToF16Bits(v[i]);
  }
}

/** Scratch for one head's F16-rounded query (grown on demand). */
let qF16 = new Float64Array(0);

/**
 * out[t, h*headDim + d] for tokens at positions startPos + t, attending to cache positions 0..startPos + t.
 * `scores` (>= startPos + nTokens) and `acc` (>= headDim) are float64 scratch.
 */
export function attentionRef(
  out: Float32Array,
  q: Float32Array,
  cache: RefKvCache,
  layer: number,
  startPos: number,
  nTokens: number,
  nHeads: number,
  nKvHeads: number,
  headDim: number,
  scores: Float64Array,
  acc: Float64Array,
): void {
  const f16 = f16ToF32Table();
  const keys = cache.keys[layer];
  const values = cache.values[layer];
  const kvDim = cache.kvDim;
  if (qF16.length < headDim) qF16 = new Float64Array(headDim);
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  for (let t = 0; t < nTokens; t++) {
    const nPos = startPos + t + 1;
    for (let h = 0; h < nHeads; h++) {
      const qBase = (t * nHeads + h) * headDim;
      const kvOffset = Math.floor(h / group) * headDim;
      // q rounded to F16, as ggml converts it for the dot with F16 keys
      for (let d = 0; d < headDim; d++) qF16[d] = f16[f32ToF16Bits(q[qBase + d])];
      // scores[p] = q . k[p] / sqrt(headDim)
      let max = -Infinity;
      for (let p = 0; p < nPos; p++) {
        const kBase = p * kvDim + kvOffset;
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += qF16[d] * f16[keys[kBase + d]];
        const s = dot * scale;
        scores[p] = s;
        if (s > max) max = s;
      }
      // softmax with the max subtracted
      let sum = 0;
      for (let p = 0; p < nPos; p++) {
        const e = Math.exp(scores[p] - max);
        scores[p] = e;
        sum += e;
      }
      // out = sum_p softmax[p] * v[p]
      acc.fill(0, 0, headDim);
      for (let p = 0; p < nPos; p++) {
        const w = f16[f32ToF16Bits(scores[p] / sum)];
        const vBase = p * kvDim + kvOffset;
        for (let d = 0; d < headDim; d++) acc[d] += w * f16[values[vBase + d]];
      }
      for (let d = 0; d < headDim; d++) out[qBase + d] = acc[d];
    }
  }
}
