// BitNet.load and the loaded model: tokenization, chat templates, prefill + decode loop, stops,
// cancellation, timings. One generation at a time per model; the KV cache is reused across calls
// when a new prompt starts with tokens already in it.

import { BitNetError } from '../errors.js';
import { openGguf } from '../gguf/reader.js';
import type { ByteSource, GgufHeader } from '../gguf/types.js';
import type { KernelBackend, Tensor } from '../kernels/backend.js';
import { modelConfigFromGguf, type ModelConfig } from '../model/config.js';
import { createForwardState, forward, forwardStateFloats, kvCacheBytes, type ForwardState } from '../model/forward.js';
import { ternaryLayoutOptions } from '../model/ternary-layout.js';
import { loadWeights, weightMemoryPlan, type ModelWeights } from '../model/weights.js';
import { createJsonConstraint } from '../sampling/json-constraint.js';
import { createSampler } from '../sampling/sampler.js';
import type { SamplingConfig } from '../sampling/types.js';
import { chooseChatTemplate, renderChatTemplate } from '../tokenizer/chat-template.js';
import { checkPreTokenizerName } from '../tokenizer/pre-tokenizer.js';
import { createTokenizer, type Tokenizer } from '../tokenizer/tokenizer.js';
import { MAX_THREADS, selectBackend } from './backend-select.js';
import { checkPooling, PoolAccumulator } from './pooling.js';
import { logitsRead, nextToken, readRow } from './logits-read.js';
import { Mutex } from './mutex.js';
import { ENGINE_NAME, ENGINE_VERSION, RECEIPT_SCHEMA, kernelCallsConsistent, kernelDelta, runtimeInfo, sha256Hex, type Receipt } from './receipt.js';
import { createStopMatcher } from './stop-matcher.js';
import { yieldToEventLoop } from './yield.js';
import type {
  BackendChoice,
  LoadMemory,
  LoadPlan,
  ChatMessage,
  CompletionResult,
  EmbedOptions,
  EmbedResult,
  FinishReason,
  GenerateOptions,
  GeneratedPiece,
  LoadedModel,
  LoadOptions,
  ModelInfo,
  Timings,
  TokenLogprob,
} from './types.js';

/** Tokens per prefill batch: each weight byte is read once per batch (128 against 64: pp128 TTFT median 1900 vs 1941 ms, 2b-4t, Node 22, 2 threads). */
export const PREFILL_BATCH = 128;
/** Default cap on the KV cache length when the caller gives none (memory: see kvCacheBytes). */
export const DEFAULT_MAX_CONTEXT = 4096;
/** Default number of new tokens. */
export const DEFAULT_MAX_TOKENS = 256;

export type ModelSource = string | Uint8Array | Blob | ByteSource;

const now = (): number => performance.now();

const BACKEND_CHOICES: readonly string[] = ['auto', 'reference', 'wasm', 'webgpu'] satisfies readonly BackendChoice[];

/** Checks the options a load can check before opening anything: wrong names and ranges are BAD_ARGUMENT, never a silent default. */
function checkLoadOptions(o: LoadOptions): void {
  const bad = (field: string, expected: string, actual: unknown): BitNetError =>
    new BitNetError('BAD_ARGUMENT', `LoadOptions.${field} must be ${expected}, got ${typeof actual === 'string' ? `'${actual}'` : String(actual)}`, { details: { field } });
  if (o.backend !== undefined && !BACKEND_CHOICES.includes(o.backend)) throw bad('backend', `one of ${BACKEND_CHOICES.join(', ')}`, o.backend);
  if (o.threads !== undefined && (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > MAX_THREADS)) throw bad('threads', `an integer in 1..${MAX_THREADS}`, o.threads);
  if (o.contextLength !== undefined && (!Number.isInteger(o.contextLength) || o.contextLength < 1)) throw bad('contextLength', 'a positive integer', o.contextLength);
  if (o.activationQuant !== undefined && !['native', 'per-token', 'q8k-block'].includes(o.activationQuant)) throw bad('activationQuant', "'native', 'per-token' or 'q8k-block'", o.activationQuant);
  if (o.preTokenizer !== undefined) checkPreTokenizerName(o.preTokenizer);
  ternaryLayoutOptions(o);
}

