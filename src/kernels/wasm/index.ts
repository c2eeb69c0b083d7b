// The WebAssembly SIMD backend: kernels from assembly/ (generated/*.ts), one shared memory for weights,
// activations and KV cache, worker threads splitting each matmul and attention by rows.

import { checkAttentionShape, checkKvPoolArgs, checkRopeArgs } from '../op-args.js';
import { BlockTables, checkCopyPairs, checkShift } from '../block-tables.js';
import { HostLookupWeight } from '../host-lookup.js';
import { KvHomes, kvBlockBytes } from '../kv-growth.js';
import { ropeRef } from '../reference/rope.js';
import { f16ToF32Table, f32ToF16Bits } from '../../formats/f16.js';
import { BitNetError } from '../../errors.js';
import { GgmlType, TYPE_TRAITS, lookupType, tensorByteSize } from '../../formats/ggml-type.js';
import { i2sByteSize } from '../../formats/i2s.js';
import { nativeActivationQuant } from '../../formats/index.js';
import type { ActivationQuant, KernelBackend, KvBatch, KvPool, MatmulTarget, MemoryPlan, RopeStyle, Tensor, TopK, Weight, WeightInfo } from '../backend.js';
import { checkMatmulMany } from '../matmul-many.js';
import { argmaxRows, checkK, checkRows, topKRows } from '../row-select.js';
import { attentionRows } from './attention-rows.js';
import { ARG, ATT, BW, FMT, JOB, JOB_SLOT_BYTES, JOB_SLOTS, MAX_PAGES, MEMORY_MAP, OP, PAGE_BYTES, SELF_CHECK_BYTE_OFFSET, TJ } from './job-layout.js';
import type { KernelExports } from './kernel-exports.js';
import { type KernelSetProbe, type KernelSetRequest, type WasmKernelSet, chooseFusedDot, chooseKernelSet, validates } from './kernel-set.js';
import { compiledModule, defaultThreads, probeKernelSets } from './probe.js';
import { ThreadPool } from './thread-pool.js';
import { threadsUnavailableReason } from './worker-host.js';

export { threadsUnavailableReason } from './worker-host.js';
export { chooseFusedDot, chooseKernelSet, type KernelSetProbe, type KernelSetRequest, type RelaxedDotLowering, type WasmKernelSet } from './kernel-set.js';
export { probeKernelSets } from './probe.js';

export interface WasmBackendOptions {
  /** Threads per op, the calling thread included (default: os.availableParallelism() / navigator.hardwareConcurrency). */
  threads?: number;
  /** 'auto' (default) takes relaxed SIMD only where it validates and passes the self-check. */
  kernelSet?: KernelSetRequest;
  /**
   * The fused i32 ternary kernels (relaxed SIMD, kernel-set.ts chooseFusedDot): 'auto' takes them where the relaxed
   * dot lowers to one AVX-VNNI instruction; default: setFusedDotDefault's value, 'auto' unless changed.
   */
  fusedDot?: 'auto' | boolean;
}

let fusedDotDefault: 'auto' | boolean = 'auto';

/**
 * What createWasmBackend uses when its options name no fusedDot (benchmarks A/B the kernels through models loaded
 * with the engine's defaults). Returns the previous value.
 */
export function setFusedDotDefault(value: 'auto' | boolean): 'auto' | boolean {
  if (value !== 'auto' && value !== true && value !== false) throw badArgument('setFusedDotDefault', `value must be 'auto', true or false, got ${String(value)}`);
  const prev = fusedDotDefault;
  fusedDotDefault = value;
  return prev;
}

/** Alignment of every allocation (a cache line; v128 loads need 16). */
const ALIGN = 64;
/** Tokens per pass of the tiled (lookup-table) ternary kernel: their tables (16 bytes per column each) stay in L2. */
const LUT_TOKENS = 16;
// The ternary GEMM (assembly/ternary-gemm.ts) takes passes of GEMM_TOKENS = 16 tokens too: 16 i16 lanes per table entry.
/** Bytes of one 4-column group's GEMM table (assembly/ternary-gemm.ts GEMM_TABLE_BYTES). */
const GEMM_TABLE_BYTES = 8192 + 192;
/** Bytes of one group's table of the 32-lane GEMM (assembly/ternary-gemm.ts GEMM_WIDE32_TABLE_BYTES). */
const GEMM_WIDE32_TABLE_BYTES = 16384 + 17 * 64;
/** Tokens per pass of the 32-lane GEMM (assembly/ternary-gemm.ts GEMM_WIDE32_TOKENS): passes above 16 tokens take it. */
const GEMM_WIDE32_TOKENS = 32;
/** Bytes of the GEMM's staged weights: up to 8 tiles (GEMM_BLOCK_TILES) of 32 rows x 64 groups (assembly/ternary-gemm.ts stageI2STile). */
const GEMM_STAGE_BYTES = 8 * 32 * 64;
/**
 * Per-thread scratch of the GEMM job for a chunk of n rows (assembly/ternary-gemm.ts gemmRows): 64 groups' tables, then
 * per-row i16 partials, f64 (or i32) sums and i32 fold sums, the tokens' scales and permuted activations, staged
 * weights. 16 lanes (the Narrow GEMM fits too) or 32.
 */
const gemmScratchBytes = (nRows: number, wide32: boolean): number =>
  wide32
    ? 64 * GEMM_WIDE32_TABLE_BYTES + nRows * (64 + 256 + 128) + 32 * 8 + 32 * 256 + GEMM_STAGE_BYTES
    : 64 * GEMM_TABLE_BYTES + nRows * (32 + 128 + 64) + 16 * 8 + 16 * 256 + GEMM_STAGE_BYTES;
/**
 * From this many tokens in a pass on, a tiled ternary matmul may take the GEMM: the measured crossover against the
 * per-token kernel (2560x2560 I2_S, 1 thread: a 16-lane GEMM pass costs ~5 simd128 / ~6 relaxed-SIMD per-token passes;
 * a Narrow pass 0.76 ms simd128 against 0.20 ms per token, 0.88 ms relaxed SIMD against 0.155). Passes of up to 8
 * tokens also ask NARROW_COST.
 */
const GEMM_MIN_TOKENS: Record<WasmKernelSet, number> = { simd128: 5, 'relaxed-simd': 6 };
/** Passes of at most this many tokens take the Narrow GEMM (assembly/ternary-gemm.ts GEMM_NARROW_TOKENS). */
const GEMM_NARROW_TOKENS = 8;
/**
 * Cost model of a Narrow pass against nt per-token passes, per thread (each thread builds the tables of every column
 * for its one chunk of rows): tables cost `table` ns per column, the GEMM's lookups `gemm` ns per weight, a per-token
 * pass `perToken` ns per weight. The GEMM wins when rowsPerThread * (nt * perToken - gemm) > table (columns cancel).
 * Measured 2026-12-07 (after the unrolled tables and the staged entry addresses of assembly/ternary-gemm.ts), CPU
 * time, 1 thread, 8 tokens, min of 11 calls over a ring of weights, load 4-5: relaxed SIMD (Node 22, native row-major
 * I2_S) x 2560 columns 64 / 320 / 1280 / 2560 rows 0.050 / 0.130 / 0.440 / 0.854 ms (0.125 ns per weight, ~12 ns per
 * column; x 6912 the same); simd128 (Node 20, tiled) 0.050 / 0.115 / 0.397 / 0.764 ms (0.112 ns per weight, ~12 ns
 * per column); its per-token passes 0.082 / 0.243 / 0.863 / 1.686 ms (0.0315 ns per weight and token). The tables cost
 * ~98 ns per column before (loops over the 81 entries; measured at load ~8), ~26-41 on the same machine this session.
 * So at 8 tokens the GEMM pays off from ~60 rows per thread against per-token passes (simd128: K and V take it at 2
 * threads too).
 */
const NARROW_COST: Record<WasmKernelSet, { table: number; gemm: number; perToken: number }> = {
  simd128: { table: 12, gemm: 0.112, perToken: 0.0315 },
  'relaxed-simd': { table: 12, gemm: 0.125, perToken: 0.029 },
};
/**
 * Tokens per pass of the multi-token Q8_0 / F16 kernels (assembly/gemm-q8_0.ts GEMM_Q8_0_TOKENS; scratch: Q8_0 80 B
 * per token, F16 a 256 B chunk and 16 B per token).
 */
const GEMM_TOKENS_PER_PASS = 16;
/**
 * From this many tokens on, Q8_0 / F16 / Q6_K take the multi-token kernels, per kernel set; one token stays on the
 * per-row GEMV (memory bound). Measured in CPU time (32768x2560, 1 thread, Node 22, loaded machine): Q8_0 10.4 against 14.9 ms at 2 tokens,
 * 33.8 against 53.0 at 8; F16 31 against 25 at 2 tokens, even at 4 (46 / 44), 71 against 85 at 8: 6 lies between
 * (still so with the one-row F16 kernel: 4096x2560, GEMM against per-row, 2.93 / 2.63 GB/s at 6 tokens, 2.40 / 2.06 at 8).
 * Since the F16 GEMM takes tokens two at a time (assembly/gemm-f16.ts chunkDot2) it wins from 3 (Intel Xeon, 16384x2560,
 * per-row against GEMM, 1 thread CPU ms: 2 tokens 12.9 / 15.2 (Node 24), 12.6 / 15.4 (22), 14.0 / 15.8 (20); 3 tokens
 * 18.0 / 17.1, 17.6 / 17.3, 20.1 / 18.1; 4 tokens 23.1 / 19.1, 22.7 / 19.5, 26.1 / 21.0; 2 threads wall, Node 24: 3
 * tokens 9.4 / 9.0, 4 tokens 12.0 / 9.9).
 * Q6_K (matmul-q6_k.ts gemmQ6KRows: each block unpacked once per pass), Intel Xeon, 16384x2560, per-row against the
 * multi-token kernel, 1 thread CPU ms: SIMD128 (Node 20) 2 tokens 12.1 / 9.7, 8 tokens 44.1 / 23.1; relaxed SIMD (its
 * per-row kernel already cheaper) Node 24 2 tokens 8.1 / 8.8, 3 tokens 11.2 / 10.6, 4 tokens 14.4 / 12.5, 8 tokens
 * 29.0 / 22.1; Node 22 3 tokens 10.9 / 11.1, 4 tokens 14.2 / 13.5, 8 tokens 28.1 / 23.9.
 */
const GEMM_FLOAT_MIN_TOKENS: Record<'q8_0' | 'f16' | 'q6_k', Record<WasmKernelSet, number>> = {
  q8_0: { simd128: 2, 'relaxed-simd': 2 },
  f16: { simd128: 3, 'relaxed-simd': 3 },
  q6_k: { simd128: 2, 'relaxed-simd': 4 },
};
/** Tokens one job of the multi-token I2_S dot kernel takes (assembly/gemm-i2s-dot.ts GEMM_I2S_DOT_MAX_TOKENS; scratch 16 B each). */
const GEMM_I2S_DOT_MAX_TOKENS = 16;
/**
 * Passes of this many tokens on native-layout I2_S (relaxed SIMD, per-token activations) take the multi-token dot
 * kernel (assembly/gemm-i2s-dot.ts) instead of the per-token dot GEMV or the lookup GEMM. Measured in CPU time, 1
 * thread, Node 22, load 5-7 (ms per matmul, dot kernel against the previous choice): 2560x2560 2 tokens 0.385 / 0.338
 * (GEMV), 3 tokens 0.493 / 0.560, 4 tokens 0.570 / 0.625, 8 tokens 1.147 / 1.242 (Narrow GEMM); 6912x2560 8 tokens 2.99
 * / 3.11; 640x2560 8 tokens 0.312 / 0.357 (GEMV); 16 tokens 2.63 against 1.68 for the 16-lane GEMM. On 2 threads the
 * lookup GEMM builds every table on each thread, which this kernel does not need.
 * maxFused: on fused dots (passes of 5 tokens, rowTokensFused5) up to 14 tokens take it, past the Narrow GEMM's 8:
 * Node 24, Intel Xeon, 1 thread, CPU ms, 2560x2560 / 6912x2560 / 2560x6912: 10 tokens 0.99 / 2.58 / 2.72 against
 * 1.38 / 3.65 / 3.84 for the 16-lane GEMM, 15 tokens 1.44 / 3.95 / 4.07 against 1.42 / 3.89 / 3.92, 16 tokens 1.71
 * / 4.56 / 4.90 against 1.42 / 3.80 / 3.91.
 */
