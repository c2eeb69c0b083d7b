// The WebGPU backend: KernelBackend ops recorded as compute passes into a command encoder per step and submitted as
// the step goes (docs/next-shape.md sections 1-4); WGSL kernels in shaders/*.wgsl, bundled by scripts/build-wgsl.mjs.
//
// Numerics follow the reference backend (docs/numerics.md): integer dot products for the ternary and block-quantized
// formats on activations quantized exactly as the CPU backends do (quantize.wgsl), F16 K/V cache with q and the
// probabilities rounded to F16, F16/BF16 rounding and divisions done exactly in integer arithmetic (common.wgsl).
// Float sums run in a different order than on the CPU, so float outputs differ by a few ulp (conformance tolerances).
//
// Kernel sets: where WGSL has packed_4x8_integer_dot_product (navigator.gpu.wgslLanguageFeatures; Chromium and Dawn
// do), I2_S, TQ2_0 and Q8_0 matmuls run matmul-i2s-dp4a.wgsl / matmul-tq2-dp4a.wgsl / matmul-q8_0-dp4a.wgsl
// (dot4I8Packed on activations packed four to a word; the portable kernels' outputs bit for bit), else
// matmul-ternary.wgsl / matmul-quant.wgsl. Where the adapter has 'subgroups', the norm and quantization kernels take
// their order-free reductions (max, integer sums) from reduce-subgroups.wgsl, else reduce-portable.wgsl: same values.
// No shader-f16 kernels: F16 data is read from its bits and computed in f32 (exactly as the CPU backends round).
// Recording cost (a decode step of 2b-4t is 365 dispatches): one compute pass per submission (ended only for copies),
// parameter blocks in slots of persistent uniform buffers written before the submit that reads them, bind groups
// reused by (pipeline, slot, buffers), so the same dispatch of the next token finds its group; per-step uploads go
// into persistent scratch buffers for the same reason (uploadTo). A step is submitted in pieces (32 dispatches, then
// 64, then 128 at a time: submitRecorded), so the GPU runs the first layers while the JavaScript records the next;
// endStep submits the rest.
// Fusion (fuseOps, default on; docs/next-shape.md "Where the code stands"): an op that the next one may take in is
// held back (defer) until something else is recorded; gating + norm + per-token quantization run as one rmsnorm.wgsl
// dispatch, a matmul and the residual add of its output as one matmul dispatch, the RoPE of q and k as one rope.wgsl
// dispatch, two I2_S weights of one input (q and k, gate and up) as one dispatch: 12 dispatches per layer instead
// of 22, the same bits.

import { checkAttentionShape, checkKvPoolArgs, checkRopeArgs } from '../op-args.js';
import { softwareAdapterReason } from './adapter-kind.js';
import { BlockTables, checkCopyPairs, checkShift } from '../block-tables.js';
import { HostLookupWeight } from '../host-lookup.js';
import { KvHomes, kvBlockBytes } from '../kv-growth.js';
import { BitNetError } from '../../errors.js';
import { TYPE_TRAITS, GgmlType } from '../../formats/ggml-type.js';
import type { ActivationQuant, KernelBackend, KvBatch, KvPool, MatmulTarget, MemoryPlan, RopeStyle, Tensor, TopK, Weight, WeightInfo } from '../backend.js';
import { checkMatmulMany } from '../matmul-many.js';
import { requireFinite, requireInt } from '../reference/checks.js';
import { BLOCK_SCALES, checkBlockScaleRange, checkWeightInfo } from '../reference/weights.js';
import { nativeActivationQuant } from '../../formats/index.js';
import { checkK, checkRows } from '../row-select.js';
import { SHADERS, type ShaderName } from './generated/shaders.js';
import { BUFFER_USAGE, MAP_READ, type Gpu, type GpuAdapter, type GpuBindGroup, type GpuBuffer, type GpuComputePass, type GpuComputePipeline, type GpuCommandEncoder, type GpuDevice, type GpuShaderModule } from './gpu-api.js';

/** Bytes of one upload of a createWeight array (queue.writeBuffer) in prepareWeight. */
export const UPLOAD_CHUNK_BYTES = 16 * 1024 * 1024;
/** Largest headDim the attention kernel holds in workgroup memory. */
const MAX_HEAD_DIM = 256;
/** Largest k of topK (one pass over the row per k). */
export const MAX_TOP_K = 1024;
/** Bytes of a dispatch's parameter block (common.wgsl Params: 8 u32, 4 f32, 4 u32). */
const PARAM_BYTES = 64;
/** Bytes between parameter blocks in their uniform buffer (WebGPU's default minUniformBufferOffsetAlignment). */
const PARAM_SLOT_BYTES = 256;
/** Parameter blocks per uniform buffer: a 2b-4t decode step records 365 dispatches. */
const PARAM_CHUNK_SLOTS = 1024;
/**
 * Dispatches recorded before a step's first submit, doubled after each submit up to SUBMIT_MOST: the GPU runs what is
 * recorded while the rest of the step is recorded (ggml-vulkan submits every 100 nodes, the first ones sooner, for
 * the same reason: ggml/src/ggml-vulkan/ggml-vulkan.cpp, nodes_per_submit).
 */
const SUBMIT_FIRST = 32;
const SUBMIT_MOST = 128;
/** Positions per workgroup chunk of a split attention (attention.wgsl modes 1-3). */
const ATTENTION_CHUNK = 256;
/** Attention splits long contexts when a step has fewer (entry, KV head, head group) units than this (decode). */
const ATTENTION_SPLIT_UNITS = 64;
/** Kernels that include reduce-portable.wgsl or reduce-subgroups.wgsl (workgroups of 64, order-free reductions). */
const REDUCE_USERS: ReadonlySet<ShaderName> = new Set<ShaderName>(['rmsnorm', 'quantize']);
/** Matmul kernels, which take their out / res bindings and store_out from matmul-out.wgsl. */
const MATMUL_OUT_USERS: ReadonlySet<ShaderName> = new Set<ShaderName>(['matmul-float', 'matmul-i2s-dp4a', 'matmul-q8_0-dp4a', 'matmul-quant', 'matmul-ternary', 'matmul-tq2-dp4a']);
/** Bind groups kept for reuse (cleared when full: entries of destroyed buffers are never looked up again). */
const MAX_CACHED_BIND_GROUPS = 8192;
/** Workgroups per dispatch dimension that every adapter allows (WebGPU default limit). */
const MAX_GROUPS_PER_DIM = 65535;

export interface WebGpuBackendOptions {
  /** navigator.gpu or a Node binding's GPU object; default globalThis.navigator.gpu. */
  readonly gpu?: Gpu;
  /** Split weights into GPU buffers of at most this many bytes (default: the adapter's maxStorageBufferBindingSize). */
  readonly maxBindingBytes?: number;
  /**
   * Only the kernels every adapter runs: no packed 4 x int8 dot products even where WGSL has them, no subgroup
   * operations even where the adapter has them (tests run both kernel sets; default false).
   */
  readonly portableKernels?: boolean;
  /**
   * Fuse neighbouring ops into one dispatch where the second consumes the first (default true; false records every op
   * as its own dispatch, for tests and bisection): the feed-forward gating, the norm after it and the per-token
   * activation quantization of the matmul after that; a norm and that quantization; a matmul and the residual add of
   * its output; the q and k RoPE of a layer.
   * Fused kernels do each op's arithmetic as its own kernel does, so the outputs are the same bits.
   */
  readonly fuseOps?: boolean;
  /**
   * Positions per chunk when attention splits a long context over workgroups (default ATTENTION_CHUNK, no split on a
   * software adapter); it splits when an entry attends to more positions than that and the step has few (entry, KV
   * head, head group) units, as a decode step has. Tests set it small to run the split path on short contexts.
   */
  readonly attentionChunk?: number;
  /**
   * Compile the pipelines a model runs in the background while its weights upload (beginWarmUp), not at its first
   * step (default: on a hardware adapter; off on a software one, whose compiles take the CPUs the upload needs).
   */
  readonly warmUp?: boolean;
}

/**
 * Compiled pipelines by device and kernel set (subgroups or not), shared by the backends of one device: pipelines
 * belong to the device, not to a backend (a test suite that makes a backend per test on one device compiles each
 * once; SwiftShader takes about a second for attention.wgsl).
 */
const devicePipelines = new WeakMap<GpuDevice, Map<boolean, Map<ShaderName, GpuComputePipeline>>>();

const FORMAT = {
  ternary: { [GgmlType.I2_S]: 0, [GgmlType.TQ2_0]: 1, [GgmlType.TQ1_0]: 2 } as Partial<Record<GgmlType, number>>,
  float: { [GgmlType.F32]: 0, [GgmlType.F16]: 1, [GgmlType.BF16]: 2 } as Partial<Record<GgmlType, number>>,
  quant: { [GgmlType.Q8_0]: 0, [GgmlType.Q4_0]: 1, [GgmlType.Q6_K]: 2 } as Partial<Record<GgmlType, number>>,
  embed: {
    [GgmlType.F32]: 0,
    [GgmlType.F16]: 1,
    [GgmlType.BF16]: 2,
    [GgmlType.Q8_0]: 3,
    [GgmlType.Q4_0]: 4,
    [GgmlType.Q6_K]: 5,
    [GgmlType.I2_S]: 6,
    [GgmlType.TQ2_0]: 7,
    [GgmlType.TQ1_0]: 8,
  } as Partial<Record<GgmlType, number>>,
};

function bad(op: string, message: string, details: Record<string, string | number> = {}): BitNetError {
  return new BitNetError('BAD_ARGUMENT', `${op}: ${message}`, { details: { op, ...details } });
}

const roundUp4 = (n: number): number => Math.max(4, Math.ceil(n / 4) * 4);

/** A quantized activation batch (WebGpuBackend.quantize): int8 four to a u32, scales, per-token sums. */
type Quantized = [xq: GpuBuffer, xs: GpuBuffer, qsum: GpuBuffer];

/** A RoPE cos / sin table on the device and what it was built for. */
interface RopeTable {
  readonly headDim: number;
  readonly theta: number;
  readonly positions: Float64Array;
  readonly buffer: GpuBuffer;
}

/** One dispatch of a matmul kernel, as matmulCalls plans it (recordMatmul adds the residual binding and flag). */
interface KernelCall {
  readonly name: ShaderName;
  readonly groups: number;
  readonly u: readonly number[];
  /** x0 and x1 of the parameter block (x2 is the residual flag). */
  readonly f: readonly [number, number];
  readonly bindings: readonly GpuBuffer[];
  /** Bindings after the residual one (matmul-i2s-dp4a.wgsl: a second weight and its output). */
  readonly extra?: readonly GpuBuffer[];
}

const bitsF32 = new Float32Array(1);
const bitsU32 = new Uint32Array(bitsF32.buffer);
const RMSNORM_IDS: string[] = [];
/** The kernelCalls id of an rmsnorm.wgsl dispatch with the stages it ran: gating code (0 none), norm, quantization. */
function rmsnormId(gate: number, norm: boolean, quantize: boolean): string {
  const k = gate * 4 + (norm ? 2 : 0) + (quantize ? 1 : 0);
  let id = RMSNORM_IDS[k];
  if (id === undefined) {
    const fused = [...(gate === 1 ? ['relu_sqr_mul'] : gate === 2 ? ['silu_mul'] : []), ...(norm ? ['rmsnorm'] : []), ...(quantize ? ['quantize'] : [])];
    id = fused.length === 1 ? 'webgpu.rmsnorm' : `webgpu.fused.${fused.join('+')}`;
    RMSNORM_IDS[k] = id;
  }
  return id;
}

