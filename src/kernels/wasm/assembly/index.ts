// Entry of the kernel module: the parallel job dispatcher and the single-threaded ops the glue calls.
// Built twice by scripts/build-wasm.mjs (SIMD128 and relaxed SIMD); imports env.memory (shared).

import { JOB_CHUNKS, JOB_CHUNK_ROWS, JOB_LINK, JOB_NEXT, JOB_OP, JOB_TAIL_CHUNKS, JOB_TAIL_ROWS, JOB_TOTAL_ROWS } from './job';
import { matmulI2SRows } from './matmul-i2s';
import { matmulI2SDotRows } from './matmul-i2s-dot';
import { matmulTQ2Rows } from './matmul-tq2';
import { matmulQ8_0Rows } from './matmul-q8_0';
import { gemmQ8_0Rows } from './gemm-q8_0';
export { biasQ8_0Act } from './gemm-q8_0';
import { gemmF16Rows } from './gemm-f16';
import { gemmI2SDotRows } from './gemm-i2s-dot';
import { gemmQ6KRows, matmulQ6KRows } from './matmul-q6_k';
import { matmulQ4_0Rows } from './matmul-q4_0';
import { matmulF16Rows } from './matmul-f16';
import { matmulBF16Rows } from './matmul-bf16';
import { matmulF32Rows } from './matmul-f32';
import { attentionRows } from './attention';
import { panelF16Rows, panelI2SRows, tileI2SRows, tileTQ2Rows } from './repack';
import { matmulTQ2DotRows } from './matmul-tq2-dot';
import { bandwidthRows } from './bandwidth';
import { gemmI2SRows, gemmNarrowI2SRows, gemmNarrowTQ2Rows, gemmTQ2Rows, gemmWide32I2SRows, gemmWide32TQ2Rows } from './ternary-gemm';
import { tokenJobRows } from './token-jobs';

export { buildLutTables, quantizeTernary, quantizeQ8_0Act, quantizeQ8KAct, roundActivationsF16, roundActivationsBF16, hasF16NonFinite } from './quantize-activations';
export { repackTQ1ToTQ2 } from './repack';
export { hasCode3 } from './ternary-gemm';
export { f16SubnormalCount, f16ExtractSubnormals } from './f16-subnormals';
export { embedRow } from './embed';
export { dotLayoutTQ2 } from './repack';
export { rmsnorm } from './rmsnorm';
export { rope } from './rope';
export { kvWrite } from './kv-write';
export { addInPlace } from './add';
export { reluSqrMul } from './relu-sqr-mul';
export { siluMul } from './silu-mul';
export { relaxedDotLowering, selfCheckRelaxedDot } from './self-check';
export { initConstants } from './constants';
export { expF32Rows } from './common';

// Op ids (mirrored in ../job-layout.ts OP).
const OP_I2_S: u32 = 1;
const OP_TQ2_0: u32 = 2;
const OP_Q8_0: u32 = 3;
const OP_Q6_K: u32 = 4;
const OP_F16: u32 = 5;
const OP_BF16: u32 = 6;
const OP_F32: u32 = 7;
const OP_ATTENTION: u32 = 8;
const OP_TILE_I2_S: u32 = 9;
const OP_TILE_TQ2_0: u32 = 10;
const OP_BANDWIDTH: u32 = 11;
const OP_Q4_0: u32 = 12;
const OP_GEMM_I2_S: u32 = 13;
const OP_GEMM_TQ2_0: u32 = 14;
const OP_TOKENS: u32 = 15;
const OP_I2_S_DOT: u32 = 16;
const OP_GEMM_Q8_0: u32 = 17;
const OP_GEMM_NARROW_I2_S: u32 = 18;
const OP_GEMM_NARROW_TQ2_0: u32 = 19;
const OP_GEMM_F16: u32 = 20;
const OP_GEMM_I2_S_DOT: u32 = 21;
const OP_GEMM_WIDE32_I2_S: u32 = 22;
const OP_GEMM_WIDE32_TQ2_0: u32 = 23;
const OP_PANEL_F16: u32 = 24;
const OP_PANEL_I2_S: u32 = 25;
const OP_TQ2_0_DOT: u32 = 26;
const OP_GEMM_Q6_K: u32 = 27;

