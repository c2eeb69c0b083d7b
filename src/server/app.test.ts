// Handler-level tests of the OpenAI-compatible app: request -> response through app.fetch, against the FakeModel test double.

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

function post(path: string, body: unknown, init: { headers?: Record<string, string>; signal?: AbortSignal } = {}): Request {
  return new Request(BASE + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(init.signal !== undefined ? { signal: init.signal } : {}),
  });
}

const chatBody = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'whatever',
  messages: [{ role: 'user', content: 'Hi' }],
  ...extra,
});

interface ErrorJson {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function expectError(res: Response, status: number, param?: string | null): Promise<ErrorJson> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/json');
  const body = (await res.json()) as ErrorJson;
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.error.type).toBe('string');
  expect(body.error.message).not.toMatch(/\n\s+at /); // no stack traces
  if (param !== undefined) expect(body.error.param).toBe(param);
  return body;
}

/** Parses an SSE body into its `data:` payloads (strings). */
function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      expect(block.startsWith('data: ')).toBe(true);
      return block.slice('data: '.length);
    });
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('health, models, metrics', () => {
  it('/health is 503 while the model loads, 200 once ready, 503 after close', async () => {
    let resolve: (m: LoadedModel) => void = () => undefined;
    const loading = new Promise<LoadedModel>((r) => (resolve = r));
    const app = makeApp(loading);
    const r1 = await app.fetch(new Request(`${BASE}/health`));
    expect(r1.status).toBe(503);
    expect(await r1.json()).toEqual({ status: 'loading' });
    const r1b = await app.fetch(post('/v1/chat/completions', chatBody()));
    await expectError(r1b, 503);
    expect(r1b.headers.get('retry-after')).toBe('1');
    resolve(new FakeModel());
    await app.ready;
    const r2 = await app.fetch(new Request(`${BASE}/health`));
    expect(r2.status).toBe(200);
    expect(await r2.json()).toEqual({ status: 'ok' });
    await app.close();
    expect((await app.fetch(new Request(`${BASE}/health`))).status).toBe(503);
    await expectError(await app.fetch(post('/v1/completions', { prompt: 'x' })), 503);
  });

  it('a model that fails to load keeps /health at 503', async () => {
    const app = makeApp(Promise.reject(new Error('boom')));
    await expect(app.ready).rejects.toThrow('boom');
    const r = await app.fetch(new Request(`${BASE}/health`));
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ status: 'failed' });
  });

  it('answers in the same tick as creation when given a loaded model, or a promise that has already settled', async () => {
    const loadedApp = makeApp(new FakeModel());
    expect(loadedApp.state).toBe('ready');
    const r1 = await loadedApp.fetch(post('/v1/chat/completions', chatBody()));
    expect(r1.status).toBe(200);
    const settledApp = makeApp(Promise.resolve(new FakeModel()));
    const [health, r2] = await Promise.all([
      settledApp.fetch(new Request(`${BASE}/health`)),
      settledApp.fetch(post('/v1/completions', { prompt: 'x', max_tokens: 1 })),
    ]);
    expect(health.status).toBe(200);
    expect(r2.status).toBe(200);
    const failedApp = makeApp(Promise.reject(new Error('boom')));
    const r3 = await failedApp.fetch(new Request(`${BASE}/health`));
    expect(await r3.json()).toEqual({ status: 'failed' });
  });

  it('/v1/models lists the one model; /v1/models/:id finds it or 404s', async () => {
    const app = makeApp(new FakeModel({ name: 'tiny-b1.58' }));
    await app.ready;
    const r = await app.fetch(new Request(`${BASE}/v1/models`));
    expect(r.status).toBe(200);
    const body = (await r.json()) as { object: string; data: { id: string; object: string; owned_by: string }[] };
    expect(body.object).toBe('list');
    expect(body.data.map((d) => d.id)).toEqual(['tiny-b1.58']);
    expect(body.data[0].object).toBe('model');
    expect((await app.fetch(new Request(`${BASE}/v1/models/tiny-b1.58`))).status).toBe(200);
    await expectError(await app.fetch(new Request(`${BASE}/v1/models/gpt-4`)), 404, 'model');
  });

  it('/metrics counts requests by route and status, tokens, and time to first token', async () => {
    const model = new FakeModel();
    const app = makeApp(model);
    await app.ready;
    await app.fetch(post('/v1/chat/completions', chatBody()));
    await app.fetch(post('/v1/chat/completions', chatBody({ n: 3 })));
    await app.fetch(new Request(`${BASE}/nope`));
    const r = await app.fetch(new Request(`${BASE}/metrics`));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/plain');
    const text = await r.text();
    expect(text).toContain('bitnet_http_requests_total{route="/v1/chat/completions",status="200"} 1');
    expect(text).toContain('bitnet_http_requests_total{route="/v1/chat/completions",status="400"} 1');
    expect(text).toContain('bitnet_http_requests_total{route="other",status="404"} 1');
    const promptTokens = model.tokenize(model.renderChat([{ role: 'user', content: 'Hi' }])).length;
    expect(text).toContain(`bitnet_prompt_tokens_total ${promptTokens}`);
    expect(text).toContain(`bitnet_completion_tokens_total ${model.reply.length}`);
    expect(text).toContain('bitnet_queue_depth 0');
    expect(text).toContain('bitnet_time_to_first_token_seconds_count 1');
    expect(text).toMatch(/bitnet_last_decode_tokens_per_second \d/);
    expect(text).toMatch(/# TYPE bitnet_time_to_first_token_seconds histogram/);
  });
});

