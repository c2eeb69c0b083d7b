// End-to-end engine tests on synthetic tiny models with the reference backend: golden tokens,
// format equivalence, stops, cancellation, context limits, receipts, cache reuse.

import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import { verifyReceipt } from '../src/engine/receipt.js';
import { isBitNetError } from '../src/errors.js';
import { tinyModel } from './helpers/tiny-models.js';

const PROMPT = 'The quick brown fox';

async function greedyIds(path: string, backend: 'reference' | 'wasm', n = 12): Promise<number[]> {
  const model = await BitNet.load(path, { backend });
  try {
    const r = await model.complete(PROMPT, { maxTokens: n, sampling: { kind: 'greedy' }, ignoreEos: true });
    return [...r.tokenIds];
  } finally {
    await model.dispose();
  }
}

describe('golden greedy tokens (reference and wasm backends)', () => {
  // Pinned from this engine's own output; any change to the forward pass, kernels, formats or
  // tokenizer that alters them must be explained in the commit that updates them.
  const GOLDEN: Record<string, number[]> = {
    'bitnet-b1.58/i2_s': [91234, 53881, 53881, 98552, 98552, 98552, 90536, 90536, 90536, 90536, 90536, 90536],
    'bitnet/tq2_0': [101466, 35610, 20987, 89188, 60018, 44240, 44240, 44240, 44240, 71885, 100864, 100864],
    'llama/tq1_0': [46100, 1758, 1758, 1758, 63784, 63784, 63784, 63784, 63784, 63784, 63784, 63784],
  };

  for (const [arch, weights] of [
    ['bitnet-b1.58', 'i2_s'],
    ['bitnet', 'tq2_0'],
    ['llama', 'tq1_0'],
  ] as const) {
    for (const backend of ['reference', 'wasm'] as const) {
      it(`${arch} ${weights} on ${backend}`, async () => {
        const ids = await greedyIds(await tinyModel(arch, weights), backend);
        expect(ids.length).toBe(12);
        const golden = GOLDEN[`${arch}/${weights}`];
        if (golden === undefined) throw new Error(`no golden ids pinned for ${arch}/${weights}; this run produced ${JSON.stringify(ids)}`);
        expect(ids).toEqual(golden);
      });
    }
  }
});

describe('ternary formats are interchangeable', () => {
  it('i2_s, tq1_0 and tq2_0 files of the same weights give bit-identical logits under one activation quantization', async () => {
    const logits: Float32Array[] = [];
    for (const w of ['i2_s', 'tq1_0', 'tq2_0'] as const) {
      const model = await BitNet.load(await tinyModel('bitnet-b1.58', w), { backend: 'reference', activationQuant: 'per-token' });
      try {
        logits.push(await model.evaluateLogits(model.tokenize(PROMPT)));
      } finally {
        await model.dispose();
      }
    }
    expect(logits[0].length).toBeGreaterThan(0);
    expect(logits[0].every((x) => Number.isFinite(x))).toBe(true);
    for (const other of logits.slice(1)) {
      let firstDiff = -1;
      for (let i = 0; i < other.length && firstDiff < 0; i++) if (!Object.is(other[i], logits[0][i])) firstDiff = i;
      expect(firstDiff, firstDiff < 0 ? '' : `first difference at ${firstDiff}: ${logits[0][firstDiff]} vs ${other[firstDiff]}`).toBe(-1);
    }
  });

  it('tq1_0 and tq2_0 give bit-identical logits natively; i2_s (per-token activations) differs slightly', async () => {
    const logits: Float32Array[] = [];
    for (const w of ['tq1_0', 'tq2_0', 'i2_s'] as const) {
      const model = await BitNet.load(await tinyModel('bitnet-b1.58', w), { backend: 'reference' });
      try {
        logits.push(await model.evaluateLogits(model.tokenize(PROMPT)));
      } finally {
        await model.dispose();
      }
    }
    expect(logits[1].every((x, i) => Object.is(x, logits[0][i]))).toBe(true);
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < logits[0].length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(logits[0][i]));
      maxDiff = Math.max(maxDiff, Math.abs(logits[0][i] - logits[2][i]));
    }
    expect(maxDiff).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(0.05 * maxAbs);
  });

  it('f16 weights holding the same ternary values give close (not identical: no activation quantization) logits', async () => {
    const a = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
    const b = await BitNet.load(await tinyModel('bitnet-b1.58', 'f16'), { backend: 'reference' });
    try {
      const ids = a.tokenize(PROMPT);
      const la = await a.evaluateLogits(ids);
      const lb = await b.evaluateLogits(ids);
      let maxAbs = 0;
      let maxDiff = 0;
      for (let i = 0; i < la.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(la[i]));
        maxDiff = Math.max(maxDiff, Math.abs(la[i] - lb[i]));
      }
      expect(maxDiff).toBeGreaterThan(0);
      expect(maxDiff).toBeLessThan(0.1 * maxAbs);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });
});