const GEMM_DOT_TOKENS = { min: 3, max: 8, maxFused: 14 } as const;
/**
 * The dot kernel's cost in NARROW_COST's units: ns per weight and token on one thread. Measured with NARROW_COST's
 * Narrow figures (same script, load 4.4): 8 tokens x 2560 columns, 320 / 1280 / 2560 rows 0.146 / 0.544 / 1.068 ms,
 * 0.0201 ns per weight and token. So on 2 threads the Narrow tables pay off at 8 tokens from ~330 rows per thread (Q,
 * O, gate, up, down; K and V, 320, take this kernel), at 7 tokens from ~750, at 6 and fewer never. Before the cheaper
 * tables: 0.021-0.024 (1 thread, load 5-7), set to 0.03 so that Q, O and down kept the tables at 8 tokens (a quiet
 * 2-thread sweep had them 2-5% faster there).
 */
const GEMM_DOT_COST = 0.02;
/**
 * GEMM_DOT_COST of the fused i32 dot kernel (WasmBackend.fusedDot, assembly/gemm-i2s-dot.ts rowTokensFused). Measured
 * on an Intel Xeon with AVX-VNNI (Node 24, 1 thread, CPU time, weights rotated through 96 MB): 4 tokens 2560x2560
 * 0.392 against 0.498 ms for the i16 kernel (0.0150 against 0.0190 ns per weight and token; 6912x2560 1.02 / 1.31),
 * the Narrow GEMM at 8 tokens 0.755 ms there. So on 2 threads it takes every 2B-4T matmul at 8 tokens.
 */
const GEMM_DOT_COST_FUSED = 0.016;
/** Tiles the per-token ternary kernels advance at once (assembly/ternary-lut.ts LUT_STREAMS): their scratch is 4 x (32 i32 + 32 f64). */
const LUT_STREAMS = 4;
/** From this many tokens on, per-token ops (quantize, rmsnorm, rope) run as parallel jobs (a job costs a few us). */
const PARALLEL_MIN_TOKENS = 4;
/** From this many elements on, element-wise ops (activations, residual add) run as parallel jobs. */
const PARALLEL_MIN_ELEMENTS = 65536;
/** siluMul costs ~8 ns per element (two f64 exps and a divide per pair): worth a job already at one token's FFN width. */
const SILU_PARALLEL_MIN_ELEMENTS = 2048;
/** Rows of one tile of the tiled ternary layout (assembly/ternary-lut.ts). */
const TILE_ROWS = 32;
/** Chunks per thread a job is cut into, so a thread that falls behind is helped by the others. */
const CHUNKS_PER_THREAD = 8;
/** The last chunk of each thread is cut into this many (setJob): the threads end a job closer together. */
const TAIL_SPLIT = 4;
/**
 * F16 weights the kernel reads once at load (warmUpF16): enough loop iterations to spend V8's tier-up budget
 * (--wasm-tiering-budget, 13e6 "bytes executed" in Node 22) so the kernel is compiled by TurboFan in the background
 * during the rest of the load; 8 MB, a few ms in V8's baseline compiler (Liftoff).
 */
const F16_WARM_UP_WEIGHTS = 1 << 22;

/**
 * F16 weights with more columns than this (and a multiple of 64) are stored in column panels of F16_PANEL_ROWS rows
 * (assembly/matmul-f16.ts, which says why: from DRAM, 1 thread, 3072 columns read 16.8 GB per CPU-second, 4096 12.4-13.1).
 */
const F16_PANEL_MIN_COLS = 3072;
/** Rows per group of F16's column-panel layout (assembly/matmul-f16.ts F16_PANEL_ROWS). */
const F16_PANEL_ROWS = 16;
/**
 * Native I2_S weights (relaxed SIMD) with more columns than this are stored in column panels of I2S_PANEL_ROWS rows
 * (assembly/matmul-i2s-dot.ts: from DRAM, 1 thread, 8192 columns read 11.1 GB per CPU-second, 14336 6.9).
 */
const I2S_PANEL_MIN_COLS = 8192;
/** Rows per group of native I2_S's column-panel layout (assembly/matmul-i2s-dot.ts I2S_PANEL_ROWS: the GEMM's tile). */
const I2S_PANEL_ROWS = 32;
/**
 * TQ2_0 / TQ1_0 weights with at most this many columns take the multiply-add GEMV's dot layout under relaxed SIMD
 * (assembly/matmul-tq2-dot.ts); longer rows keep the tiled lookup kernels. From DRAM, 1 thread, Q8_K activations, GB
 * per CPU-second: 2560 columns 8.2-8.6 against the lookup kernel's 5.7-6.0, but 14336 columns 5.3-5.8 against 6.0-6.3
 * even with the codes in column panels (and 5.6-5.7 without): the per-block scale loads of long rows stall there (a
 * per-row-pair scale layout was slower at 2560 too, 5.8-7.2).
 */
const TQ2_DOT_MAX_COLS = 8192;
/** The tiled ternary kernel reads this far past the weights (assembly/ternary-lut.ts TOUCH_AHEAD_BYTES). */
const TOUCH_AHEAD_BYTES = 4096;
/** Query heads one pass over a KV head's K and V serves (assembly/attention.ts BATCH). */
const ATT_BATCH = 4;
const TQ1_BLOCK_BYTES = 54;
const TQ2_BLOCK_BYTES = 66;

/** A quantized activation batch in the 'xq' scratch (WasmBackend.quantize), with the lookup tables built for it. */
interface QuantizedBatch {
  readonly cols: number;
  /** Q8_K blocks (else per token): each scheme has its own 'xq' and 'lut' scratch, so both can be live at once. */
  readonly q8k: boolean;
  readonly xq: number;
  readonly xqStride: number;
  readonly info: number;
  readonly bsums: number;
  readonly bsumsStride: number;
  readonly ascales: number;
  readonly ascalesStride: number;
  tables: { t0: number; nt: number; tab: number } | undefined;
}

type WeightKind = 'i2s' | 'tq2' | 'q8_0' | 'q4_0' | 'q6_k' | 'f16' | 'bf16' | 'f32';

function lcm(a: number, b: number): number {
  let [x, y] = [a, b];
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

function badArgument(op: string, message: string, details: Record<string, string | number | boolean> = {}): BitNetError {
  return new BitNetError('BAD_ARGUMENT', `${op}: ${message}`, { details: { op, ...details } });
}

function requireInt(op: string, what: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) throw badArgument(op, `${what} must be an integer >= ${min}, got ${n}`, { field: what, expected: min, actual: n });
}

function requireFinite(op: string, what: string, x: number): void {
  if (!Number.isFinite(x)) throw badArgument(op, `${what} must be finite, got ${x}`, { field: what, actual: String(x) });
}

class WasmWeight implements Weight {
  readonly info: WeightInfo;
  readonly rows: number;
  readonly cols: number;
  prepared = false;
  /** Storage kind after prepareWeight (TQ1_0 becomes 'tq2'). */
  kind: WeightKind;
  /** Rows stored in the 32-row tiled layout (SIMD128 ternary kernels). */
  tiledRows = 0;
  /**
   * Rows stored in column panels (long rows: F16, assembly/matmul-f16.ts; native I2_S, assembly/matmul-i2s-dot.ts),
   * whole groups of F16_PANEL_ROWS / I2S_PANEL_ROWS rows; 0: row-major.
   */
  panelRows = 0;
  /**
   * Relaxed SIMD's multiply-add GEMVs: I2_S kept in its native layout (assembly/matmul-i2s-dot.ts), TQ2_0 in the dot
   * layout (dotRows; assembly/matmul-tq2-dot.ts); the GEMM reads either row-major.
   */
  nativeDot = false;
  /** TQ2_0 under relaxed SIMD: rows in the multiply-add kernel's dot layout (assembly/matmul-tq2-dot.ts; whole 32-row tiles). */
  dotRows = 0;
  /** I2_S per-tensor scale; TQ2_0 d when every block has the same one. */
  weightScale = 1;
  /** TQ2_0: every block has the same d. */
  uniformScale = false;
  /** F16: some weight is Inf or NaN, so the kernel converts exactly instead of by the scaled-bits shortcut. */
  f16NonFinite = false;
  /** Q8_0 / Q4_0: some block scale is subnormal, so the kernels convert the scales exactly (assembly/common.ts q8BlockScales). */
  exactScales = false;
  /** Ternary: some 2-bit code is 3 (value +2), so the GEMM tables need all 256 entries and shorter spans. */
  hasCode3 = false;
  /**
   * F16: the subnormal weights moved out of the matrix (assembly/f16-subnormals.ts): byte offsets of the per-row list
   * starts (u32, rows + 1), their columns (u32) and values (f32); 0 when none were moved.
   */
  subRows = 0;
  subCols = 0;
  subValues = 0;
  /** Ternary weights: how matmul quantizes activations (the format's native scheme unless info overrides it). */
  readonly activationQuant: ActivationQuant;
  readonly embedId: string;
  /** Matmul kernel ids by the kernel that ran (see matmulKernelId), built once per weight and kernel. */
  private readonly matmulIds = new Map<MatmulKernel, string>();
  private readonly idPrefix: string;

  constructor(
    readonly owner: WasmBackend,
    info: WeightInfo,
    rows: number,
    cols: number,
    readonly byteOffset: number,
    kind: WeightKind,
    kernelSet: WasmKernelSet,
  ) {
    this.info = info;
    this.rows = rows;
    this.cols = cols;
    this.kind = kind;
    this.activationQuant = info.activationQuant ?? nativeActivationQuant(info.type);
    const type = TYPE_TRAITS[info.type].name.toLowerCase();
    this.idPrefix = `wasm.${kernelSet}.matmul.`;
    this.typeId = type;
    this.embedId = `wasm.${kernelSet}.embed.${type}`;
  }

  private readonly typeId: string;

  /** The id kernelCalls() counts for `kernel` on this weight: wasm.<set>.matmul.<kernel>.<type>. */
  matmulKernelId(kernel: MatmulKernel): string {
    let id = this.matmulIds.get(kernel);
    if (id === undefined) {
      id = `${this.idPrefix}${kernel}.${this.typeId}`;
      this.matmulIds.set(kernel, id);
    }
    return id;
  }
}

/**
 * The matmul kernel a job ran, as receipts name it: ternary 'gemv-dot' (relaxed-SIMD multiply-add GEMV on native
 * I2_S, assembly/matmul-i2s-dot.ts), 'gemv-dot-i32' and 'gemm-dot-i32' (the GEMV and the multi-token dot kernel on fused i32 dots, WasmBackend.fusedDot), 'gemv-lut' (tiled lookup GEMV), 'gemv-rows' (untiled rows), 'gemm-lut' (the
 * lookup GEMM), 'gemm-dot' (relaxed-SIMD multi-token multiply-add on native I2_S, assembly/gemm-i2s-dot.ts); float and quantized weights 'rows' (one kernel for any token count), F16 with Inf / NaN and Q8_0 with subnormal scales 'rows-exact' ('gemm-rows-exact', 'gemm-rows-i32-exact' for the latter's multi-token kernels),
 * Q8_0, Q6_K and finite F16 with several tokens 'gemm-rows' (assembly/gemm-q8_0.ts, gemm-f16.ts, matmul-q6_k.ts), Q8_0 on fused dots 'gemm-rows-i32'
 * (WasmBackend.fusedQ8).
 */
type MatmulKernel =
  | 'gemv-dot' | 'gemv-dot-i32' | 'gemm-dot-i32' | 'gemv-lut' | 'gemv-rows' | 'gemm-lut' | 'gemm-dot' | 'rows' | 'rows-exact' | 'gemm-rows' | 'gemm-rows-exact'
  | 'gemm-rows-i32' | 'gemm-rows-i32-exact';

/**
 * An activation tensor: a range of the backend's memory. Its Float32Array view is made on each use, over the
 * memory's current buffer, never kept: after memory.grow the old SharedArrayBuffer object stays valid, and a view
 * kept on it keeps that buffer object alive beside the new one; Chromium's memory measurement
 * (performance.measureUserAgentSpecificMemory) counts every live buffer object of the wasm memory at its full
 * length, so tensors holding views of older buffers made the page's memory count two and three times over.
 */
class WasmTensor implements Tensor {
  constructor(
    readonly owner: WasmBackend,
    readonly byteOffset: number,
    readonly nElements: number,
  ) {}

  get data(): Float32Array {
    return new Float32Array(this.owner.buffer, this.byteOffset, this.nElements);
  }
}

