// The generation glue between routes and the model: queue places, cancellation (client, stall, shutdown), and a job run to one JSON body or to an SSE stream.

import { BitNetError, isBitNetError } from '../errors.js';
import type { Receipt } from '../engine/receipt.js';
import type { ChatMessage, GeneratedPiece, GenerateOptions, LoadedModel, SequenceHandle, Usage } from '../engine/types.js';
import { yieldToEventLoop } from '../engine/yield.js';
import { ApiError, toApiError } from './api-error.js';
import type { GenerationQueue, QueueTicket } from './generation-queue.js';
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
import type { ResolvedServerOptions } from './server-options.js';
import type { CancelReason, ServerMetrics } from './server-metrics.js';
import { createSseStream, type SseSink } from './sse-stream.js';

/** What one accepted request asks the model to do. */
export interface GenerationJob {
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

interface JobEnd {
  readonly reason: OpenAIFinishReason;
  readonly usage: Usage | null;
  readonly completionTokens: number;
  /** The generation's receipt, when ServerOptions.receipts and the model gives one. */
  readonly receipt?: Receipt;
}

/** `body` with the job's receipt added (ServerOptions.receipts), else `body`. */
function withReceipt(body: object, end: JobEnd): object {
  return end.receipt === undefined ? body : { ...body, receipt: end.receipt };
}

export interface GenerationRunnerDeps {
  readonly options: ResolvedServerOptions;
  readonly queue: GenerationQueue;
  readonly metrics: ServerMetrics;
}

/** A new sequence of the model and the prompt's token ids for it; undefined for a model without sequences (one at a time). */
function sequenceFor(m: LoadedModel, job: GenerationJob): { handle: SequenceHandle; prompt: readonly number[] } | undefined {
  if (m.createSequence === undefined || m.chatTokens === undefined) return undefined;
  const prompt =
    job.kind === 'chat'
      ? m.chatTokens(job.messages)
      : typeof job.prompt === 'string'
        ? m.tokenize(job.prompt, job.options.addBos === undefined ? {} : { addBos: job.options.addBos })
        : job.prompt;
  return { handle: m.createSequence(), prompt };
}

/** Runs accepted generations one queue place at a time, and aborts them all on close(). */
export class GenerationRunner {
  readonly #options: ResolvedServerOptions;
  readonly #queue: GenerationQueue;
  readonly #metrics: ServerMetrics;
  #closed = false;
  /** Draining: new jobs are refused (503), accepted ones run on. */
  #draining = false;
  /** Abort controllers of accepted generations (queued or running). */
  readonly #active = new Set<AbortController>();
  /** Settles when each accepted generation has released its queue place. */
  readonly #inflight = new Set<Promise<void>>();

  constructor(deps: GenerationRunnerDeps) {
    this.#options = deps.options;
    this.#queue = deps.queue;
    this.#metrics = deps.metrics;
  }

