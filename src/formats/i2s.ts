// I2_S tensors (bitnet.cpp fork only): 2-bit ternary codes in 128-element blocks of 32 bytes, then ONE f32
// per-tensor scale in a 32-byte tail. Source: microsoft/BitNet src/ggml-bitnet-mad.cpp (quantize_i2_s, the
// x86 QK_I2_S = 128 layout used by Microsoft's published GGUF; ggml_vec_dot_i2_i8_s reads it back).
//
// - Block k covers tensor elements 128k .. 128k + 127 (row-major, rows of ne[0]); byte p (0..31) of the
//   block holds elements p, 32 + p, 64 + p, 96 + p at bit shifts 6, 4, 2, 0.
// - Codes 0, 1, 2 mean -1, 0, +1; value = (code - 1) * scale. Code 3 is never written; it reads as +2, which
//   is what bitnet.cpp's kernels compute for it (they multiply the raw code and subtract the activation sum).
// - Byte size = n / 4 + 32: the f32 scale sits at byte n / 4 (little-endian), the other 28 tail bytes are padding.
// - Element counts: bitnet.cpp walks whole 128-element blocks only (a partial last block would be left as
//   code 0 = -1), and its dot product needs row lengths that are multiples of 128. We therefore refuse any
//   tensor whose element count is not a multiple of 128 (BAD_TENSOR_SHAPE) and any dot over rows whose
//   length is not a multiple of 128. (Newer ARM builds use 64-element blocks; that layout is not read here.)

import { BitNetError } from '../errors.js';
import { I2S_TAIL_BYTES } from './ggml-type.js';
import type { BlockLayout } from './layout.js';
import { readF32, writeF32 } from './f32.js';
import { requireFiniteScale, requireRows, requireTernaryCodes } from './ternary-common.js';
import { requireBytes, requireMultiple, requireRoom, requireRow } from './validate.js';

export { I2S_TAIL_BYTES };
export const I2S_BLOCK_ELEMENTS = 128;
export const I2S_BLOCK_BYTES = 32;

export const I2S_LAYOUT: BlockLayout = [
  { name: 'qs', byteOffset: 0, byteLength: 32, meaning: 'byte p: element p at bits 6-7, 32 + p at 4-5, 64 + p at 2-3, 96 + p at 0-1; codes 0,1,2 = -1,0,+1' },
];

/** The tail after the last block (at byte n / 4). */
export const I2S_TAIL_LAYOUT: BlockLayout = [
  { name: 'scale', byteOffset: 0, byteLength: 4, meaning: 'f32 per-tensor scale: value = (code - 1) * scale' },
  { name: 'padding', byteOffset: 4, byteLength: 28, meaning: 'unused (bitnet.cpp pads to 32 bytes for alignment)' },
];

/** Weights whose magnitude is below this become code 0 in quantize_i2_s. */
export const I2S_ZERO_THRESHOLD = 1e-6;

/** Bytes of an I2_S tensor of nElements (a multiple of 128). */
export function i2sByteSize(nElements: number): number {
  requireMultiple('I2_S', 'element count', nElements, I2S_BLOCK_ELEMENTS);
  return nElements / 4 + I2S_TAIL_BYTES;
}

/** Byte (from the tensor start) and bit shift of element e. */
export function i2sPosition(e: number): { byteIndex: number; shift: number } {
  const within = e & 127;
  return { byteIndex: (e >>> 7) * I2S_BLOCK_BYTES + (within & 31), shift: 6 - 2 * (within >>> 5) };
}

/** The per-tensor scale of an I2_S tensor of nElements elements. */
export function i2sScale(bytes: Uint8Array, nElements: number): number {
  requireBytes('I2_S', bytes, i2sByteSize(nElements));
  return readF32(bytes, nElements / 4);
}

/** Element count of a tensor whose exact bytes are `bytes` (the layout puts the scale at byteLength - 32). */
function elementsOf(bytes: Uint8Array): number {
  const nElements = (bytes.length - I2S_TAIL_BYTES) * 4;
  requireMultiple('I2_S', 'element count (from the byte length)', nElements, I2S_BLOCK_ELEMENTS);
  return nElements;
}

/**
 * I2_S bytes of `values` as bitnet.cpp quantize_i2_s: scale = max|w| over the whole tensor (computed in
 * double, stored as f32); code = 0 when |w| < 1e-6, else the sign of w (+1 or -1). The weights are meant
 * to be ternary already ({-s, 0, +s}); any other magnitude collapses to its sign.
 */
