// Turns checkpoint weights into ternary codes and one magnitude per matrix: absmean quantization of float master
// weights, unpacking of the transformers BitNet uint8 layout, lossless reading of already-ternary floats, and the
// q/k row permutation the `llama` GGUF arch expects. Browser-safe.

import { BitNetError } from '../errors.js';
import { f16ToF32Table } from '../formats/f16.js';

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Float dtypes of safetensors a weight may have. */
export type FloatDtype = 'F32' | 'F16' | 'BF16';

export function isFloatDtype(dtype: string): dtype is FloatDtype {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

/** The values of a little-endian F32/F16/BF16 buffer as float32. */
export function decodeFloats(bytes: Uint8Array, dtype: FloatDtype): Float32Array {
  const width = dtype === 'F32' ? 4 : 2;
  const n = Math.floor(bytes.length / width);
  const out = new Float32Array(n);
  const aligned = bytes.byteOffset % width === 0 ? bytes : bytes.slice();
  if (dtype === 'F32') {
    if (HOST_LITTLE_ENDIAN) out.set(new Float32Array(aligned.buffer, aligned.byteOffset, n));
    else {
      const dv = new DataView(aligned.buffer, aligned.byteOffset, aligned.byteLength);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
    }
    return out;
  }
  const bits = HOST_LITTLE_ENDIAN ? new Uint16Array(aligned.buffer, aligned.byteOffset, n) : Uint16Array.from({ length: n }, (_, i) => (aligned[2 * i] ?? 0) | ((aligned[2 * i + 1] ?? 0) << 8));
  if (dtype === 'BF16') {
    // bf16 is the top half of an f32 (formats/bf16.ts bf16BitsToF32): shift the bits into place through a u32 view.
    const outBits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) outBits[i] = bits[i] << 16;
  } else {
    const table = f16ToF32Table();
    for (let i = 0; i < n; i++) out[i] = table[bits[i]];
  }
  return out;
}

/** Ternary weights of one matrix: codes -1/0/+1 (row-major, as stored) and the magnitude (weight = code * scale). */
export interface Ternary {
  readonly codes: Int8Array;
  readonly scale: number;
}

/** Smallest mean |W| used (transformers WeightQuant: `x.abs().mean().clamp_(min=1e-5)`). */
export const ABSMEAN_MIN = 1e-5;

/**
 * fround(x) > 0.5 exactly when x > 0.5 + 2^-25 (0.5 + 2^-25 is the midpoint to the next float32, and ties go to 0.5's
 * even significand). A product of two float32 values is exact in float64, so comparing it with this bound decides
 * round(fround(W * s)) != 0 with no rounding of our own; every |W * s| above it gives code +-1 after the clamp.
 */
const HALF_F32_BOUND = 0.5 + 2 ** -25;

/**
 * Absmean ternarization as BitNet b1.58 trains and runs (transformers integrations/bitnet.py WeightQuant, in float32):
 * s = 1 / max(mean|W|, 1e-5); code = clamp(round(W * s), -1, 1) with torch.round's ties to even (so exactly 0.5 -> 0);
 * the weight the model computes with is code / s. The mean is the exactly rounded float32 mean (torch's reduction
 * order may differ in the last bit).
 */
export function absmeanTernarize(values: Float32Array, name: string): Ternary {
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    sum += v < 0 ? -v : v;
  }
  const s = absmeanInverse(sum, values.length, name);
  const codes = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const p = values[i] * s;
    codes[i] = p > HALF_F32_BOUND ? 1 : p < -HALF_F32_BOUND ? -1 : 0;
  }
  return { codes, scale: Math.fround(1 / s) };
}

function absmeanInverse(sum: number, n: number, name: string): number {
  const mean = n === 0 ? 0 : Math.fround(sum / n);
  if (!Number.isFinite(mean)) {
    throw new BitNetError('BAD_TENSOR_DATA', `tensor '${name}': holds a non-finite value (mean |W| = ${mean})`, { details: { tensor: name } });
  }
  return Math.fround(1 / Math.max(mean, ABSMEAN_MIN));
}

let bf16Magnitudes: Float32Array | undefined;
let f16Magnitudes: Float32Array | undefined;

/** |value| of every 15-bit magnitude pattern of a 16-bit float type. */
function magnitudeTable(dtype: 'BF16' | 'F16'): Float32Array {
  if (dtype === 'BF16') {
    if (bf16Magnitudes === undefined) {
      bf16Magnitudes = new Float32Array(0x8000);
      const u = new Uint32Array(bf16Magnitudes.buffer);
      for (let b = 0; b < 0x8000; b++) u[b] = b << 16;
    }
    return bf16Magnitudes;
  }
  f16Magnitudes ??= f16ToF32Table().slice(0, 0x8000);
  return f16Magnitudes;
}