  /**
   * Takes a queue place (or answers 429) and runs the job as JSON or as an event stream.
   * `clientSignal` aborts when the client goes away (Request.signal).
   */
  start(clientSignal: AbortSignal, m: LoadedModel, job: GenerationJob): Response | Promise<Response> {
    const { ticket, ac, cleanup } = this.#admit(clientSignal);
    const who: ResponseIdentity = {
      id: `${job.kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${crypto.randomUUID().replace(/-/g, '')}`,
      created: Math.floor(Date.now() / 1000),
      model: this.#options.modelId(m),
      systemFingerprint: `bitnet-${m.info.backend}-${m.info.kernelSet}`,
    };
    const turn = ticket.turn.bind(ticket);

    if (!job.stream) {
      return this.#runToJson(m, job, who, turn, ac, cleanup);
    }
    const body = createSseStream(
      async (sink) => {
        try {
          await this.#runToEvents(m, job, who, turn, ac, sink);
        } finally {
          cleanup();
        }
      },
      {
        highWaterMarkBytes: this.#options.streamBufferBytes,
        stallTimeoutMs: this.#options.streamStallTimeoutMs,
        onCancel: (reason) => abortWith(ac, reason),
      },
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

  /**
   * Takes a queue place for other work on the model (embeddings): waits its turn behind generations, runs `work`
   * with a signal that aborts on client disconnect or shutdown, and maps a cancellation to its API error.
   */
  async runExclusive<T>(clientSignal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { ticket, ac, cleanup } = this.#admit(clientSignal);
    try {
      await ticket.turn(ac.signal);
      return await work(ac.signal);
    } catch (e) {
      throw this.#cancelledAsApiError(e, ac);
    } finally {
      cleanup();
    }
  }

  /** A queue place (or a 429 / 503) with an abort controller tied to the client's signal; `cleanup` frees both. */
  #admit(clientSignal: AbortSignal): { ticket: QueueTicket; ac: AbortController; cleanup: () => void } {
    if (this.#closed || this.#draining) throw shuttingDown(this.#options.retryAfterS);
    const queue = this.#queue;
    const retryAfterS = this.#options.retryAfterS;
    const ticket = queue.tryEnter();
    if (ticket === null) {
      throw new ApiError(
        429,
        `The server is busy: ${queue.running} generation(s) running and ${queue.waiting} waiting (max ${queue.maxWaiting}). Retry after ${retryAfterS} s.`,
        { apiCode: 'queue_full', headers: { 'retry-after': String(retryAfterS) } },
      );
    }
    const ac = new AbortController();
    this.#active.add(ac);
    const onClientAbort = (): void => abortWith(ac, 'client');
    clientSignal.addEventListener('abort', onClientAbort, { once: true });
    if (clientSignal.aborted) onClientAbort();
    let settle: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    this.#inflight.add(settled);
    const cleanup = (): void => {
      ticket.release();
      clientSignal.removeEventListener('abort', onClientAbort);
      this.#active.delete(ac);
      this.#inflight.delete(settled);
      settle();
    };
    return { ticket, ac, cleanup };
  }

  /** Accepted generations (queued or running) that have not released their queue place yet. */
  get active(): number {
    return this.#inflight.size;
  }

  /**
   * Starts a drain: new jobs are refused with 503 from now on; accepted ones (queued or running) go on. Resolves
   * when every accepted job has released its queue place, or after `timeoutMs`, with the number still active.
   */
  async drain(timeoutMs: number): Promise<number> {
    this.#draining = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, timeoutMs))));
    try {
      await Promise.race([Promise.all([...this.#inflight]), deadline]);
    } finally {
      clearTimeout(timer);
    }
    return this.#inflight.size;
  }

  /** Refuses new jobs, aborts queued and running ones, resolves when each has released its queue place. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const ac of this.#active) abortWith(ac, 'shutdown');
    await Promise.all([...this.#inflight]);
  }

  /** Non-streaming: waits for the whole generation, answers one JSON body. */
  async #runToJson(
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
      const end = await this.#consume(m, job, ac.signal, (piece) => {
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
      return Response.json(withReceipt(body, end));
    } catch (e) {
      throw this.#cancelledAsApiError(e, ac);
    } finally {
      cleanup();
    }
  }

  /** Streaming: writes OpenAI's chunk sequence, then `[DONE]`; failures become an error event. */
  async #runToEvents(
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
      const end = await this.#consume(m, job, ac.signal, (piece) => {
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
      if (job.kind === 'chat') await send(withReceipt(chatChunkJson(who, {}, end.reason, null, job.includeUsage), end));
      else await send(withReceipt(completionChunkJson(who, '', end.reason, null, job.includeUsage), end));
      if (job.includeUsage) await send(usageChunkJson(who, job.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', usage));
      await sink.send('[DONE]');
    } catch (e) {
      const err = this.#cancelledAsApiError(e, ac);
      if (sink.closed) return; // the reader is gone (cancel or stall): nobody to tell
      if (err.status >= 500 && err.status !== 503) this.#options.onInternalError(e);
      await sink.send(JSON.stringify(err.toBody())).catch(() => undefined);
    }
  }

  /**
   * Runs the generation, handing each piece to `onPiece`. A promise returned by `onPiece` (a
   * stream write waiting for its reader) is awaited before the next token is asked for, so a slow
   * reader slows its own generation instead of growing a buffer.
   */
  async #consume(
    m: LoadedModel,
    job: GenerationJob,
    signal: AbortSignal,
    onPiece: (piece: GeneratedPiece) => Promise<void> | void,
  ): Promise<JobEnd> {
    const options: GenerateOptions = { ...job.options, signal };
    // parallel mode: the generation runs on a sequence of its own, so the engine batches its steps with the others'.
    // The sequence is freed after: its full blocks stay in the model's prefix cache, so a request sharing the prompt
    // (a chat growing turn by turn) reuses them, and idle blocks never hold memory a running request needs.
    const seq = this.#options.parallel > 1 ? sequenceFor(m, job) : undefined;
    // the receipt is read when the finish piece arrives: the engine recorded the run just before yielding it, and no other
    // generation can finish on the same sequence meanwhile (a request's own sequence, or the model's one at a time)
    const receipt = !this.#options.receipts ? undefined : seq !== undefined ? () => seq.handle.lastReceipt?.() : () => m.lastReceipt?.();
    try {
      const pieces = seq !== undefined ? seq.handle.generate(seq.prompt, options) : job.kind === 'chat' ? m.chat(job.messages, options) : m.generate(job.prompt, options);
      return await this.#drain(pieces, job, signal, onPiece, receipt);
    } finally {
      seq?.handle.free();
    }
  }

  async #drain(
    pieces: AsyncIterable<GeneratedPiece>,
    job: GenerationJob,
    signal: AbortSignal,
    onPiece: (piece: GeneratedPiece) => Promise<void> | void,
    receiptOf?: () => Receipt | undefined,
  ): Promise<JobEnd> {
    const metrics = this.#metrics;
    let completionTokens = 0;
    let first = true;
    for await (const piece of pieces) {
      if (signal.aborted) throw abortedError(signal);
      const receipt = piece.finish === undefined ? undefined : receiptOf?.();
      if (first && piece.tokenIds.length > 0) {
        first = false;
        metrics.recordTimeToFirstToken((this.#options.now() - job.startMs) / 1000);
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
        const end = { reason: finishReasonJson(piece.finish.reason), usage: piece.finish.usage, completionTokens };
        return receipt === undefined ? end : { ...end, receipt };
      }
    }
    if (signal.aborted) throw abortedError(signal);
    // The engine ended without a finish record: report what we counted.
    metrics.recordUsage(job.promptTokens, completionTokens);
    return { reason: 'stop', usage: null, completionTokens };
  }

  /** Maps an abort (by client, stall or shutdown) or any other failure to the error to report. */
  #cancelledAsApiError(e: unknown, ac: AbortController): ApiError {
    if (ac.signal.aborted && (isBitNetError(e, 'ABORTED') || isAbortLike(e))) {
      const reason = cancelReasonOf(ac.signal);
      this.#metrics.recordCancel(reason);
      if (reason === 'client') {
        this.#metrics.recordClientAbort('generation');
        this.#options.onClientAbort('generation');
      }
      if (reason === 'shutdown') return shuttingDown(this.#options.retryAfterS);
      if (reason === 'stall') return new ApiError(408, 'The client stopped reading the stream.', { apiCode: 'stream_stalled' });
      return new ApiError(499, 'The request was cancelled by the client.', { apiCode: 'cancelled' });
    }
    const err = toApiError(e);
    if (err.status >= 500) this.#metrics.recordCancel('error');
    return err;
  }
}

/** The 503 of a server that is draining or closed: retry (on another replica) after `retryAfterS`. */
export function shuttingDown(retryAfterS: number): ApiError {
  return new ApiError(503, 'The server is shutting down.', {
    apiCode: 'shutting_down',
    headers: { 'retry-after': String(retryAfterS), connection: 'close' },
  });
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
