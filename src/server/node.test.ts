// End-to-end tests: the official `openai` client against a real listening server on 127.0.0.1 (ephemeral port), FakeModel behind it.

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import OpenAI from 'openai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeModel } from '../../test/server/fake-model.js';
import { createServerApp, type ServerApp, type ServerOptions } from './app.js';
import { listen, type RunningServer } from './node.js';

const running: RunningServer[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
  vi.restoreAllMocks();
});

async function start(model: FakeModel, opts: ServerOptions = {}): Promise<{ server: RunningServer; app: ServerApp; client: OpenAI }> {
  const app = createServerApp(model, opts);
  await app.ready;
  const server = await listen(app, { port: 0, closeGraceMs: 500 });
  running.push(server);
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: opts.apiKey ?? 'unused', maxRetries: 0, timeout: 20_000 });
  return { server, app, client };
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Opens a raw connection and sends a request head that promises `declaredBytes` of body plus `sentBody` of it. */
async function partialRequest(port: number, path: string, declaredBytes: number, sentBody: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined); // a reset from our own destroy() is expected
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${declaredBytes}\r\n\r\n${sentBody}`);
  return socket;
}

/** Everything the server sends on `socket` until it closes the connection. */
function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.on('close', () => resolve(text));
  });
}

describe('openai client against a listening server', () => {
  it('binds 127.0.0.1 by default and reports the real port', async () => {
    const { server } = await start(new FakeModel());
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
  });

  it('chat, non-streaming', async () => {
    const model = new FakeModel();
    const { client } = await start(model);
    const r = await client.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: 'Hi' }], temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0].message.content).toBe(model.reply.join(''));
    expect(r.choices[0].finish_reason).toBe('stop');
    expect(r.usage?.completion_tokens).toBe(model.reply.length);
    expect(r.usage?.total_tokens).toBe((r.usage?.prompt_tokens ?? 0) + model.reply.length);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['fake-bitnet']);
  });

  it('chat, streaming with include_usage', async () => {
    const model = new FakeModel();
    const { client } = await start(model);
    const stream = await client.chat.completions.create({
      model: 'fake',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let role: string | undefined;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let nChunks = 0;
    for await (const chunk of stream) {
      nChunks++;
      expect(chunk.object).toBe('chat.completion.chunk');
      if (chunk.choices.length > 0) {
        role ??= chunk.choices[0].delta.role;
        text += chunk.choices[0].delta.content ?? '';
        finish = chunk.choices[0].finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(role).toBe('assistant');
    expect(text).toBe(model.reply.join(''));
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(model.reply.length);
    expect(nChunks).toBe(model.reply.length + 3); // role, pieces, finish, usage
  });

  it('completions, non-streaming and streaming', async () => {
    const model = new FakeModel();
    const { client } = await start(model);
    const r = await client.completions.create({ model: 'fake', prompt: 'Once upon', max_tokens: 4 });
    expect(r.object).toBe('text_completion');
    expect(r.choices[0].text).toBe(model.reply.slice(0, 4).join(''));
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.usage).toEqual({ prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });

    const stream = await client.completions.create({
      model: 'fake',
      prompt: 'Once upon',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 100,
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(model.reply.join(''));
    expect(usage?.completion_tokens).toBe(model.reply.length);
  });

  it('aborting mid-stream cancels the generation within one token', async () => {
    const model = new FakeModel({ tokenDelayMs: 10, reply: Array.from({ length: 1000 }, (_, i) => ` w${i}`) });
    const { client, app } = await start(model);
    const ac = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'fake', messages: [{ role: 'user', content: 'Hi' }], stream: true },
      { signal: ac.signal },
    );
    let pieces = 0;
    // The SDK ends the iteration (or throws an abort error, depending on timing) once aborted.
    await (async () => {
      for await (const chunk of stream) {
        if ((chunk.choices[0]?.delta.content ?? '') !== '') pieces++;
        if (pieces === 5) ac.abort();
      }
    })().catch(() => undefined);
    expect(pieces).toBe(5);
    await until(() => model.calls[0].done);
    const call = model.calls[0];
    expect(call.producedAtAbortEvent).not.toBeNull();
    expect(call.producedTokens - (call.producedAtAbortEvent ?? 0)).toBeLessThanOrEqual(1);
    expect(call.producedTokens).toBeLessThan(50);
    await until(() => app.queue.running === 0);
    expect(app.metrics.snapshot().cancelled.client).toBe(1);
  });

  it('wrong api key -> AuthenticationError; right key works', async () => {
    const model = new FakeModel();
    const { server } = await start(model, { apiKey: 'right-key' });
    const bad = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'wrong-key', maxRetries: 0 });
    await expect(bad.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const good = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'right-key', maxRetries: 0 });
    expect((await good.models.list()).data).toHaveLength(1);
  });

  it('a full queue surfaces as RateLimitError with Retry-After; bad requests as BadRequestError with param', async () => {
    const model = new FakeModel({ tokenDelayMs: 10, reply: Array.from({ length: 100 }, () => ' x') });
    const { client, app } = await start(model, { maxQueue: 0, retryAfterS: 2 });
    const ac = new AbortController();
    const first = client.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: 'Hi' }] }, { signal: ac.signal });
    first.catch(() => undefined);
    await until(() => app.queue.running === 1);
    const err: unknown = await client.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('2');
    ac.abort();
    await until(() => app.queue.running === 0);
    const bad: unknown = await client.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: 'Hi' }], n: 2 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('n');
  });

  it('a reader that stops reading is disconnected after the stall timeout, quietly, and others get served', async () => {
    const errorSpy = vi.spyOn(console, 'error');
    const infoSpy = vi.spyOn(console, 'info');
    const big = 'y'.repeat(16 * 1024);
    // 4000 x 16 KiB = 64 MiB, far beyond what loopback socket buffers absorb (a few MiB); the context must allow all
    // 4000 tokens, else max_tokens is clamped to it (256 x 16 KiB = 4 MiB fit the buffers and the stall never comes)
    const model = new FakeModel({ reply: Array.from({ length: 4000 }, () => big), contextLength: 8192 });
    const { server, app, client } = await start(model, { streamStallTimeoutMs: 200, streamBufferBytes: 16 * 1024 });
    let paused: IncomingMessage | undefined;
    let bytesRead = 0;
    const ended = new Promise<string>((resolve) => {
      const req = httpRequest(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.pause(); // stop reading the body: the socket's buffers fill up, then ours
        paused = res;
        res.on('data', (d: Buffer) => (bytesRead += d.length));
        res.on('end', () => resolve('end'));
        res.on('error', () => resolve('error'));
      });
      req.on('error', () => resolve('error'));
      req.end(JSON.stringify({ prompt: 'p', stream: true, max_tokens: 4000 }));
    });
    await until(() => app.metrics.snapshot().cancelled.stall === 1, 10_000);
    await until(() => model.calls[0].done);
    expect(model.calls[0].producedTokens).toBeLessThan(4000);
    // reading again shows the connection was dropped: what was in flight arrives, then an abort, no clean end
    paused?.resume();
    expect(await ended).toBe('error');
    expect(bytesRead).toBeLessThan(4000 * big.length);
    const r = await client.completions.create({ model: 'fake', prompt: 'q', max_tokens: 1 });
    expect(r.choices[0].text).toBe(big);
    expect(errorSpy).not.toHaveBeenCalled();
    expect(infoSpy).not.toHaveBeenCalled();
  });

  it('clients that send part of a body and hang up are counted as client aborts, not internal errors, and the server keeps serving', async () => {
    const errorSpy = vi.spyOn(console, 'error');
    const infoSpy = vi.spyOn(console, 'info');
    const internal: unknown[] = [];
    const aborts: string[] = [];
    const { server, app, client } = await start(new FakeModel(), {
      onInternalError: (e) => internal.push(e),
      onClientAbort: (phase) => aborts.push(phase),
    });
    const fetchSpy = vi.spyOn(app, 'fetch');
    const n = 40;
    const sockets = await Promise.all(
      Array.from({ length: n }, () => partialRequest(server.port, '/v1/chat/completions', 500, '{"messages": [{"role": "us')),
    );
    // every request reached the app and is waiting for the rest of its body: now hang up
    await until(() => fetchSpy.mock.calls.length === n);
    for (const s of sockets) s.destroy();
    // each one was answered (to nobody): wait for all n, whatever their status
    const answered = (): number =>
      Object.entries(app.metrics.snapshot().requests)
        .filter(([key]) => key.startsWith('/v1/chat/completions '))
        .reduce((sum, [, count]) => sum + count, 0);
    await until(() => answered() === n);
    expect(internal).toEqual([]);
    expect(app.metrics.snapshot().requests).toEqual({ '/v1/chat/completions 499': n });
    expect(app.metrics.snapshot().clientAborts).toEqual({ body: n, generation: 0 });
    expect(aborts).toEqual(Array.from({ length: n }, () => 'body'));
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toContain(`bitnet_client_aborts_total{phase="body"} ${n}`);
    const r = await client.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: 'Hi' }] });
    expect(r.choices[0].finish_reason).toBe('stop');
    expect(app.queue.running).toBe(0);
    expect(errorSpy).not.toHaveBeenCalled();
    expect(infoSpy).not.toHaveBeenCalled();
  });

  it('a body that does not arrive within bodyTimeoutMs gets 408 and never holds the generation slot', async () => {
    const internal: unknown[] = [];
    const { server, app, client } = await start(new FakeModel(), { bodyTimeoutMs: 300, maxQueue: 0, onInternalError: (e) => internal.push(e) });
    const socket = await partialRequest(server.port, '/v1/completions', 100_000, '{"prompt": ');
    const answer = readAll(socket);
    // keep trickling bytes: a slow sender, not an idle one, must be cut too
    const trickle = setInterval(() => socket.writable && socket.write(' '), 50);
    const t0 = Date.now();
    try {
      // while it dribbles, the one generation slot (and no queue) serves others
      const r = await client.completions.create({ model: 'fake', prompt: 'q', max_tokens: 2 });
      expect(r.choices[0].text).toBe('Hello from');
      const text = await answer;
      const elapsed = Date.now() - t0;
      expect(text).toMatch(/^HTTP\/1\.1 408 /);
      expect(text).toContain('request_timeout');
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(5000);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
    expect(internal).toEqual([]);
    expect(app.metrics.snapshot().bodyTimeouts).toBe(1);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toContain('bitnet_request_body_timeouts_total 1');
    expect(app.queue.running).toBe(0);
  });

  it('a client that hangs up mid-stream is counted as a client abort in the generation phase, not an internal error', async () => {
    const model = new FakeModel({ tokenDelayMs: 5, reply: Array.from({ length: 1000 }, () => ' w') });
    const internal: unknown[] = [];
    const aborts: string[] = [];
    const { server, app } = await start(model, { onInternalError: (e) => internal.push(e), onClientAbort: (phase) => aborts.push(phase) });
    const body = JSON.stringify({ prompt: 'p', stream: true, max_tokens: 1000 });
    const socket = await partialRequest(server.port, '/v1/completions', Buffer.byteLength(body), body);
    await until(() => (model.calls[0]?.producedTokens ?? 0) >= 3);
    socket.destroy();
    await until(() => model.calls[0].done && app.queue.running === 0);
    expect(model.calls[0].producedTokens).toBeLessThan(1000);
    expect(aborts).toEqual(['generation']);
    expect(internal).toEqual([]);
    expect(app.metrics.snapshot().clientAborts).toEqual({ body: 0, generation: 1 });
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toContain('bitnet_client_aborts_total{phase="generation"} 1');
  });

  it('close() ends open streams and stops the listener', async () => {
    const model = new FakeModel({ tokenDelayMs: 10, reply: Array.from({ length: 1000 }, () => ' z') });
    const app = createServerApp(model);
    const server = await listen(app, { port: 0, closeGraceMs: 500 });
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    const consumed = (async () => {
      for await (const _ of stream) {
        // keep reading until the server ends the stream
      }
    })().then(
      () => new Error('the stream ended without an error'),
      (e: unknown) => e,
    );
    await until(() => (model.calls[0]?.producedTokens ?? 0) >= 3);
    await server.close();
    const ended = await consumed;
    expect(ended).toBeInstanceOf(OpenAI.APIError);
    expect((ended as Error).message).toMatch(/shutting down/);
    expect(model.calls[0].done).toBe(true);
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
  });
});