/** The bits of f32(v), for a float passed in a u32 parameter. */
function f32Bits(v: number): number {
  bitsF32[0] = v;
  return bitsU32[0];
}

/** A gating op (reluSqrMul 1, siluMul 2) waiting to be recorded: a = gate(a) b over n values. */
interface DeferredGate {
  readonly kind: 'gate';
  readonly code: 1 | 2;
  readonly a: GpuTensor;
  readonly b: GpuTensor;
  readonly n: number;
}

/**
 * An op recorded late (WebGpuBackend.defer), so that the op after it can take it into its own dispatch: a gating
 * that an rmsnorm of the same values applies first, an rmsnorm whose output a matmul quantizes per token, a matmul
 * whose output the next op adds to the residual stream (the matmul kernel adds it), a RoPE of q that the RoPE of k
 * (same positions) joins. Any other recording emits it first, so the step's order stays.
 */
type Deferred =
  | DeferredGate
  | {
      readonly kind: 'rmsnorm';
      readonly out: GpuTensor;
      readonly x: GpuTensor;
      readonly weight: GpuTensor;
      readonly nTokens: number;
      readonly dim: number;
      readonly eps: number;
      readonly gate: DeferredGate | undefined;
      /** false: no norm, only the gating (and the quantization) of x in place (takeNormQuantize). */
      readonly norm?: false;
    }
  | { readonly kind: 'matmul'; readonly out: GpuTensor; readonly input: GpuTensor; readonly n: number; readonly calls: readonly KernelCall[] }
  | { readonly kind: 'rope'; readonly x: GpuTensor; readonly nTokens: number; readonly nHeads: number; readonly headDim: number; readonly neox: boolean; readonly table: RopeTable };

/**
 * A uniform buffer of PARAM_CHUNK_SLOTS parameter blocks and its host copy: dispatch() fills slots in the host copy,
 * flush() writes the used ones (queue.writeBuffer, ordered before the step's commands) and starts over at slot 0.
 */
interface ParamChunk {
  readonly buffer: GpuBuffer;
  readonly host: ArrayBuffer;
  readonly u32: Uint32Array;
  readonly f32: Float32Array;
  used: number;
  /** Slots [0, written) are on the device for this step (written before a submit that reads them). */
  written: number;
}

class GpuTensor implements Tensor {
  constructor(
    readonly owner: WebGpuBackend,
    readonly buffer: GpuBuffer,
    readonly nElements: number,
  ) {}
}

/**
 * A contiguous run of rows of a weight in one GPU buffer (weights larger than a binding are split by rows), and the
 * up to 3 bytes of its upload that wait for the next piece (queue.writeBuffer takes whole 4-byte words).
 */
interface WeightPart {
  readonly buffer: GpuBuffer;
  readonly rowStart: number;
  readonly rows: number;
  /** Tensor bytes [byteStart, byteEnd) live in this part. */
  readonly byteStart: number;
  readonly byteEnd: number;
  pending: Uint8Array;
  /** Part byte where `pending` goes. */
  pendingAt: number;
}

class GpuWeight implements Weight {
  readonly rows: number;
  readonly cols: number;
  prepared = false;
  readonly parts: WeightPart[];
  /** I2_S: the per-tensor scale (known at prepareWeight); 1 otherwise. */
  tensorScale = 1;
  /** I2_S: the 4 bytes of the scale, gathered as the pieces pass. */
  readonly scaleBytes = new Uint8Array(4);
  /** Bytes received so far (uploads arrive in file order). */
  written = 0;
  /** createWeight's host array, uploaded by prepareWeight; undefined for streamed weights. */
  staging: Uint8Array | undefined;
  readonly typeName: string;
  readonly activationQuant: 'per-token' | 'q8k-block';
  /** kernelCalls ids of its matmuls, one token and several (the variant is fixed per backend): built once. */
  private ids: [gemv: string, gemm: string] | undefined;

  constructor(
    readonly owner: WebGpuBackend,
    readonly info: WeightInfo,
    rows: number,
    cols: number,
    parts: WeightPart[],
  ) {
    this.rows = rows;
    this.cols = cols;
    this.parts = parts;
    this.activationQuant = info.activationQuant ?? nativeActivationQuant(info.type);
    this.typeName = TYPE_TRAITS[info.type].name.toLowerCase();
  }

  /** The kernelCalls id of a matmul on this weight of nTokens tokens by the kernel variant ('' or 'dp4a'). */
  matmulId(nTokens: number, variant: string): string {
    this.ids ??= [`webgpu.matmul.gemv.${this.typeName}${variant === '' ? '' : `.${variant}`}`, `webgpu.matmul.gemm.${this.typeName}${variant === '' ? '' : `.${variant}`}`];
    return this.ids[nTokens > 1 ? 1 : 0];
  }
}

/** The out-of-memory error scope of one buffer made by buffer(): resolves to the device's error, or null. */
interface MemoryScope {
  readonly scope: Promise<{ readonly message: string } | null>;
  readonly label: string;
  readonly bytes: number;
}

/** Memory a KV pool took for more blocks and no op has bound yet: per layer, K and V buffers of `blocks` blocks. */
interface KvGrowth {
  /** Blocks' worth the pool held before this growth: homes from here on are this growth's (or a later one's). */
  readonly from: number;
  /** Blocks' worth the buffers hold. */
  readonly blocks: number;
  readonly keys: GpuBuffer[];
  readonly values: GpuBuffer[];
  /** The buffers' out-of-memory scopes: awaited by settleKvGrowth, or by the step that first binds the buffers. */
  readonly scopes: MemoryScope[];
}

let nextPoolId = 1;

class GpuKvPool implements KvPool {
  /** Names this pool's scratch buffers (block tables, batch entries). */
  readonly id = nextPoolId++;
  readonly tables: BlockTables;
  /** The block tables on the device, as homes (uploaded by setBlockTables, ordered with the step's commands). */
  tablesBuffer: GpuBuffer | undefined;
  /** The last batch whose (seq, position) entries were uploaded, and where (kvWrite and attention of a step share it). */
  entries: { batch: KvBatch; buffer: GpuBuffer } | undefined;
  /**
   * Where each used block sits in the layers' buffers (block home h at byte h * blockBytes). Memory grows as blocks
   * are first used (kernels/kv-growth.ts): a growth makes larger K and V buffers for every layer (`growths`), and the
   * first op that binds the pool after it replaces `keys` and `values` by the newest of them, the old contents copied
   * in on the device, recorded in order with the step's commands. Until then the old buffers stay in use, so a growth
   * the device refused (known only when its error scopes resolve: settleKvGrowth) is undone by dropping the new
   * buffers. Bind groups are made per dispatch, so nothing else refers to the old buffers, which are destroyed once
   * the step that copied them has run.
   */
  readonly homes: KvHomes;
  /** Per layer, F16 pairs: rowWords u32 per position, position-major within a block (empty until the first growth). */
  readonly keys: GpuBuffer[] = [];
  readonly values: GpuBuffer[] = [];
  /** Blocks' worth of memory `keys` and `values` hold. */
  heldBlocks = 0;
  /** Growths since an op last bound the pool, oldest first: each one's buffers supersede the ones before. */
  growths: KvGrowth[] = [];
  /** How many of `growths` (the first ones) settleKvGrowth found good. */
  settledGrowths = 0;

  constructor(
    readonly owner: WebGpuBackend,
    readonly nLayers: number,
    readonly kvDim: number,
    readonly headDim: number,
    readonly blockSize: number,
    readonly nBlocks: number,
    grow: (pool: GpuKvPool, count: number) => number[],
  ) {
    this.tables = new BlockTables(this);
    this.homes = new KvHomes(nBlocks, KvHomes.chunkBlocks(kvBlockBytes(this)), (count) => grow(this, count));
  }

  get allocatedBlocks(): number {
    return this.homes.allocated;
  }

  /** u32 words per position (a position's values start on a word). */
  get rowWords(): number {
    return Math.ceil(this.kvDim / 2);
  }

  get blockBytes(): number {
    return this.blockSize * this.rowWords * 4;
  }

  /** Block ids (-1: none) as homes, for the shaders; every block named has one (setBlockTables / copyBlocks). */
  homesOf(blocks: Int32Array): Int32Array {
    return blocks.map((b) => (b < 0 ? -1 : this.homes.home[b]));
  }
}

/** Bytes of one row of a weight as stored in the file (I2_S: the codes only; its scale follows the last row). */
function rowBytes(type: GgmlType, cols: number): number {
  if (type === GgmlType.I2_S) return cols / 4;
  const t = TYPE_TRAITS[type];
  return (cols / t.blockSize) * t.typeSize;
}

class WebGpuBackend implements KernelBackend {
  readonly name = 'webgpu' as const;
  readonly kernelSet = 'webgpu' as const;
  readonly threads = 1;

  private disposed = false;
  private encoder: GpuCommandEncoder | undefined;
  /** The compute pass the step's dispatches go into (ended before a copy and at flush). */
  private pass: GpuComputePass | undefined;
  /** Parameter blocks of the dispatches recorded since the last flush (ParamChunk), uploaded by flush before submit. */
  private readonly paramChunks: ParamChunk[] = [];
  private paramSlots = 0;
  /** Dispatches recorded since the step's last submit, and how many the next submit waits for. */
  private sinceSubmit = 0;
  private submitAt = SUBMIT_FIRST;
  /** Bind groups by pipeline, parameter slot and buffers: a decode step records the same dispatches every token. */
  private readonly bindGroups = new Map<string, GpuBindGroup>();
  /** The last bind group of each parameter slot, found again without building its key when the dispatch repeats. */
  private readonly slotGroups: ({ name: ShaderName; buffers: readonly GpuBuffer[]; group: GpuBindGroup } | undefined)[] = [];
  private readonly bufferIds = new WeakMap<GpuBuffer, number>();
  private nextBufferId = 1;
  /** Buffers of recorded commands (uniforms, staging), destroyed once their step has run. */
  private transient: GpuBuffer[] = [];
  private readonly owned = new Set<GpuBuffer>();
  /** This backend's pipelines by shader name: the device's (devicePipelines) for this kernel set. */
  private readonly pipelines: Map<ShaderName, GpuComputePipeline>;
  /** Warm-up (beginWarmUp): on, and the pipelines being compiled in the background. */
  private warming = false;
  private readonly compiling = new Map<ShaderName, Promise<void>>();
  private readonly scratch = new Map<string, GpuBuffer>();
  private readonly calls = new Map<string, number>();
  /**
   * The out-of-memory error scope of every buffer made by buffer() since the last flush: a device that cannot hold a
   * buffer says so asynchronously (the buffer is made invalid and the commands using it fail validation), so flush
   * awaits these first and names the buffer instead of the validation errors that follow (deviceMemoryError).
   */
  private memoryScopes: MemoryScope[] = [];
  /** Bytes of the buffers made by buffer() and not destroyed, for the out-of-memory message. */
  private bufferBytes = 0;
  private firstError: string | undefined;
  private lost: string | undefined;
  /** The RoPE table of the last set of positions (q and k of every layer of a step share it). */
  private ropeTable: RopeTable | undefined;
  /** The op waiting for the next one (defer); emitted by any other recording. */
  private deferred: Deferred | undefined;

