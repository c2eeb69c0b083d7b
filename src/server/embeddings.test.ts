// POST /v1/embeddings: the real engine (tiny synthetic model, reference backend) through app.fetch and through the
// openai client against a listening server; the queue it shares with generations; cancellation; errors.

import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeModel } from '../../test/server/fake-model.js';
import { tinyModel } from '../../test/helpers/tiny-models.js';
import { BitNet } from '../engine/bitnet.js';
import type { EmbedOptions, EmbedResult, LoadedModel } from '../engine/types.js';
import { createServerApp, type ServerApp } from './app.js';
import { listen, type RunningServer } from './node.js';
import { float32Base64 } from './routes/embeddings.js';

const BASE = 'http://bitnet.test';
let model: BitNet;
let app: ServerApp;

beforeAll(async () => {
  model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
  app = createServerApp(model, { maxQueue: 4, modelId: 'tiny' });
});
afterAll(async () => {
  await app?.close();
  await model?.dispose();
});

function post(a: ServerApp, body: unknown, signal?: AbortSignal): Promise<Response> {
  return a.fetch(new Request(`${BASE}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal === undefined ? {} : { signal }) }));
}

interface EmbeddingsJson {
  object: string;
  data: { object: string; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

function fromBase64(s: string): Float32Array {
  const bin = atob(s);
  const view = new DataView(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) view.setUint8(i, bin.charCodeAt(i));
  return Float32Array.from({ length: bin.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

async function expectError(res: Response, status: number, param: string | null, code?: string): Promise<void> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
  expect(body.error.type).toBe('invalid_request_error');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error.param).toBe(param);
  if (code !== undefined) expect(body.error.code).toBe(code);
}

describe('POST /v1/embeddings', () => {
  it('answers OpenAI\'s shape with the engine\'s embeddings, for one text, many texts and token ids', async () => {
    const texts = ['Hello world', 'The quick brown fox'];
    const want = await model.embed(texts);
    const res = await post(app, { model: 'x', input: texts });
    expect(res.status).toBe(200);
    const body = (await res.json()) as EmbeddingsJson;
    expect(body).toEqual({
      object: 'list',
      data: want.embeddings.map((e, index) => ({ object: 'embedding', index, embedding: Array.from(e) })),
      model: 'tiny',
      usage: { prompt_tokens: want.usage.promptTokens, total_tokens: want.usage.totalTokens },
    });
    expect(body.data[0].embedding).toHaveLength(model.info.embeddingLength);

    const one = (await (await post(app, { input: texts[1] })).json()) as EmbeddingsJson;
    expect(one.data).toEqual([{ ...body.data[1], index: 0 }]);
    const ids = model.tokenize(texts[1]);
    const byIds = (await (await post(app, { input: ids })).json()) as EmbeddingsJson;
    expect(byIds.data).toEqual(one.data);
    const byIdLists = (await (await post(app, { input: texts.map((t) => model.tokenize(t)), dimensions: model.info.embeddingLength })).json()) as EmbeddingsJson;
    expect(byIdLists.data).toEqual(body.data);
  });

  it('base64 is the little-endian float32 bytes of the float result', async () => {
    const float = (await (await post(app, { input: ['a b c', 'd'] })).json()) as EmbeddingsJson;
    const b64 = (await (await post(app, { input: ['a b c', 'd'], encoding_format: 'base64' })).json()) as EmbeddingsJson;
    for (const i of [0, 1]) {
      const s = b64.data[i].embedding;
      if (typeof s !== 'string') throw new Error('expected a base64 string');
      expect(Array.from(fromBase64(s))).toEqual(float.data[i].embedding);
    }
    expect(float32Base64(Float32Array.of(1, -2.5))).toBe('AACAPwAAIMA='); // 1.0 = 00 00 80 3f, -2.5 = 00 00 20 c0
  });

  it('refuses bad input with 400 in OpenAI\'s error shape', async () => {
    const ctx = model.info.contextLength;
    await expectError(await post(app, {}), 400, 'input');
    await expectError(await post(app, { input: [] }), 400, 'input');
    await expectError(await post(app, { input: [[]] }), 400, 'input[0]');
    await expectError(await post(app, { input: '' }), 400, 'input', 'invalid_value');
    await expectError(await post(app, { input: ['ok', ''] }), 400, 'input[1]', 'invalid_value');
    await expectError(await post(app, { input: [1, 'a'] }), 400, 'input');
    await expectError(await post(app, { input: [model.info.vocabSize] }), 400, 'input', 'invalid_value');
    await expectError(await post(app, { input: [new Array<number>(ctx + 1).fill(1)] }), 400, 'input[0]', 'context_length_exceeded');
    await expectError(await post(app, { input: 'x', dimensions: model.info.embeddingLength - 1 }), 400, 'dimensions', 'invalid_value');
    await expectError(await post(app, { input: 'x', encoding_format: 'int8' }), 400, 'encoding_format');
    const get = await app.fetch(new Request(`${BASE}/v1/embeddings`));
    expect(get.status).toBe(405);
  });

  it('the openai client against a listening server gets the right shape (its default base64, decoded, and float)', async () => {
    let server: RunningServer | undefined;
    try {
      server = await listen(app, { port: 0 });
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 60_000 });
      const want = await model.embed(['one', 'two three']);
      const got = await client.embeddings.create({ model: 'tiny', input: ['one', 'two three'] });
      expect(got.object).toBe('list');
      expect(got.model).toBe('tiny');
      expect(got.usage).toEqual({ prompt_tokens: want.usage.promptTokens, total_tokens: want.usage.totalTokens });
      expect(got.data.map((d) => [d.object, d.index, d.embedding])).toEqual(want.embeddings.map((e, i) => ['embedding', i, Array.from(e)]));
      const float = await client.embeddings.create({ model: 'tiny', input: 'one', encoding_format: 'float' });
      expect(float.data[0].embedding).toEqual(Array.from(want.embeddings[0]));
      await expect(client.embeddings.create({ model: 'tiny', input: '' })).rejects.toMatchObject({ status: 400, param: 'input' });
    } finally {
      await server?.close();
    }
  });
});

/** A model whose embed runs until its signal fires, recording that it saw the abort. */
class BlockingEmbedModel extends FakeModel {
  started = 0;
  sawAbort = 0;
  override embed(inputs: string | readonly string[] | readonly (readonly number[])[], options: EmbedOptions = {}): Promise<EmbedResult> {
    this.started++;
    const signal = options.signal;
    return new Promise((_, reject) => {
      signal?.addEventListener('abort', () => {
        this.sawAbort++;
        reject(new DOMException('aborted', 'AbortError'));
      });
    });
  }
}

describe('POST /v1/embeddings and the queue', () => {
  it('waits in the generations\' queue: refused with 429 when it is full', async () => {
    const fake = new FakeModel({ tokenDelayMs: 20, reply: Array.from({ length: 50 }, () => ' w') });
    const a = createServerApp(fake as LoadedModel, { maxQueue: 0 });
    try {
      const gen = a.fetch(new Request(`${BASE}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hi', max_tokens: 50 }) }));
      await new Promise((r) => setTimeout(r, 30));
      expect(a.queue.running).toBe(1);
      const busy = await post(a, { input: 'x' });
      expect(busy.status).toBe(429);
      expect((await gen).status).toBe(200);
      const ok = await post(a, { input: 'x' });
      expect(ok.status).toBe(200);
    } finally {
      await a.close();
    }
  });

  it('a client that disconnects aborts the running embedding and frees its place', async () => {
    const blocking = new BlockingEmbedModel();
    const a = createServerApp(blocking, { maxQueue: 1 });
    try {
      const ac = new AbortController();
      const res = post(a, { input: 'x' }, ac.signal);
      await new Promise((r) => setTimeout(r, 20));
      expect(blocking.started).toBe(1);
      expect(a.queue.running).toBe(1);
      ac.abort();
      expect((await res).status).toBe(499);
      expect(blocking.sawAbort).toBe(1);
      expect(a.queue.running).toBe(0);
    } finally {
      await a.close();
    }
  });
});
