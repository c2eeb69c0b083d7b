// KV cache writes, causal grouped-query attention and the context shift over the paged F16 pool.
//
// As llama.cpp's non-flash path (build_attn_mha): scores = q . k (K from the F16 cache), scaled by
// 1/sqrt(headDim), causal mask, softmax with the max subtracted (ggml_soft_max_ext), then the weighted
// sum of V. Query head h reads KV head floor(h / (nHeads / nKvHeads)). Like ggml's CPU mul_mat with an F16
// operand (vec_dot_type F16), q is rounded to F16 before its dot with K and the probabilities are rounded
// to F16 before their dot with V: cross-validation against llama.cpp showed these roundings move the
// next-token distribution by ~1e-2 in total variation on synthetic models, so the oracle keeps them.
// Sums are float64, rounded to f32 once at the output. Positions are read through the block tables in
// position order, so the result does not depend on which blocks hold them.

import { f16ToF32Table, f32ToF16Bits } from '../../formats/f16.js';
import type { KvBatch, RopeStyle } from '../backend.js';
import type { RefKvPool } from './kv-pool.js';
import { ropeRef } from './rope.js';

/** Store k and v (nTokens x kvDim each) as F16 at (seqs[t], positions[t]) of `layer`. */
export function kvWriteRef(pool: RefKvPool, layer: number, k: Float32Array, v: Float32Array, batch: KvBatch): void {
  const keys = pool.keys[layer];
  const values = pool.values[layer];
  const kvDim = pool.kvDim;
  for (let t = 0; t < batch.nTokens; t++) {
    const base = pool.at(batch.seqs[t], batch.positions[t]);
    for (let i = 0; i < kvDim; i++) {
      keys[base + i] = f32ToF16Bits(k[t * kvDim + i]);
      values[base + i] = f32ToF16Bits(v[t * kvDim + i]);
    }
  }
}

/** Scratch for one head's F16-rounded query (grown on demand). */
let qF16 = new Float64Array(0);

/**
 * out[t, h*headDim + d] for entry t, attending to positions 0..positions[t] of its sequence.
 * `scores` (>= positions[t] + 1 for every t) and `acc` (>= headDim) are float64 scratch.
 */
export function attentionRef(
  out: Float32Array,
  q: Float32Array,
  pool: RefKvPool,
  layer: number,
  batch: KvBatch,
  nHeads: number,
  nKvHeads: number,
  scores: Float64Array,
  acc: Float64Array,
): void {
  const f16 = f16ToF32Table();
  const keys = pool.keys[layer];
  const values = pool.values[layer];
  const headDim = pool.headDim;
  if (qF16.length < headDim) qF16 = new Float64Array(headDim);
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  for (let t = 0; t < batch.nTokens; t++) {
    const seq = batch.seqs[t];
    const nPos = batch.positions[t] + 1;
    for (let h = 0; h < nHeads; h++) {
      const qBase = (t * nHeads + h) * headDim;
      const kvOffset = Math.floor(h / group) * headDim;
      // q rounded to F16, as ggml converts it for the dot with F16 keys
      for (let d = 0; d < headDim; d++) qF16[d] = f16[f32ToF16Bits(q[qBase + d])];
      // scores[p] = q . k[p] / sqrt(headDim)
      let max = -Infinity;
      for (let p = 0; p < nPos; p++) {
        const kBase = pool.at(seq, p) + kvOffset;
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
        const vBase = pool.at(seq, p) + kvOffset;
        for (let d = 0; d < headDim; d++) acc[d] += w * f16[values[vBase + d]];
      }
      for (let d = 0; d < headDim; d++) out[qBase + d] = acc[d];
    }
  }
}

/** Block `dst` of every layer becomes a copy of block `src`. */
export function copyBlockRef(pool: RefKvPool, src: number, dst: number): void {
  const n = pool.blockSize * pool.kvDim;
  const [from, to] = [pool.blockAt(src), pool.blockAt(dst)];
  for (let l = 0; l < pool.nLayers; l++) {
    pool.keys[l].copyWithin(to, from, from + n);
    pool.values[l].copyWithin(to, from, from + n);
  }
}

/**
 * Context shift (backend.ts shiftKeys): positions [from, to) of slot `seq` move by `delta`, keys re-rotated by rope at
 * position `delta` (llama.cpp's K shift, llama-kv-cache.cpp build_rope_shift: F16 keys, rope in f32, F16 result).
 */
export function shiftKeysRef(pool: RefKvPool, seq: number, from: number, to: number, delta: number, theta: number, style: RopeStyle): void {
  const { kvDim, headDim } = pool;
  const nKvHeads = kvDim / headDim;
  const f16 = f16ToF32Table();
  const row = new Float32Array(kvDim);
  const cos = new Float64Array(headDim / 2);
  const sin = new Float64Array(headDim / 2);
  const deltaPos = [delta];
  // moving down: ascending order never overwrites a position still to be read (moving up: descending)
  const n = to - from;
  for (let l = 0; l < pool.nLayers; l++) {
    const keys = pool.keys[l];
    const values = pool.values[l];
    for (let j = 0; j < n; j++) {
      const p = delta <= 0 ? from + j : to - 1 - j;
      const src = pool.at(seq, p);
      const dst = pool.at(seq, p + delta);
      for (let i = 0; i < kvDim; i++) row[i] = f16[keys[src + i]];
      ropeRef(row, 1, nKvHeads, headDim, deltaPos, theta, style, cos, sin);
      for (let i = 0; i < kvDim; i++) {
        keys[dst + i] = f32ToF16Bits(row[i]);
        values[dst + i] = values[src + i];
      }
    }
  }
}