function abortError(signal: AbortSignal | undefined, what: string): BitNetError {
  return new BitNetError('ABORTED', `${what} was aborted`, { cause: signal?.reason });
}

/** Throws ABORTED when the signal has fired (a function, so checks after an await are not narrowed away). */
function checkAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) throw abortError(signal, what);
}

/** The header-only part of a load: config, tokenizer, context length and the memory the backend must reserve. */
function prepareLoad(
  header: GgufHeader,
  options: Pick<LoadOptions, 'contextLength' | 'preTokenizer' | 'i2sFlavor' | 'tlConfig'>,
): { config: ModelConfig; tokenizer: Tokenizer; contextLength: number; memory: LoadMemory } {
  const config = modelConfigFromGguf(header);
  const tokenizer = createTokenizer(header.metadata, { preTokenizer: options.preTokenizer });
  if (tokenizer.vocabSize !== config.vocabSize) {
    throw new BitNetError('TOKENIZER_BAD_VOCAB', `tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${config.vocabSize}`, {
      details: { tokenizer: tokenizer.vocabSize, model: config.vocabSize },
    });
  }
  const contextLength = Math.min(options.contextLength ?? Math.min(config.contextLength, DEFAULT_MAX_CONTEXT), config.contextLength);
  if (!Number.isInteger(contextLength) || contextLength < 1) {
    throw new BitNetError('BAD_ARGUMENT', `contextLength must be a positive integer, got ${options.contextLength}`);
  }
  const plan = weightMemoryPlan(config, header, ternaryLayoutOptions(options));
  const weightBytes = plan.weightBytes;
  const activationBytes = 4 * (plan.normFloats + forwardStateFloats(config, PREFILL_BATCH, false));
  const kvBytes = kvCacheBytes(config, contextLength);
  return { config, tokenizer, contextLength, memory: { weightBytes, activationBytes, kvBytes, totalBytes: weightBytes + activationBytes + kvBytes } };
}

/** Everything a load produced; the loaded model wraps it. */
interface Loaded {
  readonly source: ByteSource;
  readonly header: GgufHeader;
  readonly config: ModelConfig;
  readonly backend: KernelBackend;
  readonly weights: ModelWeights;
  readonly tokenizer: Tokenizer;
  readonly chatTemplate: { source: string; origin: string; guessed: boolean };
  readonly contextLength: number;
  readonly loadMs: number;
  readonly fallbacks: readonly string[];
  readonly strict: boolean;
  /** SHA-256 of the file's header and tensor table. */
  readonly headerSha256: string;
}

/** What the last finished generation did, for its receipt. */
interface RunRecord {
  readonly promptTokens: readonly number[];
  readonly generated: readonly number[];
  readonly timings: Timings;
  readonly sampling: SamplingConfig;
  readonly seed: number;
  readonly kernels: { id: string; calls: number }[];
}

export class BitNet implements LoadedModel {
  private readonly lock = new Mutex();
  private readonly state: ForwardState;
  /** Tokens whose K/V sit in the cache at positions 0..length-1. */
  private cached: number[] = [];
  private disposed = false;
  private lastRun: RunRecord | undefined;
  readonly info: ModelInfo;

  private constructor(private readonly m: Loaded) {
    this.state = createForwardState(m.backend, m.config, PREFILL_BATCH, m.contextLength, false);
    const fileName = m.source.name;
    this.info = {
      name: m.config.name,
      arch: m.config.arch,
      fileName,
      fileBytes: m.header.fileSize,
      contextLength: m.contextLength,
      vocabSize: m.config.vocabSize,
      embeddingLength: m.config.dim,
      nParams: m.header.tensors.reduce((s, t) => s + t.nElements, 0),
      backend: m.backend.name,
      kernelSet: m.backend.kernelSet,
      threads: m.backend.threads,
    };
  }