describe('chat completions', () => {
  it('answers OpenAI\'s chat.completion shape with usage', async () => {
    const model = new FakeModel();
    const app = makeApp(model);
    await app.ready;
    const r = await app.fetch(post('/v1/chat/completions', chatBody({ temperature: 0 })));
    expect(r.status).toBe(200);
    const body = (await r.json()) as {
      id: string;
      object: string;
      model: string;
      choices: { index: number; message: { role: string; content: string }; finish_reason: string; logprobs: unknown }[];
      usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    };
    expect(body.object).toBe('chat.completion');
    expect(body.id).toMatch(/^chatcmpl-/);
    expect(body.model).toBe('fake-bitnet');
    expect(body.choices).toHaveLength(1);
    expect(body.choices[0].message).toMatchObject({ role: 'assistant', content: model.reply.join('') });
    expect(body.choices[0].finish_reason).toBe('stop');
    expect(body.choices[0].logprobs).toBeNull();
    const promptTokens = model.tokenize(model.renderChat([{ role: 'user', content: 'Hi' }])).length;
    expect(body.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: model.reply.length,
      total_tokens: promptTokens + model.reply.length,
    });
    expect(model.calls[0].options.sampling).toEqual({ kind: 'greedy' });
  });

  it('max_tokens ends with finish_reason length; stop strings are passed on', async () => {
    const model = new FakeModel();
    const app = makeApp(model);
    await app.ready;
    const r = await app.fetch(post('/v1/chat/completions', chatBody({ max_tokens: 2 })));
    const body = (await r.json()) as { choices: { message: { content: string }; finish_reason: string }[] };
    expect(body.choices[0].message.content).toBe(model.reply.slice(0, 2).join(''));
    expect(body.choices[0].finish_reason).toBe('length');

    const r2 = await app.fetch(post('/v1/chat/completions', chatBody({ stop: ' fake' })));
    const body2 = (await r2.json()) as { choices: { message: { content: string }; finish_reason: string }[] };
    expect(model.calls[1].options.stop).toEqual([' fake']);
    expect(body2.choices[0].message.content).toBe('Hello from the');
    expect(body2.choices[0].finish_reason).toBe('stop');
  });

  it('max_completion_tokens wins over max_tokens, and both are clamped to the room left in the context', async () => {
    const model = new FakeModel({ contextLength: 40 });
    const app = makeApp(model);
    await app.ready;
    await app.fetch(post('/v1/chat/completions', chatBody({ max_tokens: 5, max_completion_tokens: 3 })));
    expect(model.calls[0].options.maxTokens).toBe(3);
    await app.fetch(post('/v1/chat/completions', chatBody({ max_tokens: 1000 })));
    const promptTokens = model.tokenize(model.renderChat([{ role: 'user', content: 'Hi' }])).length;
    expect(model.calls[1].options.maxTokens).toBe(40 - promptTokens);
  });

  it('maps OpenAI sampling parameters onto the engine\'s sampling config', async () => {
    const model = new FakeModel();
    const app = makeApp(model);
    await app.ready;
    await app.fetch(
      post(
        '/v1/chat/completions',
        chatBody({ temperature: 0.7, top_p: 0.9, top_k: 40, min_p: 0.05, seed: 7, frequency_penalty: 0.5, presence_penalty: -0.25 }),
      ),
    );
    expect(model.calls[0].options.sampling).toEqual({
      kind: 'sample',
      temperature: 0.7,
      topK: 40,
      topP: 0.9,
      minP: 0.05,
      penalties: { frequency: 0.5, presence: -0.25 },
    });
    expect(model.calls[0].options.seed).toBe(7);
    await app.fetch(post('/v1/chat/completions', chatBody({})));
    expect(model.calls[1].options.sampling).toEqual({ kind: 'sample', temperature: 1 });
    expect(model.calls[1].options.seed).toBeUndefined();
  });

  it('accepts text content parts and the developer role', async () => {
    const model = new FakeModel();
    const app = makeApp(model);
    await app.ready;
    const r = await app.fetch(
      post('/v1/chat/completions', {
        messages: [
          { role: 'developer', content: 'Be brief.' },
          { role: 'user', content: [{ type: 'text', text: 'Hel' }, { type: 'text', text: 'lo' }] },
        ],
      }),
    );
    expect(r.status).toBe(200);
    expect(model.calls[0].prompt).toBe('system: Be brief.\nuser: Hello\nassistant:');
  });

  it('returns logprobs.content with token, logprob, bytes and top_logprobs', async () => {
    const model = new FakeModel({ reply: ['é', 'b'] });
    const app = makeApp(model);
    await app.ready;
    const r = await app.fetch(post('/v1/chat/completions', chatBody({ logprobs: true, top_logprobs: 2 })));
    const body = (await r.json()) as {
      choices: { logprobs: { content: { token: string; logprob: number; bytes: number[]; top_logprobs: { token: string }[] }[] } }[];
    };
    const content = body.choices[0].logprobs.content;
    expect(content.map((c) => c.token)).toEqual(['é', 'b']);
    expect(content[0].bytes).toEqual([0xc3, 0xa9]);
    expect(content[0].logprob).toBeLessThan(0);
    expect(content[0].top_logprobs).toHaveLength(2);
    expect(model.calls[0].options.topLogprobs).toBe(2);
    // logprobs without alternatives still asks the engine for the chosen token's logprob
    const r2 = await app.fetch(post('/v1/chat/completions', chatBody({ logprobs: true })));
    const body2 = (await r2.json()) as { choices: { logprobs: { content: { top_logprobs: unknown[] }[] } }[] };
    expect(body2.choices[0].logprobs.content).toHaveLength(2);
    expect(body2.choices[0].logprobs.content[0].top_logprobs).toEqual([]);
  });

  it('streams role first, content pieces, finish_reason, usage (include_usage), then [DONE]', async () => {
    const model = new FakeModel();
    const app = makeApp(model);
    await app.ready;
    const r = await app.fetch(post('/v1/chat/completions', chatBody({ stream: true, stream_options: { include_usage: true } })));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/event-stream');
    const data = sseData(await r.text());
    expect(data[data.length - 1]).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Record<string, unknown>);
    type Choice = { index: number; delta: { role?: string; content?: string }; finish_reason: string | null };
    for (const c of chunks) {
      expect(c.object).toBe('chat.completion.chunk');
      expect(c.id).toBe(chunks[0].id);
    }
    const choices = chunks.map((c) => c.choices as Choice[]);
    expect(choices[0][0].delta).toEqual({ role: 'assistant', content: '' });
    const last = chunks[chunks.length - 1];
    expect(last.choices).toEqual([]);
    const promptTokens = model.tokenize(model.renderChat([{ role: 'user', content: 'Hi' }])).length;
    expect(last.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: model.reply.length,
      total_tokens: promptTokens + model.reply.length,
    });
    for (const c of chunks.slice(0, -1)) expect(c.usage).toBeNull();
    const finishChunk = choices[choices.length - 2][0];
    expect(finishChunk.finish_reason).toBe('stop');
    expect(finishChunk.delta).toEqual({});
    const text = choices.slice(1, -2).map((c) => c[0].delta.content).join('');
    expect(text).toBe(model.reply.join(''));
    for (const c of choices.slice(0, -2)) expect(c[0].finish_reason).toBeNull();
  });

  it('streams without usage chunks when include_usage is off', async () => {
    const app = makeApp(new FakeModel());
    await app.ready;
    const r = await app.fetch(post('/v1/chat/completions', chatBody({ stream: true })));
    const data = sseData(await r.text());
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Record<string, unknown>);
    for (const c of chunks) expect('usage' in c).toBe(false);
    expect((chunks[chunks.length - 1].choices as { finish_reason: string }[])[0].finish_reason).toBe('stop');
  });
});

