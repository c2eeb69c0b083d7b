// The OpenAI-compatible HTTP API as one web-standard `Request -> Response` function (hono), in front of one LoadedModel.
//
// Routes: POST /v1/chat/completions, POST /v1/completions (JSON or SSE), GET /v1/models[/:id],
// GET /health, GET /metrics (Prometheus text).
//
// Policies (each an option of ServerOptions):
// - Concurrency: one generation runs at a time; at most `maxQueue` wait behind it (FIFO). A request
//   that finds the queue full gets 429 with Retry-After. A waiting or running request whose client
//   disconnects (Request.signal) or cancels its stream is removed / aborted at once; the engine sees
//   the abort before its next token.
// - Slow readers: a stream buffers at most `streamBufferBytes` beyond what the transport took; if
//   its reader then takes nothing for `streamStallTimeoutMs`, the generation is cancelled, its slot
//   freed, and the connection dropped (see sse-stream.ts).
// - Context: a prompt that does not leave room for one new token is a 400 naming both numbers;
//   `max_tokens` is clamped to the room left (as llama.cpp's server does), and defaults to that room
//   for chat and to 16 for legacy completions (OpenAI's defaults).
// - Auth: with `apiKey`, every /v1 route needs `Authorization: Bearer <key>` (constant-time
//   compare); /health and /metrics stay open. CORS is off unless `corsOrigin` is set.
// - Errors: OpenAI's `{ error: { message, type, param, code } }`; 500s never carry a stack trace.
// - The request's `model` field is accepted whatever it names: the server has one model.

import { Hono } from 'hono';
import type { Context } from 'hono';
import { cors } from 'hono/cors';
import { BitNetError, isBitNetError } from '../errors.js';
import type { ChatMessage, GeneratedPiece, GenerateOptions, LoadedModel, Usage } from '../engine/types.js';
import type { Penalties, SamplingConfig } from '../sampling/types.js';
import { ApiError, toApiError } from './api-error.js';
import { GenerationQueue } from './generation-queue.js';
import {
  chatChunkJson,
  chatCompletionJson,
  chatLogprobs,
  completionChunkJson,
  completionJson,
  finishReasonJson,
  legacyLogprobs,
  mergeLegacyLogprobs,
  usageChunkJson,
  usageJson,
  type ChatTokenLogprobJson,
  type LegacyLogprobsJson,
  type OpenAIFinishReason,
  type ResponseIdentity,
} from './openai-shapes.js';
import {
  chatCompletionRequestSchema,
  completionRequestSchema,
  parseRequest,
  type ChatCompletionRequest,
  type CompletionRequest,
} from './request-schemas.js';
import { yieldToEventLoop } from '../engine/yield.js';
import { ServerMetrics, type CancelReason } from './server-metrics.js';
import { createSseStream, type SseSink } from './sse-stream.js';

export const DEFAULT_MAX_QUEUE = 16;
/** Request bodies above this are refused with 413 (a 4k-token chat is ~20 KB of JSON). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_STREAM_STALL_TIMEOUT_MS = 30_000;
export const DEFAULT_STREAM_BUFFER_BYTES = 64 * 1024;
export const DEFAULT_RETRY_AFTER_S = 1;
/** OpenAI's default `max_tokens` for the legacy completions endpoint. */
export const LEGACY_COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

export interface ServerOptions {
  /** Require `Authorization: Bearer <apiKey>` on /v1 routes. */
  readonly apiKey?: string;
  /** Allow cross-origin requests from this origin (`*` for any). Off when absent. */
  readonly corsOrigin?: string;
  /** Generations that may wait behind the running one (default 16); more get 429. */
  readonly maxQueue?: number;
  /** Largest accepted request body in bytes (default 1 MiB); more gets 413. */
  readonly maxBodyBytes?: number;
  /** A stream whose reader takes nothing for this long while its buffer is full is cancelled (default 30 s). */
  readonly streamStallTimeoutMs?: number;
  /** Bytes of SSE events a stream may buffer for a slow reader (default 64 KiB). */
  readonly streamBufferBytes?: number;
  /** Seconds sent in Retry-After with a 429 (default 1). */
  readonly retryAfterS?: number;
  /** The id /v1/models lists and responses carry (default: the model's name). */
  readonly modelId?: string;
  /** Cap on `max_tokens` for chat when the request gives none (default: the room left in the context). */
  readonly defaultMaxTokens?: number;
  /** Monotonic clock in milliseconds (default performance.now). */
  readonly now?: () => number;
  /** Told about every error that became a 500 (the CLI logs it); clients never see the details. */
  readonly onInternalError?: (error: unknown) => void;
}

