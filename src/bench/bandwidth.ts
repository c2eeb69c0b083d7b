// Measures the machine's memory read bandwidth: worker threads sum disjoint slices of one large shared buffer.
//
// Preferred probe: the wasm backend's own read loop (src/kernels/wasm, wasmReadSeconds, the one bench/kernels.ts
// uses) on its own thread pool, so the figure is what our kernels can reach. When the wasm backend cannot start,
// the self-contained probe below stands in.
//
// Why this shape: decode streams every weight byte once per token, so its ceiling is DRAM read bandwidth.
// The buffer is far larger than any last-level cache. The sum is a tiny hand-assembled WebAssembly SIMD128
// loop (four 16-byte loads per step into two accumulators), the way our wasm kernels read weights; where
// SIMD128 is missing, a JS Float64Array loop with four accumulators stands in. Workers start together on
// a shared flag; the time runs from the first start to the last end; the best of several repeats is kept
// (interference only slows a repeat down).

import { Worker } from 'node:worker_threads';
import { BitNetError } from '../errors.js';
import type { BandwidthResult } from './report.js';

/** Default buffer size: 256 MiB, well beyond the caches of current CPUs. */
export const DEFAULT_BANDWIDTH_BYTES = 256 * 1024 * 1024;
export const DEFAULT_BANDWIDTH_REPEATS = 5;
/** Largest buffer: slice bounds are wasm i32 byte offsets and the probe's checksum an i32. */
export const MAX_BANDWIDTH_BYTES = 1024 * 1024 * 1024;
const WASM_PAGE_BYTES = 65536;
/** Bytes the wasm loop reads per step (its slices are multiples of this). */
const WASM_STEP_BYTES = 64;

function leb128(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function section(id: number, body: readonly number[]): number[] {
  return [id, ...leb128(body.length), ...body];
}

function name(s: string): number[] {
  return [...leb128(s.length), ...new TextEncoder().encode(s)];
}

/**
 * A wasm module importing shared memory e.m (`pages` pages) and exporting
 * sum(begin: i32, end: i32): i32 = lane 0 of the i32x4 sum of every 16-byte vector in [begin, end), 64 bytes a step.
 * Opcodes from the WebAssembly core spec (binary format) and the SIMD proposal (v128.load 0xfd 0x00,
 * i32x4.add 0xfd 0xae 0x01, i32x4.extract_lane 0xfd 0x1b).
 */
export function bandwidthWasmModule(pages: number): Uint8Array<ArrayBuffer> {
  const I32 = 0x7f;
  const V128 = 0x7b;
  const types = section(1, [1, 0x60, 2, I32, I32, 1, I32]);
  const imports = section(2, [1, ...name('e'), ...name('m'), 0x02, 0x03, ...leb128(pages), ...leb128(pages)]); // memory, shared + max
  const funcs = section(3, [1, 0]);
  const exports = section(7, [1, ...name('sum'), 0x00, 0]);
  // acc (local 2 or 3) += v128.load offset=off (local 0)
  const acc = (off: number, local: number): number[] => [0x20, local, 0x20, 0, 0xfd, 0x00, 4, ...leb128(off), 0xfd, 0xae, 0x01, 0x21, local];
  const body = [
    1, 2, V128, // two v128 locals
    0x02, 0x40, 0x03, 0x40, // block, loop
    0x20, 0, 0x20, 1, 0x4f, 0x0d, 1, // if begin >= end: break
    ...acc(0, 2), ...acc(16, 3), ...acc(32, 2), ...acc(48, 3),
    0x20, 0, 0x41, ...[0xc0, 0x00], 0x6a, 0x21, 0, // begin += 64
    0x0c, 0, 0x0b, 0x0b, // continue; end loop; end block
    0x20, 2, 0x20, 3, 0xfd, 0xae, 0x01, 0xfd, 0x1b, 0, // lane 0 of a + b
    0x0b,
  ];
  const code = section(10, [1, ...leb128(body.length), ...body]);
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...types, ...imports, ...funcs, ...exports, ...code]);
}

