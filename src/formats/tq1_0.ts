// TQ1_0 tensors: 256 ternary values per block packed base-3 (5 or 4 trits a byte), then one F16 scale
// (54 bytes, 1.6875 bpw). Layout: ggml/src/ggml-common.h block_tq1_0 { uint8_t qs[48]; uint8_t qh[4]; ggml_half d; }.
// Packing (ggml/src/ggml-quants.c quantize_row_tq1_0_ref / dequantize_row_tq1_0):
// - qs[0..31]: byte m holds elements m + 32n (n = 0..4), 160 elements; qs[32..47]: byte 32 + m holds
//   elements 160 + m + 16n (n = 0..4), 80 elements; qh[0..3]: byte j holds elements 240 + j + 4n (n = 0..3).
// - A byte is the base-3 number t0 t1 t2 t3 t4 (t0 most significant, t = code + 1; qh bytes append t4 = 0),
//   stored as ceil(value * 256 / 243) so that trit n is ((byte * 3^n) mod 256) * 3 >> 8 (the "pow3 trick").

import type { BlockLayout } from './layout.js';
import { readF16, writeF16 } from './f16.js';
import { requireFiniteScale, requireRows, requireTernaryCodes, roundHalfAway } from './ternary-common.js';
import { requireBytes, requireMultiple, requireRoom, requireRow } from './validate.js';

export const TQ1_0_BLOCK_ELEMENTS = 256;
export const TQ1_0_BLOCK_BYTES = 54;

export const TQ1_0_LAYOUT: BlockLayout = [
  { name: 'qs', byteOffset: 0, byteLength: 48, meaning: '5 trits per byte: bytes 0..31 elements m + 32n, bytes 32..47 elements 160 + m + 16n' },
  { name: 'qh', byteOffset: 48, byteLength: 4, meaning: '4 trits per byte: byte j elements 240 + j + 4n' },
  { name: 'd', byteOffset: 52, byteLength: 2, meaning: 'F16 scale: value = (trit - 1) * d' },
];

const QH = 48;
const D = 52;
const POW3 = [1, 3, 9, 27, 81, 243] as const;

/** Trit n (0 = most significant) of a packed byte, 0..2. */
export function tq1_0Trit(byte: number, n: number): number {
  return (((byte * POW3[n]) & 0xff) * 3) >>> 8;
}

/** Byte (within the block) and trit index of element e (0..255). */
export function tq1_0Position(e: number): { byteIndex: number; trit: number } {
  if (e < 160) return { byteIndex: e & 31, trit: e >>> 5 };
  if (e < 240) return { byteIndex: 32 + ((e - 160) & 15), trit: (e - 160) >>> 4 };
  return { byteIndex: QH + ((e - 240) & 3), trit: (e - 240) >>> 2 };
}

/** Write one block's bytes from 256 trits (0..2) read through `tritAt(e)`. */
function packBlock(bytes: Uint8Array, blockOffset: number, tritAt: (e: number) => number): void {
  for (let m = 0; m < 32; m++) {
    let q = 0;
    for (let n = 0; n < 5; n++) q = q * 3 + tritAt(m + 32 * n);
    bytes[blockOffset + m] = Math.floor((q * 256 + 242) / 243); // ceiling division by 243 = 3^5
  }
  for (let m = 0; m < 16; m++) {
    let q = 0;
    for (let n = 0; n < 5; n++) q = q * 3 + tritAt(160 + m + 16 * n);
    bytes[blockOffset + 32 + m] = Math.floor((q * 256 + 242) / 243);
  }
  for (let j = 0; j < 4; j++) {
    let q = 0;
    for (let n = 0; n < 4; n++) q = q * 3 + tritAt(240 + j + 4 * n);
    q *= 3; // the first trit moves to the most significant place of a 5-trit number
    bytes[blockOffset + QH + j] = Math.floor((q * 256 + 242) / 243);
  }
}

/**
 * TQ1_0 bytes of `values` (rows of `rowLength`, a multiple of 256), as quantize_row_tq1_0_ref:
 * per block d = max|x|, trit = lround(x * (1/d)) + 1 (f32); d stored as F16.
 */
export function quantizeTq1_0(values: Float32Array, rowLength: number): Uint8Array {
  requireRows('TQ1_0', values.length, rowLength, TQ1_0_BLOCK_ELEMENTS);
  const nBlocks = values.length / TQ1_0_BLOCK_ELEMENTS;
  const bytes = new Uint8Array(nBlocks * TQ1_0_BLOCK_BYTES);
  for (let b = 0; b < nBlocks; b++) {
    const first = b * TQ1_0_BLOCK_ELEMENTS;
    let amax = 0;
    for (let e = 0; e < TQ1_0_BLOCK_ELEMENTS; e++) amax = Math.max(amax, Math.abs(values[first + e]));
    const id = amax !== 0 ? Math.fround(1 / amax) : 0;
    const blockOffset = b * TQ1_0_BLOCK_BYTES;
    packBlock(bytes, blockOffset, (e) => roundHalfAway(Math.fround(values[first + e] * id)) + 1);
    writeF16(bytes, blockOffset + D, amax);
  }
  return bytes;
}

