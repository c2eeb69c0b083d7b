// The browser entry ('bitnet/browser'): BitNet.load starts a dedicated Web Worker that hosts the engine
// (engine-worker.ts) and returns a small async proxy with the engine's API, plus an OpenAI-shaped
// chat.completions.create. Errors arrive as BitNetError with their code.

import type { Receipt } from '../engine/receipt.js';
import type { ChatMessage, CompletionResult, EmbedOptions, EmbedResult, GenerateOptions, GeneratedPiece, LoadOptions, ModelInfo } from '../engine/types.js';
import { BitNetError } from '../errors.js';
import type { SamplingConfig } from '../sampling/types.js';
import { openModelCache, type CachedModel } from './model-cache.js';
import { fromWireError, type CallRequest, type FromWorker, type LoadedReply, type ToWorker, type WireGenerateOptions, type WireLoadOptions, type WireSource } from './protocol.js';

export { BitNetError, isBitNetError } from '../errors.js';
export type { BitNetErrorCode } from '../errors.js';
export type { ChatMessage, CompletionResult, EmbedOptions, EmbedResult, GenerateOptions, GeneratedPiece, ModelInfo, FinishReason, Usage, Timings } from '../engine/types.js';
export type { SamplingConfig } from '../sampling/types.js';
export type { Receipt } from '../engine/receipt.js';
export type { CachedModel } from './model-cache.js';

/** A model to load: a URL (absolute or relative to the page), a File / Blob, or the file's bytes. */
export type BrowserModelSource = string | URL | Blob | Uint8Array;

export interface LoadProgress {
  readonly loadedBytes: number;
  readonly totalBytes: number;
  /** 0..100. */
  readonly percent: number;
}

export interface BrowserLoadOptions extends Omit<LoadOptions, 'onProgress'> {
  /** Download (URL) or load (File, bytes) progress, a few times a second. */
  onProgress?: (p: LoadProgress) => void;
  /** Each fallback the load took (also in the proxy's `fallbacks` and the receipts), e.g. one thread without isolation. */
  onWarning?: (message: string) => void;
  /** The engine worker's script (default: engine-worker.js beside this module); it is started as a module worker. */
  workerUrl?: string | URL;
  /**
   * URL sources: keep the file in the origin's persistent model cache (OPFS) and load it from there next time
   * (default true). The first load downloads the whole file to disk, then loads from it; without storage room it
   * loads over the network and says why in `cacheNote`.
   */
  cache?: boolean;
}

/** OpenAI's chat completion request (the fields this engine honours). */
export interface ChatCompletionRequest {
  readonly messages: readonly ChatMessage[];
  readonly stream?: boolean;
  readonly max_tokens?: number;
  readonly temperature?: number;
  readonly top_p?: number;
  readonly top_k?: number;
  readonly min_p?: number;
  readonly seed?: number;
  readonly stop?: string | readonly string[];
  readonly frequency_penalty?: number;
  readonly presence_penalty?: number;
  readonly signal?: AbortSignal;
}

export interface ChatCompletion {
  readonly id: string;
  readonly object: 'chat.completion';
  readonly created: number;
  readonly model: string;
  readonly choices: readonly { readonly index: 0; readonly message: { readonly role: 'assistant'; readonly content: string }; readonly finish_reason: 'stop' | 'length' }[];
  readonly usage: { readonly prompt_tokens: number; readonly completion_tokens: number; readonly total_tokens: number };
}

export interface ChatCompletionChunk {
  readonly id: string;
  readonly object: 'chat.completion.chunk';
  readonly created: number;
  readonly model: string;
  readonly choices: readonly { readonly index: 0; readonly delta: { readonly role?: 'assistant'; readonly content?: string }; readonly finish_reason: 'stop' | 'length' | null }[];
  readonly usage?: ChatCompletion['usage'];
}

