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
  bucketMass(x: number, ids: number, w: number, n: number, max: number, scale: number, nb: number, mass: number, buckets: number): void;
  partitionBuckets(ids: number, buckets: number, n: number, boundary: number, out: number, counts: number): void;
}

const CONST_BYTES = 256;
/** partitionBuckets' two counts: past the 240 bytes of constants expWeights writes. */
const COUNTS_AT = 240;
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
  const at = ex === null ? null : layout(ex, values, ids, n, 0);
  if (ex === null || at === null) return loop(values, ids, n, max, invT, fallback());
  const total = ex.expWeights(at.x, at.ids, at.w, n, max, invT, 0);
  return { w: new Float64Array(ex.memory.buffer, at.w, n), total };
}

export interface SoftmaxBuckets extends SoftmaxWeights {
  /** mass[b]: the weights of the entries in bucket b, added in list order. */
  readonly mass: Float64Array;
  /**
   * Where the module ran (else null: the caller partitions): the listed ids of buckets below `boundary` to the front
   * of `ids` (order kept), those of bucket `boundary` to `boundaryIds` (order kept); returns [above, inBoundary].
   */
  readonly partition: ((boundary: number, ids: Uint32Array, boundaryIds: Uint32Array) => [number, number]) | null;
}

/**
 * softmaxWeights with invT = 1, then top-p's histogram: entry j in bucket min(nb - 1, floor((max - value j) * scale)),
 * mass[b] the sum of its bucket's weights in list order (into `fallbackMass`, nb long, when the loop runs).
 */
export function softmaxBuckets(
  values: Float32Array,
  ids: Uint32Array | null,
  n: number,
  max: number,
  scale: number,
  nb: number,
  fallback: () => Float64Array,
  fallbackMass: Float64Array,
): SoftmaxBuckets {
  const ex = n >= WASM_MIN_VALUES ? instance() : null;
  const at = ex === null ? null : layout(ex, values, ids, n, nb);
  if (ex === null || at === null) {
    const { w, total } = loop(values, ids, n, max, 1, fallback());
    fallbackMass.fill(0);
    for (let j = 0; j < n; j++) fallbackMass[Math.min(nb - 1, Math.floor((max - values[ids === null ? j : ids[j]]) * scale))] += w[j];
    return { w, total, mass: fallbackMass, partition: null };
  }
  const total = ex.expWeights(at.x, at.ids, at.w, n, max, 1, 0);
  ex.bucketMass(at.x, at.ids, at.w, n, max, scale, nb, at.mass, at.buckets);
  const buffer = ex.memory.buffer;
  const partition =
    ids === null
      ? null
      : (boundary: number, out: Uint32Array, boundaryIds: Uint32Array): [number, number] => {
          ex.partitionBuckets(at.ids, at.buckets, n, boundary, at.out, COUNTS_AT);
          const [above, inBoundary] = new Uint32Array(buffer, COUNTS_AT, 2);
          out.set(new Uint32Array(buffer, at.ids, above));
          boundaryIds.set(new Uint32Array(buffer, at.out, inBoundary));
          return [above, inBoundary];
        };
  return { w: new Float64Array(buffer, at.w, n), total, mass: new Float64Array(buffer, at.mass, nb), partition };
}

function loop(values: Float32Array, ids: Uint32Array | null, n: number, max: number, invT: number, out: Float64Array): SoftmaxWeights {
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

interface Layout {
  readonly x: number;
  /** 0: no list. */
  readonly ids: number;
  readonly w: number;
  readonly mass: number;
  readonly buckets: number;
  /** partitionBuckets' boundary ids (n u32 when nb > 0). */
  readonly out: number;
}

/**
 * Byte offsets in the module's memory past the constants: the f32 values (all of them when a list picks ids), the
 * u32 ids, the f64 weights, nb f64 bucket masses, n u16 bucket indices; values and ids copied in. Null when the
 * memory cannot grow to hold them (the caller takes the loop).
 */
function layout(ex: ExpExports, values: Float32Array, ids: Uint32Array | null, n: number, nb: number): Layout | null {
  const x = CONST_BYTES;
  const idsAt = x + align16(values.length * 4);
  const w = idsAt + align16(ids === null ? 0 : n * 4);
  const mass = w + align16(n * 8);
  const buckets = mass + nb * 8;
  const out = buckets + align16(nb > 0 ? n * 2 : 0);
  if (!reserve(ex, out + (nb > 0 ? n * 4 : 0))) return null;
  const buffer = ex.memory.buffer;
  new Float32Array(buffer, x, values.length).set(values);
  if (ids !== null) new Uint32Array(buffer, idsAt, n).set(ids.subarray(0, n));
  return { x, ids: ids === null ? 0 : idsAt, w, mass, buckets, out };
}

/** Grow the module's memory to `need` bytes; false if it cannot. */
function reserve(ex: ExpExports, need: number): boolean {
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