  /** Load a GGUF model from a path, bytes, a Blob or a ByteSource. */
  static async load(source: ModelSource, options: LoadOptions = {}): Promise<BitNet> {
    const t0 = now();
    const strict = options.strict ?? false;
    checkLoadOptions(options);
    const { source: src, header } = await openGguf(source);
    let backend: KernelBackend | undefined;
    try {
      if (options.signal?.aborted === true) throw abortError(options.signal, 'model load');
      const { config, tokenizer, contextLength, memory } = prepareLoad(header, options);
      if (options.preflight !== undefined) {
        await options.preflight({
          arch: config.arch,
          vocabSize: config.vocabSize,
          contextLength,
          memory,
          tokenize: (text, o = {}) => tokenizer.encode(text, { addBos: o.addBos ?? tokenizer.addBos, parseSpecial: o.parseSpecial ?? true }),
        });
      }
      const fallbacks: string[] = [
        ...tokenizer.warnings.map((w) => `tokenizer: ${w}`),
        ...config.unsupportedKeys.map((key) => `metadata ${key} changes the computation but is not implemented; ignored`),
      ];
      const sel = await selectBackend(options.backend ?? 'auto', options.threads, strict, undefined, options.gpu === undefined ? {} : { gpu: options.gpu });
      backend = sel.backend;
      if (sel.fallback !== '') fallbacks.push(sel.fallback);
      backend.reserve({ weightBytes: memory.weightBytes, activationFloats: memory.activationBytes / 4, kvBytes: memory.kvBytes });
      const activationQuant = options.activationQuant === 'native' ? undefined : options.activationQuant;
      const layout = ternaryLayoutOptions(options);
      const weights = await loadWeights(backend, src, header, config, { signal: options.signal, onProgress: options.onProgress, activationQuant, layout });
      const chatTemplate = chooseChatTemplate(header.metadata, config.arch, options.chatTemplate);
      if (chatTemplate.guessed) fallbacks.push(`no trustworthy chat template in the file; using ${chatTemplate.origin}`);
      if (strict && fallbacks.length > 0) {
        throw new BitNetError('STRICT_VIOLATION', `strict mode: ${fallbacks.join('; ')}`, { details: { policy: 'no-fallback' } });
      }
      const headerBytes = new Uint8Array(header.dataOffset);
      await src.read(0, headerBytes);
      const headerSha256 = await sha256Hex(headerBytes);
      return new BitNet({ source: src, header, config, backend, weights, tokenizer, chatTemplate, contextLength, loadMs: now() - t0, fallbacks, strict, headerSha256 });
    } catch (e) {
      await backend?.dispose();
      await src.close?.();
      throw e;
    }
  }

  /**
   * What loading `source` would take, from its header alone (no weights read, no memory reserved): the checks
   * `load` makes first (arch, tensors, tokenizer), the context length it would allocate and the bytes it would
   * reserve. A browser uses it to refuse a model before downloading it.
   */
  static async plan(source: ModelSource, options: Pick<LoadOptions, 'contextLength' | 'i2sFlavor' | 'tlConfig'> = {}): Promise<LoadPlan> {
    const { source: src, header } = await openGguf(source);
    try {
      const { config, contextLength, memory } = prepareLoad(header, options);
      return { arch: config.arch, fileBytes: header.fileSize, contextLength, memory };
    } finally {
      await src.close?.();
    }
  }

  get pending(): number {
    return this.lock.pending;
  }
  get config(): ModelConfig {
    return this.m.config;
  }
  get tokenizer(): Tokenizer {
    return this.m.tokenizer;
  }
  get backend(): KernelBackend {
    return this.m.backend;
  }
  get header(): GgufHeader {
    return this.m.header;
  }
  /** Fallbacks taken during load (empty in strict mode). */
  get fallbacks(): readonly string[] {
    return this.m.fallbacks;
  }
  timingsLoadMs(): number {
    return this.m.loadMs;
  }
  get chatTemplateOrigin(): string {
    return this.m.chatTemplate.origin;
  }

  tokenize(text: string, options: { addBos?: boolean; parseSpecial?: boolean } = {}): number[] {
    return this.m.tokenizer.encode(text, { addBos: options.addBos ?? this.m.tokenizer.addBos, parseSpecial: options.parseSpecial ?? true });
  }

