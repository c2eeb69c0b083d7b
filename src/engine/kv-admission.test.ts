// KV admission with a reserve (engine/scheduler.ts reserveFor): a waiting sequence starts only while the free blocks,
// past its prompt's, cover what the running ones still need to reach their maxTokens. Under a budget of a few
// blocks, several sequences at once complete with the tokens they give alone (greedy and seeded), are preempted less
// than with eager admission (counted: this fails without the reserve), leak no block and all finish (none starves, a
// large one behind small ones too); a sequence alone runs whatever its growth; a generation whose consumer stopped
// pulling holds nobody back (no deadlock); with a budget that holds everything the steps are eager admission's; and an
// unknown kvAdmission is refused.

import { describe, expect, it } from 'vitest';
import { GREEDY_28, loadWithKvBlocks, seeded28 } from '../../test/helpers/kv-budget-model.js';
import { tinyModel } from '../../test/helpers/tiny-models.js';
import { isBitNetError } from '../errors.js';
import { BitNet } from './bitnet.js';
import type { CompletionResult, GenerateOptions, KvAdmission } from './types.js';

const BLOCKS = 6;
const GREEDY = GREEDY_28;
const SEEDED = seeded28(77);
/** 5 prompts of 5..30 tokens (odd sizes): with 28 new tokens each needs 3-4 blocks of 16; together 17, the cache has 6. */
const PROMPTS = [9, 30, 17, 12, 5].map((n, k) => Array.from({ length: n }, (_, i) => 30 + ((i * 59 + k * 317) % 2900)));

function fingerprint(r: CompletionResult): unknown {
  return { tokenIds: r.tokenIds, logprobs: r.logprobs, finish: r.finishReason };
}

/** A generation on a sequence of its own, freed when it completes (as the server does). */
async function alone(model: BitNet, prompt: readonly number[], opts: GenerateOptions): Promise<unknown> {
  const seq = model.createSequence();
  try {
    return fingerprint(await seq.complete(prompt, opts));
  } finally {
    seq.free();
  }
}

function expectNothingHeld(model: BitNet, nBlocks: number): void {
  const { blocks } = model.kvStats();
  expect(blocks.used).toBe(0);
  expect(blocks.free + blocks.cachedIdle).toBe(nBlocks);
}

/** Every prompt at once on a fresh model; returns the results and the model's counters. */
async function together(nBlocks: number, kvAdmission: KvAdmission, opts: GenerateOptions, want?: readonly unknown[]): Promise<{ preemptions: number; steps: number; forwardTokens: number }> {
  const model = await loadWithKvBlocks(nBlocks, { kvAdmission });
  try {
    const got = await Promise.all(PROMPTS.map((p) => alone(model, p, opts)));
    if (want !== undefined) expect(got).toEqual(want);
    expectNothingHeld(model, nBlocks);
    const { preemptions, steps, forwardTokens } = model.kvStats();
    return { preemptions, steps, forwardTokens };
  } finally {
    await model.dispose();
  }
}

