// Tests of `bitnet serve` through runServe: listen URL, health while loading, clean shutdown, load failure (FakeModel loader).

import { connect } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { FakeModel } from '../../../test/server/fake-model.js';
import { tinyModel } from '../../../test/helpers/tiny-models.js';
import { BitNet } from '../../engine/bitnet.js';
import type { LoadedModel } from '../../engine/types.js';
import { clientAbortSummary } from '../client-abort-summary.js';
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

  it('logs a burst of clients that hang up mid-body as one summary line, with no internal error or stack trace', async () => {
    const h = harness(async () => new FakeModel());
    const url = await h.url();
    await until(() => h.logged.some((l) => l.startsWith('model ready')));
    const port = Number(new URL(url).port);
    const n = 50;
    await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<void>((resolve) => {
            const socket = connect(port, '127.0.0.1', () => {
              socket.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"prompt": "par');
              // hang up once the server has had time to start reading the body
              setTimeout(() => {
                socket.destroy();
                resolve();
              }, 50);
            });
            socket.on('error', () => undefined);
          }),
      ),
    );
    const metrics = async (): Promise<string> => (await fetch(`${url}/metrics`)).text();
    const t0 = Date.now();
    while (!(await metrics()).includes(`bitnet_client_aborts_total{phase="body"} ${n}`)) {
      if (Date.now() - t0 > 5000) throw new Error(`aborts not counted: ${await metrics()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    h.ac.abort();
    await h.done;
    expect(h.logged.filter((l) => l.includes('internal error'))).toEqual([]);
    expect(h.logged.filter((l) => /\n\s+at /.test(l))).toEqual([]);
    const summary = h.logged.filter((l) => l.includes('closed the connection early'));
    expect(summary).toEqual([`${n} clients closed the connection early (${n} while sending the request body, 0 while queued or answered); counted in /metrics as bitnet_client_aborts_total`]);
  });

  it('the abort summary logs one line per window and nothing when there was nothing', () => {
    vi.useFakeTimers();
    try {
      const lines: string[] = [];
      const s = clientAbortSummary((l) => lines.push(l), 1000);
      s.flush();
      expect(lines).toEqual([]);
      for (let i = 0; i < 800; i++) s.record('body');
      s.record('generation');
      vi.advanceTimersByTime(999);
      expect(lines).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^801 clients closed the connection early \(800 while sending the request body, 1 while queued or answered\)/);
      s.record('generation');
      s.flush();
      expect(lines[1]).toMatch(/^1 client closed the connection early \(0 while sending the request body, 1 while queued or answered\)/);
      vi.advanceTimersByTime(5000);
      expect(lines).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('rejects bad flags before listening', async () => {
    const base = { signal: new AbortController().signal, loadModel: async () => new FakeModel(), log: () => undefined, print: () => undefined, env: {} };
    await expect(runServe({ port: '70000' }, base)).rejects.toThrow(/--port/);
    await expect(runServe({ port: 'x' }, base)).rejects.toThrow(/--port/);
    await expect(runServe({ port: '0', maxQueue: '-1' }, base)).rejects.toThrow(/--max-queue/);
    await expect(runServe({ port: '0', apiKey: '' }, base)).rejects.toThrow(/--api-key/);
    await expect(runServe({ port: '0', drainTimeout: '-1' }, base)).rejects.toThrow(/--drain-timeout: expected seconds in 0\.\.86400/);
    await expect(runServe({ port: '0', drainTimeout: 'soon' }, base)).rejects.toThrow(/--drain-timeout/);
    await expect(runServe({ port: '0', kvMemory: 'lots' }, base)).rejects.toThrow(/--kv-memory: expected a size/);
    await expect(runServe({ port: '0', kvMemory: '0' }, base)).rejects.toThrow(/--kv-memory/);
    await expect(runServe({ port: '0', parallel: '0' }, base)).rejects.toThrow(/--parallel: expected 1\.\.64/);
    await expect(runServe({ port: '0', parallel: '65' }, base)).rejects.toThrow(/--parallel/);
    await expect(runServe({ port: '0', kvAdmission: 'lazy' }, base)).rejects.toThrow(/--kv-admission: expected eager or reserve, got "lazy"/);
  });

  it('without --parallel, serves as many requests at once as full contexts fit the free memory (logged, in /readyz), at most 8', async () => {
    const path = await tinyModel('bitnet-b1.58', 'i2_s');
    const plan = await BitNet.plan(path, { contextLength: 64 });
    const beside = plan.memory.weightBytes + plan.memory.activationBytes;
    const serveWith = async (freeBytes: number, flags: ServeFlags = {}): Promise<{ maxRunning: number; logged: string[] }> => {
      const ac = new AbortController();
      const printed: string[] = [];
      const logged: string[] = [];
      const done = runServe({ port: '0', model: path, ctx: '64', backend: 'wasm', threads: '1', ...flags }, { signal: ac.signal, log: (l) => logged.push(l), print: (l) => printed.push(l), env: {}, freeMemoryBytes: () => freeBytes });
      try {
        await until(() => logged.some((l) => l.startsWith('model ready')), 20_000);
        const url = /listening on (http:\/\/\S+) /.exec(printed[0] ?? '')?.[1] ?? '';
        const ready = (await (await fetch(`${url}/readyz`)).json()) as { max_running: number };
        return { maxRunning: ready.max_running, logged };
      } finally {
        ac.abort();
        await done;
      }
    };
    // room for 3 contexts beside the weights (half the free memory), then for 100 (capped at 8)
    const three = await serveWith(beside + 2 * 3 * plan.memory.kvBytes + 1000);
    expect(three.maxRunning).toBe(3);
    expect(three.logged.join('\n')).toMatch(/serving 3 request\(s\) at once \(half the free memory beside the weights holds 3 64-token contexts; --parallel sets it\)/);
    expect(three.logged.find((l) => l.startsWith('model ready'))).toMatch(/parallel 3 \(/);
    const many = await serveWith(beside + 2 * 100 * plan.memory.kvBytes);
    expect(many.maxRunning).toBe(8);
    expect(many.logged.join('\n')).toMatch(/capped at 8, the sequences one forward step batches/);
    // the flag wins
    expect((await serveWith(beside + 2 * 100 * plan.memory.kvBytes, { parallel: '2' })).maxRunning).toBe(2);
  }, 60_000);
});
