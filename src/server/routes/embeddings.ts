// POST /v1/embeddings (OpenAI's `CreateEmbeddingRequest`): texts or token ids -> one pooled, L2-normalized vector each,
// as JSON numbers or base64 little-endian float32; it waits in the same queue as generations.

import type { Hono } from 'hono';
import { ApiError } from '../api-error.js';
import { readJsonBody } from '../request-body.js';
import { embeddingRequestSchema, parseRequest, type EmbeddingRequest } from '../request-schemas.js';
import type { ServerContext } from '../server-context.js';
import { postOnly } from './method-not-allowed.js';

export function embeddingsRoute(app: Hono, ctx: ServerContext): void {
  app.post('/v1/embeddings', async (c) => {
    const req = parseRequest(embeddingRequestSchema, await readJsonBody(c.req.raw, { maxBytes: ctx.options.maxBodyBytes, timeoutMs: ctx.options.bodyTimeoutMs }));
    const m = ctx.requireModel();
    const dim = m.info.embeddingLength;
    if (req.dimensions != null && req.dimensions !== dim) {
      throw new ApiError(400, `dimensions = ${req.dimensions} is not supported: this model's embeddings have ${dim} dimensions.`, { param: 'dimensions', apiCode: 'invalid_value' });
    }
    const inputs = inputTokens(req.input, (text) => m.tokenize(text), m.info.vocabSize, m.info.contextLength);
    const result = await ctx.generations.runExclusive(c.req.raw.signal, (signal) => m.embed(inputs, { signal }));
    ctx.metrics.recordUsage(result.usage.promptTokens, 0);
    const base64 = req.encoding_format === 'base64';
    return c.json({
      object: 'list',
      data: result.embeddings.map((e, index) => ({ object: 'embedding', index, embedding: base64 ? float32Base64(e) : Array.from(e) })),
      model: ctx.options.modelId(m),
      usage: { prompt_tokens: result.usage.promptTokens, total_tokens: result.usage.totalTokens },
    });
  });
  postOnly(app, '/v1/embeddings');
}

/** Each input as token ids, checked here so a bad one is a 400 naming it before the request waits in the queue. */
function inputTokens(input: EmbeddingRequest['input'], tokenize: (text: string) => number[], vocabSize: number, contextLength: number): number[][] {
  // one input (a string, a token list) or a list of them; the filter only narrows the type (the schema allows no mix)
  const single = typeof input === 'string' || input.every((x) => typeof x === 'number');
  const list: (string | number[])[] = single ? [input] : input.filter((x) => typeof x !== 'number');
  return list.map((x, i) => {
    const where = single ? 'input' : `input[${i}]`;
    if (x === '') throw new ApiError(400, `Invalid value for '${where}': an empty string cannot be embedded.`, { param: where, apiCode: 'invalid_value' });
    const ids = typeof x === 'string' ? tokenize(x) : x;
    const bad = ids.findIndex((id) => id >= vocabSize);
    if (bad >= 0) throw new ApiError(400, `Token id ${ids[bad]} at position ${bad} of '${where}' is outside the vocabulary (size ${vocabSize}).`, { param: where, apiCode: 'invalid_value' });
    if (ids.length > contextLength) {
      throw new ApiError(400, `'${where}' has ${ids.length} tokens; this model's context holds ${contextLength}.`, { param: where, apiCode: 'context_length_exceeded' });
    }
    return ids;
  });
}

/** The vector's float32 values, little-endian, in base64 (OpenAI's `encoding_format: 'base64'`). */
export function float32Base64(v: Float32Array): string {
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i], true);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}
