// POST /v1/completions (OpenAI's legacy endpoint): one prompt, text or token ids -> one JSON answer or an SSE stream.

import type { Hono } from 'hono';
import { ApiError } from '../api-error.js';
import { checkCommonParams, ensurePromptFits, ensurePromptFitsKv, generateOptions, unsupported } from '../generation-params.js';
import { readJsonBody } from '../request-body.js';
import { completionRequestSchema, parseRequest, type CompletionRequest } from '../request-schemas.js';
import type { ServerContext } from '../server-context.js';
import { LEGACY_COMPLETIONS_DEFAULT_MAX_TOKENS } from '../server-options.js';
import { postOnly } from './method-not-allowed.js';

export function completionsRoute(app: Hono, ctx: ServerContext): void {
  app.post('/v1/completions', async (c) => {
    const startMs = ctx.options.now();
    const req = parseRequest(completionRequestSchema, await readJsonBody(c.req.raw, { maxBytes: ctx.options.maxBodyBytes, timeoutMs: ctx.options.bodyTimeoutMs }));
    const m = ctx.requireModel();
    checkCommonParams(req);
    checkCompletionParams(req);
    const prompt = singlePrompt(req.prompt, m.info.vocabSize);
    const promptTokens = typeof prompt === 'string' ? m.tokenize(prompt).length : prompt.length;
    const contextLength = m.info.contextLength;
    ensurePromptFits(promptTokens, contextLength, 'prompt');
    const kvTokens = ensurePromptFitsKv(promptTokens, m.kvStats?.(), 'prompt');
    const room = Math.min(contextLength, kvTokens) - promptTokens;
    const requested = req.max_tokens ?? LEGACY_COMPLETIONS_DEFAULT_MAX_TOKENS;
    const topLogprobs = req.logprobs ?? null;
    return ctx.generations.start(c.req.raw.signal, m, {
      kind: 'completion',
      messages: [],
      prompt,
      options: generateOptions(req, Math.min(requested, room), topLogprobs),
      promptTokens,
      stream: req.stream === true,
      includeUsage: req.stream_options?.include_usage === true,
      topLogprobs,
      startMs,
    });
  });
  postOnly(app, '/v1/completions');
}

function checkCompletionParams(req: CompletionRequest): void {
  if (req.echo === true) throw unsupported('echo', 'echo is not supported by this server.');
  if (req.suffix != null && req.suffix !== '') throw unsupported('suffix', 'suffix (insertion) is not supported by this server.');
  if (req.best_of != null && req.best_of !== 1) {
    throw unsupported('best_of', `best_of = ${req.best_of} is not supported: this server returns one choice.`);
  }
}

/** The one prompt of a completions request: a string or token ids (checked against the vocabulary). */
function singlePrompt(prompt: CompletionRequest['prompt'], vocabSize: number): string | number[] {
  let p: string | number[];
  if (typeof prompt === 'string') {
    p = prompt;
  } else if (prompt.length > 0 && prompt.every((x): x is number => typeof x === 'number')) {
    p = prompt;
  } else {
    if (prompt.length !== 1) {
      throw unsupported('prompt', `Batched prompts are not supported: got ${prompt.length} prompts, expected one.`);
    }
    const only = prompt[0];
    if (typeof only === 'number') throw unsupported('prompt', 'Mixed prompt arrays are not supported.');
    p = only;
  }
  if (typeof p !== 'string') {
    const bad = p.findIndex((id) => id >= vocabSize);
    if (bad >= 0) {
      throw new ApiError(400, `Token id ${p[bad]} at prompt position ${bad} is outside the vocabulary (size ${vocabSize}).`, {
        param: 'prompt',
        apiCode: 'invalid_value',
      });
    }
  }
  return p;
}
