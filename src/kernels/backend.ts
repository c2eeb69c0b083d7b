// The one interface every compute backend implements; model/forward.ts calls kernels only through it.
//
// Conventions
// - Activations are Float32Array buffers obtained from `allocF32` (the wasm backend hands out views
//   into its own memory, so passing them costs nothing). Token-major: buffer[t * dim + i].
// - Ops are synchronous and write into `out`; `out` may be poisoned (NaN) on entry and every
//   element in range must be written. `out` never aliases an input unless the op says so.
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
}

/** A weight tensor owned by a backend. Opaque except for its shape. */
export interface Weight {
  readonly info: WeightInfo;
  /** ne[1] (1 for vectors). */
  readonly rows: number;
  /** ne[0]. */
  readonly cols: number;
}

/** Per-layer K/V storage owned by a backend. */
export interface KvCache {
  readonly nLayers: number;
  readonly contextLength: number;
  /** nKvHeads * headDim. */
  readonly kvDim: number;
}

export type RopeStyle = 'neox' | 'normal';
export type KernelSetName = 'scalar' | 'simd128' | 'relaxed-simd' | 'webgpu';

export interface MemoryPlan {
  /** Sum of the byte sizes of all weights that will be created. */
  readonly weightBytes: number;
  /** Sum of the element counts of all allocF32 calls that will follow (an upper bound is fine). */
  readonly activationFloats: number;
  /** KV cache bytes that createKvCache will need. */
  readonly kvBytes: number;
}

/** One output of matmulMany. */
export interface MatmulTarget {
  readonly out: Float32Array;
  readonly w: Weight;
  /** Default 1. */
  readonly scale?: number;
}

export interface KernelBackend {
  readonly name: 'reference' | 'wasm' | 'webgpu';
  readonly kernelSet: KernelSetName;
  readonly threads: number;

  /** Called once before any allocation so a backend can size its memory in one step. */
  reserve(plan: MemoryPlan): void;

  /**
   * Create a weight and return the bytes the caller must fill with the tensor data exactly as stored
   * in the file (read straight into backend memory, no intermediate copy). Call `prepareWeight` after.
   */
  createWeight(info: WeightInfo): { weight: Weight; target: Uint8Array };
  /** Validate / repack a filled weight (e.g. check the I2_S scale is finite). */
  prepareWeight(weight: Weight): void;

  /** A zeroed float buffer of n elements in backend memory. */
  allocF32(n: number): Float32Array;

  /**
   * A KV cache of nLayers x contextLength positions of kvDim values. With headDim (a divisor of kvDim), attention on it
   * must use that head size, and a backend may store each KV head's positions together.
   */
  createKvCache(nLayers: number, contextLength: number, kvDim: number, headDim?: number): KvCache;

  // ---- ops ----
  /** out[t, :] = row tokenIds[t] of the embedding table (dims [dim, vocab]), dequantized. */
  embed(out: Float32Array, table: Weight, tokenIds: ArrayLike<number>): void;
  /** out[t, :] = x[t, :] / rms(x[t, :]) * weight. out may alias x. */
  rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, nTokens: number, dim: number, eps: number): void;
  /**
   * out[t, r] = scale * sum_c W[r, c] * x[t, c]. Ternary W: x is quantized to int8 as the weight's
   * ActivationQuant says (kernels/reference/quantize-activations.ts) and the dot is integer.
   * Float / quantized W (embeddings, output): a float dot with the dequantized row.
   */
  matmul(out: Float32Array, w: Weight, x: Float32Array, nTokens: number, scale?: number): void;
  /**
   * Several matmuls of one input: targets[i].out = targets[i].scale * W_i x, each as `matmul` computes it (same
   * results). All weights must have the same column count. A backend may quantize x once for all of them
   * (attention q, k, v; feed-forward gate, up).
   */
  matmulMany(x: Float32Array, nTokens: number, targets: readonly MatmulTarget[]): void;
  /** Rotate pairs of each head in place. positions[t] is the absolute position of token t. */
  rope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, positions: ArrayLike<number>, theta: number, style: RopeStyle): void;
  /** Store k and v (each nTokens x kvDim) for positions startPos.. in layer `layer`. */
  kvWrite(cache: KvCache, layer: number, k: Float32Array, v: Float32Array, startPos: number, nTokens: number): void;
  /**
   * Causal grouped-query attention: token t (position startPos + t) attends to cache positions
   * 0..startPos+t. q is nTokens x (nHeads*headDim); out the same shape. As ggml computes it (llama.cpp
   * and bitnet.cpp): q is rounded to F16 for its dot with the F16 keys, scores scaled by 1/sqrt(headDim),
   * softmax with the max subtracted, probabilities rounded to F16 for their dot with the F16 values.
   */
  attention(out: Float32Array, q: Float32Array, cache: KvCache, layer: number, startPos: number, nTokens: number, nHeads: number, nKvHeads: number, headDim: number): void;
  /** x += y over n elements. */
  addInPlace(x: Float32Array, y: Float32Array, n: number): void;
  /** gate = relu(gate)^2 * up over n elements (BitNet b1.58 2B-4T FFN). */
  reluSqrMul(gate: Float32Array, up: Float32Array, n: number): void;
  /** gate = silu(gate) * up over n elements (bitnet / llama FFN). */
  siluMul(gate: Float32Array, up: Float32Array, n: number): void;

  /** Kernel ids executed so far with call counts (for receipts). */
  kernelCalls(): ReadonlyMap<string, number>;
  /** Release memory and threads. Idempotent. */
  dispose(): Promise<void>;
}
