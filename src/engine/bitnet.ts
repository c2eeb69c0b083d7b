// BitNet.load and the loaded model: tokenization, chat templates, sequences over the paged KV cache, embeddings,
// receipts. Generation itself is engine/generation.ts on a sequence; every forward step goes through the scheduler,
// so generations on different sequences share steps. The model's own generate/complete/chat run on its default
// sequence (one at a time), whose cache is reused across calls when a new prompt starts with tokens already in it.

import { BitNetError } from '../errors.js';
import { openGguf } from '../gguf/reader.js';
import type { ByteSource, GgufHeader } from '../gguf/types.js';
import type { KernelBackend } from '../kernels/backend.js';
import { modelConfigFromGguf, type ModelConfig } from '../model/config.js';
import { createForwardState, forward, forwardStateFloats, kvCacheBytes, singleSequenceBatch } from '../model/forward.js';
import { ternaryLayoutOptions } from '../model/ternary-layout.js';
import { loadWeights, weightMemoryPlan, type ModelWeights } from '../model/weights.js';
import { chooseChatTemplate, renderChatTemplate } from '../tokenizer/chat-template.js';
import { checkPreTokenizerName } from '../tokenizer/pre-tokenizer.js';
import { createTokenizer, type Tokenizer } from '../tokenizer/tokenizer.js';
import { MAX_THREADS, selectBackend } from './backend-select.js';
import { checkPooling, PoolAccumulator } from './pooling.js';
import { DEFAULT_MAX_TOKENS, generateOn, type GenerationHost } from './generation.js';
import { KvBlocks } from './kv-blocks.js';
import { Scheduler } from './scheduler.js';
import { collectCompletion, Sequence } from './sequence.js';
import { yieldToEventLoop } from './yield.js';
import { SeqState } from './sequence-state.js';
import type { RunRecord } from './compute-ledger.js';
import { ENGINE_NAME, ENGINE_VERSION, RECEIPT_SCHEMA, kernelCallsConsistent, runtimeInfo, sha256Hex, type Receipt } from './receipt.js';
import type {
  BackendChoice,
  LoadMemory,
  LoadPlan,
  ChatMessage,
  CompletionResult,
  EmbedOptions,
  EmbedResult,
  GenerateOptions,
  GeneratedPiece,
  LoadedModel,
  KvStats,
  KvAdmission,
  LoadOptions,
  ModelInfo,
  TokenLogprob,
} from './types.js';

/** Tokens per prefill batch: each weight byte is read once per batch (128 against 64: pp128 TTFT median 1900 vs 1941 ms, 2b-4t, Node 22, 2 threads). */
export const PREFILL_BATCH = 128;
/** Default cap on the KV cache length when the caller gives none (memory: see kvCacheBytes). */
export const DEFAULT_MAX_CONTEXT = 4096;
export { DEFAULT_MAX_TOKENS };
/** Positions per KV block (docs/next-shape.md section 5: 16 on CPU). */
export const KV_BLOCK_SIZE = 16;
/** Default LoadOptions.maxBatchSequences: logits rows one step computes (8 x 128k vocab x 4 bytes = 4 MB). */
export const DEFAULT_BATCH_SEQUENCES = 8;
/** Most sequences alive at once (rows of the block tables). */
export const MAX_SEQUENCES = 1024;

export type ModelSource = string | Uint8Array | Blob | ByteSource;

const now = (): number => performance.now();

const BACKEND_CHOICES: readonly string[] = ['auto', 'reference', 'wasm', 'webgpu'] satisfies readonly BackendChoice[];
const KV_ADMISSIONS: readonly string[] = ['reserve', 'eager'] satisfies readonly KvAdmission[];