export interface ChatCompletions {
  create(req: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(req: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
}

/** `chat(messages, options)` streams pieces; `chat.completions.create` is the OpenAI shape. */
export type ChatFunction = ((messages: readonly ChatMessage[], options?: GenerateOptions) => AsyncIterable<GeneratedPiece>) & { readonly completions: ChatCompletions };

interface Pending {
  resolve(value: unknown): void;
  reject(e: BitNetError): void;
  progress?(p: LoadProgress): void;
  piece?(p: GeneratedPiece): void;
  end?(): void;
}

/** One worker and its request ids. */
class WorkerChannel {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: BitNetError | undefined;

  constructor(private readonly worker: Worker) {
    worker.onmessage = (e: MessageEvent<FromWorker>): void => this.receive(e.data);
    worker.onerror = (e: ErrorEvent): void => {
      e.preventDefault();
      this.fail(new BitNetError('BACKEND_UNAVAILABLE', `the engine worker failed: ${e.message || 'could not start (check workerUrl and that the script is served)'}`));
    };
    worker.onmessageerror = (): void => this.fail(new BitNetError('INTERNAL', 'a message from the engine worker could not be read'));
  }

  private receive(m: FromWorker): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return; // abandoned (a stream the caller left)
    switch (m.type) {
      case 'progress':
        p.progress?.({ loadedBytes: m.loadedBytes, totalBytes: m.totalBytes, percent: m.percent });
        return;
      case 'piece':
        p.piece?.(m.piece);
        return;
      case 'loaded':
        this.pending.delete(m.id);
        p.resolve(m.reply);
        return;
      case 'result':
        this.pending.delete(m.id);
        p.resolve(m.value);
        return;
      case 'end':
        this.pending.delete(m.id);
        p.end?.();
        return;
      case 'error':
        this.pending.delete(m.id);
        p.reject(fromWireError(m.error));
        return;
    }
  }

  /** The worker died: every request fails, later ones too. */
  fail(e: BitNetError): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Send a request; `handlers` get its messages until it resolves or rejects. Returns the id. */
  send(build: (id: number) => ToWorker, handlers: Pending, transfer: Transferable[] = []): number {
    const id = this.nextId++;
    if (this.failure !== undefined) {
      handlers.reject(this.failure);
      return id;
    }
    this.pending.set(id, handlers);
    this.worker.postMessage(build(id), transfer);
    return id;
  }

  abort(id: number): void {
    if (this.failure === undefined) this.worker.postMessage({ type: 'abort', id } satisfies ToWorker);
  }

  forget(id: number): void {
    this.pending.delete(id);
  }

  terminate(reason: BitNetError): void {
    this.worker.terminate();
    this.fail(reason);
  }
}

function abortError(signal: AbortSignal, what: string): BitNetError {
  return new BitNetError('ABORTED', `${what} was aborted`, { cause: signal.reason });
}

function wireOptions(options: GenerateOptions): WireGenerateOptions {
  const { signal: _signal, ...rest } = options;
  return rest;
}

/** A URL as the cache keys it: resolved here, since inside the worker a relative URL would resolve against the worker's script. */
function absoluteUrl(source: string | URL): string {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return new URL(String(source), base).href;
  } catch (e) {
    throw new BitNetError('BAD_ARGUMENT', `'${String(source)}' is not a valid URL`, { cause: e, details: { url: String(source) } });
  }
}

function toWireSource(source: BrowserModelSource, cache: boolean): WireSource {
  if (typeof source === 'string' || source instanceof URL) return { kind: 'url', url: absoluteUrl(source), cache };
  if (source instanceof Uint8Array) return { kind: 'bytes', bytes: source };
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = typeof File !== 'undefined' && source instanceof File ? source.name : 'blob';
    return { kind: 'blob', blob: source, name };
  }
  throw new BitNetError('BAD_ARGUMENT', 'BitNet.load: the source must be a URL string, a URL, a File / Blob or a Uint8Array');
}

/** OpenAI's knobs -> the engine's sampling union (temperature 0 or top_p 0: greedy, as the server does). */
function samplingOf(req: ChatCompletionRequest): SamplingConfig {
  const penalties = req.frequency_penalty !== undefined || req.presence_penalty !== undefined ? { penalties: { frequency: req.frequency_penalty ?? 0, presence: req.presence_penalty ?? 0 } } : {};
  const temperature = req.temperature ?? 1;
  if (temperature === 0 || req.top_p === 0) return { kind: 'greedy', ...penalties };
  return { kind: 'sample', temperature, ...(req.top_p === undefined ? {} : { topP: req.top_p }), ...(req.top_k === undefined ? {} : { topK: req.top_k }), ...(req.min_p === undefined ? {} : { minP: req.min_p }), ...penalties };
}

/** The page-side handle of a model loaded in a worker: the engine's API, asynchronous. */
export class BitNetProxy implements AsyncDisposable {
  readonly chat: ChatFunction;
  private disposed = false;

