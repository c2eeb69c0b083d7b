// The one interface every compute backend implements; model/forward.ts calls kernels only through it.
//
// Conventions
// - Activations are `Tensor` handles from `alloc`, owned by the backend (docs/next-shape.md section 1): the CPU
//   backends wrap a Float32Array view of their own memory (no copies), a GPU backend a buffer range.
//   Token-major: t[t * dim + i]. Host data goes in with `write` and comes back with `read` (async) or, on CPU
//   backends, through the live `view`.
// - Ops are recorded between `beginStep` and `endStep` (section 2). CPU backends execute each op when it is
//   called, so `endStep` resolves at once; a GPU backend submits the step's commands once, at `endStep`.
// - Ops write into `out`; `out` may be poisoned (NaN) on entry and every element in range must be written.
//   `out` never aliases an input unless the op says so. Argument errors throw BitNetError when the op is called.
// - A weight matrix W has dims [cols, rows] in ggml order: ne[0] = cols = input length (contiguous),
//   ne[1] = rows = output length. matmul computes out[t, r] = sum_c W[r, c] * x[t, c].

import type { GgmlType } from '../formats/ggml-type.js';

/**
 * How a ternary matmul quantizes its activations to int8, following the engine that defines each format:
 * - 'per-token': one absmax scale per token, s = 127 / max|x| (bitnet.cpp's I2_S path, quantize_row_i8_s);
 * - 'q8k-block': one scale per 256 values as llama.cpp's Q8_K, d = max / -127 with the signed max and
 *   round-half-even (ggml-quants.c quantize_row_q8_K_ref; the vec_dot type of TQ1_0 and TQ2_0).
 * The default for a weight is nativeActivationQuant(type) (formats/index.ts).
 */
export type ActivationQuant = 'per-token' | 'q8k-block';

export interface WeightInfo {
  readonly name: string;
  readonly type: GgmlType;
  /** ggml dims, ne[0] first. */
  readonly dims: readonly number[];
  /** Exact byte size of the tensor data as stored in the file. */
  readonly byteSize: number;
  /** Ternary weights only: override the activation quantization (default: the format's native one). */
  readonly activationQuant?: ActivationQuant;
  /**
   * F32/F16/BF16: the caller refuses any NaN or Inf in the data before prepareWeight (the model loader does), so a
   * backend may skip its own scan for them.
   */
  readonly checkedFinite?: boolean;
  /**
   * The weight is read by embed only, never by matmul (an untied token embedding: the logits come from output.weight).
   * The backend keeps its bytes in host memory, outside its own (wasm or device) memory, and embed dequantizes the
   * rows asked for there, with the values its embed kernel gives; it is not part of MemoryPlan.weightBytes, and
   * matmul refuses it (BAD_ARGUMENT). A 128256 x 4096 F16 table is 1 GiB of a wasm32 memory's 4 otherwise.
   */
  readonly lookupOnly?: boolean;
}

/** A weight tensor owned by a backend. Opaque except for its shape. */
export interface Weight {
  readonly info: WeightInfo;
  /** ne[1] (1 for vectors). */
  readonly rows: number;
  /** ne[0]. */
  readonly cols: number;
}

/**
 * The paged KV cache (docs/next-shape.md section 5): per layer, F16 K and V in `nBlocks` blocks of `blockSize`
 * positions, owned by a backend. Which block holds which positions of which sequence is the block tables' business
 * (setBlockTables); allocation, sharing and eviction live in the engine (engine/kv-blocks.ts).
 */
export interface KvPool {
  readonly nLayers: number;
  /** nKvHeads * headDim. */
  readonly kvDim: number;
  readonly headDim: number;
  /** Positions per block. */
  readonly blockSize: number;
  /** Blocks the pool may hold: the KV budget. */
  readonly nBlocks: number;
  /**
   * Blocks' worth of memory the pool holds now (<= nBlocks). Every backend takes memory for a block when it is first
   * used (setBlockTables, copyBlocks), a chunk at a time (kernels/kv-growth.ts), so a load reserves none.
   */
  readonly allocatedBlocks: number;
}

