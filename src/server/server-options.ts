// The server's options (ServerOptions), their named defaults, and the resolved form the routes and generation glue share.

import type { LoadedModel } from '../engine/types.js';
import { BitNetError } from '../errors.js';
import type { ClientAbortPhase } from './server-metrics.js';

export const DEFAULT_MAX_QUEUE = 16;
/** Most generations ServerOptions.parallel may run at once (a step's logits rows: LoadOptions.maxBatchSequences <= 128). */
export const MAX_PARALLEL = 64;
/** Request bodies above this are refused with 413 (a 4k-token chat is ~20 KB of JSON). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/**
 * A request body must arrive within this long after its headers (else 408): a slow or stalled
 * sender holds a socket and its buffers, so it gets a bound. 30 s carries the 1 MiB body limit at
 * 35 KB/s; a real chat request is ~20 KB.
 */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;
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
  /**
   * Generations that run at once (default 1), each on its own sequence of the model, their decode tokens batched into
   * shared forward steps; needs a model with createSequence (BitNet). The KV cache they share is the model's
   * (LoadOptions.kvMemory).
   */
  readonly parallel?: number;
  /**
   * Add the generation's receipt (docs/receipts.md: its own tokens and the kernel calls of the steps they ran in) to
   * each completion: a `receipt` field in the JSON body, or in the stream's last chunk (the one with the finish
   * reason). Default false (a receipt holds the prompt's token ids: a few KB per request).
   */
  readonly receipts?: boolean;
  /** Largest accepted request body in bytes (default 1 MiB); more gets 413. */
  readonly maxBodyBytes?: number;
  /** Milliseconds a request body may take to arrive after its headers (default 30 s); longer gets 408. */
  readonly bodyTimeoutMs?: number;
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
  /**
   * Told about every client that went away before its answer was complete (a normal event, also
   * counted in /metrics as bitnet_client_aborts_total): `body` while sending its request body,
   * `generation` while queued or being answered. No details: there is nothing to debug.
   */
  readonly onClientAbort?: (phase: ClientAbortPhase) => void;
}

/** ServerOptions with every default applied. */
export interface ResolvedServerOptions {
  readonly maxQueue: number;
  readonly parallel: number;
  readonly receipts: boolean;
  readonly maxBodyBytes: number;
  readonly bodyTimeoutMs: number;
  readonly streamStallTimeoutMs: number;
  readonly streamBufferBytes: number;
  readonly retryAfterS: number;
  readonly defaultMaxTokens: number | undefined;
  readonly now: () => number;
  readonly onInternalError: (error: unknown) => void;
  readonly onClientAbort: (phase: ClientAbortPhase) => void;
  /** The id the model is served under. */
  modelId(m: LoadedModel): string;
}

export function resolveServerOptions(opts: ServerOptions): ResolvedServerOptions {
  const parallel = opts.parallel ?? 1;
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > MAX_PARALLEL) {
    throw new BitNetError('BAD_ARGUMENT', `parallel must be an integer in 1..${MAX_PARALLEL}, got ${parallel}`, { details: { field: 'parallel', actual: parallel } });
  }
  return {
    maxQueue: opts.maxQueue ?? DEFAULT_MAX_QUEUE,
    parallel,
    receipts: opts.receipts ?? false,
    maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    bodyTimeoutMs: opts.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    streamStallTimeoutMs: opts.streamStallTimeoutMs ?? DEFAULT_STREAM_STALL_TIMEOUT_MS,
    streamBufferBytes: opts.streamBufferBytes ?? DEFAULT_STREAM_BUFFER_BYTES,
    retryAfterS: opts.retryAfterS ?? DEFAULT_RETRY_AFTER_S,
    defaultMaxTokens: opts.defaultMaxTokens,
    now: opts.now ?? (() => performance.now()),
    onInternalError: opts.onInternalError ?? (() => undefined),
    onClientAbort: opts.onClientAbort ?? (() => undefined),
    modelId: (m) => opts.modelId ?? m.info.name,
  };
}
