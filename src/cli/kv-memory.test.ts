import { describe, expect, it } from 'vitest';
import { tinyModel } from '../../test/helpers/tiny-models.js';
import { BitNet } from '../engine/bitnet.js';
import { isBitNetError } from '../errors.js';
import { WASM_MEMORY_MAX_BYTES } from '../kernels/wasm/index.js';
import { defaultKvBudget, serveMemory, serveSizing, sizeFromFlag, type ServeMemory } from './kv-memory.js';

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

const MiB = 2 ** 20;
const GiB = 2 ** 30;
/** A 2B-4T-like model (4096-token context: 315 MB of KV; 1.2 GB of weights) on a machine with `freeBytes` free. */
function figures(freeBytes: number, over: Partial<ServeMemory> = {}): ServeMemory {
  return { perContextBytes: 300 * MiB, contextLength: 4096, weightBytes: 1200 * MiB, hostBytes: 0, activationBytes: 100 * MiB, freeBytes, wasm: false, maxBatchSequences: 8, ...over };
}

describe('serve sizing: --parallel and --kv-memory defaults from memory', () => {
  it('parallel is the full contexts that half the free memory beside the weights holds', () => {
    // (4 GiB - 1.3 GiB) / 2 = 1.35 GiB: 4 contexts of 300 MiB
    const s = serveSizing(figures(4 * GiB), {});
    expect(s.parallel).toBe(4);
    expect(s.kv).toEqual({ bytes: 4 * 300 * MiB, why: '4 x 4096-token contexts' });
    expect(s.parallelWhy).toBe('half the free memory beside the weights holds 4 4096-token contexts');
    // (2 GiB - 1.3 GiB) / 2 = 360 MiB: one
    expect(serveSizing(figures(2 * GiB), {}).parallel).toBe(1);
  });

  it('is capped at the sequences one forward step batches (maxBatchSequences), and never below 1', () => {
    const big = serveSizing(figures(256 * GiB), {});
    expect(big.parallel).toBe(8);
    expect(big.kv.bytes).toBe(8 * 300 * MiB);
    expect(big.parallelWhy).toMatch(/holds \d+ 4096-token contexts; capped at 8, the sequences one forward step batches/);
    expect(serveSizing(figures(256 * GiB, { maxBatchSequences: 3 }), {}).parallel).toBe(3);
    // less free memory than the weights: one request, one context (the least a load takes)
    const tiny = serveSizing(figures(1 * GiB), {});
    expect(tiny.parallel).toBe(1);
    expect(tiny.kv).toEqual({ bytes: 300 * MiB, why: 'one context (the least a load takes)' });
    expect(tiny.parallelWhy).toMatch(/less than one 4096-token context/);
  });

  it('on wasm the 4 GiB memory beside the weights caps the budget', () => {
    const s = serveSizing(figures(256 * GiB, { wasm: true, perContextBytes: 600 * MiB }), {});
    const wasmRoom = WASM_MEMORY_MAX_BYTES - 1300 * MiB - 64 * MiB;
    expect(s.parallel).toBe(Math.floor(wasmRoom / (600 * MiB)));
    expect(s.parallel).toBeLessThan(8);
    expect(s.parallelWhy).toMatch(/^the 4 GiB wasm memory beside the weights holds/);
    expect(s.kv.bytes).toBe(s.parallel * 600 * MiB);
  });

  it('an untied token embedding (host memory) counts against the free memory, not against the wasm memory', () => {
    // (4 GiB - 1.3 GiB - 0.6 GiB) / 2 = 1.05 GiB: 3 contexts of 300 MiB, where 4 fit without it
    expect(serveSizing(figures(4 * GiB, { hostBytes: 600 * MiB }), {}).parallel).toBe(3);
    const withHost = serveSizing(figures(256 * GiB, { wasm: true, perContextBytes: 600 * MiB, hostBytes: 1024 * MiB }), {});
    const without = serveSizing(figures(256 * GiB, { wasm: true, perContextBytes: 600 * MiB }), {});
    expect(withHost).toEqual(without);
  });

  it('flags win: --parallel sets the count (the budget follows it); --kv-memory sets the budget (the count follows it)', () => {
    const p = serveSizing(figures(256 * GiB), { parallel: 12 });
    expect(p).toEqual({ parallel: 12, parallelWhy: '--parallel', kv: { bytes: 12 * 300 * MiB, why: '12 x 4096-token contexts' } });
    const k = serveSizing(figures(256 * GiB), { kvMemory: 1000 * MiB });
    expect(k.parallel).toBe(3);
    expect(k.kv).toEqual({ bytes: 1000 * MiB, why: '--kv-memory' });
    expect(k.parallelWhy).toBe('--kv-memory holds 3 4096-token contexts');
    expect(serveSizing(figures(256 * GiB), { kvMemory: 10 * MiB }).parallel).toBe(1);
    expect(serveSizing(figures(256 * GiB), { kvMemory: 10 * MiB, parallel: 2 })).toEqual({ parallel: 2, parallelWhy: '--parallel', kv: { bytes: 10 * MiB, why: '--kv-memory' } });
  });

  it("reads the figures from the model's header", async () => {
    const path = await tinyModel('bitnet-b1.58', 'i2_s');
    const plan = await BitNet.plan(path, { contextLength: 64 });
    const m = await serveMemory(path, { contextLength: 64, backend: 'wasm' }, 5 * GiB);
    expect(m).toEqual({
      perContextBytes: plan.memory.kvBytes,
      contextLength: 64,
      weightBytes: plan.memory.weightBytes,
      hostBytes: 0,
      activationBytes: plan.memory.activationBytes,
      freeBytes: 5 * GiB,
      wasm: true,
      maxBatchSequences: 8,
    });
    expect((await serveMemory(path, { backend: 'reference', maxBatchSequences: 2 }, 1)).maxBatchSequences).toBe(2);
  });
});
