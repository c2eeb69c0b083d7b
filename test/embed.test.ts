// model.embed against a hand computation: the residual stream of each token read after a one-token forward pass
// (evaluateLogits' structure), the final rmsnorm * output_norm done here in plain JS, then pooled here, on both CPU backends.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BitNet, PREFILL_BATCH } from '../src/engine/bitnet.js';
import { selectBackend } from '../src/engine/backend-select.js';
import { isBitNetError } from '../src/errors.js';
import { openGguf } from '../src/gguf/reader.js';
import type { KernelBackend } from '../src/kernels/backend.js';
import { modelConfigFromGguf } from '../src/model/config.js';
import { createForwardState, forward, forwardStateFloats, kvCacheBytes, singleSequenceBatch } from '../src/model/forward.js';
import { loadWeights, weightMemoryPlan } from '../src/model/weights.js';
import type { Pooling } from '../src/engine/types.js';
import { tinyModel } from './helpers/tiny-models.js';

type CpuBackend = 'reference' | 'wasm';
const BACKENDS: readonly CpuBackend[] = ['reference', 'wasm'];
const POOLINGS: readonly Pooling[] = ['mean', 'last', 'cls'];
const TEXT = 'The quick brown fox jumps over the lazy dog.';

/** Hidden states [tokens.length][dim], one token per forward pass: x read back, rmsnorm(x) * output_norm computed here. */
async function handHidden(path: string, backendName: CpuBackend, tokens: readonly number[]): Promise<Float64Array[]> {
  const { source, header } = await openGguf(path);
  const c = modelConfigFromGguf(header);
  const be: KernelBackend = (await selectBackend(backendName, 1, true)).backend;
  try {
    const plan = weightMemoryPlan(c, header);
    const nBlocks = Math.ceil(tokens.length / 16);
    be.reserve({ weightBytes: plan.weightBytes, activationFloats: plan.normFloats + forwardStateFloats(c, 1, 1), kvBytes: kvCacheBytes(c, nBlocks * 16) });
    const w = await loadWeights(be, source, header, c);
    const s = createForwardState(be, c, 1, 1, be.createKvPool(c.nLayers, c.kvDim, c.headDim, 16, nBlocks));
    be.setBlockTables(s.pool, Int32Array.from({ length: nBlocks }, (_, i) => i), 1, nBlocks);
    const g = await be.read(w.outputNorm, 0, c.dim);
    const rows: Float64Array[] = [];
    for (let i = 0; i < tokens.length; i++) {
      be.beginStep();
      forward(be, c, w, s, singleSequenceBatch([tokens[i]], i, false), 'none');
      await be.endStep();
      const x = await be.read(s.x, 0, c.dim);
      let ss = 0;
      for (const v of x) ss += v * v;
      const scale = 1 / Math.sqrt(ss / c.dim + c.rmsEps);
      rows.push(Float64Array.from(x, (v, j) => v * scale * g[j]));
    }
    return rows;
  } finally {
    await be.dispose();
    await source.close?.();
  }
}