/**
 * One forward step's input (docs/next-shape.md section 3). All arrays hold nTokens entries except `logitRows`.
 * Entries of one sequence are contiguous and in position order; a sequence appears at most once per step.
 */
export interface StepBatch {
  readonly nTokens: number;
  /** Token id of entry t. */
  readonly tokens: Int32Array;
  /** Absolute position of entry t in its sequence. */
  readonly positions: Int32Array;
  /** Sequence slot of entry t: the row of the block tables it reads and writes. */
  readonly seqs: Int32Array;
  /** Entries whose logits are wanted, in the order the logits rows come out. */
  readonly logitRows: Int32Array;
}

/**
 * What kvWrite and attention read of a step: where each entry sits. Its arrays must not change while it is in use:
 * a backend may keep what it derived from a batch object (device copies, resolved blocks) for the step's later layers.
 */
export type KvBatch = Pick<StepBatch, 'nTokens' | 'positions' | 'seqs'>;

export type RopeStyle = 'neox' | 'normal';
export type KernelSetName = 'scalar' | 'simd128' | 'relaxed-simd' | 'webgpu';

export interface MemoryPlan {
  /** Sum of the byte sizes of all weights that will be created, less the lookup-only ones (WeightInfo.lookupOnly). */
  readonly weightBytes: number;
  /** Sum of the element counts of all alloc calls that will follow (an upper bound is fine). */
  readonly activationFloats: number;
  /**
   * KV pool bytes createKvPool may need at most (its budget). CPU backends check that it fits and grow into it as blocks
   * are used; they do not reserve it.
   */
  readonly kvBytes: number;
}

/** Activations in backend memory (docs/next-shape.md section 1). Opaque: only the backend reads or writes its contents. */
export interface Tensor {
  readonly nElements: number;
}

/** Per row of a top-k read: the k largest values with their ids, descending (ties: lower id first). */
export interface TopK {
  /** ids[row * k + j] */
  readonly ids: Int32Array;
  /** values[row * k + j] */
  readonly values: Float32Array;
}

/** One output of matmulMany. */
export interface MatmulTarget {
  readonly out: Tensor;
  readonly w: Weight;
  /** Default 1. */
  readonly scale?: number;
}

export interface KernelBackend {
  readonly name: 'reference' | 'wasm' | 'webgpu';
  readonly kernelSet: KernelSetName;
  /** Options of the kernel set in effect, e.g. ['fused-dot'] (wasm: the fused i32 ternary kernels); none when absent. */
  readonly kernelFeatures?: readonly string[];
  readonly threads: number;

  /** Called once before any allocation so a backend can size its memory in one step. */
  reserve(plan: MemoryPlan): void;
  /**
   * Optional, for backends whose kernels take time to get ready (GPU pipelines compiled on first use): a model load
   * calls it after reserve; the backend then prepares in the background the kernels every forward step runs and those
   * of each weight created after, so the first step does not wait for them.
   */
  readonly beginWarmUp?: () => void;
  /** Settles (never rejects) when what beginWarmUp started is ready; a model load awaits it after the weights. */
  readonly warmUpDone?: () => Promise<void>;

  /**
   * Create a weight and return the bytes the caller must fill with the tensor data exactly as stored
   * in the file (read straight into backend memory, no intermediate copy). Call `prepareWeight` after.
   */
  createWeight(info: WeightInfo): { weight: Weight; target: Uint8Array };
  /** Validate / repack a filled weight (e.g. check the I2_S scale is finite). */
  prepareWeight(weight: Weight): void;
  /**
   * Optional, for backends whose memory the host cannot write in place (GPU): a weight whose bytes arrive in file order
   * through writeWeight, a bounded piece at a time, so no whole tensor is ever held in host memory. Call prepareWeight
   * after the last piece.
   */
  readonly createStreamedWeight?: (info: WeightInfo) => Weight;
  /**
   * The next piece of a streamed weight: `bytes` at tensor byte `byteOffset`, which must equal the bytes written so far
   * and be a multiple of 4; every piece but the last holds whole blocks of the weight's type. The bytes are copied.
   */
  readonly writeWeight?: (weight: Weight, byteOffset: number, bytes: Uint8Array) => void;

