// The forward pass of a ternary transformer, top to bottom in one function; kernels come from the backend.
// Layer math per FORMATS.md "The BitNet b1.58 layer" (bitnet.cpp fork build_bitnet_158, llama.cpp build_bitnet).

import { BitNetError } from '../errors.js';
import type { KernelBackend, KvCache, Tensor } from '../kernels/backend.js';
import type { ModelConfig } from './config.js';
import type { ModelWeights } from './weights.js';

/** Activation tensors for up to `maxBatch` tokens at once, allocated once in backend memory. */
export interface ForwardState {
  readonly maxBatch: number;
  /** When true, `logits` holds maxBatch rows and forward fills one per token. */
  readonly allLogits: boolean;
  readonly x: Tensor; // residual stream  [maxBatch, dim]
  readonly xb: Tensor; // normed input     [maxBatch, dim]
  readonly q: Tensor; // queries          [maxBatch, dim]
  readonly k: Tensor; // keys             [maxBatch, kvDim]
  readonly v: Tensor; // values           [maxBatch, kvDim]
  readonly att: Tensor; // attention out   [maxBatch, dim]
  readonly proj: Tensor; // projection out [maxBatch, dim]
  readonly hb: Tensor; // ffn gate         [maxBatch, ffnDim]
  readonly hb2: Tensor; // ffn up          [maxBatch, ffnDim]
  readonly logits: Tensor; // [allLogits ? maxBatch : 1, vocab]
  readonly positions: Int32Array; // [maxBatch], host memory
  readonly lastRow: Int32Array; // [1], host memory: the row whose logits a prompt batch wants
  readonly cache: KvCache;
}

/** Floats `createForwardState` allocates (for the backend's memory plan). */
export function forwardStateFloats(c: ModelConfig, maxBatch: number, allLogits: boolean): number {
  return maxBatch * (5 * c.dim + 2 * c.kvDim + 2 * c.ffnDim) + (allLogits ? maxBatch : 1) * c.vocabSize;
}

/** KV cache bytes (F16 K and V for every layer). */
export function kvCacheBytes(c: ModelConfig, contextLength: number): number {
  return 2 * 2 * c.nLayers * contextLength * c.kvDim;
}

export function createForwardState(backend: KernelBackend, c: ModelConfig, maxBatch: number, contextLength: number, allLogits: boolean): ForwardState {
  return {
    maxBatch,
    allLogits,
    x: backend.alloc(maxBatch * c.dim),
    xb: backend.alloc(maxBatch * c.dim),
    q: backend.alloc(maxBatch * c.dim),
    k: backend.alloc(maxBatch * c.kvDim),
    v: backend.alloc(maxBatch * c.kvDim),
    att: backend.alloc(maxBatch * c.dim),
    proj: backend.alloc(maxBatch * c.dim),
    hb: backend.alloc(maxBatch * c.ffnDim),
    hb2: backend.alloc(maxBatch * c.ffnDim),
    logits: backend.alloc((allLogits ? maxBatch : 1) * c.vocabSize),
    positions: new Int32Array(maxBatch),
    lastRow: new Int32Array(1),
    cache: backend.createKvCache(c.nLayers, contextLength, c.kvDim, c.headDim),
  };
}

/**
 * What a forward call leaves for the caller: the logits (see `forward`), nothing (a prompt batch before the last), or
 * the hidden states: the final-norm output rmsnorm(x) * output_norm of every token, the rows the output projection
 * would read (embeddings).
 */
export type ForwardOutput = 'logits' | 'none' | 'hidden';

/**
 * Record `tokens` (at most maxBatch) at positions startPos.. through the model, appending their K/V to the cache.
 * With output 'logits' returns the logits tensor: row 0 holds the last token's logits, or row t token t's when the
 * state has allLogits. With 'hidden' returns xb, row t holding token t's final-norm output [n, dim]. The caller
 * brackets the call with be.beginStep() / be.endStep() and reads the result after endStep (docs/next-shape.md section 2).
 */
