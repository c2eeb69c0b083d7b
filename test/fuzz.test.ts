// A short run of every fuzz target (fuzz/targets/) in the test suite: the committed seed corpus, then fast-check inputs
// (mutations of the seeds and random bytes) for a bounded time. A finding fails the test with the input (base64).
// The long, coverage-guided runs are `npm run fuzz`.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCorpus } from '../fuzz/corpus.js';
import { Prng, mutate, utf8Tokens } from '../fuzz/mutate.js';
import { execute } from '../fuzz/target.js';

/** Only runaway executions fail here; per-execution speed is judged by `npm run fuzz` on a quiet machine. */
const SLOW_FACTOR = 10;
import { TARGETS } from '../fuzz/targets/index.js';

/** Time per target after its seeds: 7 targets x 4 s keeps the file near 30 s with setup on a busy 2-core machine. */
const TIME_PER_TARGET_MS = 4000;
/** Upper bound on generated inputs per target (fast targets stop here before the time runs out). */
const RUNS_PER_TARGET = 50_000;
/** Fixed so CI runs are reproducible; set FUZZ_SEED to explore other inputs locally. */
const SEED = Number(process.env.FUZZ_SEED ?? 20250101);

for (const target of TARGETS) {
  describe(`fuzz target ${target.name}`, () => {
    const corpus = loadCorpus(target.name);

    beforeAll(async () => {
      await target.setup?.();
    });
    afterAll(async () => {
      await target.teardown?.();
    });

    it('has a committed seed corpus holding every built-in seed', async () => {
      const seeds = await target.seeds();
      // `npm run fuzz -- --write-seeds` rewrites them; a stale corpus would test yesterday's input format.
      const committed = new Set(corpus.map((c) => Buffer.from(c).toString('base64')));
      expect(seeds.length).toBeGreaterThan(0);
      for (const s of seeds) expect(committed.has(Buffer.from(s).toString('base64'))).toBe(true);
    });

    it('passes every seed, accepting at least one', async () => {
      let accepted = 0;
      for (const input of corpus) if ((await execute(target, input, SLOW_FACTOR)).outcome === 'ok') accepted++;
      expect(accepted).toBeGreaterThan(0);
    });

    it(`survives mutated and random inputs for ${TIME_PER_TARGET_MS} ms`, async () => {
      const dictionary = utf8Tokens(target.dictionary ?? []);
      const mutated = fc
        .record({ parent: fc.nat(), seed: fc.integer() })
        .map(({ parent, seed }) => mutate(corpus[parent % corpus.length], new Prng(seed), { maxLength: target.maxInputBytes, dictionary, corpus }));
      const random = fc.uint8Array({ maxLength: Math.min(512, target.maxInputBytes) });
      const outcomes = { ok: 0, refused: 0 };
      await fc.assert(
        fc.asyncProperty(fc.oneof({ arbitrary: mutated, weight: 4 }, { arbitrary: random, weight: 1 }), async (input) => {
          outcomes[(await execute(target, input, SLOW_FACTOR)).outcome]++;
        }),
        { seed: SEED, numRuns: RUNS_PER_TARGET, interruptAfterTimeLimit: TIME_PER_TARGET_MS, markInterruptAsFailure: false },
      );
      expect(outcomes.ok + outcomes.refused).toBeGreaterThan(20);
    });
  });
}