export function quantizeI2s(values: Float32Array, rowLength: number): Uint8Array {
  requireRows('I2_S', values.length, rowLength, I2S_BLOCK_ELEMENTS);
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  const codes = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const w = values[i];
    codes[i] = Math.abs(w) < I2S_ZERO_THRESHOLD ? 0 : w * max > 0 ? 1 : -1;
  }
  return packI2s(codes, max, rowLength);
}

/** I2_S bytes holding `codes` (-1/0/+1) and the f32 `scale`. */
export function packI2s(codes: Int8Array, scale: number, rowLength: number): Uint8Array {
  requireRows('I2_S', codes.length, rowLength, I2S_BLOCK_ELEMENTS);
  requireTernaryCodes('I2_S', codes);
  requireFiniteScale('I2_S', scale);
  const bytes = new Uint8Array(i2sByteSize(codes.length));
  for (let e = 0; e < codes.length; e++) {
    const at = i2sPosition(e);
    bytes[at.byteIndex] |= (codes[e] + 1) << at.shift;
  }
  writeF32(bytes, codes.length / 4, scale);
  return bytes;
}

/** The codes of an I2_S tensor of nElements (a multiple of 128); code 3 reads as +2 (see the header). */
export function unpackI2s(bytes: Uint8Array, nElements: number): Int8Array {
  requireBytes('I2_S', bytes, i2sByteSize(nElements));
  const codes = new Int8Array(nElements);
  for (let e = 0; e < nElements; e++) {
    const at = i2sPosition(e);
    codes[e] = ((bytes[at.byteIndex] >>> at.shift) & 3) - 1;
  }
  return codes;
}

/**
 * out[outOffset + i] = (code - 1) * scale for element firstElement + i, i < count, of an I2_S tensor of
 * nElements. `count` defaults to all of them.
 */
export function dequantizeI2s(bytes: Uint8Array, nElements: number, out: Float32Array, outOffset = 0, firstElement = 0, count = nElements - firstElement): void {
  const scale = i2sScale(bytes, nElements);
  if (!Number.isInteger(firstElement) || !Number.isInteger(count) || firstElement < 0 || count < 0 || firstElement + count > nElements) {
    throw new BitNetError('BAD_ARGUMENT', `I2_S: elements ${firstElement}..${firstElement + count - 1} are outside the tensor's ${nElements}`, {
      details: { type: 'I2_S', firstElement, count, nElements },
    });
  }
  requireRoom('I2_S', 'out', out, outOffset, count);
  for (let i = 0; i < count; i++) {
    const at = i2sPosition(firstElement + i);
    out[outOffset + i] = (((bytes[at.byteIndex] >>> at.shift) & 3) - 1) * scale;
  }
}

/**
 * sum_c w[row, c] * xq[c] as float64 = scale * (integer dot of codes and xq), exact (f32 scale x int).
 * `bytes` must be exactly the tensor's bytes (the scale is read at byteLength - 32); `cols` a multiple of 128.
 */
export function dotI2s(bytes: Uint8Array, row: number, cols: number, xq: Int8Array, actScales?: Float64Array): number {
  requireMultiple('I2_S', 'row length', cols, I2S_BLOCK_ELEMENTS);
  const nElements = elementsOf(bytes);
  requireRow('I2_S', row, Math.floor(nElements / cols));
  requireRoom('I2_S', 'xq', xq, 0, cols);
  const blocksPerRow = cols / I2S_BLOCK_ELEMENTS;
  let acc = 0;
  for (let b = 0; b < blocksPerRow; b++) {
    const blockOffset = (row * blocksPerRow + b) * I2S_BLOCK_BYTES;
    const x0 = b * I2S_BLOCK_ELEMENTS;
    let blockAcc = 0;
    for (let p = 0; p < 32; p++) {
      const byte = bytes[blockOffset + p];
      blockAcc +=
        ((byte >>> 6) - 1) * xq[x0 + p] +
        (((byte >>> 4) & 3) - 1) * xq[x0 + 32 + p] +
        (((byte >>> 2) & 3) - 1) * xq[x0 + 64 + p] +
        ((byte & 3) - 1) * xq[x0 + 96 + p];
    }
    acc += actScales === undefined ? blockAcc : blockAcc * actScales[x0 >>> 8];
  }
  return readF32(bytes, nElements / 4) * acc;
}