  /** A zeroed tensor of nElements floats in backend memory. */
  alloc(nElements: number): Tensor;
  /** Host -> backend: dst[dstOffset + i] = src[i], ordered with the ops of the current step. */
  write(dst: Tensor, src: Float32Array, dstOffset?: number): void;
  /** Backend -> host: a copy of src[offset .. offset + nElements) after every op recorded so far. */
  read(src: Tensor, offset: number, nElements: number): Promise<Float32Array>;
  /** CPU backends only: the live Float32Array behind a tensor (no copy). GPU backends leave it undefined. */
  readonly view?: (t: Tensor) => Float32Array;
  /** Starts recording a step. CPU backends: nothing to do (ops execute as they are called). */
  beginStep(): void;
  /** Ends the step; resolves when its results may be read. GPU: submits the recorded commands once. */
  endStep(): Promise<void>;

  /**
   * A paged KV pool of nBlocks blocks of blockSize positions, nLayers layers of kvDim (= nKvHeads * headDim) F16 keys
   * and values per position. Within a block the layout is the backend's (wasm and reference: each KV head's
   * positions together). Its block contents start as zeros. Block tables and copy pairs may name any block below
   * nBlocks; a backend that takes memory on first use does so in setBlockTables and copyBlocks (KV_CACHE_FULL when the
   * memory cannot grow).
   */
  createKvPool(nLayers: number, kvDim: number, headDim: number, blockSize: number, nBlocks: number): KvPool;
  /**
   * The block tables of the next ops: tables[s * maxBlocks + i] is the pool block holding positions
   * i * blockSize .. (i + 1) * blockSize - 1 of sequence slot s, or -1 for none (a row's blocks are a prefix of it:
   * the first -1 ends the row). Copied (GPU: uploaded with the step); kvWrite, attention and shiftKeys read them.
   */
  setBlockTables(pool: KvPool, tables: Int32Array, nSeqs: number, maxBlocks: number): void;
  /**
   * Copies whole blocks, all layers, K and V: for each i, block pairs[2i + 1] becomes a copy of block pairs[2i]
   * (copy-on-write of a shared block). Pairs run in order.
   */
  copyBlocks(pool: KvPool, pairs: Int32Array): void;
  /**
   * Optional, for backends that learn only later that the device refused memory (WebGPU: an out-of-memory error scope
   * resolves after the call that asked): resolves once the memory the pool took since the last call (in setBlockTables
   * and copyBlocks, for blocks used the first time) is known to be there. When the device refused it, the pool is as it
   * was before those growths (its buffers and contents; the blocks that got memory from them lose it and take it again
   * on their next use, the others keep theirs) and the promise rejects with KV_CACHE_FULL. Call it before any op uses
   * the new blocks: after one has, a refusal fails the step at endStep instead. Backends whose growth fails at once
   * (the CPU ones: KV_CACHE_FULL from setBlockTables) leave it undefined.
   */
  readonly settleKvGrowth?: (pool: KvPool) => Promise<void>;

