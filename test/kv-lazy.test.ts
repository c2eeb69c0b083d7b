// The KV pool takes memory as sequences grow (kernels/kv-growth.ts), not at load: a load's memory does not depend on
// its KV budget, generations over a pool growing on the way give what they give over a pool whose every block had
// memory from the start (tokens and log-probabilities, bit for bit), and the budget still ends in KV_CACHE_FULL.

import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import { isBitNetError } from '../src/errors.js';
import type { CompletionResult, GenerateOptions } from '../src/engine/types.js';
import type { KernelBackend, KvPool } from '../src/kernels/backend.js';
import { wasmMemoryBytes } from '../src/kernels/wasm/index.js';
import { kvCacheBytes } from '../src/model/forward.js';
import { quickModel } from './helpers/tiny-models.js';

const OPTS: GenerateOptions = { maxTokens: 60, sampling: { kind: 'greedy' }, ignoreEos: true, topLogprobs: 2 };

/** The model's backend and KV pool (internals: the public API does not hand them out). */
function internals(model: BitNet): { backend: KernelBackend; pool: KvPool } {
  const m = model as unknown as { m: { backend: KernelBackend }; scheduler: { pool: KvPool } };
  return { backend: m.m.backend, pool: m.scheduler.pool };
}

/** Gives every block of the pool memory now, in reverse id order (so block homes are not in id order either). */
function growWholePool(model: BitNet): void {
  const { backend, pool } = internals(model);
  const all = Int32Array.from({ length: pool.nBlocks }, (_, i) => pool.nBlocks - 1 - i);
  backend.setBlockTables(pool, all, 1, pool.nBlocks);
  expect(pool.allocatedBlocks).toBe(pool.nBlocks);
}

function fingerprint(r: CompletionResult): unknown {
  return { ids: r.tokenIds, lp: r.logprobs?.map((l) => [l.chosen.logprob, ...l.top.flatMap((t) => [t.token, t.logprob])]) };
}

/** Three concurrent generations (40-token prompts, `maxTokens` new tokens), then one alone on the warm pool. */
async function runs(model: BitNet, maxTokens: number): Promise<unknown[]> {
  const opts = { ...OPTS, maxTokens };
  const prompts = [0, 1, 2].map((i) => Array.from({ length: 40 }, (_, j) => 50 + i * 977 + j * 13));
  const out = await Promise.all(
    prompts.map(async (p) => {
      const seq = model.createSequence();
      try {
        return fingerprint(await seq.complete(p, opts));
      } finally {
        seq.free();
      }
    }),
  );
  out.push(fingerprint(await model.complete(prompts[1].map((t) => t + 1), opts)));
  return out;
}

describe('KV memory taken on demand', () => {
  for (const [backend, threads] of [['reference', 1], ['wasm', 1], ['wasm', 2]] as const) {
    it(`${backend} x${threads}: generations over a pool growing on the way equal those over a pool with every block up front, token for token`, async () => {
      const path = await quickModel('bitnet-b1.58', 'i2_s');
      const lazy = await BitNet.load(path, { backend, threads, contextLength: 128, kvMemory: 64 * 2 ** 20 });
      const upFront = await BitNet.load(path, { backend, threads, contextLength: 128, kvMemory: 64 * 2 ** 20 });
      try {
        expect(lazy.kvStats().blocks.allocated).toBe(0);
        growWholePool(upFront);
        // 40 + 60 positions: 7 blocks per sequence (the slower reference: 40 + 24, 4 blocks)
        const maxTokens = backend === 'reference' ? 24 : 60;
        const a = await runs(lazy, maxTokens);
        const b = await runs(upFront, maxTokens);
        expect(a).toEqual(b);
        // the lazy pool grew across several chunks (one block, then doubling) and holds far less than its budget
        const { blocks } = lazy.kvStats();
        expect(blocks.allocated).toBeGreaterThanOrEqual(3 * Math.ceil((40 + maxTokens) / 16));
        expect(blocks.allocated).toBeLessThan(blocks.nBlocks / 4);
        expect(upFront.kvStats().blocks.allocated).toBe(upFront.kvStats().blocks.nBlocks);
      } finally {
        await lazy.dispose();
        await upFront.dispose();
      }
    }, 120_000);
  }

  it('a load reserves no KV memory: the wasm memory after load is the same for a 1-block and a 256 MiB budget, and grows with use', async () => {
    const path = await quickModel('bitnet-b1.58', 'i2_s');
    const probe = await BitNet.load(path, { backend: 'reference' });
    const blockBytes = kvCacheBytes(probe.config, 16);
    await probe.dispose();
    const small = await BitNet.load(path, { backend: 'wasm', threads: 1, kvMemory: blockBytes });
    const big = await BitNet.load(path, { backend: 'wasm', threads: 1, kvMemory: 256 * 2 ** 20 });
    try {
      expect(big.kvStats().blocks.nBlocks).toBe(Math.floor((256 * 2 ** 20) / blockBytes));
      expect(big.kvStats().blocks.allocated).toBe(0);
      const loaded = wasmMemoryBytes(internals(big).backend);
      expect(loaded).toBe(wasmMemoryBytes(internals(small).backend));
      expect(loaded).toBeLessThan(256 * 2 ** 20);
      await big.complete(Array.from({ length: 100 }, (_, i) => 10 + i), { ...OPTS, maxTokens: 4 });
      const { blocks } = big.kvStats();
      expect(blocks.allocated).toBeGreaterThanOrEqual(7); // 104 positions
      expect(blocks.allocated).toBeLessThanOrEqual(2 * 7);
      // the heap's slack may hold the first blocks; past it, memory grows by what the blocks take (wasm.test.ts)
      expect(wasmMemoryBytes(internals(big).backend) - loaded).toBeLessThanOrEqual(blocks.allocated * blockBytes + 2 * 65536);
    } finally {
      await small.dispose();
      await big.dispose();
    }
  });

  it('the budget still bounds it: a sequence past the budget gets KV_CACHE_FULL with the whole budget taken, never more', async () => {
    const path = await quickModel('bitnet-b1.58', 'i2_s');
    const probe = await BitNet.load(path, { backend: 'reference' });
    const blockBytes = kvCacheBytes(probe.config, 16);
    await probe.dispose();
    for (const backend of ['reference', 'wasm'] as const) {
      const model = await BitNet.load(path, { backend, threads: 1, contextLength: 256, kvMemory: 5 * blockBytes });
      try {
        const seq = model.createSequence();
        const err = await seq.complete(Array.from({ length: 30 }, (_, i) => 7 + i), { ...OPTS, maxTokens: 100 }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isBitNetError(err, 'KV_CACHE_FULL'), String(err)).toBe(true);
        expect(model.kvStats().blocks).toMatchObject({ nBlocks: 5, allocated: 5, used: 5 });
        seq.free();
        expect(model.kvStats().blocks.used).toBe(0);
        // after the failure the model still works, on the memory it has
        expect((await model.complete([5, 6, 7], { ...OPTS, maxTokens: 2 })).tokenIds.length).toBe(2);
        expect(model.kvStats().blocks.allocated).toBe(5);
      } finally {
        await model.dispose();
      }
    }
  });
});