describe('legacy completions', () => {
  it('answers text_completion with usage; accepts a one-string array and token ids', async () => {
    const model = new FakeModel();
    const app = makeApp(model);
    await app.ready;
    const r = await app.fetch(post('/v1/completions', { model: 'x', prompt: 'Once', max_tokens: 3 }));
    expect(r.status).toBe(200);
    const body = (await r.json()) as {
      object: string;
      id: string;
      choices: { text: string; index: number; finish_reason: string; logprobs: unknown }[];
      usage: { prompt_tokens: number; completion_tokens: number };
    };
    expect(body.object).toBe('text_completion');
    expect(body.id).toMatch(/^cmpl-/);
    expect(body.choices[0]).toEqual({ text: model.reply.slice(0, 3).join(''), index: 0, logprobs: null, finish_reason: 'length' });
    expect(body.usage.prompt_tokens).toBe(4);
    expect(body.usage.completion_tokens).toBe(3);

    await app.fetch(post('/v1/completions', { prompt: ['Twice'] }));
    expect(model.calls[1].prompt).toBe('Twice');
    expect(model.calls[1].options.maxTokens).toBe(16); // OpenAI's default for this endpoint
    await app.fetch(post('/v1/completions', { prompt: [[1, 2, 3]] }));
    expect(model.calls[2].prompt).toEqual([1, 2, 3]);
    await app.fetch(post('/v1/completions', { prompt: [4, 5] }));
    expect(model.calls[3].prompt).toEqual([4, 5]);
  });

  it('returns the legacy logprobs shape', async () => {
    const model = new FakeModel({ reply: ['ab', 'c'] });
    const app = makeApp(model);
    await app.ready;
    const r = await app.fetch(post('/v1/completions', { prompt: 'x', logprobs: 2 }));
    const body = (await r.json()) as {
      choices: { logprobs: { tokens: string[]; token_logprobs: number[]; top_logprobs: Record<string, number>[]; text_offset: number[] } }[];
    };
    const lp = body.choices[0].logprobs;
    expect(lp.tokens).toEqual(['ab', 'c']);
    expect(lp.text_offset).toEqual([0, 2]);
    expect(lp.token_logprobs).toHaveLength(2);
    expect(Object.keys(lp.top_logprobs[0])).toHaveLength(2);
    expect(lp.top_logprobs[0].ab).toBe(lp.token_logprobs[0]);
  });

  it('streams text_completion chunks, a finish chunk, usage, [DONE]', async () => {
    const model = new FakeModel();
    const app = makeApp(model);
    await app.ready;
    const r = await app.fetch(post('/v1/completions', { prompt: 'Go', stream: true, stream_options: { include_usage: true }, max_tokens: 50 }));
    const data = sseData(await r.text());
    expect(data[data.length - 1]).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as { object: string; choices: { text: string; finish_reason: string | null }[]; usage: unknown });
    for (const c of chunks) expect(c.object).toBe('text_completion');
    const usage = chunks[chunks.length - 1];
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual({ prompt_tokens: 2, completion_tokens: model.reply.length, total_tokens: 2 + model.reply.length });
    const finish = chunks[chunks.length - 2];
    expect(finish.choices[0].finish_reason).toBe('stop');
    expect(chunks.slice(0, -2).map((c) => c.choices[0].text).join('')).toBe(model.reply.join(''));
  });
});

