// The server's parallel mode (ServerOptions.parallel) on the real engine: concurrent requests each run on a sequence
// of their own, their decode tokens share forward steps, and every answer is the one the request gets alone.

import { describe, expect, it } from 'vitest';
import { tinyModel } from '../../test/helpers/tiny-models.js';
import { BitNet } from '../engine/bitnet.js';
import { isBitNetError } from '../errors.js';
import { createServerApp } from './app.js';

const BASE = 'http://localhost';

function completion(prompt: string): Request {
  return new Request(`${BASE}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', prompt, max_tokens: 6, temperature: 0 }),
  });
}

describe('ServerOptions.parallel', () => {
  it('runs 4 requests at once in shared steps; each answer equals its answer alone', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'wasm', threads: 2, contextLength: 64, kvMemory: 1 << 24 });
    try {
      const prompts = ['The quick brown fox', 'Once upon a time', 'A B C D E F', 'Hello'];
      const alone = createServerApp(model, { parallel: 1 });
      const want: string[] = [];
      for (const p of prompts) want.push(((await (await alone.fetch(completion(p))).json()) as { choices: { text: string }[] }).choices[0].text);
      await alone.close();

      const app = createServerApp(model, { parallel: 4 });
      const steps0 = model.kvStats().steps;
      const used0 = model.kvStats().blocks.used; // the model's own sequence keeps its cache from the runs alone
      const got = await Promise.all(prompts.map(async (p) => ((await (await app.fetch(completion(p))).json()) as { choices: { text: string }[] }).choices[0].text));
      const steps = model.kvStats().steps - steps0;
      expect(got).toEqual(want);
      // alone: 4 x (1 prefill + 5 decode) = 24 steps
      expect(steps).toBeLessThan(20);
      expect(model.kvStats().blocks.used).toBe(used0); // every request's sequence was freed
      await app.close();
    } finally {
      await model.dispose();
    }
  });

  it('/metrics shows the KV blocks and the forward tokens; a repeated long prompt reuses its cached blocks', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'wasm', threads: 2, contextLength: 128, kvMemory: 1 << 24 });
    try {
      const app = createServerApp(model, { parallel: 2 });
      const metric = async (name: string): Promise<number> => {
        const text = await (await app.fetch(new Request(`${BASE}/metrics`))).text();
        const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
        if (m === null) throw new Error(`${name} is not in /metrics`);
        return Number(m[1]);
      };
      const prompt = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty';
      const t0 = await metric('bitnet_forward_tokens_total');
      await (await app.fetch(completion(prompt))).json();
      const first = (await metric('bitnet_forward_tokens_total')) - t0;
      await (await app.fetch(completion(prompt))).json();
      const second = (await metric('bitnet_forward_tokens_total')) - t0 - first;
      // the second request computes only what its cached full blocks do not hold
      expect(first).toBeGreaterThan(16 + 5);
      expect(second).toBeLessThanOrEqual(first - 16);
      expect(await metric('bitnet_kv_blocks_capacity')).toBe(model.kvStats().blocks.nBlocks);
      const text = await (await app.fetch(new Request(`${BASE}/metrics`))).text();
      for (const state of ['used', 'cached', 'free']) expect(text).toMatch(new RegExp(`^bitnet_kv_blocks\\{state="${state}"\\} \\d+$`, 'm'));
      await app.close();
    } finally {
      await model.dispose();
    }
  });

  it('requests arriving together with a shared system prompt compute its full blocks once: as many forward tokens as one after another', async () => {
    const path = await tinyModel('bitnet-b1.58', 'i2_s');
    const system = Array.from({ length: 60 }, (_, i) => `word${i % 17}`).join(' ');
    const prompts = ['alpha', 'beta gamma', 'delta', 'epsilon zeta eta'].map((q) => `${system}\nQuestion: ${q}`);
    // on a fresh model each time; every request runs on a sequence of its own, so one after another they share the
    // prompt's full blocks through the prefix cache, and together through the in-flight dedup
    let promptTokens = 0;
    const run = async (together: boolean): Promise<{ tokens: number; texts: string[] }> => {
      const model = await BitNet.load(path, { backend: 'wasm', threads: 2, contextLength: 256, kvMemory: 1 << 24 });
      try {
        promptTokens = model.tokenize(prompts[0]).length;
        const app = createServerApp(model, { parallel: 4 });
        const metric = async (): Promise<number> => Number(/^bitnet_forward_tokens_total (\d+)$/m.exec(await (await app.fetch(new Request(`${BASE}/metrics`))).text())?.[1]);
        const t0 = await metric();
        const answer = async (p: string): Promise<string> => ((await (await app.fetch(completion(p))).json()) as { choices: { text: string }[] }).choices[0].text;
        const texts = together ? await Promise.all(prompts.map(answer)) : [];
        if (!together) for (const p of prompts) texts.push(await answer(p));
        const tokens = (await metric()) - t0;
        await app.close();
        return { tokens, texts };
      } finally {
        await model.dispose();
      }
    };
    const apart = await run(false);
    const together = await run(true);
    expect(together.texts).toEqual(apart.texts);
    expect(together.tokens).toBe(apart.tokens);
    // the others take at least the first 4 blocks (64 tokens) of the first one's prompt (without the dedup, together,
    // each would compute all of its own)
    expect(promptTokens).toBeGreaterThan(80);
    expect(apart.tokens).toBeLessThanOrEqual(4 * (promptTokens + 6) - 3 * 64);
  });

  it('refuses a parallel count outside 1..64', () => {
    for (const parallel of [0, 1.5, 65]) {
      let error: unknown;
      try {
        createServerApp(new Promise<never>(() => undefined), { parallel });
      } catch (e) {
        error = e;
      }
      expect(isBitNetError(error, 'BAD_ARGUMENT')).toBe(true);
    }
  });
});
