// The OpenAI-compatible HTTP API as one web-standard `Request -> Response` function (hono), in front of one LoadedModel.
//
// Routes: POST /v1/chat/completions, POST /v1/completions (JSON or SSE), POST /v1/embeddings, GET /v1/models[/:id],
// GET /health, GET /livez, GET /readyz, GET /metrics (Prometheus text).
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
// - Drain: `drain(timeoutMs)` stops admitting at once (/v1 requests get 503 + Retry-After + `connection: close`,
//   /readyz and /health turn 503), lets accepted generations finish for up to `timeoutMs`, then aborts the rest
//   (their streams end with an error event) and closes.
// - Errors: OpenAI's `{ error: { message, type, param, code } }`; 500s never carry a stack trace.
// - The request's `model` field is accepted whatever it names: the server has one model.

import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { LoadedModel } from '../engine/types.js';
import { yieldToEventLoop } from '../engine/yield.js';
import { ApiError, toApiError } from './api-error.js';
import { apiKeyAuth } from './api-key-auth.js';
import { GenerationQueue } from './generation-queue.js';
import { GenerationRunner, shuttingDown } from './generation-runner.js';
import { chatCompletionsRoute } from './routes/chat-completions.js';
import { completionsRoute } from './routes/completions.js';
import { embeddingsRoute } from './routes/embeddings.js';
import { healthAndMetricsRoutes } from './routes/health-metrics.js';
import { modelsRoutes } from './routes/models.js';
import type { ServerContext, ServerState } from './server-context.js';
import { BODY_ABORTED_API_CODE, BODY_TIMEOUT_API_CODE } from './request-body.js';
import { ServerMetrics } from './server-metrics.js';
import { resolveServerOptions, type ServerOptions } from './server-options.js';

export {
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_QUEUE,
  DEFAULT_RETRY_AFTER_S,
  DEFAULT_STREAM_BUFFER_BYTES,
  DEFAULT_STREAM_STALL_TIMEOUT_MS,
  LEGACY_COMPLETIONS_DEFAULT_MAX_TOKENS,
  type ServerOptions,
} from './server-options.js';
export { samplingConfig } from './generation-params.js';
export type { ServerState } from './server-context.js';

export interface ServerApp {
  fetch(request: Request): Promise<Response>;
  readonly metrics: ServerMetrics;
  readonly queue: { readonly waiting: number; readonly running: number };
  readonly state: ServerState;
  /** Resolves with the model once it is loaded; rejects if loading failed. */
  readonly ready: Promise<LoadedModel>;
  /**
   * Drains: from now on new /v1 requests get 503 with Retry-After and readiness fails; generations already
   * accepted (running or queued) go on for up to `timeoutMs`; then close() aborts what is left. Resolves once
   * the model is free, saying whether every generation finished in time and how many were cut.
   */
  drain(timeoutMs: number): Promise<DrainResult>;
  /**
   * Stops serving: new requests get 503, queued and running generations are aborted (streams end
   * with an error event). Resolves when every generation has let go of the model. Does not
   * dispose the model: its owner does.
   */
  close(): Promise<void>;
}

export interface DrainResult {
  /** Generations (queued or running) still going at the deadline, aborted by the close that followed. */
  readonly cut: number;
  /** Milliseconds from the start of the drain until the model was free. */
  readonly elapsedMs: number;
}

/** Routes the metrics count by name; anything else is counted as `other`. */
const KNOWN_ROUTES = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/models', '/health', '/livez', '/readyz', '/metrics']);

export function createServerApp(model: LoadedModel | Promise<LoadedModel>, opts: ServerOptions = {}): ServerApp {
  const options = resolveServerOptions(opts);
  const queue = new GenerationQueue(options.maxQueue, options.parallel);
  const metrics = new ServerMetrics();
  const generations = new GenerationRunner({ options, queue, metrics });

  // A model handed over already loaded is ready now, so a request in the same tick as creation is
  // served instead of getting 503 "loading" (the `.then` below only runs a microtask later).
  let loaded: LoadedModel | null = isPromiseLike(model) ? null : model;
  let state: ServerState = loaded === null ? 'loading' : 'ready';

  let draining: Promise<DrainResult> | null = null;

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

  const ctx: ServerContext = {
    options,
    metrics,
    queue,
    generations,
    startedAtS: Math.floor(Date.now() / 1000),
    state: () => state,
    requireModel() {
      if (state === 'ready' && loaded !== null) return loaded;
      if (state === 'closed' || state === 'draining') throw shuttingDown(options.retryAfterS);
      if (state === 'failed') throw new ApiError(503, 'The model failed to load.', { apiCode: 'model_load_failed' });
      throw new ApiError(503, 'The model is still loading; retry shortly.', {
        apiCode: 'model_loading',
        headers: { 'retry-after': String(options.retryAfterS) },
      });
    },
  };

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

  // A draining server refuses new work before reading a body or checking a key: the client should go elsewhere.
  app.use('/v1/*', async (_c, next) => {
    if (state === 'draining' || state === 'closed') throw shuttingDown(options.retryAfterS);
    await next();
  });

  if (opts.apiKey !== undefined) app.use('/v1/*', apiKeyAuth(opts.apiKey));

  healthAndMetricsRoutes(app, ctx);
  modelsRoutes(app, ctx);
  chatCompletionsRoute(app, ctx);
  completionsRoute(app, ctx);
  embeddingsRoute(app, ctx);

  app.notFound((c) => {
    return new ApiError(404, `Unknown request URL: ${c.req.method} ${c.req.path}.`, { apiCode: 'unknown_url' }).toResponse();
  });

  app.onError((err) => {
    const e = toApiError(err);
    // A client that hangs up mid-body or a body that never arrives is the client's doing: counted, never an internal error.
    if (e.apiCode === BODY_ABORTED_API_CODE) {
      metrics.recordClientAbort('body');
      options.onClientAbort('body');
    } else if (e.apiCode === BODY_TIMEOUT_API_CODE) {
      metrics.recordBodyTimeout();
    } else if (e.status >= 500 && e.status !== 503) {
      options.onInternalError(err);
    }
    return e.toResponse();
  });

  return {
    fetch: async (request) => {
      // A promise that has already settled is seen within microtasks: give it until the next
      // macrotask, so only a model that is really still loading answers 503.
      if (state === 'loading') await Promise.race([ready.then(noop, noop), yieldToEventLoop()]);
      return app.fetch(request);
    },
    metrics,
    queue,
    get state() {
      return state;
    },
    ready,
    drain(timeoutMs) {
      draining ??= (async () => {
        const t0 = options.now();
        if (state !== 'closed') state = 'draining';
        const cut = await generations.drain(timeoutMs);
        state = 'closed';
        await generations.close();
        return { cut, elapsedMs: options.now() - t0 };
      })();
      return draining;
    },
    async close() {
      state = 'closed';
      await generations.close();
    },
  };
}

function isPromiseLike(x: LoadedModel | Promise<LoadedModel>): x is Promise<LoadedModel> {
  return typeof (x as { then?: unknown }).then === 'function';
}

function noop(): void {}
