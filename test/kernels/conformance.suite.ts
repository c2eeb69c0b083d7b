// The conformance suite every KernelBackend must pass: each op on fresh seeded data and odd sizes, outputs
// poisoned with NaN first, compared with plain float64 math written here (never with a backend's own code).
// Tensors go in with `write` and come back with `read` after `endStep`, so the suite runs unchanged on a deferred
// (GPU) backend; it imports only `describe`, `it` and `expect` from vitest, which a browser bundle can stand in for.
//
// Contracts the expectations encode (see src/kernels/backend.ts and FORMATS.md):
// - ternary matmul: per token absmax (>= 1e-5), s = f32(127 / absmax), q = round-half-away(f32(x * s)) clamped
//   to [-128, 127]; y = (weight scale * integer dot) / s * scale, matched to ~1e-6 relative; the three ternary
//   formats must agree bit for bit for identical codes and an F16-representable scale;
// - float matmul / embed read the weights exactly as stored (embed is compared exactly);
// - the KV cache holds K and V in F16 (round to nearest even), so attention sees F16-rounded K and V.

import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../../src/errors.js';
import { quantizeBf16 } from '../../src/formats/bf16.js';
import { f32ToF16Bits, quantizeF16 } from '../../src/formats/f16.js';
import { quantizeF32 } from '../../src/formats/f32.js';
import { GgmlType, TYPE_TRAITS, tensorByteSize } from '../../src/formats/ggml-type.js';
import { packI2s } from '../../src/formats/i2s.js';
import { packTq1_0 } from '../../src/formats/tq1_0.js';
import { packTq2_0 } from '../../src/formats/tq2_0.js';
import { nativeActivationQuant } from '../../src/formats/index.js';
import type { ActivationQuant, KernelBackend, KvBatch, KvPool, MemoryPlan, RopeStyle, Tensor, Weight } from '../../src/kernels/backend.js';
import { type SeededRng, seededRng } from './seeded-rng.js';

type MakeBackend = () => Promise<KernelBackend> | KernelBackend;

/** Extra elements past every output range; they stay NaN when a backend writes only what it should. */
const GUARD = 5;

// ---------------------------------------------------------------- comparison helpers

/**
 * Compare actual[offset + i] with expected[i] for i < expected.length within tol(i, expected); fail with the
 * first mismatches (index, expected, actual). A NaN left in the range (the poison) always fails.
 */
function expectClose(what: string, actual: Float32Array, offset: number, expected: ArrayLike<number>, tol: (i: number, e: number) => number): void {
  const problems: string[] = [];
  let nBad = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[offset + i];
    const e = expected[i];
    const limit = tol(i, e);
    const bad = Number.isNaN(a) || !(Math.abs(a - e) <= limit);
    if (bad) {
      nBad++;
      if (problems.length < 5) problems.push(`index ${i}: expected ${e}, actual ${a} (|diff| ${Math.abs(a - e)} > tolerance ${limit})`);
    }
  }
  if (nBad > 0) expect.fail(`${what}: ${nBad} of ${expected.length} elements wrong\n  ${problems.join('\n  ')}`);
}

/** Fail when any of the `count` elements after `end` is not NaN (a write outside the output range). */
function expectGuard(what: string, buffer: Float32Array, end: number, count = GUARD): void {
  for (let i = end; i < end + count && i < buffer.length; i++) {
    if (!Number.isNaN(buffer[i])) expect.fail(`${what}: wrote index ${i}, past the end of its range (${end}): value ${buffer[i]}`);
  }
}

const relTol =
  (rel: number, abs = 0) =>
  (_i: number, e: number): number =>
    rel * Math.abs(e) + abs;

/** Round half away from zero (C round()). */
function roundAway(v: number): number {
  const r = Math.floor(Math.abs(v) + 0.5);
  return v < 0 ? -r : r;
}

/** The F16 value nearest to f32(v), ties to even, written independently of src/formats. */
function roundToF16(v: number): number {
  const f = Math.fround(v);
  if (f === 0 || !Number.isFinite(f)) return f;
  const sign = f < 0 ? -1 : 1;
  const a = Math.abs(f);
  if (a >= 65520) return sign * Infinity;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, -14) - 10);
  const units = a / ulp;
  let r = Math.floor(units);
  const frac = units - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  return sign * r * ulp;
}

// ---------------------------------------------------------------- backend plumbing

// ---------------------------------------------------------------- paged attention helpers

/** A KvBatch of (sequence slot, position) entries. */
function kvBatch(entries: readonly (readonly [number, number])[]): KvBatch {
  return { nTokens: entries.length, seqs: Int32Array.from(entries, (e) => e[0]), positions: Int32Array.from(entries, (e) => e[1]) };
}

