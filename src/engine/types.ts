// Public types of the generation API (ARCHITECTURE.md "Public API"): options, pieces, results.

import type { ResponseFormat } from '../sampling/json-schema.js';
import type { SamplingConfig } from '../sampling/types.js';
import type { Receipt } from './receipt.js';
import type { Gpu } from '../kernels/webgpu/gpu-api.js';

export type BackendChoice = 'auto' | 'reference' | 'wasm' | 'webgpu';

/** How the scheduler admits waiting generations into the KV cache (LoadOptions.kvAdmission). */
export type KvAdmission = 'reserve' | 'eager';

export interface LoadOptions {
  backend?: BackendChoice;
  /**
   * A WebGPU entry object (what navigator.gpu is) for backend 'webgpu' or 'auto'; in Node, `await loadNodeGpu()` from
   * 'bitnet-engine/node' (the optional `webgpu` package). Default: navigator.gpu; for 'webgpu' in Node, that package.
   * In Node, 'auto' considers WebGPU only when this is given.
   */
  gpu?: Gpu;
  /** Worker threads for the wasm backend (default: available cores). */
  threads?: number;
  /** Positions one sequence may hold; defaults to the model's trained context, capped at 4096. */
  contextLength?: number;
  /**
   * Bytes of the paged KV cache shared by all sequences (F16 K and V, blocks of 16 positions); default: one full
   * context (`contextLength` positions, rounded up to whole blocks). Unused cached prefixes are reclaimed
   * first when it runs out; then a generation fails with KV_CACHE_FULL. The same when the runtime refuses the memory
   * before the budget is reached (CPU backends take it as blocks are first used): blocks that already have memory
   * (free, then idle cached) are used instead, and if there are none only the generation that needed a new block fails;
   * the others in its forward steps go on.
   */
  kvMemory?: number;
  /**
   * When a waiting generation starts while the KV budget binds (docs/api.md "Sequences"): 'eager' (default) as soon as
   * its prompt fits (vLLM's optimistic admission: more at once when most stop well before maxTokens, more preempted and
   * computed again when they do not); 'reserve' only while the free blocks, past its prompt's, also cover the blocks the
   * running generations still need to reach their maxTokens, so new ones do not take the blocks running ones grow into
   * (sized from maxTokens as TGI's token budget: no thrash under a tight budget, fewer at once).
   */
  kvAdmission?: KvAdmission;
  /** Most sequences whose logits one forward step computes (decode tokens batched together); default 8. */
  maxBatchSequences?: number;
  signal?: AbortSignal;
  onProgress?: (p: { loadedBytes: number; totalBytes: number }) => void;
  /** Override the chat template (Jinja source). */
  chatTemplate?: string;
  /** Turn every fallback into a STRICT_VIOLATION error. */
  strict?: boolean;
  /**
   * Activation quantization of ternary matmuls: 'native' (default) follows each format's own engine
   * (per token for I2_S as bitnet.cpp, Q8_K blocks for TQ1_0/TQ2_0 as llama.cpp); 'per-token' or
   * 'q8k-block' force one scheme for every format (then I2_S/TQ1_0/TQ2_0 files of the same weights give
   * bit-identical logits).
   */
  activationQuant?: 'native' | 'per-token' | 'q8k-block';
  /**
   * Byte-level BPE pre-tokenizer rules by name ('llama-bpe', 'default', 'gpt2', ...: PRE_TOKENIZER_NAMES), overriding
   * the file's `tokenizer.ggml.pre`. Without it a file with no (or an unknown) key gets a guess that is listed in
   * `fallbacks` (strict mode refuses it); 'default' reproduces llama.cpp's and bitnet.cpp's fallback split.
   */
  preTokenizer?: string;
  /**
   * Byte layout of I2_S tensors (docs/formats.md): 'auto' (default) tells bitnet32-f16, split32 and qk256 files by
   * their tensor sizes and scale tensors and assumes 'x86' where the size fits x86, ARM and x86-4row alike (nothing
   * in a file says which); 'x86' | 'arm' | 'x86-4row' | 'bitnet32-f16' | 'split32' | 'qk256' names it. Anything but
   * x86 is repacked to x86 at load.
   */
  i2sFlavor?: 'auto' | 'x86' | 'arm' | 'x86-4row' | 'bitnet32-f16' | 'split32' | 'qk256';
  /**
   * TL1/TL2 tiles per weight shape, which the file does not record: the kernel_config.ini bitnet.cpp converted it
   * with (its text, or its sections as { m, k, bm, bk, bmm }). Shapes it lacks fall back to the tiles bitnet.cpp's
   * setup_env.py generates for its known models; a TL file of any other shape needs it.
   */
  tlConfig?: string | readonly { readonly m: number; readonly k: number; readonly bm: number; readonly bk: number; readonly bmm: number }[];
  /**
   * Called once the header, config and tokenizer are checked and before any memory is reserved or weight read:
   * a last check that is cheap now and expensive after the load (e.g. that a prompt fits the context). Throwing
   * cancels the load with that error.
   */
  preflight?: (model: PreflightInfo) => void | Promise<void>;
}

