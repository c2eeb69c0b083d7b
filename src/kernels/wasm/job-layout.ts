// The memory map and job-block layout shared with the kernels (mirrors assembly/job.ts, assembly/index.ts,
// assembly/embed.ts and assembly/attention.ts; wasm.test.ts checks the two stay in step by running ops).

/** Bytes of a wasm memory page, and the most pages a wasm32 memory holds (4 GiB). */
export const PAGE_BYTES = 65536;
export const MAX_PAGES = 65536;

/** Scratch in the low region (below the heap) for the start-up self-check and the TQ1_0 repack. */
export const SELF_CHECK_BYTE_OFFSET = 4096;

/** Byte offsets of the fixed low region of the shared memory (the modules have no static data). */
export const MEMORY_MAP = {
  /** Thread-pool control words (Int32), each on its own 64-byte line. */
  controlByteOffset: 1024,
  /**
   * The job blocks the threads read: JOB_SLOTS blocks of JOB_SLOT_BYTES from here. A job is the one at this offset
   * and the ones its JOB.link words chain after it (WasmBackend's deferred jobs: assembly/index.ts runJob).
   */
  jobByteOffset: 2048,
  /** Vector constants written by the module's initConstants() (assembly/constants.ts CONST_BASE). */
  constantsByteOffset: 3072,
  /** First byte the allocator hands out. */
  heapByteOffset: 65536,
} as const;

/** Int32 indexes of the control words (relative to controlByteOffset / 4). */
export const CTL = {
  /**
   * Job generation: odd while the main thread writes the job block, even once a job is published. A worker
   * runs the job of an even generation it has not run yet.
   */
  generation: 0,
  /** Workers inside a job (joined, not yet finished). The main thread waits for 0, never for sleepers. */
  active: 16,
  /** Set to 1 to make workers exit. */
  quit: 32,
  /** Workers asleep in Atomics.wait on `generation`. */
  sleepers: 48,
  /** 1 while the main thread sleeps on `active`. */
  mainAsleep: 64,
  /** Nonzero after a worker's job trapped. */
  error: 80,
  /** Words spanned. */
  words: 96,
} as const;

/** Word offsets inside the job block (assembly/job.ts JOB_*). */
export const JOB = { op: 0, next: 1, chunks: 2, chunkRows: 3, totalRows: 4, link: 5, tailChunks: 6, tailRows: 7, args: 8 } as const;

/** Job blocks between jobByteOffset and constantsByteOffset, and the bytes of each. */
export const JOB_SLOTS = 4;
export const JOB_SLOT_BYTES = 256;

/** Job op ids (assembly/index.ts OP_*). */
export const OP = {
  i2s: 1,
  tq2: 2,
  q8_0: 3,
  q6_k: 4,
  f16: 5,
  bf16: 6,
  f32: 7,
  attention: 8,
  tileI2s: 9,
  tileTq2: 10,
  bandwidth: 11,
  q4_0: 12,
  gemmI2s: 13,
  gemmTq2: 14,
  tokens: 15,
  i2sDot: 16,
  gemmQ8_0: 17,
  gemmNarrowI2s: 18,
  gemmNarrowTq2: 19,
  gemmF16: 20,
  gemmI2sDot: 21,
  gemmWide32I2s: 22,
  gemmWide32Tq2: 23,
  panelF16: 24,
  panelI2s: 25,
  tq2Dot: 26,
  gemmQ6K: 27,
} as const;

/** Kinds of the OP.tokens job (assembly/token-jobs.ts TJ_*), in argument word 0. */
export const TJ = { quantize: 1, rmsnorm: 2, rope: 3, reluSqrMul: 4, siluMul: 5, add: 6 } as const;

/** Matmul argument word indexes (assembly/job.ts ARG_*); f64 values take two words. */
export const ARG = {
  out: 0,
  outStride: 1,
  w: 2,
  rows: 3,
  cols: 4,
  x: 5,
  xStride: 6,
  aux: 7,
  auxStride: 8,
  nTokens: 9,
  scaleF64: 10,
  tab: 12,
  tabStride: 13,
  scratch: 14,
  scratchStride: 15,
  tiledRows: 16,
  bsums: 17,
  bsumsStride: 18,
  wscaleF64: 20,
  uniform: 22,
  actQuant: 23,
  ascales: 24,
  ascalesStride: 25,
  variant: 26,
  subRows: 27,
  subCols: 28,
  subValues: 29,
  rowMajor: 30,
  panelRows: 31,
} as const;

/** Attention argument word indexes (assembly/attention.ts ATT_*). */
export const ATT = {
  out: 0,
  q: 1,
  k: 2,
  v: 3,
  entries: 4,
  nHeads: 5,
  nKvHeads: 6,
  headDim: 7,
  scratch: 8,
  scratchStride: 9,
  scaleF64: 10,
  exact: 12,
  splitHeads: 13,
  wholeRows: 14,
  kvHeadBytes: 15,
  posBytes: 16,
  blockBytes: 17,
  blockSize: 18,
} as const;

/** Bandwidth probe argument word indexes (assembly/bandwidth.ts). */
export const BW = { base: 0, sink: 1 } as const;

/** Weight storage formats of embedRow (assembly/embed.ts FMT_*). */
export const FMT = { f32: 0, f16: 1, bf16: 2, q8_0: 3, q6_k: 4, i2s: 5, tq2: 6, q4_0: 7 } as const;