/** The block ids 0..nBlocks-1 in a seeded random order. */
function shuffledBlocks(rng: SeededRng, nBlocks: number): Int32Array {
  const ids = Int32Array.from({ length: nBlocks }, (_, i) => i);
  for (let i = nBlocks - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  return ids;
}

/**
 * Attention per entry in float64 over each sequence's contiguous F16-rounded K/V (kRef[seq][pos * kvDim + i]): q rounded
 * to F16, softmax with the max subtracted, probabilities rounded to F16. Also the largest |v| read.
 */
function expectedAttention(q: ArrayLike<number>, batch: KvBatch, kRef: readonly Float64Array[], vRef: readonly Float64Array[], nHeads: number, nKvHeads: number, headDim: number): { expected: Float64Array; maxV: number } {
  const kvDim = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const expected = new Float64Array(batch.nTokens * nHeads * headDim);
  let maxV = 0;
  for (let t = 0; t < batch.nTokens; t++) {
    const [kr, vr] = [kRef[batch.seqs[t]], vRef[batch.seqs[t]]];
    const nPos = batch.positions[t] + 1;
    for (let h = 0; h < nHeads; h++) {
      const kvOff = Math.floor(h / group) * headDim;
      const s = new Float64Array(nPos);
      for (let p = 0; p < nPos; p++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += roundToF16(q[(t * nHeads + h) * headDim + d]) * kr[p * kvDim + kvOff + d];
        s[p] = dot / Math.sqrt(headDim);
      }
      const m = Math.max(...s);
      let z = 0;
      for (let p = 0; p < nPos; p++) z += Math.exp(s[p] - m);
      for (let p = 0; p < nPos; p++) {
        const prob = roundToF16(Math.exp(s[p] - m) / z);
        for (let d = 0; d < headDim; d++) {
          const v = vr[p * kvDim + kvOff + d];
          maxV = Math.max(maxV, Math.abs(v));
          expected[(t * nHeads + h) * headDim + d] += prob * v;
        }
      }
    }
  }
  return { expected, maxV };
}

/** One head's row rotated by `pos` positions (rope in float64: angle pos * theta^(-2i / headDim)). */
function rotate(row: ArrayLike<number>, pos: number, theta: number, style: RopeStyle): Float64Array {
  const headDim = row.length;
  const half = headDim / 2;
  const out = Float64Array.from(row);
  for (let i = 0; i < half; i++) {
    const angle = pos * theta ** ((-2 * i) / headDim);
    const [i0, i1] = style === 'neox' ? [i, i + half] : [2 * i, 2 * i + 1];
    out[i0] = row[i0] * Math.cos(angle) - row[i1] * Math.sin(angle);
    out[i1] = row[i0] * Math.sin(angle) + row[i1] * Math.cos(angle);
  }
  return out;
}

interface PlanParts {
  weightBytes?: number;
  activationFloats?: number;
  kvBytes?: number;
}

async function withBackend(make: MakeBackend, plan: PlanParts, body: (be: KernelBackend) => void | Promise<void>): Promise<void> {
  const be = await make();
  try {
    const full: MemoryPlan = { weightBytes: plan.weightBytes ?? 0, activationFloats: plan.activationFloats ?? 0, kvBytes: plan.kvBytes ?? 0 };
    be.reserve(full);
    be.beginStep();
    await body(be);
    await be.endStep();
  } finally {
    await be.dispose();
  }
}

/** Ends the step recorded so far, starts the next, and reads all of `t` back. */
async function got(be: KernelBackend, t: Tensor): Promise<Float32Array> {
  await be.endStep();
  be.beginStep();
  return be.read(t, 0, t.nElements);
}

function makeWeight(be: KernelBackend, name: string, type: GgmlType, dims: readonly number[], bytes: Uint8Array, activationQuant?: ActivationQuant, lookupOnly = false): Weight {
  const info = activationQuant === undefined ? { name, type, dims, byteSize: bytes.length } : { name, type, dims, byteSize: bytes.length, activationQuant };
  const { weight, target } = be.createWeight(lookupOnly ? { ...info, lookupOnly } : info);
  expect(target.length).toBe(bytes.length);
  target.set(bytes);
  be.prepareWeight(weight);
  expect(weight.cols).toBe(dims[0]);
  expect(weight.rows).toBe(dims.slice(1).reduce((a, b) => a * b, 1));
  return weight;
}

/** A backend tensor of n + GUARD floats, all NaN (the poison). */
function poisoned(be: KernelBackend, n: number): Tensor {
  const b = be.alloc(n + GUARD);
  expect(b.nElements).toBe(n + GUARD);
  be.write(b, new Float32Array(n + GUARD).fill(NaN));
  return b;
}

/** A backend tensor holding `values` then GUARD NaNs. */
function filled(be: KernelBackend, values: ArrayLike<number>): Tensor {
  const host = new Float32Array(values.length + GUARD).fill(NaN);
  for (let i = 0; i < values.length; i++) host[i] = values[i];
  const b = be.alloc(host.length);
  be.write(b, host);
  return b;
}

// ---------------------------------------------------------------- weights with exactly known values

interface TestTensor {
  readonly type: GgmlType;
  readonly rows: number;
  readonly cols: number;
  readonly bytes: Uint8Array;
  /** W[r * cols + c], exactly the value the bytes encode. */
  readonly values: Float64Array;
}

/** An F16-exact scale: m * 2^-e with a 4-bit m, so d * q stays exact in f32. */
function smallScale(rng: SeededRng): number {
  return rng.int(1, 15) * 2 ** -rng.int(4, 9);
}

function writeF16Bits(bytes: Uint8Array, at: number, value: number): void {
  const bits = f32ToF16Bits(value);
  bytes[at] = bits & 0xff;
  bytes[at + 1] = bits >>> 8;
}

/** Float or quantized test weights whose values are exactly representable in their type. */
function floatTensor(rng: SeededRng, type: GgmlType, rows: number, cols: number): TestTensor {
  const n = rows * cols;
  const values = new Float64Array(n);
  switch (type) {
    case GgmlType.F32: {
      for (let i = 0; i < n; i++) values[i] = Math.fround(rng.uniform(-1, 1));
      return { type, rows, cols, values, bytes: quantizeF32(values) };
    }
    case GgmlType.F16: {
      // every 7th value subnormal in F16 (|v| < 2^-14), which a GPU may not convert on its own terms
      for (let i = 0; i < n; i++) values[i] = i % 7 === 3 ? rng.int(-1023, 1023) * 2 ** -24 : rng.int(-2048, 2048) * 2 ** -11;
      return { type, rows, cols, values, bytes: quantizeF16(values) };
    }
    case GgmlType.BF16: {
      for (let i = 0; i < n; i++) values[i] = rng.int(-255, 255) * 2 ** -rng.int(6, 10);
      return { type, rows, cols, values, bytes: quantizeBf16(values) };
    }
    case GgmlType.Q8_0: {
      const bytes = new Uint8Array((n / 32) * 34);
      for (let b = 0; b < n / 32; b++) {
        const d = smallScale(rng);
        writeF16Bits(bytes, b * 34, d);
        for (let j = 0; j < 32; j++) {
          const q = rng.int(-127, 127);
          bytes[b * 34 + 2 + j] = q & 0xff;
          values[b * 32 + j] = d * q;
        }
      }
      return { type, rows, cols, values, bytes };
    }
    case GgmlType.Q4_0: {
      const bytes = new Uint8Array((n / 32) * 18);
      for (let b = 0; b < n / 32; b++) {
        const d = smallScale(rng) * (rng.next() < 0.5 ? -1 : 1);
        writeF16Bits(bytes, b * 18, d);
        for (let j = 0; j < 16; j++) {
          const lo = rng.int(0, 15);
          const hi = rng.int(0, 15);
          bytes[b * 18 + 2 + j] = lo | (hi << 4);
          values[b * 32 + j] = (lo - 8) * d;
          values[b * 32 + 16 + j] = (hi - 8) * d;
        }
      }
      return { type, rows, cols, values, bytes };
    }
    case GgmlType.Q6_K: {
      // Per ggml dequantize_row_q6_K: element e of a block, half h = e >> 7, group g = (e & 127) >> 5,
      // l = e & 31: low nibble in ql[64h + l + 32(g & 1)] (high nibble when g >= 2), 2 high bits in
      // qh[32h + l] at shift 2g, scale scales[8h + 2g + l / 16]; value = d * scale * (q - 32).
      const bytes = new Uint8Array((n / 256) * 210);
      for (let b = 0; b < n / 256; b++) {
        const o = b * 210;
        const d = 2 ** -rng.int(6, 10);
        writeF16Bits(bytes, o + 208, d);
        const scales = new Int8Array(16);
        for (let s = 0; s < 16; s++) {
          scales[s] = rng.int(-128, 127);
          bytes[o + 192 + s] = scales[s] & 0xff;
        }
        for (let e = 0; e < 256; e++) {
          const q = rng.int(0, 63);
          const h = e >> 7;
          const g = (e & 127) >> 5;
          const l = e & 31;
          bytes[o + 64 * h + l + 32 * (g & 1)] |= (q & 15) << (g >= 2 ? 4 : 0);
          bytes[o + 128 + 32 * h + l] |= (q >> 4) << (2 * g);
          values[b * 256 + e] = d * scales[8 * h + 2 * g + (l >> 4)] * (q - 32);
        }
      }
      return { type, rows, cols, values, bytes };
    }
    default:
      throw new Error(`no float test tensor for ${TYPE_TRAITS[type].name}`);
  }
}

/** Ternary test weights: random codes times one F16-representable scale. */
function ternaryTensor(type: GgmlType, codes: Int8Array, scale: number, rows: number, cols: number): TestTensor {
  const bytes = type === GgmlType.I2_S ? packI2s(codes, scale, cols) : type === GgmlType.TQ1_0 ? packTq1_0(codes, scale, cols) : packTq2_0(codes, scale, cols);
  const values = new Float64Array(codes.length);
  for (let i = 0; i < codes.length; i++) values[i] = codes[i] * scale;
  return { type, rows, cols, bytes, values };
}

function ternaryScale(rng: SeededRng): number {
  return rng.int(1, 2047) * 2 ** -rng.int(8, 14);
}

// ---------------------------------------------------------------- expected math (float64)

/** The activation quantization contract, per token. */
function quantizeToken(x: ArrayLike<number>, offset: number, n: number): { q: Int32Array; s: number } {
  let absmax = 1e-5;
  for (let i = 0; i < n; i++) absmax = Math.max(absmax, Math.abs(x[offset + i]));
  const s = Math.fround(127 / absmax);
  const q = new Int32Array(n);
  for (let i = 0; i < n; i++) q[i] = Math.max(-128, Math.min(127, roundAway(Math.fround(x[offset + i] * s))));
  return { q, s };
}

/** ggml's nearest_int: halves to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** llama.cpp's Q8_K activation blocks (quantize_row_q8_K_ref): q per value and d per 256 values. */
function quantizeQ8K(x: ArrayLike<number>, offset: number, n: number): { q: Int32Array; d: Float64Array } {
  const q = new Int32Array(n);
  const d = new Float64Array(Math.ceil(n / 256));
  for (let b0 = 0; b0 < n; b0 += 256) {
    const end = Math.min(n, b0 + 256);
    let amax = 0;
    let max = 0;
    for (let i = b0; i < end; i++) {
      if (Math.abs(x[offset + i]) > amax) {
        amax = Math.abs(x[offset + i]);
        max = x[offset + i];
      }
    }
    if (amax === 0) continue;
    const iscale = Math.fround(-127 / max);
    for (let i = b0; i < end; i++) q[i] = Math.min(127, roundHalfEven(Math.fround(iscale * x[offset + i])));
    d[b0 / 256] = Math.fround(1 / iscale);
  }
  return { q, d };
}

/** Expected ternary matmul in float64 for either activation quantization. */
function expectedTernary(values: ArrayLike<number>, rows: number, cols: number, x: ArrayLike<number>, nTokens: number, mode: ActivationQuant, outScale: number): Float64Array {
  const expected = new Float64Array(nTokens * rows);
  for (let t = 0; t < nTokens; t++) {
    if (mode === 'per-token') {
      const { q, s } = quantizeToken(x, t * cols, cols);
      for (let r = 0; r < rows; r++) {
        let acc = 0;
        for (let c = 0; c < cols; c++) acc += values[r * cols + c] * q[c];
        expected[t * rows + r] = (acc / s) * outScale;
      }
    } else {
      const { q, d } = quantizeQ8K(x, t * cols, cols);
      for (let r = 0; r < rows; r++) {
        let sum = 0;
        for (let c = 0; c < cols; c++) sum += values[r * cols + c] * q[c] * d[c >>> 8];
        expected[t * rows + r] = sum * outScale;
      }
    }
  }
  return expected;
}

/** Random activations with a few exact zeros and one all-zero token when nTokens > 2. */
function activations(rng: SeededRng, nTokens: number, cols: number, spread: number): Float32Array {
  const x = new Float32Array(nTokens * cols);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.05 ? 0 : rng.normal() * spread;
  if (nTokens > 2) x.fill(0, cols, 2 * cols);
  return x;
}

/** The BF16 value nearest to f32(v), ties to even (finite v), written independently of src/formats. */
function roundToBf16(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer);
  const lsb = (u[0] >>> 16) & 1;
  u[0] = ((u[0] + 0x7fff + lsb) >>> 16) << 16;
  return f[0];
}

/**
 * Q8_0 activation blocks as llama.cpp's x86 quantize_row_q8_0 makes them: amax per 32, d = F16(f32(amax / 127)),
 * id = f32(127 / amax), q = nearest-even(f32(x * id)).
 */
function quantizeQ8_0Act(x: ArrayLike<number>, offset: number, n: number): { q: Int32Array; d: Float64Array } {
  const q = new Int32Array(n);
  const d = new Float64Array(n / 32);
  for (let b = 0; b < n / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[offset + 32 * b + j]));
    d[b] = roundToF16(Math.fround(amax / 127));
    const id = amax === 0 ? 0 : Math.fround(127 / amax);
    for (let j = 0; j < 32; j++) q[32 * b + j] = roundHalfEven(Math.fround(x[offset + 32 * b + j] * id));
  }
  return { q, d };
}

/**
 * An amax where f32(127 / amax) and f32(1 / f32(amax / 127)) differ, and an x in (0, amax) that the two
 * multipliers round to different integers: x86 llama.cpp (127 / amax) and quantize_row_q8_0_ref (1 / d) disagree.
 */
function q8_0RuleWitness(): { amax: number; x: number } {
  for (let k = 1; k < 100000; k++) {
    const amax = Math.fround(1 + k * 0.01373);
    const idA = Math.fround(127 / amax);
    const idB = Math.fround(1 / Math.fround(amax / 127));
    if (idA === idB) continue;
    for (let j = 0; j < 126; j++) {
      for (const nudge of [-1, 1]) {
        const base = Math.fround((j + 0.5) / idA);
        const xv = Math.fround(base + nudge * base * 2 ** -24);
        if (!(xv < amax)) continue;
        if (roundHalfEven(Math.fround(xv * idA)) !== roundHalfEven(Math.fround(xv * idB))) return { amax, x: xv };
      }
    }
  }
  throw new Error('no witness found');
}

/**
 * The expected float matmul: x converted to the weight type's vec_dot_type as ggml's CPU mul_mat does (F32 as is,
 * F16 / BF16 rounded, Q8_0 / Q4_0 to Q8_0 blocks, Q6_K to Q8_K blocks), then a float64 dot with the exact weights;
 * `magnitude` = sum |w * x converted|. With `exact`, x is used as is (to show that the conversion matters).
 */
function expectedFloat(w: TestTensor, x: Float32Array, nTokens: number, outScale: number, exact = false): { expected: Float64Array; magnitude: Float64Array } {
  const { rows, cols, values, type } = w;
  const expected = new Float64Array(nTokens * rows);
  const magnitude = new Float64Array(nTokens * rows);
  const xc = new Float64Array(cols);
  for (let t = 0; t < nTokens; t++) {
    if (exact || type === GgmlType.F32) for (let c = 0; c < cols; c++) xc[c] = x[t * cols + c];
    else if (type === GgmlType.F16) for (let c = 0; c < cols; c++) xc[c] = roundToF16(x[t * cols + c]);
    else if (type === GgmlType.BF16) for (let c = 0; c < cols; c++) xc[c] = roundToBf16(x[t * cols + c]);
    else if (type === GgmlType.Q6_K) {
      const { q, d } = quantizeQ8K(x, t * cols, cols);
      for (let c = 0; c < cols; c++) xc[c] = d[c >> 8] * q[c];
    } else {
      const { q, d } = quantizeQ8_0Act(x, t * cols, cols);
      for (let c = 0; c < cols; c++) xc[c] = d[c >> 5] * q[c];
    }
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      let abs = 0;
      for (let c = 0; c < cols; c++) {
        sum += values[r * cols + c] * xc[c];
        abs += Math.abs(values[r * cols + c] * xc[c]);
      }
      expected[t * rows + r] = sum * outScale;
      magnitude[t * rows + r] = abs * outScale;
    }
  }
  return { expected, magnitude };
}

/**
 * Float matmul tolerance: every product is exact once x is in the vec_dot_type (integer block dots for Q8_0 / Q4_0 /
 * Q6_K), so only the summation may round: 1e-6 of sum |w x| (short f32 partial sums) and 1e-6 of the result.
 */
function floatTol(magnitude: number, e: number): number {
  return 1e-6 * magnitude + 1e-6 * Math.abs(e) + 1e-30;
}

