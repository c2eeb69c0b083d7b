// `bitnet serve` as a container runtime drives it: a real child process on a tiny model, a streaming request, then
// SIGTERM. Readiness must flip at once, new requests get 503 + Retry-After, the running stream either completes
// (within --drain-timeout) or is ended with an error event (past it), and the process exits 0 in bounded time.
//
// The reference backend on one thread decodes the tiny model at ~10 tokens/s on a quiet machine, slow enough that
// a stream is still running when the signal lands (the tests check that it was, from the server's own log line).

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tinyModel } from './helpers/tiny-models.js';

const bin = join(import.meta.dirname, '..', 'bin', 'bitnet.js');

interface Served {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function serve(drainTimeoutS: number): Promise<Served> {
  const model = await tinyModel('bitnet-b1.58', 'i2_s');
  const args = ['serve', '-m', model, '--port', '0', '--backend', 'reference', '-t', '1', '--drain-timeout', String(drainTimeoutS)];
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, atMs: performance.now() }));
  });
  const t0 = Date.now();
  while (!stderr.includes('model ready')) {
    if (child.exitCode !== null) throw new Error(`serve exited early (${child.exitCode}): ${stderr}`);
    if (Date.now() - t0 > 30_000) throw new Error(`serve not ready in 30 s: ${stderr}`);
    await sleep(20);
  }
  const m = /listening on (http:\/\/\S+) /.exec(stdout);
  if (m === null) throw new Error(`no URL printed: ${stdout}`);
  return { child, url: m[1], stderr: () => stderr, exited };
}

/** Opens a streaming completion and returns once its first generated text has arrived. */
async function openStream(url: string, maxTokens: number): Promise<{ rest: Promise<string>; head: string }> {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'Hello', max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  expect(res.status).toBe(200);
  if (res.body === null) throw new Error('no body');
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let head = '';
  while (!/"text":"[^"]+"/.test(head)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`stream ended before its first token: ${head}`);
    head += value;
  }
  const rest = (async () => {
    let all = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return all;
      all += value;
    }
  })();
  return { rest, head };
}

function events(text: string): string[] {
  return text
    .split('\n\n')
    .map((e) => e.trim())
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
}

async function postCompletion(url: string): Promise<Response> {
  return fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'Hi', max_tokens: 2 }),
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('bitnet serve drains on SIGTERM', () => {
  it('flips readiness at once, refuses new requests with 503 + Retry-After, lets the running stream finish, exits 0', async () => {
    const s = await serve(60);
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${s.url}/livez`)).status).toBe(200);

    const maxTokens = 20;
    const stream = await openStream(s.url, maxTokens);
    const tSignal = performance.now();
    s.child.kill('SIGTERM');

    // Readiness goes not-ready as soon as the signal is handled (no token boundary needed: a macrotask at most).
    let ready = await fetch(`${s.url}/readyz`);
    for (let i = 0; ready.status === 200 && i < 100; i++) {
      await sleep(10);
      ready = await fetch(`${s.url}/readyz`);
    }
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { status: string }).status).toBe('draining');
    expect(performance.now() - tSignal).toBeLessThan(2000);

    const refused = await postCompletion(s.url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('shutting_down');
    const health = await fetch(`${s.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'draining' });
    expect((await fetch(`${s.url}/livez`)).status).toBe(200);

    // The stream that was running completes normally: every token, a finish reason, usage, [DONE].
    const all = await stream.rest;
    const evs = events(stream.head + all);
    expect(evs.at(-1)).toBe('[DONE]');
    const usage = evs.map((e) => (e === '[DONE]' ? null : (JSON.parse(e) as { usage?: { completion_tokens: number } | null }).usage)).find((u) => u != null);
    expect(usage?.completion_tokens).toBe(maxTokens);
    expect(evs.some((e) => e.includes('"finish_reason":"length"'))).toBe(true);

    const exit = await s.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.atMs - tSignal).toBeLessThan(60_000);
    // It was still running when the drain began (else this test would prove nothing), and the drain saw it end.
    expect(s.stderr()).toMatch(/draining: new requests get 503, \/readyz is not ready; 1 accepted generation\(s\) may run for up to 60 s/);
    expect(s.stderr()).toMatch(/drained in \d+\.\d s/);
    expect(s.stderr()).toContain('stopped');
  });

  it('ends a stream that outlives --drain-timeout with an error event and still exits 0 soon after the deadline', async () => {
    const drainS = 1;
    const s = await serve(drainS);
    const maxTokens = 240; // ~24 s at the reference backend's pace: far past the deadline
    const stream = await openStream(s.url, maxTokens);
    const tSignal = performance.now();
    s.child.kill('SIGTERM');

    const evs = events(stream.head + (await stream.rest));
    const exit = await s.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    const elapsedMs = exit.atMs - tSignal;
    expect(elapsedMs).toBeGreaterThanOrEqual(drainS * 1000 - 50);
    expect(elapsedMs).toBeLessThan(drainS * 1000 + 10_000);

    // The stream got tokens, then one error event instead of a finish and [DONE].
    expect(evs.filter((e) => e.includes('"text"')).length).toBeGreaterThan(0);
    expect(evs).not.toContain('[DONE]');
    const last = JSON.parse(evs.at(-1) ?? '{}') as { error?: { code: string; message: string } };
    expect(last.error?.code).toBe('shutting_down');
    expect(evs.some((e) => e.includes('"finish_reason":"length"'))).toBe(false);
    expect(s.stderr()).toMatch(/1 accepted generation\(s\) may run for up to 1 s/);
    expect(s.stderr()).toContain('drain deadline of 1 s reached: 1 generation(s) cut');
  });

  it('a second signal during a drain cuts it short', async () => {
    const s = await serve(60);
    const stream = await openStream(s.url, 240);
    const tSignal = performance.now();
    s.child.kill('SIGTERM');
    const t0 = Date.now();
    while (!s.stderr().includes('draining:')) {
      if (Date.now() - t0 > 5000) throw new Error(`no drain: ${s.stderr()}`);
      await sleep(10);
    }
    s.child.kill('SIGINT');
    const evs = events(stream.head + (await stream.rest));
    const exit = await s.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.atMs - tSignal).toBeLessThan(6000); // the stream alone would take ~24 s
    expect(JSON.parse(evs.at(-1) ?? '{}')).toMatchObject({ error: { code: 'shutting_down' } });
    expect(s.stderr()).toMatch(/drain cut short by a second signal after \d+\.\d s/);
  });
});