export type ServerState = 'loading' | 'ready' | 'failed' | 'closed';

export interface ServerApp {
  fetch(request: Request): Promise<Response>;
  readonly metrics: ServerMetrics;
  readonly queue: { readonly waiting: number; readonly running: number };
  readonly state: ServerState;
  /** Resolves with the model once it is loaded; rejects if loading failed. */
  readonly ready: Promise<LoadedModel>;
  /**
   * Stops serving: new requests get 503, queued and running generations are aborted (streams end
   * with an error event). Resolves when every generation has let go of the model. Does not
   * dispose the model: its owner does.
   */
  close(): Promise<void>;
}

/** Routes the metrics count by name; anything else is counted as `other`. */
const KNOWN_ROUTES = new Set(['/v1/chat/completions', '/v1/completions', '/v1/models', '/health', '/metrics']);

/** What one accepted request asks the model to do. */
interface GenerationJob {
  readonly kind: 'chat' | 'completion';
  readonly messages: readonly ChatMessage[];
  readonly prompt: string | readonly number[];
  readonly options: GenerateOptions;
  /** The server's own count, used when the engine reports no usage. */
  readonly promptTokens: number;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** Alternatives per token to report; null = no logprobs. */
  readonly topLogprobs: number | null;
  readonly startMs: number;
}