  /** @internal Built by BitNet.load. */
  constructor(
    private readonly channel: WorkerChannel,
    readonly info: ModelInfo,
    /** Fallbacks the load took (strict mode refuses them). */
    readonly fallbacks: readonly string[],
    readonly chatTemplateOrigin: string,
    /** Where the model's bytes came from: 'cache' (no network), 'network+cache' (downloaded and stored), 'network', 'file'. */
    readonly loadedFrom: LoadedReply['loadedFrom'] = 'network',
    /** Why a URL load did not use the cache ('' when it did). */
    readonly cacheNote: string = '',
  ) {
    const chat = (messages: readonly ChatMessage[], options: GenerateOptions = {}): AsyncIterable<GeneratedPiece> =>
      this.stream((id) => ({ type: 'chat', id, messages, options: wireOptions(options) }), options.signal);
    const create = ((req: ChatCompletionRequest) => this.createChatCompletion(req)) as ChatCompletions['create'];
    this.chat = Object.assign(chat, { completions: { create } });
  }

  generate(prompt: string | readonly number[], options: GenerateOptions = {}): AsyncIterable<GeneratedPiece> {
    return this.stream((id) => ({ type: 'generate', id, prompt, options: wireOptions(options) }), options.signal);
  }

  complete(prompt: string | readonly number[], options: GenerateOptions = {}): Promise<CompletionResult> {
    return this.call({ method: 'complete', prompt, options: wireOptions(options) }, options.signal) as Promise<CompletionResult>;
  }

  chatComplete(messages: readonly ChatMessage[], options: GenerateOptions = {}): Promise<CompletionResult> {
    return this.call({ method: 'chatComplete', messages, options: wireOptions(options) }, options.signal) as Promise<CompletionResult>;
  }

  /** Logits of every position (positions x vocab), computed as in Node. */
  evaluateLogits(tokens: readonly number[], signal?: AbortSignal): Promise<Float32Array> {
    return this.call({ method: 'evaluateLogits', tokens }, signal) as Promise<Float32Array>;
  }

  /** Pooled final-norm hidden states of each input (model.embed in Node: same options, same numbers). */
  embed(inputs: string | readonly string[] | readonly (readonly number[])[], options: EmbedOptions = {}): Promise<EmbedResult> {
    const { signal, ...rest } = options;
    return this.call({ method: 'embed', inputs, options: rest }, signal) as Promise<EmbedResult>;
  }

  tokenize(text: string, options: { addBos?: boolean; parseSpecial?: boolean } = {}): Promise<number[]> {
    return this.call({ method: 'tokenize', text, options }) as Promise<number[]>;
  }

  detokenize(ids: readonly number[]): Promise<string> {
    return this.call({ method: 'detokenize', ids }) as Promise<string>;
  }

  renderChat(messages: readonly ChatMessage[]): Promise<string> {
    return this.call({ method: 'renderChat', messages }) as Promise<string>;
  }

  /** The receipt of the last finished generation (undefined before the first). */
  lastReceipt(): Promise<Receipt | undefined> {
    return this.call({ method: 'lastReceipt' }) as Promise<Receipt | undefined>;
  }

