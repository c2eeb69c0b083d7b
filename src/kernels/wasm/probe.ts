// Start-up of the wasm backend: which kernel binaries this runtime validates, the relaxed-SIMD self-check (the
// relaxed dot on known inputs and a small I2_S matmul through the relaxed and SIMD128 kernels, bit for bit), the
// once-per-process compiled modules, and the default thread count.

import { isNodeRuntime, nodeBuiltin } from '../../platform/node-builtin.js';
import { ARG, JOB, MAX_PAGES, MEMORY_MAP, OP, PAGE_BYTES, SELF_CHECK_BYTE_OFFSET } from './job-layout.js';
import type { KernelExports } from './kernel-exports.js';
import { type KernelSetProbe, type RelaxedDotLowering, type WasmKernelSet, RELAXED_DOT_LOWERINGS, kernelBytes, validates } from './kernel-set.js';

/** Threads when none are asked for: the cores Node reports, or navigator.hardwareConcurrency. */
export async function defaultThreads(): Promise<number> {
  if (isNodeRuntime()) {
    const os = await nodeBuiltin<typeof import('node:os')>('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  }
  const hc = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof hc === 'number' && hc > 0 ? hc : 1;
}

/**
 * Run the relaxed module's self-checks on `memory` (low scratch region): the relaxed dot instruction on
 * known inputs, and a small I2_S matmul through the relaxed kernels (lookup and multiply-add) and the SIMD128 kernel,
 * compared bit for bit.
 */
function relaxedSelfCheck(
  memory: WebAssembly.Memory,
  relaxed: WebAssembly.Module,
  simd128: WebAssembly.Module,
): { ok: boolean; fusedOk: boolean | undefined; lowering: RelaxedDotLowering | undefined } {
  let lowering: RelaxedDotLowering | undefined;
  try {
    const r = new WebAssembly.Instance(relaxed, { env: { memory } }).exports as unknown as KernelExports;
    const s = new WebAssembly.Instance(simd128, { env: { memory } }).exports as unknown as KernelExports;
    r.initConstants();
    lowering = RELAXED_DOT_LOWERINGS[r.relaxedDotLowering()] ?? 'other';
    if (r.selfCheckRelaxedDot() !== 0) return { ok: false, fusedOk: undefined, lowering };
    // 4 rows x 256 columns of I2_S codes (all four code values), activations with both signs and extremes.
    const rows = 4;
    const cols = 256;
    const base = SELF_CHECK_BYTE_OFFSET;
    const w = base;
    const x = w + (rows * cols) / 4 + 64;
    const xq = x + cols * 4;
    const info = xq + cols;
    const out = info + 64;
    const u8 = new Uint8Array(memory.buffer);
    const f32 = new Float32Array(memory.buffer);
    let seed = 12345;
    const next = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 8;
    };
    for (let i = 0; i < (rows * cols) / 4; i++) u8[w + i] = next() & 0xff;
    for (let c = 0; c < cols; c++) f32[x / 4 + c] = ((next() % 2001) - 1000) / 7;
    f32[x / 4] = -1000;
    const job = new Int32Array(memory.buffer, MEMORY_MAP.jobByteOffset, 64);
    const jobF64 = new Float64Array(memory.buffer, MEMORY_MAP.jobByteOffset, 32);
    const scratch = out + 64;
    const results: number[][] = [];
    // the relaxed module three times: its lookup / untiled kernel, the multiply-add GEMV on the native layout, the
    // same with the fused i32 dots (ARG.variant 2); then SIMD128
    for (const [k, op, variant] of [[r, OP.i2s, 0], [r, OP.i2sDot, 0], [r, OP.i2sDot, 2], [s, OP.i2s, 0]] as const) {
      k.quantizeTernary(x, 1, cols, xq, cols, info, 0, 0, 0, 0, 0, 0, 0);
      oneChunkJob(job, jobF64, op, rows, { out, outStride: rows, w, rows, cols, x: xq, xStride: cols, aux: info, nTokens: 1, scratch, variant });
      jobF64[(JOB.args + ARG.wscaleF64) / 2] = 1;
      k.runJob(MEMORY_MAP.jobByteOffset, 0);
      results.push(Array.from(f32.subarray(out / 4, out / 4 + rows)));
    }
    // where the fused dot is vpdpbusd ('vnni'), the multi-token Q8_0 kernel on it (assembly/gemm-q8_0.ts, ARG.variant
    // 2: signed weight bytes of every value, -128 included, against bytes x + 128) against its int16 path
    const q8Ok = lowering !== 'vnni' || q8FusedSelfCheck(r, memory, next, job, jobF64);
    u8.fill(0, SELF_CHECK_BYTE_OFFSET, MEMORY_MAP.heapByteOffset);
    r.initConstants();
    new Int32Array(memory.buffer, MEMORY_MAP.jobByteOffset, 64).fill(0);
    const same = (res: number[]): boolean => res.every((v, i) => Object.is(v, results[3][i]));
    return { ok: same(results[0]) && same(results[1]), fusedOk: same(results[2]) && q8Ok, lowering };
  } catch {
    return { ok: false, fusedOk: undefined, lowering };
  }
}

/** A job of one chunk of `rows` rows at the job block (views job / jobF64): op, the integer arguments, scale 1. */
function oneChunkJob(job: Int32Array, jobF64: Float64Array, op: number, rows: number, args: Partial<Record<keyof typeof ARG, number>>): void {
  job.fill(0);
  job[JOB.op] = op;
  job[JOB.chunks] = 1;
  job[JOB.chunkRows] = rows;
  job[JOB.totalRows] = rows;
  for (const [name, value] of Object.entries(args)) job[JOB.args + ARG[name as keyof typeof ARG]] = value;
  jobF64[(JOB.args + ARG.scaleF64) / 2] = 1;
}

/**
 * The multi-token Q8_0 kernel's fused variant against its int16 path, bit for bit: 3 rows x 160 columns (a 4-block
 * step and a tail block) of random weight bytes (every row's first -128) for 3 tokens, in the self-check region
 * past relaxedSelfCheck's buffers.
 */
function q8FusedSelfCheck(r: KernelExports, memory: WebAssembly.Memory, next: () => number, job: Int32Array, jobF64: Float64Array): boolean {
  const rows = 3;
  const cols = 160;
  const nTokens = 3;
  const rowBytes = (cols / 32) * 34;
  const w = SELF_CHECK_BYTE_OFFSET + 8192;
  const x = w + rows * rowBytes + 64 - ((rows * rowBytes) % 16);
  const xq = x + nTokens * cols * 4;
  const scales = xq + nTokens * cols * 2;
  const xu = scales + nTokens * (cols / 32) * 4;
  const out = xu + nTokens * cols;
  const scratch = out + rows * nTokens * 4 + 64;
  const u8 = new Uint8Array(memory.buffer);
  const f32 = new Float32Array(memory.buffer);
  for (let i = 0; i < rows * rowBytes; i++) u8[w + i] = next() & 0xff;
  for (let b = 0; b < rows * (cols / 32); b++) {
    u8[w + b * 34] = next() & 0xff;
    u8[w + b * 34 + 1] = 0x20 + (next() % 0x10); // d_w: a normal f16 of moderate size
  }
  for (let row = 0; row < rows; row++) u8[w + row * rowBytes + 2] = 0x80;
  for (let i = 0; i < nTokens * cols; i++) f32[x / 4 + i] = ((next() % 2001) - 1000) / 13;
  r.quantizeQ8_0Act(x, nTokens, cols, xq, cols * 2, scales, (cols / 32) * 4);
  r.biasQ8_0Act(xq, nTokens, cols, cols * 2, xu, cols);
  const results: number[][] = [];
  for (const variant of [0, 2]) {
    const args = { out, outStride: rows, w, rows, cols, x: xq, xStride: cols * 2, aux: scales, auxStride: (cols / 32) * 4, tab: xu, tabStride: cols, nTokens, scratch, variant };
    oneChunkJob(job, jobF64, OP.gemmQ8_0, rows, args);
    r.runJob(MEMORY_MAP.jobByteOffset, 0);
    results.push(Array.from(f32.subarray(out / 4, out / 4 + rows * nTokens)));
  }
  return results[0].every((v, i) => Number.isFinite(v) && Object.is(v, results[1][i]));
}

let probed: Promise<KernelSetProbe> | undefined;

/**
 * Probe this runtime: which binaries validate, and whether relaxed SIMD computes right (runs the self-check
 * on a small memory of its own). Done once per process; later calls share the result.
 */
export function probeKernelSets(): Promise<KernelSetProbe> {
  probed ??= probeNow();
  return probed;
}

const compiled = new Map<WasmKernelSet, Promise<WebAssembly.Module>>();

/**
 * The compiled module of a kernel set, once per process: V8 first runs wasm on its baseline compiler and tiers hot
 * functions up in the background, so a backend created later (a model loaded again) starts on the optimized code.
 */
export function compiledModule(set: WasmKernelSet): Promise<WebAssembly.Module> {
  let m = compiled.get(set);
  if (m === undefined) {
    m = WebAssembly.compile(kernelBytes(set));
    compiled.set(set, m);
    m.catch(() => compiled.delete(set));
  }
  return m;
}

async function probeNow(): Promise<KernelSetProbe> {
  const simd128 = validates('simd128');
  const relaxedValidates = validates('relaxed-simd');
  if (!simd128 || !relaxedValidates) return { simd128, relaxedValidates, relaxedSelfCheck: undefined };
  const memory = new WebAssembly.Memory({ initial: MEMORY_MAP.heapByteOffset / PAGE_BYTES + 1, maximum: MAX_PAGES, shared: true });
  const [r, s] = await Promise.all([compiledModule('relaxed-simd'), compiledModule('simd128')]);
  const check = relaxedSelfCheck(memory, r, s);
  return {
    simd128,
    relaxedValidates,
    relaxedSelfCheck: check.ok,
    ...(check.lowering === undefined ? {} : { relaxedDotLowering: check.lowering }),
    ...(check.fusedOk === undefined ? {} : { fusedDotSelfCheck: check.fusedOk }),
  };
}