/** Checks the options a load can check before opening anything: wrong names and ranges are BAD_ARGUMENT, never a silent default. */
function checkLoadOptions(o: LoadOptions): void {
  const bad = (field: string, expected: string, actual: unknown): BitNetError =>
    new BitNetError('BAD_ARGUMENT', `LoadOptions.${field} must be ${expected}, got ${typeof actual === 'string' ? `'${actual}'` : String(actual)}`, { details: { field } });
  if (o.backend !== undefined && !BACKEND_CHOICES.includes(o.backend)) throw bad('backend', `one of ${BACKEND_CHOICES.join(', ')}`, o.backend);
  if (o.threads !== undefined && (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > MAX_THREADS)) throw bad('threads', `an integer in 1..${MAX_THREADS}`, o.threads);
  if (o.contextLength !== undefined && (!Number.isInteger(o.contextLength) || o.contextLength < 1)) throw bad('contextLength', 'a positive integer', o.contextLength);
  if (o.kvMemory !== undefined && (!Number.isSafeInteger(o.kvMemory) || o.kvMemory < 1)) throw bad('kvMemory', 'a positive integer (bytes)', o.kvMemory);
  if (o.kvAdmission !== undefined && !KV_ADMISSIONS.includes(o.kvAdmission)) throw bad('kvAdmission', "'reserve' or 'eager'", o.kvAdmission);
  if (o.maxBatchSequences !== undefined && (!Number.isInteger(o.maxBatchSequences) || o.maxBatchSequences < 1 || o.maxBatchSequences > PREFILL_BATCH)) {
    throw bad('maxBatchSequences', `an integer in 1..${PREFILL_BATCH}`, o.maxBatchSequences);
  }
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
  options: Pick<LoadOptions, 'contextLength' | 'preTokenizer' | 'kvMemory' | 'maxBatchSequences' | 'i2sFlavor' | 'tlConfig'>,
): { config: ModelConfig; tokenizer: Tokenizer; contextLength: number; kvBlocks: number; batchSequences: number; memory: LoadMemory } {
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
  // the KV budget: one full context by default (what a load reserved before the paged cache), else what kvMemory holds
  const blockBytes = kvCacheBytes(config, KV_BLOCK_SIZE);
  const kvBlocks = options.kvMemory === undefined ? Math.ceil(contextLength / KV_BLOCK_SIZE) : Math.floor(options.kvMemory / blockBytes);
  if (kvBlocks < 1) {
    throw new BitNetError('BAD_ARGUMENT', `kvMemory ${options.kvMemory} holds no KV block of ${blockBytes} bytes (16 positions, every layer)`, { details: { field: 'kvMemory', blockBytes } });
  }
  const batchSequences = options.maxBatchSequences ?? DEFAULT_BATCH_SEQUENCES;
  const plan = weightMemoryPlan(config, header, ternaryLayoutOptions(options));
  const weightBytes = plan.weightBytes;
  const activationBytes = 4 * (plan.normFloats + forwardStateFloats(config, PREFILL_BATCH, batchSequences));
  const kvBytes = kvBlocks * blockBytes;
  return { config, tokenizer, contextLength, kvBlocks, batchSequences, memory: { weightBytes, activationBytes, kvBytes, totalBytes: weightBytes + activationBytes + kvBytes, hostBytes: plan.hostBytes } };
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
  readonly kvBlocks: number;
  readonly batchSequences: number;
  readonly kvAdmission: KvAdmission;
  readonly loadMs: number;
  readonly fallbacks: readonly string[];
  readonly strict: boolean;
  /** SHA-256 of the file's header and tensor table. */
  readonly headerSha256: string;
}

export class BitNet implements LoadedModel {
  private readonly scheduler: Scheduler;
  private readonly kv: KvBlocks;
  /** Live sequences by block-table slot; slot 0 is the model's own (generate, complete, chat, embed, evaluateLogits). */
  private readonly slots: (SeqState | undefined)[] = [];
  private readonly main: SeqState;
  private readonly host: GenerationHost;
  private disposed = false;
  private lastRun: RunRecord | undefined;
  readonly info: ModelInfo;