  /** Frees the model and stops its worker. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      await this.callRaw({ method: 'dispose' });
    } finally {
      this.channel.terminate(new BitNetError('DISPOSED', 'the model was disposed'));
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private call(c: CallRequest, signal?: AbortSignal): Promise<unknown> {
    if (this.disposed) return Promise.reject(new BitNetError('DISPOSED', 'the model was disposed'));
    return this.callRaw(c, signal);
  }

  private callRaw(c: CallRequest, signal?: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(abortError(signal, c.method));
        return;
      }
      const onAbort = (): void => this.channel.abort(id);
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      const id = this.channel.send((i) => ({ type: 'call', id: i, call: c }), {
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A stream of pieces; abort (signal, or leaving the loop) posts an abort and the engine stops within a token. */
  private async *stream(build: (id: number) => ToWorker, signal: AbortSignal | undefined): AsyncGenerator<GeneratedPiece> {
    if (this.disposed) throw new BitNetError('DISPOSED', 'the model was disposed');
    if (signal?.aborted === true) throw abortError(signal, 'generation');
    const queue: GeneratedPiece[] = [];
    let ended = false;
    let failure: BitNetError | undefined;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      wake?.();
      wake = undefined;
    };
    const id = this.channel.send(build, {
      resolve: () => undefined,
      reject: (e) => {
        failure = e;
        notify();
      },
      piece: (p) => {
        queue.push(p);
        notify();
      },
      end: () => {
        ended = true;
        notify();
      },
    });
    const onAbort = (): void => this.channel.abort(id);
    signal?.addEventListener('abort', onAbort, { once: true });
    let finished = false;
    try {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (failure !== undefined) throw failure;
        if (ended) break;
        await new Promise<void>((r) => (wake = r));
      }
      finished = true;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (!finished && failure === undefined) {
        // The caller left the loop early: stop the engine and drop whatever is still on its way.
        this.channel.abort(id);
        this.channel.forget(id);
      }
    }
  }

  private async createChatCompletion(req: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    const options: GenerateOptions = {
      sampling: samplingOf(req),
      ...(req.max_tokens === undefined ? {} : { maxTokens: req.max_tokens }),
      ...(req.seed === undefined ? {} : { seed: req.seed }),
      ...(req.stop === undefined ? {} : { stop: typeof req.stop === 'string' ? [req.stop] : req.stop }),
      ...(req.signal === undefined ? {} : { signal: req.signal }),
    };
    const id = `chatcmpl-${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    const model = this.info.name;
    const finishOf = (r: string): 'stop' | 'length' => (r === 'length' ? 'length' : 'stop');
    if (req.stream !== true) {
      const r = await this.chatComplete(req.messages, options);
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: finishOf(r.finishReason) }],
        usage: { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.totalTokens },
      };
    }
    const pieces = this.chat(req.messages, options);
    async function* chunks(): AsyncGenerator<ChatCompletionChunk> {
      yield { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta: { role: 'assistant' }, finish_reason: null }] };
      for await (const p of pieces) {
        if (p.text !== '') yield { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta: { content: p.text }, finish_reason: null }] };
        if (p.finish !== undefined) {
          const u = p.finish.usage;
          yield {
            id,
            object: 'chat.completion.chunk',
            created,
            model,
            choices: [{ index: 0, delta: {}, finish_reason: finishOf(p.finish.reason) }],
            usage: { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens },
          };
        }
      }
    }
    return chunks();
  }
}

/** Loads models into Web Workers. */
export const BitNet = {
  /** Models in this origin's persistent cache (empty where the browser has no origin private file system). */
  async cachedModels(): Promise<CachedModel[]> {
    return (await (await openModelCache())?.list()) ?? [];
  },
  /** Removes a cached model (by the URL it was loaded from, relative to the page or absolute); false when absent. */
  async deleteCachedModel(url: string | URL): Promise<boolean> {
    return (await (await openModelCache())?.delete(absoluteUrl(url))) ?? false;
  },
  /** Empties the model cache. */
  async clearModelCache(): Promise<void> {
    await (await openModelCache())?.clear();
  },

  /**
   * Start an engine worker and load `source` in it. Rejects with the engine's BitNetError (e.g. HTTP_ERROR for a
   * 404, NETWORK_ERROR for CORS, RANGE_UNSUPPORTED, STRICT_VIOLATION); on abort the worker is stopped at once.
   */
  async load(source: BrowserModelSource, options: BrowserLoadOptions = {}): Promise<BitNetProxy> {
    const { signal, onProgress, onWarning, workerUrl, cache, ...rest } = options;
    if (signal?.aborted === true) throw abortError(signal, 'model load');
    const wire = toWireSource(source, cache ?? true);
    const loadOptions: WireLoadOptions = rest;
    const url = workerUrl ?? new URL('./engine-worker.js', import.meta.url);
    let worker: Worker;
    try {
      worker = new Worker(url, { type: 'module', name: 'bitnet-engine' });
    } catch (e) {
      throw new BitNetError('BACKEND_UNAVAILABLE', `cannot start the engine worker from ${String(url)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    const channel = new WorkerChannel(worker);
    const onAbort = (): void => channel.terminate(abortError(signal ?? new AbortController().signal, 'model load'));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const reply = await new Promise<LoadedReply>((resolve, reject) => {
        channel.send((id) => ({ type: 'load', id, source: wire, options: loadOptions }), {
          resolve: (v) => resolve(v as LoadedReply),
          reject,
          progress: (p) => onProgress?.(p),
        });
      });
      for (const f of reply.fallbacks) onWarning?.(f);
      if (reply.cacheNote !== '' && cache !== false) onWarning?.(`model not cached: ${reply.cacheNote}`);
      return new BitNetProxy(channel, reply.info, reply.fallbacks, reply.chatTemplateOrigin, reply.loadedFrom, reply.cacheNote);
    } catch (e) {
      channel.terminate(e instanceof BitNetError ? e : new BitNetError('INTERNAL', String(e)));
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  },
};
