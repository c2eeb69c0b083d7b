// Tests of `bitnet serve` through runServe: listen URL, health while loading, clean shutdown, load failure (FakeModel loader).

import { describe, expect, it } from 'vitest';
import { FakeModel } from '../../../test/server/fake-model.js';
import type { LoadedModel } from '../../engine/types.js';
import { runServe, type ServeFlags } from './serve.js';

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function harness(loadModel: () => Promise<LoadedModel>, flags: ServeFlags = {}) {
  const ac = new AbortController();
  const printed: string[] = [];
  const logged: string[] = [];
  const done = runServe(
    { port: '0', ...flags },
    { signal: ac.signal, loadModel, log: (l) => logged.push(l), print: (l) => printed.push(l), env: {} },
  );
  const url = async (): Promise<string> => {
    await until(() => printed.length > 0);
    const m = /listening on (http:\/\/\S+) /.exec(printed[0]);
    if (m === null) throw new Error(`no URL in ${printed[0]}`);
    return m[1];
  };
  return { ac, printed, logged, done, url };
}

describe('bitnet serve', () => {
  it('prints a loopback URL, answers 503 while loading and 200 once ready, and shuts down cleanly', async () => {
    const model = new FakeModel({ tokenDelayMs: 10, reply: Array.from({ length: 1000 }, () => ' a') });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const h = harness(async () => {
      await gate;
      return model;
    });
    const url = await h.url();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${url}/health`)).status).toBe(503);
    release();
    await until(() => h.logged.some((l) => l.startsWith('model ready')));
    expect((await fetch(`${url}/health`)).status).toBe(200);

    // a stream in progress when the signal comes is cancelled, then the model is disposed
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    expect(res.status).toBe(200);
    const body = res.text();
    await until(() => (model.calls[0]?.producedTokens ?? 0) >= 2);
    h.ac.abort();
    await h.done;
    expect(await body).toContain('shutting_down');
    expect(model.calls[0].done).toBe(true);
    expect(model.disposed).toBe(true);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  it('requires the api key when given (flag or BITNET_API_KEY)', async () => {
    const model = new FakeModel();
    const h = harness(async () => model, { apiKey: 'k1' });
    const url = await h.url();
    await until(() => h.logged.some((l) => l.startsWith('model ready')));
    expect((await fetch(`${url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer k1' } })).status).toBe(200);
    h.ac.abort();
    await h.done;

    const ac = new AbortController();
    const printed: string[] = [];
    const logged: string[] = [];
    const done = runServe(
      { port: '0' },
      { signal: ac.signal, loadModel: async () => new FakeModel(), log: (l) => logged.push(l), print: (l) => printed.push(l), env: { BITNET_API_KEY: 'k2' } },
    );
    await until(() => logged.some((l) => l.startsWith('model ready')));
    const url2 = /listening on (\S+) /.exec(printed[0])?.[1] ?? '';
    expect((await fetch(`${url2}/v1/models`, { headers: { authorization: 'Bearer k2' } })).status).toBe(200);
    expect((await fetch(`${url2}/v1/models`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    ac.abort();
    await done;
  });

  it('a model that fails to load ends the command with its error and closes the listener', async () => {
    const h = harness(async () => {
      throw new Error('no such model');
    });
    await expect(h.done).rejects.toThrow('no such model');
  });

  it('rejects bad flags before listening', async () => {
    const base = { signal: new AbortController().signal, loadModel: async () => new FakeModel(), log: () => undefined, print: () => undefined, env: {} };
    await expect(runServe({ port: '70000' }, base)).rejects.toThrow(/--port/);
    await expect(runServe({ port: 'x' }, base)).rejects.toThrow(/--port/);
    await expect(runServe({ port: '0', maxQueue: '-1' }, base)).rejects.toThrow(/--max-queue/);
    await expect(runServe({ port: '0', apiKey: '' }, base)).rejects.toThrow(/--api-key/);
  });
});