  private constructor(private readonly m: Loaded) {
    const c = m.config;
    const maxBlocks = Math.ceil(m.contextLength / KV_BLOCK_SIZE);
    const pool = m.backend.createKvPool(c.nLayers, c.kvDim, c.headDim, KV_BLOCK_SIZE, m.kvBlocks);
    const state = createForwardState(m.backend, c, PREFILL_BATCH, m.batchSequences, pool);
    this.kv = new KvBlocks(m.kvBlocks, KV_BLOCK_SIZE);
    this.scheduler = new Scheduler(m.backend, c, m.weights, state, () => this.slots, maxBlocks, this.kv, m.kvAdmission);
    this.main = this.newState();
    this.host = {
      config: c,
      backend: m.backend,
      tokenizer: m.tokenizer,
      contextLength: m.contextLength,
      loadMs: m.loadMs,
      scheduler: this.scheduler,
      tokenize: (text, o) => this.tokenize(text, o),
      finished: (seq, run) => {
        seq.lastRun = run;
        this.lastRun = run;
      },
    };
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
      kernelFeatures: [...(m.backend.kernelFeatures ?? [])],
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
      const { config, tokenizer, contextLength, kvBlocks, batchSequences, memory } = prepareLoad(header, options);
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
      // GPU pipelines compile while the weights upload, not at the first token
      backend.beginWarmUp?.();
      const activationQuant = options.activationQuant === 'native' ? undefined : options.activationQuant;
      const layout = ternaryLayoutOptions(options);
      const weights = await loadWeights(backend, src, header, config, { signal: options.signal, onProgress: options.onProgress, activationQuant, layout });
      await backend.warmUpDone?.();
      const chatTemplate = chooseChatTemplate(header.metadata, config.arch, options.chatTemplate);
      if (chatTemplate.guessed) fallbacks.push(`no trustworthy chat template in the file; using ${chatTemplate.origin}`);
      if (strict && fallbacks.length > 0) {
        throw new BitNetError('STRICT_VIOLATION', `strict mode: ${fallbacks.join('; ')}`, { details: { policy: 'no-fallback' } });
      }
      const headerBytes = new Uint8Array(header.dataOffset);
      await src.read(0, headerBytes);
      const headerSha256 = await sha256Hex(headerBytes);
      return new BitNet({ source: src, header, config, backend, weights, tokenizer, chatTemplate, contextLength, kvBlocks, batchSequences, kvAdmission: options.kvAdmission ?? 'eager', loadMs: now() - t0, fallbacks, strict, headerSha256 });
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
  static async plan(source: ModelSource, options: Pick<LoadOptions, 'contextLength' | 'kvMemory' | 'maxBatchSequences' | 'i2sFlavor' | 'tlConfig'> = {}): Promise<LoadPlan> {
    const { source: src, header } = await openGguf(source);
    try {
      const { config, contextLength, memory } = prepareLoad(header, options);
      return { arch: config.arch, fileBytes: header.fileSize, contextLength, memory };
    } finally {
      await src.close?.();
    }
  }

  get pending(): number {
    return this.main.lock.pending;
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
    return collectCompletion(this.generate(prompt, options), options);
  }

  /**
   * Logits of every prompt position (positions x vocab), for comparisons with other engines.
   * Runs on the model's own sequence from an empty cache; leaves it empty.
   */
  async evaluateLogits(tokens: readonly number[], signal?: AbortSignal): Promise<Float32Array> {
    this.checkUsable();
    const seq = this.main;
    const release = await seq.lock.acquire(signal);
    try {
      const { config: c, backend } = this.m;
      if (tokens.length > this.m.contextLength) throw this.overflow(tokens.length, 0);
      for (const id of tokens) {
        if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new BitNetError('BAD_ARGUMENT', `token id ${id} out of range [0, ${c.vocabSize})`, { details: { token: id } });
      }
      seq.truncate(0);
      const out = new Float32Array(tokens.length * c.vocabSize);
      for (let i = 0; i < tokens.length; i++) {
        // one token per step, each with its logits
        const r = await this.scheduler.submit(seq, [tokens[i]], true, signal);
        if (r === undefined) throw new BitNetError('INTERNAL', 'evaluation produced no logits');
        try {
          out.set(await backend.read(r.logits, r.row * c.vocabSize, c.vocabSize), i * c.vocabSize);
        } finally {
          r.done();
        }
      }
      return out;
    } finally {
      seq.truncate(0);
      release();
    }
  }

  /**
   * Embeddings: each input runs on the model's own sequence from an empty cache in prefill batches and its final-norm
   * hidden states (the rows the output projection reads) are pooled; no logits are computed. Leaves that cache empty.
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

    const seq = this.main;
    const release = await seq.lock.acquire(signal).catch((e: unknown) => {
      throw abortError(signal, `embedding (while queued: ${e instanceof Error ? e.message : String(e)})`);
    });
    try {
      const embeddings: Float32Array[] = [];
      for (const ids of sequences) {
        seq.truncate(0); // each input sees only itself
        const pool = new PoolAccumulator(pooling, c.dim);
        for (let pos = 0; pos < ids.length; pos += PREFILL_BATCH) {
          // a macrotask turn between batches: timers, signals and sockets get served (and may abort us)
          await yieldToEventLoop();
          checkAborted(signal, 'embedding');
          const chunk = ids.slice(pos, Math.min(pos + PREFILL_BATCH, ids.length));
          const [first, end] = pool.rowsWanted(pos, chunk.length, ids.length);
          // hidden states are not a scheduler output: the chunk runs as a step of its own, between the others
          const rows = await this.scheduler.exclusive(async () => {
            const copies: number[] = [];
            seq.reserve(pos, pos + chunk.length, copies);
            backend.beginStep();
            if (copies.length > 0) backend.copyBlocks(this.scheduler.pool, Int32Array.from(copies));
            this.scheduler.setTables();
            const hidden = forward(backend, c, weights, this.scheduler.state, singleSequenceBatch(chunk, pos, false, seq.slot), end > first ? 'hidden' : 'none');
            await backend.endStep();
            seq.appended(chunk);
            return end > first ? await backend.read(hidden, first * c.dim, (end - first) * c.dim) : new Float32Array(0);
          });
          pool.add(rows, chunk.length);
        }
        embeddings.push(pool.result(normalize));
      }
      const promptTokens = sequences.reduce((sum, ids) => sum + ids.length, 0);
      return { embeddings, usage: { promptTokens, totalTokens: promptTokens } };
    } finally {
      seq.truncate(0);
      release();
    }
  }

  /** Generates on the model's own sequence (one generation at a time; later calls wait). */
  async *generate(prompt: string | readonly number[], options: GenerateOptions = {}): AsyncGenerator<GeneratedPiece> {
    this.checkUsable();
    yield* generateOn(this.host, this.main, prompt, options, (lp) => this.withText(lp));
  }

  /**
   * A new, empty sequence with its own KV cache rows (docs/api.md "Sequences"). Generations on different sequences
   * run concurrently and share forward steps; free it when done.
   */
  createSequence(): Sequence {
    this.checkUsable();
    return this.wrap(this.newState());
  }

  /** Block and step counters of the paged KV cache and the scheduler. */
  kvStats(): KvStats {
    return { blockSize: KV_BLOCK_SIZE, blocks: { ...this.kv.stats(), allocated: this.scheduler.pool.allocatedBlocks }, forwardTokens: this.scheduler.forwardTokens, steps: this.scheduler.steps, preemptions: this.scheduler.preemptions };
  }

  private newState(fork?: SeqState): SeqState {
    let slot = this.slots.indexOf(undefined);
    if (slot < 0) slot = this.slots.length;
    if (slot >= MAX_SEQUENCES) throw new BitNetError('BAD_ARGUMENT', `at most ${MAX_SEQUENCES} sequences may be alive at once; free some`, { details: { limit: MAX_SEQUENCES } });
    const s = fork === undefined ? new SeqState(slot, this.kv) : fork.fork(slot);
    this.slots[slot] = s;
    return s;
  }

  private wrap(state: SeqState): Sequence {
    return new Sequence(state, {
      generate: (s, prompt, options) => {
        this.checkUsable();
        return generateOn(this.host, s, prompt, options, (lp) => this.withText(lp));
      },
      fork: (s) => {
        this.checkUsable();
        return this.wrap(this.newState(s));
      },
      receipt: (s, kind) => (s.lastRun === undefined ? undefined : this.receiptOf(s.lastRun, kind)),
      free: (s) => {
        s.free();
        if (this.slots[s.slot] === s) this.slots[s.slot] = undefined;
        while (this.slots.length > 0 && this.slots[this.slots.length - 1] === undefined) this.slots.pop(); // shorter block tables
      },
    });
  }

  /**
   * A receipt for the last generation that finished, on any sequence (undefined before the first): its own tokens and
   * the kernel calls of the steps they ran in (docs/receipts.md "Per-sequence accounting"). Under concurrency, ask the
   * sequence: Sequence.lastReceipt.
   */
  lastReceipt(kind: Receipt['kind'] = 'generate'): Receipt | undefined {
    return this.lastRun === undefined ? undefined : this.receiptOf(this.lastRun, kind);
  }

  private receiptOf(run: RunRecord, kind: Receipt['kind']): Receipt {
    const { config: c, header, backend } = this.m;
    const embd = header.tensors.find((t) => t.name === 'token_embd.weight');
    const allBytes = header.tensors.reduce((sum, t) => sum + t.byteSize, 0);
    const weightBytes = this.m.weights.tiedOutput || embd === undefined ? allBytes : allBytes - embd.byteSize;
    const { compute } = run;
    return {
      schema: RECEIPT_SCHEMA,
      engine: { name: ENGINE_NAME, version: ENGINE_VERSION },
      created_at: new Date().toISOString(),
      kind,
      compute_path: kernelCallsConsistent(compute.kernels, c.nLayers, run.promptTokens.length, run.generated.length).ok ? 'real' : 'incomplete',
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
      kernels: compute.kernels.map((k) => ({ ...k })),
      runtime: runtimeInfo(),
      tokens: { prompt_count: run.promptTokens.length, generated_count: run.generated.length, prompt: [...run.promptTokens], generated: [...run.generated] },
      timings: { load_ms: this.m.loadMs, prefill_ms: run.timings.prefillMs, decode_ms: run.timings.decodeMs, prefill_tok_s: run.timings.prefillTokPerS, decode_tok_s: run.timings.decodeTokPerS },
      sampling: run.sampling,
      seed: run.seed,
      strict: this.m.strict,
      compute: {
        scope: 'sequence',
        steps: compute.steps,
        shared_steps: compute.sharedSteps,
        own_positions: compute.ownPositions,
        step_positions: compute.stepPositions,
        reused_prompt_tokens: run.reusedPromptTokens,
        ...(compute.recomputedPositions > 0 ? { recomputed_positions: compute.recomputedPositions } : {}),
      },
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
    const release = await this.main.lock.acquire();
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