export function forward(
  be: KernelBackend,
  c: ModelConfig,
  w: ModelWeights,
  s: ForwardState,
  tokens: readonly number[],
  startPos: number,
  output: ForwardOutput = 'logits',
): Tensor {
  const n = tokens.length;
  const { dim, ffnDim, nHeads, nKvHeads, headDim, rmsEps: eps } = c;
  if (n < 1 || n > s.maxBatch) throw new BitNetError('BAD_ARGUMENT', `forward: batch of ${n} tokens, expected 1..${s.maxBatch}`);
  if (startPos < 0 || startPos + n > s.cache.contextLength) {
    throw new BitNetError('CONTEXT_OVERFLOW', `positions ${startPos}..${startPos + n - 1} exceed the context length ${s.cache.contextLength}`, {
      details: { startPos, nTokens: n, contextLength: s.cache.contextLength },
    });
  }
  for (let t = 0; t < n; t++) {
    const id = tokens[t];
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new BitNetError('BAD_ARGUMENT', `token id ${id} out of range [0, ${c.vocabSize})`, { details: { token: id } });
    s.positions[t] = startPos + t;
  }

  // x = token embeddings                                           [n, dim]
  be.embed(s.x, w.tokenEmbedding, tokens);

  for (let l = 0; l < c.nLayers; l++) {
    const L = w.layers[l];
    // ---- attention block ----
    // xb = rmsnorm(x) * attn_norm
    be.rmsnorm(s.xb, s.x, L.attnNorm, n, dim, eps);
    // q, k, v = bitlinear(xb)                                      [n, dim], [n, kvDim] x2
    be.matmulMany(s.xb, n, [
      { out: s.q, w: L.wq, scale: L.scales.q },
      { out: s.k, w: L.wk, scale: L.scales.k },
      { out: s.v, w: L.wv, scale: L.scales.v },
    ]);
    // rotate q and k by position
    be.rope(s.q, n, nHeads, headDim, s.positions, c.ropeTheta, c.ropeStyle);
    be.rope(s.k, n, nKvHeads, headDim, s.positions, c.ropeTheta, c.ropeStyle);
    // append k, v to the cache; att = softmax(q k^T / sqrt(headDim)) v over positions 0..pos
    be.kvWrite(s.cache, l, s.k, s.v, startPos, n);
    be.attention(s.att, s.q, s.cache, l, startPos, n, nHeads, nKvHeads, headDim);
    // att = rmsnorm(att) * attn_sub_norm (BitNet only)
    if (L.attnSubNorm !== undefined) be.rmsnorm(s.att, s.att, L.attnSubNorm, n, dim, eps);
    // x += bitlinear(att, Wo)
    be.matmul(s.proj, L.wo, s.att, n, L.scales.o);
    be.addInPlace(s.x, s.proj, n * dim);

    // ---- feed-forward block ----
    // xb = rmsnorm(x) * ffn_norm
    be.rmsnorm(s.xb, s.x, L.ffnNorm, n, dim, eps);
    // hb = act(bitlinear(xb, Wgate)) * bitlinear(xb, Wup)           [n, ffnDim]
    be.matmulMany(s.xb, n, [
      { out: s.hb, w: L.wGate, scale: L.scales.gate },
      { out: s.hb2, w: L.wUp, scale: L.scales.up },
    ]);
    if (c.ffnActivation === 'relu2') be.reluSqrMul(s.hb, s.hb2, n * ffnDim);
    else be.siluMul(s.hb, s.hb2, n * ffnDim);
    // hb = rmsnorm(hb) * ffn_sub_norm (BitNet only)
    if (L.ffnSubNorm !== undefined) be.rmsnorm(s.hb, s.hb, L.ffnSubNorm, n, ffnDim, eps);
    // x += bitlinear(hb, Wdown)
    be.matmul(s.proj, L.wDown, s.hb, n, L.scales.down);
    be.addInPlace(s.x, s.proj, n * dim);
  }

  // logits = (rmsnorm(x) * output_norm) @ output^T: every token, or only the last, or none (a prompt batch before the last)
  if (output === 'none') return s.logits;
  // xb = rmsnorm(x) * output_norm of every token, without the projection (embeddings)  [n, dim]
  if (output === 'hidden') {
    be.rmsnorm(s.xb, s.x, w.outputNorm, n, dim, eps);
    return s.xb;
  }
  if (s.allLogits) {
    be.rmsnorm(s.xb, s.x, w.outputNorm, n, dim, eps);
    be.matmul(s.logits, w.output, s.xb, n);
    return s.logits;
  }
  // xb = x[n - 1] (a batch wants only its last token's logits; a single token is row 0 already)
  if (n > 1) {
    s.lastRow[0] = n - 1;
    be.gatherRows(s.xb, s.x, s.lastRow, dim);
  }
  be.rmsnorm(s.xb, n > 1 ? s.xb : s.x, w.outputNorm, 1, dim, eps);
  be.matmul(s.logits, w.output, s.xb, 1);
  return s.logits;
}
