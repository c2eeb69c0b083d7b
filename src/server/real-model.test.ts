// The server on the real engine: a tiny synthetic BitNet b1.58 model (reference backend) behind a listening server, driven by the openai client.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BitNet } from '../engine/bitnet.js';
import { synthesizeModel } from '../synth/synthesize.js';
import { createServerApp, type ServerApp } from './app.js';
import { listen, type RunningServer } from './node.js';

const dir = mkdtempSync(join(tmpdir(), 'bitnet-server-test-'));
let model: BitNet;
let app: ServerApp;
let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
  const path = join(dir, 'tiny.gguf');
  await synthesizeModel({ shape: 'tiny', arch: 'bitnet-b1.58', weightType: 'i2_s', embedType: 'q8_0', seed: 7, path });
  model = await BitNet.load(path, { backend: 'reference' });
  app = createServerApp(model, { maxQueue: 4 });
  server = await listen(app, { port: 0 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 60_000 });
});

afterAll(async () => {
  await server?.close();
  await model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const messages = [{ role: 'user' as const, content: 'Say something.' }];

describe('server on a real tiny model', () => {
  it('greedy chat: the server returns exactly what the engine generates, with the engine\'s usage', async () => {
    const direct = await model.chatComplete(messages, { maxTokens: 3, sampling: { kind: 'greedy' } });
    const r = await client.chat.completions.create({ model: 'm', messages, max_tokens: 3, temperature: 0 });
    expect(r.choices[0].message.content).toBe(direct.text);
    expect(r.choices[0].finish_reason).toBe(direct.finishReason === 'length' ? 'length' : 'stop');
    expect(r.usage).toEqual({
      prompt_tokens: direct.usage.promptTokens,
      completion_tokens: direct.usage.completionTokens,
      total_tokens: direct.usage.totalTokens,
    });
    expect(r.model).toBe(model.info.name);
  });

  it('streaming gives the same text as non-streaming, and include_usage reports it', async () => {
    const whole = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 3, temperature: 0 });
    const stream = await client.completions.create({
      model: 'm',
      prompt: 'Once upon a time',
      max_tokens: 3,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(whole.choices[0].text);
    expect(usage).toEqual(whole.usage);
  });

  it('logprobs from the engine come out in OpenAI\'s shape', async () => {
    const r = await client.chat.completions.create({ model: 'm', messages, max_tokens: 2, temperature: 0, logprobs: true, top_logprobs: 2 });
    const content = r.choices[0].logprobs?.content ?? [];
    expect(content).toHaveLength(2);
    for (const t of content) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.top_logprobs).toHaveLength(2);
      // greedy: the chosen token is the most likely one
      expect(t.top_logprobs[0].logprob).toBeCloseTo(t.logprob, 5);
      expect(t.bytes).toEqual(Array.from(new TextEncoder().encode(t.token)));
    }
  });

  it('a prompt longer than the context is a 400 naming the context length', async () => {
    const long = 'word '.repeat(model.info.contextLength + 10);
    const err: unknown = await client.completions.create({ model: 'm', prompt: long, max_tokens: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.code).toBe('context_length_exceeded');
    expect(e.message).toContain(String(model.info.contextLength));
  });

  it('aborting a stream frees the engine for the next request', async () => {
    const ac = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'm', messages, max_tokens: 50, temperature: 0, stream: true },
      { signal: ac.signal },
    );
    const before = app.metrics.snapshot().cancelled.client;
    await (async () => {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content !== undefined && chunk.choices[0].delta.content !== '') ac.abort();
      }
    })().catch(() => undefined);
    const t0 = Date.now();
    const r = await client.chat.completions.create({ model: 'm', messages, max_tokens: 1, temperature: 0 });
    expect(r.choices[0].finish_reason).toBeDefined();
    expect(app.metrics.snapshot().cancelled.client).toBe(before + 1);
    // the aborted generation (50 tokens) did not run to its end first
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(model.pending).toBe(0);
  });
});