/**
 * The paged KV pool in wasm memory. Memory comes as blocks are first used (kernels/kv-growth.ts), in chunks taken
 * from the heap wherever it ends then, so blocks do not sit at one base: each used block has a region of its own,
 * [K layer 0, V layer 0, K layer 1, ...] of blockBytes each, at a byte address that is a multiple of blockBytes.
 * homes.home[block] is that address / blockBytes, and the kernels' "block index" is the home: a layer's K of a block
 * is at kOffset(layer) + home * blockBytes with kOffset(layer) = 2 * layer * blockBytes, so kv-write and attention
 * index blocks as before (assembly/attention.ts, kv-write.ts) while block ids stay the engine's.
 */
class WasmKvPool implements KvPool {
  /** Per layer: 1 once a stored K or V value was +-Inf or NaN (attention then converts the F16 cache exactly). */
  readonly nonFinite: Uint8Array;
  readonly tables: BlockTables;
  readonly homes: KvHomes;
  /** Names this pool's scratch regions. */
  readonly id = nextPoolId++;
  /** Byte offset of the block tables' copy in wasm memory, homes in place of block ids (set by setBlockTables). */
  tablesOffset = 0;
  /** The last batch's kvWrite (home, slot) pairs and attention entries in scratch, reused by every layer of a step. */
  kvEntries: { batch: KvBatch; tables: Int32Array; at: number } | undefined;
  attEntries: { batch: KvBatch; tablesOffset: number; at: number; maxPositions: number } | undefined;

  constructor(
    readonly owner: WasmBackend,
    readonly nLayers: number,
    readonly kvDim: number,
    /** Within a block each KV head's positions are together (attention streams each KV head contiguously). */
    readonly headDim: number,
    readonly blockSize: number,
    readonly nBlocks: number,
    /** Takes wasm memory for `count` block regions; returns their homes. */
    grow: (pool: WasmKvPool, count: number) => number[],
  ) {
    this.nonFinite = new Uint8Array(nLayers);
    this.tables = new BlockTables(this);
    this.homes = new KvHomes(nBlocks, KvHomes.chunkBlocks(kvBlockBytes(this)), (count) => grow(this, count));
  }

  get allocatedBlocks(): number {
    return this.homes.allocated;
  }

  /** Bytes of one block of one plane (one layer's K or V). */
  get blockBytes(): number {
    return this.blockSize * this.kvDim * 2;
  }

  /** Bytes of a block's region: every layer's K and V. */
  get regionBytes(): number {
    return 2 * this.nLayers * this.blockBytes;
  }

  /** Offset of a layer's K in every region: the kernels' "plane" base, to which home * blockBytes is added. */
  kOffset(layer: number): number {
    return 2 * layer * this.blockBytes;
  }

  vOffset(layer: number): number {
    return this.kOffset(layer) + this.blockBytes;
  }

  /** Byte address of `block`'s region (the block has memory). */
  regionAt(block: number): number {
    return this.homes.home[block] * this.blockBytes;
  }

  /** Byte offset, from a plane base (kOffset / vOffset), of (position `pos` of slot `seq`, KV head h). */
  at(seq: number, pos: number, h: number): number {
    return this.regionAt(this.tables.block(seq, pos)) + (h * this.blockSize + (pos % this.blockSize)) * this.headDim * 2;
  }
}

let nextPoolId = 1;

/** Which file types this backend reads, and how it stores them. */
function kindOf(type: GgmlType): WeightKind | undefined {
  switch (type) {
    case GgmlType.I2_S:
      return 'i2s';
    case GgmlType.TQ1_0:
    case GgmlType.TQ2_0:
      return 'tq2';
    case GgmlType.Q8_0:
      return 'q8_0';
    case GgmlType.Q4_0:
      return 'q4_0';
    case GgmlType.Q6_K:
      return 'q6_k';
    case GgmlType.F16:
      return 'f16';
    case GgmlType.BF16:
      return 'bf16';
    case GgmlType.F32:
      return 'f32';
    default:
      return undefined;
  }
}

const FLOAT_OPS: Record<Exclude<WeightKind, 'i2s' | 'tq2'>, number> = {
  q8_0: OP.q8_0,
  q4_0: OP.q4_0,
  q6_k: OP.q6_k,
  f16: OP.f16,
  bf16: OP.bf16,
  f32: OP.f32,
};

const EMBED_FORMATS: Record<WeightKind, number> = {
  i2s: FMT.i2s,
  tq2: FMT.tq2,
  q8_0: FMT.q8_0,
  q4_0: FMT.q4_0,
  q6_k: FMT.q6_k,
  f16: FMT.f16,
  bf16: FMT.bf16,
  f32: FMT.f32,
};

/** A scratch region that only grows (re-allocated from the heap when a bigger one is needed). */
interface Scratch {
  byteOffset: number;
  bytes: number;
}

class WasmBackend implements KernelBackend {
  readonly name = 'wasm' as const;
  readonly kernelSet: WasmKernelSet;
  /** The ternary dot kernels run on fused i32 dots (assembly/matmul-i2s-dot.ts rowPairDotsFused; chooseFusedDot). */
  readonly fusedDot: boolean;
  /**
   * The multi-token Q8_0 kernel runs on fused dots of the weight bytes with byte activations x + 128 (assembly/gemm-q8_0.ts
   * header): fusedDot where the relaxed dot-add lowers to vpdpbusd ('vnni'), the only lowering that reads them right.
   */
  readonly fusedQ8: boolean;
  readonly kernelFeatures: readonly string[];
  readonly threads: number;

  private readonly memory: WebAssembly.Memory;
  private readonly exports: KernelExports;
  private pool: ThreadPool | undefined;
  private disposed = false;
  /** The F16 kernel ran once at load (warmUpF16). */
  private f16WarmedUp = false;
  /** Next free heap byte. */
  private top: number = MEMORY_MAP.heapByteOffset;
  private u8: Uint8Array;
  /** The cos / sin table in the 'rope' scratch and what it was built for. */
  private ropeTable: { cs: number; headDim: number; theta: number; positions: Float64Array } | undefined;
  /** Kernel ids of the element-wise ops for kernelCalls() (built once: these ops run hundreds of times per token). */
  private readonly ids: Record<'rmsnorm' | 'kvWrite' | 'attention' | 'copyBlocks' | 'shiftKeys' | 'add' | 'reluSqrMul' | 'siluMul' | 'ropeNeox' | 'ropeNormal' | 'gatherRows', string>;
  /**
   * Views of the job block being written (slot `jobSlot` of JOB_SLOTS), remade with every other view when the memory
   * grows (refreshViews) and when the slot changes (setJob).
   */
  private job32 = new Int32Array(0);
  private jobF32 = new Float32Array(0);
  private jobF64 = new Float64Array(0);
  private jobSlot = 0;
  /**
   * While true (inside matmulMany), runJob() defers a job instead of running it: the next setJob writes the next slot
   * and links it after this one, and flushJobs() publishes the chain as one pool job. The threads go from one job's
   * chunks to the next without meeting in between (assembly/index.ts runJob), so only independent jobs may be
   * deferred: the ternary matmuls of one matmulMany, which read the same quantized activations and write their own
   * outputs. Why: q, k and v (640 of 3840 rows for k and v on 2B-4T) and gate and up were a pool hand-off each, and
   * each hand-off ends with the threads waiting for the slowest one and starts the next weight's stream cold.
   */
  private deferJobs = false;
  /** The per-thread scratch (threadScratch). */
  private threadRegion: { readonly base: number; readonly stride: number } | undefined;
  /** Jobs written and deferred, not yet run (slots 0 .. pendingJobs - 1). */
  private pendingJobs = 0;
  private readonly calls = new Map<string, number>();
  private readonly scratch = new Map<string, Scratch>();
  /** The matmul input whose quantization sits in the 'xq' scratch (reused when the next input is identical). */

  constructor(memory: WebAssembly.Memory, exports: KernelExports, kernelSet: WasmKernelSet, pool: ThreadPool, fusedDot: boolean, fusedQ8: boolean) {
    this.memory = memory;
    this.exports = exports;
    this.kernelSet = kernelSet;
    this.fusedDot = fusedDot;
    this.fusedQ8 = fusedDot && fusedQ8;
    this.kernelFeatures = fusedDot ? ['fused-dot'] : [];
    this.pool = pool;
    this.threads = pool.threads;
    this.u8 = this.refreshViews();
    const k = `wasm.${kernelSet}`;
    this.ids = {
      rmsnorm: `${k}.rmsnorm`,
      kvWrite: `${k}.kv_write`,
      copyBlocks: `${k}.copy_blocks`,
      shiftKeys: `${k}.shift_keys`,
      attention: `${k}.attention`,
      add: `${k}.add`,
      reluSqrMul: `${k}.relu_sqr_mul`,
      siluMul: `${k}.silu_mul`,
      ropeNeox: `${k}.rope.neox`,
      ropeNormal: `${k}.rope.normal`,
      gatherRows: `${k}.gather_rows`,
    };
  }

  // ------------------------------------------------------------------ memory

  /** The memory's current buffer (memory.buffer is a new, longer SharedArrayBuffer object after each grow). */
  get buffer(): ArrayBufferLike {
    return this.u8.buffer;
  }

  /**
   * Views over the memory's current buffer. Called after every grow so that no view held here keeps an older buffer
   * object alive (tensors remake theirs on next use: WasmTensor.data); the ones made for a single op are dropped after it.
   */
  private refreshViews(): Uint8Array {
    const buffer = this.memory.buffer;
    this.u8 = new Uint8Array(buffer);
    this.jobViews(this.jobSlot);
    return this.u8;
  }

  private jobViews(slot: number): void {
    const buffer = this.memory.buffer;
    const at = MEMORY_MAP.jobByteOffset + slot * JOB_SLOT_BYTES;
    this.jobSlot = slot;
    this.job32 = new Int32Array(buffer, at, JOB_SLOT_BYTES / 4);
    this.jobF64 = new Float64Array(buffer, at, JOB_SLOT_BYTES / 8);
    this.jobF32 = new Float32Array(buffer, at, JOB_SLOT_BYTES / 4);
  }

