// A refused KV memory growth (kernels/kv-growth.ts: the runtime will not give the pool more memory) is a full KV cache
// like any other: the sequence that needed a new block takes the blocks (with memory) of a later one, which is
// preempted and computed again once blocks are free (engine/scheduler.ts), so both give the tokens they give alone.
// The refusal is injected into the pool's growth on the reference and wasm backends; and, as a GPU device reports it
// (asynchronously: KernelBackend.settleKvGrowth, undoing the growth), on the reference backend, so the scheduler's
// asynchronous path is tested without a GPU too (src/kernels/webgpu/node-webgpu.test.ts runs it on Dawn).

import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import type { Sequence } from '../src/engine/sequence.js';
import type { GenerateOptions } from '../src/engine/types.js';
import { BitNetError, isBitNetError } from '../src/errors.js';
import type { KvPool } from '../src/kernels/backend.js';
import { createServerApp } from '../src/server/app.js';
import { quickModel } from './helpers/tiny-models.js';

const GREEDY: GenerateOptions = { sampling: { kind: 'greedy' }, ignoreEos: true };

interface Homes {
  allocated: number;
  grow: (count: number) => number[];
}

/** Makes the model's KV pool refuse to grow past `limit` blocks of memory, as a runtime out of memory does. */
function refuseGrowthBeyond(model: BitNet, limit: number): { refusals: () => number } {
  const homes = (model as unknown as { scheduler: { pool: { homes: Homes } } }).scheduler.pool.homes;
  const grow = homes.grow;
  let refusals = 0;
  homes.grow = (count: number): number[] => {
    if (homes.allocated + count > limit) {
      refusals++;
      throw new BitNetError('KV_CACHE_FULL', `injected: the runtime refused ${count} more KV blocks`);
    }
    return grow(count);
  };
  return { refusals: () => refusals };
}

async function complete(model: BitNet, prompt: readonly number[], maxTokens: number): Promise<readonly number[]> {
  const seq = model.createSequence();
  try {
    return (await seq.complete(prompt, { ...GREEDY, maxTokens })).tokenIds;
  } finally {
    seq.free();
  }
}

const A = Array.from({ length: 10 }, (_, i) => 50 + i * 3);
const B = Array.from({ length: 40 }, (_, i) => 700 + i * 5);

