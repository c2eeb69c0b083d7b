// A refused KV memory growth (kernels/kv-growth.ts: the runtime will not give the pool more memory) is a full KV cache
// like any other: the sequence that needed a new block takes the blocks (with memory) of a later one, which is
// preempted and computed again once blocks are free (engine/scheduler.ts), so both give the tokens they give alone.
// The refusal is injected into the pool's growth on the reference and wasm backends.

import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import type { GenerateOptions } from '../src/engine/types.js';
import { BitNetError } from '../src/errors.js';
import { createServerApp } from '../src/server/app.js';
import { tinyModel } from './helpers/tiny-models.js';

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
      const path = await tinyModel('bitnet-b1.58', 'i2_s');
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
    const path = await tinyModel('bitnet-b1.58', 'i2_s');
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