  constructor(
    private readonly device: GpuDevice,
    readonly adapterInfo: string,
    private readonly maxBindingBytes: number,
    /** WGSL's packed_4x8_integer_dot_product is there (dot4I8Packed): matmul-i2s-dp4a.wgsl, matmul-q8_0-dp4a.wgsl. */
    private readonly dp4a: boolean,
    /** WebGpuBackendOptions.fuseOps. */
    private readonly fuseOps: boolean,
    /** The device has the 'subgroups' feature: REDUCE_USERS take reduce-subgroups.wgsl. */
    readonly subgroups: boolean,
    /** WebGpuBackendOptions.attentionChunk. */
    private readonly attentionChunk: number,
    /** WebGpuBackendOptions.warmUp. */
    private readonly warmUp: boolean,
  ) {
    // the shader text of a name depends on the device and on whether subgroups are used (portableKernels): backends
    // of one device share the pipelines of one kernel set
    const byDevice = devicePipelines.get(device) ?? new Map<boolean, Map<ShaderName, GpuComputePipeline>>();
    devicePipelines.set(device, byDevice);
    this.pipelines = byDevice.get(subgroups) ?? new Map<ShaderName, GpuComputePipeline>();
    byDevice.set(subgroups, this.pipelines);
    device.addEventListener('uncapturederror', (e) => {
      this.firstError ??= e.error.message;
    });
    void device.lost.then((info) => {
      this.lost = info.message === '' ? (info.reason ?? 'device lost') : info.message;
    });
  }

  // ------------------------------------------------------------------ plumbing

  private live(op: string): void {
    if (this.disposed) throw new BitNetError('DISPOSED', `webgpu backend: ${op} after dispose()`, { details: { op } });
    if (this.lost !== undefined) throw new BitNetError('BACKEND_UNAVAILABLE', `webgpu backend: the device was lost (${this.lost})`, { details: { op } });
  }

  private count(id: string): void {
    this.calls.set(id, (this.calls.get(id) ?? 0) + 1);
  }

  private buffer(size: number, usage: number, label: string, scopes: MemoryScope[] = this.memoryScopes): GpuBuffer {
    if (size > this.device.limits.maxBufferSize) {
      throw new BitNetError('BACKEND_UNAVAILABLE', `webgpu backend: ${label} needs a buffer of ${size} bytes, more than this adapter's maxBufferSize ${this.device.limits.maxBufferSize}`, {
        details: { bytes: size },
      });
    }
    this.device.pushErrorScope('out-of-memory');
    let b: GpuBuffer;
    try {
      b = this.createBuffer({ size: roundUp4(size), usage, label });
    } finally {
      scopes.push({ scope: this.device.popErrorScope(), label, bytes: roundUp4(size) });
    }
    this.owned.add(b);
    this.bufferBytes += roundUp4(size);
    return b;
  }

  /** Destroys a buffer made by buffer() that no recorded command uses. */
  private discard(b: GpuBuffer): void {
    if (this.owned.delete(b)) this.bufferBytes -= b.size;
    b.destroy();
  }

  /**
   * device.createBuffer, with the RangeError a device throws when it cannot map a new buffer at creation (out of
   * memory) turned into deviceMemoryError's BitNetError.
   */
  private createBuffer(d: { size: number; usage: number; mappedAtCreation?: boolean; label: string }): GpuBuffer {
    try {
      return this.device.createBuffer(d);
    } catch (e) {
      if (e instanceof RangeError) throw this.deviceMemoryError(d.label, d.size, e.message, e);
      throw e;
    }
  }

  /**
   * The error for a buffer the device had no memory for: KV_CACHE_FULL for the KV cache's layer buffers (a smaller
   * kvMemory fits), MODEL_TOO_LARGE for the rest (weights, activations, staging: the model does not fit this GPU).
   */
  private deviceMemoryError(label: string, bytes: number, message: string, cause?: unknown): BitNetError {
    const kv = /^[KV] layer /.test(label);
    const held = `${(this.bufferBytes / 2 ** 20).toFixed(0)} MiB`;
    return new BitNetError(
      kv ? 'KV_CACHE_FULL' : 'MODEL_TOO_LARGE',
      `webgpu backend: the GPU has no memory for ${label} (${bytes} bytes, with ${held} of buffers held): ${message}` + (kv ? '; lower kvMemory' : '; use a smaller model or the wasm backend'),
      { details: { label, bytes, heldBytes: this.bufferBytes }, ...(cause === undefined ? {} : { cause }) },
    );
  }

  /** Throws deviceMemoryError for the first buffer since the last call that the device could not hold. */
  private async checkDeviceMemory(): Promise<void> {
    const scopes = this.memoryScopes;
    if (scopes.length === 0) return;
    this.memoryScopes = [];
    const errors = await Promise.all(scopes.map((s) => s.scope));
    const i = errors.findIndex((e) => e !== null);
    if (i >= 0) {
      this.firstError = undefined; // the commands that used the invalid buffer: consequences of this one
      throw this.deviceMemoryError(scopes[i].label, scopes[i].bytes, errors[i]?.message ?? '');
    }
  }

  private tensor(op: string, what: string, t: Tensor, n: number): GpuTensor {
    if (!(t instanceof GpuTensor) || t.owner !== this) throw bad(op, `${what} is not a tensor of this backend (use alloc)`, { field: what });
    if (t.nElements < n) throw bad(op, `${what} needs at least ${n} elements, has ${t.nElements}`, { field: what, expected: n, actual: t.nElements });
    return t;
  }

  private own(op: string, w: Weight): GpuWeight {
    if (w instanceof HostLookupWeight && w.owner === this) throw bad(op, `weight '${w.info.name}' is lookup-only (kept in host memory for embed)`, { tensor: w.info.name });
    if (!(w instanceof GpuWeight) || w.owner !== this) throw bad(op, `weight '${w.info.name}' was not created by this backend`, { tensor: w.info.name });
    if (!w.prepared) throw bad(op, `weight '${w.info.name}' is used before prepareWeight()`, { tensor: w.info.name });
    return w;
  }

  private ownPool(op: string, pool: KvPool, layer = 0): GpuKvPool {
    if (!(pool instanceof GpuKvPool) || pool.owner !== this) throw bad(op, 'KV pool was not created by this backend');
    if (!Number.isInteger(layer) || layer < 0 || layer >= pool.nLayers) throw bad(op, `layer ${layer} out of range [0, ${pool.nLayers})`, { field: 'layer', actual: layer });
    return pool;
  }

  /** The batch's (seq, position) pairs on the device: uploaded once per batch object. */
  private entriesOf(p: GpuKvPool, batch: KvBatch): GpuBuffer {
    if (p.entries?.batch === batch) return p.entries.buffer;
    const host = new Int32Array(Math.max(2, 2 * batch.nTokens));
    for (let t = 0; t < batch.nTokens; t++) [host[2 * t], host[2 * t + 1]] = [batch.seqs[t], batch.positions[t]];
    const buffer = this.uploadTo(`KV entries ${p.id}`, host);
    p.entries = { batch, buffer };
    return buffer;
  }

  private enc(): GpuCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private pipelineDescriptor(name: ShaderName): { layout: 'auto'; compute: { module: GpuShaderModule; entryPoint: string }; label: string } {
    // kernels with order-free workgroup reductions take them from reduce-subgroups.wgsl where the device has subgroups
    const reduce = REDUCE_USERS.has(name) ? (this.subgroups ? `${SHADERS['reduce-subgroups']}\n` : `${SHADERS['reduce-portable']}\n`) : '';
    const enable = reduce !== '' && this.subgroups ? 'enable subgroups;\n' : '';
    const outputs = MATMUL_OUT_USERS.has(name) ? `${SHADERS['matmul-out']}\n` : '';
    const module = this.device.createShaderModule({ code: `${enable}${SHADERS.common}\n${reduce}${outputs}${SHADERS[name]}`, label: name });
    return { layout: 'auto', compute: { module, entryPoint: 'main' }, label: name };
  }

  private pipeline(name: ShaderName): GpuComputePipeline {
    let p = this.pipelines.get(name);
    if (p === undefined) {
      p = this.device.createComputePipeline(this.pipelineDescriptor(name));
      this.pipelines.set(name, p);
    }
    return p;
  }

  /** Compiles these pipelines in the background (warm-up), where the device can and they are not there yet. */
  private compileAhead(names: readonly ShaderName[]): void {
    const create = this.device.createComputePipelineAsync?.bind(this.device);
    if (!this.warming || create === undefined) return;
    for (const name of names) {
      if (this.pipelines.has(name) || this.compiling.has(name)) continue;
      let job: Promise<void>;
      try {
        job = create(this.pipelineDescriptor(name)).then(
          (p) => {
            if (!this.pipelines.has(name)) this.pipelines.set(name, p);
          },
          // a failed compile is made again, and reported, where the kernel is first used
          () => undefined,
        );
      } catch {
        continue;
      }
      this.compiling.set(name, job);
    }
  }

  /**
   * The matmul kernel of a weight of this type and activation scheme (matmulCalls records it), and the kernel that
   * prepares its activations (quantization, or rounding to the float type); undefined for a type with no matmul.
   */
  private matmulKernels(type: GgmlType, activationQuant: ActivationQuant): { matmul: ShaderName; input: ShaderName } | undefined {
    if (FORMAT.ternary[type] !== undefined) {
      if (this.dp4a && activationQuant !== 'q8k-block' && type === GgmlType.I2_S) return { matmul: 'matmul-i2s-dp4a', input: 'quantize' };
      return { matmul: this.dp4a && type === GgmlType.TQ2_0 ? 'matmul-tq2-dp4a' : 'matmul-ternary', input: 'quantize' };
    }
    if (FORMAT.float[type] !== undefined) return { matmul: 'matmul-float', input: 'elementwise' };
    if (FORMAT.quant[type] !== undefined) return { matmul: this.dp4a && type === GgmlType.Q8_0 ? 'matmul-q8_0-dp4a' : 'matmul-quant', input: 'quantize' };
    return undefined;
  }

  readonly beginWarmUp = (): void => {
    this.live('beginWarmUp');
    this.warming = this.warmUp;
    // every forward step: norms, activation quantization, RoPE, the KV cache, attention, gating and adds, the token
    // embedding, the logit rows and the greedy read-back
    this.compileAhead(['rmsnorm', 'quantize', 'rope', 'kv-write', 'attention', 'elementwise', 'embed', 'gather-rows', 'argmax']);
  };

  readonly warmUpDone = async (): Promise<void> => {
    this.live('warmUpDone');
    // a lost device may leave a compile unanswered: the load goes on, and its first step reports the loss
    await Promise.race([Promise.all(this.compiling.values()), this.device.lost.then(() => undefined)]);
    this.compiling.clear();
  };