/**
 * Run the job at `first` on this thread: claim chunks of rows with an atomic counter until none are left, then the
 * same for each job block chained after it (JOB_LINK): a thread done with one job's chunks goes on to the next
 * without waiting for the others, so chained jobs must not read what another one writes (the glue chains the
 * independent matmuls of one matmulMany). Every thread (the main one included) calls this once per published job;
 * each chunk runs exactly once.
 */
export function runJob(first: usize, thread: u32): void {
  let job = first;
  do {
    runOneJob(job, thread);
    job = <usize>load<u32>(job + JOB_LINK);
  } while (job != 0);
}

function runOneJob(job: usize, thread: u32): void {
  const op = load<u32>(job + JOB_OP);
  const nChunks = load<u32>(job + JOB_CHUNKS);
  const chunkRows = load<u32>(job + JOB_CHUNK_ROWS);
  const total = load<u32>(job + JOB_TOTAL_ROWS);
  // chunks of chunkRows rows, then JOB_TAIL_CHUNKS smaller ones of JOB_TAIL_ROWS: the threads' last chunks are short,
  // so they finish a job close together
  const nBig = nChunks - load<u32>(job + JOB_TAIL_CHUNKS);
  const tailRows = load<u32>(job + JOB_TAIL_ROWS);
  for (;;) {
    const c = atomic.add<u32>(job + JOB_NEXT, 1);
    if (c >= nChunks) break;
    const start = c < nBig ? c * chunkRows : nBig * chunkRows + (c - nBig) * tailRows;
    const end = min(total, start + (c < nBig ? chunkRows : tailRows));
    if (op == OP_I2_S) matmulI2SRows(job, start, end, thread);
    else if (op == OP_TQ2_0) matmulTQ2Rows(job, start, end, thread);
    else if (op == OP_Q8_0) matmulQ8_0Rows(job, start, end, thread);
    else if (op == OP_Q6_K) matmulQ6KRows(job, start, end, thread);
    else if (op == OP_F16) matmulF16Rows(job, start, end, thread);
    else if (op == OP_BF16) matmulBF16Rows(job, start, end, thread);
    else if (op == OP_F32) matmulF32Rows(job, start, end, thread);
    else if (op == OP_ATTENTION) attentionRows(job, start, end, thread);
    else if (op == OP_TILE_I2_S) tileI2SRows(job, start, end, thread);
    else if (op == OP_TILE_TQ2_0) tileTQ2Rows(job, start, end, thread);
    else if (op == OP_BANDWIDTH) bandwidthRows(job, start, end, thread);
    else if (op == OP_Q4_0) matmulQ4_0Rows(job, start, end, thread);
    else if (op == OP_GEMM_I2_S) gemmI2SRows(job, start, end, thread);
    else if (op == OP_GEMM_TQ2_0) gemmTQ2Rows(job, start, end, thread);
    else if (op == OP_TOKENS) tokenJobRows(job, start, end, thread);
    else if (op == OP_I2_S_DOT) matmulI2SDotRows(job, start, end, thread);
    else if (op == OP_GEMM_Q8_0) gemmQ8_0Rows(job, start, end, thread);
    else if (op == OP_GEMM_NARROW_I2_S) gemmNarrowI2SRows(job, start, end, thread);
    else if (op == OP_GEMM_NARROW_TQ2_0) gemmNarrowTQ2Rows(job, start, end, thread);
    else if (op == OP_GEMM_F16) gemmF16Rows(job, start, end, thread);
    else if (op == OP_GEMM_I2_S_DOT) gemmI2SDotRows(job, start, end, thread);
    else if (op == OP_GEMM_WIDE32_I2_S) gemmWide32I2SRows(job, start, end, thread);
    else if (op == OP_GEMM_WIDE32_TQ2_0) gemmWide32TQ2Rows(job, start, end, thread);
    else if (op == OP_PANEL_F16) panelF16Rows(job, start, end, thread);
    else if (op == OP_PANEL_I2_S) panelI2SRows(job, start, end, thread);
    else if (op == OP_TQ2_0_DOT) matmulTQ2DotRows(job, start, end, thread);
    else if (op == OP_GEMM_Q6_K) gemmQ6KRows(job, start, end, thread);
    else unreachable();
  }
}