// ---------------------------------------------------------------- the suite

export function defineConformanceSuite(name: string, make: MakeBackend): void {
  describe(`KernelBackend conformance: ${name}`, () => {
    describe('matmul, ternary weights (int8 activations, exact integer dot)', () => {
      const cases: [GgmlType, number, number, number][] = [
        [GgmlType.I2_S, 1, 128, 1],
        [GgmlType.I2_S, 3, 384, 2],
        [GgmlType.I2_S, 17, 2560, 3],
        [GgmlType.TQ2_0, 1, 256, 1],
        [GgmlType.TQ2_0, 3, 512, 4],
        [GgmlType.TQ2_0, 17, 2560, 3],
        [GgmlType.TQ1_0, 1, 256, 2],
        [GgmlType.TQ1_0, 5, 768, 3],
        [GgmlType.TQ1_0, 17, 2560, 1],
      ];
      for (const [type, rows, cols, nTokens] of cases) {
        for (const mode of ['native', 'per-token', 'q8k-block'] as const) {
          it(`${TYPE_TRAITS[type].name} rows=${rows} cols=${cols} nTokens=${nTokens} activations ${mode}`, async () => {
            const rng = seededRng(1000 + type * 7 + rows * 13 + cols + nTokens);
            const w = ternaryTensor(type, rng.codes(rows * cols), ternaryScale(rng), rows, cols);
            const x = activations(rng, nTokens, cols, 2);
            const outScale = rng.next() < 0.5 ? 1 : Math.fround(rng.uniform(0.5, 2));
            const effective: ActivationQuant = mode === 'native' ? nativeActivationQuant(type) : mode;
            const expected = expectedTernary(w.values, rows, cols, x, nTokens, effective, outScale);
            await withBackend(make, { weightBytes: w.bytes.length, activationFloats: x.length + expected.length + 2 * GUARD }, async (be) => {
              const weight = makeWeight(be, 'w', type, [cols, rows], w.bytes, mode === 'native' ? undefined : mode);
              const xb = filled(be, x);
              const outT = poisoned(be, expected.length);
              if (outScale === 1) be.matmul(outT, weight, xb, nTokens);
              else be.matmul(outT, weight, xb, nTokens, outScale);
              const out = await got(be, outT);
              expectClose(`matmul ${TYPE_TRAITS[type].name} ${effective} (scale ${outScale})`, out, 0, expected, relTol(1e-6, 1e-30));
              expectGuard('matmul', out, expected.length);
              const xAfter = await got(be, xb);
              for (let i = 0; i < x.length; i++) if (xAfter[i] !== x[i]) expect.fail(`matmul changed its input x at index ${i}`);
            });
          });
        }
      }

      // Integer sums at their extremes: int8 activations all +-127 lined up with rows of all code 3 (+2), all +1 or all -1,
      // odd row and block counts (a last row alone, a last 128-column block alone). A kernel summing too many products in
      // i16 before widening (e.g. 16 relaxed-dot lanes of 2 * 127 * 12) wraps here and is off by 65536 units.
      for (const [type, nTokens] of [[GgmlType.I2_S, 3], [GgmlType.I2_S, 17], [GgmlType.TQ2_0, 3]] as const) {
        for (const mode of ['per-token', 'q8k-block'] as const) {
          it(`${TYPE_TRAITS[type].name} extreme activations (+-127) and codes (code 3 rows), rows=35 cols=${type === GgmlType.I2_S ? 640 : 768} nTokens=${nTokens} ${mode}: exact sums`, async () => {
            const rows = 35;
            const cols = type === GgmlType.I2_S ? 640 : 768;
            const rng = seededRng(5150 + nTokens);
            const codes = rng.codes(rows * cols);
            for (let r = 0; r < rows; r++) if (r % 5 === 1 || r % 5 === 2) codes.fill(r % 5 === 1 ? 1 : -1, r * cols, (r + 1) * cols);
            const scale = 0.25;
            const w = ternaryTensor(type, codes, scale, rows, cols);
            const values = Float64Array.from(w.values);
            // rows r % 5 == 0: every 2-bit field 3 (value +2; I2_S and TQ2_0 both read code 3 as +2)
            const rowBytes = type === GgmlType.I2_S ? cols / 4 : (cols / 256) * 66;
            for (let r = 0; r < rows; r += 5) {
              if (type === GgmlType.I2_S) w.bytes.fill(0xff, r * rowBytes, (r + 1) * rowBytes);
              else for (let b = 0; b < cols / 256; b++) w.bytes.fill(0xff, r * rowBytes + b * 66, r * rowBytes + b * 66 + 64);
              values.fill(2 * scale, r * cols, (r + 1) * cols);
            }
            const x = new Float32Array(nTokens * cols);
            for (let t = 0; t < nTokens; t++) {
              for (let c = 0; c < cols; c++) x[t * cols + c] = t === 0 ? 1.5 : t === 1 ? -1.5 : (t + c) % 3 === 0 ? -1.5 : 1.5;
            }
            const expected = expectedTernary(values, rows, cols, x, nTokens, mode, 1);
            await withBackend(make, { weightBytes: w.bytes.length, activationFloats: x.length + expected.length + 2 * GUARD }, async (be) => {
              const weight = makeWeight(be, 'w', type, [cols, rows], w.bytes, mode);
              const outT = poisoned(be, expected.length);
              be.matmul(outT, weight, filled(be, x), nTokens);
              const out = await got(be, outT);
              expectClose(`matmul ${TYPE_TRAITS[type].name} extremes ${mode}`, out, 0, expected, relTol(1e-6, 1e-30));
              expectGuard('matmul', out, expected.length);
            });
          });
        }
      }

      it('the native activation quantization differs between I2_S (per token) and TQ2_0 (Q8_K blocks)', async () => {
        // Two 256-value blocks with very different magnitudes: per-token and per-block scales disagree.
        const rng = seededRng(4343);
        const rows = 4;
        const cols = 512;
        const codes = rng.codes(rows * cols);
        const x = new Float32Array(cols);
        for (let c = 0; c < cols; c++) x[c] = (c < 256 ? 100 : 0.01) * rng.normal();
        const i2s = ternaryTensor(GgmlType.I2_S, codes, 0.5, rows, cols);
        const tq2 = ternaryTensor(GgmlType.TQ2_0, codes, 0.5, rows, cols);
        await withBackend(make, { weightBytes: i2s.bytes.length + tq2.bytes.length, activationFloats: cols + 2 * rows + 4 * GUARD }, async (be) => {
          const xb = filled(be, x);
          const aT = poisoned(be, rows);
          const bT = poisoned(be, rows);
          be.matmul(aT, makeWeight(be, 'i2s', GgmlType.I2_S, [cols, rows], i2s.bytes), xb, 1);
          be.matmul(bT, makeWeight(be, 'tq2', GgmlType.TQ2_0, [cols, rows], tq2.bytes), xb, 1);
          const a = await got(be, aT);
          const b = await got(be, bT);
          expectClose('I2_S per token', a, 0, expectedTernary(i2s.values, rows, cols, x, 1, 'per-token', 1), relTol(1e-6, 1e-30));
          expectClose('TQ2_0 Q8_K blocks', b, 0, expectedTernary(tq2.values, rows, cols, x, 1, 'q8k-block', 1), relTol(1e-6, 1e-30));
          let differs = false;
          for (let r = 0; r < rows; r++) if (a[r] !== b[r]) differs = true;
          expect(differs).toBe(true);
        });
      });

      it('I2_S, TQ1_0 and TQ2_0 give bit-identical outputs for the same codes and an F16 scale (same activation quantization)', async () => {
        const rng = seededRng(4242);
        const rows = 9;
        const cols = 1024;
        const nTokens = 3;
        const codes = rng.codes(rows * cols);
        const scale = ternaryScale(rng);
        const tensors = [GgmlType.I2_S, GgmlType.TQ1_0, GgmlType.TQ2_0].map((t) => ternaryTensor(t, codes, scale, rows, cols));
        const x = activations(rng, nTokens, cols, 0.7);
        const weightBytes = tensors.reduce((a, t) => a + t.bytes.length, 0);
        for (const mode of ['per-token', 'q8k-block'] as const)
        await withBackend(make, { weightBytes, activationFloats: x.length + 3 * nTokens * rows + 4 * GUARD }, async (be) => {
          const xb = filled(be, x);
          const outTs = tensors.map((t) => {
            const out = poisoned(be, nTokens * rows);
            be.matmul(out, makeWeight(be, TYPE_TRAITS[t.type].name, t.type, [cols, rows], t.bytes, mode), xb, nTokens);
            return out;
          });
          const outs: Float32Array[] = [];
          for (const t of outTs) outs.push(await got(be, t));
          for (let i = 0; i < nTokens * rows; i++) {
            if (!Object.is(outs[0][i], outs[1][i]) || !Object.is(outs[0][i], outs[2][i])) {
              expect.fail(`index ${i}: I2_S ${outs[0][i]}, TQ1_0 ${outs[1][i]}, TQ2_0 ${outs[2][i]} differ`);
            }
          }
        });
      });

      it('activation rounding: halves go away from zero, an all-zero token gives 0', async () => {
        const cols = 256;
        const rows = 2;
        // Row 0: every code +1; row 1: codes +1, -1 alternating. Token 0 has absmax 127 so s = 1 and
        // x = k + 0.5 lands exactly on a half; token 1 is all zeros.
        const codes = new Int8Array(rows * cols);
        for (let c = 0; c < cols; c++) {
          codes[c] = 1;
          codes[cols + c] = c % 2 === 0 ? 1 : -1;
        }
        const x = new Float32Array(2 * cols);
        x[0] = 127;
        for (let c = 1; c < cols; c++) x[c] = (c % 5) - 2 + 0.5; // -1.5, -0.5, 0.5, 1.5, 2.5
        const expected = new Float64Array(2 * rows);
        for (let r = 0; r < rows; r++) {
          let acc = 0;
          for (let c = 0; c < cols; c++) acc += codes[r * cols + c] * roundAway(x[c]);
          expected[r] = acc * 0.5;
        }
        const w = ternaryTensor(GgmlType.TQ2_0, codes, 0.5, rows, cols);
        await withBackend(make, { weightBytes: w.bytes.length, activationFloats: x.length + 4 + 2 * GUARD }, async (be) => {
          const out = poisoned(be, 2 * rows);
          be.matmul(out, makeWeight(be, 'ties', GgmlType.TQ2_0, [cols, rows], w.bytes, 'per-token'), filled(be, x), 2);
          expectClose('matmul with half-way activations', await got(be, out), 0, expected, relTol(1e-6, 0));
        });
      });
    });

    describe('matmul, float and quantized weights (activations in the vec_dot_type, as ggml)', () => {
      const cases: [GgmlType, number, number, number][] = [
        [GgmlType.F32, 3, 37, 2],
        [GgmlType.F32, 17, 2560, 1],
        [GgmlType.F16, 1, 128, 3],
        [GgmlType.F16, 17, 384, 2],
        [GgmlType.F16, 9, 100, 17],
        [GgmlType.BF16, 3, 100, 2],
        [GgmlType.Q8_0, 3, 128, 2],
        [GgmlType.Q8_0, 17, 2560, 3],
        [GgmlType.Q8_0, 5, 96, 17],
        [GgmlType.Q8_0, 33, 96, 8],
        [GgmlType.Q8_0, 7, 2592, 5],
        [GgmlType.Q4_0, 5, 96, 2],
        [GgmlType.Q4_0, 33, 2560, 1],
        [GgmlType.Q6_K, 3, 256, 2],
        [GgmlType.Q6_K, 7, 2560, 1],
        [GgmlType.Q6_K, 5, 512, 17],
      ];
      for (const [type, rows, cols, nTokens] of cases) {
        it(`${TYPE_TRAITS[type].name} rows=${rows} cols=${cols} nTokens=${nTokens}`, async () => {
          const rng = seededRng(2000 + type * 7 + rows * 13 + cols + nTokens);
          const w = floatTensor(rng, type, rows, cols);
          const x = activations(rng, nTokens, cols, 1);
          const outScale = rng.next() < 0.5 ? 1 : 0.5;
          const { expected, magnitude } = expectedFloat(w, x, nTokens, outScale);
          // Guard against a weak test: the same dot with x unconverted must differ by far more than the tolerance
          // (except for F32, whose vec_dot_type is F32).
          if (type !== GgmlType.F32) {
            const exact = expectedFloat(w, x, nTokens, outScale, true).expected;
            let far = 0;
            for (let i = 0; i < expected.length; i++) if (Math.abs(exact[i] - expected[i]) > 3 * floatTol(magnitude[i], expected[i])) far++;
            expect(far, 'outputs where rounding x to the vec_dot_type matters').toBeGreaterThan(expected.length / 3);
          }
          await withBackend(make, { weightBytes: w.bytes.length, activationFloats: x.length + expected.length + 2 * GUARD }, async (be) => {
            const weight = makeWeight(be, 'w', type, [cols, rows], w.bytes);
            const outT = poisoned(be, expected.length);
            const xb = filled(be, x);
            if (outScale === 1) be.matmul(outT, weight, xb, nTokens);
            else be.matmul(outT, weight, xb, nTokens, outScale);
            const out = await got(be, outT);
            expectClose(`matmul ${TYPE_TRAITS[type].name}`, out, 0, expected, (i, e) => floatTol(magnitude[i], e));
            expectGuard('matmul', out, expected.length);
            const xAfter = await got(be, xb);
            for (let i = 0; i < x.length; i++) if (xAfter[i] !== x[i]) expect.fail(`matmul changed its input x at index ${i}`);
          });
        });
      }

      it('F16 and BF16: x is rounded to the weight type, ties to even', async () => {
        // All weights 1; x just off, half-way or at 3 half-ulps from 1, so every rounding decision is visible.
        const cols = 64;
        for (const [type, ulp, bytes] of [
          [GgmlType.F16, 2 ** -10, quantizeF16(new Float32Array(cols).fill(1))],
          [GgmlType.BF16, 2 ** -7, quantizeBf16(new Float32Array(cols).fill(1))],
        ] as const) {
          const x = new Float32Array(cols);
          const offsets = [0.25, 0.5, 1.5, -0.5, 0.75, 2.5];
          let expected = 0;
          for (let c = 0; c < cols; c++) {
            const k = offsets[c % offsets.length];
            x[c] = 1 + k * ulp;
            // nearest, ties to even: 0.25 -> 0, 0.5 -> 0 (1 is even), 1.5 -> 2, -0.5 -> 0 (below 1 the ulp halves: -0.5 ulp is exact), 0.75 -> 1, 2.5 -> 2
            const rounded = { 0.25: 0, 0.5: 0, 1.5: 2, [-0.5]: -0.5, 0.75: 1, 2.5: 2 }[k] ?? NaN;
            expected += 1 + rounded * ulp;
          }
          await withBackend(make, { weightBytes: bytes.length, activationFloats: cols + 1 + 2 * GUARD }, async (be) => {
            const out = poisoned(be, 1);
            be.matmul(out, makeWeight(be, 'ones', type, [cols, 1], bytes), filled(be, x), 1);
            expectClose(`${TYPE_TRAITS[type].name} with x rounded to ${TYPE_TRAITS[type].name}`, await got(be, out), 0, [expected], () => 0);
          });
        }
      });

      it('Q8_0 activations: id = 127 / amax and halves to even (llama.cpp x86 quantize_row_q8_0)', async () => {
        // Block 0: amax 127, so id = 1 and x = k + 0.5 lands on a half. Block 1: an amax where 127 / amax and
        // 1 / (amax / 127) differ in f32 and a value whose rounding they decide differently (found by search).
        const cols = 64;
        const x = new Float32Array(cols);
        x[0] = 127;
        for (let c = 1; c < 32; c++) x[c] = (c % 7) - 3 + 0.5;
        const found = q8_0RuleWitness();
        x[32] = found.amax;
        for (let c = 33; c < 64; c++) x[c] = found.x;
        // Weights: d = 1, q = 1 everywhere, so the output is sum_b d_x(b) * sum_j q_x(j).
        const bytes = new Uint8Array(2 * 34);
        for (let b = 0; b < 2; b++) {
          writeF16Bits(bytes, b * 34, 1);
          bytes.fill(1, b * 34 + 2, b * 34 + 34);
        }
        const { q, d } = quantizeQ8_0Act(x, 0, cols);
        let expected = 0;
        for (let c = 0; c < cols; c++) expected += d[c >> 5] * q[c];
        // -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -2.5 to even (halves away from zero would give -2, -1, 1, 2, 3, 4, -3)
        expect(Array.from(q.slice(1, 8))).toEqual([-2, 0, 0, 2, 2, 4, -2]);
        expect(roundHalfEven(Math.fround(found.x * Math.fround(127 / found.amax)))).not.toBe(roundHalfEven(Math.fround(found.x * Math.fround(1 / Math.fround(found.amax / 127)))));
        await withBackend(make, { weightBytes: bytes.length, activationFloats: cols + 1 + 2 * GUARD }, async (be) => {
          const out = poisoned(be, 1);
          be.matmul(out, makeWeight(be, 'q8', GgmlType.Q8_0, [cols, 1], bytes), filled(be, x), 1);
          expectClose('Q8_0 activation rounding', await got(be, out), 0, [expected], () => 1e-6 * Math.abs(expected));
        });
      });

      it('Q6_K activations: Q8_K blocks with halves to even', async () => {
        // max = -127 gives iscale = 1: x = k + 0.5 lands on a half. Weights: d = 1, every scale 1, q = 33 (value 1).
        const cols = 256;
        const x = new Float32Array(cols);
        x[0] = -127;
        for (let c = 1; c < cols; c++) x[c] = (c % 9) - 4 + 0.5;
        const bytes = new Uint8Array(210);
        for (let e = 0; e < 256; e++) {
          const h = e >> 7;
          const g = (e & 127) >> 5;
          const l = e & 31;
          bytes[64 * h + l + 32 * (g & 1)] |= (33 & 15) << (g >= 2 ? 4 : 0);
          bytes[128 + 32 * h + l] |= (33 >> 4) << (2 * g);
        }
        bytes.fill(1, 192, 208);
        writeF16Bits(bytes, 208, 1);
        const { q, d } = quantizeQ8K(x, 0, cols);
        let expected = 0;
        for (let c = 0; c < cols; c++) expected += d[0] * q[c];
        let away = 0;
        for (let c = 0; c < cols; c++) away += roundAway(x[c]);
        expect(expected, 'ties decide the result').not.toBe(away);
        await withBackend(make, { weightBytes: bytes.length, activationFloats: cols + 1 + 2 * GUARD }, async (be) => {
          const out = poisoned(be, 1);
          be.matmul(out, makeWeight(be, 'q6', GgmlType.Q6_K, [cols, 1], bytes), filled(be, x), 1);
          expectClose('Q6_K activation rounding', await got(be, out), 0, [expected], () => 0);
        });
      });
    });

    describe('matmulMany (one input, several weights)', () => {
      // nTokens 1 (decode), 5 and 20 (GEMM passes of 16 plus a per-token tail that needs lookup tables on wasm)
      for (const nTokens of [1, 5, 20]) {
        it(`equals separate matmul calls bit for bit: I2_S, TQ2_0 per token and Q8_K, TQ1_0, Q8_0, F16, and a second I2_S and F16; nTokens=${nTokens}`, async () => {
          const rng = seededRng(8100 + nTokens);
          const cols = 256;
          const specs: [GgmlType, number, ActivationQuant | undefined][] = [
            [GgmlType.I2_S, 70, undefined],
            [GgmlType.TQ2_0, 33, 'per-token'],
            [GgmlType.TQ2_0, 40, undefined],
            [GgmlType.TQ1_0, 32, undefined],
            [GgmlType.Q8_0, 9, undefined],
            [GgmlType.F16, 5, undefined],
            // a second weight of a type already there: backends may share work between them (webgpu: one rounding of
            // x for the F16 weights, one dispatch for two I2_S weights)
            [GgmlType.I2_S, 19, undefined],
            [GgmlType.F16, 7, undefined],
          ];
          const tensors = specs.map(([type, rows]) =>
            type === GgmlType.Q8_0 || type === GgmlType.F16 ? floatTensor(rng, type, rows, cols) : ternaryTensor(type, rng.codes(rows * cols), ternaryScale(rng), rows, cols),
          );
          const x = activations(rng, nTokens, cols, 4);
          const totalRows = specs.reduce((a, [, rows]) => a + rows, 0);
          const weightBytes = tensors.reduce((a, t) => a + t.bytes.length, 0);
          await withBackend(make, { weightBytes, activationFloats: x.length + 2 * nTokens * totalRows + 20 * GUARD }, async (be) => {
            const weights = specs.map(([type, rows, aq], i) => makeWeight(be, `w${i}`, type, [cols, rows], tensors[i].bytes, aq));
            const xb = filled(be, x);
            const manyT = specs.map(([, rows]) => poisoned(be, nTokens * rows));
            const singleT = specs.map(([, rows]) => poisoned(be, nTokens * rows));
            be.matmulMany(xb, nTokens, weights.map((w, i) => ({ out: manyT[i], w, scale: i % 2 === 0 ? 1 : 0.5 })));
            weights.forEach((w, i) => be.matmul(singleT[i], w, xb, nTokens, i % 2 === 0 ? 1 : 0.5));
            const many: Float32Array[] = [];
            const single: Float32Array[] = [];
            for (let i = 0; i < specs.length; i++) {
              many.push(await got(be, manyT[i]));
              single.push(await got(be, singleT[i]));
            }
            for (let i = 0; i < specs.length; i++) {
              const n = nTokens * specs[i][1];
              for (let j = 0; j < n; j++) {
                if (!Object.is(many[i][j], single[i][j])) expect.fail(`target ${i} (${TYPE_TRAITS[specs[i][0]].name}) index ${j}: matmul ${single[i][j]}, matmulMany ${many[i][j]}`);
              }
              expectGuard(`matmulMany target ${i}`, many[i], n);
            }
          });
        });
      }

      for (const nTokens of [1, 3, 9]) {
        it(`ternary targets only, the two activation schemes interleaved (per token, Q8_K, per token, Q8_K): equals matmul; nTokens=${nTokens}`, async () => {
          const rng = seededRng(8300 + nTokens);
          const cols = 512;
          const specs: [GgmlType, number, ActivationQuant][] = [
            [GgmlType.I2_S, 64, 'per-token'],
            [GgmlType.TQ2_0, 32, 'q8k-block'],
            [GgmlType.I2_S, 37, 'per-token'],
            [GgmlType.TQ2_0, 96, 'q8k-block'],
          ];
          const tensors = specs.map(([type, rows]) => ternaryTensor(type, rng.codes(rows * cols), ternaryScale(rng), rows, cols));
          const x = activations(rng, nTokens, cols, 4);
          const totalRows = specs.reduce((a, [, rows]) => a + rows, 0);
          await withBackend(make, { weightBytes: tensors.reduce((a, t) => a + t.bytes.length, 0), activationFloats: x.length + 2 * nTokens * totalRows + 20 * GUARD }, async (be) => {
            const weights = specs.map(([type, rows, aq], i) => makeWeight(be, `m${i}`, type, [cols, rows], tensors[i].bytes, aq));
            const xb = filled(be, x);
            const manyT = specs.map(([, rows]) => poisoned(be, nTokens * rows));
            const singleT = specs.map(([, rows]) => poisoned(be, nTokens * rows));
            be.matmulMany(xb, nTokens, weights.map((w, i) => ({ out: manyT[i], w })));
            weights.forEach((w, i) => be.matmul(singleT[i], w, xb, nTokens));
            const many: Float32Array[] = [];
            const single: Float32Array[] = [];
            for (let i = 0; i < specs.length; i++) {
              many.push(await got(be, manyT[i]));
              single.push(await got(be, singleT[i]));
            }
            for (let i = 0; i < specs.length; i++) {
              const n = nTokens * specs[i][1];
              for (let j = 0; j < n; j++) if (!Object.is(many[i][j], single[i][j])) expect.fail(`target ${i} index ${j}: matmul ${single[i][j]}, matmulMany ${many[i][j]}`);
              expectGuard(`matmulMany target ${i}`, many[i], n);
            }
          });
        });
      }

      it('refuses bad targets with BAD_ARGUMENT before writing any output', async () => {
        const rng = seededRng(8200);
        const a = ternaryTensor(GgmlType.I2_S, rng.codes(64 * 128), 0.5, 64, 128);
        const b = ternaryTensor(GgmlType.I2_S, rng.codes(32 * 256), 0.5, 32, 256);
        await withBackend(make, { weightBytes: a.bytes.length + b.bytes.length, activationFloats: 4096 }, async (be) => {
          const wa = makeWeight(be, 'a', GgmlType.I2_S, [128, 64], a.bytes);
          const wb = makeWeight(be, 'b', GgmlType.I2_S, [256, 32], b.bytes);
          const x = filled(be, activations(rng, 2, 128, 1));
          const out1 = poisoned(be, 128);
          const out2 = poisoned(be, 128);
          const short = poisoned(be, 100 - GUARD);
          const cases: [string, () => void][] = [
            ['no targets', () => be.matmulMany(x, 2, [])],
            ['different widths', () => be.matmulMany(x, 2, [{ out: out1, w: wa }, { out: out2, w: wb }])],
            ['out is x', () => be.matmulMany(x, 2, [{ out: out1, w: wa }, { out: x, w: wa }])],
            ['two targets sharing an out', () => be.matmulMany(x, 2, [{ out: out1, w: wa }, { out: out1, w: wa }])],
            ['an out too short', () => be.matmulMany(x, 2, [{ out: out1, w: wa }, { out: short, w: wa }])],
            ['a non-finite scale', () => be.matmulMany(x, 2, [{ out: out1, w: wa }, { out: out2, w: wa, scale: Infinity }])],
            ['a missing out', () => be.matmulMany(x, 2, [{ out: out1, w: wa }, { w: wa } as unknown as { out: Tensor; w: Weight }])],
            ['an out that is not a tensor of this backend', () => be.matmulMany(x, 2, [{ out: out1, w: wa }, { out: { nElements: 1000 }, w: wa }])],
          ];
          for (const [label, call] of cases) {
            let err: unknown;
            try {
              call();
            } catch (e) {
              err = e;
            }
            expect(isBitNetError(err) && err.code === 'BAD_ARGUMENT', `${label}: ${String(err)}`).toBe(true);
          }
          const o1 = await got(be, out1);
          const o2 = await got(be, out2);
          expect(o1.every(Number.isNaN) && o2.every(Number.isNaN), 'no output written').toBe(true);
        });
      });
    });

    describe('embed', () => {
      const cases: [GgmlType, number, number][] = [
        [GgmlType.F32, 7, 10],
        [GgmlType.F16, 64, 9],
        [GgmlType.BF16, 33, 5],
        [GgmlType.Q8_0, 96, 11],
        [GgmlType.Q4_0, 64, 6],
        [GgmlType.Q6_K, 256, 5],
        [GgmlType.TQ1_0, 256, 4],
        [GgmlType.TQ2_0, 512, 3],
        [GgmlType.I2_S, 128, 6],
      ];
      for (const [type, dim, vocab] of cases) {
        // lookupOnly: an untied token embedding, kept in host memory (WeightInfo.lookupOnly); the same rows exactly
        for (const lookupOnly of [false, true]) {
          it(`${TYPE_TRAITS[type].name} dim=${dim} vocab=${vocab}${lookupOnly ? ' lookup-only' : ''}`, async () => {
            const rng = seededRng(3000 + type * 7 + dim + vocab);
            const isTernaryType = type === GgmlType.I2_S || type === GgmlType.TQ1_0 || type === GgmlType.TQ2_0;
            const table = isTernaryType ? ternaryTensor(type, rng.codes(dim * vocab), ternaryScale(rng), vocab, dim) : floatTensor(rng, type, vocab, dim);
            const ids = [vocab - 1, 0, rng.int(0, vocab - 1), vocab - 1];
            const expected = new Float64Array(ids.length * dim);
            ids.forEach((id, t) => expected.set(table.values.subarray(id * dim, (id + 1) * dim), t * dim));
            const weightBytes = lookupOnly ? 0 : table.bytes.length;
            await withBackend(make, { weightBytes, activationFloats: expected.length + GUARD + vocab + GUARD }, async (be) => {
              const weight = makeWeight(be, 'token_embd', type, [dim, vocab], table.bytes, undefined, lookupOnly);
              const outT = poisoned(be, expected.length);
              be.embed(outT, weight, ids);
              const out = await got(be, outT);
              expectClose(`embed ${TYPE_TRAITS[type].name}`, out, 0, expected, () => 0);
              expectGuard('embed', out, expected.length);
              const ids2 = [...be.kernelCalls().keys()].filter((id) => id.includes('.embed.'));
              expect(ids2.length, `one embed kernel id: ${ids2.join(', ')}`).toBe(1);
              if (lookupOnly && be.name !== 'reference') expect(ids2[0].endsWith('.host'), `${ids2[0]} names the host lookup`).toBe(true);
              let threw = false;
              try {
                be.embed(outT, weight, [vocab]);
              } catch (e) {
                threw = isBitNetError(e);
              }
              expect(threw, 'embed of an id >= vocab throws a BitNetError').toBe(true);
              if (lookupOnly) {
                // a lookup-only weight is not a matrix: matmul refuses it and writes nothing
                const x = poisoned(be, dim);
                be.write(x, new Float32Array(dim).fill(0.5));
                const y = poisoned(be, vocab);
                for (const [what, call] of [
                  ['matmul', () => be.matmul(y, weight, x, 1)],
                  ['matmulMany', () => be.matmulMany(x, 1, [{ out: y, w: weight }])],
                ] as const) {
                  let err: unknown;
                  try {
                    call();
                  } catch (e) {
                    err = e;
                  }
                  expect(isBitNetError(err) && err.code === 'BAD_ARGUMENT', `${what} of a lookup-only weight: ${String(err)}`).toBe(true);
                }
                expect((await got(be, y)).every(Number.isNaN), 'no output written').toBe(true);
              }
            });
          });
        }
      }
    });

    describe('rmsnorm', () => {
      for (const [nTokens, dim] of [
        [1, 7],
        [3, 2560],
        [4, 129],
      ] as const) {
        it(`nTokens=${nTokens} dim=${dim}, separate and in place`, async () => {
          const rng = seededRng(4000 + nTokens * 31 + dim);
          const x = activations(rng, nTokens, dim, 3);
          const w = rng.f32(dim, -2, 2);
          const eps = 1e-5;
          const expected = new Float64Array(nTokens * dim);
          for (let t = 0; t < nTokens; t++) {
            let ss = 0;
            for (let i = 0; i < dim; i++) ss += x[t * dim + i] ** 2;
            const inv = 1 / Math.sqrt(ss / dim + eps);
            for (let i = 0; i < dim; i++) expected[t * dim + i] = x[t * dim + i] * inv * w[i];
          }
          await withBackend(make, { activationFloats: 3 * x.length + dim + 4 * GUARD }, async (be) => {
            const xb = filled(be, x);
            const wb = filled(be, w);
            const outT = poisoned(be, x.length);
            be.rmsnorm(outT, xb, wb, nTokens, dim, eps);
            const out = await got(be, outT);
            expectClose('rmsnorm', out, 0, expected, relTol(1e-5, 1e-30));
            expectGuard('rmsnorm', out, x.length);
            be.rmsnorm(xb, xb, wb, nTokens, dim, eps);
            const inPlace = await got(be, xb);
            expectClose('rmsnorm in place (out aliases x)', inPlace, 0, expected, relTol(1e-5, 1e-30));
            expectGuard('rmsnorm in place', inPlace, x.length);
          });
        });
      }
    });

    describe('rope', () => {
      const cases: [RopeStyle, number, number, number, number][] = [
        ['neox', 1, 1, 8, 10000],
        ['neox', 3, 4, 128, 500000],
        ['normal', 2, 3, 64, 10000],
        ['normal', 5, 2, 16, 500000],
      ];
      for (const [style, nTokens, nHeads, headDim, theta] of cases) {
        it(`${style} nTokens=${nTokens} nHeads=${nHeads} headDim=${headDim} theta=${theta}`, async () => {
          const rng = seededRng(5000 + nTokens * 7 + nHeads * 11 + headDim + (style === 'neox' ? 1 : 2));
          const x = rng.f32(nTokens * nHeads * headDim, -2, 2);
          const positions = Array.from({ length: nTokens }, () => rng.int(0, 200));
          positions[0] = 0;
          const expected = new Float64Array(x.length);
          const half = headDim / 2;
          for (let t = 0; t < nTokens; t++) {
            for (let h = 0; h < nHeads; h++) {
              const base = (t * nHeads + h) * headDim;
              for (let i = 0; i < half; i++) {
                const angle = positions[t] * theta ** ((-2 * i) / headDim);
                const [i0, i1] = style === 'neox' ? [base + i, base + i + half] : [base + 2 * i, base + 2 * i + 1];
                expected[i0] = x[i0] * Math.cos(angle) - x[i1] * Math.sin(angle);
                expected[i1] = x[i0] * Math.sin(angle) + x[i1] * Math.cos(angle);
              }
            }
          }
          await withBackend(make, { activationFloats: x.length + GUARD }, async (be) => {
            const xT = filled(be, x);
            be.rope(xT, nTokens, nHeads, headDim, Int32Array.from(positions), theta, style);
            const xb = await got(be, xT);
            // ggml builds theta_scale^i by repeated f32 multiplication: angles carry ~i ulp of relative error.
            expectClose(`rope ${style}`, xb, 0, expected, () => 1e-4);
            expectGuard('rope', xb, x.length);
          });
        });
      }
    });

    describe('kvWrite + attention (paged F16 cache, causal, GQA)', () => {
      const cases: [number, number, number][] = [
        [1, 1, 16],
        [4, 2, 64],
        [4, 1, 32],
        [6, 3, 128],
        // group 3 and a 4-element tail past the 8-element chunks; group 5 (a batch of 4 heads, then 1); group 8 with
        // one KV head (with threads, the wasm backend cuts such units into rows of 4 heads) and an odd headDim
        [3, 1, 20],
        [10, 2, 72],
        [8, 1, 13],
      ];
      // each case on a contiguous block table (blocks 0, 1, ... of 16 positions) and on a shuffled one (blocks of 4 in
      // a random order among spare blocks): the results must not depend on where the positions sit
      for (const [nHeads, nKvHeads, headDim, layout] of cases.flatMap(([h, kv, d]) => [[h, kv, d, 'contiguous'] as const, [h, kv, d, 'shuffled'] as const])) {
        it(`nHeads=${nHeads} nKvHeads=${nKvHeads} headDim=${headDim}, ${layout} block table: prefill, then decode, two layers`, async () => {
          const rng = seededRng(6000 + nHeads * 31 + nKvHeads * 7 + headDim + (layout === 'shuffled' ? 1 : 0));
          const nLayers = 2;
          const contextLength = 24;
          const blockSize = layout === 'contiguous' ? 16 : 4;
          const kvDim = nKvHeads * headDim;
          const qDim = nHeads * headDim;
          // Steps: (startPos, nTokens) — a prefill chunk, single-token decodes, another chunk.
          const steps: [number, number][] = [
            [0, 5],
            [5, 1],
            [6, 1],
            [7, 3],
            [10, 1],
          ];
          const maxTokens = 5;
          const nTable = Math.ceil(contextLength / blockSize);
          const nBlocks = nTable + 3;
          const table = layout === 'contiguous' ? Int32Array.from({ length: nTable }, (_, i) => i) : shuffledBlocks(rng, nBlocks).slice(0, nTable);
          // The suite's own copy of the cache, rounded to F16 as the contract says.
          const kRef = Array.from({ length: nLayers }, () => new Float64Array(contextLength * kvDim));
          const vRef = Array.from({ length: nLayers }, () => new Float64Array(contextLength * kvDim));
          await withBackend(
            make,
            { activationFloats: 4 * maxTokens * Math.max(qDim, kvDim) + 8 * GUARD, kvBytes: 2 * 2 * nLayers * nBlocks * blockSize * kvDim },
            async (be) => {
              const pool: KvPool = be.createKvPool(nLayers, kvDim, headDim, blockSize, nBlocks);
              expect([pool.nLayers, pool.kvDim, pool.headDim, pool.blockSize, pool.nBlocks]).toEqual([nLayers, kvDim, headDim, blockSize, nBlocks]);
              be.setBlockTables(pool, table, 1, nTable);
              const kT = be.alloc(maxTokens * kvDim);
              const vT = be.alloc(maxTokens * kvDim);
              const qT = be.alloc(maxTokens * qDim);
              const outT = poisoned(be, maxTokens * qDim);
              const kb = new Float32Array(maxTokens * kvDim);
              const vb = new Float32Array(maxTokens * kvDim);
              const qb = new Float32Array(maxTokens * qDim);
              for (const [startPos, nTokens] of steps) {
                const batch = kvBatch(Array.from({ length: nTokens }, (_, t) => [0, startPos + t]));
                for (let layer = 0; layer < nLayers; layer++) {
                  for (let i = 0; i < nTokens * kvDim; i++) {
                    kb[i] = rng.normal();
                    vb[i] = rng.normal() * (layer + 1);
                    kRef[layer][startPos * kvDim + i] = roundToF16(kb[i]);
                    vRef[layer][startPos * kvDim + i] = roundToF16(vb[i]);
                  }
                  // k and v are rewritten for the next layer: the write must not change what this kvWrite stored
                  be.write(kT, kb);
                  be.write(vT, vb);
                  be.kvWrite(pool, layer, kT, vT, batch);
                }
                for (let layer = 0; layer < nLayers; layer++) {
                  for (let i = 0; i < nTokens * qDim; i++) qb[i] = rng.normal() * 2;
                  be.write(qT, qb);
                  const { expected, maxV } = expectedAttention(qb, batch, [kRef[layer]], [vRef[layer]], nHeads, nKvHeads, headDim);
                  be.write(outT, new Float32Array(outT.nElements).fill(NaN));
                  be.attention(outT, qT, pool, layer, batch, nHeads, nKvHeads);
                  const out = await got(be, outT);
                  // One F16 ulp of a probability (~1e-3 relative) may round the other way in the backend's
                  // own summation order; the tolerance allows that and nothing coarser.
                  expectClose(`attention layer ${layer} startPos ${startPos} nTokens ${nTokens}`, out, 0, expected, () => 2e-3 * maxV);
                  expectGuard('attention', out, nTokens * qDim);
                }
              }
            },
          );
        });
      }

      // one step mixing sequences: prefill chunks and decode tokens of three sequences whose blocks interleave in the pool
      for (const [nHeads, nKvHeads, headDim] of [cases[1], cases[3], cases[6]]) {
        it(`nHeads=${nHeads} nKvHeads=${nKvHeads} headDim=${headDim}: a batch mixing three sequences on shuffled block tables`, async () => {
          const rng = seededRng(6500 + nHeads * 31 + nKvHeads * 7 + headDim);
          const blockSize = 4;
          const maxBlocks = 4;
          const nSeqs = 3;
          const nBlocks = nSeqs * maxBlocks + 2;
          const kvDim = nKvHeads * headDim;
          const qDim = nHeads * headDim;
          const tables = shuffledBlocks(rng, nBlocks).slice(0, nSeqs * maxBlocks);
          const kRef = Array.from({ length: nSeqs }, () => new Float64Array(maxBlocks * blockSize * kvDim));
          const vRef = Array.from({ length: nSeqs }, () => new Float64Array(maxBlocks * blockSize * kvDim));
          // (seq, position) entries of each step: three prefills at once, then decodes beside a prefill chunk
          const steps: [number, number][][] = [
            [...[0, 1, 2, 3, 4].map((p) => [0, p] as [number, number]), [1, 0], [1, 1], [1, 2], ...[0, 1, 2, 3, 4, 5, 6].map((p) => [2, p] as [number, number])],
            [[0, 5], [1, 3], [1, 4], [2, 7]],
            [[2, 8], [0, 6]],
          ];
          const maxTokens = 15;
          await withBackend(make, { activationFloats: 4 * maxTokens * Math.max(qDim, kvDim) + 8 * GUARD, kvBytes: 2 * 2 * nBlocks * blockSize * kvDim }, async (be) => {
            const pool = be.createKvPool(1, kvDim, headDim, blockSize, nBlocks);
            be.setBlockTables(pool, tables, nSeqs, maxBlocks);
            const kT = be.alloc(maxTokens * kvDim);
            const vT = be.alloc(maxTokens * kvDim);
            const qT = be.alloc(maxTokens * qDim);
            const outT = poisoned(be, maxTokens * qDim);
            for (const entries of steps) {
              const batch = kvBatch(entries);
              const n = entries.length;
              const kb = new Float32Array(n * kvDim);
              const vb = new Float32Array(n * kvDim);
              entries.forEach(([s, p], t) => {
                for (let i = 0; i < kvDim; i++) {
                  kb[t * kvDim + i] = rng.normal();
                  vb[t * kvDim + i] = rng.normal();
                  kRef[s][p * kvDim + i] = roundToF16(kb[t * kvDim + i]);
                  vRef[s][p * kvDim + i] = roundToF16(vb[t * kvDim + i]);
                }
              });
              be.write(kT, kb);
              be.write(vT, vb);
              be.kvWrite(pool, 0, kT, vT, batch);
              const qb = new Float32Array(n * qDim);
              for (let i = 0; i < qb.length; i++) qb[i] = rng.normal() * 2;
              be.write(qT, qb);
              const { expected, maxV } = expectedAttention(qb, batch, kRef, vRef, nHeads, nKvHeads, headDim);
              be.write(outT, new Float32Array(outT.nElements).fill(NaN));
              be.attention(outT, qT, pool, 0, batch, nHeads, nKvHeads);
              const out = await got(be, outT);
              expectClose(`mixed attention, entries ${JSON.stringify(entries)}`, out, 0, expected, () => 2e-3 * maxV);
              expectGuard('attention', out, n * qDim);
            }
          });
        });
      }

      // contexts past 64 and 128 positions (kernels that work through positions in chunks), query groups past 4
      // heads, a head past 128 (and past 192) dimensions: a prefill of every position at once, on shuffled blocks
      for (const [nHeads, nKvHeads, headDim, nPos] of [
        [10, 2, 72, 150],
        [2, 1, 200, 70],
      ]) {
        it(`nHeads=${nHeads} nKvHeads=${nKvHeads} headDim=${headDim}: a prefill of ${nPos} positions (long context)`, async () => {
          const rng = seededRng(6600 + headDim);
          const blockSize = 16;
          const maxBlocks = Math.ceil(nPos / blockSize);
          const nBlocks = maxBlocks + 2;
          const kvDim = nKvHeads * headDim;
          const qDim = nHeads * headDim;
          const table = shuffledBlocks(rng, nBlocks).slice(0, maxBlocks);
          const kb = new Float32Array(nPos * kvDim).map(() => rng.normal());
          const vb = new Float32Array(nPos * kvDim).map(() => rng.normal());
          const qb = new Float32Array(nPos * qDim).map(() => rng.normal() * 2);
          const kRef = Float64Array.from(kb, (v) => roundToF16(v));
          const vRef = Float64Array.from(vb, (v) => roundToF16(v));
          await withBackend(make, { activationFloats: 4 * nPos * Math.max(qDim, kvDim) + 8 * GUARD, kvBytes: 2 * 2 * nBlocks * blockSize * kvDim }, async (be) => {
            const pool = be.createKvPool(1, kvDim, headDim, blockSize, nBlocks);
            be.setBlockTables(pool, table, 1, maxBlocks);
            const [kT, vT, qT] = [be.alloc(nPos * kvDim), be.alloc(nPos * kvDim), be.alloc(nPos * qDim)];
            const outT = poisoned(be, nPos * qDim);
            be.write(kT, kb);
            be.write(vT, vb);
            be.write(qT, qb);
            const batch = kvBatch(Array.from({ length: nPos }, (_, p) => [0, p] as const));
            be.kvWrite(pool, 0, kT, vT, batch);
            be.attention(outT, qT, pool, 0, batch, nHeads, nKvHeads);
            const { expected, maxV } = expectedAttention(qb, batch, [kRef], [vRef], nHeads, nKvHeads, headDim);
            const out = await got(be, outT);
            expectClose(`attention over ${nPos} positions`, out, 0, expected, () => 2e-3 * maxV);
            expectGuard('attention', out, nPos * qDim);
          });
        });
      }

      it('blocks first named one step at a time, in a scrambled order, hold what was written, as in a pool whose every block was named up front', async () => {
        const [nHeads, nKvHeads, headDim, nLayers, blockSize, nSeqs, nSteps] = [4, 2, 8, 2, 2, 2, 20];
        const maxBlocks = nSteps / blockSize;
        const nBlocks = nSeqs * maxBlocks + 5; // 5 never named by the sequences; one gets a copy at the end
        const kvDim = nKvHeads * headDim;
        const qDim = nHeads * headDim;
        const order = shuffledBlocks(seededRng(6700), nBlocks);
        // the same writes and queries on two pools: `lazy` meets each block when a sequence reaches it, `upFront` has
        // every block named (given memory, where a backend takes it on first use) before the first write
        const run = async (upFront: boolean): Promise<{ outs: Float32Array[]; allocated: number[] }> => {
          const rng = seededRng(6701);
          const outs: Float32Array[] = [];
          const allocated: number[] = [];
          await withBackend(make, { activationFloats: 4 * nSeqs * Math.max(qDim, kvDim) + 8 * GUARD, kvBytes: 2 * 2 * nLayers * nBlocks * blockSize * kvDim }, async (be) => {
            const pool = be.createKvPool(nLayers, kvDim, headDim, blockSize, nBlocks);
            // no backend takes KV memory before a block is named
            expect(pool.allocatedBlocks, 'allocatedBlocks of a new pool').toBe(0);
            if (upFront) be.setBlockTables(pool, order.slice().reverse(), 1, nBlocks);
            const tables = new Int32Array(nSeqs * maxBlocks).fill(-1);
            const kT = be.alloc(nSeqs * kvDim);
            const vT = be.alloc(nSeqs * kvDim);
            const qT = be.alloc(nSeqs * qDim);
            const outT = poisoned(be, nSeqs * qDim);
            for (let p = 0; p < nSteps; p++) {
              // a new block per sequence every blockSize positions, the next of the scrambled order
              if (p % blockSize === 0) for (let s = 0; s < nSeqs; s++) tables[s * maxBlocks + p / blockSize] = order[(p / blockSize) * nSeqs + s];
              be.setBlockTables(pool, tables, nSeqs, maxBlocks);
              allocated.push(pool.allocatedBlocks);
              const batch = kvBatch(Array.from({ length: nSeqs }, (_, s) => [s, p] as const));
              for (let layer = 0; layer < nLayers; layer++) {
                be.write(kT, rng.f32(nSeqs * kvDim, -2, 2));
                be.write(vT, rng.f32(nSeqs * kvDim, -2, 2));
                be.kvWrite(pool, layer, kT, vT, batch);
                be.write(qT, rng.f32(nSeqs * qDim, -2, 2));
                be.attention(outT, qT, pool, layer, batch, nHeads, nKvHeads);
                outs.push((await got(be, outT)).slice(0, nSeqs * qDim));
              }
            }
            // a copy onto a block no table named yet: slot 1 becomes slot 0 with a copied first block
            const spare = order[nSeqs * maxBlocks];
            be.copyBlocks(pool, Int32Array.of(tables[0], spare));
            const both = Int32Array.from([...tables.subarray(0, maxBlocks), spare, ...tables.subarray(1, maxBlocks)]);
            be.setBlockTables(pool, both, 2, maxBlocks);
            allocated.push(pool.allocatedBlocks);
            const last = kvBatch([[0, nSteps - 1], [1, nSteps - 1]]);
            be.write(qT, Float32Array.from({ length: nSeqs * qDim }, (_, i) => Math.sin(i % qDim)));
            be.attention(outT, qT, pool, 1, last, nHeads, nKvHeads);
            const out = await got(be, outT);
            for (let i = 0; i < qDim; i++) if (out[i] !== out[qDim + i]) expect.fail(`a copied block reads differently at ${i}: ${out[i]} vs ${out[qDim + i]}`);
            outs.push(out.slice(0, nSeqs * qDim));
          });
          return { outs, allocated };
        };
        const lazy = await run(false);
        const upFront = await run(true);
        for (let i = 0; i < lazy.outs.length; i++) {
          for (let j = 0; j < lazy.outs[i].length; j++) {
            if (!Object.is(lazy.outs[i][j], upFront.outs[i][j])) expect.fail(`output ${i}[${j}]: ${lazy.outs[i][j]} (blocks met on the way) vs ${upFront.outs[i][j]} (all up front)`);
          }
        }
        // memory grows with the blocks named (never past nBlocks), in steps; all of it when named up front
        lazy.allocated.forEach((a, step) => {
          const named = Math.min(nSeqs * maxBlocks, nSeqs * (Math.floor(step / blockSize) + 1)) + (step === nSteps ? 1 : 0);
          expect(a).toBeGreaterThanOrEqual(Math.min(named, nBlocks));
          expect(nBlocks).toBeGreaterThanOrEqual(a);
          if (step > 0) expect(a).toBeGreaterThanOrEqual(lazy.allocated[step - 1]);
        });
        expect(upFront.allocated.every((a) => a === nBlocks)).toBe(true);
      });

      for (const style of ['neox', 'normal'] as const) {
        it(`copyBlocks copies every layer; shiftKeys (${style}) moves positions down and re-rotates their keys`, async () => {
          const rng = seededRng(style === 'neox' ? 6601 : 6602);
          const [nHeads, nKvHeads, headDim, nLayers, blockSize, nBlocks, theta] = [4, 2, 16, 2, 4, 8, 10000];
          const kvDim = nKvHeads * headDim;
          const qDim = nHeads * headDim;
          const n = 10;
          const kRef = Array.from({ length: nLayers }, () => new Float64Array(12 * kvDim));
          const vRef = Array.from({ length: nLayers }, () => new Float64Array(12 * kvDim));
          await withBackend(make, { activationFloats: 4 * n * Math.max(qDim, kvDim) + 8 * GUARD, kvBytes: 2 * 2 * nLayers * nBlocks * blockSize * kvDim }, async (be) => {
            const pool = be.createKvPool(nLayers, kvDim, headDim, blockSize, nBlocks);
            // slot 0 on blocks 5, 2, 7; slot 1 gets a copy of slot 0's first block (block 0) and shares the others
            const tables = Int32Array.of(5, 2, 7, 0, 2, 7);
            be.setBlockTables(pool, tables, 2, 3);
            const batch = kvBatch(Array.from({ length: n }, (_, p) => [0, p]));
            const kT = be.alloc(n * kvDim);
            const vT = be.alloc(n * kvDim);
            for (let layer = 0; layer < nLayers; layer++) {
              const kb = rng.f32(n * kvDim, -2, 2);
              const vb = rng.f32(n * kvDim, -2, 2);
              for (let i = 0; i < n * kvDim; i++) [kRef[layer][i], vRef[layer][i]] = [roundToF16(kb[i]), roundToF16(vb[i])];
              be.write(kT, kb);
              be.write(vT, vb);
              be.kvWrite(pool, layer, kT, vT, batch);
            }
            be.copyBlocks(pool, Int32Array.of(5, 0));
            // slot 0 then overwrites its positions 0..3: the copy must keep the old values
            const over = kvBatch([0, 1, 2, 3].map((p) => [0, p]));
            for (let layer = 0; layer < nLayers; layer++) {
              be.write(kT, rng.f32(4 * kvDim, -2, 2));
              be.kvWrite(pool, layer, kT, kT, over);
            }
            const qT = be.alloc(qDim);
            const outT = poisoned(be, qDim);
            const qb = rng.f32(qDim, -2, 2);
            be.write(qT, qb);
            for (let layer = 0; layer < nLayers; layer++) {
              const at9 = kvBatch([[1, 9]]);
              const { expected, maxV } = expectedAttention(qb, at9, [kRef[layer], kRef[layer]], [vRef[layer], vRef[layer]], nHeads, nKvHeads, headDim);
              be.attention(outT, qT, pool, layer, at9, nHeads, nKvHeads);
              expectClose(`attention of the copied block's sequence, layer ${layer}`, await got(be, outT), 0, expected, () => 2e-3 * maxV);
            }
            // shift slot 1: positions 6..9 move to 2..5 (positions 2..5 dropped), keys rotated by -4 positions
            be.shiftKeys(pool, 1, 6, 10, -4, theta, style);
            for (let layer = 0; layer < nLayers; layer++) {
              const k = kRef[layer].slice();
              const v = vRef[layer].slice();
              for (let p = 2; p < 6; p++) {
                for (let h = 0; h < nKvHeads; h++) {
                  const base = h * headDim;
                  const row = kRef[layer].subarray((p + 4) * kvDim + base, (p + 4) * kvDim + base + headDim);
                  const rotated = rotate(row, -4, theta, style);
                  for (let d = 0; d < headDim; d++) k[p * kvDim + base + d] = roundToF16(rotated[d]);
                }
                for (let i = 0; i < kvDim; i++) v[p * kvDim + i] = vRef[layer][(p + 4) * kvDim + i];
              }
              const at5 = kvBatch([[1, 5]]);
              const { expected, maxV } = expectedAttention(qb, at5, [k, k], [v, v], nHeads, nKvHeads, headDim);
              be.attention(outT, qT, pool, layer, at5, nHeads, nKvHeads);
              expectClose(`attention after shiftKeys, layer ${layer}`, await got(be, outT), 0, expected, () => 2e-3 * maxV);
            }
          });
        });
      }
    });

    describe('element-wise ops', () => {
      for (const n of [1, 7, 1000, 2561]) {
        it(`addInPlace, reluSqrMul, siluMul n=${n}`, async () => {
          const rng = seededRng(7000 + n);
          const a = rng.f32(n, -6, 6);
          const b = rng.f32(n, -3, 3);
          if (n > 3) [a[0], a[1], a[2]] = [0, -0, 40];
          await withBackend(make, { activationFloats: 6 * (n + GUARD) }, async (be) => {
            const sum = new Float64Array(n);
            const relu = new Float64Array(n);
            const silu = new Float64Array(n);
            for (let i = 0; i < n; i++) {
              sum[i] = a[i] + b[i];
              relu[i] = Math.max(a[i], 0) ** 2 * b[i];
              silu[i] = (a[i] / (1 + Math.exp(-a[i]))) * b[i];
            }
            const xT = filled(be, a);
            const yT = filled(be, b);
            be.addInPlace(xT, yT, n);
            const x = await got(be, xT);
            expectClose('addInPlace', x, 0, sum, relTol(1.2e-7, 1e-45));
            expectGuard('addInPlace', x, n);
            const g1T = filled(be, a);
            be.reluSqrMul(g1T, yT, n);
            const g1 = await got(be, g1T);
            expectClose('reluSqrMul', g1, 0, relu, relTol(3e-7, 1e-45));
            expectGuard('reluSqrMul', g1, n);
            const g2T = filled(be, a);
            be.siluMul(g2T, yT, n);
            const g2 = await got(be, g2T);
            expectClose('siluMul', g2, 0, silu, relTol(2e-6, 1e-12));
            expectGuard('siluMul', g2, n);
            const y = await got(be, yT);
            for (let i = 0; i < n; i++) if (y[i] !== b[i]) expect.fail(`an element-wise op changed its second input at index ${i}`);
          });
        });
      }
    });

    describe('tensors, gatherRows and the sampling reads (argmax, topK)', () => {
      it('write at an offset and read a range give back exactly what was written', async () => {
        const rng = seededRng(9100);
        const values = rng.f32(37, -5, 5);
        await withBackend(make, { activationFloats: 64 }, async (be) => {
          const t = poisoned(be, 50);
          be.write(t, values, 7);
          await be.endStep();
          be.beginStep();
          const back = await be.read(t, 5, 41);
          expect(Number.isNaN(back[0]) && Number.isNaN(back[1]), 'before the offset stays NaN').toBe(true);
          for (let i = 0; i < values.length; i++) if (!Object.is(back[i + 2], values[i])) expect.fail(`index ${i}: wrote ${values[i]}, read ${back[i + 2]}`);
          expect(Number.isNaN(back[39]), 'after the range stays NaN').toBe(true);
          const zero = be.alloc(3);
          expect(Array.from(await got(be, zero))).toEqual([0, 0, 0]);
        });
      });

      it('gatherRows copies the chosen rows in order', async () => {
        const rng = seededRng(9200);
        const dim = 33;
        const x = rng.f32(6 * dim, -3, 3);
        const rows = [5, 0, 3, 3];
        await withBackend(make, { activationFloats: 12 * dim }, async (be) => {
          const xT = filled(be, x);
          const outT = poisoned(be, rows.length * dim);
          be.gatherRows(outT, xT, Int32Array.from(rows), dim);
          const out = await got(be, outT);
          const expected = new Float64Array(rows.length * dim);
          rows.forEach((r, i) => expected.set(x.subarray(r * dim, (r + 1) * dim), i * dim));
          expectClose('gatherRows', out, 0, expected, () => 0);
          expectGuard('gatherRows', out, expected.length);
        });
      });

      it('argmax and topK per row: ties go to the lower id, -Infinity ranks last, NaN or +Infinity makes argmax -1', async () => {
        const rng = seededRng(9300);
        const vocab = 1000;
        const nRows = 5;
        const data = rng.f32(nRows * vocab, -10, 10);
        // row 0: a tie for the max at 17 and 900; row 1: all -Infinity but one; row 2: a NaN; row 3: +Infinity;
        // row 4: a tie at the k-th place (ids 3 and 4 equal, 4 must lose)
        data[17] = 20;
        data[900] = 20;
        data.fill(-Infinity, vocab, 2 * vocab);
        data[vocab + 500] = -3;
        data[2 * vocab + 10] = NaN;
        data[3 * vocab + 999] = Infinity;
        data[4 * vocab + 1] = 30;
        data[4 * vocab + 2] = 29;
        data[4 * vocab + 3] = 28;
        data[4 * vocab + 4] = 28;
        const k = 3;
        await withBackend(make, { activationFloats: nRows * vocab + GUARD }, async (be) => {
          const t = filled(be, data);
          await be.endStep();
          be.beginStep();
          const ids = await be.argmax(t, nRows, vocab);
          expect(Array.from(ids)).toEqual([17, 500, -1, -1, 1]);
          const top = await be.topK(t, nRows, vocab, k);
          expect(top.ids.length).toBe(nRows * k);
          const expectedTop = (r: number): { ids: number[]; values: number[] } => {
            const order = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => {
              const va = data[r * vocab + a];
              const vb = data[r * vocab + b];
              if (Number.isNaN(va) || Number.isNaN(vb)) return Number.isNaN(va) ? (Number.isNaN(vb) ? a - b : 1) : -1;
              return vb - va || a - b;
            });
            return { ids: order.slice(0, k), values: order.slice(0, k).map((i) => data[r * vocab + i]) };
          };
          for (let r = 0; r < nRows; r++) {
            const e = expectedTop(r);
            expect(Array.from(top.ids.subarray(r * k, (r + 1) * k)), `topK ids of row ${r}`).toEqual(e.ids);
            expect(Array.from(top.values.subarray(r * k, (r + 1) * k)), `topK values of row ${r}`).toEqual(e.values);
          }
          // a read of one row from a larger tensor
          const one = await be.argmax(t, 1, vocab);
          expect(Array.from(one)).toEqual([17]);
        });
      });
    });

    describe('bookkeeping and bad input', () => {
      it('kernelCalls counts ops by id; dispose is idempotent', async () => {
        const be = await make();
        const w = ternaryTensor(GgmlType.I2_S, seededRng(1).codes(128 * 2), 0.5, 2, 128);
        be.reserve({ weightBytes: w.bytes.length, activationFloats: 128 + 2 + 2, kvBytes: 0 });
        const total = (): number => [...be.kernelCalls().values()].reduce((a, b) => a + b, 0);
        const before = total();
        const weight = makeWeight(be, 'w', GgmlType.I2_S, [128, 2], w.bytes);
        const x = be.alloc(128);
        be.write(x, new Float32Array(128).fill(1));
        const out = be.alloc(2);
        be.beginStep();
        be.matmul(out, weight, x, 1);
        const calls = be.kernelCalls();
        expect(total()).toBeGreaterThan(before);
        expect([...calls.keys()].some((k) => k.includes('matmul'))).toBe(true);
        for (const [k, v] of calls) {
          expect(typeof k).toBe('string');
          expect(Number.isInteger(v) && v > 0).toBe(true);
        }
        be.addInPlace(out, out, 2);
        await be.endStep();
        expect(total()).toBeGreaterThan(before + 1);
        await be.dispose();
        await be.dispose();
      });

      it('refuses unsupported types, wrong sizes, bad scales and out-of-range positions with BitNetError', async () => {
        await withBackend(make, { weightBytes: 4096, activationFloats: 512, kvBytes: 2 * 2 * 1 * 4 * 8 }, (be) => {
          const throwsBitNet = (what: string, fn: () => unknown, code?: string): void => {
            let error: unknown;
            try {
              fn();
            } catch (e) {
              error = e;
            }
            expect(isBitNetError(error), `${what} throws a BitNetError (got ${String(error)})`).toBe(true);
            if (code !== undefined && isBitNetError(error)) expect(error.code, what).toBe(code);
          };
          throwsBitNet('TL2 weight', () => be.createWeight({ name: 'tl2', type: GgmlType.TL2, dims: [128, 2], byteSize: 64 }), 'UNSUPPORTED_TENSOR_TYPE');
          throwsBitNet('Q4_K weight', () => be.createWeight({ name: 'q4k', type: GgmlType.Q4_K, dims: [256, 1], byteSize: tensorByteSize(GgmlType.Q4_K, 256, 256) }), 'UNSUPPORTED_TENSOR_TYPE');
          throwsBitNet('wrong byte size', () => be.createWeight({ name: 'f16', type: GgmlType.F16, dims: [8, 2], byteSize: 31 }));
          const bad = packI2s(new Int8Array(256), 1, 128);
          new DataView(bad.buffer).setFloat32(64, NaN, true);
          throwsBitNet('I2_S NaN scale', () => {
            const { weight, target } = be.createWeight({ name: 'i2s', type: GgmlType.I2_S, dims: [128, 2], byteSize: bad.length });
            target.set(bad);
            be.prepareWeight(weight);
          });
          const ok = makeWeight(be, 'ok', GgmlType.F32, [4, 2], quantizeF32([1, 2, 3, 4, 5, 6, 7, 8]));
          throwsBitNet('matmul with x too short', () => be.matmul(be.alloc(4), ok, be.alloc(3), 1));
          throwsBitNet('matmul with out too short', () => be.matmul(be.alloc(1), ok, be.alloc(4), 1));
          throwsBitNet('matmul with an x that is not a tensor of this backend', () => be.matmul(be.alloc(2), ok, { nElements: 4 }, 1), 'BAD_ARGUMENT');
          const pool = be.createKvPool(1, 4, 4, 4, 2);
          be.setBlockTables(pool, Int32Array.of(1, -1), 1, 2);
          throwsBitNet('kvWrite at a position without a block', () => be.kvWrite(pool, 0, be.alloc(8), be.alloc(8), { nTokens: 2, seqs: Int32Array.of(0, 0), positions: Int32Array.of(3, 4) }), 'CONTEXT_OVERFLOW');
          throwsBitNet('kvWrite of a sequence slot not in the tables', () => be.kvWrite(pool, 0, be.alloc(4), be.alloc(4), { nTokens: 1, seqs: Int32Array.of(1), positions: Int32Array.of(0) }), 'BAD_ARGUMENT');
          throwsBitNet('attention with a layer out of range', () => be.attention(be.alloc(4), be.alloc(4), pool, 1, { nTokens: 1, seqs: Int32Array.of(0), positions: Int32Array.of(0) }, 1, 1), 'BAD_ARGUMENT');
          throwsBitNet('attention whose heads do not match the pool', () => be.attention(be.alloc(8), be.alloc(8), pool, 0, { nTokens: 1, seqs: Int32Array.of(0), positions: Int32Array.of(0) }, 2, 2), 'BAD_ARGUMENT');
          throwsBitNet('a KV pool whose headDim does not divide kvDim', () => be.createKvPool(1, 12, 5, 4, 2), 'BAD_ARGUMENT');
          throwsBitNet('block tables naming a block past the pool', () => be.setBlockTables(pool, Int32Array.of(2), 1, 1), 'BAD_ARGUMENT');
          throwsBitNet('copyBlocks of a block onto itself', () => be.copyBlocks(pool, Int32Array.of(1, 1)), 'BAD_ARGUMENT');
          throwsBitNet('copyBlocks of a block past the pool', () => be.copyBlocks(pool, Int32Array.of(0, 2)), 'BAD_ARGUMENT');
          throwsBitNet('shiftKeys past the sequence\'s blocks', () => be.shiftKeys(pool, 0, 2, 6, -1, 10000, 'neox'), 'CONTEXT_OVERFLOW');
          throwsBitNet('write past the end of a tensor', () => be.write(be.alloc(4), new Float32Array(3), 2), 'BAD_ARGUMENT');
          throwsBitNet('gatherRows of a row past the end', () => be.gatherRows(be.alloc(4), be.alloc(8), [2], 4), 'BAD_ARGUMENT');
          throwsBitNet('topK with k = 0', () => be.topK(be.alloc(4), 1, 4, 0), 'BAD_ARGUMENT');
          throwsBitNet('argmax of more rows than the tensor holds', () => be.argmax(be.alloc(4), 2, 4), 'BAD_ARGUMENT');
        });
      });
    });
  });
}