function pool(rows: readonly Float64Array[], pooling: Pooling, normalize: boolean): Float64Array {
  const dim = rows[0].length;
  let v: Float64Array;
  if (pooling === 'cls') v = Float64Array.from(rows[0]);
  else if (pooling === 'last') v = Float64Array.from(rows[rows.length - 1]);
  else {
    v = new Float64Array(dim);
    for (const r of rows) for (let j = 0; j < dim; j++) v[j] += r[j] / rows.length;
  }
  if (normalize) {
    const n = Math.hypot(...v);
    for (let j = 0; j < dim; j++) v[j] /= n;
  }
  return v;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

let path: string;
const models = new Map<CpuBackend, BitNet>();
beforeAll(async () => {
  path = await tinyModel('bitnet-b1.58', 'i2_s');
  for (const b of BACKENDS) models.set(b, await BitNet.load(path, { backend: b, threads: 1 }));
});
afterAll(async () => {
  for (const m of models.values()) await m.dispose();
});
function model(b: CpuBackend): BitNet {
  const m = models.get(b);
  if (m === undefined) throw new Error(`no ${b} model`);
  return m;
}

describe('embed equals the hand computation', () => {
  for (const b of BACKENDS) {
    it(`${b}: every pooling, raw and normalized`, async () => {
      const m = model(b);
      const tokens = m.tokenize(TEXT);
      const rows = await handHidden(path, b, tokens);
      for (const pooling of POOLINGS) {
        for (const normalize of [false, true]) {
          const { embeddings, usage } = await m.embed(TEXT, { pooling, normalize });
          expect(usage).toEqual({ promptTokens: tokens.length, totalTokens: tokens.length });
          expect(embeddings).toHaveLength(1);
          expect(embeddings[0]).toHaveLength(m.info.embeddingLength);
          const want = pool(rows, pooling, normalize);
          const scale = Math.max(...want.map(Math.abs));
          expect(maxAbsDiff(embeddings[0], want) / scale, `${b} ${pooling} normalize=${normalize}`).toBeLessThan(1e-6);
        }
      }
    });
  }

  it(`an input longer than one prefill batch (${PREFILL_BATCH} tokens) is evaluated across batches`, async () => {
    const m = model('reference');
    const tokens = Array.from({ length: PREFILL_BATCH + 5 }, (_, i) => (i * 7919 + 11) % m.info.vocabSize);
    const rows = await handHidden(path, 'reference', tokens);
    for (const pooling of POOLINGS) {
      const [e] = (await m.embed([tokens], { pooling, normalize: false })).embeddings;
      const want = pool(rows, pooling, false);
      expect(maxAbsDiff(e, want) / Math.max(...want.map(Math.abs)), pooling).toBeLessThan(1e-6);
    }
  });
});

describe('embed', () => {
  it('reference and wasm agree within 1e-6', async () => {
    for (const pooling of POOLINGS) {
      const [r] = (await model('reference').embed(TEXT, { pooling })).embeddings;
      const [w] = (await model('wasm').embed(TEXT, { pooling })).embeddings;
      expect(maxAbsDiff(r, w), pooling).toBeLessThan(1e-6);
    }
  });

  it('defaults to mean pooling, L2-normalized: unit length', async () => {
    const m = model('reference');
    const [d] = (await m.embed(TEXT)).embeddings;
    const [mean] = (await m.embed(TEXT, { pooling: 'mean', normalize: true })).embeddings;
    expect(d).toEqual(mean);
    for (const pooling of POOLINGS) {
      const [e] = (await m.embed(TEXT, { pooling })).embeddings;
      expect(Math.hypot(...e), pooling).toBeCloseTo(1, 6);
      const [raw] = (await m.embed(TEXT, { pooling, normalize: false })).embeddings;
      expect(Math.abs(Math.hypot(...raw) - 1), pooling).toBeGreaterThan(1e-3);
    }
  });

  it('a batch of inputs equals each input alone, in order; token-id inputs equal their text', async () => {
    const m = model('reference');
    const texts = ['Hello world', TEXT, 'a'];
    const batch = await m.embed(texts, { pooling: 'mean' });
    expect(batch.embeddings).toHaveLength(3);
    let total = 0;
    for (let i = 0; i < texts.length; i++) {
      const one = await m.embed(texts[i], { pooling: 'mean' });
      expect(batch.embeddings[i]).toEqual(one.embeddings[0]);
      total += one.usage.promptTokens;
    }
    expect(batch.usage).toEqual({ promptTokens: total, totalTokens: total });
    expect(batch.embeddings[0]).not.toEqual(batch.embeddings[1]);
    const ids = await m.embed(texts.map((t) => m.tokenize(t)));
    expect(ids.embeddings).toEqual(batch.embeddings);
  });

  it('leaves generation as it was (fresh cache before and after)', async () => {
    const m = model('reference');
    const before = await m.complete('Once upon', { maxTokens: 4 });
    await m.embed(['Once upon a time', 'x']);
    const after = await m.complete('Once upon', { maxTokens: 4 });
    expect(after.tokenIds).toEqual(before.tokenIds);
  });

  it('refuses empty, over-long, out-of-vocabulary and misnamed inputs with codes; honours an aborted signal', async () => {
    const m = model('reference');
    const code = (p: Promise<unknown>): Promise<string> => p.then(() => 'resolved', (e: unknown) => (isBitNetError(e) ? e.code : 'not a BitNetError'));
    expect(await code(m.embed([]))).toBe('BAD_ARGUMENT');
    expect(await code(m.embed(''))).toBe('BAD_ARGUMENT');
    expect(await code(m.embed(['ok', '']))).toBe('BAD_ARGUMENT');
    expect(await code(m.embed([[]]))).toBe('BAD_ARGUMENT');
    expect(await code(m.embed([[m.info.vocabSize]]))).toBe('BAD_ARGUMENT');
    expect(await code(m.embed([[1.5]]))).toBe('BAD_ARGUMENT');
    expect(await code(m.embed([new Array<number>(m.info.contextLength + 1).fill(1)]))).toBe('CONTEXT_OVERFLOW');
    expect(await code(m.embed([new Array<number>(m.info.contextLength).fill(1)]))).toBe('resolved');
    expect(await code(m.embed('x', { pooling: 'max' as Pooling }))).toBe('BAD_ARGUMENT');
    expect(await code(m.embed('x', { signal: AbortSignal.abort() }))).toBe('ABORTED');
    const ac = new AbortController();
    const p = m.embed([TEXT, TEXT, TEXT], { signal: ac.signal });
    ac.abort();
    expect(await code(p)).toBe('ABORTED');
    expect((await m.embed('still works')).embeddings).toHaveLength(1);
  });
});