/**
 * absmeanTernarize straight from little-endian BF16 / F16 bytes, without a float copy: |W| is a table lookup on the
 * low 15 bits, and since |W| grows with those bits, the code test |W| * s > bound becomes one integer comparison
 * against the smallest pattern that passes it. Same codes and scale as absmeanTernarize on the decoded values.
 */
export function absmeanTernarize16(bytes: Uint8Array, dtype: 'BF16' | 'F16', name: string): Ternary {
  const n = bytes.length >>> 1;
  const aligned = HOST_LITTLE_ENDIAN && bytes.byteOffset % 2 === 0 ? bytes : null;
  const bits = aligned !== null ? new Uint16Array(aligned.buffer, aligned.byteOffset, n) : Uint16Array.from({ length: n }, (_, i) => (bytes[2 * i] ?? 0) | ((bytes[2 * i + 1] ?? 0) << 8));
  const table = magnitudeTable(dtype);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += table[bits[i] & 0x7fff];
  const s = absmeanInverse(sum, n, name); // a NaN or infinity anywhere makes the sum non-finite
  // Smallest magnitude pattern m with table[m] * s > bound (table is increasing over finite patterns).
  let lo = 0;
  let hi = 0x7c00 + (dtype === 'BF16' ? 0x0380 : 0); // first infinity pattern: F16 0x7c00, BF16 0x7f80
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (table[mid] * s > HALF_F32_BOUND) hi = mid;
    else lo = mid + 1;
  }
  const m = lo;
  const codes = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const b = bits[i];
    if ((b & 0x7fff) >= m) codes[i] = b & 0x8000 ? -1 : 1;
  }
  return { codes, scale: Math.fround(1 / s) };
}

/**
 * The codes and magnitude of a matrix whose values are already ternary ({-a, 0, +a} for one a), or undefined when
 * they are not. Lossless: code * a reproduces every value exactly.
 */
export function exactTernary(values: Float32Array, name: string): Ternary | undefined {
  let a = 0;
  const codes = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === 0) continue;
    if (!Number.isFinite(v)) throw new BitNetError('BAD_TENSOR_DATA', `tensor '${name}': non-finite value at index ${i}`, { details: { tensor: name, index: i } });
    const m = v < 0 ? -v : v;
    if (a === 0) a = m;
    else if (m !== a) return undefined;
    codes[i] = v < 0 ? -1 : 1;
  }
  return { codes, scale: a };
}

/**
 * Unpacks the transformers BitNet layout (integrations/bitnet.py unpack_weights): a uint8 tensor [rows/4, cols] holds
 * four row blocks; row r of the matrix is bits 2i..2i+1 of packed row (r mod rows/4), i = floor(r / (rows/4)), and
 * the code is that 2-bit value minus 1. A 2-bit value of 3 (code 2) is not ternary and is refused.
 */
export function unpackHfTernary(packed: Uint8Array, packedRows: number, cols: number, name: string): Int8Array {
  const rows = packedRows * 4;
  if (packed.length !== packedRows * cols) {
    throw new BitNetError('INTERNAL', `tensor '${name}': ${packed.length} packed bytes for [${packedRows}, ${cols}]`, { details: { tensor: name } });
  }
  const codes = new Int8Array(rows * cols);
  const block = packedRows * cols;
  for (let i = 0; i < 4; i++) {
    const shift = 2 * i;
    const base = i * block;
    for (let j = 0; j < block; j++) {
      const v = (packed[j] >>> shift) & 3;
      if (v === 3) {
        const row = i * packedRows + Math.floor(j / cols);
        throw new BitNetError('BAD_TENSOR_DATA', `tensor '${name}': packed byte ${j} holds the 2-bit value 3 at bits ${shift}..${shift + 1} (row ${row}, column ${j % cols}), which is no ternary code`, {
          details: { tensor: name, byteIndex: j, row, column: j % cols },
        });
      }
      codes[base + j] = v - 1;
    }
  }
  return codes;
}

/**
 * Reorders the rows of a q or k projection [nHeads * headDim rows, cols] from the transformers layout (RoPE rotates
 * dimension i with i + headDim/2, `rotate_half`) to the one GGUF's `llama` arch expects (adjacent pairs 2i, 2i+1):
 * within each head, row j * headDim/2 + i moves to row 2i + j. The same reordering as llama.cpp
 * convert_hf_to_gguf.py LlamaModel.permute (reshape (heads, 2, headDim/2, cols), swap axes 1 and 2).
 */
export function permuteRowsForLlamaRope<T extends Int8Array | Float32Array>(m: T, nHeads: number, cols: number): T {
  const rows = m.length / cols;
  const headDim = rows / nHeads;
  const half = headDim / 2;
  const out = new (m.constructor as new (n: number) => T)(m.length);
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const from = (h * headDim + j * half + i) * cols;
        const to = (h * headDim + 2 * i + j) * cols;
        out.set(m.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}
