// The forward pass of a ternary transformer, top to bottom in one function; kernels come from the backend.
// Layer math per FORMATS.md "The BitNet b1.58 layer" (bitnet.cpp fork build_bitnet_158, llama.cpp build_bitnet).

import { BitNetError } from '../errors.js';
import type { KernelBackend, KvPool, StepBatch, Tensor } from '../kernels/backend.js';
import type { ModelConfig } from './config.js';
import type { ModelWeights } from './weights.js';

/** Activation tensors for up to `maxBatch` entries at once, allocated once in backend memory. */
export interface ForwardState {
  readonly maxBatch: number;
  /** Rows the logits tensor holds: the most entries one step may want logits of. */
  readonly maxLogitRows: number;
  readonly x: Tensor; // residual stream  [maxBatch, dim]
  readonly xb: Tensor; // normed input     [maxBatch, dim]
  readonly q: Tensor; // queries          [maxBatch, dim]
  readonly k: Tensor; // keys             [maxBatch, kvDim]
  readonly v: Tensor; // values           [maxBatch, kvDim]
  readonly att: Tensor; // attention out   [maxBatch, dim]
  readonly proj: Tensor; // projection out [maxBatch, dim]
  readonly hb: Tensor; // ffn gate         [maxBatch, ffnDim]
  readonly hb2: Tensor; // ffn up          [maxBatch, ffnDim]
  readonly logits: Tensor; // [maxLogitRows, vocab]
  /** The paged K/V of every sequence; the caller sets its block tables before each step. */
  readonly pool: KvPool;
}

/** Floats `createForwardState` allocates (for the backend's memory plan). */
export function forwardStateFloats(c: ModelConfig, maxBatch: number, maxLogitRows: number): number {
  return maxBatch * (5 * c.dim + 2 * c.kvDim + 2 * c.ffnDim) + maxLogitRows * c.vocabSize;
}

/** KV bytes of `positions` positions (F16 K and V for every layer). */
export function kvCacheBytes(c: ModelConfig, positions: number): number {
  return 2 * 2 * c.nLayers * positions * c.kvDim;
}

export function createForwardState(backend: KernelBackend, c: ModelConfig, maxBatch: number, maxLogitRows: number, pool: KvPool): ForwardState {
  return {
    maxBatch,
    maxLogitRows,
    x: backend.alloc(maxBatch * c.dim),
    xb: backend.alloc(maxBatch * c.dim),
    q: backend.alloc(maxBatch * c.dim),
    k: backend.alloc(maxBatch * c.kvDim),
    v: backend.alloc(maxBatch * c.kvDim),
    att: backend.alloc(maxBatch * c.dim),
    proj: backend.alloc(maxBatch * c.dim),
    hb: backend.alloc(maxBatch * c.ffnDim),
    hb2: backend.alloc(maxBatch * c.ffnDim),
    logits: backend.alloc(maxLogitRows * c.vocabSize),
    pool,
  };
}

/**
 * What a forward call leaves for the caller: the logits of the batch's logitRows, nothing (a prompt chunk before the
 * last), or the hidden states: the final-norm output rmsnorm(x) * output_norm of every entry, the rows the output
 * projection would read (embeddings).
 */
export type ForwardOutput = 'logits' | 'none' | 'hidden';

/** A StepBatch of one sequence (slot `seq`): `tokens` at positions startPos.., logits of the last entry or none. */
export function singleSequenceBatch(tokens: readonly number[], startPos: number, wantLogits: boolean, seq = 0): StepBatch {
  const n = tokens.length;
  const positions = new Int32Array(n);
  for (let t = 0; t < n; t++) positions[t] = startPos + t;
  return { nTokens: n, tokens: Int32Array.from(tokens), positions, seqs: new Int32Array(n).fill(seq), logitRows: wantLogits ? Int32Array.of(n - 1) : new Int32Array(0) };
}

/**
 * Record one step of `batch` (at most maxBatch entries, each at its (sequence, position)) through the model, storing
 * every entry's K/V in the pool through the block tables the caller set. With output 'logits' returns the logits
 * tensor: row i holds entry logitRows[i]'s logits. With 'hidden' returns xb, row t holding entry t's final-norm output
 * [n, dim]. The caller brackets the call with be.beginStep() / be.endStep() and reads the result after endStep
 * (docs/next-shape.md section 2).
 */
export function forward(be: KernelBackend, c: ModelConfig, w: ModelWeights, s: ForwardState, batch: StepBatch, output: ForwardOutput = 'logits'): Tensor {
  const n = batch.nTokens;
  const { dim, ffnDim, nHeads, nKvHeads, headDim, rmsEps: eps } = c;
  const rows = batch.logitRows;
  if (!Number.isInteger(n) || n < 1 || n > s.maxBatch) throw new BitNetError('BAD_ARGUMENT', `forward: batch of ${n} entries, expected 1..${s.maxBatch}`);
  if (batch.tokens.length < n || batch.positions.length < n || batch.seqs.length < n) throw new BitNetError('BAD_ARGUMENT', `forward: the batch's arrays hold fewer than ${n} entries`);
  for (let t = 0; t < n; t++) {
    const id = batch.tokens[t];
    if (id < 0 || id >= c.vocabSize) throw new BitNetError('BAD_ARGUMENT', `token id ${id} out of range [0, ${c.vocabSize})`, { details: { token: id } });
  }
  if (output === 'logits') {
    if (rows.length < 1 || rows.length > s.maxLogitRows) throw new BitNetError('BAD_ARGUMENT', `forward: ${rows.length} logit rows, expected 1..${s.maxLogitRows}`);
    for (const r of rows) if (r < 0 || r >= n) throw new BitNetError('BAD_ARGUMENT', `forward: logit row ${r} is not an entry of the batch (0..${n - 1})`);
  }

  // x = token embeddings                                           [n, dim]
  be.embed(s.x, w.tokenEmbedding, batch.tokens.subarray(0, n));

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
    // rotate q and k by each entry's position
    be.rope(s.q, n, nHeads, headDim, batch.positions, c.ropeTheta, c.ropeStyle);
    be.rope(s.k, n, nKvHeads, headDim, batch.positions, c.ropeTheta, c.ropeStyle);
    // store k, v at (seq, pos) through the block tables; att = softmax(q k^T / sqrt(headDim)) v over each entry's own
    // sequence, positions 0..pos
    be.kvWrite(s.pool, l, s.k, s.v, batch);
    be.attention(s.att, s.q, s.pool, l, batch, nHeads, nKvHeads);
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

  if (output === 'none') return s.logits;
  // xb = rmsnorm(x) * output_norm of every entry, without the projection (embeddings)  [n, dim]
  if (output === 'hidden') {
    be.rmsnorm(s.xb, s.x, w.outputNorm, n, dim, eps);
    return s.xb;
  }
  // logits = (rmsnorm(x[logitRows]) * output_norm) @ output^T                          [nOut, vocab]
  const nOut = rows.length;
  let identity = nOut === n;
  for (let i = 0; identity && i < nOut; i++) identity = rows[i] === i;
  if (!identity) be.gatherRows(s.xb, s.x, rows, dim); // x's rows are already in order when every entry wants its logits
  be.rmsnorm(s.xb, identity ? s.x : s.xb, w.outputNorm, nOut, dim, eps);
  be.matmul(s.logits, w.output, s.xb, nOut);
  return s.logits;
}