/** Bytes a load reserves in backend memory. */
export interface LoadMemory {
  /** Matrices as stored in the file (the norms count as activations). */
  readonly weightBytes: number;
  /** Norm vectors as F32 and the activation buffers of one prefill batch. */
  readonly activationBytes: number;
  /**
   * The KV budget: F16 K and V for every layer and position of the context (or of kvMemory). CPU backends take this
   * memory as sequences grow, not at load; it is counted here as the most the load can come to use.
   */
  readonly kvBytes: number;
  /** weightBytes + activationBytes + kvBytes: the backend's memory. */
  readonly totalBytes: number;
  /**
   * Host memory beside the backend's: an untied token embedding (the file has its own output.weight), which only the
   * prompt's and generated tokens' rows are read from, so it stays out of the wasm or GPU memory (0 when tied).
   */
  readonly hostBytes: number;
}

/** What loading a file would take (BitNet.plan), from its header alone. */
export interface LoadPlan {
  readonly arch: string;
  readonly fileBytes: number;
  readonly contextLength: number;
  readonly memory: LoadMemory;
}

/** What a load knows before it reads weights (see LoadOptions.preflight). */
export interface PreflightInfo {
  readonly arch: string;
  readonly vocabSize: number;
  /** The KV cache length the load will allocate. */
  readonly contextLength: number;
  readonly memory: LoadMemory;
  tokenize(text: string, options?: { addBos?: boolean; parseSpecial?: boolean }): number[];
}

export interface GenerateOptions {
  /** Maximum new tokens (default 256). */
  maxTokens?: number;
  sampling?: SamplingConfig;
  seed?: number;
  /** Stop strings: generation ends before the first occurrence; the stop text is not returned. */
  stop?: readonly string[];
  /** Extra stop token ids (the tokenizer's end-of-generation tokens are stops unless ignoreEos). */
  stopTokens?: readonly number[];
  /** Keep generating through end-of-generation tokens (benchmarks, comparisons). */
  ignoreEos?: boolean;
  signal?: AbortSignal;
  /** Include the top-N log-probabilities of each generated token (0 = none). */
  topLogprobs?: number;
  /** Add the BOS token when the tokenizer asks for it (default true for raw prompts). */
  addBos?: boolean;
  /**
   * Constrained decoding: only text that is a JSON object (`json_object`) or a value valid against the schema
   * (`json_schema`, the subset in docs/api.md) can be generated; the generation ends ('stop') when the value is
   * complete. If `maxTokens` or the context runs out first the finish is 'length' and the text may be incomplete;
   * the engine steers toward a complete value as the budget nears its end (see docs/api.md).
   */
  responseFormat?: ResponseFormat;
  /**
   * When the sequence reaches the context length: true (default) shifts the context as llama.cpp does (keeps the
   * first `keepTokens`, drops the oldest half of the rest, re-rotates the kept keys) and goes on; false ends the
   * generation with 'length'.
   */
  contextShift?: boolean;
  /** Tokens a context shift always keeps at the start (default 0; the BOS token is kept besides when the prompt starts with it). */
  keepTokens?: number;
}

/** Counters of the paged KV cache and the step scheduler (BitNet.kvStats). */
export interface KvStats {
  /** Positions per block. */
  readonly blockSize: number;
  readonly blocks: {
    /** Blocks the KV memory budget holds (kvMemory, or one full context): the capacity. */
    readonly nBlocks: number;
    /**
     * Blocks' worth of memory taken so far: CPU backends take it as blocks are first used, in chunks, up to nBlocks
     * (nothing at load); WebGPU holds all nBlocks from the load.
     */
    readonly allocated: number;
    /** Blocks nothing holds. */
    readonly free: number;
    /** Unreferenced blocks the prefix cache keeps (reclaimed least recently used first). */
    readonly cachedIdle: number;
    /** Blocks held by at least one sequence. */
    readonly used: number;
  };
  /** Entries (tokens) run through the model so far: prefix reuse shows as fewer. */
  readonly forwardTokens: number;
  /** Forward steps run so far. */
  readonly steps: number;
  /**
   * Running sequences preempted so far because the KV cache was full: their blocks freed, their tokens computed again
   * once blocks were free (engine/scheduler.ts). Each shows as recomputed forwardTokens, never as changed output.
   */
  readonly preemptions: number;
}

export interface TokenLogprob {
  readonly token: number;
  readonly text: string;
  readonly logprob: number;
}

/**
 * One streamed piece: text that is valid UTF-8 (may be empty while a character is incomplete).
 * The last piece of every stream that ends normally carries `finish` (its text may be empty).
 * A stream cancelled through its AbortSignal throws BitNetError('ABORTED').
 */