describe('a refused KV memory growth', () => {
  for (const backend of ['reference', 'wasm'] as const) {
    it(`${backend}: the sequences wait for each other's blocks (one preempted) and give their tokens alone, within the memory given`, async () => {
      const path = await quickModel('bitnet-b1.58', 'i2_s');
      const load = (): Promise<BitNet> => BitNet.load(path, { backend, threads: 2, contextLength: 128, kvMemory: 1 << 24 });
      const alone = await load();
      let wantA: readonly number[];
      let wantB: readonly number[];
      try {
        wantA = await complete(alone, A, 30);
        wantB = await complete(alone, B, 30);
      } finally {
        await alone.dispose();
      }
      const model = await load();
      try {
        expect(model.kvStats().blocks.nBlocks).toBeGreaterThan(16);
        // A needs 3 blocks (up to position 39), B 5 (up to 69): 8, and the runtime gives 6
        const refused = refuseGrowthBeyond(model, 6);
        const [ra, rb] = await Promise.allSettled([complete(model, A, 30), complete(model, B, 30)]);
        expect(ra.status, String(ra.status === 'rejected' ? ra.reason : '')).toBe('fulfilled');
        expect(ra.status === 'fulfilled' ? ra.value : undefined).toEqual(wantA);
        expect(rb.status, String(rb.status === 'rejected' ? rb.reason : '')).toBe('fulfilled');
        expect(rb.status === 'fulfilled' ? rb.value : undefined).toEqual(wantB);
        expect(refused.refusals()).toBeGreaterThan(0);
        expect(model.kvStats().preemptions).toBeGreaterThan(0);
        expect(model.kvStats().blocks.used).toBe(0);
        expect(model.kvStats().blocks.allocated).toBeLessThanOrEqual(6);
        // the model goes on serving within the memory it has
        expect(await complete(model, A.slice(0, 5), 4)).toHaveLength(4);
      } finally {
        await model.dispose();
      }
    }, 120_000);
  }

  it('in the server (parallel 2): both requests get their whole answer (one waits, preempted), none a 503', async () => {
    const path = await quickModel('bitnet-b1.58', 'i2_s');
    const model = await BitNet.load(path, { backend: 'wasm', threads: 2, contextLength: 128, kvMemory: 1 << 24 });
    try {
      const post = (app: ReturnType<typeof createServerApp>, prompt: readonly number[]): Promise<Response> =>
        app.fetch(new Request('http://localhost/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt, max_tokens: 30, temperature: 0 }) }));
      const alone = createServerApp(model, { parallel: 2 });
      const text = async (r: Response): Promise<string> => ((await r.json()) as { choices: { text: string }[] }).choices[0].text;
      const wantA = await text(await post(alone, A));
      const wantB = await text(await post(alone, B));
      await alone.close();
      // a fresh model: nothing cached, no memory taken yet
      const fresh = await BitNet.load(path, { backend: 'wasm', threads: 2, contextLength: 128, kvMemory: 1 << 24 });
      try {
        refuseGrowthBeyond(fresh, 6);
        const app = createServerApp(fresh, { parallel: 2 });
        const [ra, rb] = await Promise.all([post(app, A), post(app, B)]);
        expect(ra.status).toBe(200);
        expect(rb.status).toBe(200);
        expect(await text(ra)).toBe(wantA);
        expect(await text(rb)).toBe(wantB);
        expect(fresh.kvStats().preemptions).toBeGreaterThan(0);
        await app.close();
      } finally {
        await fresh.dispose();
      }
    } finally {
      await model.dispose();
    }
  });
});

interface RefPool {
  allocatedBlocks: number;
  blockSize: number;
  kvDim: number;
  keys: Uint16Array[];
  values: Uint16Array[];
  homes: { rollback: (allocated: number, isNew: (home: number) => boolean) => void };
}

/**
 * Gives the model's (reference) backend a settleKvGrowth as a GPU's: growths past `limit` blocks are refused a timer
 * turn after they were made, and undone (homes given back, planes cut back to what the pool held before).
 * `onSettle` runs while the answer is pending.
 */
function refuseLaterBeyond(model: BitNet, limit: number, onSettle: () => void = () => undefined): { refusals: () => number; settles: () => number } {
  const pool = (model as unknown as { scheduler: { pool: RefPool } }).scheduler.pool;
  let held = pool.allocatedBlocks;
  let refusals = 0;
  let settles = 0;
  Object.assign(model.backend, {
    settleKvGrowth: async (p: KvPool): Promise<void> => {
      expect(p).toBe(pool);
      settles++;
      onSettle();
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (pool.allocatedBlocks <= limit) {
        held = pool.allocatedBlocks;
        return;
      }
      refusals++;
      const from = held;
      pool.homes.rollback(from, (h) => h >= from);
      const values = from * pool.blockSize * pool.kvDim;
      for (const planes of [pool.keys, pool.values]) for (let l = 0; l < planes.length; l++) planes[l] = planes[l].slice(0, values);
      throw new BitNetError('KV_CACHE_FULL', `injected: the device refused KV memory past ${limit} blocks`);
    },
  });
  return { refusals: () => refusals, settles: () => settles };
}

describe('a KV memory growth refused later (settleKvGrowth, as a GPU device reports it)', () => {
  const path = (): Promise<string> => quickModel('bitnet-b1.58', 'i2_s');
  const load = async (): Promise<BitNet> => BitNet.load(await path(), { backend: 'reference', contextLength: 128, kvMemory: 1 << 24 });
  const A2 = A.slice(0, 10); // with 20 tokens: positions 0..28, 2 blocks
  const B4 = Array.from({ length: 30 }, (_, i) => 700 + i * 5); // with 20 tokens: positions 0..48, 4 blocks

  it('the sequence refused waits for blocks with memory, and both give their tokens alone; the model goes on within the memory it has', async () => {
    const alone = await load();
    let wantA: readonly number[];
    let wantB: readonly number[];
    try {
      wantA = await complete(alone, A2, 20);
      wantB = await complete(alone, B4, 20);
    } finally {
      await alone.dispose();
    }
    const model = await load();
    try {
      const refused = refuseLaterBeyond(model, 4);
      const [ra, rb] = await Promise.allSettled([complete(model, A2, 20), complete(model, B4, 20)]);
      expect(ra.status, String(ra.status === 'rejected' ? ra.reason : '')).toBe('fulfilled');
      expect(ra.status === 'fulfilled' ? ra.value : undefined).toEqual(wantA);
      expect(rb.status, String(rb.status === 'rejected' ? rb.reason : '')).toBe('fulfilled');
      expect(rb.status === 'fulfilled' ? rb.value : undefined).toEqual(wantB);
      expect(refused.refusals()).toBeGreaterThan(0);
      expect(model.kvStats().blocks.allocated).toBe(4);
      expect(model.kvStats().blocks.used).toBe(0);
      expect(await complete(model, B4, 20)).toEqual(wantB);
      // more than the memory given: KV_CACHE_FULL, with the refusal's message; the pool stays at its memory
      let err: unknown;
      await complete(model, Array.from({ length: 70 }, (_, i) => 300 + i), 2).catch((e: unknown) => (err = e));
      expect(isBitNetError(err, 'KV_CACHE_FULL') && err.message).toMatch(/injected: the device refused/);
      expect(model.kvStats().blocks.allocated).toBe(4);
      expect(await complete(model, A2, 20)).toEqual(wantA);
    } finally {
      await model.dispose();
    }
  }, 120_000);

  for (const answer of ['granted', 'refused'] as const) {
    it(`a sequence freed while its growth waits for the device's answer (${answer}): its generation ends DISPOSED, no block is left held, the model goes on`, async () => {
      const model = await load();
      try {
        let victim: Sequence | undefined;
        const refused = refuseLaterBeyond(model, answer === 'granted' ? 1000 : 0, () => victim?.free());
        victim = model.createSequence();
        let err: unknown;
        await victim.complete(B4, { ...GREEDY, maxTokens: 4 }).catch((e: unknown) => (err = e));
        expect(isBitNetError(err, 'DISPOSED'), String(err)).toBe(true);
        expect(refused.settles()).toBeGreaterThan(0);
        expect(model.kvStats().blocks.used).toBe(0);
        // granted, the memory stays the pool's; refused, it was given back
        if (answer === 'granted') expect(model.kvStats().blocks.allocated).toBeGreaterThan(0);
        else expect(model.kvStats().blocks.allocated).toBe(0);
        victim = undefined;
        if (answer === 'granted') expect(await complete(model, A2, 4)).toHaveLength(4);
      } finally {
        await model.dispose();
      }
    }, 120_000);
  }
});
