// Receipts under concurrency (docs/receipts.md "Per-sequence accounting"): each sequence's receipt covers its own
// tokens and the kernel calls of the steps they ran in, says how those steps were shared, counts prefix-cache reuse as
// reuse, and passes every gate; the server adds each request's own receipt to its response.

import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import { verifyReceipt, type Receipt } from '../src/engine/receipt.js';
import type { GenerateOptions } from '../src/engine/types.js';
import { createServerApp } from '../src/server/app.js';
import { tinyModel } from './helpers/tiny-models.js';

const OPTS: GenerateOptions = { sampling: { kind: 'greedy' }, ignoreEos: true };

function failedGates(r: unknown): string[] {
  return verifyReceipt(JSON.parse(JSON.stringify(r))).filter((g) => !g.ok).map((g) => `${g.gate}: ${g.detail}`);
}

function embedCalls(r: Receipt): number {
  return r.kernels.filter((k) => k.id.includes('.embed.')).reduce((s, k) => s + k.calls, 0);
}

describe('per-sequence receipts', () => {
  for (const backend of ['reference', 'wasm'] as const) {
    it(`${backend}: two concurrent sequences each get a receipt of their own compute; together they add up to the model's steps`, async () => {
      const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend, threads: 2, contextLength: 128 });
      try {
        const a = model.createSequence();
        const b = model.createSequence();
        const promptA = Array.from({ length: 5 }, (_, i) => 10 + i);
        const promptB = Array.from({ length: 21 }, (_, i) => 400 + i);
        const before = model.kvStats();
        const [ra, rb] = await Promise.all([a.complete(promptA, { ...OPTS, maxTokens: 3 }), b.complete(promptB, { ...OPTS, maxTokens: 9 })]);
        const after = model.kvStats();
        const recA = a.lastReceipt();
        const recB = b.lastReceipt();
        if (recA === undefined || recB === undefined) throw new Error('no receipt');
        expect(failedGates(recA)).toEqual([]);
        expect(failedGates(recB)).toEqual([]);
        expect(recA.compute_path).toBe('real');
        // each its own tokens
        expect(recA.tokens.prompt).toEqual(promptA);
        expect(recA.tokens.generated).toEqual(ra.tokenIds);
        expect(recB.tokens.prompt).toEqual(promptB);
        expect(recB.tokens.generated).toEqual(rb.tokenIds);
        const ca = recA.compute;
        const cb = recB.compute;
        if (ca === undefined || cb === undefined) throw new Error('no compute section');
        // its own steps: one prefill step and a decode step per token fed back; one embedding lookup per step
        expect(ca.steps).toBe(1 + 2);
        expect(cb.steps).toBe(1 + 8);
        expect(embedCalls(recA)).toBe(ca.steps);
        expect(embedCalls(recB)).toBe(cb.steps);
        expect(ca.own_positions).toBe(5 + 2);
        expect(cb.own_positions).toBe(21 + 8);
        // A's steps all ran beside B (B's decode lasts longer): shared both ways, and the receipts differ
        expect(ca.shared_steps).toBeGreaterThan(0);
        expect(ca.shared_steps).toBe(cb.shared_steps);
        expect(ca.step_positions).toBeGreaterThan(ca.own_positions);
        expect(recA.kernels).not.toEqual(recB.kernels);
        // the model ran exactly the union of their steps and the sum of their positions
        expect(after.steps - before.steps).toBe(ca.steps + cb.steps - ca.shared_steps);
        expect(after.forwardTokens - before.forwardTokens).toBe(ca.own_positions + cb.own_positions);
        // the other positions of A's shared steps are B's
        expect(ca.step_positions - ca.own_positions).toBeLessThanOrEqual(cb.own_positions);
        expect(ca.step_positions - ca.own_positions).toBeGreaterThanOrEqual(ca.shared_steps);
        // the model's receipt is the last finished generation's, B's here
        expect(model.lastReceipt()?.tokens.generated).toEqual(rb.tokenIds);
        // a receipt is still there after free(); a tampered accounting fails its gate
        a.free();
        b.free();
        expect(a.lastReceipt()?.tokens.generated).toEqual(ra.tokenIds);
        const forged = JSON.parse(JSON.stringify(recA)) as { compute: { steps: number; shared_steps: number } };
        forged.compute.steps = cb.steps;
        expect(failedGates(forged).some((g) => g.startsWith('compute_accounting'))).toBe(true);
        const unshared = JSON.parse(JSON.stringify(recA)) as { compute: { shared_steps: number } };
        unshared.compute.shared_steps = 0;
        expect(failedGates(unshared).some((g) => g.startsWith('compute_accounting'))).toBe(true);
      } finally {
        await model.dispose();
      }
    });
  }

  it("prefix-cache reuse counts as reuse, not compute; the model's own sequence beside another gets its own receipt", async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'wasm', threads: 2, contextLength: 128 });
    try {
      const prompt = Array.from({ length: 37 }, (_, i) => 300 + i);
      const first = model.createSequence();
      await first.complete(prompt, { ...OPTS, maxTokens: 4 });
      first.free();
      const second = model.createSequence();
      // the second runs beside the model's own generation
      const [, mainResult] = await Promise.all([second.complete(prompt, { ...OPTS, maxTokens: 4 }), model.complete([7, 8, 9], { ...OPTS, maxTokens: 6 })]);
      const r1 = first.lastReceipt();
      const r2 = second.lastReceipt();
      const rMain = model.lastReceipt();
      if (r1?.compute === undefined || r2?.compute === undefined || rMain?.compute === undefined) throw new Error('no receipt');
      expect(r1.compute.reused_prompt_tokens).toBe(0);
      expect(r1.compute.own_positions).toBe(37 + 3);
      expect(r2.compute.reused_prompt_tokens).toBe(32); // 2 full blocks of 16 from the prefix cache
      expect(r2.compute.own_positions).toBe(37 - 32 + 3);
      expect(r2.tokens.generated).toEqual(r1.tokens.generated);
      // the main sequence's generation finished last (6 tokens): the model's receipt is its own
      expect(rMain.tokens.prompt).toEqual([7, 8, 9]);
      expect(rMain.tokens.generated).toEqual(mainResult.tokenIds);
      expect(rMain.compute.steps).toBe(1 + 5);
      for (const r of [r1, r2, rMain]) expect(failedGates(r)).toEqual([]);
      second.free();
    } finally {
      await model.dispose();
    }
  });

  it('the server (receipts: true) gives each of concurrent requests its own verified receipt, in JSON and in the last stream chunk', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'wasm', threads: 2, contextLength: 64, kvMemory: 1 << 24 });
    try {
      for (const parallel of [1, 3]) {
        const app = createServerApp(model, { parallel, receipts: true });
        const post = (body: object): Promise<Response> =>
          app.fetch(new Request('http://localhost/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', temperature: 0, ...body }) }));
        const json = async (prompt: string, maxTokens: number): Promise<{ text: string; receipt: Receipt }> => {
          const res = (await (await post({ prompt, max_tokens: maxTokens })).json()) as { choices: { text: string }[]; receipt: Receipt };
          return { text: res.choices[0].text, receipt: res.receipt };
        };
        const stream = async (prompt: string, maxTokens: number): Promise<{ text: string; receipt: Receipt }> => {
          const raw = await (await post({ prompt, max_tokens: maxTokens, stream: true })).text();
          const events = raw.split('\n').filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]').map((l) => JSON.parse(l.slice(6)) as { choices: { text: string; finish_reason: string | null }[]; receipt?: Receipt });
          const last = events.filter((e) => e.choices[0]?.finish_reason !== null);
          expect(last).toHaveLength(1);
          expect(events.filter((e) => e.receipt !== undefined)).toHaveLength(1);
          const receipt = last[0].receipt;
          if (receipt === undefined) throw new Error('no receipt in the last chunk');
          return { text: events.map((e) => e.choices[0]?.text ?? '').join(''), receipt };
        };
        const got = await Promise.all([json('The quick brown fox', 3), stream('Once upon a time there was', 7), json('Hello', 5)]);
        const counts = got.map((g) => g.receipt.tokens.generated_count);
        expect(counts).toEqual([3, 7, 5]);
        for (const g of got) {
          expect(failedGates(g.receipt)).toEqual([]);
          expect(model.detokenize(g.receipt.tokens.generated)).toBe(g.text);
          expect(g.receipt.compute?.steps).toBe(embedCalls(g.receipt));
        }
        expect(got[0].receipt.tokens.prompt).toEqual(model.tokenize('The quick brown fox'));
        expect(got[1].receipt.tokens.prompt).toEqual(model.tokenize('Once upon a time there was'));
        if (parallel > 1) expect(got.some((g) => (g.receipt.compute?.shared_steps ?? 0) > 0)).toBe(true);
        await app.close();
      }
      // off by default
      const plain = createServerApp(model, { parallel: 2 });
      const res = (await (await plain.fetch(new Request('http://localhost/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'Hi', max_tokens: 2 }) }))).json()) as Record<string, unknown>;
      expect(res.receipt).toBeUndefined();
      await plain.close();
    } finally {
      await model.dispose();
    }
  });
});