export interface GeneratedPiece {
  readonly text: string;
  readonly tokenIds: readonly number[];
  readonly logprobs?: readonly { readonly chosen: TokenLogprob; readonly top: readonly TokenLogprob[] }[];
  readonly finish?: { readonly reason: FinishReason; readonly usage: Usage; readonly timings: Timings };
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
}

export interface Timings {
  readonly loadMs: number;
  readonly prefillMs: number;
  readonly decodeMs: number;
  readonly prefillTokPerS: number;
  readonly decodeTokPerS: number;
  /** Time from call to first generated token. */
  readonly timeToFirstTokenMs: number;
}

export interface CompletionResult {
  readonly text: string;
  readonly tokenIds: readonly number[];
  readonly finishReason: FinishReason;
  readonly usage: Usage;
  readonly timings: Timings;
  readonly logprobs?: GeneratedPiece['logprobs'];
}

/**
 * How `embed` turns one input's hidden states (one per token) into one vector: their mean, the last token's, or the
 * first token's (`cls`: the BOS token when the tokenizer adds one).
 */
export type Pooling = 'mean' | 'last' | 'cls';

export interface EmbedOptions {
  /** Default 'mean'. */
  readonly pooling?: Pooling;
  /** Scale each embedding to unit L2 length (default true). */
  readonly normalize?: boolean;
  readonly signal?: AbortSignal;
}

export interface EmbedResult {
  /** One vector of `info.embeddingLength` floats per input, in input order. */
  readonly embeddings: Float32Array[];
  /** Tokens evaluated, all inputs together (an embedding generates none, so both counts are equal). */
  readonly usage: { readonly promptTokens: number; readonly totalTokens: number };
}

export type ChatRole = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string;
}

/** What a loaded model says about itself (for servers, inspect, receipts). */
export interface ModelInfo {
  readonly name: string;
  readonly arch: string;
  readonly fileName: string;
  readonly fileBytes: number;
  readonly contextLength: number;
  readonly vocabSize: number;
  /** Floats per hidden state, the length of an embedding (GGUF `<arch>.embedding_length`). */
  readonly embeddingLength: number;
  readonly nParams: number;
  readonly backend: string;
  readonly kernelSet: string;
  /** Options of the kernel set in effect: 'fused-dot' where the wasm ternary kernels run on fused i32 dots (AVX-VNNI). */
  readonly kernelFeatures: readonly string[];
  readonly threads: number;
}

/** One sequence of a model (BitNet.createSequence): KV cache rows of its own; generations on different sequences share steps. */
export interface SequenceHandle {
  /** Tokens whose K/V the sequence holds. */
  readonly tokens: readonly number[];
  generate(prompt: string | readonly number[], options?: GenerateOptions): AsyncIterable<GeneratedPiece>;
  /** The receipt of the last generation that finished on this sequence (its own compute); optional for fakes. */
  lastReceipt?(kind?: Receipt['kind']): Receipt | undefined;
  free(): void;
}

/**
 * A loaded model. Calls are serialized: a second generation waits for the first to finish
 * (servers put their own bounded queue in front). `dispose` (or `await using`) frees memory.
 */
export interface LoadedModel extends AsyncDisposable {
  readonly info: ModelInfo;
  generate(prompt: string | readonly number[], options?: GenerateOptions): AsyncIterable<GeneratedPiece>;
  complete(prompt: string | readonly number[], options?: GenerateOptions): Promise<CompletionResult>;
  chat(messages: readonly ChatMessage[], options?: GenerateOptions): AsyncIterable<GeneratedPiece>;
  chatComplete(messages: readonly ChatMessage[], options?: GenerateOptions): Promise<CompletionResult>;
  /** The prompt text a chat renders to (template applied, generation prompt added). */
  renderChat(messages: readonly ChatMessage[]): string;
  tokenize(text: string, options?: { addBos?: boolean; parseSpecial?: boolean }): number[];
  detokenize(ids: readonly number[]): string;
  /**
   * One embedding per input (a text, a list of texts, or a list of token-id lists): the final-norm hidden states of
   * its tokens, pooled and (by default) L2-normalized. Waits its turn like a generation.
   */
  embed(inputs: string | readonly string[] | readonly (readonly number[])[], options?: EmbedOptions): Promise<EmbedResult>;
  /** Generations waiting for the model (not counting the running one). */
  readonly pending: number;
  /** A new sequence that generates concurrently with others (docs/api.md "Sequences"); optional for proxies and fakes. */
  createSequence?(): SequenceHandle;
  /** Token ids of a chat prompt (template applied, generation prompt added); present with createSequence. */
  chatTokens?(messages: readonly ChatMessage[]): number[];
  /** Counters of the paged KV cache and the step scheduler, for /metrics (BitNet has them; fakes may not). */
  kvStats?(): KvStats;
  /** The receipt of the last generation that finished (BitNet has it; fakes may not). */
  lastReceipt?(kind?: Receipt['kind']): Receipt | undefined;
  dispose(): Promise<void>;
}
