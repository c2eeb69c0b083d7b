// The server on the real engine: a tiny synthetic BitNet b1.58 model (reference backend) behind a listening server, driven by the openai client.

import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BitNet } from '../engine/bitnet.js';
import type { ChatMessage, CompletionResult, EmbedOptions, EmbedResult, GeneratedPiece, GenerateOptions, LoadedModel } from '../engine/types.js';
import { synthesizeModel } from '../synth/synthesize.js';
import { createServerApp, type ServerApp } from './app.js';
import { listen, type RunningServer } from './node.js';

const dir = mkdtempSync(join(tmpdir(), 'bitnet-server-test-'));
let model: BitNet;
let counting: CountingModel;
let app: ServerApp;
let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
  const path = join(dir, 'tiny.gguf');
  await synthesizeModel({ shape: 'tiny', arch: 'bitnet-b1.58', weightType: 'i2_s', embedType: 'q8_0', seed: 7, path });
  model = await BitNet.load(path, { backend: 'reference' });
  counting = new CountingModel(model);
  app = createServerApp(counting, { maxQueue: 4 });
  server = await listen(app, { port: 0 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 60_000 });
});

afterAll(async () => {
  await server?.close();
  await model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const messages = [{ role: 'user' as const, content: 'Say something.' }];

/** What one generation did, seen from outside the engine: pieces it produced, and how many when its signal fired. */
interface GenerationRecord {
  produced: number;
  producedAtAbort: number | null;
  abortedAtMs: number | null;
  endedAtMs: number | null;
  /** The engine's own finish reason, or null when the consumer stopped iterating first. */
  finish: string | null;
}

/**
 * The real model behind a thin recorder: every piece the engine yields is counted, so a test can
 * tell how many tokens the engine computed after the server aborted the generation.
 */
class CountingModel implements LoadedModel {
  readonly records: GenerationRecord[] = [];
  constructor(private readonly inner: LoadedModel) {}
  get info(): LoadedModel['info'] {
    return this.inner.info;
  }
  get pending(): number {
    return this.inner.pending;
  }
  generate(prompt: string | readonly number[], options: GenerateOptions = {}): AsyncIterable<GeneratedPiece> {
    return this.#record(this.inner.generate(prompt, options), options.signal);
  }
  chat(msgs: readonly ChatMessage[], options: GenerateOptions = {}): AsyncIterable<GeneratedPiece> {
    return this.#record(this.inner.chat(msgs, options), options.signal);
  }
  complete(prompt: string | readonly number[], options?: GenerateOptions): Promise<CompletionResult> {
    return this.inner.complete(prompt, options);
  }
  chatComplete(msgs: readonly ChatMessage[], options?: GenerateOptions): Promise<CompletionResult> {
    return this.inner.chatComplete(msgs, options);
  }
  renderChat(msgs: readonly ChatMessage[]): string {
    return this.inner.renderChat(msgs);
  }
  embed(inputs: string | readonly string[] | readonly (readonly number[])[], options?: EmbedOptions): Promise<EmbedResult> {
    return this.inner.embed(inputs, options);
  }
  tokenize(text: string, options?: { addBos?: boolean; parseSpecial?: boolean }): number[] {
    return this.inner.tokenize(text, options);
  }
  detokenize(ids: readonly number[]): string {
    return this.inner.detokenize(ids);
  }
  dispose(): Promise<void> {
    return this.inner.dispose();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.inner.dispose();
  }
  async *#record(pieces: AsyncIterable<GeneratedPiece>, signal: AbortSignal | undefined): AsyncGenerator<GeneratedPiece> {
    const rec: GenerationRecord = { produced: 0, producedAtAbort: null, abortedAtMs: null, endedAtMs: null, finish: null };
    this.records.push(rec);
    const onAbort = (): void => {
      rec.producedAtAbort = rec.produced;
      rec.abortedAtMs = performance.now();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const piece of pieces) {
        rec.produced += piece.tokenIds.length;
        if (piece.finish !== undefined) rec.finish = piece.finish.reason;
        yield piece;
      }
    } finally {
      rec.endedAtMs = performance.now();
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

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

  it('response_format json_schema: the content parses and follows the schema; an unsupported schema is a 400', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, rank: { type: 'integer' } }, required: ['city', 'rank'], additionalProperties: false };
    const r = await client.chat.completions.create({
      model: 'm',
      messages,
      max_tokens: 40,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'place', schema, strict: true } },
    });
    const content = r.choices[0]?.message.content ?? '';
    const v = JSON.parse(content) as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['city', 'rank']);
    expect(typeof v.city).toBe('string');
    expect(Number.isInteger(v.rank)).toBe(true);
    expect(r.choices[0]?.finish_reason).toBe('stop');
    const err: unknown = await client.chat.completions
      .create({ model: 'm', messages, max_tokens: 5, response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'string', format: 'email' } } } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/'format' is not supported/);
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

  it('a client that disconnects mid-stream stops the engine within one token and frees the model for the next request', async () => {
    const maxTokens = 200;
    const nBefore = counting.records.length;
    const cancelledBefore = app.metrics.snapshot().cancelled.client;
    // a raw HTTP client, so "disconnect" is exactly a socket being destroyed
    const hungUp = new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let chunks = 0;
        res.on('data', (d: Buffer) => {
          chunks += d.toString('utf8').split('data: ').length - 1;
          if (chunks >= 3) {
            req.destroy();
            resolve();
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', () => undefined);
      req.on('close', () => resolve());
      req.end(JSON.stringify({ prompt: [1, 2, 3], max_tokens: maxTokens, temperature: 0.8, seed: 1, stream: true }));
      setTimeout(() => reject(new Error('no stream data within 30 s')), 30_000).unref();
    });
    await hungUp;
    const rec = counting.records[nBefore];
    const t0 = Date.now();
    while (rec.endedAtMs === null && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 5));
    expect(rec.finish).toBeNull(); // it did not run to an end of its own (EOS or max_tokens)
    expect(rec.producedAtAbort).not.toBeNull();
    expect(rec.produced - (rec.producedAtAbort ?? 0)).toBeLessThanOrEqual(1);
    expect(rec.produced).toBeLessThan(maxTokens);
    // the model is free at once: the next request runs, nothing waits behind the dead one
    const r = await client.completions.create({ model: 'm', prompt: 'Once', max_tokens: 2, temperature: 0 });
    expect(r.choices[0].finish_reason).toBeDefined();
    expect(counting.records[nBefore + 1].finish).not.toBeNull();
    expect(app.metrics.snapshot().cancelled.client).toBe(cancelledBefore + 1);
    expect(app.queue.running).toBe(0);
    expect(model.pending).toBe(0);
  });
});
