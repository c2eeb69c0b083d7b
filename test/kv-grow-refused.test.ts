// A refused KV memory growth (kernels/kv-growth.ts: the runtime will not give the pool more memory) fails only the
// sequence that needed a new block, with KV_CACHE_FULL; the others in the same steps go on with the tokens they give
// alone, taking blocks that have memory (freed ones, idle prefix-cache ones). The refusal is injected into the pool's
// growth on the reference and wasm backends.

import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import type { GenerateOptions } from '../src/engine/types.js';
import { BitNetError, isBitNetError } from '../src/errors.js';
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
    it(`${backend}: fails only the sequence that needed the block; the other keeps its tokens, reusing memory that is free`, async () => {
      const path = await tinyModel('bitnet-b1.58', 'i2_s');
      const load = (): Promise<BitNet> => BitNet.load(path, { backend, threads: 2, contextLength: 128, kvMemory: 1 << 24 });
      const alone = await load();
      let wantB: readonly number[];
      try {
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
        expect(ra.status).toBe('rejected');
        expect(isBitNetError(ra.status === 'rejected' ? ra.reason : undefined, 'KV_CACHE_FULL')).toBe(true);
        // B went on in the steps after, and took A's freed (idle cached) blocks for its last one
        expect(rb.status).toBe('fulfilled');
        expect(rb.status === 'fulfilled' ? rb.value : undefined).toEqual(wantB);
        expect(refused.refusals()).toBeGreaterThan(0);
        expect(model.kvStats().blocks.allocated).toBeLessThanOrEqual(6);
        // the model goes on serving within the memory it has
        expect(await complete(model, A.slice(0, 5), 4)).toHaveLength(4);
      } finally {
        await model.dispose();
      }
    }, 120_000);
  }

  it('in the server (parallel 2): the request that needed the block gets 503 kv_cache_full, the other its whole answer', async () => {
    const path = await tinyModel('bitnet-b1.58', 'i2_s');
    const model = await BitNet.load(path, { backend: 'wasm', threads: 2, contextLength: 128, kvMemory: 1 << 24 });
    try {
      const post = (app: ReturnType<typeof createServerApp>, prompt: readonly number[]): Promise<Response> =>
        app.fetch(new Request('http://localhost/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt, max_tokens: 30, temperature: 0 }) }));
      const alone = createServerApp(model, { parallel: 2 });
      const wantB = ((await (await post(alone, B)).json()) as { choices: { text: string }[] }).choices[0].text;
      await alone.close();
      // a fresh model: nothing cached, no memory taken yet
      const fresh = await BitNet.load(path, { backend: 'wasm', threads: 2, contextLength: 128, kvMemory: 1 << 24 });
      try {
        refuseGrowthBeyond(fresh, 6);
        const app = createServerApp(fresh, { parallel: 2 });
        const [ra, rb] = await Promise.all([post(app, A), post(app, B)]);
        expect(ra.status).toBe(503);
        expect(((await ra.json()) as { error: { code: string } }).error.code).toBe('kv_cache_full');
        expect(ra.headers.get('retry-after')).toBe('1');
        expect(rb.status).toBe(200);
        expect(((await rb.json()) as { choices: { text: string }[] }).choices[0].text).toBe(wantB);
        await app.close();
      } finally {
        await fresh.dispose();
      }
    } finally {
      await model.dispose();
    }
  });
});