  /** A named scratch buffer of at least `bytes` (grown by replacement; recorded commands keep the old one alive). */
  private scratchBuffer(name: string, bytes: number): GpuBuffer {
    const s = this.scratch.get(name);
    if (s !== undefined && s.size >= bytes) return s;
    if (s !== undefined) this.transient.push(s);
    const b = this.buffer(Math.max(bytes, 2 * (s?.size ?? 0)), BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST, `scratch ${name}`);
    this.scratch.set(name, b);
    return b;
  }

  /** Records one dispatch of `name` over `groups` workgroups with the parameter block (12 u32, 4 f32) and bindings 1... */
  private dispatch(name: ShaderName, groups: number, u: readonly number[], f: readonly number[], bindings: readonly GpuBuffer[]): void {
    if (groups === 0) return;
    if (this.deferred !== undefined) this.emitDeferred();
    // the parameter block goes into this step's slot of a persistent uniform buffer (written once, at flush), and
    // the bind group is reused when the same pipeline, slot and buffers come again (the next token's same dispatch)
    const slot = this.paramSlots++;
    const chunkIndex = Math.floor(slot / PARAM_CHUNK_SLOTS);
    if (chunkIndex === this.paramChunks.length) {
      const buffer = this.buffer(PARAM_CHUNK_SLOTS * PARAM_SLOT_BYTES, BUFFER_USAGE.UNIFORM | BUFFER_USAGE.COPY_DST, 'dispatch parameters');
      const host = new ArrayBuffer(PARAM_CHUNK_SLOTS * PARAM_SLOT_BYTES);
      this.paramChunks.push({ buffer, host, u32: new Uint32Array(host), f32: new Float32Array(host), used: 0, written: 0 });
    }
    const chunk = this.paramChunks[chunkIndex];
    const inChunk = slot - chunkIndex * PARAM_CHUNK_SLOTS;
    chunk.used = inChunk + 1;
    const base = inChunk * (PARAM_SLOT_BYTES / 4);
    chunk.u32.fill(0, base, base + PARAM_BYTES / 4);
    // u[0..7] are a..h, u[8..11] are i..l (after the 4 floats)
    for (let i = 0; i < u.length; i++) chunk.u32[base + (i < 8 ? i : i + 4)] = u[i];
    for (let i = 0; i < f.length; i++) chunk.f32[base + 8 + i] = f[i];
    const pipeline = this.pipeline(name);
    const last = this.slotGroups[slot];
    let group: GpuBindGroup | undefined;
    if (last !== undefined && last.name === name && last.buffers.length === bindings.length && last.buffers.every((b, i) => b === bindings[i])) {
      group = last.group;
    } else {
      let key = `${name}:${slot}`;
      for (const b of bindings) key += `:${this.bufferId(b)}`;
      group = this.bindGroups.get(key);
      if (group === undefined) {
        if (this.bindGroups.size >= MAX_CACHED_BIND_GROUPS) this.bindGroups.clear();
        group = this.device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: chunk.buffer, offset: inChunk * PARAM_SLOT_BYTES, size: PARAM_BYTES } },
            ...bindings.map((b, i) => ({ binding: i + 1, resource: { buffer: b } })),
          ],
        });
        this.bindGroups.set(key, group);
      }
      this.slotGroups[slot] = { name, buffers: bindings, group };
    }
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    const x = Math.min(groups, MAX_GROUPS_PER_DIM);
    pass.dispatchWorkgroups(x, Math.ceil(groups / x));
    if (++this.sinceSubmit >= this.submitAt) this.submitRecorded();
  }

  /** Writes the parameter blocks recorded since the last write (queue order: before the commands submitted next). */
  private writeParams(): void {
    for (const c of this.paramChunks) {
      if (c.used > c.written) this.device.queue.writeBuffer(c.buffer, c.written * PARAM_SLOT_BYTES, new Uint8Array(c.host, c.written * PARAM_SLOT_BYTES, (c.used - c.written) * PARAM_SLOT_BYTES));
      c.written = c.used;
    }
  }

  /** Submits what the step has recorded so far, so that the GPU starts on it; the step goes on in a new encoder. */
  private submitRecorded(): void {
    this.endPass();
    const enc = this.encoder;
    this.encoder = undefined;
    this.writeParams();
    if (enc !== undefined) this.device.queue.submit([enc.finish()]);
    this.sinceSubmit = 0;
    this.submitAt = Math.min(2 * this.submitAt, SUBMIT_MOST);
  }

  /** A small number naming a buffer in bind-group keys (buffers have no id of their own). */
  private bufferId(b: GpuBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) {
      id = this.nextBufferId++;
      this.bufferIds.set(b, id);
    }
    return id;
  }

  /** The step's open compute pass (dispatches in one pass are ordered like separate passes: WebGPU usage scopes). */
  private computePass(): GpuComputePass {
    this.pass ??= this.enc().beginComputePass();
    return this.pass;
  }

  /** Ends the open compute pass, so that a copy can be recorded after its dispatches. */
  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  /** A buffer-to-buffer copy, in order after the dispatches recorded so far. */
  private copy(src: GpuBuffer, srcOffset: number, dst: GpuBuffer, dstOffset: number, size: number): void {
    if (this.deferred !== undefined) this.emitDeferred();
    this.endPass();
    this.enc().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
  }

  /**
   * Host data into the named scratch buffer (upload: ordered with the recorded commands). The same buffer every step,
   * so the bind groups of the ops that read it are reused; the copy comes after the commands that read its last contents.
   */
  private uploadTo(name: string, data: ArrayBufferView): GpuBuffer {
    const buffer = this.scratchBuffer(name, data.byteLength);
    this.upload(buffer, 0, data);
    return buffer;
  }

  /** Host data into a buffer, ordered with the recorded commands (a staging copy inside the step). */
  private upload(dst: GpuBuffer, byteOffset: number, data: ArrayBufferView): void {
    const staging = this.createBuffer({ size: roundUp4(data.byteLength), usage: BUFFER_USAGE.COPY_SRC, mappedAtCreation: true, label: `upload of ${data.byteLength} bytes` });
    new Uint8Array(staging.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    staging.unmap();
    this.transient.push(staging);
    this.copy(staging, 0, dst, byteOffset, data.byteLength);
  }

  /** Submits what is recorded; resolves when the GPU has run it. GPU errors become BitNetErrors here. */
  private async flush(): Promise<void> {
    if (this.deferred !== undefined) this.emitDeferred();
    this.endPass();
    const enc = this.encoder;
    this.encoder = undefined;
    const done = this.transient;
    this.transient = [];
    // the step's parameter blocks not written yet, before the commands that read them (queue order)
    this.writeParams();
    for (const c of this.paramChunks) c.used = c.written = 0;
    this.paramSlots = 0;
    this.sinceSubmit = 0;
    this.submitAt = SUBMIT_FIRST;
    if (enc !== undefined) this.device.queue.submit([enc.finish()]);
    await this.device.queue.onSubmittedWorkDone();
    for (const b of done) {
      if (this.owned.delete(b)) this.bufferBytes -= b.size;
      b.destroy();
    }
    if (this.lost !== undefined) throw new BitNetError('BACKEND_UNAVAILABLE', `webgpu backend: the device was lost (${this.lost})`);
    await this.checkDeviceMemory();
    if (this.firstError !== undefined) {
      const message = this.firstError;
      this.firstError = undefined;
      throw new BitNetError('INTERNAL', `webgpu backend: ${message}`);
    }
  }

  /** Bytes [byteOffset, + byteLength) of a buffer, after every recorded command. */
  private async readBytes(src: GpuBuffer, byteOffset: number, byteLength: number): Promise<ArrayBuffer> {
    if (byteLength === 0) return new ArrayBuffer(0);
    const rb = this.device.createBuffer({ size: roundUp4(byteLength), usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST, label: 'read back' });
    this.copy(src, byteOffset, rb, 0, roundUp4(byteLength));
    try {
      await this.flush();
      await rb.mapAsync(MAP_READ);
      return rb.getMappedRange().slice(0, byteLength);
    } finally {
      rb.destroy();
    }
  }

  // ------------------------------------------------------------------ memory

  reserve(plan: MemoryPlan): void {
    this.live('reserve');
    requireInt('reserve', 'weightBytes', plan.weightBytes, 0);
    requireInt('reserve', 'activationFloats', plan.activationFloats, 0);
    requireInt('reserve', 'kvBytes', plan.kvBytes, 0);
  }

  /** A weight with its GPU buffers (split by rows at maxBindingBytes), waiting for its bytes. */
  private newWeight(info: WeightInfo): GpuWeight {
    const { rows, cols } = checkWeightInfo(info);
    const perRow = rowBytes(info.type, cols);
    const rowsPerPart = Math.max(1, Math.floor(this.maxBindingBytes / perRow));
    const parts: WeightPart[] = [];
    for (let r0 = 0; r0 < rows; r0 += rowsPerPart) {
      const n = Math.min(rowsPerPart, rows - r0);
      const buffer = this.buffer(n * perRow, BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST, `weight ${info.name} rows ${r0}..${r0 + n - 1}`);
      parts.push({ buffer, rowStart: r0, rows: n, byteStart: r0 * perRow, byteEnd: (r0 + n) * perRow, pending: new Uint8Array(0), pendingAt: 0 });
    }
    const weight = new GpuWeight(this, info, rows, cols, parts);
    const k = this.matmulKernels(info.type, weight.activationQuant);
    if (k !== undefined) this.compileAhead([k.input, k.matmul]);
    return weight;
  }

  createWeight(info: WeightInfo): { weight: Weight; target: Uint8Array } {
    this.live('createWeight');
    if (info.lookupOnly === true) {
      // kept in host memory, not on the device (kernels/host-lookup.ts)
      const weight = new HostLookupWeight(this, info, 'webgpu');
      return { weight, target: weight.bytes };
    }
    const weight = this.newWeight(info);
    weight.staging = new Uint8Array(info.byteSize);
    return { weight, target: weight.staging };
  }

  readonly createStreamedWeight = (info: WeightInfo): Weight => {
    this.live('createStreamedWeight');
    if (info.lookupOnly === true) throw bad('createStreamedWeight', `weight '${info.name}' is lookup-only: it stays in host memory (createWeight)`, { tensor: info.name });
    return this.newWeight(info);
  };

  readonly writeWeight = (weight: Weight, byteOffset: number, bytes: Uint8Array): void => {
    this.live('writeWeight');
    if (!(weight instanceof GpuWeight) || weight.owner !== this) throw bad('writeWeight', `weight '${weight.info.name}' was not created by this backend`, { tensor: weight.info.name });
    if (weight.prepared || weight.staging !== undefined) throw bad('writeWeight', `weight '${weight.info.name}' is not a streamed weight waiting for bytes`, { tensor: weight.info.name });
    this.putBytes(weight, byteOffset, bytes);
  };

  /** Uploads the next piece of a weight's bytes into the parts it covers (scales checked on the host first). */
  private putBytes(w: GpuWeight, byteOffset: number, bytes: Uint8Array): void {
    const name = w.info.name;
    if (byteOffset !== w.written || byteOffset % 4 !== 0 || byteOffset + bytes.length > w.info.byteSize) {
      throw bad('writeWeight', `'${name}': a piece of ${bytes.length} bytes at ${byteOffset}; expected the next one at ${w.written} (4-byte aligned, within ${w.info.byteSize})`, { tensor: name });
    }
    const type = w.info.type;
    const blockBytes = BLOCK_SCALES[type]?.blockBytes ?? 1;
    if (byteOffset % blockBytes !== 0) throw bad('writeWeight', `'${name}': a piece must start at a block boundary (${blockBytes} bytes), got ${byteOffset}`, { tensor: name });
    checkBlockScaleRange(name, type, bytes, byteOffset);
    if (type === GgmlType.I2_S) {
      const at = (w.rows * w.cols) / 4;
      for (let i = 0; i < 4; i++) if (at + i >= byteOffset && at + i < byteOffset + bytes.length) w.scaleBytes[i] = bytes[at + i - byteOffset];
    }
    const end = byteOffset + bytes.length;
    for (const p of w.parts) {
      const from = Math.max(byteOffset, p.byteStart);
      const to = Math.min(end, p.byteEnd);
      if (from >= to) continue;
      const slice = bytes.subarray(from - byteOffset, to - byteOffset);
      const data = p.pending.length === 0 ? slice : new Uint8Array([...p.pending, ...slice]);
      const aligned = data.length - (data.length % 4);
      if (aligned > 0) this.device.queue.writeBuffer(p.buffer, p.pendingAt, data, 0, aligned);
      p.pending = data.slice(aligned);
      p.pendingAt += aligned;
    }
    w.written = end;
  }

  prepareWeight(weight: Weight): void {
    this.live('prepareWeight');
    if (weight instanceof HostLookupWeight && weight.owner === this) {
      weight.prepare();
      return;
    }
    if (!(weight instanceof GpuWeight) || weight.owner !== this) throw bad('prepareWeight', `weight '${weight.info.name}' was not created by this backend`, { tensor: weight.info.name });
    if (weight.prepared) return;
    const staging = weight.staging;
    if (staging !== undefined) {
      weight.staging = undefined;
      // pieces of whole blocks and whole 4-byte words, as the loader streams them
      const block = weight.info.type === GgmlType.I2_S ? 32 : TYPE_TRAITS[weight.info.type].typeSize;
      let unit = block;
      while (unit % 4 !== 0) unit += block;
      const piece = Math.max(unit, Math.floor(UPLOAD_CHUNK_BYTES / unit) * unit);
      for (let o = 0; o < staging.length; o += piece) this.putBytes(weight, o, staging.subarray(o, Math.min(staging.length, o + piece)));
    }
    const name = weight.info.name;
    if (weight.written !== weight.info.byteSize) {
      throw bad('prepareWeight', `'${name}' received ${weight.written} of its ${weight.info.byteSize} bytes`, { tensor: name, expected: weight.info.byteSize, actual: weight.written });
    }
    for (const p of weight.parts) {
      if (p.pending.length === 0) continue;
      const padded = new Uint8Array(4);
      padded.set(p.pending);
      this.device.queue.writeBuffer(p.buffer, p.pendingAt, padded);
      p.pending = new Uint8Array(0);
    }
    if (weight.info.type === GgmlType.I2_S) {
      const scale = new DataView(weight.scaleBytes.buffer).getFloat32(0, true);
      if (!Number.isFinite(scale)) {
        const at = (weight.rows * weight.cols) / 4;
        throw new BitNetError('BAD_TENSOR_DATA', `tensor '${name}': I2_S scale is ${scale}, expected a finite number (byte ${at})`, { details: { tensor: name, byteOffset: at, actual: String(scale) } });
      }
      weight.tensorScale = scale;
    }
    weight.prepared = true;
  }

  alloc(nElements: number): Tensor {
    this.live('alloc');
    requireInt('alloc', 'nElements', nElements, 0);
    if (nElements * 4 > this.device.limits.maxStorageBufferBindingSize) {
      throw new BitNetError('BACKEND_UNAVAILABLE', `webgpu backend: a tensor of ${nElements} floats exceeds this adapter's maxStorageBufferBindingSize`, { details: { nElements } });
    }
    return new GpuTensor(this, this.buffer(nElements * 4, BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST, 'tensor'), nElements);
  }

  write(dst: Tensor, src: Float32Array, dstOffset = 0): void {
    this.live('write');
    requireInt('write', 'dstOffset', dstOffset, 0);
    if (!(src instanceof Float32Array)) throw bad('write', 'src must be a Float32Array', { field: 'src' });
    const t = this.tensor('write', 'dst', dst, dstOffset + src.length);
    if (src.length > 0) this.upload(t.buffer, dstOffset * 4, src);
  }

  async read(src: Tensor, offset: number, nElements: number): Promise<Float32Array> {
    this.live('read');
    requireInt('read', 'offset', offset, 0);
    requireInt('read', 'nElements', nElements, 0);
    const t = this.tensor('read', 'src', src, offset + nElements);
    return new Float32Array(await this.readBytes(t.buffer, offset * 4, nElements * 4));
  }

  beginStep(): void {
    this.live('beginStep');
    this.enc();
  }

  endStep(): Promise<void> {
    this.live('endStep');
    return this.flush();
  }

  createKvPool(nLayers: number, kvDim: number, headDim: number, blockSize: number, nBlocks: number): KvPool {
    this.live('createKvPool');
    checkKvPoolArgs(nLayers, kvDim, headDim, blockSize, nBlocks);
    return new GpuKvPool(this, nLayers, kvDim, headDim, blockSize, nBlocks, (p, count) => this.growPool(p, count));
  }

  /**
   * Memory for `count` more blocks of a pool (KvHomes' growth): larger K and V buffers for every layer, bound (and the
   * blocks held so far copied in) by the next op on the pool (bindKvGrowth). Throws KV_CACHE_FULL, taking nothing, when
   * a layer's buffer would pass what the adapter can bind to a shader (maxStorageBufferBindingSize) or allocate; a
   * device out of memory says so later, through the buffers' error scopes (settleKvGrowth).
   */
  private growPool(p: GpuKvPool, count: number): number[] {
    const first = p.homes.allocated;
    const bytes = (first + count) * p.blockBytes;
    const limit = Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
    if (roundUp4(bytes) > limit) {
      throw new BitNetError('KV_CACHE_FULL', `webgpu backend: ${first + count} KV blocks take ${bytes} bytes per layer, more than this adapter binds (${limit}); lower kvMemory`, {
        details: { blocks: first + count, bytes, limit },
      });
    }
    const usage = BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST | BUFFER_USAGE.COPY_SRC;
    const growth: KvGrowth = { from: first, blocks: first + count, keys: [], values: [], scopes: [] };
    try {
      for (let l = 0; l < p.nLayers; l++) {
        for (const [planes, what] of [[growth.keys, 'K'], [growth.values, 'V']] as const) planes.push(this.buffer(bytes, usage, `${what} layer ${l}`, growth.scopes));
      }
    } catch (e) {
      for (const b of [...growth.keys, ...growth.values]) this.discard(b);
      throw e;
    }
    p.growths.push(growth);
    return Array.from({ length: count }, (_, i) => first + i);
  }

  /**
   * Before an op binds the pool's buffers: the newest growth's buffers replace them, the blocks held so far copied in
   * on the device (recorded in order with the step's commands). Its error scopes go to the step's (checkDeviceMemory),
   * so a refusal not settled before fails the step at endStep; superseded growths' buffers were never bound.
   */
  private bindKvGrowth(p: GpuKvPool): void {
    const g = p.growths.at(-1);
    if (g === undefined) return;
    for (let l = 0; l < p.nLayers; l++) {
      for (const [planes, grown] of [[p.keys, g.keys], [p.values, g.values]] as const) {
        const old = planes[l] as GpuBuffer | undefined;
        if (old !== undefined) {
          if (p.heldBlocks > 0) this.copy(old, 0, grown[l], 0, p.heldBlocks * p.blockBytes);
          this.transient.push(old);
        }
        planes[l] = grown[l];
      }
    }
    for (const superseded of p.growths.slice(0, -1)) this.transient.push(...superseded.keys, ...superseded.values);
    this.memoryScopes.push(...g.scopes);
    p.heldBlocks = g.blocks;
    p.growths = [];
    p.settledGrowths = 0;
  }

  /** KernelBackend.settleKvGrowth: awaits the error scopes of the pool's growths since the last call; undoes them on a refusal. */
  readonly settleKvGrowth = async (pool: KvPool): Promise<void> => {
    this.live('settleKvGrowth');
    const p = this.ownPool('settleKvGrowth', pool);
    const fresh = p.growths.slice(p.settledGrowths);
    if (fresh.length === 0) return;
    const scopes = fresh.flatMap((g) => g.scopes);
    const errors = await Promise.all(scopes.map((s) => s.scope));
    // an op bound them meanwhile: the step that did checks them at endStep
    const at = p.growths.indexOf(fresh[0]);
    if (at < 0) return;
    const i = errors.findIndex((e) => e !== null);
    if (i < 0) {
      p.settledGrowths = Math.max(p.settledGrowths, p.growths.indexOf(fresh[fresh.length - 1]) + 1);
      return;
    }
    // refused: these growths (and any made on top of them meanwhile) go; the pool keeps its buffers and contents
    for (const g of p.growths.splice(at)) for (const b of [...g.keys, ...g.values]) this.discard(b);
    p.settledGrowths = Math.min(p.settledGrowths, p.growths.length);
    const from = fresh[0].from;
    p.homes.rollback(from, (h) => h >= from);
    throw this.deviceMemoryError(scopes[i].label, scopes[i].bytes, errors[i]?.message ?? '');
  };

  setBlockTables(pool: KvPool, tables: Int32Array, nSeqs: number, maxBlocks: number): void {
    this.live('setBlockTables');
    const p = this.ownPool('setBlockTables', pool);
    p.tables.set(tables, nSeqs, maxBlocks);
    p.homes.ensureAll(p.tables.tables); // blocks used for the first time get memory
    const host = p.tables.tables.length > 0 ? p.homesOf(p.tables.tables) : Int32Array.of(-1);
    p.tablesBuffer = this.uploadTo(`block tables ${p.id}`, host);
  }

  copyBlocks(pool: KvPool, pairs: Int32Array): void {
    this.live('copyBlocks');
    const p = this.ownPool('copyBlocks', pool);
    checkCopyPairs(p, pairs);
    p.homes.ensureAll(pairs);
    this.bindKvGrowth(p);
    const homes = p.homesOf(pairs);
    // a buffer cannot be both the source and the destination of one copy: through a scratch block
    const tmp = this.scratchBuffer('copy block', p.blockBytes);
    for (let l = 0; l < p.nLayers; l++) {
      for (const plane of [p.keys[l], p.values[l]]) {
        for (let i = 0; i < pairs.length; i += 2) {
          this.copy(plane, homes[i] * p.blockBytes, tmp, 0, p.blockBytes);
          this.copy(tmp, 0, plane, homes[i + 1] * p.blockBytes, p.blockBytes);
        }
      }
    }
    this.count('webgpu.copy_blocks');
  }

  shiftKeys(pool: KvPool, seq: number, from: number, to: number, delta: number, theta: number, style: RopeStyle): void {
    this.live('shiftKeys');
    const p = this.ownPool('shiftKeys', pool);
    checkShift(p.tables, seq, from, to, delta, theta, style);
    this.bindKvGrowth(p);
    const n = to - from;
    if (n > 0) {
      const half = p.headDim / 2;
      // cos / sin of position delta, as rope's table (ggml's f32 angle recurrence)
      const cs = new Float32Array(2 * half);
      const thetaScale = Math.fround(Math.pow(Math.fround(theta), Math.fround(-2 / p.headDim)));
      let angle = Math.fround(delta);
      for (let i = 0; i < half; i++) {
        cs[2 * i] = Math.fround(Math.cos(angle));
        cs[2 * i + 1] = Math.fround(Math.sin(angle));
        angle = Math.fround(angle * thetaScale);
      }
      const csBuffer = this.buffer(cs.byteLength, BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST, 'shift table');
      this.upload(csBuffer, 0, cs);
      const row = p.homesOf(p.tables.tables.subarray(seq * p.tables.maxBlocks, (seq + 1) * p.tables.maxBlocks));
      const rowBuffer = this.buffer(Math.max(4, row.byteLength), BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST, 'shift table row');
      this.upload(rowBuffer, 0, row);
      this.transient.push(csBuffer, rowBuffer);
      const moved = this.scratchBuffer('shift', n * 2 * p.kvDim * 4);
      const packedDim = p.headDim | ((style === 'neox' ? 1 : 0) << 16);
      for (let l = 0; l < p.nLayers; l++) {
        const bindings = [p.keys[l], p.values[l], rowBuffer, csBuffer, moved];
        this.dispatch('kv-shift', Math.ceil((n * (p.kvDim / 2)) / 64), [from, n, delta >>> 0, p.blockSize, p.kvDim, p.rowWords, packedDim, 0], [], bindings);
        this.dispatch('kv-shift', Math.ceil((n * p.rowWords) / 64), [from, n, delta >>> 0, p.blockSize, p.kvDim, p.rowWords, packedDim, 1], [], bindings);
      }
    }
    this.count('webgpu.shift_keys');
  }

  // ------------------------------------------------------------------ ops

  embed(out: Tensor, table: Weight, tokenIds: ArrayLike<number>): void {
    this.live('embed');
    if (table instanceof HostLookupWeight && table.owner === this) {
      const n = tokenIds.length * table.cols;
      const o = this.tensor('embed', 'out', out, n);
      // the rows dequantized on the host, uploaded in order with the step's commands
      const rows = new Float32Array(n);
      table.rowsInto(rows, tokenIds);
      if (n > 0) this.upload(o.buffer, 0, rows);
      this.count(table.embedId);
      return;
    }
    const w = this.own('embed', table);
    const o = this.tensor('embed', 'out', out, tokenIds.length * w.cols);
    for (let t = 0; t < tokenIds.length; t++) {
      const id = tokenIds[t];
      if (!Number.isInteger(id) || id < 0 || id >= w.rows) throw bad('embed', `token ${t} has id ${id}, expected an integer in [0, ${w.rows}) for '${w.info.name}'`, { index: t, actual: id, expected: w.rows });
    }
    const fmt = FORMAT.embed[w.info.type];
    if (fmt === undefined) throw bad('embed', `type ${w.typeName} is not an embedding type`);
    for (let t = 0; t < tokenIds.length; t++) {
      const id = tokenIds[t];
      const part = w.parts.find((p) => id >= p.rowStart && id < p.rowStart + p.rows);
      if (part === undefined) throw new BitNetError('INTERNAL', `embed: row ${id} in no part of '${w.info.name}'`);
      this.dispatch('embed', Math.ceil(w.cols / 64), [id - part.rowStart, w.cols, fmt, t * w.cols], [w.tensorScale], [part.buffer, o.buffer]);
    }
    this.count(`webgpu.embed.${w.typeName}`);
  }

  rmsnorm(out: Tensor, x: Tensor, weight: Tensor, nTokens: number, dim: number, eps: number): void {
    this.live('rmsnorm');
    requireInt('rmsnorm', 'nTokens', nTokens, 0);
    requireInt('rmsnorm', 'dim', dim, 1);
    requireFinite('rmsnorm', 'eps', eps);
    const xt = this.tensor('rmsnorm', 'x', x, nTokens * dim);
    const ot = this.tensor('rmsnorm', 'out', out, nTokens * dim);
    const wt = this.tensor('rmsnorm', 'weight', weight, dim);
    // the gating just recorded on these values is applied by the norm's kernel first (not when it would bind `up` as out)
    const d = this.deferred;
    const gate = this.fuseOps && d?.kind === 'gate' && d.a === xt && d.b !== ot && d.n === nTokens * dim ? d : undefined;
    if (gate !== undefined) this.deferred = undefined;
    this.defer({ kind: 'rmsnorm', out: ot, x: xt, weight: wt, nTokens, dim, eps, gate });
  }

  /**
   * Records a deferred rmsnorm (with the gating it took on); with `quantize`, also the per-token quantization of its
   * output (quantize.wgsl mode 0, into the scratch quantize() would use), which it returns.
   */
  private recordRmsnorm(d: Extract<Deferred, { kind: 'rmsnorm' }>, quantize: boolean): Quantized | undefined {
    if (d.nTokens === 0) {
      this.count('webgpu.rmsnorm');
      return undefined;
    }
    const inPlace = d.x === d.out;
    const q: Quantized | undefined = quantize ? [this.scratchBuffer('xq', d.nTokens * d.dim), this.scratchBuffer('xs', d.nTokens * 4), this.scratchBuffer('qsum', d.nTokens * 4)] : undefined;
    const gate = d.gate;
    // writable bindings may not alias: an unused one gets a scratch buffer of its own
    const bindings = [d.x.buffer, d.weight.buffer, inPlace ? this.scratchBuffer('unused', 4) : d.out.buffer, gate?.b.buffer ?? d.weight.buffer, ...(q ?? [this.scratchBuffer('unused xq', 4), this.scratchBuffer('unused xs', 4), this.scratchBuffer('unused qsum', 4)])];
    this.dispatch('rmsnorm', d.nTokens, [d.dim, inPlace ? 1 : 0, gate?.code ?? 0, q !== undefined ? 1 : 0, d.norm === false ? 1 : 0], [d.eps], bindings);
    this.count(rmsnormId(gate?.code ?? 0, d.norm !== false, q !== undefined));
    return q;
  }

  /** Holds an op back for the next one to take in (fuseOps), after emitting the one held before. */
  private defer(d: Deferred): void {
    if (this.deferred !== undefined) this.emitDeferred();
    this.deferred = d;
    if (!this.fuseOps) this.emitDeferred();
  }

  /** Records the deferred op as its own dispatch. */
  private emitDeferred(): void {
    const d = this.deferred;
    if (d === undefined) return;
    this.deferred = undefined;
    if (d.kind === 'gate') {
      this.dispatch('elementwise', Math.ceil(d.n / 64), [d.code, d.n], [], [d.a.buffer, d.b.buffer]);
      this.count(d.code === 1 ? 'webgpu.relu_sqr_mul' : 'webgpu.silu_mul');
    } else if (d.kind === 'rmsnorm') {
      this.recordRmsnorm(d, false);
    } else if (d.kind === 'matmul') {
      this.recordMatmul(d.calls, undefined);
    } else {
      this.recordRope(d, undefined);
    }
  }

  /**
   * The deferred rmsnorm that wrote x (or gating, with no norm after it), taken into a matmul of nTokens tokens that
   * quantizes x per token: recorded now with that quantization fused in, whose buffers go into `quantized` under
   * 'per-token'.
   */
  private takeNormQuantize(x: GpuTensor, nTokens: number, cols: number, weights: readonly GpuWeight[], quantized: Map<string, Quantized>): void {
    const d = this.deferred;
    if (cols % 4 !== 0 || !weights.some((w) => FORMAT.ternary[w.info.type] !== undefined && w.activationQuant === 'per-token')) return;
    let norm: Extract<Deferred, { kind: 'rmsnorm' }>;
    if (d?.kind === 'rmsnorm' && d.out === x && d.nTokens === nTokens && d.dim === cols) {
      norm = d;
    } else if (d?.kind === 'gate' && d.a === x && d.n === nTokens * cols) {
      // a gating right before the matmul (no sub-norm): the same kernel without its norm
      norm = { kind: 'rmsnorm', out: x, x, weight: d.b, nTokens, dim: cols, eps: 0, gate: d, norm: false };
    } else {
      return;
    }
    this.deferred = undefined;
    const q = this.recordRmsnorm(norm, true);
    if (q !== undefined) quantized.set('per-token', q);
  }

  matmul(out: Tensor, w: Weight, x: Tensor, nTokens: number, scale = 1): void {
    this.live('matmul');
    const weight = this.own('matmul', w);
    requireInt('matmul', 'nTokens', nTokens, 0);
    requireFinite('matmul', 'scale', scale);
    const xt = this.tensor('matmul', 'x', x, nTokens * weight.cols);
    const ot = this.tensor('matmul', 'out', out, nTokens * weight.rows);
    const quantized = new Map<string, Quantized>();
    if (nTokens > 0) this.takeNormQuantize(xt, nTokens, weight.cols, [weight], quantized);
    const { variant, calls } = nTokens > 0 ? this.matmulCalls(ot, weight, xt, nTokens, scale, quantized) : { variant: '', calls: [] };
    this.count(weight.matmulId(nTokens, variant));
    // an addInPlace of the output into the residual stream next may go into the kernel (elementwise)
    if (calls.length > 0) this.defer({ kind: 'matmul', out: ot, input: xt, n: nTokens * weight.rows, calls });
  }

  matmulMany(x: Tensor, nTokens: number, targets: readonly MatmulTarget[]): void {
    this.live('matmulMany');
    checkMatmulMany(x, nTokens, targets, (t) => this.own('matmulMany', t.w));
    const cols = targets[0].w.cols;
    const xt = this.tensor('matmulMany', 'x', x, nTokens * cols);
    const outs = targets.map((t, i) => this.tensor('matmulMany', `targets[${i}].out`, t.out, nTokens * t.w.rows));
    // the ternary targets of one activation scheme (q, k, v; gate, up) share one quantization of x
    const quantized = new Map<string, Quantized>();
    if (nTokens > 0) this.takeNormQuantize(xt, nTokens, cols, targets.map((t) => t.w as GpuWeight), quantized);
    const rounded = new Map<number, GpuBuffer>();
    // single-part I2_S weights on the dot-product kernel go two to a dispatch (q and k; gate and up)
    let waiting: { call: KernelCall; out: GpuTensor; w: GpuWeight; scale: number } | undefined;
    targets.forEach((t, i) => {
      const w = t.w as GpuWeight;
      const { variant, calls } = nTokens > 0 ? this.matmulCalls(outs[i], w, xt, nTokens, t.scale ?? 1, quantized, rounded) : { variant: '', calls: [] };
      this.count(w.matmulId(nTokens, variant));
      if (this.fuseOps && calls.length === 1 && calls[0].name === 'matmul-i2s-dp4a' && w.parts.length === 1) {
        if (waiting === undefined) {
          waiting = { call: calls[0], out: outs[i], w, scale: Math.fround(t.scale ?? 1) };
          return;
        }
        const a = waiting.call;
        waiting = undefined;
        const groups = (Math.ceil(a.u[0] / 8) + Math.ceil(w.rows / 8)) * Math.ceil(nTokens / 8);
        const pair: KernelCall = { ...a, groups, u: [...a.u.slice(0, 8), w.rows, f32Bits(w.tensorScale), f32Bits(Math.fround(t.scale ?? 1))], extra: [w.parts[0].buffer, outs[i].buffer] };
        this.recordMatmul([pair], undefined);
        this.count('webgpu.fused.matmul+matmul');
        return;
      }
      this.recordMatmul(calls, undefined);
    });
    if (waiting !== undefined) this.recordMatmul([waiting.call], undefined);
  }

  /**
   * Quantize x as `mode` says into the scratch: xq (int8, four to a u32), xs (scales), qsum (mode 0: each token's
   * sum of its int8 values); returns them.
   */
  private quantize(x: GpuTensor, nTokens: number, cols: number, mode: 0 | 1 | 2, scratch = ''): Quantized {
    const block = mode === 0 ? cols : mode === 1 ? 256 : 32;
    // every weight type quantized here has whole blocks of 32 or more columns (checkWeightInfo), so whole u32 words
    if (cols % 4 !== 0) throw new BitNetError('INTERNAL', `webgpu backend: activations of ${cols} columns cannot be packed four to a word`);
    const perToken = Math.ceil(cols / block);
    const xq = this.scratchBuffer(`xq${scratch}`, nTokens * cols);
    const xs = this.scratchBuffer(`xs${scratch}`, nTokens * perToken * 4);
    const qsum = this.scratchBuffer(`qsum${scratch}`, nTokens * 4);
    this.dispatch('quantize', nTokens * perToken, [mode, block, cols, perToken], [], [x.buffer, xq, xs, qsum]);
    return [xq, xs, qsum];
  }

  /**
   * Plans a matmul kernel over the (token, row) pairs of one weight part: `units` pieces of work per row (values,
   * blocks or segments) decide the threads per row (a power of two up to 64), the rest of the 64 threads take other rows.
   */
  private sliceCall(name: 'matmul-ternary' | 'matmul-tq2-dp4a' | 'matmul-float' | 'matmul-quant' | 'matmul-q8_0-dp4a', p: WeightPart, nTokens: number, units: number, u: readonly number[], f: readonly [number, number], bindings: readonly GpuBuffer[]): KernelCall {
    const tpr = Math.min(64, 2 ** Math.floor(Math.log2(Math.max(1, units))));
    const pairs = p.rows * nTokens;
    return { name, groups: Math.ceil(pairs / (64 / tpr)), u: [...u, tpr], f, bindings };
  }

  /** Records a matmul's kernel calls; with `residual`, each also adds its outputs to that buffer (the fused add). */
  private recordMatmul(calls: readonly KernelCall[], residual: GpuBuffer | undefined): void {
    const res = residual ?? this.scratchBuffer('unused residual', 4);
    for (const c of calls) this.dispatch(c.name, c.groups, c.u, [...c.f, residual === undefined ? 0 : 1], [...c.bindings, res, ...(c.extra ?? [])]);
  }

  /**
   * Plans the matmul's kernel calls over the weight's parts, recording the activation quantization it needs now;
   * returns them and the kernel variant ('dp4a', or '' for the portable kernels).
   */
  private matmulCalls(out: GpuTensor, w: GpuWeight, x: GpuTensor, nTokens: number, scale: number, quantized?: Map<string, Quantized>, rounded?: Map<number, GpuBuffer>): { variant: string; calls: KernelCall[] } {
    const type = w.info.type;
    const { rows, cols } = w;
    const ternary = FORMAT.ternary[type];
    const float = FORMAT.float[type];
    const quant = FORMAT.quant[type];
    const calls: KernelCall[] = [];
    const kernel = this.matmulKernels(type, w.activationQuant)?.matmul;
    if (ternary !== undefined) {
      const q8k = w.activationQuant === 'q8k-block';
      let q = quantized?.get(w.activationQuant);
      if (q === undefined) {
        q = this.quantize(x, nTokens, cols, q8k ? 1 : 0, q8k ? 'q8k' : '');
        quantized?.set(w.activationQuant, q);
      }
      const [xq, xs, qsum] = q;
      const dp4a = kernel === 'matmul-i2s-dp4a';
      // TQ2_0 (either activation scheme): the portable kernel's work split with dot products per 128 values
      const tq2Dp4a = kernel === 'matmul-tq2-dp4a';
      for (const p of w.parts) {
        if (dp4a) {
          // matmul-i2s-dp4a.wgsl: 8 rows x 8 tokens per workgroup
          const groups = Math.ceil(p.rows / 8) * Math.ceil(nTokens / 8);
          // no second weight: its bindings are this weight (read) and a scratch nothing writes to
          const extra = [p.buffer, this.scratchBuffer('unused out2', 4)];
          calls.push({ name: 'matmul-i2s-dp4a', groups, u: [p.rows, cols, 0, 0, p.rowStart, rows, nTokens, 0, 0], f: [w.tensorScale, Math.fround(scale)], bindings: [p.buffer, xq, xs, qsum, out.buffer], extra });
          continue;
        }
        const intPath = !q8k && type === GgmlType.I2_S;
        calls.push(this.sliceCall(tq2Dp4a ? 'matmul-tq2-dp4a' : 'matmul-ternary', p, nTokens, intPath ? cols / 16 : cols / 128, [p.rows, cols, ternary, q8k ? 1 : 0, p.rowStart, rows, nTokens], [w.tensorScale, Math.fround(scale)], [p.buffer, xq, xs, out.buffer]));
      }
      return { variant: dp4a || tq2Dp4a ? 'dp4a' : '', calls };
    } else if (float !== undefined) {
      // x rounded to the weight's type once (matmul-float.wgsl reads it so), not once per row, and once for a
      // matmulMany's weights of one type
      let xr = float === 0 ? x.buffer : rounded?.get(float);
      if (xr === undefined) {
        xr = this.scratchBuffer(`x rounded ${float}`, nTokens * cols * 4);
        this.dispatch('elementwise', Math.ceil((nTokens * cols) / 64), [float === 1 ? 3 : 4, nTokens * cols], [], [xr, x.buffer]);
        rounded?.set(float, xr);
      }
      for (const p of w.parts) calls.push(this.sliceCall('matmul-float', p, nTokens, cols / 8, [p.rows, cols, float, 0, p.rowStart, rows, nTokens], [0, Math.fround(scale)], [p.buffer, xr, out.buffer]));
    } else if (quant !== undefined) {
      // scratch of its own: a matmulMany's ternary targets may still reuse theirs after this one
      const [xq, xs] = this.quantize(x, nTokens, cols, quant === 2 ? 1 : 2, quant === 2 ? '-quant-q8k' : '-quant-q8_0');
      const blocks = cols / (quant === 2 ? 256 : 32);
      const dp4a = kernel === 'matmul-q8_0-dp4a';
      for (const p of w.parts) calls.push(this.sliceCall(dp4a ? 'matmul-q8_0-dp4a' : 'matmul-quant', p, nTokens, blocks, [p.rows, cols, quant, 0, p.rowStart, rows, nTokens], [0, Math.fround(scale)], [p.buffer, xq, xs, out.buffer]));
      return { variant: dp4a ? 'dp4a' : '', calls };
    } else {
      throw bad('matmul', `weight type ${w.typeName} has no webgpu matmul`);
    }
    return { variant: '', calls };
  }

  rope(x: Tensor, nTokens: number, nHeads: number, headDim: number, positions: ArrayLike<number>, theta: number, style: RopeStyle): void {
    this.live('rope');
    checkRopeArgs(nTokens, nHeads, headDim, positions, theta, style);
    const xt = this.tensor('rope', 'x', x, nTokens * nHeads * headDim);
    if (nTokens === 0) return;
    // cos / sin per token and pair as kernels/reference/rope.ts (ggml_rope_cache_init), built on the host once per
    // set of positions (q and k of every layer share it)
    const half = headDim / 2;
    let table = this.ropeTable;
    let same = table !== undefined && table.headDim === headDim && table.theta === theta && table.positions.length === nTokens;
    for (let t = 0; same && t < nTokens; t++) same = table?.positions[t] === positions[t];
    if (!same || table === undefined) {
      const cs = new Float32Array(nTokens * half * 2);
      const thetaScale = Math.fround(Math.pow(Math.fround(theta), Math.fround(-2 / headDim)));
      for (let t = 0; t < nTokens; t++) {
        let angle = Math.fround(positions[t]);
        for (let i = 0; i < half; i++) {
          cs[2 * (t * half + i)] = Math.fround(Math.cos(angle));
          cs[2 * (t * half + i) + 1] = Math.fround(Math.sin(angle));
          angle = Math.fround(angle * thetaScale);
        }
      }
      table = { headDim, theta, positions: Float64Array.from({ length: nTokens }, (_, t) => positions[t]), buffer: this.uploadTo('rope table', cs) };
      this.ropeTable = table;
    }
    const neox = style === 'neox';
    // the RoPE of q just recorded with the same table joins this one (k) in one dispatch
    const d = this.deferred;
    if (this.fuseOps && d?.kind === 'rope' && d.table === table && d.neox === neox && d.x !== xt) {
      this.deferred = undefined;
      this.recordRope(d, { x: xt, nHeads });
      return;
    }
    this.defer({ kind: 'rope', x: xt, nTokens, nHeads, headDim, neox, table });
  }

  /** Records a deferred RoPE, and `second` (another tensor of the same tokens and table) in the same dispatch. */
  private recordRope(d: Extract<Deferred, { kind: 'rope' }>, second: { x: GpuTensor; nHeads: number } | undefined): void {
    const heads = d.nHeads + (second?.nHeads ?? 0);
    const x2 = second?.x.buffer ?? this.scratchBuffer('unused', 4);
    this.dispatch('rope', Math.ceil((d.nTokens * heads * (d.headDim / 2)) / 64), [d.nTokens, d.nHeads, d.headDim, d.neox ? 1 : 0, second?.nHeads ?? 0], [], [d.x.buffer, d.table.buffer, x2]);
    if (second === undefined) this.count(d.neox ? 'webgpu.rope.neox' : 'webgpu.rope.normal');
    else this.count(d.neox ? 'webgpu.fused.rope+rope.neox' : 'webgpu.fused.rope+rope.normal');
  }

  kvWrite(pool: KvPool, layer: number, k: Tensor, v: Tensor, batch: KvBatch): void {
    this.live('kvWrite');
    const p = this.ownPool('kvWrite', pool, layer);
    p.tables.checkBatch('kvWrite', batch);
    const kt = this.tensor('kvWrite', 'k', k, batch.nTokens * p.kvDim);
    const vt = this.tensor('kvWrite', 'v', v, batch.nTokens * p.kvDim);
    this.bindKvGrowth(p);
    if (batch.nTokens > 0 && p.tablesBuffer !== undefined) {
      const words = batch.nTokens * p.rowWords;
      const entries = this.entriesOf(p, batch);
      this.dispatch('kv-write', Math.ceil(words / 64), [batch.nTokens, p.kvDim, p.rowWords, p.blockSize, p.tables.maxBlocks], [], [kt.buffer, vt.buffer, p.keys[layer], p.values[layer], p.tablesBuffer, entries]);
    }
    this.count('webgpu.kv_write');
  }

  attention(out: Tensor, q: Tensor, pool: KvPool, layer: number, batch: KvBatch, nHeads: number, nKvHeads: number): void {
    this.live('attention');
    const p = this.ownPool('attention', pool, layer);
    const headDim = p.headDim;
    p.tables.checkBatch('attention', batch);
    checkAttentionShape(nHeads, nKvHeads, headDim, p);
    if (headDim > MAX_HEAD_DIM) throw bad('attention', `headDim ${headDim} exceeds the webgpu kernel's ${MAX_HEAD_DIM}`, { field: 'headDim', actual: headDim });
    const nTokens = batch.nTokens;
    const qt = this.tensor('attention', 'q', q, nTokens * nHeads * headDim);
    const ot = this.tensor('attention', 'out', out, nTokens * nHeads * headDim);
    this.bindKvGrowth(p);
    if (nTokens > 0 && p.tablesBuffer !== undefined) {
      let stride = 1;
      for (let t = 0; t < nTokens; t++) stride = Math.max(stride, batch.positions[t] + 1);
      // a workgroup per (entry, KV head, up to 4 of its query heads); a long context with few of them (decode) is split
      // into chunks of positions, a workgroup each (attention.wgsl modes 1-3)
      const headGroups = Math.ceil(nHeads / nKvHeads / 4);
      const units = nTokens * nKvHeads * headGroups;
      const chunk = this.attentionChunk;
      const chunks = stride > chunk && units < ATTENTION_SPLIT_UNITS ? Math.ceil(stride / chunk) : 0;
      const splitAt = nTokens * nHeads * stride;
      const scratch = this.scratchBuffer('scores', (splitAt + nTokens * nHeads * chunks * (1 + headDim)) * 4);
      const entries = this.entriesOf(p, batch);
      const u = [p.tables.maxBlocks, nHeads, nKvHeads, headDim, p.rowWords, stride, p.blockSize, headGroups];
      const bindings = [qt.buffer, p.keys[layer], p.values[layer], ot.buffer, scratch, p.tablesBuffer, entries];
      if (chunks > 0) {
        for (const mode of [1, 2, 3]) this.dispatch('attention', mode === 3 ? units : units * chunks, [...u, mode, chunk, chunks, splitAt], [1 / Math.sqrt(headDim)], bindings);
        this.count('webgpu.attention.split');
        return;
      }
      this.dispatch('attention', units, [...u, 0, chunk, 1, splitAt], [1 / Math.sqrt(headDim)], bindings);
    }
    this.count('webgpu.attention');
  }

  private elementwise(op: string, id: string, code: number, aName: string, a: Tensor, bName: string, b: Tensor, n: number): void {
    this.live(op);
    requireInt(op, 'n', n, 0);
    const at = this.tensor(op, aName, a, n);
    const bt = this.tensor(op, bName, b, n);
    if (at === bt && code !== 0) throw bad(op, `${aName} and ${bName} must be different tensors`);
    // the residual add of the matmul just recorded (b its whole output, a not one of its inputs): its kernel adds
    const d = this.deferred;
    if (code === 0 && d?.kind === 'matmul' && d.out === bt && d.n === n && at !== bt && at !== d.input) {
      this.deferred = undefined;
      this.recordMatmul(d.calls, at.buffer);
      this.count('webgpu.fused.matmul+add');
      return;
    }
    // a tensor added to itself: bind a copy of b (a buffer cannot be both read-only and writable in one dispatch)
    let bBuffer = bt.buffer;
    if (at === bt) {
      bBuffer = this.scratchBuffer('self-add', n * 4);
      this.copy(bt.buffer, 0, bBuffer, 0, n * 4);
    }
    if (code === 0) {
      this.dispatch('elementwise', Math.ceil(n / 64), [code, n], [], [at.buffer, bBuffer]);
      this.count(id);
    } else if (n > 0) {
      // a norm of the gated values may take it in (rmsnorm)
      this.defer({ kind: 'gate', code: code === 1 ? 1 : 2, a: at, b: bt, n });
    } else {
      this.count(id);
    }
  }

  addInPlace(x: Tensor, y: Tensor, n: number): void {
    this.elementwise('addInPlace', 'webgpu.add', 0, 'x', x, 'y', y, n);
  }

  reluSqrMul(gate: Tensor, up: Tensor, n: number): void {
    this.elementwise('reluSqrMul', 'webgpu.relu_sqr_mul', 1, 'gate', gate, 'up', up, n);
  }

  siluMul(gate: Tensor, up: Tensor, n: number): void {
    this.elementwise('siluMul', 'webgpu.silu_mul', 2, 'gate', gate, 'up', up, n);
  }

  gatherRows(out: Tensor, x: Tensor, rows: ArrayLike<number>, dim: number): void {
    this.live('gatherRows');
    requireInt('gatherRows', 'dim', dim, 1);
    const ot = this.tensor('gatherRows', 'out', out, rows.length * dim);
    const xt = this.tensor('gatherRows', 'x', x, 0);
    if (ot === xt) throw bad('gatherRows', 'out must not be x', { field: 'out' });
    const ids = new Uint32Array(Math.max(1, rows.length));
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (!Number.isInteger(r) || r < 0 || (r + 1) * dim > xt.nElements) {
        throw bad('gatherRows', `rows[${i}] = ${r} is not a row of x (${Math.floor(xt.nElements / dim)} rows of ${dim})`, { index: i, actual: r });
      }
      ids[i] = r;
    }
    if (rows.length > 0) {
      const rowBuffer = this.scratchBuffer('gather rows', ids.byteLength);
      this.upload(rowBuffer, 0, ids);
      this.dispatch('gather-rows', Math.ceil((rows.length * dim) / 64), [dim, rows.length], [], [xt.buffer, rowBuffer, ot.buffer]);
    }
    this.count('webgpu.gather_rows');
  }

  argmax(logits: Tensor, nRows: number, vocab: number): Promise<Int32Array> {
    this.live('argmax');
    const t = this.tensor('argmax', 'logits', logits, 0);
    checkRows('argmax', t.nElements, nRows, vocab);
    if (nRows === 0) return Promise.resolve(new Int32Array(0));
    const ids = this.scratchBuffer('argmax', nRows * 4);
    this.dispatch('argmax', nRows, [vocab, 0, 0], [], [t.buffer, ids]);
    this.count('webgpu.argmax');
    return this.readBytes(ids, 0, nRows * 4).then((b) => new Int32Array(b));
  }

  topK(logits: Tensor, nRows: number, vocab: number, k: number): Promise<TopK> {
    this.live('topK');
    const t = this.tensor('topK', 'logits', logits, 0);
    checkRows('topK', t.nElements, nRows, vocab);
    checkK('topK', k, vocab);
    if (k > MAX_TOP_K) throw bad('topK', `k ${k} exceeds the webgpu kernel's ${MAX_TOP_K}`, { field: 'k', actual: k });
    if (nRows === 0) return Promise.resolve({ ids: new Int32Array(0), values: new Float32Array(0) });
    const ids = this.scratchBuffer('topk ids', nRows * k * 4);
    const values = this.scratchBuffer('topk values', nRows * k * 4);
    this.dispatch('top-k', nRows, [vocab, k, 0], [], [t.buffer, ids, values]);
    this.count('webgpu.top_k');
    return (async () => {
      const i = new Int32Array(await this.readBytes(ids, 0, nRows * k * 4));
      const v = new Float32Array(await this.readBytes(values, 0, nRows * k * 4));
      return { ids: i, values: v };
    })();
  }

  kernelCalls(): ReadonlyMap<string, number> {
    return new Map(this.calls);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.encoder = undefined;
    this.pass = undefined;
    this.bindGroups.clear();
    this.slotGroups.length = 0;
    try {
      if (this.lost === undefined) await this.device.queue.onSubmittedWorkDone();
    } finally {
      for (const b of this.owned) b.destroy();
      for (const b of this.transient) b.destroy();
      this.owned.clear();
      this.transient = [];
      this.device.destroy();
    }
  }
}

