// Fuzz target: the OpenAI-compatible server's request handling (createServerApp(...).fetch: body reading, the zod
// schemas, parameter checks, generation, JSON and SSE responses) against the FakeModel test double.
//
// Input: byte 0 picks the route, byte 1 the body kind (raw bytes, or a valid request with fields replaced by arbitrary
// JSON); the rest feeds the body. Passes: a 200 with a well-formed JSON or SSE body, or a 4xx/503 carrying an
// OpenAI error object. Findings: a 5xx, an exception out of fetch, a malformed body, an internal error reported
// through onInternalError, or a hang.

import { createServerApp, type ServerApp } from '../../src/server/app.js';
import { FakeModel } from '../../test/server/fake-model.js';
import { FuzzInput } from '../input.js';
import { jsonPaths, jsonValue, setPath } from '../json-edit.js';
import { invariant, type FuzzTarget } from '../target.js';

const BASE = 'http://bitnet.fuzz';

const CHAT_BODY = {
  model: 'fake-bitnet',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
  ],
  max_tokens: 4,
  temperature: 0.7,
  top_p: 0.9,
  top_k: 40,
  min_p: 0.05,
  seed: 1,
  stop: ['\n'],
  stream: false,
  stream_options: { include_usage: true },
  logprobs: true,
  top_logprobs: 2,
  frequency_penalty: 0.5,
  presence_penalty: 0.5,
  n: 1,
  user: 'u',
};

const COMPLETION_BODY = {
  model: 'fake-bitnet',
  prompt: 'Once upon a time',
  max_tokens: 4,
  temperature: 0,
  stop: 'x',
  stream: true,
  logprobs: 2,
  echo: false,
  suffix: '',
  best_of: 1,
  seed: 3,
};

const CHAT_PATHS = jsonPaths(CHAT_BODY);
const COMPLETION_PATHS = [...jsonPaths(COMPLETION_BODY), ['prompt', '0'], ['prompt', '0', '0']];
const STRINGS = ['', 'user', 'assistant', 'system', 'developer', 'tool', 'text', 'image_url', 'json_object', 'text', 'x'.repeat(300), '\u0000', '\ud800'];

let app: ServerApp | undefined;
let model: FakeModel | undefined;
const internalErrors: unknown[] = [];

interface ErrorBody {
  readonly error?: { readonly message?: unknown; readonly type?: unknown; readonly param?: unknown; readonly code?: unknown };
}

async function checkResponse(res: Response, path: string, stream: boolean): Promise<void> {
  const text = await res.text();
  invariant(res.status < 500 || res.status === 503, `status ${res.status}: ${text.slice(0, 300)}`);
  if (res.status !== 200) {
    invariant((res.headers.get('content-type') ?? '').includes('application/json'), `error ${res.status} without a JSON content type`);
    const body = JSON.parse(text) as ErrorBody;
    invariant(typeof body.error?.message === 'string' && body.error.message.length > 0, `error ${res.status} without a message: ${text.slice(0, 200)}`);
    invariant(typeof body.error.type === 'string', `error ${res.status} without a type`);
    invariant(!/\n\s+at /.test(body.error.message), 'an error message carries a stack trace');
    return;
  }
  const contentType = res.headers.get('content-type') ?? '';
  if (contentType.includes('text/event-stream')) {
    invariant(stream, 'an event stream for a request that did not ask for one');
    const blocks = text.split('\n\n').filter((b) => b.trim() !== '');
    invariant(blocks.length > 0, 'an empty event stream');
    for (const b of blocks) {
      invariant(b.startsWith('data: '), `an SSE block without data: ${JSON.stringify(b.slice(0, 80))}`);
      const payload = b.slice('data: '.length);
      if (payload !== '[DONE]') JSON.parse(payload);
    }
    invariant(blocks[blocks.length - 1] === 'data: [DONE]' || JSON.stringify(blocks[blocks.length - 1]).includes('error'), 'an event stream that ends without [DONE] or an error');
    return;
  }
  if (path === '/metrics') {
    invariant(contentType.startsWith('text/plain'), `/metrics with content type '${contentType}'`);
    return;
  }
  invariant(contentType.includes('application/json'), `200 on ${path} with content type '${contentType}'`);
  JSON.parse(text);
}