/** TQ1_0 bytes holding `codes` (-1/0/+1) with every block's d = F16(scale). */
export function packTq1_0(codes: Int8Array, scale: number, rowLength: number): Uint8Array {
  requireRows('TQ1_0', codes.length, rowLength, TQ1_0_BLOCK_ELEMENTS);
  requireTernaryCodes('TQ1_0', codes);
  requireFiniteScale('TQ1_0', scale);
  const nBlocks = codes.length / TQ1_0_BLOCK_ELEMENTS;
  const bytes = new Uint8Array(nBlocks * TQ1_0_BLOCK_BYTES);
  for (let b = 0; b < nBlocks; b++) {
    const first = b * TQ1_0_BLOCK_ELEMENTS;
    const blockOffset = b * TQ1_0_BLOCK_BYTES;
    packBlock(bytes, blockOffset, (e) => codes[first + e] + 1);
    writeF16(bytes, blockOffset + D, scale);
  }
  return bytes;
}

/** Decode one block's 256 trits - 1 into `out` at `o`, in element order (upstream's loop order). */
function unpackBlock(bytes: Uint8Array, blockOffset: number, out: Int8Array | Float32Array, o: number, d: number): void {
  let y = o;
  for (let n = 0; n < 5; n++) {
    for (let m = 0; m < 32; m++) out[y++] = (tq1_0Trit(bytes[blockOffset + m], n) - 1) * d;
  }
  for (let n = 0; n < 5; n++) {
    for (let m = 0; m < 16; m++) out[y++] = (tq1_0Trit(bytes[blockOffset + 32 + m], n) - 1) * d;
  }
  for (let n = 0; n < 4; n++) {
    for (let j = 0; j < 4; j++) out[y++] = (tq1_0Trit(bytes[blockOffset + QH + j], n) - 1) * d;
  }
}

/** The codes (-1/0/+1) of the first nElements elements. */
export function unpackTq1_0(bytes: Uint8Array, nElements: number): Int8Array {
  requireMultiple('TQ1_0', 'element count', nElements, TQ1_0_BLOCK_ELEMENTS);
  requireBytes('TQ1_0', bytes, (nElements / TQ1_0_BLOCK_ELEMENTS) * TQ1_0_BLOCK_BYTES);
  const codes = new Int8Array(nElements);
  for (let b = 0; b < nElements / TQ1_0_BLOCK_ELEMENTS; b++) unpackBlock(bytes, b * TQ1_0_BLOCK_BYTES, codes, b * TQ1_0_BLOCK_ELEMENTS, 1);
  return codes;
}

/** out[outOffset + i] = (trit - 1) * d for element firstElement + i, i < nElements (multiples of 256). */
export function dequantizeTq1_0(bytes: Uint8Array, nElements: number, out: Float32Array, outOffset = 0, firstElement = 0): void {
  requireMultiple('TQ1_0', 'element count', nElements, TQ1_0_BLOCK_ELEMENTS);
  requireMultiple('TQ1_0', 'first element', firstElement, TQ1_0_BLOCK_ELEMENTS);
  const firstBlock = firstElement / TQ1_0_BLOCK_ELEMENTS;
  const nBlocks = nElements / TQ1_0_BLOCK_ELEMENTS;
  requireBytes('TQ1_0', bytes, (firstBlock + nBlocks) * TQ1_0_BLOCK_BYTES);
  requireRoom('TQ1_0', 'out', out, outOffset, nElements);
  for (let b = 0; b < nBlocks; b++) {
    const blockOffset = (firstBlock + b) * TQ1_0_BLOCK_BYTES;
    unpackBlock(bytes, blockOffset, out, outOffset + b * TQ1_0_BLOCK_ELEMENTS, readF16(bytes, blockOffset + D));
  }
}

/**
 * sum_c w[row, c] * xq[c] as float64: sum over blocks of d * (integer dot of codes and xq), exact for
 * any F16 d. `cols` must be a multiple of 256; xq holds at least `cols` int8 values.
 */
export function dotTq1_0(bytes: Uint8Array, row: number, cols: number, xq: Int8Array, actScales?: Float64Array): number {
  requireMultiple('TQ1_0', 'row length', cols, TQ1_0_BLOCK_ELEMENTS);
  const blocksPerRow = cols / TQ1_0_BLOCK_ELEMENTS;
  requireRow('TQ1_0', row, Math.floor(bytes.length / (blocksPerRow * TQ1_0_BLOCK_BYTES)));
  requireRoom('TQ1_0', 'xq', xq, 0, cols);
  let sum = 0;
  for (let b = 0; b < blocksPerRow; b++) {
    const blockOffset = (row * blocksPerRow + b) * TQ1_0_BLOCK_BYTES;
    const x0 = b * TQ1_0_BLOCK_ELEMENTS;
    let acc = 0;
    for (let m = 0; m < 32; m++) {
      const byte = bytes[blockOffset + m];
      for (let n = 0; n < 5; n++) acc += (tq1_0Trit(byte, n) - 1) * xq[x0 + m + 32 * n];
    }
    for (let m = 0; m < 16; m++) {
      const byte = bytes[blockOffset + 32 + m];
      for (let n = 0; n < 5; n++) acc += (tq1_0Trit(byte, n) - 1) * xq[x0 + 160 + m + 16 * n];
    }
    for (let j = 0; j < 4; j++) {
      const byte = bytes[blockOffset + QH + j];
      for (let n = 0; n < 4; n++) acc += (tq1_0Trit(byte, n) - 1) * xq[x0 + 240 + j + 4 * n];
    }
    sum += readF16(bytes, blockOffset + D) * (actScales === undefined ? acc : acc * actScales[x0 >>> 8]);
  }
  return sum;
}
