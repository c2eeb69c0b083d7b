// The job block every parallel kernel reads its arguments from (layout mirrored in ../job-layout.ts).
//
// A job is written by the main thread, then run by every thread: each claims row chunks with an atomic
// counter until none are left. Word offsets (u32 each):
//   0 op id, 1 next chunk (atomic), 2 chunk count, 3 rows per chunk, 4 total rows,
//   5 link: byte offset of the job block run after this one by the same call (0: none), no barrier between them,
//   6 tail chunks: the last chunks are this many smaller ones (0: none), 7 rows per tail chunk,
//   8.. arguments (ARG_*), op-specific; floats are stored as f32 bits.

export const JOB_OP: u32 = 0;
export const JOB_NEXT: u32 = 4;
export const JOB_CHUNKS: u32 = 8;
export const JOB_CHUNK_ROWS: u32 = 12;
export const JOB_TOTAL_ROWS: u32 = 16;
export const JOB_LINK: u32 = 20;
export const JOB_TAIL_CHUNKS: u32 = 24;
export const JOB_TAIL_ROWS: u32 = 28;
export const JOB_ARGS: u32 = 32;

// Matmul arguments (all matmul ops share them).
export const ARG_OUT: u32 = 0; // f32 out, token-major
export const ARG_OUT_STRIDE: u32 = 1; // floats between tokens in out
export const ARG_W: u32 = 2; // weight bytes
export const ARG_ROWS: u32 = 3;
export const ARG_COLS: u32 = 4;
export const ARG_X: u32 = 5; // activations: int8 / int16 / f32 per op
export const ARG_X_STRIDE: u32 = 6; // bytes between tokens in X
export const ARG_AUX: u32 = 7; // per-token records (scales, sums) or per-block scales
export const ARG_AUX_STRIDE: u32 = 8; // bytes between tokens in AUX
export const ARG_N_TOKENS: u32 = 9;
export const ARG_SCALE: u32 = 10; // f64 in words 10-11: the caller's output scale (an f32 value)
export const ARG_TAB: u32 = 12; // lookup tables (tiled ternary kernel); fused Q8_0 GEMM: byte activations x + 128
export const ARG_TAB_STRIDE: u32 = 13; // bytes between tokens' tables (or byte activations)
export const ARG_SCRATCH: u32 = 14; // per-thread scratch base
export const ARG_SCRATCH_STRIDE: u32 = 15; // bytes of scratch per thread
export const ARG_TILED_ROWS: u32 = 16; // rows stored in the 32-row tiled layout (a multiple of 32)
export const ARG_BSUMS: u32 = 17; // i32 sums of the int8 activations per 128-element block
export const ARG_BSUMS_STRIDE: u32 = 18; // bytes between tokens in BSUMS
export const ARG_WSCALE: u32 = 20; // f64 in words 20-21: per-tensor weight scale (I2_S; TQ2_0 with one d everywhere)
export const ARG_UNIFORM: u32 = 22; // TQ2_0: 1 when every block has the same d (then ARG_WSCALE holds it)
export const ARG_ACT_QUANT: u32 = 23; // 0: per-token int8 (bitnet.cpp), 1: Q8_K blocks of 256 (llama.cpp)
export const ARG_ASCALES: u32 = 24; // Q8_K mode: f64 activation scale d per 256 columns
export const ARG_ASCALES_STRIDE: u32 = 25; // bytes between tokens in ASCALES
export const ARG_VARIANT: u32 = 26; // F16: 1 when the weight holds Inf / NaN (exact conversion, unscaled x), multi-token F16 2 (token pairs); ternary GEMM: code 3 present; bit 2 fused dots
export const ARG_SUB_ROWS: u32 = 27; // F16: u32 start of each row's subnormal list (rows + 1), or 0 (f16-subnormals.ts)
export const ARG_SUB_COLS: u32 = 28; // F16: u32 column of each listed subnormal
export const ARG_SUB_VALUES: u32 = 29; // F16: f32 value of each listed subnormal
export const ARG_ROW_MAJOR: u32 = 30; // I2_S GEMM: 1 when the codes are in the native row-major layout (matmul-i2s-dot.ts), 0 when tiled
export const ARG_PANEL_ROWS: u32 = 31; // F16, native I2_S: rows stored in column panels (matmul-f16.ts, matmul-i2s-dot.ts), whole groups

// @ts-ignore: decorator
@inline export function argU32(job: usize, i: u32): u32 {
  return load<u32>(job + JOB_ARGS + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline export function argF32(job: usize, i: u32): f32 {
  return load<f32>(job + JOB_ARGS + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline export function argF64(job: usize, i: u32): f64 {
  return load<f64>(job + JOB_ARGS + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline export function argPtr(job: usize, i: u32): usize {
  return <usize>load<u32>(job + JOB_ARGS + (<usize>i << 2));
}