// Worker body (CommonJS, evaluated). Control words: [0] workers ready, [1] go round.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { kind, buffer, memory, module, control, begin, end } = workerData;
const c = new Int32Array(control);
let run;
if (kind === 'wasm') {
  const sum = new WebAssembly.Instance(module, { e: { m: memory } }).exports.sum;
  run = () => sum(begin, end);
} else {
  const x = new Float64Array(buffer);
  run = () => {
    let a = 0, b = 0, d = 0, e = 0, i = begin;
    for (; i + 4 <= end; i += 4) { a += x[i]; b += x[i + 1]; d += x[i + 2]; e += x[i + 3]; }
    for (; i < end; i++) a += x[i];
    return a + b + d + e;
  };
}
parentPort.on('message', (round) => {
  Atomics.add(c, 0, 1);
  while (Atomics.load(c, 1) !== round) {}
  const t0 = performance.timeOrigin + performance.now();
  const sum = run();
  const t1 = performance.timeOrigin + performance.now();
  parentPort.postMessage({ t0, t1, sum });
});
`;

interface WorkerResult {
  t0: number;
  t1: number;
  sum: number;
}

function isWorkerResult(v: unknown): v is WorkerResult {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.t0 === 'number' && typeof r.t1 === 'number' && typeof r.sum === 'number';
}

type Probe =
  | { kind: 'wasm'; module: WebAssembly.Module; memory: WebAssembly.Memory; nBytes: number; unit: number; expected: number }
  | { kind: 'js'; buffer: SharedArrayBuffer; nBytes: number; unit: number; expected: number };

function createProbe(bytes: number, threads: number, method: 'auto' | 'js'): Probe {
  if (method === 'auto') {
    try {
      const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE_BYTES));
      const module = new WebAssembly.Module(bandwidthWasmModule(pages));
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
      new Int32Array(memory.buffer).fill(1); // touch every page before timing
      const nBytes = pages * WASM_PAGE_BYTES;
      // Lane 0 gains 1 per 16-byte vector: nBytes / 16 in all.
      return { kind: 'wasm', module, memory, nBytes, unit: WASM_STEP_BYTES, expected: nBytes / 16 };
    } catch {
      // no SIMD128 or no shared wasm memory: the JS loop below
    }
  }
  const nElements = Math.max(threads, Math.floor(bytes / 8));
  const buffer = new SharedArrayBuffer(nElements * 8);
  new Float64Array(buffer).fill(1);
  return { kind: 'js', buffer, nBytes: nElements * 8, unit: 8, expected: nElements };
}

/** Read bandwidth with `threads` workers over a `bytes`-sized buffer; best of `repeats`. */
export async function measureMemoryBandwidth(options: { threads: number; bytes?: number; repeats?: number; method?: 'auto' | 'js' }): Promise<BandwidthResult> {
  const { threads } = options;
  const bytes = options.bytes ?? DEFAULT_BANDWIDTH_BYTES;
  const repeats = options.repeats ?? DEFAULT_BANDWIDTH_REPEATS;
  if (!Number.isInteger(threads) || threads < 1) throw new BitNetError('BAD_ARGUMENT', `bandwidth threads must be a positive integer, got ${threads}`, { details: { field: 'threads', actual: threads } });
  if (!Number.isInteger(bytes) || bytes < WASM_STEP_BYTES * threads || bytes > MAX_BANDWIDTH_BYTES) {
    throw new BitNetError('BAD_ARGUMENT', `bandwidth buffer must be ${WASM_STEP_BYTES * threads} .. ${MAX_BANDWIDTH_BYTES} bytes for ${threads} threads, got ${bytes}`, { details: { field: 'bytes', actual: bytes } });
  }
  if (!Number.isInteger(repeats) || repeats < 1) throw new BitNetError('BAD_ARGUMENT', `bandwidth repeats must be a positive integer, got ${repeats}`, { details: { field: 'repeats', actual: repeats } });
  const probe = createProbe(bytes, threads, options.method ?? 'auto');
  const control = new SharedArrayBuffer(8);
  const ctl = new Int32Array(control);
  // Slice bounds: byte offsets for wasm, element indices for JS; each a multiple of the probe's unit.
  const nUnits = probe.nBytes / probe.unit;
  const perUnits = Math.ceil(nUnits / threads);
  const scale = probe.kind === 'wasm' ? probe.unit : 1;
  const workers: Worker[] = [];
  try {
    for (let w = 0; w < threads; w++) {
      const begin = Math.min(w * perUnits, nUnits) * scale;
      const end = Math.min((w + 1) * perUnits, nUnits) * scale;
      const shared = probe.kind === 'wasm' ? { kind: 'wasm', memory: probe.memory, module: probe.module } : { kind: 'js', buffer: probe.buffer };
      workers.push(new Worker(WORKER_SOURCE, { eval: true, workerData: { ...shared, control, begin, end } }));
    }
    let bestBytesPerS = 0;
    for (let round = 1; round <= repeats; round++) {
      Atomics.store(ctl, 0, 0);
      const results = workers.map(
        (w) =>
          new Promise<WorkerResult>((resolve, reject) => {
            const onError = (e: Error): void => reject(e);
            w.once('error', onError);
            w.once('message', (m: unknown) => {
              w.off('error', onError);
              if (isWorkerResult(m)) resolve(m);
              else reject(new BitNetError('INTERNAL', 'bandwidth worker sent a malformed result'));
            });
          }),
      );
      for (const w of workers) w.postMessage(round);
      // Wait (without blocking the event loop) until every worker spins on the flag, then release them together.
      while (Atomics.load(ctl, 0) < threads) await new Promise((r) => setTimeout(r, 1));
      Atomics.store(ctl, 1, round);
      const rs = await Promise.all(results);
      const checksum = rs.reduce((s, r) => s + r.sum, 0);
      if (checksum !== probe.expected) throw new BitNetError('INTERNAL', `bandwidth probe (${probe.kind}) summed ${checksum}, expected ${probe.expected}`);
      const seconds = (Math.max(...rs.map((r) => r.t1)) - Math.min(...rs.map((r) => r.t0))) / 1000;
      if (seconds > 0) bestBytesPerS = Math.max(bestBytesPerS, probe.nBytes / seconds);
    }
    return { threads, bytesPerS: bestBytesPerS, method: probe.kind === 'wasm' ? 'wasm-simd128-sum' : 'js-f64-sum' };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * Read bandwidth through the wasm backend's thread pool and read kernel (src/kernels/wasm wasmReadSeconds),
 * over a `bytes` buffer in its memory; best of `repeats` after one untimed pass. Throws when the wasm backend cannot start.
 */
export async function measureWasmBackendBandwidth(options: { threads: number; bytes?: number; repeats?: number }): Promise<BandwidthResult> {
  const { threads } = options;
  const mebibytes = Math.floor((options.bytes ?? DEFAULT_BANDWIDTH_BYTES) / (1024 * 1024));
  const repeats = options.repeats ?? DEFAULT_BANDWIDTH_REPEATS;
  if (!Number.isInteger(threads) || threads < 1) throw new BitNetError('BAD_ARGUMENT', `bandwidth threads must be a positive integer, got ${threads}`, { details: { field: 'threads', actual: threads } });
  if (mebibytes < 1 || mebibytes * 1024 * 1024 > MAX_BANDWIDTH_BYTES) throw new BitNetError('BAD_ARGUMENT', `bandwidth buffer must be 1 MiB .. ${MAX_BANDWIDTH_BYTES} bytes, got ${options.bytes}`, { details: { field: 'bytes' } });
  if (!Number.isInteger(repeats) || repeats < 1) throw new BitNetError('BAD_ARGUMENT', `bandwidth repeats must be a positive integer, got ${repeats}`, { details: { field: 'repeats', actual: repeats } });
  const wasm = await import('../kernels/wasm/index.js');
  const backend = await wasm.createWasmBackend({ threads });
  try {
    const bytes = mebibytes * 1024 * 1024;
    const buffer = backend.alloc(bytes / 4);
    backend.view?.(buffer).fill(1);
    wasm.wasmReadSeconds(backend, buffer); // untimed: first touch, thread wake-up
    let best = Infinity;
    for (let r = 0; r < repeats; r++) best = Math.min(best, wasm.wasmReadSeconds(backend, buffer));
    if (!(best > 0)) throw new BitNetError('INTERNAL', `wasm read of ${bytes} bytes took ${best} s`);
    return { threads: backend.threads, bytesPerS: bytes / best, method: `wasm-backend-read (${backend.kernelSet})` };
  } finally {
    await backend.dispose();
  }
}

/** The wasm backend's probe, or the self-contained worker probe when the wasm backend cannot start. */
export async function measureBandwidthBestAvailable(threads: number): Promise<BandwidthResult> {
  try {
    return await measureWasmBackendBandwidth({ threads });
  } catch (e) {
    if (e instanceof BitNetError && e.code === 'BAD_ARGUMENT') throw e;
    return measureMemoryBandwidth({ threads });
  }
}