  detokenize(ids: readonly number[]): string {
    return this.m.tokenizer.decode(ids);
  }

  renderChat(messages: readonly ChatMessage[]): string {
    const tk = this.m.tokenizer;
    const bos = tk.bosTokenId === undefined ? '' : tk.tokenText(tk.bosTokenId);
    const eos = tk.eosTokenId === undefined ? '' : tk.tokenText(tk.eosTokenId);
    return renderChatTemplate(this.m.chatTemplate.source, messages, { bosToken: bos, eosToken: eos, addGenerationPrompt: true });
  }

  /** Token ids of a chat prompt (BOS added only when the template did not write it). */
  chatTokens(messages: readonly ChatMessage[]): number[] {
    const text = this.renderChat(messages);
    const tk = this.m.tokenizer;
    const bosText = tk.bosTokenId === undefined ? undefined : tk.tokenText(tk.bosTokenId);
    const addBos = tk.addBos && !(bosText !== undefined && bosText !== '' && text.startsWith(bosText));
    return this.tokenize(text, { addBos, parseSpecial: true });
  }

  chat(messages: readonly ChatMessage[], options: GenerateOptions = {}): AsyncIterable<GeneratedPiece> {
    return this.generate(this.chatTokens(messages), options);
  }

  chatComplete(messages: readonly ChatMessage[], options: GenerateOptions = {}): Promise<CompletionResult> {
    return this.complete(this.chatTokens(messages), options);
  }

  async complete(prompt: string | readonly number[], options: GenerateOptions = {}): Promise<CompletionResult> {
    let text = '';
    const tokenIds: number[] = [];
    const logprobs: NonNullable<GeneratedPiece['logprobs']>[number][] = [];
    for await (const piece of this.generate(prompt, options)) {
      text += piece.text;
      tokenIds.push(...piece.tokenIds);
      if (piece.logprobs !== undefined) logprobs.push(...piece.logprobs);
      if (piece.finish !== undefined) {
        const result: CompletionResult = { text, tokenIds, finishReason: piece.finish.reason, usage: piece.finish.usage, timings: piece.finish.timings };
        return (options.topLogprobs ?? 0) > 0 ? { ...result, logprobs } : result;
      }
    }
    throw new BitNetError('INTERNAL', 'generation ended without a finish piece');
  }

  /**
   * Logits of every prompt position (positions x vocab), for comparisons with other engines.
   * Runs on a fresh cache; leaves the cache empty.
   */
  async evaluateLogits(tokens: readonly number[], signal?: AbortSignal): Promise<Float32Array> {
    this.checkUsable();
    const release = await this.lock.acquire(signal);
    try {
      const { config: c, backend } = this.m;
      if (tokens.length > this.m.contextLength) throw this.overflow(tokens.length, 0);
      this.cached = [];
      const out = new Float32Array(tokens.length * c.vocabSize);
      for (let i = 0; i < tokens.length; i++) {
        await yieldToEventLoop();
        checkAborted(signal, 'evaluation');
        backend.beginStep();
        const logits = forward(backend, c, this.m.weights, this.state, [tokens[i]], i);
        await backend.endStep();
        out.set(await readRow(backend, logits, c.vocabSize), i * c.vocabSize);
      }
      return out;
    } finally {
      this.cached = [];
      release();
    }
  }

