// A full KV cache preempts instead of failing (engine/scheduler.ts): with a budget of a few blocks, eager admission (the
// default reserve would keep most of these sequences waiting instead: kv-admission.test.ts) and several sequences at once, every one completes with the tokens (and log-probabilities) it gives alone, greedy and seeded with
// penalties (the sampler state survives the preemption), preemptions are counted, no block leaks, a preempted sequence
// cancelled while it waits frees everything, and a prompt larger than the whole cache fails at once with KV_CACHE_FULL.

import { describe, expect, it } from 'vitest';
import { GREEDY_28, loadWithKvBlocks, seeded28 } from '../../test/helpers/kv-budget-model.js';
import { isBitNetError } from '../errors.js';
import { BitNet } from './bitnet.js';
import { verifyReceipt, type Receipt } from './receipt.js';
import type { CompletionResult, GenerateOptions } from './types.js';

const BLOCKS = 6;
const GREEDY = GREEDY_28;
const SEEDED = seeded28(1234);
/** 4 prompts of 9..30 tokens: each needs 3-4 blocks of 16 with 28 new tokens; together 14, and the cache has 6. */
const PROMPTS = [9, 30, 17, 12].map((n, k) => Array.from({ length: n }, (_, i) => 30 + ((i * 53 + k * 301) % 2900)));

interface Internals {
  scheduler: { queue: unknown[]; admitted: Set<unknown>; order: Map<unknown, number> };
}

function load(): Promise<BitNet> {
  return loadWithKvBlocks(BLOCKS, { kvAdmission: 'eager' });
}

function fingerprint(r: CompletionResult): unknown {
  return { tokenIds: r.tokenIds, logprobs: r.logprobs, finish: r.finishReason };
}

const receipts: Receipt[] = [];

async function alone(model: BitNet, prompt: readonly number[], opts: GenerateOptions): Promise<unknown> {
  const seq = model.createSequence();
  try {
    const r = fingerprint(await seq.complete(prompt, opts));
    const receipt = seq.lastReceipt();
    if (receipt !== undefined) receipts.push(receipt);
    return r;
  } finally {
    seq.free();
  }
}

function expectNothingHeld(model: BitNet): void {
  const { blocks } = model.kvStats();
  expect(blocks.nBlocks).toBe(BLOCKS);
  expect(blocks.used).toBe(0);
  expect(blocks.free + blocks.cachedIdle).toBe(BLOCKS);
  const s = (model as unknown as Internals).scheduler;
  expect(s.queue.length).toBe(0);
  // the scheduler keeps no sequence but freed ones (forgotten at its next step)
  expect([...s.order.keys(), ...s.admitted].every((q) => (q as { freed: boolean }).freed)).toBe(true);
}

describe('a full KV cache preempts instead of failing', () => {
  for (const [name, opts] of [
    ['greedy', GREEDY],
    ['seeded sampling with penalties', SEEDED],
  ] as const) {
    it(`${name}: 4 sequences over a cache of ${BLOCKS} blocks all complete, each as alone; preemptions counted, no block leaks`, async () => {
      const model = await load();
      try {
        const want: unknown[] = [];
        for (const p of PROMPTS) want.push(await alone(model, p, opts));
        expect(model.kvStats().preemptions).toBe(0);
        // each freed when it completes, as the server does
        receipts.length = 0;
        const got = await Promise.all(PROMPTS.map((p) => alone(model, p, opts)));
        expect(got).toEqual(want);
        expect(model.kvStats().preemptions).toBeGreaterThan(0);
        // the receipts of preempted generations count what they computed again, and pass every gate
        expect(receipts.length).toBe(PROMPTS.length);
        expect(receipts.some((r) => (r.compute?.recomputed_positions ?? 0) > 0)).toBe(true);
        for (const r of receipts) expect(verifyReceipt(r).filter((g) => !g.ok)).toEqual([]);
        expectNothingHeld(model);
      } finally {
        await model.dispose();
      }
    }, 60_000);
  }

  it('a preempted sequence cancelled while it waits frees everything; the others complete as alone', async () => {
    const model = await load();
    try {
      const prompts = PROMPTS.slice(0, 3);
      const want: unknown[] = [];
      for (const p of prompts) want.push(await alone(model, p, GREEDY));
      const s = (model as unknown as Internals).scheduler;
      const seqs = prompts.map(() => model.createSequence());
      const states = seqs.map((q) => (q as unknown as { state: unknown }).state);
      const acs = prompts.map(() => new AbortController());
      let cancelled = -1;
      let heldAfter = -1;
      // each consumed piece by piece; between two steps, the first sequence seen waiting preempted (its blocks freed,
      // its work queued with its history) is cancelled
      const run = async (i: number): Promise<unknown> => {
        const tokenIds: number[] = [];
        const logprobs: unknown[] = [];
        let finish: string | undefined;
        try {
          for await (const piece of seqs[i].generate(prompts[i], { ...GREEDY, signal: acs[i].signal })) {
            tokenIds.push(...piece.tokenIds);
            if (piece.logprobs !== undefined) logprobs.push(...piece.logprobs);
            if (piece.finish !== undefined) finish = piece.finish.reason;
            const j = states.findIndex((q) => s.order.has(q) && !s.admitted.has(q));
            if (cancelled < 0 && j >= 0) {
              cancelled = j;
              acs[j].abort();
            }
          }
          return { tokenIds, logprobs, finish };
        } catch (e) {
          heldAfter = seqs[i].tokens.length;
          return e;
        } finally {
          seqs[i].free();
        }
      };
      const got = await Promise.all(prompts.map((_, i) => run(i)));
      expect(cancelled).toBeGreaterThanOrEqual(0);
      expect(isBitNetError(got[cancelled], 'ABORTED'), String(got[cancelled])).toBe(true);
      expect(heldAfter).toBe(0); // a cancelled preempted sequence holds nothing
      for (let i = 0; i < prompts.length; i++) if (i !== cancelled) expect(got[i]).toEqual(want[i]);
      expectNothingHeld(model);
    } finally {
      await model.dispose();
    }
  }, 60_000);

  it('a prompt larger than the whole cache fails at once with KV_CACHE_FULL (too_long), a sequence outgrowing it alone too; the model goes on', async () => {
    const model = await load();
    try {
      const seq = model.createSequence();
      const long = Array.from({ length: BLOCKS * 16 + 1 }, (_, i) => 40 + i);
      const err = await seq.complete(long, { ...GREEDY, maxTokens: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBitNetError(err, 'KV_CACHE_FULL') && err.details.reason === 'too_long', String(err)).toBe(true);
      expect(model.kvStats().forwardTokens).toBe(0);
      // alone, growing past the cache: the same error when it needs its 7th block (no waiting for blocks nobody frees)
      const grow = await seq.complete(PROMPTS[0], { ...GREEDY, maxTokens: 120 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBitNetError(grow, 'KV_CACHE_FULL'), String(grow)).toBe(true);
      seq.free();
      expect(model.kvStats().preemptions).toBe(0);
      expectNothingHeld(model);
      expect(await alone(model, PROMPTS[0], { ...GREEDY, maxTokens: 4 })).toMatchObject({ finish: 'length' });
    } finally {
      await model.dispose();
    }
  }, 60_000);
});