export function createServerApp(model: LoadedModel | Promise<LoadedModel>, opts: ServerOptions = {}): ServerApp {
  const now = opts.now ?? (() => performance.now());
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const stallTimeoutMs = opts.streamStallTimeoutMs ?? DEFAULT_STREAM_STALL_TIMEOUT_MS;
  const streamBufferBytes = opts.streamBufferBytes ?? DEFAULT_STREAM_BUFFER_BYTES;
  const retryAfterS = opts.retryAfterS ?? DEFAULT_RETRY_AFTER_S;
  const queue = new GenerationQueue(opts.maxQueue ?? DEFAULT_MAX_QUEUE);
  const metrics = new ServerMetrics();
  const startedAtS = Math.floor(Date.now() / 1000);
  const apiKeyDigest = opts.apiKey === undefined ? null : sha256(opts.apiKey);

  let state: ServerState = 'loading';
  let loaded: LoadedModel | null = null;
  /** Abort controllers of accepted generations (queued or running). */
  const active = new Set<AbortController>();
  /** Settles when each accepted generation has released its queue place. */
  const inflight = new Set<Promise<void>>();

  const ready = Promise.resolve(model).then(
    (m) => {
      loaded = m;
      if (state === 'loading') state = 'ready';
      return m;
    },
    (e: unknown) => {
      if (state === 'loading') state = 'failed';
      throw e;
    },
  );
  ready.catch(() => undefined); // observed through `state` and /health

  const requireModel = (): LoadedModel => {
    if (state === 'ready' && loaded !== null) return loaded;
    if (state === 'closed') throw new ApiError(503, 'The server is shutting down.', { apiCode: 'shutting_down' });
    if (state === 'failed') throw new ApiError(503, 'The model failed to load.', { apiCode: 'model_load_failed' });
    throw new ApiError(503, 'The model is still loading; retry shortly.', {
      apiCode: 'model_loading',
      headers: { 'retry-after': String(retryAfterS) },
    });
  };

  const modelId = (m: LoadedModel): string => opts.modelId ?? m.info.name;

  const app = new Hono();

  // Count every response by route and status.
  app.use('*', async (c, next) => {
    await next();
    metrics.recordRequest(KNOWN_ROUTES.has(c.req.path) ? c.req.path : c.req.path.startsWith('/v1/models/') ? '/v1/models/:id' : 'other', c.res.status);
  });

  if (opts.corsOrigin !== undefined) {
    app.use(
      '*',
      cors({
        origin: opts.corsOrigin,
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: ['Authorization', 'Content-Type'],
        maxAge: 600,
      }),
    );
  }

  if (apiKeyDigest !== null) {
    app.use('/v1/*', async (c, next) => {
      const header = c.req.header('authorization') ?? '';
      const match = /^Bearer\s+(.+)$/i.exec(header.trim());
      if (match === null) {
        throw new ApiError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.", {
          apiCode: 'missing_api_key',
        });
      }
      const given = await sha256(match[1]);
      if (!constantTimeEqual(given, await apiKeyDigest)) {
        throw new ApiError(401, 'Incorrect API key provided.', { apiCode: 'invalid_api_key' });
      }
      await next();
    });
  }

  app.get('/health', (c) => {
    const status: 200 | 503 = state === 'ready' ? 200 : 503;
    return c.json({ status: state === 'ready' ? 'ok' : state }, status);
  });

  app.get('/metrics', (c) => {
    return c.body(metrics.render(queue), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });

  app.get('/v1/models', (c) => {
    const m = requireModel();
    return c.json({ object: 'list', data: [modelCard(modelId(m), startedAtS)] });
  });

  app.get('/v1/models/:id{.+}', (c) => {
    const m = requireModel();
    const id = c.req.param('id');
    if (id !== modelId(m)) {
      throw new ApiError(404, `The model '${id}' does not exist.`, { param: 'model', apiCode: 'model_not_found' });
    }
    return c.json(modelCard(id, startedAtS));
  });

  app.post('/v1/chat/completions', async (c) => {
    const startMs = now();
    const req = parseRequest(chatCompletionRequestSchema, await readJsonBody(c.req.raw, maxBodyBytes));
    const m = requireModel();
    checkCommonParams(req);
    checkChatParams(req);
    const messages = toChatMessages(req.messages);
    const promptTokens = m.tokenize(m.renderChat(messages), { addBos: false, parseSpecial: true }).length;
    const ctx = m.info.contextLength;
    ensurePromptFits(promptTokens, ctx, 'messages');
    const room = ctx - promptTokens;
    const requested = req.max_completion_tokens ?? req.max_tokens ?? opts.defaultMaxTokens ?? room;
    const topLogprobs = req.logprobs === true ? (req.top_logprobs ?? 0) : null;
    return startGeneration(c, m, {
      kind: 'chat',
      messages,
      prompt: '',
      options: generateOptions(req, Math.min(requested, room), topLogprobs),
      promptTokens,
      stream: req.stream === true,
      includeUsage: req.stream_options?.include_usage === true,
      topLogprobs,
      startMs,
    });
  });

  app.post('/v1/completions', async (c) => {
    const startMs = now();
    const req = parseRequest(completionRequestSchema, await readJsonBody(c.req.raw, maxBodyBytes));
    const m = requireModel();
    checkCommonParams(req);
    checkCompletionParams(req);
    const prompt = singlePrompt(req.prompt, m.info.vocabSize);
    const promptTokens = typeof prompt === 'string' ? m.tokenize(prompt).length : prompt.length;
    const ctx = m.info.contextLength;
    ensurePromptFits(promptTokens, ctx, 'prompt');
    const room = ctx - promptTokens;
    const requested = req.max_tokens ?? LEGACY_COMPLETIONS_DEFAULT_MAX_TOKENS;
    const topLogprobs = req.logprobs ?? null;
    return startGeneration(c, m, {
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

  for (const path of ['/v1/chat/completions', '/v1/completions']) {
    app.all(path, (c) => {
      throw new ApiError(405, `Method ${c.req.method} is not allowed on ${path}; use POST.`, {
        apiCode: 'method_not_allowed',
        headers: { allow: 'POST' },
      });
    });
  }

  app.notFound((c) => {
    return new ApiError(404, `Unknown request URL: ${c.req.method} ${c.req.path}.`, { apiCode: 'unknown_url' }).toResponse();
  });

  app.onError((err) => {
    const e = toApiError(err);
    if (e.status >= 500 && e.status !== 503) opts.onInternalError?.(err);
    return e.toResponse();
  });

  /** Takes a queue place (or answers 429) and runs the job as JSON or as an event stream. */
  function startGeneration(c: Context, m: LoadedModel, job: GenerationJob): Response | Promise<Response> {
    if (state === 'closed') throw new ApiError(503, 'The server is shutting down.', { apiCode: 'shutting_down' });
    const ticket = queue.tryEnter();
    if (ticket === null) {
      throw new ApiError(
        429,
        `The server is busy: ${queue.running} generation(s) running and ${queue.waiting} waiting (max ${queue.maxWaiting}). Retry after ${retryAfterS} s.`,
        { apiCode: 'queue_full', headers: { 'retry-after': String(retryAfterS) } },
      );
    }
    const ac = new AbortController();
    active.add(ac);
    const clientSignal = c.req.raw.signal;
    const onClientAbort = (): void => abortWith(ac, 'client');
    clientSignal.addEventListener('abort', onClientAbort, { once: true });
    if (clientSignal.aborted) onClientAbort();
    let settle: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    inflight.add(settled);
    const cleanup = (): void => {
      ticket.release();
      clientSignal.removeEventListener('abort', onClientAbort);
      active.delete(ac);
      inflight.delete(settled);
      settle();
    };
    const who: ResponseIdentity = {
      id: `${job.kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${crypto.randomUUID().replace(/-/g, '')}`,
      created: Math.floor(Date.now() / 1000),
      model: modelId(m),
      systemFingerprint: `bitnet-${m.info.backend}-${m.info.kernelSet}`,
    };

    if (!job.stream) {
      return runToJson(m, job, who, ticket.turn.bind(ticket), ac, cleanup);
    }
    const body = createSseStream(
      async (sink) => {
        try {
          await runToEvents(m, job, who, ticket.turn.bind(ticket), ac, sink);
        } finally {
          cleanup();
        }
      },
      { highWaterMarkBytes: streamBufferBytes, stallTimeoutMs, onCancel: (reason) => abortWith(ac, reason) },
    );
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      },
    });
  }

  /** Non-streaming: waits for the whole generation, answers one JSON body. */
  async function runToJson(
    m: LoadedModel,
    job: GenerationJob,
    who: ResponseIdentity,
    turn: (signal: AbortSignal) => Promise<void>,
    ac: AbortController,
    cleanup: () => void,
  ): Promise<Response> {
      try {
        await turn(ac.signal);
        let text = '';
        let nTokens = 0;
        const chatLps: ChatTokenLogprobJson[] = [];
        const legacyLps: LegacyLogprobsJson = { tokens: [], token_logprobs: [], top_logprobs: job.topLogprobs === 0 ? null : [], text_offset: [] };
        const end = await consume(m, job, ac.signal, (piece) => {
          if (piece.logprobs !== undefined && job.topLogprobs !== null) {
            if (job.kind === 'chat') chatLps.push(...chatLogprobs(piece.logprobs, job.topLogprobs));
            else mergeLegacyLogprobs(legacyLps, legacyLogprobs(piece.logprobs, job.topLogprobs, text.length));
          }
          text += piece.text;
          nTokens += piece.tokenIds.length;
        });
        const usage = usageJson(end.usage ?? fallbackUsage(job.promptTokens, nTokens));
        const finish = end.reason;
        const body =
          job.kind === 'chat'
            ? chatCompletionJson(who, text, finish, usage, job.topLogprobs === null ? null : chatLps)
            : completionJson(who, text, finish, usage, job.topLogprobs === null ? null : legacyLps);
        return Response.json(body);
      } catch (e) {
        throw cancelledAsApiError(e, ac);
      } finally {
        cleanup();
      }
  }

  /** Streaming: writes OpenAI's chunk sequence, then `[DONE]`; failures become an error event. */
  async function runToEvents(
    m: LoadedModel,
    job: GenerationJob,
    who: ResponseIdentity,
    turn: (signal: AbortSignal) => Promise<void>,
    ac: AbortController,
    sink: SseSink,
  ): Promise<void> {
    const send = (obj: object): Promise<void> => sink.send(JSON.stringify(obj));
    try {
      if (job.kind === 'chat') await send(chatChunkJson(who, { role: 'assistant', content: '' }, null, null, job.includeUsage));
      await turn(ac.signal);
      let textLength = 0;
      const end = await consume(m, job, ac.signal, (piece) => {
        const lps = piece.logprobs !== undefined && job.topLogprobs !== null ? piece.logprobs : null;
        if (piece.text === '' && lps === null) return;
        const offset = textLength;
        textLength += piece.text.length;
        if (job.kind === 'chat') {
          const lp = lps === null || job.topLogprobs === null ? null : chatLogprobs(lps, job.topLogprobs);
          return send(chatChunkJson(who, { content: piece.text }, null, lp, job.includeUsage));
        }
        const lp = lps === null || job.topLogprobs === null ? null : legacyLogprobs(lps, job.topLogprobs, offset);
        return send(completionChunkJson(who, piece.text, null, lp, job.includeUsage));
      });
      const usage = usageJson(end.usage ?? fallbackUsage(job.promptTokens, end.completionTokens));
      if (job.kind === 'chat') await send(chatChunkJson(who, {}, end.reason, null, job.includeUsage));
      else await send(completionChunkJson(who, '', end.reason, null, job.includeUsage));
      if (job.includeUsage) await send(usageChunkJson(who, job.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', usage));
      await sink.send('[DONE]');
    } catch (e) {
      const err = cancelledAsApiError(e, ac);
      if (sink.closed) return; // the reader is gone (cancel or stall): nobody to tell
      if (err.status >= 500 && err.status !== 503) opts.onInternalError?.(e);
      await sink.send(JSON.stringify(err.toBody())).catch(() => undefined);
    }
  }

  interface JobEnd {
    readonly reason: OpenAIFinishReason;
    readonly usage: Usage | null;
    readonly completionTokens: number;
  }

  /**
   * Runs the generation, handing each piece to `onPiece`. A promise returned by `onPiece` (a
   * stream write waiting for its reader) is awaited before the next token is asked for, so a slow
   * reader slows its own generation instead of growing a buffer.
   */
  async function consume(
    m: LoadedModel,
    job: GenerationJob,
    signal: AbortSignal,
    onPiece: (piece: GeneratedPiece) => Promise<void> | void,
  ): Promise<JobEnd> {
    const options: GenerateOptions = { ...job.options, signal };
    const pieces = job.kind === 'chat' ? m.chat(job.messages, options) : m.generate(job.prompt, options);
    let completionTokens = 0;
    let first = true;
    for await (const piece of pieces) {
      if (signal.aborted) throw abortedError(signal);
      if (first && piece.tokenIds.length > 0) {
        first = false;
        metrics.recordTimeToFirstToken((now() - job.startMs) / 1000);
      }
      completionTokens += piece.tokenIds.length;
      await onPiece(piece);
      // The engine computes tokens synchronously and its generator resumes on microtasks only:
      // give the event loop a turn so socket writes, disconnects and new requests are handled
      // between tokens (this is what makes a cancel land within one token).
      await yieldToEventLoop();
      if (piece.finish !== undefined) {
        if (piece.finish.reason === 'abort') throw abortedError(signal);
        metrics.recordUsage(piece.finish.usage.promptTokens, piece.finish.usage.completionTokens);
        metrics.recordSpeeds(piece.finish.timings.prefillTokPerS, piece.finish.timings.decodeTokPerS);
        return { reason: finishReasonJson(piece.finish.reason), usage: piece.finish.usage, completionTokens };
      }
    }
    if (signal.aborted) throw abortedError(signal);
    // The engine ended without a finish record: report what we counted.
    metrics.recordUsage(job.promptTokens, completionTokens);
    return { reason: 'stop', usage: null, completionTokens };
  }

  /** Maps an abort (by client, stall or shutdown) or any other failure to the error to report. */
  function cancelledAsApiError(e: unknown, ac: AbortController): ApiError {
    if (ac.signal.aborted && (isBitNetError(e, 'ABORTED') || isAbortLike(e))) {
      const reason = cancelReasonOf(ac.signal);
      metrics.recordCancel(reason);
      if (reason === 'shutdown') return new ApiError(503, 'The server is shutting down.', { apiCode: 'shutting_down' });
      if (reason === 'stall') return new ApiError(408, 'The client stopped reading the stream.', { apiCode: 'stream_stalled' });
      return new ApiError(499, 'The request was cancelled by the client.', { apiCode: 'cancelled' });
    }
    const err = toApiError(e);
    if (err.status >= 500) metrics.recordCancel('error');
    return err;
  }

  return {
    fetch: async (request) => app.fetch(request),
    metrics,
    queue,
    get state() {
      return state;
    },
    ready,
    async close() {
      state = 'closed';
      for (const ac of active) abortWith(ac, 'shutdown');
      await Promise.all([...inflight]);
    },
  };
}

function abortWith(ac: AbortController, reason: CancelReason): void {
  if (!ac.signal.aborted) ac.abort(reason);
}

function cancelReasonOf(signal: AbortSignal): CancelReason {
  const r: unknown = signal.reason;
  return r === 'client' || r === 'stall' || r === 'shutdown' ? r : 'client';
}

function abortedError(signal: AbortSignal): BitNetError {
  return new BitNetError('ABORTED', `Generation aborted (${cancelReasonOf(signal)}).`);
}

function isAbortLike(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

function fallbackUsage(promptTokens: number, completionTokens: number): Usage {
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

function modelCard(id: string, createdS: number): object {
  return { id, object: 'model', created: createdS, owned_by: 'bitnet' };
}

/** Reads the body as UTF-8 JSON, refusing more than `maxBytes` (413) and malformed JSON (400). */
async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) throw bodyTooLarge(Number(declared), maxBytes);
  const chunks: Uint8Array[] = [];
  let nBytes = 0;
  if (request.body !== null) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      nBytes += value.byteLength;
      if (nBytes > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw bodyTooLarge(nBytes, maxBytes);
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(nBytes);
  let offset = 0;
  for (const ch of chunks) {
    bytes.set(ch, offset);
    offset += ch.byteLength;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, 'The request body is not valid UTF-8.', { apiCode: 'invalid_json' });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const why = e instanceof Error ? e.message : 'parse error';
    throw new ApiError(400, `We could not parse the JSON body of your request (${why}). Send a JSON object.`, {
      apiCode: 'invalid_json',
    });
  }
}

function bodyTooLarge(nBytes: number, maxBytes: number): ApiError {
  return new ApiError(413, `The request body is too large: at least ${nBytes} bytes, the limit is ${maxBytes} bytes.`, {
    apiCode: 'request_too_large',
  });
}

function unsupported(param: string, message: string): ApiError {
  return new ApiError(400, message, { param, apiCode: 'unsupported_value' });
}

function checkCommonParams(req: ChatCompletionRequest | CompletionRequest): void {
  if (req.n != null && req.n !== 1) {
    throw unsupported('n', `n = ${req.n} is not supported: this server returns exactly one choice (n = 1).`);
  }
  if (req.logit_bias != null && Object.keys(req.logit_bias).length > 0) {
    throw unsupported('logit_bias', 'logit_bias is not supported by this server.');
  }
}

function checkChatParams(req: ChatCompletionRequest): void {
  const format = req.response_format?.type;
  if (format === 'json_object' || format === 'json_schema') {
    throw unsupported(
      'response_format',
      `response_format '${format}' is not supported yet: this server has no constrained decoding. Use 'text'.`,
    );
  }
  if ((req.tools != null && req.tools.length > 0) || (req.functions != null && req.functions.length > 0)) {
    throw unsupported('tools', 'Tool and function calling are not supported by this server.');
  }
  if (req.top_logprobs != null && req.top_logprobs > 0 && req.logprobs !== true) {
    throw new ApiError(400, "'top_logprobs' needs 'logprobs' set to true.", { param: 'top_logprobs', apiCode: 'invalid_value' });
  }
}

function checkCompletionParams(req: CompletionRequest): void {
  if (req.echo === true) throw unsupported('echo', 'echo is not supported by this server.');
  if (req.suffix != null && req.suffix !== '') throw unsupported('suffix', 'suffix (insertion) is not supported by this server.');
  if (req.best_of != null && req.best_of !== 1) {
    throw unsupported('best_of', `best_of = ${req.best_of} is not supported: this server returns one choice.`);
  }
}

function toChatMessages(messages: ChatCompletionRequest['messages']): ChatMessage[] {
  return messages.map((msg, i) => {
    if (msg.role === 'tool' || msg.role === 'function') {
      throw unsupported(`messages[${i}].role`, `Messages with role '${msg.role}' are not supported (no tool calling).`);
    }
    if (msg.tool_calls != null && msg.tool_calls.length > 0) {
      throw unsupported(`messages[${i}].tool_calls`, 'Tool calls are not supported by this server.');
    }
    const role = msg.role === 'developer' ? 'system' : msg.role;
    let content: string;
    if (typeof msg.content === 'string') {
      content = msg.content;
    } else if (Array.isArray(msg.content)) {
      content = msg.content
        .map((part, j) => {
          if (part.type !== 'text' || typeof part.text !== 'string') {
            throw unsupported(
              `messages[${i}].content[${j}].type`,
              `Content parts of type '${part.type}' are not supported: only 'text' (this is a text-only model).`,
            );
          }
          return part.text;
        })
        .join('');
    } else if (role === 'assistant') {
      content = '';
    } else {
      throw new ApiError(400, `Missing required parameter: 'messages[${i}].content'.`, {
        param: `messages[${i}].content`,
        apiCode: 'missing_required_parameter',
      });
    }
    return { role, content };
  });
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

function ensurePromptFits(promptTokens: number, contextLength: number, param: 'messages' | 'prompt'): void {
  if (promptTokens < contextLength) return;
  throw new ApiError(
    400,
    `This model's maximum context length is ${contextLength} tokens. However, your ${param} resulted in ${promptTokens} tokens, which leaves no room for a completion. Please reduce the length of the ${param}.`,
    { param, apiCode: 'context_length_exceeded' },
  );
}

function generateOptions(
  req: ChatCompletionRequest | CompletionRequest,
  maxTokens: number,
  topLogprobs: number | null,
): GenerateOptions {
  const stop = req.stop == null ? [] : typeof req.stop === 'string' ? [req.stop] : req.stop;
  const options: GenerateOptions = {
    maxTokens,
    sampling: samplingConfig(req),
    ...(req.seed != null ? { seed: req.seed } : {}),
    ...(stop.length > 0 ? { stop } : {}),
    // The engine reports the chosen token's logprob only when asked for alternatives: ask for at least one.
    ...(topLogprobs !== null ? { topLogprobs: Math.max(1, topLogprobs) } : {}),
  };
  return options;
}

/** OpenAI's knobs -> the engine's sampling union. temperature 0 (or top_p 0) means greedy. */
export function samplingConfig(req: ChatCompletionRequest | CompletionRequest): SamplingConfig {
  const penalties: Penalties = {
    ...(req.frequency_penalty != null && req.frequency_penalty !== 0 ? { frequency: req.frequency_penalty } : {}),
    ...(req.presence_penalty != null && req.presence_penalty !== 0 ? { presence: req.presence_penalty } : {}),
  };
  const withPenalties = Object.keys(penalties).length > 0 ? { penalties } : {};
  const temperature = req.temperature ?? 1;
  if (temperature === 0 || req.top_p === 0) return { kind: 'greedy', ...withPenalties };
  return {
    kind: 'sample',
    temperature,
    ...(req.top_k != null && req.top_k > 0 ? { topK: req.top_k } : {}),
    ...(req.top_p != null && req.top_p < 1 ? { topP: req.top_p } : {}),
    ...(req.min_p != null && req.min_p > 0 ? { minP: req.min_p } : {}),
    ...withPenalties,
  };
}

/** SHA-256 of a UTF-8 string (Web Crypto, so the app runs outside Node too). */
async function sha256(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));
}

/** Compares two equal-length digests without an early exit. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