  /**
   * Embeddings: each input runs on a fresh cache in prefill batches and its final-norm hidden states (the rows the
   * output projection reads) are pooled; no logits are computed. Leaves the cache empty.
   */
  async embed(inputs: string | readonly string[] | readonly (readonly number[])[], options: EmbedOptions = {}): Promise<EmbedResult> {
    this.checkUsable();
    const { config: c, backend, weights } = this.m;
    const { signal } = options;
    const pooling = checkPooling(options.pooling ?? 'mean');
    const normalize = options.normalize ?? true;
    if (typeof normalize !== 'boolean') throw new BitNetError('BAD_ARGUMENT', `normalize must be a boolean, got ${String(normalize)}`, { details: { field: 'normalize' } });
    const list: readonly (string | readonly number[])[] = typeof inputs === 'string' ? [inputs] : inputs;
    if (list.length === 0) throw new BitNetError('BAD_ARGUMENT', 'embed: no inputs', { details: { field: 'inputs' } });
    const sequences = list.map((input, index) => {
      const ids = typeof input === 'string' ? (input === '' ? [] : this.tokenize(input)) : [...input];
      if (ids.length === 0) throw new BitNetError('BAD_ARGUMENT', `embed: input ${index} is empty`, { details: { field: 'inputs', index } });
      if (ids.length > this.m.contextLength) {
        throw new BitNetError('CONTEXT_OVERFLOW', `embed: input ${index} has ${ids.length} tokens; the context holds ${this.m.contextLength}`, {
          details: { index, promptTokens: ids.length, contextLength: this.m.contextLength },
        });
      }
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new BitNetError('BAD_ARGUMENT', `embed: input ${index} has token id ${id}, outside [0, ${c.vocabSize})`, { details: { index, token: id } });
      }
      return ids;
    });