/** The adapter's description for receipts and errors ('vendor architecture description'). */
function describeAdapter(a: GpuAdapter): string {
  const i = a.info;
  return [i?.vendor, i?.architecture, i?.description].filter((s) => s !== undefined && s !== '').join(' ') || 'unknown adapter';
}

/**
 * A KernelBackend on a WebGPU device: navigator.gpu in browsers, or `opts.gpu` (a Node binding). BACKEND_UNAVAILABLE
 * when there is no WebGPU or no adapter.
 */
export async function createWebGpuBackend(opts: WebGpuBackendOptions = {}): Promise<KernelBackend> {
  // options first: a bad one must not leave a device behind
  if (opts.maxBindingBytes !== undefined) requireInt('createWebGpuBackend', 'maxBindingBytes', opts.maxBindingBytes, 4);
  if (opts.attentionChunk !== undefined) requireInt('createWebGpuBackend', 'attentionChunk', opts.attentionChunk, 1);
  if (opts.warmUp !== undefined && typeof opts.warmUp !== 'boolean') {
    throw new BitNetError('BAD_ARGUMENT', `createWebGpuBackend: warmUp must be a boolean, got ${String(opts.warmUp)}`, { details: { field: 'warmUp' } });
  }
  const gpu = opts.gpu ?? (globalThis as { navigator?: { gpu?: Gpu } }).navigator?.gpu;
  if (gpu === undefined) {
    throw new BitNetError('BACKEND_UNAVAILABLE', 'webgpu backend: WebGPU is not available here (no navigator.gpu; in Node pass a binding such as the `webgpu` package)');
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) throw new BitNetError('BACKEND_UNAVAILABLE', 'webgpu backend: navigator.gpu gave no adapter (no GPU, or WebGPU disabled)');
  let device: GpuDevice;
  // subgroup operations where the adapter has them (not for portableKernels)
  const subgroups = opts.portableKernels !== true && adapter.features.has('subgroups');
  try {
    device = await adapter.requestDevice({
      requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
      ...(subgroups ? { requiredFeatures: ['subgroups'] } : {}),
    });
  } catch (e) {
    throw new BitNetError('BACKEND_UNAVAILABLE', `webgpu backend: requestDevice failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const dp4a = opts.portableKernels !== true && gpu.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') === true;
  // a CPU-emulated adapter has a few cores: splitting attention over more workgroups only adds work there (SwiftShader,
  // 2b-4t heads at 1024 positions: 48-50 ms unsplit, 64-66 split)
  const software = softwareAdapterReason(adapter) !== '';
  return new WebGpuBackend(device, describeAdapter(adapter), Math.min(limit, opts.maxBindingBytes ?? limit), dp4a, opts.fuseOps !== false, subgroups, opts.attentionChunk ?? (software ? Number.POSITIVE_INFINITY : ATTENTION_CHUNK), opts.warmUp ?? !software);
}
