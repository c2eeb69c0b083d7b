// Sequences over the paged KV cache (docs/next-shape.md section 6, docs/api.md "Sequences") on both CPU backends:
// concurrent generations share forward steps and give what each gives alone (tokens and log-probabilities, bit for
// bit), forks share blocks, freeing returns them, a shared prefix is not recomputed, a context shift keeps going.
// Most run on quickModel (the tiny model's layers and KV blocks, a small vocabulary: the tests' cost is the forward).

import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import { isBitNetError } from '../src/errors.js';
import type { CompletionResult, GenerateOptions } from '../src/engine/types.js';
import { quickModel, tinyModel } from './helpers/tiny-models.js';

const BACKENDS = ['reference', 'wasm'] as const;
const OPTS: GenerateOptions = { maxTokens: 8, sampling: { kind: 'greedy' }, ignoreEos: true, topLogprobs: 3 };

/** Prompts of different lengths (token ids), so the mixed steps hold prefill chunks and decode tokens at once. */
function prompts(n: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: 3 + ((i * 7) % 23) }, (_, j) => 1 + ((i * 131 + j * 17) % 5000)));
}

/** Tokens and every log-probability number of a completion, for exact comparison. */
function fingerprint(r: CompletionResult): unknown {
  const lp = r.logprobs?.map((l) => [l.chosen.logprob, ...l.top.flatMap((t) => [t.token, t.logprob])]);
  expect(lp?.length).toBe(r.tokenIds.length); // the log-probabilities are there to compare
  return { ids: r.tokenIds, lp };
}

async function complete(model: BitNet, prompt: readonly number[], opts: GenerateOptions = OPTS): Promise<CompletionResult> {
  const seq = model.createSequence();
  try {
    return await seq.complete(prompt, opts);
  } finally {
    seq.free();
  }
}

describe('sequences decoded together', () => {
  for (const [backend, weights] of [...BACKENDS.map((b) => [b, 'i2_s'] as const), ['wasm', 'tq2_0'] as const]) {
    // 8 sequences on wasm: a decode step of 8 tokens takes the ternary GEMM (GEMM_MIN_TOKENS), one alone the per-token
    // kernel; 4 on the slow reference
    const n = backend === 'wasm' ? 8 : 4;
    it(`${backend} ${weights}: ${n} concurrent generations give each one's tokens and log-probabilities alone, bit for bit, in shared steps`, async () => {
      const model = await BitNet.load(await quickModel(weights === 'i2_s' ? 'bitnet-b1.58' : 'bitnet', weights), { backend, threads: 2 });
      try {
        const ps = prompts(n);
        const alone: unknown[] = [];
        for (const p of ps) alone.push(fingerprint(await complete(model, p)));
        const stepsBefore = model.kvStats().steps;
        const together = await Promise.all(ps.map((p) => complete(model, p)));
        const steps = model.kvStats().steps - stepsBefore;
        expect(together.map((r) => fingerprint(r))).toEqual(alone);
        // alone: n x (1 prefill + 7 decode) steps; together the decode tokens share steps
        expect(steps).toBeLessThanOrEqual(1 + 7 + 2);
        expect(model.kvStats().blocks.used).toBe(0);
      } finally {
        await model.dispose();
      }
    });
  }

  it('aborting one of several concurrent generations, or freeing its sequence, leaves the others exactly as alone', async () => {
    const model = await BitNet.load(await quickModel('bitnet-b1.58', 'i2_s'), { backend: 'wasm', threads: 2 });
    try {
      const ps = prompts(4);
      const alone = [];
      for (const p of ps.slice(0, 2)) alone.push(fingerprint(await complete(model, p, { ...OPTS, maxTokens: 12 })));
      const ac = new AbortController();
      const doomed = model.createSequence();
      const cancelled = model.createSequence();
      let n = 0;
      const aborted = (async () => {
        for await (const piece of cancelled.generate(ps[2], { ...OPTS, maxTokens: 50, signal: ac.signal })) if (piece.tokenIds.length > 0 && ++n === 3) ac.abort();
      })().then(() => 'finished', (e: unknown) => (isBitNetError(e, 'ABORTED') ? 'aborted' : String(e)));
      let m = 0;
      const freed = (async () => {
        for await (const piece of doomed.generate(ps[3], { ...OPTS, maxTokens: 50 })) if (piece.tokenIds.length > 0 && ++m === 4) doomed.free();
      })().then(() => 'finished', (e: unknown) => (isBitNetError(e, 'DISPOSED') ? 'disposed' : String(e)));
      const others = await Promise.all(ps.slice(0, 2).map((p) => complete(model, p, { ...OPTS, maxTokens: 12 })));
      expect(await aborted).toBe('aborted');
      expect(await freed).toBe('disposed');
      expect(others.map((r) => fingerprint(r))).toEqual(alone);
      // the cancelled sequence keeps what it computed (a later generate reuses it) until freed
      expect(cancelled.tokens.slice(0, ps[2].length)).toEqual(ps[2]);
      cancelled.free();
      expect(model.kvStats().blocks.used).toBe(0);
    } finally {
      await model.dispose();
    }
  });

  it('the model generate of the default sequence runs beside sequences and keeps its golden tokens', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
    try {
      const solo = await model.complete('The quick brown fox', { maxTokens: 12, sampling: { kind: 'greedy' }, ignoreEos: true });
      const [mixed] = await Promise.all([model.complete('The quick brown fox', { maxTokens: 12, sampling: { kind: 'greedy' }, ignoreEos: true }), complete(model, prompts(2)[1])]);
      expect(mixed.tokenIds).toEqual(solo.tokenIds);
      expect(solo.tokenIds).toEqual([91234, 53881, 53881, 98552, 98552, 98552, 90536, 90536, 90536, 90536, 90536, 90536]);
    } finally {
      await model.dispose();
    }
  });
});