describe('error paths', () => {
  async function readyApp(opts: ServerOptions = {}, model = new FakeModel()): Promise<ServerApp> {
    const app = makeApp(model, opts);
    await app.ready;
    return app;
  }

  it('bad JSON -> 400 invalid_request_error', async () => {
    const app = await readyApp();
    const body = await expectError(await app.fetch(post('/v1/chat/completions', '{"messages": [')), 400, null);
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/JSON/);
    await expectError(await app.fetch(post('/v1/chat/completions', '[1,2]')), 400);
    await expectError(await app.fetch(post('/v1/chat/completions', '')), 400);
  });

  it('wrong types and missing fields name the parameter', async () => {
    const app = await readyApp();
    await expectError(await app.fetch(post('/v1/chat/completions', chatBody({ temperature: 'hot' }))), 400, 'temperature');
    await expectError(await app.fetch(post('/v1/chat/completions', chatBody({ temperature: 3 }))), 400, 'temperature');
    await expectError(await app.fetch(post('/v1/chat/completions', chatBody({ max_tokens: 1.5 }))), 400, 'max_tokens');
    await expectError(await app.fetch(post('/v1/chat/completions', chatBody({ stop: 5 }))), 400, 'stop');
    await expectError(
      await app.fetch(post('/v1/chat/completions', { messages: [{ role: 'wizard', content: 'x' }] })),
      400,
      'messages[0].role',
    );
    const missing = await expectError(await app.fetch(post('/v1/chat/completions', { model: 'x' })), 400, 'messages');
    expect(missing.error.message).toMatch(/messages/);
    await expectError(await app.fetch(post('/v1/completions', { prompt: 42 })), 400, 'prompt');
    await expectError(await app.fetch(post('/v1/completions', { prompt: 'x', logprobs: 6 })), 400, 'logprobs');
  });

  it('n = 2 -> 400; n = 1 is fine', async () => {
    const app = await readyApp();
    const b = await expectError(await app.fetch(post('/v1/chat/completions', chatBody({ n: 2 }))), 400, 'n');
    expect(b.error.type).toBe('invalid_request_error');
    expect((await app.fetch(post('/v1/chat/completions', chatBody({ n: 1 })))).status).toBe(200);
    await expectError(await app.fetch(post('/v1/completions', { prompt: 'x', n: 2 })), 400, 'n');
  });

  it('response_format: json_object and valid json_schema reach the engine; invalid schemas -> 400 naming the problem', async () => {
    const model = new FakeModel();
    const app = await readyApp({}, model);
    expect((await app.fetch(post('/v1/chat/completions', chatBody({ response_format: { type: 'text' } })))).status).toBe(200);
    expect(model.calls.at(-1)?.options.responseFormat).toBeUndefined();
    expect((await app.fetch(post('/v1/chat/completions', chatBody({ response_format: { type: 'json_object' } })))).status).toBe(200);
    expect(model.calls.at(-1)?.options.responseFormat).toEqual({ type: 'json_object' });
    const schema = { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'], additionalProperties: false };
    const ok = chatBody({ response_format: { type: 'json_schema', json_schema: { name: 'thing', schema, strict: true } } });
    expect((await app.fetch(post('/v1/chat/completions', ok))).status).toBe(200);
    expect(model.calls.at(-1)?.options.responseFormat).toEqual({ type: 'json_schema', schema, strict: true });
    // The legacy endpoint takes the same (non-standard) field.
    expect((await app.fetch(post('/v1/completions', { prompt: 'x', response_format: { type: 'json_object' } }))).status).toBe(200);
    expect(model.calls.at(-1)?.options.responseFormat).toEqual({ type: 'json_object' });

    const calls = model.calls.length;
    const cases: [unknown, RegExp][] = [
      [{ type: 'string', pattern: '^a' }, /'pattern' is not supported/],
      [{ type: 'object', properties: { a: { anyOf: [{ type: 'string' }] } } }, /properties\["a"\].*'anyOf' is not supported/],
      [{ $ref: '#/$defs/x', $defs: { x: {} } }, /'\$ref' is not supported/],
      [{ type: 'object', required: ['b'], properties: { a: {} } }, /'b' is required but not declared/],
      [{ type: 'array', minItems: 3, maxItems: 2 }, /minItems 3 > maxItems 2/],
      [{ type: 'nope' }, /unknown type "nope"/],
      [{ enum: [] }, /non-empty array/],
      [{ type: 'string', enum: ['a', 1] }, /does not have the schema's type/],
      [{ type: 'object', additionalProperties: { type: 'string' } }, /only true or false/],
    ];
    for (const [bad, message] of cases) {
      const body = chatBody({ response_format: { type: 'json_schema', json_schema: { name: 'bad', schema: bad } } });
      const err = await expectError(await app.fetch(post('/v1/chat/completions', body)), 400, 'response_format.json_schema.schema');
      expect(err.error.type).toBe('invalid_request_error');
      expect(err.error.code).toBe('invalid_value');
      expect(err.error.message).toMatch(message);
    }
    // Shape errors are caught by the request schema.
    await expectError(await app.fetch(post('/v1/chat/completions', chatBody({ response_format: { type: 'json_schema' } }))), 400, 'response_format.json_schema');
    await expectError(await app.fetch(post('/v1/chat/completions', chatBody({ response_format: { type: 'yaml' } }))), 400, 'response_format.type');
    expect(model.calls.length).toBe(calls); // refused before reaching the model
  });

  it('unsupported features are refused clearly: tools, image parts, echo, batched prompts, out-of-vocab ids, logit_bias', async () => {
    const app = await readyApp();
    await expectError(
      await app.fetch(post('/v1/chat/completions', chatBody({ tools: [{ type: 'function', function: { name: 'f' } }] }))),
      400,
      'tools',
    );
    await expectError(
      await app.fetch(
        post('/v1/chat/completions', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }),
      ),
      400,
      'messages[0].content[0].type',
    );
    await expectError(await app.fetch(post('/v1/completions', { prompt: 'x', echo: true })), 400, 'echo');
    await expectError(await app.fetch(post('/v1/completions', { prompt: ['a', 'b'] })), 400, 'prompt');
    const oov = await expectError(await app.fetch(post('/v1/completions', { prompt: [1, 999] })), 400, 'prompt');
    expect(oov.error.message).toContain('999');
    await expectError(await app.fetch(post('/v1/chat/completions', chatBody({ logit_bias: { '5': 10 } }))), 400, 'logit_bias');
  });

  it('unknown route -> 404; wrong method -> 405', async () => {
    const app = await readyApp();
    const b = await expectError(await app.fetch(new Request(`${BASE}/v1/audio/speech`, { method: 'POST', body: '{}' })), 404);
    expect(b.error.message).toContain('/v1/audio/speech');
    const r = await app.fetch(new Request(`${BASE}/v1/chat/completions`));
    await expectError(r, 405);
    expect(r.headers.get('allow')).toBe('POST');
  });

  it('api key: missing or wrong -> 401 on /v1 routes; right key passes; /health stays open', async () => {
    const app = await readyApp({ apiKey: 'sekret-123' });
    const missing = await expectError(await app.fetch(post('/v1/chat/completions', chatBody())), 401);
    expect(missing.error.type).toBe('authentication_error');
    const wrong = await expectError(
      await app.fetch(post('/v1/chat/completions', chatBody(), { headers: { authorization: 'Bearer sekret-124' } })),
      401,
    );
    expect(wrong.error.code).toBe('invalid_api_key');
    await expectError(await app.fetch(new Request(`${BASE}/v1/models`, { headers: { authorization: 'Bearer sekret' } })), 401);
    const ok = await app.fetch(post('/v1/chat/completions', chatBody(), { headers: { authorization: 'Bearer sekret-123' } }));
    expect(ok.status).toBe(200);
    expect((await app.fetch(new Request(`${BASE}/health`))).status).toBe(200);
  });

  it('body too large -> 413, with or without content-length', async () => {
    const app = await readyApp({ maxBodyBytes: 1000 });
    const big = JSON.stringify(chatBody({ messages: [{ role: 'user', content: 'x'.repeat(2000) }] }));
    await expectError(await app.fetch(post('/v1/chat/completions', big)), 413);
    // a chunked body (no content-length) is counted while it is read
    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 100) c.enqueue(bytes.slice(i, i + 100));
        c.close();
      },
    });
    const req = new Request(`${BASE}/v1/chat/completions`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit & { duplex: 'half' });
    expect(req.headers.get('content-length')).toBeNull();
    await expectError(await app.fetch(req), 413);
    expect((await app.fetch(post('/v1/chat/completions', chatBody()))).status).toBe(200);
  });

  it('prompt longer than the context -> 400 with both numbers', async () => {
    const model = new FakeModel({ contextLength: 32 });
    const app = await readyApp({}, model);
    const messages = [{ role: 'user' as const, content: 'y'.repeat(40) }];
    const nTokens = model.tokenize(model.renderChat(messages)).length;
    const b = await expectError(await app.fetch(post('/v1/chat/completions', { messages })), 400, 'messages');
    expect(b.error.code).toBe('context_length_exceeded');
    expect(b.error.message).toContain('32');
    expect(b.error.message).toContain(String(nTokens));
    const c = await expectError(await app.fetch(post('/v1/completions', { prompt: 'z'.repeat(32) })), 400, 'prompt');
    expect(c.error.message).toContain('32 tokens');
    expect(model.calls).toHaveLength(0);
    // one token of room is enough
    expect((await app.fetch(post('/v1/completions', { prompt: 'z'.repeat(31) }))).status).toBe(200);
  });

  it('queue full -> 429 with Retry-After; the queue drains afterwards', async () => {
    const model = new FakeModel({ tokenDelayMs: 20, reply: Array.from({ length: 200 }, () => ' w') });
    const app = await readyApp({ maxQueue: 1, retryAfterS: 3 }, model);
    const acA = new AbortController();
    const acB = new AbortController();
    const a = app.fetch(post('/v1/chat/completions', chatBody(), { signal: acA.signal }));
    await until(() => model.calls.length === 1);
    const b = app.fetch(post('/v1/chat/completions', chatBody({ max_tokens: 2 }), { signal: acB.signal }));
    await until(() => app.queue.waiting === 1);
    const c = await app.fetch(post('/v1/chat/completions', chatBody()));
    const body = await expectError(c, 429);
    expect(body.error.type).toBe('rate_limit_error');
    expect(c.headers.get('retry-after')).toBe('3');
    const metrics = await (await app.fetch(new Request(`${BASE}/metrics`))).text();
    expect(metrics).toContain('bitnet_queue_depth 1');
    expect(metrics).toContain('bitnet_generations_running 1');
    acA.abort();
    await a;
    const rb = await b;
    expect(rb.status).toBe(200);
    expect(model.maxConcurrent).toBe(1);
    expect(app.queue.waiting).toBe(0);
    expect(app.queue.running).toBe(0);
  });

  it('an engine failure is a 500 without details or stack', async () => {
    const model = new FakeModel();
    model.chat = () => {
      throw new Error('secret internal detail');
    };
    const seen: unknown[] = [];
    const app = await readyApp({ onInternalError: (e) => seen.push(e) }, model);
    const b = await expectError(await app.fetch(post('/v1/chat/completions', chatBody())), 500);
    expect(b.error.message).not.toContain('secret');
    expect(b.error.type).toBe('server_error');
    expect(seen).toHaveLength(1);
    // streaming: the failure becomes an error event, not [DONE]
    const r = await app.fetch(post('/v1/chat/completions', chatBody({ stream: true })));
    const data = sseData(await r.text());
    const lastEvent = JSON.parse(data[data.length - 1]) as ErrorJson;
    expect(lastEvent.error.type).toBe('server_error');
    expect(lastEvent.error.message).not.toContain('secret');
    expect(data).not.toContain('[DONE]');
    expect(app.queue.running).toBe(0);
  });

  it('CORS is off by default and on for the configured origin', async () => {
    const off = await readyApp();
    const r1 = await off.fetch(new Request(`${BASE}/v1/models`, { headers: { origin: 'https://evil.example' } }));
    expect(r1.headers.get('access-control-allow-origin')).toBeNull();
    const on = await readyApp({ corsOrigin: 'https://app.example', apiKey: 'k' });
    const pre = await on.fetch(
      new Request(`${BASE}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      }),
    );
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const r2 = await on.fetch(new Request(`${BASE}/v1/models`, { headers: { origin: 'https://app.example', authorization: 'Bearer k' } }));
    expect(r2.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });
});

describe('cancellation and slow readers', () => {
  const longReply = Array.from({ length: 500 }, (_, i) => ` t${i}`);

  it('a client that disconnects mid-generation (non-streaming) cancels within one token and frees its slot', async () => {
    const model = new FakeModel({ tokenDelayMs: 5, reply: longReply });
    const app = makeApp(model);
    await app.ready;
    const ac = new AbortController();
    const pending = app.fetch(post('/v1/chat/completions', chatBody(), { signal: ac.signal }));
    await until(() => (model.calls[0]?.producedTokens ?? 0) >= 3);
    ac.abort();
    await pending.catch(() => undefined);
    await until(() => model.calls[0].done);
    const call = model.calls[0];
    expect(call.producedAtAbortEvent).not.toBeNull();
    expect(call.producedTokens - (call.producedAtAbortEvent ?? 0)).toBeLessThanOrEqual(1);
    expect(call.producedTokens).toBeLessThan(longReply.length);
    await until(() => app.queue.running === 0);
    expect(app.metrics.snapshot().cancelled.client).toBe(1);
  });

  it('cancelling a stream aborts its generation within one token; a queued request that disconnects leaves the queue', async () => {
    const model = new FakeModel({ tokenDelayMs: 5, reply: longReply });
    const app = makeApp(model, { maxQueue: 4 });
    await app.ready;
    const r = await app.fetch(post('/v1/chat/completions', chatBody({ stream: true })));
    const reader = r.body?.getReader();
    if (reader === undefined) throw new Error('no body');
    await reader.read();
    await until(() => (model.calls[0]?.producedTokens ?? 0) >= 3);
    // a second request waits behind the stream, then its client goes away
    const acQueued = new AbortController();
    const queued = app.fetch(post('/v1/chat/completions', chatBody(), { signal: acQueued.signal }));
    await until(() => app.queue.waiting === 1);
    acQueued.abort();
    await queued.catch(() => undefined);
    await until(() => app.queue.waiting === 0);
    expect(model.calls).toHaveLength(1); // it never reached the model
    await reader.cancel();
    await until(() => model.calls[0].done);
    const call = model.calls[0];
    expect(call.producedAtAbortEvent).not.toBeNull();
    expect(call.producedTokens - (call.producedAtAbortEvent ?? 0)).toBeLessThanOrEqual(1);
    await until(() => app.queue.running === 0);
    // the model is free for the next request
    const next = await app.fetch(post('/v1/chat/completions', chatBody({ max_tokens: 2 })));
    expect(next.status).toBe(200);
  });

  it('a reader that stalls is cut off after the stall timeout and does not block the queue', async () => {
    const model = new FakeModel({ reply: Array.from({ length: 5000 }, () => 'x'.repeat(64)) });
    const app = makeApp(model, { streamBufferBytes: 1024, streamStallTimeoutMs: 100, maxQueue: 2 });
    await app.ready;
    const stalled = await app.fetch(post('/v1/completions', { prompt: 'p', stream: true, max_tokens: 5000 }));
    expect(stalled.status).toBe(200);
    // never read `stalled`; the next request must still get through
    const t0 = Date.now();
    const next = await app.fetch(post('/v1/completions', { prompt: 'q', max_tokens: 2 }));
    expect(next.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(3000);
    const stalledCall = model.calls[0];
    expect(stalledCall.done).toBe(true);
    expect(stalledCall.producedTokens).toBeLessThan(200); // bounded by the buffer, not the whole reply
    expect(app.metrics.snapshot().cancelled.stall).toBe(1);
    await expect(stalled.text()).rejects.toThrow();
  });

  it('close() aborts running and queued generations and ends streams with an error event', async () => {
    const model = new FakeModel({ tokenDelayMs: 5, reply: longReply });
    const app = createServerApp(model, { maxQueue: 4 });
    await app.ready;
    const streaming = await app.fetch(post('/v1/chat/completions', chatBody({ stream: true })));
    const queued = app.fetch(post('/v1/chat/completions', chatBody()));
    await until(() => app.queue.waiting === 1 && (model.calls[0]?.producedTokens ?? 0) >= 2);
    await app.close();
    expect(app.queue.running + app.queue.waiting).toBe(0);
    const data = sseData(await streaming.text());
    const last = JSON.parse(data[data.length - 1]) as ErrorJson;
    expect(last.error.type).toBe('service_unavailable_error');
    await expectError(await queued, 503);
    expect(model.calls).toHaveLength(1);
    expect(model.calls[0].done).toBe(true);
    expect(app.metrics.snapshot().cancelled.shutdown).toBe(2);
  });
});

describe('fuzz regressions', () => {
  // server-request fuzz finding: zod threw a TypeError on array fields given {"length": {"toString": null}},
  // which the app answered with a 500.
  it('answers bodies that make the schema library throw with a 400, not a 500', async () => {
    const { createServerApp } = await import('./app.js');
    const { FakeModel } = await import('../../test/server/fake-model.js');
    const app = createServerApp(new FakeModel(), {});
    const bad = { length: { toString: null } };
    for (const [path, body] of [
      ['/v1/completions', { prompt: bad }],
      ['/v1/chat/completions', { messages: bad }],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], stop: bad }],
    ] as const) {
      const res = await app.fetch(new Request(`http://localhost${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
      expect(res.status, path).toBe(400);
      const json = (await res.json()) as { error: { type: string } };
      expect(json.error.type).toBe('invalid_request_error');
    }
    await app.close();
  });
});