describe('generation behaviour', () => {
  it('prefill in one batch equals token-by-token evaluation, and cache reuse changes nothing', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
    try {
      const ids = model.tokenize(PROMPT);
      const perPos = await model.evaluateLogits(ids);
      const first = await model.complete(ids, { maxTokens: 6, sampling: { kind: 'greedy' }, ignoreEos: true });
      const again = await model.complete(ids, { maxTokens: 6, sampling: { kind: 'greedy' }, ignoreEos: true }); // reuses the cached prefix
      expect(again.tokenIds).toEqual(first.tokenIds);
      const v = model.info.vocabSize;
      const last = perPos.subarray((ids.length - 1) * v, ids.length * v);
      let arg = 0;
      for (let i = 1; i < v; i++) if (last[i] > last[arg]) arg = i;
      expect(first.tokenIds[0]).toBe(arg);
    } finally {
      await model.dispose();
    }
  });

  it('a prompt of several prefill batches (logits from the last batch only; 150 tokens = 128 + 22) gives the token-by-token result', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'wasm', threads: 2 });
    try {
      const v = model.info.vocabSize;
      const ids = Array.from({ length: 150 }, (_, i) => 3 + ((i * 37) % (v - 3))); // more than one PREFILL_BATCH
      const perPos = await model.evaluateLogits(ids);
      const r = await model.complete(ids, { maxTokens: 1, sampling: { kind: 'greedy' }, ignoreEos: true });
      const last = perPos.subarray((ids.length - 1) * v, ids.length * v);
      let arg = 0;
      for (let i = 1; i < v; i++) if (last[i] > last[arg]) arg = i;
      expect(r.tokenIds[0]).toBe(arg);
    } finally {
      await model.dispose();
    }
  });

  it('seeded sampling is reproducible and maxTokens ends with length', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
    try {
      const opts = { maxTokens: 8, sampling: { kind: 'sample', temperature: 1.0, topK: 50 } as const, seed: 42, ignoreEos: true };
      const a = await model.complete(PROMPT, opts);
      const b = await model.complete(PROMPT, opts);
      expect(a.tokenIds).toEqual(b.tokenIds);
      expect(a.finishReason).toBe('length');
      expect(a.usage.completionTokens).toBe(8);
      expect(a.usage.totalTokens).toBe(a.usage.promptTokens + 8);
    } finally {
      await model.dispose();
    }
  });

  it('a stop string ends generation and is not returned', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
    try {
      const free = await model.complete(PROMPT, { maxTokens: 10, sampling: { kind: 'greedy' } });
      expect(free.text.length).toBeGreaterThan(2);
      const stop = free.text.slice(2, 4);
      const stopped = await model.complete(PROMPT, { maxTokens: 10, sampling: { kind: 'greedy' }, stop: [stop] });
      expect(stopped.finishReason).toBe('stop');
      expect(stopped.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
    } finally {
      await model.dispose();
    }
  });

  it('an AbortSignal cancels within one token', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
    try {
      const ac = new AbortController();
      let seen = 0;
      const run = async (): Promise<void> => {
        for await (const piece of model.generate(PROMPT, { maxTokens: 50, sampling: { kind: 'greedy' }, signal: ac.signal, ignoreEos: true })) {
          seen += piece.tokenIds.length;
          if (seen === 3) ac.abort();
        }
      };
      const err = await run().then(() => undefined, (e: unknown) => e);
      expect(isBitNetError(err, 'ABORTED')).toBe(true);
      expect(seen).toBe(3);
      // the model stays usable after a cancelled generation
      const r = await model.complete(PROMPT, { maxTokens: 2, sampling: { kind: 'greedy' } });
      expect(r.usage.completionTokens).toBeGreaterThan(0);
    } finally {
      await model.dispose();
    }
  });

  it('a prompt longer than the context is refused with the numbers', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference', contextLength: 16 });
    try {
      const err = await model.complete('word '.repeat(40), { maxTokens: 1 }).then(() => undefined, (e: unknown) => e);
      expect(isBitNetError(err, 'CONTEXT_OVERFLOW')).toBe(true);
      expect(String((err as Error).message)).toMatch(/16/);
    } finally {
      await model.dispose();
    }
  });

  it('with contextShift false, generation stops with length when the context fills up', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference', contextLength: 12 });
    try {
      const ids = model.tokenize(PROMPT);
      const r = await model.complete(ids, { maxTokens: 100, sampling: { kind: 'greedy' }, ignoreEos: true, contextShift: false });
      expect(r.finishReason).toBe('length');
      expect(r.usage.totalTokens).toBeLessThanOrEqual(12 + 1);
    } finally {
      await model.dispose();
    }
  });

  it('a disposed model refuses work', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
    await model.dispose();
    const err = await model.complete(PROMPT).then(() => undefined, (e: unknown) => e);
    expect(isBitNetError(err, 'DISPOSED')).toBe(true);
  });

  it('chat renders the BitNet 2B-4T template and generates', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
    try {
      const text = model.renderChat([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }]);
      expect(text).toBe('<|begin_of_text|>System: Be brief.<|eot_id|>User: Hi<|eot_id|>Assistant: ');
      const ids = model.chatTokens([{ role: 'user', content: 'Hi' }]);
      expect(ids.filter((t) => t === 128000).length).toBe(1);
      const r = await model.chatComplete([{ role: 'user', content: 'Hi' }], { maxTokens: 3, sampling: { kind: 'greedy' } });
      expect(r.usage.promptTokens).toBe(ids.length);
    } finally {
      await model.dispose();
    }
  });

  it('a finished run yields a receipt that passes every gate; a tampered one fails', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
    try {
      await model.complete(PROMPT, { maxTokens: 4, sampling: { kind: 'greedy' }, ignoreEos: true });
      const receipt = model.lastReceipt();
      const gates = verifyReceipt(JSON.parse(JSON.stringify(receipt)));
      expect(gates.filter((g) => !g.ok)).toEqual([]);
      expect(receipt?.kernels.some((k) => k.id.includes('matmul'))).toBe(true);
      const tampered = { ...JSON.parse(JSON.stringify(receipt)), compute_path: 'mock' };
      expect(verifyReceipt(tampered).find((g) => g.gate === 'compute_path')?.ok).toBe(false);
      const noKernels = { ...JSON.parse(JSON.stringify(receipt)), kernels: [] };
      expect(verifyReceipt(noKernels).find((g) => g.gate === 'kernels_present')?.ok).toBe(false);
    } finally {
      await model.dispose();
    }
  });
});