describe('KV blocks: forks, freeing, prefix reuse, memory budget', () => {
  it('a fork shares its parent blocks; writing copies only the partly filled last block; free returns the blocks', async () => {
    const model = await BitNet.load(await quickModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
    try {
      const prompt = Array.from({ length: 40 }, (_, i) => 100 + i); // 2 full blocks of 16 and 8 positions
      const parent = model.createSequence();
      const a = await parent.complete(prompt, { ...OPTS, maxTokens: 1 });
      expect(parent.tokens).toEqual(prompt);
      expect(model.kvStats().blocks.used).toBe(3);
      const child = parent.fork();
      expect(child.tokens).toEqual(prompt);
      expect(model.kvStats().blocks.used).toBe(3); // shared, not copied
      const forward0 = model.kvStats().forwardTokens;
      const next = [...prompt, a.tokenIds[0]];
      const c = await child.complete(next, { ...OPTS, maxTokens: 4 });
      expect(model.kvStats().forwardTokens - forward0).toBe(1 + 3); // the fork ran only the new token and 3 decodes
      expect(model.kvStats().blocks.used).toBe(4); // the last block was copied on write
      // the parent's cache is untouched by the child's writes: it continues exactly as a fresh sequence would
      const p = await parent.complete(next, { ...OPTS, maxTokens: 4 });
      expect(fingerprint(p)).toEqual(fingerprint(await complete(model, next, { ...OPTS, maxTokens: 4 })));
      expect(fingerprint(c)).toEqual(fingerprint(p));
      child.free();
      parent.free();
      expect(model.kvStats().blocks.used).toBe(0);
      expect(() => parent.generate(prompt)).toThrow(/freed/);
    } finally {
      await model.dispose();
    }
  });

  it('a second sequence with the same prompt reuses the full cached blocks (counted forward tokens) and gives the same result', async () => {
    const model = await BitNet.load(await quickModel('bitnet-b1.58', 'i2_s'), { backend: 'wasm', threads: 2 });
    try {
      const prompt = Array.from({ length: 37 }, (_, i) => 300 + i);
      const f0 = model.kvStats().forwardTokens;
      const first = await complete(model, prompt);
      const f1 = model.kvStats().forwardTokens;
      expect(f1 - f0).toBe(37 + 7);
      // freed: its full blocks stay in the prefix cache, idle
      expect(model.kvStats().blocks.cachedIdle).toBeGreaterThanOrEqual(2);
      const second = await complete(model, prompt);
      expect(model.kvStats().forwardTokens - f1).toBe(37 - 32 + 7); // 2 blocks of 16 reused
      expect(fingerprint(second)).toEqual(fingerprint(first));
      // a prompt that differs inside the second block reuses only the first
      const other = [...prompt];
      other[20] = 9;
      const f2 = model.kvStats().forwardTokens;
      await complete(model, other);
      expect(model.kvStats().forwardTokens - f2).toBe(37 - 16 + 7);
    } finally {
      await model.dispose();
    }
  });

  it('under memory pressure idle cached prefixes are reclaimed, then idle sequences\' blocks; beyond the whole cache KV_CACHE_FULL, and bad budgets are refused', async () => {
    const path = await quickModel('bitnet-b1.58', 'i2_s');
    await expect(BitNet.load(path, { backend: 'reference', kvMemory: 1 })).rejects.toSatisfy((e: unknown) => isBitNetError(e, 'BAD_ARGUMENT'));
    await expect(BitNet.load(path, { backend: 'reference', kvMemory: -5 })).rejects.toSatisfy((e: unknown) => isBitNetError(e, 'BAD_ARGUMENT'));
    const probe = await BitNet.load(path, { backend: 'reference' });
    const blockBytes = probe.config.nLayers * probe.config.kvDim * 2 * 2 * 16;
    await probe.dispose();
    const model = await BitNet.load(path, { backend: 'reference', kvMemory: 4 * blockBytes });
    try {
      expect(model.kvStats().blocks.nBlocks).toBe(4);
      // 3 blocks each; freed, their full blocks stay cached and are reclaimed for the next
      for (let i = 0; i < 3; i++) await complete(model, Array.from({ length: 40 }, (_, j) => 1000 * (i + 1) + j), { ...OPTS, maxTokens: 2 });
      const a = model.createSequence();
      await a.complete(Array.from({ length: 40 }, (_, j) => 7 + j), { ...OPTS, maxTokens: 1 });
      expect(a.tokens).toHaveLength(40);
      // b needs 3 blocks, 1 is free: idle a gives its blocks (its tokens dropped; engine/scheduler.ts)
      const b = model.createSequence();
      const want = await complete(model, Array.from({ length: 40 }, (_, j) => 9 + j), { ...OPTS, maxTokens: 1 });
      const got = await b.complete(Array.from({ length: 40 }, (_, j) => 9 + j), { ...OPTS, maxTokens: 1 });
      expect([got.tokenIds, got.logprobs]).toEqual([want.tokenIds, want.logprobs]);
      expect(a.tokens).toEqual([]);
      expect(model.kvStats().preemptions).toBe(0); // no generation was preempted
      // more than the whole cache: KV_CACHE_FULL at once
      const err = await b.complete(Array.from({ length: 65 }, (_, j) => 9 + j), { ...OPTS, maxTokens: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBitNetError(err, 'KV_CACHE_FULL')).toBe(true);
      a.free();
      b.free();
      expect(model.kvStats().blocks.used).toBe(0);
      // after the failure the model still works
      expect((await complete(model, [5, 6, 7], { ...OPTS, maxTokens: 2 })).tokenIds.length).toBe(2);
    } finally {
      await model.dispose();
    }
  });
});

describe('in-flight prefix dedup', () => {
  // 4 prompts arriving together: a 70-token shared prefix (4 full blocks of 16 and 6 tokens), then tails of their own
  const shared = Array.from({ length: 70 }, (_, i) => 40 + ((i * 37) % 3000));
  const tails = [[7, 8, 9], [11, 12], [13, 14, 15, 16, 17], [7, 8, 9]];
  const maxTokens = 4;
  // run alone one after another: the first computes the prefix, the others take its 4 blocks from the prefix cache
  const sequential = tails.reduce((sum, t, i) => sum + (i === 0 ? shared.length : shared.length - 64) + t.length + maxTokens - 1, 0);

  for (const [backend, threads] of [['wasm', 1], ['wasm', 2], ['reference', 1]] as const) {
    it(`${backend} x${threads}: sequences arriving together with a shared prefix compute its full blocks once, and give what they give one after another`, async () => {
      const path = await quickModel('bitnet-b1.58', 'i2_s');
      const opts = { ...OPTS, maxTokens };
      const one = await BitNet.load(path, { backend, threads });
      const alone: unknown[] = [];
      let f0 = one.kvStats().forwardTokens;
      try {
        for (const t of tails) alone.push(fingerprint(await complete(one, [...shared, ...t], opts)));
        expect(one.kvStats().forwardTokens - f0).toBe(sequential);
      } finally {
        await one.dispose();
      }
      const model = await BitNet.load(path, { backend, threads });
      try {
        f0 = model.kvStats().forwardTokens;
        const together = await Promise.all(tails.map((t) => complete(model, [...shared, ...t], opts)));
        expect(together.map((r) => fingerprint(r))).toEqual(alone);
        // without the dedup each would compute the whole prefix: 4 x 70 positions
        expect(model.kvStats().forwardTokens - f0).toBe(sequential);
        expect(model.kvStats().blocks.used).toBe(0);
      } finally {
        await model.dispose();
      }
    }, 120_000);
  }

  it('a sequence that would wait goes on by itself when the one filling its block is aborted, with the same result', async () => {
    const path = await quickModel('bitnet-b1.58', 'i2_s');
    const opts = { ...OPTS, maxTokens };
    const one = await BitNet.load(path, { backend: 'wasm', threads: 1 });
    let want: unknown;
    try {
      want = fingerprint(await complete(one, [...shared, 99], opts));
    } finally {
      await one.dispose();
    }
    const model = await BitNet.load(path, { backend: 'wasm', threads: 1 });
    try {
      const ac = new AbortController();
      const leader = complete(model, [...shared, 98], { ...opts, signal: ac.signal }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const follower = complete(model, [...shared, 99], opts);
      ac.abort();
      expect(isBitNetError(await leader, 'ABORTED')).toBe(true);
      expect(fingerprint(await follower)).toEqual(want);
      expect(model.kvStats().blocks.used).toBe(0);
    } finally {
      await model.dispose();
    }
  });
});

describe('context shift', () => {
  it('generation past the context length continues (reference and wasm agree token for token); opting out stops with length', async () => {
    const path = await quickModel('bitnet-b1.58', 'i2_s');
    const results: number[][] = [];
    for (const backend of BACKENDS) {
      const model = await BitNet.load(path, { backend, threads: 2, contextLength: 24 });
      try {
        const prompt = model.tokenize('The quick brown fox');
        const seq = model.createSequence();
        const r = await seq.complete(prompt, { maxTokens: 40, sampling: { kind: 'greedy' }, ignoreEos: true, keepTokens: 2 });
        expect(r.finishReason).toBe('length');
        expect(r.usage.completionTokens).toBe(40); // past the context: shifted at 24 cached tokens (keep 3, drop 10), and again
        // the sequence kept its first tokens (BOS + keepTokens) and never held more than the context
        expect(seq.tokens.slice(0, 3)).toEqual(prompt.slice(0, 3));
        expect(seq.tokens.length).toBeLessThanOrEqual(24);
        seq.free();
        const stop = await model.complete(prompt, { maxTokens: 40, sampling: { kind: 'greedy' }, ignoreEos: true, contextShift: false });
        expect(stop.finishReason).toBe('length');
        expect(stop.usage.totalTokens).toBeLessThanOrEqual(25);
        // before the first shift the tokens are those of a generation without one
        expect(r.tokenIds.slice(0, stop.tokenIds.length)).toEqual(stop.tokenIds);
        results.push([...r.tokenIds]);
      } finally {
        await model.dispose();
      }
    }
    expect(results[1]).toEqual(results[0]);
  }, 180_000);
});
