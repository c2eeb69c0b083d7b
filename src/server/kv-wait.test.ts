// The server under KV pressure (parallel mode on the real engine, a KV budget of a few blocks): concurrent streams
// wait instead of failing (with eager admission, the default, preempted and computed again, the preemptions in
// /metrics; with kvAdmission 'reserve' before they start, none preempted), each answer is the one the request gets alone; a prompt the whole
// KV cache could never hold gets a 400 before any stream starts.

import { describe, expect, it } from 'vitest';
import { loadWithKvBlocks } from '../../test/helpers/kv-budget-model.js';
import { BitNet } from '../engine/bitnet.js';
import { createServerApp } from './app.js';

const BASE = 'http://localhost';
const BLOCKS = 6;

function completion(prompt: readonly number[], stream: boolean, seed?: number): Request {
  const sampling = seed === undefined ? { temperature: 0 } : { temperature: 0.8, top_k: 40, seed, frequency_penalty: 0.3 };
  return new Request(`${BASE}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', prompt, max_tokens: 24, stream, ...sampling }),
  });
}

/** The text of a completion answer: one JSON body, or an event stream's chunks (which must end with [DONE]). */
async function text(r: Response): Promise<string> {
  expect(r.status).toBe(200);
  if (!(r.headers.get('content-type') ?? '').startsWith('text/event-stream')) return ((await r.json()) as { choices: { text: string }[] }).choices[0].text;
  const events = (await r.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
  expect(events.at(-1)).toBe('[DONE]');
  let out = '';
  for (const e of events.slice(0, -1)) {
    const chunk = JSON.parse(e) as { choices?: { text: string }[]; error?: unknown };
    expect(chunk.error).toBeUndefined();
    out += chunk.choices?.[0]?.text ?? '';
  }
  return out;
}

function load(): Promise<BitNet> {
  // eager admission (the default, named here), so that requests are preempted ('reserve' keeps them waiting before they start)
  return loadWithKvBlocks(BLOCKS, { kvAdmission: 'eager' });
}

describe('the server when the KV budget binds', () => {
  it('5 concurrent requests over a cache of 6 blocks (each needs 2-3) all answer as alone, greedy and seeded; preemptions in /metrics', async () => {
    const model = await load();
    try {
      const prompts = [8, 25, 14, 11, 20].map((n, k) => Array.from({ length: n }, (_, i) => 30 + ((i * 71 + k * 409) % 2900)));
      const seeds = [undefined, 11, undefined, 12, 13];
      const alone = createServerApp(model, { parallel: 4 });
      const want: string[] = [];
      for (let i = 0; i < prompts.length; i++) want.push(await text(await alone.fetch(completion(prompts[i], false, seeds[i]))));
      await alone.close();
      expect(model.kvStats().preemptions).toBe(0);

      const app = createServerApp(model, { parallel: 4 });
      const got = await Promise.all(prompts.map(async (p, i) => text(await app.fetch(completion(p, i % 2 === 0, seeds[i])))));
      expect(got).toEqual(want);
      const metrics = await (await app.fetch(new Request(`${BASE}/metrics`))).text();
      const preemptions = Number(/^bitnet_kv_preemptions_total (\d+)$/m.exec(metrics)?.[1]);
      expect(preemptions).toBeGreaterThan(0);
      expect(preemptions).toBe(model.kvStats().preemptions);
      expect(metrics).toMatch(/^bitnet_http_requests_total\{route="\/v1\/completions",status="200"\} 5$/m);
      expect(model.kvStats().blocks.used).toBe(0);
      await app.close();
    } finally {
      await model.dispose();
    }
  }, 30_000);

  it("with kvAdmission 'reserve' (serve --kv-admission reserve) the same 5 requests answer as alone, none preempted (they wait before they start instead)", async () => {
    const model = await loadWithKvBlocks(BLOCKS, { kvAdmission: 'reserve' });
    try {
      const prompts = [8, 25, 14, 11, 20].map((n, k) => Array.from({ length: n }, (_, i) => 30 + ((i * 71 + k * 409) % 2900)));
      const seeds = [undefined, 11, undefined, 12, 13];
      const alone = createServerApp(model, { parallel: 1 });
      const want: string[] = [];
      for (let i = 0; i < prompts.length; i++) want.push(await text(await alone.fetch(completion(prompts[i], false, seeds[i]))));
      await alone.close();
      const app = createServerApp(model, { parallel: 4 });
      const got = await Promise.all(prompts.map(async (p, i) => text(await app.fetch(completion(p, i % 2 === 0, seeds[i])))));
      expect(got).toEqual(want);
      const metrics = await (await app.fetch(new Request(`${BASE}/metrics`))).text();
      expect(metrics).toMatch(/^bitnet_kv_preemptions_total 0$/m);
      expect(model.kvStats().blocks.used).toBe(0);
      await app.close();
    } finally {
      await model.dispose();
    }
  }, 30_000);

  it('a prompt larger than the whole KV cache gets 400 context_length_exceeded before any stream starts; one that fits answers, capped by the cache', async () => {
    const model = await load();
    try {
      const app = createServerApp(model, { parallel: 2 });
      const long = Array.from({ length: BLOCKS * 16 }, (_, i) => 40 + i);
      for (const stream of [true, false]) {
        const r = await app.fetch(completion(long, stream));
        expect(r.status).toBe(400);
        expect(r.headers.get('content-type')).toContain('application/json');
        const body = (await r.json()) as { error: { code: string; param: string; message: string } };
        expect(body.error.code).toBe('context_length_exceeded');
        expect(body.error.param).toBe('prompt');
        expect(body.error.message).toContain('KV cache');
      }
      const chat = await app.fetch(
        new Request(`${BASE}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: Array.from({ length: 120 }, (_, i) => `w${i}`).join(' ') }], max_tokens: 2, stream: true }),
        }),
      );
      expect(chat.status).toBe(400);
      expect(((await chat.json()) as { error: { param: string } }).error.param).toBe('messages');
      expect(model.kvStats().forwardTokens).toBe(0);
      // one token short of the cache: it streams, its completion capped by the cache as by the context (finish: length)
      const r = await app.fetch(completion(long.slice(0, BLOCKS * 16 - 1), false));
      const body = (await r.json()) as { choices: { finish_reason: string }[]; usage: { completion_tokens: number } };
      expect([r.status, body.choices[0].finish_reason, body.usage.completion_tokens]).toEqual([200, 'length', 1]);
      await app.close();
    } finally {
      await model.dispose();
    }
  }, 30_000);
});