    const release = await this.lock.acquire(signal).catch((e: unknown) => {
      throw abortError(signal, `embedding (while queued: ${e instanceof Error ? e.message : String(e)})`);
    });
    try {
      const embeddings: Float32Array[] = [];
      for (const ids of sequences) {
        this.cached = []; // each input sees only itself
        const pool = new PoolAccumulator(pooling, c.dim);
        for (let pos = 0; pos < ids.length; pos += PREFILL_BATCH) {
          // a macrotask turn between batches: timers, signals and sockets get served (and may abort us)
          await yieldToEventLoop();
          checkAborted(signal, 'embedding');
          const batch = ids.slice(pos, Math.min(pos + PREFILL_BATCH, ids.length));
          const [first, end] = pool.rowsWanted(pos, batch.length, ids.length);
          backend.beginStep();
          const hidden = forward(backend, c, weights, this.state, batch, pos, end > first ? 'hidden' : 'none');
          await backend.endStep();
          pool.add(end > first ? await backend.read(hidden, first * c.dim, (end - first) * c.dim) : new Float32Array(0), batch.length);
        }
        embeddings.push(pool.result(normalize));
      }
      const promptTokens = sequences.reduce((sum, ids) => sum + ids.length, 0);
      return { embeddings, usage: { promptTokens, totalTokens: promptTokens } };
    } finally {
      this.cached = [];
      release();
    }
  }

  async *generate(prompt: string | readonly number[], options: GenerateOptions = {}): AsyncGenerator<GeneratedPiece> {
    this.checkUsable();
    const tCall = now();
    const { config: c, backend, weights, tokenizer } = this.m;
    const signal = options.signal;
    const promptTokens = typeof prompt === 'string' ? this.tokenize(prompt, options.addBos === undefined ? {} : { addBos: options.addBos }) : [...prompt];
    const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new BitNetError('BAD_ARGUMENT', `maxTokens must be a non-negative integer, got ${maxTokens}`, { details: { field: 'maxTokens' } });
    if (promptTokens.length === 0) throw new BitNetError('BAD_ARGUMENT', 'the prompt is empty (no tokens); give text or enable BOS');
    if (promptTokens.length >= this.m.contextLength) throw this.overflow(promptTokens.length, maxTokens);
    for (const id of promptTokens) {
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new BitNetError('BAD_ARGUMENT', `prompt token id ${id} out of range [0, ${c.vocabSize})`, { details: { token: id } });
    }
    const sampling: SamplingConfig = options.sampling ?? { kind: 'greedy' };
    const seed = options.seed ?? Math.floor(Math.random() * 0x7fffffff);
    const sampler = createSampler(sampling, seed, c.vocabSize);
    const stopTokens = new Set<number>(options.stopTokens ?? []);
    if (options.ignoreEos !== true) for (const id of tokenizer.eogTokenIds) stopTokens.add(id);
    const stops = createStopMatcher(options.stop ?? []);
    const topLogprobs = options.topLogprobs ?? 0;
    // Built before queueing, so a bad schema fails at once (the vocabulary's byte trie is built on first use).
    const constraint = options.responseFormat === undefined ? undefined : createJsonConstraint(options.responseFormat, tokenizer, { endTokens: [...stopTokens] });
    // a constraint masks the whole row, so it always reads the row
    const read = constraint === undefined ? logitsRead(sampling, topLogprobs) : 'row';

    let release: (() => void) | undefined;
    try {
      release = await this.lock.acquire(signal).catch((e: unknown) => {
        throw abortError(signal, `generation (while queued: ${e instanceof Error ? e.message : String(e)})`);
      });
      // ---- prefill: reuse the cached prefix, evaluate the rest in batches ----
      const kernelsBefore = new Map(backend.kernelCalls());
      const tPrefill = now();
      let reuse = 0;
      while (reuse < this.cached.length && reuse < promptTokens.length && this.cached[reuse] === promptTokens[reuse]) reuse++;
      if (reuse === promptTokens.length) reuse--; // the last prompt token must run to give logits
      this.cached.length = reuse;
      let logits: Tensor | undefined;
      for (let pos = reuse; pos < promptTokens.length; pos += PREFILL_BATCH) {
        // a macrotask turn between batches: timers, signals and sockets get served (and may abort us)
        await yieldToEventLoop();
        checkAborted(signal, 'generation');
        const batch = promptTokens.slice(pos, Math.min(pos + PREFILL_BATCH, promptTokens.length));
        // only the prompt's last batch needs logits (the output projection is the largest matmul)
        const last = pos + PREFILL_BATCH >= promptTokens.length;
        backend.beginStep();
        const out = forward(backend, c, weights, this.state, batch, pos, last ? 'logits' : 'none');
        await backend.endStep();
        if (last) logits = out;
        this.cached.push(...batch);
      }
      if (logits === undefined) throw new BitNetError('INTERNAL', 'prefill produced no logits');
      const prefillMs = now() - tPrefill;
      const evaluated = promptTokens.length - reuse;

      // ---- decode: sample, stream, feed back ----
      const tDecode = now();
      let ttft = 0;
      const generated: number[] = [];
      const history = [...promptTokens];
      const decoder = tokenizer.createStreamDecoder();
      let reason: FinishReason = 'length';
      let stoppedByString = false;
      while (generated.length < maxTokens) {
        checkAborted(signal, 'generation');
        // Tokens still allowed, this one included: by maxTokens and by the context (the loop samples at position contextLength last).
        const remaining = Math.min(maxTokens - generated.length, this.m.contextLength - this.cached.length + 1);
        const token = await nextToken(backend, read, sampler, logits, history, constraint?.mask(remaining));
        const lp = topLogprobs > 0 ? sampler.logprobs(await readRow(backend, logits, c.vocabSize), token, topLogprobs) : undefined;
        if (generated.length === 0) ttft = now() - tCall;
        generated.push(token);
        history.push(token);
        constraint?.accept(token);
        if (stopTokens.has(token)) {
          reason = 'stop';
          break;
        }
        const { emit, stopped } = stops.push(decoder.push(token));
        const piece: GeneratedPiece = { text: emit, tokenIds: [token] };
        yield lp === undefined ? piece : { ...piece, logprobs: [this.withText(lp)] };
        if (stopped) {
          reason = 'stop';
          stoppedByString = true;
          break;
        }
        if (constraint?.done === true) {
          reason = 'stop'; // the JSON value is complete and nothing may follow it
          break;
        }
        const pos = this.cached.length;
        if (pos >= this.m.contextLength || generated.length >= maxTokens) break; // context full or done: no need to run the last token
        // a macrotask turn per token: timers, signals, sockets and worker messages are served while a model decodes
        await yieldToEventLoop();
        checkAborted(signal, 'generation');
        backend.beginStep();
        logits = forward(backend, c, weights, this.state, [token], pos);
        await backend.endStep();
        this.cached.push(token);
      }
      const decodeMs = now() - tDecode;
      // Text held back (an incomplete character, a possible stop-string prefix) is released unless a stop string ended the run.
      const tail = stoppedByString ? '' : stops.push(decoder.flush()).emit + stops.flush();
      const nDecoded = Math.max(generated.length - 1, 0);
      const timings: Timings = {
        loadMs: this.m.loadMs,
        prefillMs,
        decodeMs,
        prefillTokPerS: prefillMs > 0 ? (evaluated * 1000) / prefillMs : 0,
        decodeTokPerS: decodeMs > 0 && nDecoded > 0 ? (nDecoded * 1000) / decodeMs : 0,
        timeToFirstTokenMs: ttft,
      };
      this.lastRun = { promptTokens, generated, timings, sampling, seed, kernels: kernelDelta(kernelsBefore, backend.kernelCalls()) };
      yield {
        text: tail,
        tokenIds: [],
        finish: { reason, usage: { promptTokens: promptTokens.length, completionTokens: generated.length, totalTokens: promptTokens.length + generated.length }, timings },
      };
    } finally {
      release?.();
    }
  }

  /** A receipt for the last generation that finished (undefined before the first). */
  lastReceipt(kind: Receipt['kind'] = 'generate'): Receipt | undefined {
    const run = this.lastRun;
    if (run === undefined) return undefined;
    const { config: c, header, backend } = this.m;
    const embd = header.tensors.find((t) => t.name === 'token_embd.weight');
    const allBytes = header.tensors.reduce((sum, t) => sum + t.byteSize, 0);
    const weightBytes = this.m.weights.tiedOutput || embd === undefined ? allBytes : allBytes - embd.byteSize;
    return {
      schema: RECEIPT_SCHEMA,
      engine: { name: ENGINE_NAME, version: ENGINE_VERSION },
      created_at: new Date().toISOString(),
      kind,
      compute_path: kernelCallsConsistent(run.kernels, c.nLayers, run.promptTokens.length, run.generated.length).ok ? 'real' : 'incomplete',
      model: {
        file: this.m.source.name,
        bytes: header.fileSize,
        header_sha256: this.m.headerSha256,
        arch: c.arch,
        n_params: this.info.nParams,
        weight_bytes: weightBytes,
        hyper: { vocab: c.vocabSize, dim: c.dim, ffn: c.ffnDim, layers: c.nLayers, heads: c.nHeads, kv_heads: c.nKvHeads, head_dim: c.headDim, rms_eps: c.rmsEps, rope_theta: c.ropeTheta, rope: c.ropeStyle, ffn_act: c.ffnActivation, context: this.m.contextLength },
      },
      backend: { name: backend.name, kernel_set: backend.kernelSet, threads: backend.threads, fallbacks: [...this.m.fallbacks] },
      kernels: run.kernels,
      runtime: runtimeInfo(),
      tokens: { prompt_count: run.promptTokens.length, generated_count: run.generated.length, prompt: [...run.promptTokens], generated: [...run.generated] },
      timings: { load_ms: this.m.loadMs, prefill_ms: run.timings.prefillMs, decode_ms: run.timings.decodeMs, prefill_tok_s: run.timings.prefillTokPerS, decode_tok_s: run.timings.decodeTokPerS },
      sampling: run.sampling,
      seed: run.seed,
      strict: this.m.strict,
    };
  }

  private withText(lp: { chosen: { token: number; logprob: number }; top: readonly { token: number; logprob: number }[] }): { chosen: TokenLogprob; top: TokenLogprob[] } {
    const tk = this.m.tokenizer;
    const t = (x: { token: number; logprob: number }): TokenLogprob => ({ token: x.token, logprob: x.logprob, text: tk.decode([x.token]) });
    return { chosen: t(lp.chosen), top: lp.top.map(t) };
  }

  private overflow(promptTokens: number, maxTokens: number): BitNetError {
    return new BitNetError('CONTEXT_OVERFLOW', `the prompt has ${promptTokens} tokens; the context holds ${this.m.contextLength} (prompt plus at least one new token must fit)`, {
      details: { promptTokens, maxTokens, contextLength: this.m.contextLength },
    });
  }

  private checkUsable(): void {
    if (this.disposed) throw new BitNetError('DISPOSED', 'the model was disposed');
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const release = await this.lock.acquire();
    try {
      await this.m.backend.dispose();
      await this.m.source.close?.();
    } finally {
      release();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
