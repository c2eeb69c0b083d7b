import { describe, expect, it } from 'vitest';
import { tinyModel } from '../../test/helpers/tiny-models.js';
import { BitNet } from '../engine/bitnet.js';
import { isBitNetError } from '../errors.js';
import { defaultKvBudget, sizeFromFlag } from './kv-memory.js';

describe('--kv-memory', () => {
  it('reads sizes with binary suffixes and refuses the rest', () => {
    expect(sizeFromFlag('kv-memory', '1048576')).toBe(1048576);
    expect(sizeFromFlag('kv-memory', '512M')).toBe(512 * 2 ** 20);
    expect(sizeFromFlag('kv-memory', '2g')).toBe(2 * 2 ** 30);
    expect(sizeFromFlag('kv-memory', '1.5GiB')).toBe(1.5 * 2 ** 30);
    expect(sizeFromFlag('kv-memory', '64kb')).toBe(64 * 1024);
    expect(sizeFromFlag('kv-memory', undefined)).toBeUndefined();
    for (const bad of ['', 'lots', '-5M', '0', '3T', '1e9']) {
      let error: unknown;
      try {
        sizeFromFlag('kv-memory', bad);
      } catch (e) {
        error = e;
      }
      expect(isBitNetError(error, 'BAD_ARGUMENT'), bad).toBe(true);
    }
  });

  it('defaults to a context per parallel request, at least one context', async () => {
    const path = await tinyModel('bitnet-b1.58', 'i2_s');
    const one = (await BitNet.plan(path, { contextLength: 64 })).memory.kvBytes;
    expect(await defaultKvBudget(path, { contextLength: 64 }, 4)).toEqual({ bytes: 4 * one, why: '4 x 64-token contexts' });
    expect((await defaultKvBudget(path, { contextLength: 64 }, 1)).bytes).toBe(one);
    // the budget a model loads with holds that many contexts' blocks
    const model = await BitNet.load(path, { backend: 'wasm', threads: 1, contextLength: 64, kvMemory: 4 * one });
    try {
      expect(model.kvStats().blocks.nBlocks).toBe(4 * (64 / model.kvStats().blockSize));
    } finally {
      await model.dispose();
    }
  });
});