  /** Grow the memory so that bytes [0, byteEnd) exist. */
  private ensure(byteEnd: number, what: string): void {
    const have = this.memory.buffer.byteLength;
    if (byteEnd <= have) return;
    const pages = Math.ceil((byteEnd - have) / PAGE_BYTES);
    if (have / PAGE_BYTES + pages > MAX_PAGES) {
      throw new BitNetError('BACKEND_UNAVAILABLE', `wasm backend: ${what} needs ${byteEnd} bytes of WebAssembly memory, more than the 4 GiB a wasm32 memory can hold`, {
        details: { what, bytes: byteEnd },
      });
    }
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new BitNetError('BACKEND_UNAVAILABLE', `wasm backend: could not grow WebAssembly memory to ${byteEnd} bytes for ${what}: ${String(e)}`, {
        cause: e,
        details: { what, bytes: byteEnd },
      });
    }
    this.refreshViews();
  }

  /** `nBytes` zeroed bytes, 64-byte aligned, with TOUCH_AHEAD_BYTES of memory after them. */
  private allocBytes(nBytes: number, what: string): number {
    const at = align(this.top);
    this.ensure(at + nBytes + TOUCH_AHEAD_BYTES, what);
    this.top = at + nBytes;
    return at;
  }

  private scratchAt(name: string, nBytes: number): number {
    const s = this.scratch.get(name);
    if (s !== undefined && s.bytes >= nBytes) return s.byteOffset;
    const bytes = Math.max(align(nBytes), s === undefined ? 0 : 2 * s.bytes);
    const byteOffset = this.allocBytes(bytes, `scratch '${name}'`);
    this.scratch.set(name, { byteOffset, bytes });
    return byteOffset;
  }

  /**
   * Per-thread scratch of at least `bytesPerThread` each; returns [base, stride]. The stride only grows, and a larger one
   * gets a fresh region: chained jobs (deferJobs) run on the threads at once, a thread in an earlier job's part of the
   * region while another is in a later one's, so two jobs on one region must cut it the same way.
   */
  private threadScratch(bytesPerThread: number): [number, number] {
    const need = align(Math.max(bytesPerThread, 512));
    let r = this.threadRegion;
    if (r === undefined || need > r.stride) {
      // the old region stays allocated (jobs written before may use it); the arena does not reuse it
      r = { base: this.allocBytes(need * this.threads, 'per-thread scratch'), stride: need };
      this.threadRegion = r;
    }
    return [r.base, r.stride];
  }

  /** Byte offset of a tensor this backend made holding at least n floats, else BAD_ARGUMENT. */
  private ptr(op: string, what: string, t: Tensor, n: number): number {
    return this.tensor(op, what, t, n).byteOffset;
  }

  private tensor(op: string, what: string, t: Tensor, n: number): WasmTensor {
    if (!(t instanceof WasmTensor) || t.owner !== this) throw badArgument(op, `${what} is not a tensor of this backend (use alloc)`, { field: what });
    if (t.nElements < n) throw badArgument(op, `${what} needs at least ${n} elements, has ${t.nElements}`, { field: what, expected: n, actual: t.nElements });
    return t;
  }

  private live(op: string): void {
    if (this.disposed) throw new BitNetError('DISPOSED', `wasm backend: ${op} after dispose()`, { details: { op } });
  }

  private count(id: string): void {
    this.calls.set(id, (this.calls.get(id) ?? 0) + 1);
  }

  private own(op: string, w: Weight): WasmWeight {
    if (w instanceof HostLookupWeight && w.owner === this) {
      throw badArgument(op, `weight '${w.info.name}' is lookup-only (kept in host memory for embed)`, { tensor: w.info.name });
    }
    if (!(w instanceof WasmWeight) || w.owner !== this) {
      throw badArgument(op, `weight '${w.info.name}' was not created by this backend`, { tensor: w.info.name });
    }
    if (!w.prepared) throw badArgument(op, `weight '${w.info.name}' is used before prepareWeight()`, { tensor: w.info.name });
    return w;
  }

  private ownPool(op: string, pool: KvPool, layer = 0): WasmKvPool {
    if (!(pool instanceof WasmKvPool) || pool.owner !== this) throw badArgument(op, 'KV pool was not created by this backend');
    if (!Number.isInteger(layer) || layer < 0 || layer >= pool.nLayers) {
      throw badArgument(op, `layer ${layer} out of range [0, ${pool.nLayers})`, { field: 'layer', actual: layer });
    }
    return pool;
  }

  // ------------------------------------------------------------------ jobs

  /**
   * Fill the job header for `totalRows` rows cut into chunks of a multiple of `rowQuantum` rows: CHUNKS_PER_THREAD
   * chunks per thread, the last `threads` of them cut into TAIL_SPLIT smaller ones (a thread's last chunk is short,
   * so the threads finish close together: the wait at the end of a job is about a small chunk, not a whole one), or
   * with `maxChunkRows` the fewest chunks of at most that many rows, a multiple of the threads, none smaller.
   * Returns the rows per (whole) chunk.
   */
  private setJob(op: number, totalRows: number, rowQuantum: number, maxChunkRows?: number, chained = false): number {
    const pool = this.pool;
    if (pool === undefined) throw new BitNetError('DISPOSED', 'wasm backend: used after dispose()');
    const chunkRows = this.chunkRows(totalRows, rowQuantum, maxChunkRows);
    if (this.pendingJobs > 0 && !chained) this.flushJobs();
    if (this.pendingJobs === 0) {
      pool.begin();
      if (this.jobSlot !== 0) this.jobViews(0);
    } else {
      // chained after the last deferred job (the generation stays odd: no thread reads a block until flushJobs)
      this.job32[JOB.link] = MEMORY_MAP.jobByteOffset + this.pendingJobs * JOB_SLOT_BYTES;
      this.jobViews(this.pendingJobs);
    }
    let big = Math.ceil(totalRows / chunkRows);
    let tailChunks = 0;
    let tailRows = 0;
    if (maxChunkRows === undefined && this.threads > 1) {
      tailRows = Math.max(rowQuantum, Math.ceil(chunkRows / TAIL_SPLIT / rowQuantum) * rowQuantum);
      if (tailRows < chunkRows) {
        big = Math.floor(Math.max(0, totalRows - this.threads * chunkRows) / chunkRows);
        tailChunks = Math.ceil((totalRows - big * chunkRows) / tailRows);
      } else {
        tailRows = 0;
      }
    }
    const j = this.job32;
    j[JOB.op] = op;
    j[JOB.next] = 0;
    j[JOB.chunks] = big + tailChunks;
    j[JOB.chunkRows] = chunkRows;
    j[JOB.totalRows] = totalRows;
    j[JOB.link] = 0;
    j[JOB.tailChunks] = tailChunks;
    j[JOB.tailRows] = tailRows;
    return chunkRows;
  }

  /** Rows per chunk of a job (see setJob). */
  private chunkRows(totalRows: number, rowQuantum: number, maxChunkRows?: number): number {
    const target =
      maxChunkRows === undefined ? Math.max(1, this.threads * CHUNKS_PER_THREAD) : this.threads * Math.max(1, Math.ceil(totalRows / (this.threads * maxChunkRows)));
    return Math.max(rowQuantum, Math.ceil(totalRows / target / rowQuantum) * rowQuantum);
  }

  private setArg(i: number, v: number): void {
    this.job32[JOB.args + i] = v;
  }

  private setArgF64(i: number, v: number): void {
    this.jobF64[(JOB.args + i) / 2] = v;
  }

  /** Run the job written since setJob; `chained` (as setJob's): defer it to flushJobs. */
  private runJob(chained = false): void {
    const pool = this.pool;
    if (pool === undefined) throw new BitNetError('DISPOSED', 'wasm backend: used after dispose()');
    if (chained) {
      if (++this.pendingJobs === JOB_SLOTS) this.flushJobs();
      return;
    }
    pool.run();
  }

  /** Run the deferred jobs (deferJobs) as one pool job. */
  private flushJobs(): void {
    if (this.pendingJobs === 0) return;
    this.pendingJobs = 0;
    const pool = this.pool;
    if (pool === undefined) throw new BitNetError('DISPOSED', 'wasm backend: used after dispose()');
    pool.run();
  }

  /**
   * Run a single-threaded op as a parallel OP.tokens job (assembly/token-jobs.ts) over `rows` tokens or elements when
   * there are several threads and enough work (`rows >= minRows`); false when the caller should call the op directly.
   * `args` fill argument words 1..; `f32Arg` stores one f32 at its word.
   */
  private tokenJob(kind: number, rows: number, minRows: number, quantum: number, args: readonly number[], f32Arg?: readonly [number, number]): boolean {
    if (this.threads < 2 || rows < minRows) return false;
    this.setJob(OP.tokens, rows, quantum);
    this.setArg(0, kind);
    for (let i = 0; i < args.length; i++) this.setArg(i + 1, args[i]);
    if (f32Arg !== undefined) this.jobF32[JOB.args + f32Arg[0]] = f32Arg[1];
    this.runJob();
    return true;
  }

  // ------------------------------------------------------------------ KernelBackend

  reserve(plan: MemoryPlan): void {
    this.live('reserve');
    requireInt('reserve', 'weightBytes', plan.weightBytes, 0);
    requireInt('reserve', 'activationFloats', plan.activationFloats, 0);
    requireInt('reserve', 'kvBytes', plan.kvBytes, 0);
    // The whole plan must fit a wasm32 memory (the KV budget included: the pool may grow to it), but one grow now
    // covers weights, activations and scratch only; the KV pool takes memory as blocks are used (growKvPool).
    const whole = align(this.top) + wasmPlanBytes(plan);
    if (whole > WASM_MEMORY_MAX_BYTES) {
      throw new BitNetError('BACKEND_UNAVAILABLE', `wasm backend: the plan needs ${whole} bytes of WebAssembly memory (KV cache ${plan.kvBytes}), more than the 4 GiB a wasm32 memory can hold`, {
        details: { what: 'reserve', bytes: whole, kvBytes: plan.kvBytes },
      });
    }
    this.ensure(align(this.top) + wasmPlanBytes({ ...plan, kvBytes: 0 }), 'reserve');
  }

  createWeight(info: WeightInfo): { weight: Weight; target: Uint8Array } {
    this.live('createWeight');
    if (info.lookupOnly === true) {
      // kept in host memory, outside the wasm memory (kernels/host-lookup.ts)
      const weight = new HostLookupWeight(this, info, `wasm.${this.kernelSet}`);
      return { weight, target: weight.bytes };
    }
    const name = info.name;
    const traits = lookupType(info.type);
    if (traits === undefined) {
      throw new BitNetError('UNKNOWN_TENSOR_TYPE', `tensor '${name}': unknown ggml type id ${info.type}`, { details: { tensor: name, typeId: info.type } });
    }
    if (info.dims.length < 1 || info.dims.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new BitNetError('BAD_TENSOR_SHAPE', `tensor '${name}': dims must be positive integers, got [${info.dims.join(', ')}]`, {
        details: { tensor: name, dims: info.dims.join(',') },
      });
    }
    const kind = kindOf(info.type);
    if (kind === undefined) {
      throw new BitNetError('UNSUPPORTED_TENSOR_TYPE', `tensor '${name}': type ${traits.name} is not supported by the wasm backend`, {
        details: { tensor: name, type: traits.name },
      });
    }
    const cols = info.dims[0];
    const nElements = info.dims.reduce((a, b) => a * b, 1);
    const expectedBytes = info.type === GgmlType.I2_S ? i2sByteSize(nElements) : tensorByteSize(info.type, nElements, cols, name);
    if (info.byteSize !== expectedBytes) {
      throw new BitNetError('BAD_TENSOR_DATA', `tensor '${name}': ${traits.name} [${info.dims.join(', ')}] needs ${expectedBytes} bytes, info says ${info.byteSize}`, {
        details: { tensor: name, expected: expectedBytes, actual: info.byteSize },
      });
    }
    // TQ1_0 is rewritten as TQ2_0 in place at prepareWeight: room for 66 bytes per 54-byte block.
    const storeBytes = info.type === GgmlType.TQ1_0 ? (info.byteSize / TQ1_BLOCK_BYTES) * TQ2_BLOCK_BYTES : info.byteSize;
    const byteOffset = this.allocBytes(storeBytes, `tensor '${name}'`);
    const weight = new WasmWeight(this, info, nElements / cols, cols, byteOffset, kind, this.kernelSet);
    return { weight, target: new Uint8Array(this.memory.buffer, byteOffset, info.byteSize) };
  }

  prepareWeight(weight: Weight): void {
    this.live('prepareWeight');
    if (weight instanceof HostLookupWeight && weight.owner === this) {
      weight.prepare();
      return;
    }
    if (!(weight instanceof WasmWeight) || weight.owner !== this) {
      throw badArgument('prepareWeight', `weight '${weight.info.name}' was not created by this backend`, { tensor: weight.info.name });
    }
    if (weight.prepared) return;
    const w = weight;
    const name = w.info.name;
    const dv = new DataView(this.memory.buffer);
    const base = w.byteOffset;
    // every block's binary16 scale finite (a BitNetError otherwise); returns how many are subnormal
    const checkBlockScales = (blockBytes: number, scaleOffset: number, nBlocks: number): number => {
      let subnormal = 0;
      for (let b = 0; b < nBlocks; b++) {
        const at = base + b * blockBytes + scaleOffset;
        const h = dv.getUint16(at, true);
        if ((h & 0x7c00) === 0 && (h & 0x3ff) !== 0) subnormal++;
        if ((h & 0x7c00) === 0x7c00) {
          throw new BitNetError('BAD_TENSOR_DATA', `tensor '${name}': block ${b} has a non-finite scale at byte ${b * blockBytes + scaleOffset}`, {
            details: { tensor: name, block: b, byteOffset: b * blockBytes + scaleOffset },
          });
        }
      }
      return subnormal;
    };
    const nElements = w.rows * w.cols;
    switch (w.info.type) {
      case GgmlType.I2_S: {
        const scale = dv.getFloat32(base + nElements / 4, true);
        if (!Number.isFinite(scale)) {
          throw new BitNetError('BAD_TENSOR_DATA', `tensor '${name}': I2_S scale is ${scale}, expected a finite number (byte ${nElements / 4})`, {
            details: { tensor: name, byteOffset: nElements / 4, actual: String(scale) },
          });
        }
        w.weightScale = scale;
        w.hasCode3 = this.exports.hasCode3(base, nElements / 4, nElements / 4, nElements / 4) !== 0;
        w.nativeDot = this.kernelSet === 'relaxed-simd' && w.cols % 128 === 0;
        if (!w.nativeDot && w.rows >= TILE_ROWS && w.cols % 4 === 0) this.tile(w, OP.tileI2s, w.cols / 4);
        // long rows with per-token activations: column panels (assembly/matmul-i2s-dot.ts; the Q8_K path reads rows)
        if (w.nativeDot && w.activationQuant !== 'q8k-block' && w.cols > I2S_PANEL_MIN_COLS && w.rows >= I2S_PANEL_ROWS) {
          this.panel(w, OP.panelI2s, I2S_PANEL_ROWS, (I2S_PANEL_ROWS * w.cols) / 4);
        }
        break;
      }
      case GgmlType.TQ1_0:
      case GgmlType.TQ2_0: {
        const nBlocks = nElements / 256;
        if (w.info.type === GgmlType.TQ1_0) {
          checkBlockScales(TQ1_BLOCK_BYTES, 52, nBlocks);
          this.exports.repackTQ1ToTQ2(base, nBlocks, SELF_CHECK_BYTE_OFFSET);
        } else {
          checkBlockScales(TQ2_BLOCK_BYTES, 64, nBlocks);
        }
        const d0 = dv.getUint16(base + 64, true);
        let uniform = true;
        for (let b = 1; b < nBlocks && uniform; b++) uniform = dv.getUint16(base + b * TQ2_BLOCK_BYTES + 64, true) === d0;
        w.uniformScale = uniform;
        w.weightScale = f16ToNumber(d0);
        w.hasCode3 = this.exports.hasCode3(base, nBlocks * TQ2_BLOCK_BYTES, TQ2_BLOCK_BYTES, 64) !== 0;
        if (w.rows >= TILE_ROWS && this.kernelSet === 'relaxed-simd' && w.cols <= TQ2_DOT_MAX_COLS) {
          // the multiply-add GEMV (assembly/matmul-tq2-dot.ts): codes in I2_S's byte order, read by the GEMM row-major
          const dotRows = Math.floor(w.rows / TILE_ROWS) * TILE_ROWS;
          const tileBytes = TILE_ROWS * (w.cols / 256) * TQ2_BLOCK_BYTES;
          this.flushJobs();
          this.exports.dotLayoutTQ2(base, w.cols, dotRows, this.scratchAt('tq2 dot layout', tileBytes + dotRows * (w.cols / 256) * 2));
          w.dotRows = dotRows;
          w.nativeDot = true;
        } else if (w.rows >= TILE_ROWS) {
          this.tile(w, OP.tileTq2, (w.cols / 256) * TQ2_BLOCK_BYTES);
        }
        break;
      }
      case GgmlType.Q8_0:
        // subnormal scales: the kernels convert them exactly (assembly/common.ts q8BlockScales), not by the scaled-bits
        // shortcut, whose subnormal f32 operand costs a microcode assist per multiply on x86
        w.exactScales = checkBlockScales(34, 0, nElements / 32) > 0;
        break;
      case GgmlType.Q4_0:
        w.exactScales = checkBlockScales(18, 0, nElements / 32) > 0;
        break;
      case GgmlType.Q6_K:
        checkBlockScales(210, 208, nElements / 256);
        break;
      case GgmlType.F16: {
        w.f16NonFinite = w.info.checkedFinite !== true && this.exports.hasF16NonFinite(base, nElements) !== 0;
        // subnormal weights would cost a microcode assist per multiply: move them to per-row lists (a few per row in
        // real tables; past 1 in 64 the lists would cost more than the assists)
        const nSub = this.exports.f16SubnormalCount(base, nElements);
        if (nSub > 0 && nSub <= nElements / 64) {
          w.subRows = this.allocBytes((w.rows + 1) * 4, `tensor '${name}' subnormal lists`);
          w.subCols = this.allocBytes(nSub * 4, `tensor '${name}' subnormal lists`);
          w.subValues = this.allocBytes(nSub * 4, `tensor '${name}' subnormal lists`);
          this.exports.f16ExtractSubnormals(base, w.rows, w.cols, w.subRows, w.subCols, w.subValues);
        }
        // long rows: the column-panel layout (assembly/matmul-f16.ts), after the scans above read the row-major bytes
        if (w.cols % 64 === 0 && w.cols > F16_PANEL_MIN_COLS && w.rows >= F16_PANEL_ROWS) this.panel(w, OP.panelF16, F16_PANEL_ROWS, F16_PANEL_ROWS * w.cols * 2);
        this.warmUpF16(w);
        break;
      }
      default:
        break;
    }
    w.prepared = true;
  }

  /**
   * Repack the whole groups of `groupRows` rows (`groupBytes` of them each) of a weight in place through per-thread
   * scratch (a parallel job of op, a group per chunk step); returns the rows repacked.
   */
  private repackGroups(w: WasmWeight, op: number, groupRows: number, groupBytes: number): number {
    const rows = Math.floor(w.rows / groupRows) * groupRows;
    const [scratch, stride] = this.threadScratch(groupBytes);
    this.setJob(op, rows, groupRows);
    this.setArg(ARG.w, w.byteOffset);
    this.setArg(ARG.rows, w.rows);
    this.setArg(ARG.cols, w.cols);
    this.setArg(ARG.scratch, scratch);
    this.setArg(ARG.scratchStride, stride);
    this.runJob();
    return rows;
  }

  /** Long rows to column panels (assembly/matmul-f16.ts, matmul-i2s-dot.ts). */
  private panel(w: WasmWeight, op: number, groupRows: number, groupBytes: number): void {
    w.panelRows = this.repackGroups(w, op, groupRows, groupBytes);
  }

  /** The whole 32-row tiles of a ternary weight to the tiled layout of the lookup kernels. */
  private tile(w: WasmWeight, op: number, rowBytes: number): void {
    w.tiledRows = this.repackGroups(w, op, TILE_ROWS, TILE_ROWS * rowBytes);
  }

  alloc(nElements: number): Tensor {
    this.live('alloc');
    requireInt('alloc', 'nElements', nElements, 0);
    const byteOffset = this.allocBytes(nElements * 4, 'alloc');
    return new WasmTensor(this, byteOffset, nElements);
  }

  write(dst: Tensor, src: Float32Array, dstOffset = 0): void {
    this.live('write');
    requireInt('write', 'dstOffset', dstOffset, 0);
    if (!(src instanceof Float32Array)) throw badArgument('write', 'src must be a Float32Array', { field: 'src' });
    this.tensor('write', 'dst', dst, dstOffset + src.length).data.set(src, dstOffset);
  }

  read(src: Tensor, offset: number, nElements: number): Promise<Float32Array> {
    this.live('read');
    requireInt('read', 'offset', offset, 0);
    requireInt('read', 'nElements', nElements, 0);
    return Promise.resolve(this.tensor('read', 'src', src, offset + nElements).data.slice(offset, offset + nElements));
  }

  readonly view = (t: Tensor): Float32Array => this.tensor('view', 't', t, 0).data;

  beginStep(): void {
    this.live('beginStep');
  }

  endStep(): Promise<void> {
    this.live('endStep');
    return Promise.resolve();
  }

  gatherRows(out: Tensor, x: Tensor, rows: ArrayLike<number>, dim: number): void {
    this.live('gatherRows');
    requireInt('gatherRows', 'dim', dim, 1);
    const o = this.tensor('gatherRows', 'out', out, rows.length * dim);
    const xt = this.tensor('gatherRows', 'x', x, 0);
    if (o === xt) throw badArgument('gatherRows', 'out must not be x', { field: 'out' });
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (!Number.isInteger(r) || r < 0 || (r + 1) * dim > xt.nElements) {
        throw badArgument('gatherRows', `rows[${i}] = ${r} is not a row of x (${Math.floor(xt.nElements / dim)} rows of ${dim})`, { index: i, actual: r });
      }
    }
    for (let i = 0; i < rows.length; i++) o.data.set(xt.data.subarray(rows[i] * dim, (rows[i] + 1) * dim), i * dim);
    this.count(this.ids.gatherRows);
  }

  argmax(logits: Tensor, nRows: number, vocab: number): Promise<Int32Array> {
    this.live('argmax');
    const t = this.tensor('argmax', 'logits', logits, 0);
    checkRows('argmax', t.nElements, nRows, vocab);
    return Promise.resolve(argmaxRows(t.data, nRows, vocab));
  }

  topK(logits: Tensor, nRows: number, vocab: number, k: number): Promise<TopK> {
    this.live('topK');
    const t = this.tensor('topK', 'logits', logits, 0);
    checkRows('topK', t.nElements, nRows, vocab);
    checkK('topK', k, vocab);
    return Promise.resolve(topKRows(t.data, nRows, vocab, k));
  }

  createKvPool(nLayers: number, kvDim: number, headDim: number, blockSize: number, nBlocks: number): KvPool {
    this.live('createKvPool');
    checkKvPoolArgs(nLayers, kvDim, headDim, blockSize, nBlocks);
    // no memory yet: block regions come on first use (growKvPool)
    return new WasmKvPool(this, nLayers, kvDim, headDim, blockSize, nBlocks, (p, count) => this.growKvPool(p, count));
  }

  /**
   * Regions for `count` more blocks of `p`, in one piece at the heap's end, at an address that is a multiple of the
   * pool's blockBytes (and of 64): their homes. memory.grow on a shared memory leaves every view made before valid (the
   * SharedArrayBuffer is not detached; memory.buffer becomes a longer one), and refreshViews renews the whole-memory view.
   */
  private growKvPool(p: WasmKvPool, count: number): number[] {
    const unit = lcm(p.blockBytes, 64);
    const at = Math.ceil(align(this.top) / unit) * unit;
    const nBytes = count * p.regionBytes;
    try {
      this.ensure(at + nBytes + TOUCH_AHEAD_BYTES, 'KV cache');
    } catch (e) {
      throw new BitNetError('KV_CACHE_FULL', `the KV cache could not grow by ${count} blocks (${nBytes} bytes) beyond its ${p.allocatedBlocks} of ${p.nBlocks}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
        details: { nBlocks: p.nBlocks, allocatedBlocks: p.allocatedBlocks, bytes: nBytes },
      });
    }
    this.top = at + nBytes;
    // fresh memory.grow pages are zero; a region below the old end was never handed out before either (the heap only grows)
    return Array.from({ length: count }, (_, i) => (at + i * p.regionBytes) / p.blockBytes);
  }

  setBlockTables(pool: KvPool, tables: Int32Array, nSeqs: number, maxBlocks: number): void {
    this.live('setBlockTables');
    const p = this.ownPool('setBlockTables', pool);
    p.tables.set(tables, nSeqs, maxBlocks);
    p.homes.ensureAll(p.tables.tables); // blocks used for the first time get memory
    // the kernels read the tables from wasm memory, homes in place of block ids: a copy per pool (scratch grows, never shrinks)
    p.tablesOffset = this.scratchAt(`blockTables ${p.id}`, Math.max(4, nSeqs * maxBlocks * 4));
    const copy = new Int32Array(this.u8.buffer, p.tablesOffset, nSeqs * maxBlocks);
    const home = p.homes.home;
    const host = p.tables.tables;
    for (let i = 0; i < copy.length; i++) copy[i] = host[i] < 0 ? -1 : home[host[i]];
  }

  copyBlocks(pool: KvPool, pairs: Int32Array): void {
    this.live('copyBlocks');
    const p = this.ownPool('copyBlocks', pool);
    checkCopyPairs(p, pairs);
    p.homes.ensureAll(pairs);
    const bytes = new Uint8Array(this.memory.buffer);
    for (let i = 0; i < pairs.length; i += 2) {
      // a block's every layer, K and V, is one region
      const src = p.regionAt(pairs[i]);
      bytes.copyWithin(p.regionAt(pairs[i + 1]), src, src + p.regionBytes);
    }
    this.count(this.ids.copyBlocks);
  }

  shiftKeys(pool: KvPool, seq: number, from: number, to: number, delta: number, theta: number, style: RopeStyle): void {
    this.live('shiftKeys');
    const p = this.ownPool('shiftKeys', pool);
    checkShift(p.tables, seq, from, to, delta, theta, style);
    // rare (a context shift), so plain TypeScript: the reference's rope on each key row read from F16, rounded back
    const { headDim } = p;
    const nKvHeads = p.kvDim / headDim;
    const f16 = f16ToF32Table();
    const u16 = new Uint16Array(this.memory.buffer);
    const row = new Float32Array(headDim);
    const cos = new Float64Array(headDim / 2);
    const sin = new Float64Array(headDim / 2);
    for (let l = 0; l < p.nLayers; l++) {
      const [kPlane, vPlane] = [p.kOffset(l), p.vOffset(l)];
      for (let j = 0; j < to - from; j++) {
        const pos = delta <= 0 ? from + j : to - 1 - j; // never overwrite a position still to be read
        for (let h = 0; h < nKvHeads; h++) {
          const src = p.at(seq, pos, h);
          const dst = p.at(seq, pos + delta, h);
          for (let d = 0; d < headDim; d++) row[d] = f16[u16[(kPlane + src) / 2 + d]];
          ropeRef(row, 1, 1, headDim, [delta], theta, style, cos, sin);
          for (let d = 0; d < headDim; d++) {
            const bits = f32ToF16Bits(row[d]);
            if ((bits & 0x7c00) === 0x7c00) p.nonFinite[l] = 1;
            u16[(kPlane + dst) / 2 + d] = bits;
            u16[(vPlane + dst) / 2 + d] = u16[(vPlane + src) / 2 + d];
          }
        }
      }
    }
    this.count(this.ids.shiftKeys);
  }

  embed(out: Tensor, table: Weight, tokenIds: ArrayLike<number>): void {
    this.live('embed');
    if (table instanceof HostLookupWeight && table.owner === this) {
      const outPtr = this.ptr('embed', 'out', out, tokenIds.length * table.cols);
      table.rowsInto(new Float32Array(this.memory.buffer, outPtr, tokenIds.length * table.cols), tokenIds);
      this.count(table.embedId);
      return;
    }
    const w = this.own('embed', table);
    const dim = w.cols;
    const outPtr = this.ptr('embed', 'out', out, tokenIds.length * dim);
    for (let t = 0; t < tokenIds.length; t++) {
      const id = tokenIds[t];
      if (!Number.isInteger(id) || id < 0 || id >= w.rows) {
        throw badArgument('embed', `token ${t} has id ${id}, expected an integer in [0, ${w.rows}) for '${w.info.name}'`, { index: t, actual: id, expected: w.rows });
      }
    }
    for (let t = 0; t < tokenIds.length; t++) {
      this.exports.embedRow(outPtr + t * dim * 4, w.byteOffset, EMBED_FORMATS[w.kind], dim, tokenIds[t], w.weightScale, w.tiledRows, w.panelRows, w.dotRows);
    }
    if (w.subRows !== 0) {
      // put back the subnormal weights moved out of the matrix at load
      const buffer = this.memory.buffer;
      const starts = new Uint32Array(buffer, w.subRows, w.rows + 1);
      const cols = new Uint32Array(buffer, w.subCols, starts[w.rows]);
      const values = new Float32Array(buffer, w.subValues, starts[w.rows]);
      const outF32 = new Float32Array(buffer, outPtr, tokenIds.length * dim);
      for (let t = 0; t < tokenIds.length; t++) {
        for (let k = starts[tokenIds[t]]; k < starts[tokenIds[t] + 1]; k++) outF32[t * dim + cols[k]] = values[k];
      }
    }
    this.count(w.embedId);
  }

  rmsnorm(out: Tensor, x: Tensor, weight: Tensor, nTokens: number, dim: number, eps: number): void {
    this.live('rmsnorm');
    requireInt('rmsnorm', 'nTokens', nTokens, 0);
    requireInt('rmsnorm', 'dim', dim, 1);
    requireFinite('rmsnorm', 'eps', eps);
    const xp = this.ptr('rmsnorm', 'x', x, nTokens * dim);
    const op = this.ptr('rmsnorm', 'out', out, nTokens * dim);
    const wp = this.ptr('rmsnorm', 'weight', weight, dim);
    if (!this.tokenJob(TJ.rmsnorm, nTokens, PARALLEL_MIN_TOKENS, 4, [op, xp, wp, dim], [5, eps])) this.exports.rmsnorm(op, xp, wp, nTokens, dim, eps);
    this.count(this.ids.rmsnorm);
  }

  matmul(out: Tensor, w: Weight, x: Tensor, nTokens: number, scale = 1): void {
    this.live('matmul');
    const weight = this.own('matmul', w);
    requireInt('matmul', 'nTokens', nTokens, 0);
    requireFinite('matmul', 'scale', scale);
    const { rows, cols } = weight;
    const xp = this.ptr('matmul', 'x', x, nTokens * cols);
    const op = this.ptr('matmul', 'out', out, nTokens * rows);
    if (nTokens > 0) {
      // the passes of a prefill batch (16 or 32 tokens each, or one job of 32-token passes) run as chained jobs
      if (weight.kind === 'i2s' || weight.kind === 'tq2') {
        const q = this.quantize(xp, nTokens, cols, weight.activationQuant === 'q8k-block');
        this.chained(() => this.matmulTernary(op, weight, nTokens, scale, q));
      } else {
        this.chained(() => this.matmulFloat(op, weight, xp, nTokens, scale));
      }
    }
  }

  /** f() with deferJobs on (unless it is already), then the deferred jobs run; on an error none of them does. */
  private chained(f: () => void): void {
    if (this.deferJobs) {
      f();
      return;
    }
    this.deferJobs = true;
    let done = false;
    try {
      f();
      done = true;
    } finally {
      this.deferJobs = false;
      if (done) this.flushJobs();
      else this.pendingJobs = 0; // an argument error mid-way: run nothing of a half-written chain
    }
  }

  matmulMany(x: Tensor, nTokens: number, targets: readonly MatmulTarget[]): void {
    this.live('matmulMany');
    checkMatmulMany(x, nTokens, targets, (t) => this.own('matmulMany', t.w));
    const cols = (targets[0].w as WasmWeight).cols;
    const xp = this.ptr('matmulMany', 'x', x, nTokens * cols);
    const outs = targets.map((t, i) => this.ptr('matmulMany', `targets[${i}].out`, t.out, nTokens * (t.w as WasmWeight).rows));
    // ternary weights share one quantization per activation scheme (q, k, v; gate, up), and their jobs run chained
    // as one pool job (deferJobs)
    const batches = new Map<boolean, QuantizedBatch>();
    this.chained(() => this.matmulManyTargets(xp, outs, nTokens, cols, targets, batches));
  }

  private matmulManyTargets(xp: number, outs: readonly number[], nTokens: number, cols: number, targets: readonly MatmulTarget[], batches: Map<boolean, QuantizedBatch>): void {
    for (let i = 0; i < targets.length; i++) {
      const w = targets[i].w as WasmWeight;
      const scale = targets[i].scale ?? 1;
      if (nTokens > 0) {
        if (w.kind === 'i2s' || w.kind === 'tq2') {
          const q8k = w.activationQuant === 'q8k-block';
          let q = batches.get(q8k);
          if (q === undefined) {
            q = this.quantize(xp, nTokens, cols, q8k);
            batches.set(q8k, q);
          }
          this.matmulTernary(outs[i], w, nTokens, scale, q);
        } else {
          this.matmulFloat(outs[i], w, xp, nTokens, scale);
        }
      }
    }
  }

  /**
   * Float / quantized weights: x converted to the weight type's vec_dot_type first (kernels/reference/matmul.ts):
   * F16 / BF16 rounded, Q8_0 / Q4_0 to Q8_0 blocks, Q6_K to Q8_K blocks, into the 'xconv' scratch.
   */
  private matmulFloat(outPtr: number, w: WasmWeight, xPtr: number, nTokens: number, scale: number, rows = w.rows, counted = true): void {
    const kind = w.kind as keyof typeof FLOAT_OPS;
    const cols = w.cols;
    let x = xPtr;
    let xStride = cols * 4;
    let scales = 0;
    let scalesStride = 0;
    // Q8_0, Q6_K and finite F16 with several tokens: the multi-token kernels (assembly/gemm-q8_0.ts, gemm-f16.ts,
    // matmul-q6_k.ts gemmQ6KRows) in passes of up to GEMM_TOKENS_PER_PASS, each weight block converted once for the
    // pass's tokens; same bits as the per-row kernels
    const gemm = (kind === 'q8_0' || kind === 'q6_k' || (kind === 'f16' && !w.f16NonFinite)) && nTokens >= GEMM_FLOAT_MIN_TOKENS[kind][this.kernelSet];
    // the multi-token Q8_0 kernel on fused dots (fusedQ8) also reads the activations as bytes x + 128
    const fusedQ8 = gemm && kind === 'q8_0' && this.fusedQ8;
    let xu = 0;
    let xuStride = 0;
    this.flushJobs(); // deferred jobs may read the 'xconv' scratch written below
    if (kind === 'q8_0' || kind === 'q4_0' || kind === 'q6_k') {
      // int16 activations (2 bytes per column) and a scale per block: f32 per 32 (Q8_0) or f64 per 256 (Q8_K)
      xStride = align(cols * 2);
      scalesStride = align(kind === 'q6_k' ? (cols / 256) * 8 : (cols / 32) * 4);
      xuStride = fusedQ8 ? align(cols) : 0;
      x = this.scratchAt('xconv', nTokens * (xStride + scalesStride + xuStride));
      scales = x + nTokens * xStride;
      if (kind === 'q6_k') this.exports.quantizeQ8KAct(xPtr, nTokens, cols, x, xStride, scales, scalesStride);
      else this.exports.quantizeQ8_0Act(xPtr, nTokens, cols, x, xStride, scales, scalesStride);
      if (fusedQ8) {
        xu = scales + nTokens * scalesStride;
        this.exports.biasQ8_0Act(x, nTokens, cols, xStride, xu, xuStride);
      }
    } else if (kind === 'f16' || kind === 'bf16') {
      x = this.scratchAt('xconv', nTokens * xStride);
      // F16: even columns first in each group of 8 of the whole 64-column chunks (the kernel's layout, assembly/matmul-f16.ts)
      if (kind === 'f16') this.exports.roundActivationsF16(xPtr, nTokens, cols, x, w.f16NonFinite ? 0 : 1);
      else this.exports.roundActivationsBF16(xPtr, nTokens * cols, x);
    }
    const tokensPerPass = gemm ? GEMM_TOKENS_PER_PASS : Math.max(1, nTokens);
    const gemmScratch = kind === 'q8_0' ? GEMM_TOKENS_PER_PASS * (64 + 16) : kind === 'q6_k' ? 544 + GEMM_TOKENS_PER_PASS * 8 : 256 + GEMM_TOKENS_PER_PASS * 16;
    // per-row kernels: Q8_0 64 bytes, F16's column panels a f64x2 sum per row of a group
    const [scratch, scratchStride] = this.threadScratch(gemm ? gemmScratch : Math.max(64, F16_PANEL_ROWS * 16));
    for (let t0 = 0; t0 < nTokens; t0 += tokensPerPass) {
      const nt = Math.min(tokensPerPass, nTokens - t0);
      // chunks of whole F16_PANEL_ROWS groups (F16's column panels)
      this.setJob(gemm ? (kind === 'q8_0' ? OP.gemmQ8_0 : kind === 'q6_k' ? OP.gemmQ6K : OP.gemmF16) : FLOAT_OPS[kind], rows, F16_PANEL_ROWS, undefined, this.deferJobs);
      this.setArg(ARG.scratch, scratch);
      this.setArg(ARG.scratchStride, scratchStride);
      this.setArg(ARG.aux, scales + t0 * scalesStride);
      this.setArg(ARG.auxStride, scalesStride);
      this.setArg(ARG.out, outPtr + t0 * rows * 4);
      this.setArg(ARG.outStride, rows);
      this.setArg(ARG.w, w.byteOffset);
      this.setArg(ARG.rows, rows);
      this.setArg(ARG.cols, cols);
      this.setArg(ARG.x, x + t0 * xStride);
      this.setArg(ARG.xStride, xStride);
      this.setArg(ARG.nTokens, nt);
      // 2: the fused Q8_0 kernel; multi-token F16: tokens two at a time (assembly/gemm-f16.ts chunkDot2)
      // 4: Q8_0 scales converted exactly (assembly/matmul-q8_0.ts Q8_0_EXACT_SCALES)
      this.setArg(ARG.variant, (fusedQ8 || (gemm && kind === 'f16') ? 2 : w.f16NonFinite ? 1 : 0) | (w.exactScales ? 4 : 0));
      this.setArg(ARG.tab, xu + t0 * xuStride);
      this.setArg(ARG.tabStride, xuStride);
      this.setArg(ARG.subRows, w.subRows);
      this.setArg(ARG.subCols, w.subCols);
      this.setArg(ARG.subValues, w.subValues);
      this.setArg(ARG.panelRows, kind === 'f16' ? w.panelRows : 0);
      this.setArgF64(ARG.scaleF64, Math.fround(scale));
      this.runJob(this.deferJobs);
      const exact = (kind === 'f16' && w.f16NonFinite) || w.exactScales;
      if (counted) this.count(w.matmulKernelId(fusedQ8 ? (exact ? 'gemm-rows-i32-exact' : 'gemm-rows-i32') : gemm ? (exact ? 'gemm-rows-exact' : 'gemm-rows') : exact ? 'rows-exact' : 'rows'));
    }
  }

  /**
   * Why: V8 runs a wasm function first as Liftoff code and compiles it with TurboFan once it has used its tiering
   * budget, in the background; a call keeps the code it started with. The 128256 x 2560 output matrix is one GEMV
   * per token in 16 chunks, so without this the first token's chunks run at ~1/3 of the speed (Liftoff) while the
   * compile competes with the spinning workers. One product of zeros with the first rows at load (results unused,
   * not counted in kernelCalls) spends the budget; the compile is done long before the first token.
   */
  private warmUpF16(w: WasmWeight): void {
    if (this.f16WarmedUp) return;
    this.f16WarmedUp = true;
    const rows = Math.min(w.rows, Math.ceil(F16_WARM_UP_WEIGHTS / w.cols / 16) * 16);
    const x = this.scratchAt('f16 warm-up', (w.cols + rows) * 4);
    new Float32Array(this.memory.buffer, x, w.cols).fill(0);
    this.matmulFloat(x + w.cols * 4, w, x, 1, 1, rows, false);
  }

  /** One job per pass of up to 16 or 32 tokens (or one job of 32-token passes); each counts the kernel it ran (matmulKernelId). */
  private matmulTernary(outPtr: number, w: WasmWeight, nTokens: number, scale: number, q: QuantizedBatch): void {
    const { rows, cols } = w;
    // native-layout I2_S (relaxed SIMD): the GEMM reads its whole 32-row groups in place
    const gemmRows = w.nativeDot ? Math.floor(rows / TILE_ROWS) * TILE_ROWS : w.tiledRows;
    const tiled = gemmRows > 0;
    // tiled weights: passes of 16 tokens (LUT_TOKENS = GEMM_TOKENS), each through the GEMM or the per-token kernel;
    // more than 16 tokens: passes of 32 through the 32-lane GEMM (half the weight reads and table addressing per token)
    const tokensPerPass = !tiled ? nTokens : nTokens > LUT_TOKENS ? GEMM_WIDE32_TOKENS : LUT_TOKENS;
    const { xqStride, bsumsStride } = q;
    const q8k = w.activationQuant === 'q8k-block';
    // several threads and whole 32-token passes for each: one job of passes, each thread taking whole passes (it builds
    // the tables of its own passes only; with one pass split by rows every thread builds all of them). Only where every
    // row is in whole tiles (the rows past them run per token, for all of a job's tokens at once)
    const wholePasses = Math.floor(nTokens / GEMM_WIDE32_TOKENS);
    const passJobTokens = tiled && this.threads > 1 && gemmRows === rows ? Math.floor(wholePasses / this.threads) * this.threads * GEMM_WIDE32_TOKENS : 0;
    for (let t0 = 0, nt = 0; t0 < nTokens; t0 += nt) {
      const passJob = t0 === 0 && passJobTokens > 0;
      nt = passJob ? passJobTokens : Math.min(tokensPerPass, nTokens - t0);
      // per thread and column (ns): the Narrow GEMM (lookups and this thread's tables), nt per-token passes
      const cost = NARROW_COST[this.kernelSet];
      const rowsPerThread = gemmRows / this.threads;
      const narrowCost = rowsPerThread * cost.gemm + cost.table;
      const narrowWins = narrowCost < rowsPerThread * nt * cost.perToken;
      const gemmTokens = tiled && nt >= GEMM_MIN_TOKENS[this.kernelSet];
      // native-layout I2_S with per-token activations, a decode batch: the multi-token dot kernel (no tables) unless
      // the Narrow GEMM's tables pay off over this thread's rows (GEMM_DOT_COST)
      const dotGemm =
        w.nativeDot &&
        w.kind === 'i2s' &&
        !q8k &&
        nt >= GEMM_DOT_TOKENS.min &&
        nt <= (this.fusedDot ? GEMM_DOT_TOKENS.maxFused : GEMM_DOT_TOKENS.max) &&
        (nt > GEMM_NARROW_TOKENS || !(gemmTokens && narrowCost < (rows / this.threads) * nt * (this.fusedDot ? GEMM_DOT_COST_FUSED : GEMM_DOT_COST)));
      const gemm = !dotGemm && gemmTokens && (nt > GEMM_NARROW_TOKENS || narrowWins);
      const tabStride = tiled && !gemm && !w.nativeDot ? cols * 16 : 0;
      const tab = tabStride > 0 ? this.lutTables(q, t0, nt) : 0;
      // the GEMM: one chunk per thread, so each builds its tables once (a job of passes: one chunk per pass)
      const maxChunkRows = passJob ? rows : gemm ? Math.ceil(rows / this.threads) : undefined;
      const quantum = tiled ? TILE_ROWS : 4;
      const jobRows = passJob ? (nt / GEMM_WIDE32_TOKENS) * rows : rows;
      // up to 8 tokens: the Narrow GEMM (8 token lanes per table entry, half the tables and lookups); above 16: 32 lanes
      const narrow = gemm && nt <= GEMM_NARROW_TOKENS;
      const wide32 = gemm && nt > LUT_TOKENS;
      const [scratch, scratchStride] = this.threadScratch(
        gemm ? gemmScratchBytes(this.chunkRows(jobRows, quantum, maxChunkRows), wide32) : dotGemm ? GEMM_I2S_DOT_MAX_TOKENS * 16 : LUT_STREAMS * (128 + 256),
      );
      const gemmOp =
        w.kind === 'i2s' ? (wide32 ? OP.gemmWide32I2s : narrow ? OP.gemmNarrowI2s : OP.gemmI2s) : wide32 ? OP.gemmWide32Tq2 : narrow ? OP.gemmNarrowTq2 : OP.gemmTq2;
      const gemvOp = w.nativeDot ? (w.kind === 'i2s' ? OP.i2sDot : OP.tq2Dot) : w.kind === 'i2s' ? OP.i2s : OP.tq2;
      this.setJob(gemm ? gemmOp : dotGemm ? OP.gemmI2sDot : gemvOp, jobRows, quantum, maxChunkRows, this.deferJobs);
      this.setArg(ARG.out, outPtr + t0 * rows * 4);
      this.setArg(ARG.outStride, rows);
      this.setArg(ARG.w, w.byteOffset);
      this.setArg(ARG.rows, rows);
      this.setArg(ARG.cols, cols);
      this.setArg(ARG.x, q.xq + t0 * xqStride);
      this.setArg(ARG.xStride, xqStride);
      this.setArg(ARG.aux, q.info + t0 * 16);
      this.setArg(ARG.auxStride, 16);
      this.setArg(ARG.nTokens, nt);
      this.setArgF64(ARG.scaleF64, Math.fround(scale));
      this.setArg(ARG.tab, tab);
      this.setArg(ARG.tabStride, tabStride);
      this.setArg(ARG.scratch, scratch);
      this.setArg(ARG.scratchStride, scratchStride);
      // the GEMM's whole tiles; the GEMVs' tiled (SIMD128 lookup kernels) or dot-layout (TQ2_0 multiply-add) rows
      this.setArg(ARG.tiledRows, gemm ? gemmRows : w.kind === 'tq2' && w.nativeDot ? w.dotRows : w.tiledRows);
      this.setArg(ARG.rowMajor, w.nativeDot ? 1 : 0);
      this.setArg(ARG.panelRows, w.panelRows);
      this.setArg(ARG.bsums, q.bsums + t0 * bsumsStride);
      this.setArg(ARG.bsumsStride, bsumsStride);
      this.setArgF64(ARG.wscaleF64, w.weightScale);
      this.setArg(ARG.uniform, w.uniformScale ? 1 : 0);
      this.setArg(ARG.actQuant, q8k ? 1 : 0);
      this.setArg(ARG.ascales, q.ascales + t0 * q.ascalesStride);
      this.setArg(ARG.ascalesStride, q.ascalesStride);
      // bit 1: code 3 present; bit 2: the fused i32 kernels (native I2_S: the GEMV, the multi-token dot kernel; the
      // TQ2_0 dot-layout GEMV, either activation scheme)
      const fusedGemv = this.fusedDot && !gemm && !dotGemm && ((gemvOp === OP.i2sDot && !q8k) || gemvOp === OP.tq2Dot);
      const fusedGemm = this.fusedDot && dotGemm;
      this.setArg(ARG.variant, (w.hasCode3 ? 1 : 0) | (fusedGemv || fusedGemm ? 2 : 0));
      this.runJob(this.deferJobs);
      // (the I2_S dot kernel hands Q8_K activations to the untiled row kernel; the TQ2_0 one folds them itself)
      this.count(w.matmulKernelId(gemm ? 'gemm-lut' : dotGemm ? (fusedGemm ? 'gemm-dot-i32' : 'gemm-dot') : w.nativeDot ? (q8k && w.kind === 'i2s' ? 'gemv-rows' : fusedGemv ? 'gemv-dot-i32' : 'gemv-dot') : w.tiledRows > 0 ? 'gemv-lut' : 'gemv-rows'));
    }
  }

  /**
   * Quantize nTokens x cols floats at xPtr into the 'xq' scratch: int8, per-token records, block sums, Q8_K scales
   * (q8k: Q8_K blocks, else per token). Valid until the next quantize.
   */
  private quantize(xPtr: number, nTokens: number, cols: number, q8k: boolean): QuantizedBatch {
    const xqStride = align(cols);
    const bsumsStride = align((cols / 128) * 4);
    const xqBytes = nTokens * xqStride;
    const infoBytes = align(nTokens * 16);
    const ascalesStride = align(Math.ceil(cols / 256) * 8);
    const ascalesBytes = nTokens * ascalesStride;
    const bsumsBytes = nTokens * bsumsStride;
    // one scratch per scheme, so a per-token batch and a Q8_K batch of one matmulMany coexist
    const xq = this.scratchAt(q8k ? 'xq-q8k' : 'xq', xqBytes + infoBytes + ascalesBytes + bsumsBytes);
    const info = xq + xqBytes;
    const ascales = info + infoBytes;
    const bsums = ascales + ascalesBytes;
    const args = [xPtr, cols, xq, xqStride, info, bsums, bsumsStride, q8k ? 1 : 0, ascales, ascalesStride];
    if (!this.tokenJob(TJ.quantize, nTokens, PARALLEL_MIN_TOKENS, 1, args)) {
      this.exports.quantizeTernary(xPtr, nTokens, cols, xq, xqStride, info, bsums, bsumsStride, 0, 0, q8k ? 1 : 0, ascales, ascalesStride);
    }
    return { cols, q8k, xq, xqStride, info, bsums, bsumsStride, ascales, ascalesStride, tables: undefined };
  }

  /**
   * The tiled per-token kernel's lookup tables (16 bytes per column and token) for tokens [t0, t0 + nt) of batch q,
   * in the 'lut' scratch; kept with the batch, so the matmuls of one matmulMany build them once.
   */
  private lutTables(q: QuantizedBatch, t0: number, nt: number): number {
    const tabStride = q.cols * 16;
    const tab = this.scratchAt(q.q8k ? 'lut-q8k' : 'lut', nt * tabStride);
    const c = q.tables;
    if (c !== undefined && c.t0 === t0 && c.nt === nt && c.tab === tab) return tab;
    if (c !== undefined) this.flushJobs(); // deferred jobs may read the tables this overwrites (each scheme has its own)
    this.exports.buildLutTables(q.xq + t0 * q.xqStride, q.xqStride, nt, q.cols, tab, tabStride);
    q.tables = { t0, nt, tab };
    return tab;
  }

  rope(x: Tensor, nTokens: number, nHeads: number, headDim: number, positions: ArrayLike<number>, theta: number, style: RopeStyle): void {
    this.live('rope');
    checkRopeArgs(nTokens, nHeads, headDim, positions, theta, style);
    const xp = this.ptr('rope', 'x', x, nTokens * nHeads * headDim);
    // cos / sin per token and pair, exactly as kernels/reference/rope.ts (ggml_rope_cache_init): f32 angles
    // built by repeated multiplication with theta_scale = powf(theta, -2 / headDim).
    const half = headDim / 2;
    const cs = this.scratchAt('rope', nTokens * half * 16);
    // q and k of every layer rotate by the same positions: the table is built once per forward pass
    const last = this.ropeTable;
    const same =
      last !== undefined && last.cs === cs && last.headDim === headDim && last.theta === theta && last.positions.length === nTokens &&
      last.positions.every((p, t) => p === positions[t]);
    if (!same) {
      const table = new Float64Array(this.memory.buffer, cs, nTokens * half * 2);
      const thetaScale = Math.fround(Math.pow(Math.fround(theta), Math.fround(-2 / headDim)));
      for (let t = 0; t < nTokens; t++) {
        let angle = Math.fround(positions[t]);
        for (let i = 0; i < half; i++) {
          table[2 * (t * half + i)] = Math.fround(Math.cos(angle));
          table[2 * (t * half + i) + 1] = Math.fround(Math.sin(angle));
          angle = Math.fround(angle * thetaScale);
        }
      }
      this.ropeTable = { cs, headDim, theta, positions: Float64Array.from({ length: nTokens }, (_, t) => positions[t]) };
    }
    const neox = style === 'neox' ? 1 : 0;
    if (!this.tokenJob(TJ.rope, nTokens, PARALLEL_MIN_TOKENS, 1, [xp, nHeads, headDim, cs, neox])) this.exports.rope(xp, nTokens, nHeads, headDim, cs, neox);
    this.count(style === 'neox' ? this.ids.ropeNeox : this.ids.ropeNormal);
  }

  kvWrite(pool: KvPool, layer: number, k: Tensor, v: Tensor, batch: KvBatch): void {
    this.live('kvWrite');
    const p = this.ownPool('kvWrite', pool, layer);
    p.tables.checkBatch('kvWrite', batch);
    const nTokens = batch.nTokens;
    const kp = this.ptr('kvWrite', 'k', k, nTokens * p.kvDim);
    const vp = this.ptr('kvWrite', 'v', v, nTokens * p.kvDim);
    // (home, slot) of each entry, resolved through the table once per batch (every layer of a step shares it)
    if (p.kvEntries?.batch !== batch || p.kvEntries.tables !== p.tables.tables) {
      const at = this.scratchAt(`kvEntries ${p.id}`, Math.max(8, nTokens * 8));
      const pairs = new Int32Array(this.u8.buffer, at, 2 * nTokens);
      for (let t = 0; t < nTokens; t++) {
        pairs[2 * t] = p.homes.home[p.tables.block(batch.seqs[t], batch.positions[t])];
        pairs[2 * t + 1] = batch.positions[t] % p.blockSize;
      }
      p.kvEntries = { batch, tables: p.tables.tables, at };
    }
    const dst = p.kvEntries.at;
    if (this.exports.kvWrite(p.kOffset(layer), p.vOffset(layer), kp, vp, dst, nTokens, p.kvDim, p.headDim, p.blockSize) !== 0) p.nonFinite[layer] = 1;
    this.count(this.ids.kvWrite);
  }

  attention(out: Tensor, q: Tensor, pool: KvPool, layer: number, batch: KvBatch, nHeads: number, nKvHeads: number): void {
    this.live('attention');
    const p = this.ownPool('attention', pool, layer);
    const headDim = p.headDim;
    p.tables.checkBatch('attention', batch);
    checkAttentionShape(nHeads, nKvHeads, headDim, p);
    const nTokens = batch.nTokens;
    const qp = this.ptr('attention', 'q', q, nTokens * nHeads * headDim);
    const op = this.ptr('attention', 'out', out, nTokens * nHeads * headDim);
    if (nTokens > 0) {
      // per entry: byte offset of its table row, positions to attend (once per batch: every layer of a step shares it)
      if (p.attEntries?.batch !== batch || p.attEntries.tablesOffset !== p.tablesOffset) {
        const at = this.scratchAt(`attEntries ${p.id}`, nTokens * 8);
        const words = new Uint32Array(this.u8.buffer, at, 2 * nTokens);
        let maxPositions = 0;
        for (let t = 0; t < nTokens; t++) {
          words[2 * t] = p.tablesOffset + batch.seqs[t] * p.tables.maxBlocks * 4;
          words[2 * t + 1] = batch.positions[t] + 1;
          maxPositions = Math.max(maxPositions, batch.positions[t] + 1);
        }
        p.attEntries = { batch, tablesOffset: p.tablesOffset, at, maxPositions };
      }
      const entries = p.attEntries.at;
      const nPositions = p.attEntries.maxPositions;
      const rows = attentionRows(nTokens * nKvHeads, nHeads / nKvHeads, this.threads, CHUNKS_PER_THREAD * this.threads);
      // assembly/attention.ts: BATCH maxima, BATCH queries in 8-element chunks, BATCH score rows, BATCH probabilities per position
      const [scratch, stride] = this.threadScratch(
        ATT_BATCH * 8 + Math.ceil(headDim / 8) * 8 * 4 * ATT_BATCH + ATT_BATCH * (nPositions * 8 + 16) + nPositions * 4 * ATT_BATCH,
      );
      this.setJob(OP.attention, rows.rows, 1);
      this.setArg(ATT.out, op);
      this.setArg(ATT.q, qp);
      this.setArg(ATT.k, p.kOffset(layer));
      this.setArg(ATT.v, p.vOffset(layer));
      this.setArg(ATT.entries, entries);
      this.setArg(ATT.nHeads, nHeads);
      this.setArg(ATT.nKvHeads, nKvHeads);
      this.setArg(ATT.headDim, headDim);
      this.setArg(ATT.scratch, scratch);
      this.setArg(ATT.scratchStride, stride);
      this.setArgF64(ATT.scaleF64, 1 / Math.sqrt(headDim));
      this.setArg(ATT.exact, p.nonFinite[layer]);
      this.setArg(ATT.splitHeads, rows.splitHeads);
      this.setArg(ATT.wholeRows, rows.wholeRows);
      this.setArg(ATT.kvHeadBytes, p.blockSize * headDim * 2);
      this.setArg(ATT.posBytes, headDim * 2);
      this.setArg(ATT.blockBytes, p.blockBytes);
      this.setArg(ATT.blockSize, p.blockSize);
      this.runJob();
    }
    this.count(this.ids.attention);
  }

  addInPlace(x: Tensor, y: Tensor, n: number): void {
    this.live('addInPlace');
    requireInt('addInPlace', 'n', n, 0);
    const xp = this.ptr('addInPlace', 'x', x, n);
    const yp = this.ptr('addInPlace', 'y', y, n);
    if (!this.tokenJob(TJ.add, n, PARALLEL_MIN_ELEMENTS, 64, [xp, yp])) this.exports.addInPlace(xp, yp, n);
    this.count(this.ids.add);
  }

  reluSqrMul(gate: Tensor, up: Tensor, n: number): void {
    this.live('reluSqrMul');
    requireInt('reluSqrMul', 'n', n, 0);
    const gp = this.ptr('reluSqrMul', 'gate', gate, n);
    const up2 = this.ptr('reluSqrMul', 'up', up, n);
    if (!this.tokenJob(TJ.reluSqrMul, n, PARALLEL_MIN_ELEMENTS, 64, [gp, up2])) this.exports.reluSqrMul(gp, up2, n);
    this.count(this.ids.reluSqrMul);
  }

  siluMul(gate: Tensor, up: Tensor, n: number): void {
    this.live('siluMul');
    requireInt('siluMul', 'n', n, 0);
    const gp = this.ptr('siluMul', 'gate', gate, n);
    const up2 = this.ptr('siluMul', 'up', up, n);
    if (!this.tokenJob(TJ.siluMul, n, SILU_PARALLEL_MIN_ELEMENTS, 64, [gp, up2])) this.exports.siluMul(gp, up2, n);
    this.count(this.ids.siluMul);
  }

  kernelCalls(): ReadonlyMap<string, number> {
    return new Map(this.calls);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const pool = this.pool;
    this.pool = undefined;
    this.scratch.clear();
    if (pool !== undefined) await pool.dispose();
  }

  // ------------------------------------------------------------------ benchmarks

  /** Read `mebibytes` MiB of memory at byteOffset with all threads (bench/kernels.ts); returns seconds. */
  /** Bytes of WebAssembly memory the backend holds (wasmMemoryBytes). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  readBandwidth(byteOffset: number, mebibytes: number, now: () => number): number {
    const [sink] = this.threadScratch(64);
    this.setJob(OP.bandwidth, mebibytes, 1);
    this.setArg(BW.base, byteOffset);
    this.setArg(BW.sink, sink);
    const t0 = now();
    this.runJob();
    return (now() - t0) / 1000;
  }
}

/** The number an F16 bit pattern stands for (finite patterns only; prepareWeight refused the others). */
function f16ToNumber(bits: number): number {
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  const magnitude = exponent === 0 ? mantissa * 2 ** -24 : (1024 + mantissa) * 2 ** (exponent - 25);
  return bits & 0x8000 ? -magnitude : magnitude;
}

/** The most a wasm32 memory holds (65536 pages of 64 KiB). */
export const WASM_MEMORY_MAX_BYTES = MAX_PAGES * PAGE_BYTES;

/** Bytes `reserve(plan)` grows the memory by: the plan plus slack for alignment and kernel scratch. */
export function wasmPlanBytes(plan: MemoryPlan): number {
  const planned = plan.weightBytes + plan.activationFloats * 4 + plan.kvBytes;
  return planned + 4 * 1024 * 1024 + Math.ceil(planned / 64);
}

/** Whether a plan fits a wasm32 memory next to the backend's fixed regions (scratch, job blocks). */
export function wasmPlanFits(plan: MemoryPlan): boolean {
  return MEMORY_MAP.heapByteOffset + wasmPlanBytes(plan) <= WASM_MEMORY_MAX_BYTES;
}

/**
 * A KernelBackend running WebAssembly SIMD kernels on `threads` threads (the caller's included). Weights,
 * activations and the KV cache live in one shared WebAssembly.Memory (at most 4 GiB).
 */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<KernelBackend> {
  const requested = opts.kernelSet ?? 'auto';
  if (requested !== 'auto' && requested !== 'simd128' && requested !== 'relaxed-simd') {
    throw new BitNetError('BAD_ARGUMENT', `createWasmBackend: kernelSet must be 'auto', 'simd128' or 'relaxed-simd', got '${String(requested)}'`, {
      details: { field: 'kernelSet' },
    });
  }
  const threads = opts.threads ?? (await defaultThreads());
  requireInt('createWasmBackend', 'threads', threads, 1);
  const noThreads = threadsUnavailableReason();
  if (threads > 1 && noThreads !== '') {
    throw new BitNetError('BACKEND_UNAVAILABLE', `wasm backend: ${threads} threads were asked for but ${noThreads}; use threads: 1`, { details: { threads } });
  }
  const fd = opts.fusedDot;
  if (fd !== undefined && fd !== 'auto' && fd !== true && fd !== false) {
    throw new BitNetError('BAD_ARGUMENT', `createWasmBackend: fusedDot must be 'auto', true or false, got '${String(fd)}'`, { details: { field: 'fusedDot' } });
  }
  const probe: KernelSetProbe =
    requested === 'simd128' ? { simd128: validates('simd128'), relaxedValidates: false, relaxedSelfCheck: undefined } : await probeKernelSets();
  const kernelSet = chooseKernelSet(requested, probe);
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: MEMORY_MAP.heapByteOffset / PAGE_BYTES + 16, maximum: MAX_PAGES, shared: true });
  } catch (e) {
    throw new BitNetError('BACKEND_UNAVAILABLE', `wasm backend: could not create a shared WebAssembly memory: ${String(e)}`, { cause: e });
  }
  const fusedDot = chooseFusedDot(opts.fusedDot ?? fusedDotDefault, kernelSet, probe);
  const module = await compiledModule(kernelSet);
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  exports.initConstants();
  const pool = await ThreadPool.create(module, memory, threads, (job, thread) => exports.runJob(job, thread));
  return new WasmBackend(memory, exports, kernelSet, pool, fusedDot, probe.relaxedDotLowering === 'vnni');
}

/**
 * The bench hook (not part of KernelBackend): seconds to read `buffer` (from alloc, a whole number of MiB)
 * with the backend's threads, 64 bytes a step.
 */
export function wasmReadSeconds(backend: KernelBackend, buffer: Tensor): number {
  if (!(backend instanceof WasmBackend) || !(buffer instanceof WasmTensor) || buffer.owner !== backend) throw badArgument('wasmReadSeconds', 'not a wasm backend and one of its tensors');
  const mebibytes = Math.floor((buffer.nElements * 4) / (1024 * 1024));
  return backend.readBandwidth(buffer.byteOffset, mebibytes, () => performance.now());
}

/** The hook for tests and benches (not part of KernelBackend): bytes of WebAssembly memory a wasm backend holds now. */
export function wasmMemoryBytes(backend: KernelBackend): number {
  if (!(backend instanceof WasmBackend)) throw badArgument('wasmMemoryBytes', 'not a wasm backend');
  return backend.memoryBytes;
}