describe('KV admission keeps a reserve for the running sequences', () => {
  it('an unknown kvAdmission is BAD_ARGUMENT before the file is opened', async () => {
    const err = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { kvAdmission: 'lazy' as KvAdmission }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBitNetError(err, 'BAD_ARGUMENT') && err.details.field === 'kvAdmission', String(err)).toBe(true);
  });

  for (const [name, opts] of [
    ['greedy', GREEDY],
    ['seeded sampling with penalties', SEEDED],
  ] as const) {
    it(`${name}: ${PROMPTS.length} sequences over ${BLOCKS} blocks complete as alone, preempted less than with eager admission, no leaks`, async () => {
      const model = await loadWithKvBlocks(BLOCKS, { kvAdmission: 'reserve' });
      const want: unknown[] = [];
      try {
        for (const p of PROMPTS) want.push(await alone(model, p, opts));
      } finally {
        await model.dispose();
      }
      const reserve = await together(BLOCKS, 'reserve', opts, want);
      const eager = await together(BLOCKS, 'eager', opts, want);
      // only a sequence admitted last can be short of a block (its own growth is not reserved); without the reserve the
      // counts are equal (the same schedule)
      expect(eager.preemptions).toBeGreaterThan(0);
      expect(reserve.preemptions).toBeLessThan(eager.preemptions);
      // what the preemptions cost: positions computed again
      expect(reserve.forwardTokens).toBeLessThan(eager.forwardTokens);
    }, 30_000);
  }

  it('with a budget that holds every sequence whole, the reserve never binds: the same steps as eager admission', async () => {
    const big = 24; // 17 blocks needed at most
    const reserve = await together(big, 'reserve', GREEDY);
    const eager = await together(big, 'eager', GREEDY);
    expect(reserve).toEqual(eager);
    expect(reserve.preemptions).toBe(0);
  }, 30_000);

  it('a large sequence behind small ones starts once they end, the small ones after it too (none starves); alone it takes the whole cache', async () => {
    const model = await loadWithKvBlocks(BLOCKS, { kvAdmission: 'reserve' });
    try {
      // 70 prompt tokens and 20 new: 89 positions, all 6 blocks
      const large = Array.from({ length: 70 }, (_, i) => 40 + ((i * 37) % 2900));
      const largeOpts = { ...GREEDY, maxTokens: 20 };
      const jobs: [readonly number[], GenerateOptions][] = [[PROMPTS[0], GREEDY], [PROMPTS[1], GREEDY], [large, largeOpts], [PROMPTS[2], GREEDY], [PROMPTS[4], SEEDED]];
      const want: unknown[] = [];
      for (const [p, o] of jobs) want.push(await alone(model, p, o));
      const finished: number[] = [];
      const got = await Promise.all(
        jobs.map(async ([p, o], i) => {
          const r = await alone(model, p, o);
          finished.push(i);
          return r;
        }),
      );
      expect(got).toEqual(want);
      // first come, first served: the large one (index 2) ends after the two before it, before the two after it
      expect(finished.indexOf(2)).toBe(2);
      expectNothingHeld(model, BLOCKS);
    } finally {
      await model.dispose();
    }
  }, 30_000);

  it("a generation whose consumer stopped pulling holds no admission back (its reserve is waived), and goes on after", async () => {
    const model = await loadWithKvBlocks(BLOCKS, { kvAdmission: 'reserve' });
    try {
      const wantA = await alone(model, PROMPTS[1], GREEDY);
      const wantB = await alone(model, PROMPTS[2], GREEDY);
      const a = model.createSequence();
      const b = model.createSequence();
      try {
        // A (4 blocks at its end) takes one piece, then its consumer waits for B (4 blocks) to complete: with A's
        // growth reserved B would wait for A, which waits for B
        const gen = a.generate(PROMPTS[1], GREEDY);
        const first = await gen.next();
        const gotB = fingerprint(await b.complete(PROMPTS[2], GREEDY));
        expect(gotB).toEqual(wantB);
        b.free();
        // A goes on (preempted meanwhile if B needed its blocks) and gives what it gives alone
        const tokenIds: number[] = [];
        const logprobs: unknown[] = [];
        let finish: string | undefined;
        for (let piece = first; piece.done !== true; piece = await gen.next()) {
          tokenIds.push(...piece.value.tokenIds);
          if (piece.value.logprobs !== undefined) logprobs.push(...piece.value.logprobs);
          if (piece.value.finish !== undefined) finish = piece.value.finish.reason;
        }
        expect({ tokenIds, logprobs, finish }).toEqual(wantA);
      } finally {
        a.free();
        b.free();
      }
      expectNothingHeld(model, BLOCKS);
    } finally {
      await model.dispose();
    }
  }, 30_000);
});
