// Parallel forms of the single-threaded ops, for prefill batches: a job over tokens (quantize, rmsnorm, rope) or
// over elements (the FFN activations, residual add), each thread running the op's own function on its range, so the
// results are those of the single-threaded call. Arguments (job words, after the op id): TJ_KIND then the op's own.

import { addInPlace } from './add';
import { argF32, argPtr, argU32 } from './job';
import { quantizeTernary } from './quantize-activations';
import { reluSqrMul } from './relu-sqr-mul';
import { rmsnorm } from './rmsnorm';
import { rope } from './rope';
import { siluMul } from './silu-mul';

export const TJ_KIND: u32 = 0;
export const TJ_QUANTIZE: u32 = 1; // rows = tokens; args 1 x, 2 cols, 3 xq, 4 xqStride, 5 info, 6 bsums, 7 bsumsStride, 8 q8k, 9 ascales, 10 ascalesStride
export const TJ_RMSNORM: u32 = 2; // rows = tokens; args 1 out, 2 x, 3 weight, 4 dim, 5 eps (f32)
export const TJ_ROPE: u32 = 3; // rows = tokens; args 1 x, 2 nHeads, 3 headDim, 4 cs, 5 neox
export const TJ_RELU_SQR_MUL: u32 = 4; // rows = elements; args 1 gate, 2 up
export const TJ_SILU_MUL: u32 = 5; // rows = elements; args 1 gate, 2 up
export const TJ_ADD: u32 = 6; // rows = elements; args 1 x, 2 y

/** Job body: tokens or elements [start, end). */
export function tokenJobRows(job: usize, start: u32, end: u32, thread: u32): void {
  const kind = argU32(job, TJ_KIND);
  const n = end - start;
  const s = <usize>start;
  if (kind == TJ_QUANTIZE) {
    const cols = <usize>argU32(job, 2);
    const xqStride = <usize>argU32(job, 4);
    const bsums = argPtr(job, 6);
    const bsumsStride = <usize>argU32(job, 7);
    const ascalesStride = <usize>argU32(job, 10);
    quantizeTernary(
      argPtr(job, 1) + ((s * cols) << 2), n, <u32>cols, argPtr(job, 3) + s * xqStride, <u32>xqStride, argPtr(job, 5) + (s << 4),
      bsums != 0 ? bsums + s * bsumsStride : 0, <u32>bsumsStride, 0, 0, argU32(job, 8), argPtr(job, 9) + s * ascalesStride, <u32>ascalesStride,
    );
  } else if (kind == TJ_RMSNORM) {
    const dim = argU32(job, 4);
    const off = (s * <usize>dim) << 2;
    rmsnorm(argPtr(job, 1) + off, argPtr(job, 2) + off, argPtr(job, 3), n, dim, argF32(job, 5));
  } else if (kind == TJ_ROPE) {
    const nHeads = argU32(job, 2);
    const headDim = argU32(job, 3);
    rope(argPtr(job, 1) + ((s * <usize>nHeads * headDim) << 2), n, nHeads, headDim, argPtr(job, 4) + ((s * (<usize>headDim >> 1)) << 4), argU32(job, 5));
  } else if (kind == TJ_RELU_SQR_MUL) {
    reluSqrMul(argPtr(job, 1) + (s << 2), argPtr(job, 2) + (s << 2), n);
  } else if (kind == TJ_SILU_MUL) {
    siluMul(argPtr(job, 1) + (s << 2), argPtr(job, 2) + (s << 2), n);
  } else if (kind == TJ_ADD) {
    addInPlace(argPtr(job, 1) + (s << 2), argPtr(job, 2) + (s << 2), n);
  } else {
    unreachable();
  }
}
