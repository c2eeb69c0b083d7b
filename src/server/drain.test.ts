// Readiness, liveness and drain at the handler level (app.fetch against the FakeModel): what a load balancer sees.
// The same behaviour through a real `bitnet serve` process and SIGTERM is in test/serve-drain.test.ts.

import { afterEach, describe, expect, it } from 'vitest';
import { FakeModel } from '../../test/server/fake-model.js';
import type { LoadedModel } from '../engine/types.js';
import { createServerApp, type ServerApp, type ServerOptions } from './app.js';

const BASE = 'http://bitnet.test';
const apps: ServerApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function makeApp(model: LoadedModel | Promise<LoadedModel>, opts: ServerOptions = {}): ServerApp {
  const app = createServerApp(model, opts);
  apps.push(app);
  return app;
}

const get = (app: ServerApp, path: string): Promise<Response> => app.fetch(new Request(BASE + path));
const complete = (app: ServerApp, extra: Record<string, unknown> = {}): Promise<Response> =>
  app.fetch(
    new Request(`${BASE}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'q', max_tokens: 50, ...extra }),
    }),
  );

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

const words = (n: number): string[] => Array.from({ length: n }, (_, i) => ` w${i}`);

describe('liveness and readiness', () => {
  it('/livez answers 200 in every state; /readyz only once the model is loaded', async () => {
    let resolve: (m: LoadedModel) => void = () => undefined;
    const app = makeApp(new Promise<LoadedModel>((r) => (resolve = r)));
    expect((await get(app, '/livez')).status).toBe(200);
    const loading = await get(app, '/readyz');
    expect(loading.status).toBe(503);
    expect(await loading.json()).toMatchObject({ status: 'loading' });
    expect((await get(app, '/health')).status).toBe(503);
    resolve(new FakeModel());
    await app.ready;
    const ready = await get(app, '/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', running: 0, waiting: 0, max_running: 1, max_waiting: 16 });
    expect(await (await get(app, '/health')).json()).toEqual({ status: 'ok' });
  });

  it('/readyz says busy (503) while a new generation would be refused, ready again when a place frees up', async () => {
    const model = new FakeModel({ tokenDelayMs: 5, reply: words(40) });
    const app = makeApp(model, { maxQueue: 1 });
    await app.ready;
    const first = complete(app);
    await until(() => app.queue.running === 1);
    expect((await get(app, '/readyz')).status).toBe(200); // the wait queue has room
    const second = complete(app);
    await until(() => app.queue.waiting === 1);
    const busy = await get(app, '/readyz');
    expect(busy.status).toBe(503);
    expect(await busy.json()).toEqual({ status: 'busy', running: 1, waiting: 1, max_running: 1, max_waiting: 1 });
    expect((await complete(app)).status).toBe(429); // what readiness predicted
    expect((await get(app, '/health')).status).toBe(200); // the older check only says the model is up
    expect((await first).status).toBe(200);
    await until(() => app.queue.waiting === 0);
    expect((await get(app, '/readyz')).status).toBe(200);
    expect((await second).status).toBe(200);
  });
});

describe('drain', () => {
  it('refuses new work at once with 503 + Retry-After, lets running and queued generations finish, then closes', async () => {
    const model = new FakeModel({ tokenDelayMs: 3, reply: words(30) });
    const app = makeApp(model, { maxQueue: 4, retryAfterS: 7 });
    await app.ready;
    const streaming = await complete(app, { stream: true });
    const queued = complete(app);
    await until(() => app.queue.waiting === 1 && (model.calls[0]?.producedTokens ?? 0) >= 2);

    const drained = app.drain(10_000);
    expect(app.state).toBe('draining');
    const ready = await get(app, '/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'draining' });
    expect(await (await get(app, '/health')).json()).toEqual({ status: 'draining' });
    expect((await get(app, '/livez')).status).toBe(200);
    for (const res of [await complete(app), await get(app, '/v1/models')]) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('7');
      expect(res.headers.get('connection')).toBe('close');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('shutting_down');
    }
    expect((await get(app, '/metrics')).status).toBe(200);

    const text = await streaming.text();
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(text).toContain('"finish_reason":"stop"');
    const q = await queued;
    expect(q.status).toBe(200);
    expect(((await q.json()) as { choices: { text: string }[] }).choices[0].text).toBe(words(30).join(''));
    const r = await drained;
    expect(r.cut).toBe(0);
    expect(app.state).toBe('closed');
    expect(model.calls.map((c) => c.done)).toEqual([true, true]);
    expect(app.metrics.snapshot().cancelled.shutdown).toBe(0);
  });

  it('at the deadline aborts what is left: streams end with an error event, waiting requests get 503', async () => {
    const model = new FakeModel({ tokenDelayMs: 5, reply: words(2000) });
    const app = makeApp(model, { maxQueue: 4 });
    await app.ready;
    const streaming = await complete(app, { stream: true, max_tokens: 2000 });
    const queued = complete(app);
    await until(() => app.queue.waiting === 1 && (model.calls[0]?.producedTokens ?? 0) >= 2);
    const t0 = Date.now();
    const r = await app.drain(100);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
    expect(r.cut).toBe(2);
    const events = (await streaming.text()).split('\n\n').filter((e) => e.startsWith('data: '));
    expect(events.at(-1)).toContain('"code":"shutting_down"');
    expect(events).not.toContain('data: [DONE]');
    expect((await queued).status).toBe(503);
    expect(model.calls[0].producedTokens).toBeLessThan(2000);
    expect(app.metrics.snapshot().cancelled.shutdown).toBe(2);
  });

  it('drain while the model loads closes without waiting for it; a second drain returns the same result', async () => {
    const app = makeApp(new Promise<LoadedModel>(() => undefined));
    const first = app.drain(5000);
    expect(app.drain(0)).toBe(first);
    expect((await get(app, '/readyz')).status).toBe(503);
    expect((await first).cut).toBe(0);
    expect(app.state).toBe('closed');
  });
});