  // ---- ops ----
  /** out[t, :] = row tokenIds[t] of the embedding table (dims [dim, vocab]), dequantized. */
  embed(out: Tensor, table: Weight, tokenIds: ArrayLike<number>): void;
  /** out[t, :] = x[t, :] / rms(x[t, :]) * weight. out may alias x. */
  rmsnorm(out: Tensor, x: Tensor, weight: Tensor, nTokens: number, dim: number, eps: number): void;
  /**
   * out[t, r] = scale * sum_c W[r, c] * x[t, c]. Ternary W: x is quantized to int8 as the weight's
   * ActivationQuant says (kernels/reference/quantize-activations.ts) and the dot is integer.
   * Float / quantized W (embeddings, output): a float dot with the dequantized row.
   */
  matmul(out: Tensor, w: Weight, x: Tensor, nTokens: number, scale?: number): void;
  /**
   * Several matmuls of one input: targets[i].out = targets[i].scale * W_i x, each as `matmul` computes it (same
   * results). All weights must have the same column count. A backend may quantize x once for all of them
   * (attention q, k, v; feed-forward gate, up).
   */
  matmulMany(x: Tensor, nTokens: number, targets: readonly MatmulTarget[]): void;
  /** Rotate pairs of each head in place. positions[t] is the absolute position of token t. */
  rope(x: Tensor, nTokens: number, nHeads: number, headDim: number, positions: ArrayLike<number>, theta: number, style: RopeStyle): void;
  /**
   * Store k and v (each nTokens x kvDim) of `layer`: entry t's at position positions[t] of sequence slot seqs[t],
   * through the block tables (the block must be in the table).
   */
  kvWrite(pool: KvPool, layer: number, k: Tensor, v: Tensor, batch: KvBatch): void;
  /**
   * Causal grouped-query attention per entry: entry t attends to positions 0..positions[t] of sequence slot seqs[t],
   * read through the block tables. q is nTokens x (nHeads * headDim); out the same shape; headDim is the pool's. As
   * ggml computes it (llama.cpp and bitnet.cpp): q is rounded to F16 for its dot with the F16 keys, scores scaled by
   * 1/sqrt(headDim), softmax with the max subtracted, probabilities rounded to F16 for their dot with the F16 values.
   * The result of an entry does not depend on which blocks hold its positions or what else shares the step.
   */
  attention(out: Tensor, q: Tensor, pool: KvPool, layer: number, batch: KvBatch, nHeads: number, nKvHeads: number): void;
  /**
   * Context shift of sequence slot `seq`, every layer: the K and V of positions [from, to) move to positions
   * [from + delta, to + delta) (delta < 0: the positions [from + delta, from) are dropped), and the keys are re-rotated
   * by delta positions as ggml's rope does for a position of `delta` (llama.cpp's K shift: F16 read, rotation in f32,
   * F16 rounding). Every block of [from + delta, to) must be in the table and not shared.
   */
  shiftKeys(pool: KvPool, seq: number, from: number, to: number, delta: number, theta: number, style: RopeStyle): void;
  /** x += y over n elements. */
  addInPlace(x: Tensor, y: Tensor, n: number): void;
  /** gate = relu(gate)^2 * up over n elements (BitNet b1.58 2B-4T FFN). */
  reluSqrMul(gate: Tensor, up: Tensor, n: number): void;
  /** gate = silu(gate) * up over n elements (bitnet / llama FFN). */
  siluMul(gate: Tensor, up: Tensor, n: number): void;
  /** out[i, :] = x[rows[i], :] for i < rows.length, rows of `dim` floats (the rows whose logits a step wants); out is not x. */
  gatherRows(out: Tensor, x: Tensor, rows: ArrayLike<number>, dim: number): void;

  // ---- reads for sampling (docs/next-shape.md section 4); each reads after every op recorded so far ----
  /**
   * Per row of `logits` (nRows x vocab): the id of the largest value, the lowest id among equals; -1 for a row that
   * holds NaN or +Infinity or only -Infinity (the sampler then reads the row to say what is wrong).
   */
  argmax(logits: Tensor, nRows: number, vocab: number): Promise<Int32Array>;
  /** Per row: the k (1..vocab) largest values with their ids, descending, ties by lower id; NaN counts as smallest. */
  topK(logits: Tensor, nRows: number, vocab: number, k: number): Promise<TopK>;

  /** Kernel ids executed so far with call counts (for receipts). */
  kernelCalls(): ReadonlyMap<string, number>;
  /** Release memory and threads. Idempotent. */
  dispose(): Promise<void>;
}