async function run(data: Uint8Array): Promise<void> {
  if (app === undefined || model === undefined) throw new Error('setup() was not called');
  internalErrors.splice(0); // what an earlier execution left there is not this input's
  const inp = new FuzzInput(data);
  const route = inp.u8() % 8;
  const structured = inp.bool();
  let path: string;
  let method = 'POST';
  let base: object | undefined;
  let paths: string[][] = [];
  if (route <= 2) {
    path = '/v1/chat/completions';
    base = CHAT_BODY;
    paths = CHAT_PATHS;
  } else if (route <= 5) {
    path = '/v1/completions';
    base = COMPLETION_BODY;
    paths = COMPLETION_PATHS;
  } else if (route === 6) {
    path = `/v1/models/${encodeURIComponent(inp.utf8(inp.int(0, 20)))}`;
    method = 'GET';
  } else {
    path = inp.pick(['/v1/models', '/health', '/metrics', '/v1/chat/completions', '/nope']);
    method = inp.pick(['GET', 'PUT', 'DELETE', 'OPTIONS']);
  }
  let body: Uint8Array | string | undefined;
  let stream = false;
  if (method === 'POST') {
    if (structured && base !== undefined) {
      let doc: unknown = structuredClone(base);
      const nEdits = inp.int(0, 4);
      for (let i = 0; i < nEdits; i++) {
        const where = inp.pick(paths);
        doc = setPath(doc, where, inp.u8() % 8 === 0 ? undefined : jsonValue(inp, 3, STRINGS));
      }
      body = JSON.stringify(doc);
      stream = typeof doc === 'object' && doc !== null && (doc as { stream?: unknown }).stream === true;
    } else {
      body = inp.rest();
      stream = new TextDecoder().decode(body).includes('"stream"');
    }
  }
  const init: RequestInit = { method, headers: { 'content-type': 'application/json' } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : new Uint8Array(body);
  const request = new Request(BASE + path, init);
  let res: Response;
  try {
    res = await app.fetch(request);
  } catch (e) {
    invariant(false, `fetch threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  // Raw bodies may say "stream" anywhere; only a structured body tells for sure.
  await checkResponse(res, path, stream || !structured);
  model.calls.splice(0);
  const errors = internalErrors.splice(0);
  invariant(errors.length === 0, `internal error: ${errors.map((e) => (e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e))).join('; ')}`);
}

function seed(route: number, structured: boolean, rest: readonly number[] | string): Uint8Array {
  const tail = typeof rest === 'string' ? new TextEncoder().encode(rest) : rest;
  return Uint8Array.from([route, structured ? 1 : 0, ...tail]);
}

export const serverRequestTarget: FuzzTarget = {
  name: 'server-request',
  description: 'createServerApp(FakeModel).fetch with arbitrary routes, methods and JSON bodies (raw or structure-aware)',
  maxInputBytes: 4096,
  maxExecMs: 2000,
  coverageAlso: ['/zod/', '/hono/'],
  dictionary: ['{', '}', '[', ']', ':', ',', '"', 'null', 'true', '"messages"', '"role"', '"content"', '"user"', '"prompt"', '"stream"', '"max_tokens"', '"stop"', '"logprobs"', '"top_logprobs"', '"n"', '1e400', '-1', '0.5'],
  setup(): Promise<void> {
    model = new FakeModel({ contextLength: 256 });
    app = createServerApp(model, { onInternalError: (e) => void internalErrors.push(e), maxQueue: 4 });
    return app.ready.then(() => undefined);
  },
  async teardown(): Promise<void> {
    await app?.close();
    app = undefined;
    model = undefined;
  },
  seeds: () => [
    seed(0, true, [0]),
    seed(0, true, [1, 1, 11, 5, 1]),
    seed(3, true, [0]),
    seed(3, true, [2, 9, 4, 2]),
    seed(0, false, JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }] })),
    seed(3, false, JSON.stringify({ prompt: [[1, 2, 3]], max_tokens: 2, stream: true })),
    seed(6, false, [3, 102, 97, 107]),
    seed(7, false, [0, 0]),
  ],
  run,
};
