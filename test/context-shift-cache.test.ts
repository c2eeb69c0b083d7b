// The prefix cache after a context shift (engine/sequence-state.ts): a shift re-rotates the kept keys, and every token
// after the kept ones has K/V computed over a context a fresh run of the same tokens would not have, so those blocks
// must never be handed out to a sequence holding the same tokens fresh; they are cacheable only for sequences of the
// same lineage (the shifted sequence and its forks), and a sequence rewound to its kept tokens is fresh again.

import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import type { GenerateOptions } from '../src/engine/types.js';
import { quickModel } from './helpers/tiny-models.js';

const GREEDY: GenerateOptions = { sampling: { kind: 'greedy' }, ignoreEos: true };
/** 16-position blocks; a 64-token context shifts at 64 cached tokens. */
const CTX = 64;

/** Token ids with no BOS (so a shift keeps exactly keepTokens). */
function ids(n: number, from: number): number[] {
  return Array.from({ length: n }, (_, i) => 100 + ((from + i * 37) % 3000));
}

async function load(backend: 'reference' | 'wasm'): Promise<BitNet> {
  return BitNet.load(await quickModel('bitnet-b1.58', 'i2_s'), { backend, threads: 2, contextLength: CTX, kvMemory: 1 << 24 });
}

/** Forward positions a call computes (prefix reuse shows as fewer). */
async function counted<T>(model: BitNet, fn: () => Promise<T>): Promise<{ value: T; computed: number }> {
  const f0 = model.kvStats().forwardTokens;
  const value = await fn();
  return { value, computed: model.kvStats().forwardTokens - f0 };
}

describe('prefix cache after a context shift', () => {
  for (const keepTokens of [0, 19]) {
    it(`wasm, keep ${keepTokens}: shifted blocks are never handed to a fresh sequence with the same tokens; its answer is a fresh model's`, async () => {
      const model = await load('wasm');
      const fresh = await load('wasm');
      try {
        const a = model.createSequence();
        // 20 prompt tokens + 55 generated: the cache reaches 64 and shifts once (keep, drop half the rest)
        await a.complete(ids(20, 1), { ...GREEDY, maxTokens: 55, keepTokens });
        const shifted = [...a.tokens];
        expect(shifted.length).toBeGreaterThanOrEqual(40);
        // a fresh sequence holding the shifted tokens: only the kept full blocks (before the shift point) may be reused
        const prompt = shifted.slice(0, 40);
        const c = model.createSequence();
        const { value: got, computed } = await counted(model, () => c.complete(prompt, { ...GREEDY, maxTokens: 4 }));
        const keptBlocks = Math.floor(keepTokens / 16);
        expect(computed).toBe(40 - 16 * keptBlocks + 3);
        expect(c.lastReceipt()?.compute?.reused_prompt_tokens).toBe(16 * keptBlocks);
        const want = await fresh.createSequence().complete(prompt, { ...GREEDY, maxTokens: 4 });
        expect(got.tokenIds).toEqual(want.tokenIds);
      } finally {
        await model.dispose();
        await fresh.dispose();
      }
    });
  }

  for (const backend of ['reference', 'wasm'] as const) {
    it(`${backend}: after a shift, a fork of the shifted sequence reuses the blocks the shifted one computed (same lineage), with the same answer`, async () => {
      const model = await load(backend);
      try {
        const a = model.createSequence();
        await a.complete(ids(20, 2), { ...GREEDY, maxTokens: 55 }); // shifts once at 64 tokens (keep 0)
        expect(a.tokens.length).toBeGreaterThanOrEqual(32);
        const b = a.fork();
        const y = ids(20, 3);
        const prompt = [...a.tokens.slice(0, 32), ...y];
        const first = await counted(model, () => a.complete(prompt, { ...GREEDY, maxTokens: 3 }));
        expect(first.computed).toBe(20 + 2);
        // b holds the same 32 shifted tokens (shared blocks): it reuses them, then the full block of y that a computed
        const second = await counted(model, () => b.complete(prompt, { ...GREEDY, maxTokens: 3 }));
        expect(second.computed).toBe(20 - 16 + 2);
        expect(b.lastReceipt()?.compute?.reused_prompt_tokens).toBe(32 + 16);
        expect(second.value.tokenIds).toEqual(first.value.tokenIds);
        a.free();
        b.free();
      } finally {
        await model.dispose();
      }
    }, 120_000);
  }

  it('a shifted sequence that recomputes part of its shifted region starts a lineage of its own: its forks never take those blocks', async () => {
    const model = await load('wasm');
    try {
      const a = model.createSequence();
      await a.complete(ids(20, 6), { ...GREEDY, maxTokens: 55 }); // shifts once (keep 0): every block is of its lineage
      const shifted = [...a.tokens];
      const b = a.fork();
      const c = a.fork();
      const y = ids(20, 7);
      const prompt = [...shifted.slice(0, 32), ...y];
      // a goes back to 20 tokens, then computes the same tokens 20..31 again: over its shifted context, unlike the
      // shifted K/V b and c hold for them, so a's later blocks must not serve b or c
      await a.complete([...shifted.slice(0, 20), ...ids(5, 8)], { ...GREEDY, maxTokens: 1 });
      await a.complete(prompt, { ...GREEDY, maxTokens: 3 });
      const fromC = await counted(model, () => c.complete(prompt, { ...GREEDY, maxTokens: 3 }));
      expect(fromC.computed).toBe(20 + 2);
      // b and c are of one lineage: b takes the full block of y that c computed, with c's answer
      const fromB = await counted(model, () => b.complete(prompt, { ...GREEDY, maxTokens: 3 }));
      expect(fromB.computed).toBe(20 - 16 + 2);
      expect(fromB.value.tokenIds).toEqual(fromC.value.tokenIds);
      for (const s of [a, b, c]) s.free();
    } finally {
      await model.dispose();
    }
  });

  it("the model's own sequence, rewound past its shift point by a new prompt, is fresh again: its blocks enter the prefix cache", async () => {
    const model = await load('wasm');
    try {
      await model.complete(ids(20, 4), { ...GREEDY, maxTokens: 55 }); // shifts (keep 0)
      const prompt = ids(37, 5);
      await model.complete(prompt, { ...GREEDY, maxTokens: 4 }); // no common prefix: the cache restarts at 0
      const s = model.createSequence();
      const { computed } = await counted(model, () => s.complete(prompt, { ...GREEDY, maxTokens: 4 }));
      expect(computed).toBe(37 - 32 + 3); // its 2 full blocks come from the prefix cache
      s.free();
    } finally {
      await model.dispose();
    }
  });
});
