// Softmax weights for the sampler: w[j] = Math.exp((values[id j] - max) * invT) and their sum in list order, through
// a small WebAssembly module (src/sampling/assembly/index.ts: fdlibm's exp on two lanes, the same doubles as V8's
// Math.exp) where it instantiates and the list is long, else the plain loop. Both give the same bits on V8, so draws do
// not depend on which ran.
//
// One module instance per thread, shared by every sampler: sampling is synchronous, and a caller reads the weights
// before its call returns (they stay valid until the next call here). Its memory grows to the longest list asked for.

import { decodeBase64 } from '../platform/base64.js';
import { WASM_BASE64 } from './generated/exp-weights.js';

/** Below this many values the plain loop is as fast as copying the logits into the module. */
export const WASM_MIN_VALUES = 2048;

interface ExpExports {
  readonly memory: WebAssembly.Memory;
  expWeights(x: number, ids: number, dst: number, n: number, max: number, invT: number, cs: number): number;
}

const CONST_BYTES = 256;
const PAGE = 65536;

let exportsOrNull: ExpExports | null | undefined;

/** The shared instance, or null where WebAssembly SIMD is missing (then every call takes the loop). */
function instance(): ExpExports | null {
  if (exportsOrNull !== undefined) return exportsOrNull;
  try {
    const module = new WebAssembly.Module(decodeBase64(WASM_BASE64));
    exportsOrNull = new WebAssembly.Instance(module, {}).exports as unknown as ExpExports;
  } catch {
    exportsOrNull = null;
  }
  return exportsOrNull;
}

/** Where the wasm path is used (tests; a runtime without WebAssembly SIMD has the loop only). */
export function expWeightsInWasm(): boolean {
  return instance() !== null;
}

export interface SoftmaxWeights {
  /** w[0..n): the weights; valid until the next call. */
  readonly w: Float64Array;
  /** Their sum, added in list order. */
  readonly total: number;
}

/**
 * w[j] = Math.exp((values[ids === null ? j : ids[j]] - max) * invT) for j < n and their sum in order. `fallback()`
 * (at least n long) receives them when the loop runs; otherwise `w` is a view of the module's memory.
 */
export function softmaxWeights(values: Float32Array, ids: Uint32Array | null, n: number, max: number, invT: number, fallback: () => Float64Array): SoftmaxWeights {
  const ex = n >= WASM_MIN_VALUES ? instance() : null;
  if (ex === null || !reserve(ex, values.length, ids === null ? 0 : n, n)) {
    const out = fallback();
    let total = 0;
    if (ids === null) {
      for (let j = 0; j < n; j++) {
        const w = Math.exp((values[j] - max) * invT);
        out[j] = w;
        total += w;
      }
    } else {
      for (let j = 0; j < n; j++) {
        const w = Math.exp((values[ids[j]] - max) * invT);
        out[j] = w;
        total += w;
      }
    }
    return { w: out, total };
  }
  // layout: constants, the f32 values (all of them when a list picks ids), the u32 ids, the f64 weights
  const xAt = CONST_BYTES;
  const idsAt = xAt + align16(values.length * 4);
  const wAt = idsAt + align16(ids === null ? 0 : n * 4);
  const buffer = ex.memory.buffer;
  new Float32Array(buffer, xAt, values.length).set(values);
  if (ids !== null) new Uint32Array(buffer, idsAt, n).set(ids.subarray(0, n));
  const total = ex.expWeights(xAt, ids === null ? 0 : idsAt, wAt, n, max, invT, 0);
  return { w: new Float64Array(buffer, wAt, n), total };
}

/** Grow the module's memory to hold `nValues` f32, `nIds` u32 and `nWeights` f64 past the constants; false if it cannot. */
function reserve(ex: ExpExports, nValues: number, nIds: number, nWeights: number): boolean {
  const need = CONST_BYTES + align16(nValues * 4) + align16(nIds * 4) + nWeights * 8;
  const have = ex.memory.buffer.byteLength;
  if (have >= need) return true;
  try {
    ex.memory.grow(Math.ceil((need - have) / PAGE));
    return true;
  } catch {
    return false; // no memory for it: the loop
  }
}

function align16(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}
