// Cancellation and responsiveness while a model generates: the loop gives the event loop a macrotask turn per
// token, so timers, AbortSignal.timeout and other callbacks run, and an abort lands within one token.

import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import { isBitNetError } from '../src/errors.js';
import { tinyModel } from './helpers/tiny-models.js';

const BACKENDS = ['reference', 'wasm'] as const;

describe.each(BACKENDS)('cancellation on the %s backend', (backend) => {
  it('a timer-driven abort stops generation within one token of the moment it fired', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend, threads: 2 });
    try {
      const ac = new AbortController();
      let seen = 0;
      let seenAtAbort = -1;
      const timer = setTimeout(() => {
        seenAtAbort = seen;
        ac.abort();
      }, 40);
      const run = async (): Promise<void> => {
        for await (const piece of model.generate('Once', { maxTokens: 2000, ignoreEos: true, sampling: { kind: 'greedy' }, signal: ac.signal })) {
          seen += piece.tokenIds.length;
        }
      };
      const err = await run().then(() => undefined, (e: unknown) => e);
      clearTimeout(timer);
      expect(isBitNetError(err, 'ABORTED'), `expected ABORTED, got ${String(err)} after ${seen} tokens`).toBe(true);
      expect(seenAtAbort).toBeGreaterThanOrEqual(0);
      expect(seen - seenAtAbort).toBeLessThanOrEqual(1);
      expect(seen).toBeLessThan(2000);
    } finally {
      await model.dispose();
    }
  });

  it('complete() with AbortSignal.timeout rejects with ABORTED instead of running to maxTokens', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend, threads: 2 });
    try {
      const err = await model
        .complete('Once', { maxTokens: 2000, ignoreEos: true, sampling: { kind: 'greedy' }, signal: AbortSignal.timeout(30) })
        .then((r) => r, (e: unknown) => e);
      expect(isBitNetError(err, 'ABORTED'), `expected ABORTED, got ${JSON.stringify(err)}`).toBe(true);
      // the model stays usable after the cancelled call
      const r = await model.complete('Once', { maxTokens: 3, ignoreEos: true, sampling: { kind: 'greedy' } });
      expect(r.usage.completionTokens).toBe(3);
    } finally {
      await model.dispose();
    }
  });

  it('evaluateLogits is abortable from a timer', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend, threads: 2 });
    try {
      const tokens = Array.from({ length: model.info.contextLength }, (_, i) => 1 + (i % 100));
      const err = await model.evaluateLogits(tokens, AbortSignal.timeout(20)).then(() => undefined, (e: unknown) => e);
      expect(isBitNetError(err, 'ABORTED')).toBe(true);
    } finally {
      await model.dispose();
    }
  });

  it('the event loop stays responsive: a 10 ms interval keeps firing on time while the model decodes', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend, threads: 2 });
    try {
      const period = 10;
      let last = performance.now();
      let ticks = 0;
      let worstLateMs = 0;
      const iv = setInterval(() => {
        const t = performance.now();
        worstLateMs = Math.max(worstLateMs, t - last - period);
        last = t;
        ticks++;
      }, period);
      let prev = performance.now();
      let worstTokenMs = 0;
      const t0 = performance.now();
      const nTokens = backend === 'reference' ? 30 : 150; // the scalar reference takes ~0.1 s per token
      for await (const piece of model.generate('Once', { maxTokens: nTokens, ignoreEos: true, sampling: { kind: 'greedy' } })) {
        const t = performance.now();
        if (piece.finish === undefined) worstTokenMs = Math.max(worstTokenMs, t - prev);
        prev = t;
      }
      const elapsed = performance.now() - t0;
      clearInterval(iv);
      // Without a turn per token the interval fires once (or never) for the whole run. With it, a tick is late by
      // at most about one token's compute; 50 ms unless this machine is so loaded that one token takes longer.
      expect(ticks).toBeGreaterThanOrEqual(Math.min(Math.floor(elapsed / period / 4), nTokens / 2));
      expect(worstLateMs).toBeLessThan(Math.max(50, 2 * worstTokenMs));
    } finally {
      await model.dispose();
    }
  });
});
