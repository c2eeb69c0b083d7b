// The I2_S "flavors": every byte layout found in the wild under ggml type 36, with pack / unpack and the repack
// into the x86 layout (formats/i2s.ts) that every backend runs. Nothing in a GGUF file names the flavor; the
// loader tells some apart by tensor byte size (model/ternary-layout.ts) and takes the rest from an option.
//
// Sources (read for facts, no code copied):
// - x86, arm, x86-4row: microsoft/BitNet src/ggml-bitnet-mad.cpp, quantize_i2_s (commit 16da220, 2026-05).
//   QK_I2_S is 128 on AVX/SSSE3 builds and 64 on ARM NEON builds; with ACT_PARALLEL undefined (a gemm-config.h
//   written by utils/tune_gemm_config.py) x86 builds pack four rows per byte instead. All three end with ONE f32
//   scale at byte n / 4 and pad to n / 4 + 32 bytes (same size: the size cannot tell them apart).
// - bitnet32-f16, split32, qk256: EffortlessMetrics/BitNet-rs (commit f2ae3ad, 2026-03):
//   crates/bitnet-models/src/formats/gguf/types.rs (I2SFlavor, detect_i2s_flavor: sizes 10 B per 32, 8 B per 32 with
//   a sibling scale tensor, 64 B per 256), crates/bitnet-models/src/gguf_simple.rs (the inline-f16 reader: 8 code
//   bytes then the f16 scale; the split reader: 8 code bytes per 32, one scale per block in find_sibling_scale's tensor),
//   crates/bitnet-quantization/src/utils.rs (pack_2bit_values: four consecutive values per byte, lowest bits
//   first, code = value + 2), crates/bitnet-quantization/src/i2s_qk256.rs (unpack_qk256_block: byte i holds
//   elements 4i..4i+3 at bits 0-1, 2-3, 4-5, 6-7) and docs/explanation/i2s-dual-flavor.md (QK256 scales live in a
//   separate tensor, one per 256-element block).
//   Code meaning of qk256: BitNet-rs decodes its codes with the table {-2, -1, +1, +2} (borrowed from an IQ2_S
//   stand-in in its vendored ggml shim, crates/bitnet-ggml-ffi/csrc/ggml/src/ggml-quants.c), which has no zero and
//   so cannot hold BitNet b1.58 ternary weights. We read qk256 codes as the type id says, bitnet.cpp's I2_S
//   meaning 0, 1, 2 = -1, 0, +1: the only reading under which a ternary model fits the layout. bitnet32-f16 and
//   split32 keep the meaning of BitNet-rs's own writer and of gguf_simple.rs's reader (code - 2).
//   split32 and qk256 tensors have the same size (n/4); the element count of their scale tensor tells them apart
//   (BitNet-rs itself takes any exact n/4 tensor for QK256).

import { BitNetError } from '../errors.js';
import { readF16, roundToF16, writeF16 } from './f16.js';
import { readF32, writeF32 } from './f32.js';
import { I2S_TAIL_BYTES } from './ggml-type.js';
import { I2S_BLOCK_ELEMENTS, i2sByteSize, i2sPosition } from './i2s.js';
import type { BlockLayout } from './layout.js';
import { requireFiniteScale, requireRows, requireTernaryCodes } from './ternary-common.js';
import { requireBytes, requireMultiple } from './validate.js';

/** The I2_S byte layouts this engine reads. */
export type I2sFlavor = 'x86' | 'arm' | 'x86-4row' | 'bitnet32-f16' | 'split32' | 'qk256';
export const I2S_FLAVORS: readonly I2sFlavor[] = ['x86', 'arm', 'x86-4row', 'bitnet32-f16', 'split32', 'qk256'];
/** LoadOptions.i2sFlavor / --i2s-flavor: 'auto' decides from the file where it can and assumes x86 otherwise. */
export type I2sFlavorOption = 'auto' | I2sFlavor;
export const I2S_FLAVOR_OPTIONS: readonly I2sFlavorOption[] = ['auto', ...I2S_FLAVORS];

export interface I2sFlavorSpec {
  readonly flavor: I2sFlavor;
  /** Elements per block (the unit a tensor's element count must be a multiple of). */
  readonly blockElements: number;
  /** Bytes per block, inline scale included. */
  readonly blockBytes: number;
  /** Where the scale lives. */
  readonly scale: 'f32 tail per tensor' | 'f16 per block' | 'separate tensor per block';
  readonly description: string;
  readonly layout: BlockLayout;
}

export const I2S_FLAVOR_SPECS: Readonly<Record<I2sFlavor, I2sFlavorSpec>> = {
  x86: {
    flavor: 'x86',
    blockElements: 128,
    blockBytes: 32,
    scale: 'f32 tail per tensor',
    description: 'bitnet.cpp x86 build (QK_I2_S = 128, Microsoft\'s published GGUF)',
    layout: [{ name: 'qs', byteOffset: 0, byteLength: 32, meaning: 'byte p: elements p, 32+p, 64+p, 96+p at bits 6, 4, 2, 0; codes 0,1,2 = -1,0,+1' }],
  },
  arm: {
    flavor: 'arm',
    blockElements: 64,
    blockBytes: 16,
    scale: 'f32 tail per tensor',
    description: 'bitnet.cpp ARM NEON build (QK_I2_S = 64)',
    layout: [{ name: 'qs', byteOffset: 0, byteLength: 16, meaning: 'byte p: elements p, 16+p, 32+p, 48+p at bits 6, 4, 2, 0; codes 0,1,2 = -1,0,+1' }],
  },
  'x86-4row': {
    flavor: 'x86-4row',
    blockElements: 4, // one byte: column c of four consecutive rows
    blockBytes: 1,
    scale: 'f32 tail per tensor',
    description: 'bitnet.cpp x86 build without ACT_PARALLEL (quantize_i2_s_1x4: rows 4r..4r+3 of a column per byte)',
    layout: [{ name: 'q', byteOffset: 0, byteLength: 1, meaning: 'byte (r/4)*cols + c: rows 4(r/4)..+3 of column c at bits 6, 4, 2, 0; codes 0,1,2 = -1,0,+1' }],
  },
  'bitnet32-f16': {
    flavor: 'bitnet32-f16',
    blockElements: 32,
    blockBytes: 10,
    scale: 'f16 per block',
    description: 'BitNet-rs BitNet32F16 (32-element blocks, inline f16 scale)',
    layout: [
      { name: 'qs', byteOffset: 0, byteLength: 8, meaning: 'byte i: elements 4i..4i+3 at bits 0, 2, 4, 6; value = (code - 2) * d (codes 1,2,3 = -1,0,+1)' },
      { name: 'd', byteOffset: 8, byteLength: 2, meaning: 'f16 block scale' },
    ],
  },
  split32: {
    flavor: 'split32',
    blockElements: 32,
    blockBytes: 8,
    scale: 'separate tensor per block',
    description: 'BitNet-rs Split32WithSibling (32-element blocks, scales in a separate tensor)',
    layout: [{ name: 'qs', byteOffset: 0, byteLength: 8, meaning: 'byte i: elements 4i..4i+3 at bits 0, 2, 4, 6; value = (code - 2) * scale (codes 1,2,3 = -1,0,+1)' }],
  },
  qk256: {
    flavor: 'qk256',
    blockElements: 256,
    blockBytes: 64,
    scale: 'separate tensor per block',
    description: 'BitNet-rs GgmlQk256NoScale (256-element blocks, scales in a separate tensor)',
    layout: [{ name: 'qs', byteOffset: 0, byteLength: 64, meaning: 'byte i: elements 4i..4i+3 at bits 0, 2, 4, 6; codes 0,1,2 = -1,0,+1 (see the header)' }],
  },
};

/** Bytes a tensor of nElements takes in `flavor` (split32, qk256: the codes only; their scales are another tensor). */
export function i2sFlavorByteSize(flavor: I2sFlavor, nElements: number): number {
  const spec = I2S_FLAVOR_SPECS[flavor];
  requireMultiple(`I2_S ${flavor}`, 'element count', nElements, spec.blockElements);
  const blocks = (nElements / spec.blockElements) * spec.blockBytes;
  return spec.scale === 'f32 tail per tensor' ? blocks + I2S_TAIL_BYTES : blocks;
}

/** Blocks of a tensor: the scale count split32 and qk256 keep in a separate tensor. */
export function i2sBlockCount(flavor: I2sFlavor, nElements: number): number {
  return Math.floor(nElements / I2S_FLAVOR_SPECS[flavor].blockElements);
}

/** Byte index and bit shift of element e (row-major, rows of rowLength) in `flavor`'s code bytes. */
export function i2sFlavorPosition(flavor: I2sFlavor, e: number, rowLength: number): { byteIndex: number; shift: number } {
  switch (flavor) {
    case 'x86':
      return i2sPosition(e);
    case 'arm': {
      const within = e & 63;
      return { byteIndex: (e >>> 6) * 16 + (within & 15), shift: 6 - 2 * (within >>> 4) };
    }
    case 'x86-4row': {
      const row = Math.floor(e / rowLength);
      return { byteIndex: (row >>> 2) * rowLength + (e - row * rowLength), shift: 6 - 2 * (row & 3) };
    }
    case 'bitnet32-f16':
      return { byteIndex: (e >>> 5) * 10 + ((e & 31) >>> 2), shift: 2 * (e & 3) };
    case 'split32': // 8-byte blocks of four consecutive codes per byte: the same positions as qk256's
    case 'qk256':
      return { byteIndex: e >>> 2, shift: 2 * (e & 3) };
  }
}

/** What each stored 2-bit code means: value = (code - offset) * scale. */
function codeOffset(flavor: I2sFlavor): number {
  return flavor === 'bitnet32-f16' || flavor === 'split32' ? 2 : 1;
}

function checkShape(flavor: I2sFlavor, nElements: number, rowLength: number): void {
  const name = `I2_S ${flavor}`;
  requireRows(name, nElements, rowLength, 1);
  requireMultiple(name, 'element count', nElements, I2S_FLAVOR_SPECS[flavor].blockElements);
  if (flavor === 'x86-4row') requireMultiple(name, 'row count', nElements / rowLength, 4);
}

export interface I2sFlavorBytes {
  /** The tensor's bytes in the flavor. */
  readonly bytes: Uint8Array;
  /** split32 and qk256: the separate scale tensor's values, one per block. */
  readonly blockScales?: Float32Array;
}

/**
 * `codes` (-1/0/+1, rows of rowLength) and `scale` in `flavor`, as that flavor's writer lays them out. bitnet32-f16
 * stores the scale in f16 (it must be exact there) and, like BitNet-rs's quantizer (calculate_scale), 1.0 for a
 * block of zeros, as does split32 (in its separate scales); qk256 gives every block the same scale.
 */
export function packI2sFlavor(flavor: I2sFlavor, codes: Int8Array, scale: number, rowLength: number): I2sFlavorBytes {
  const name = `I2_S ${flavor}`;
  checkShape(flavor, codes.length, rowLength);
  requireTernaryCodes(name, codes);
  requireFiniteScale(name, scale);
  const n = codes.length;
  const bytes = new Uint8Array(i2sFlavorByteSize(flavor, n));
  const offset = codeOffset(flavor);
  for (let e = 0; e < n; e++) {
    const at = i2sFlavorPosition(flavor, e, rowLength);
    bytes[at.byteIndex] |= (codes[e] + offset) << at.shift;
  }
  const spec = I2S_FLAVOR_SPECS[flavor];
  if (spec.scale === 'f32 tail per tensor') {
    writeF32(bytes, n / 4, scale);
    return { bytes };
  }
  if (flavor === 'qk256') return { bytes, blockScales: new Float32Array(n / 256).fill(scale) };
  const zeroBlockScales = (blockElements: number): Float32Array => {
    const scales = new Float32Array(n / blockElements);
    for (let b = 0; b < scales.length; b++) {
      let zero = true;
      for (let i = 0; i < blockElements && zero; i++) zero = codes[b * blockElements + i] === 0;
      scales[b] = zero ? 1 : scale;
    }
    return scales;
  };
  if (flavor === 'split32') return { bytes, blockScales: zeroBlockScales(32) };
  if (roundToF16(scale) !== scale) {
    throw new BitNetError('BAD_ARGUMENT', `${name}: scale ${scale} is not exact in f16`, { details: { type: name, field: 'scale', actual: scale } });
  }
  zeroBlockScales(32).forEach((s, b) => writeF16(bytes, b * 10 + 8, s));
  return { bytes };
}

/** The x86 I2_S bytes (formats/i2s.ts) of a tensor stored in `flavor`, and the one scale it carries. */
export interface I2sRepacked {
  readonly bytes: Uint8Array;
  readonly scale: number;
}

/**
 * Repacks a tensor of `flavor` into the x86 I2_S layout. `blockScales` (split32, qk256: required) holds one scale per block.
 * The kernels take one scale per tensor, so per-block scales must agree on every block that holds a nonzero code
 * (true of BitNet b1.58 weights, whose magnitude is per tensor); otherwise UNSUPPORTED_TENSOR_TYPE. Codes keep
 * their meaning: code 3 of the I2_S flavors (never written) stays code 3 (+2, as bitnet.cpp computes it);
 * code 0 of bitnet32-f16 and split32 (-2, not ternary) is refused as BAD_TENSOR_DATA.
 */
export function repackI2sFlavor(flavor: I2sFlavor, bytes: Uint8Array, nElements: number, rowLength: number, blockScales?: ArrayLike<number>, tensorName = '?'): I2sRepacked {
  const name = `I2_S ${flavor} tensor '${tensorName}'`;
  checkShape(flavor, nElements, rowLength);
  requireMultiple(name, 'element count (the x86 layout the kernels run)', nElements, I2S_BLOCK_ELEMENTS);
  requireBytes(name, bytes, i2sFlavorByteSize(flavor, nElements));
  const scale = flavorScale(flavor, bytes, nElements, blockScales, name);
  const out = new Uint8Array(i2sByteSize(nElements));
  if (flavor === 'x86') out.set(bytes.subarray(0, nElements / 4));
  else if (!repackFast(flavor, bytes, nElements, rowLength, out)) repackReference(flavor, bytes, nElements, rowLength, out, name);
  writeF32(out, nElements / 4, scale);
  return { bytes: out, scale };
}

function notTernary(name: string, flavor: I2sFlavor, e: number, code: number): BitNetError {
  return new BitNetError('BAD_TENSOR_DATA', `${name}: element ${e} holds code ${code} (value ${code - codeOffset(flavor)}), not a ternary weight`, {
    details: { flavor, element: e, code },
  });
}

/** The per-element repack: positions from the layout functions above. Slow (a position call per weight); the fast
 * paths below fall back to it for shapes they do not cover and to report the first non-ternary code exactly. */
function repackReference(flavor: I2sFlavor, bytes: Uint8Array, nElements: number, rowLength: number, out: Uint8Array, name: string): void {
  out.fill(0, 0, nElements / 4);
  const offset = codeOffset(flavor);
  for (let e = 0; e < nElements; e++) {
    const at = i2sFlavorPosition(flavor, e, rowLength);
    const code = (bytes[at.byteIndex] >>> at.shift) & 3;
    if (code < offset - 1) throw notTernary(name, flavor, e, code);
    const to = i2sPosition(e);
    out[to.byteIndex] |= (code - offset + 1) << to.shift;
  }
}

// The fast repacks write the x86 layout one 32-bit word (four code bytes, positions p..p+3 of a 128-element block) at
// a time. Byte p of an x86 block holds elements p, 32+p, 64+p, 96+p at shifts 6, 4, 2, 0, so a word is four
// groups of four elements, each group shifted into its bit pair of every byte lane. Every operation below keeps each
// byte lane apart (masks before shifts of at most 6 bits within a lane), so the results do not depend on the
// platform's byte order, and the lane tables are built through a byte view of the same word for the same reason.

/**
 * Per source byte of a four-elements-per-byte flavor (element 4i+j at bits 2j): its four x86 codes, one per byte
 * lane, or'ed with NOT_TERNARY where the byte holds a code that is not ternary in the flavor (code 0 of bitnet32-f16
 * and split32). Lane values stay below 4, so the flag bit (bit 7 of the last lane) is never a code's.
 */
const NOT_TERNARY = 0x80000000;
const quadLaneTables = new Map<number, Uint32Array>();

function quadLanes(offset: number): Uint32Array {
  let lanes = quadLaneTables.get(offset);
  if (lanes === undefined) {
    lanes = new Uint32Array(256);
    const word = new Uint32Array(1);
    const laneBytes = new Uint8Array(word.buffer);
    for (let byte = 0; byte < 256; byte++) {
      let bad = false;
      for (let j = 0; j < 4; j++) {
        const code = (byte >>> (2 * j)) & 3;
        if (code < offset - 1) bad = true;
        laneBytes[j] = (code - offset + 1) & 3;
      }
      lanes[byte] = bad ? (word[0] ?? 0) | NOT_TERNARY : (word[0] ?? 0);
    }
    quadLaneTables.set(offset, lanes);
  }
  return lanes;
}

/**
 * Repacks into `out` (zeroed) a word at a time where the flavor and shape allow; false when it did not (a shape the
 * fast paths do not cover, or a non-ternary code somewhere: the reference repack then reports the first one).
 */
function repackFast(flavor: I2sFlavor, bytes: Uint8Array, nElements: number, rowLength: number, out: Uint8Array): boolean {
  const out32 = new Uint32Array(out.buffer, out.byteOffset, nElements / 16);
  switch (flavor) {
    case 'x86':
      return false;
    case 'bitnet32-f16':
    case 'split32':
    case 'qk256':
      return repackQuads(flavor, bytes, nElements, out32);
    case 'arm':
      repackArm(aligned(bytes, nElements / 4), nElements, out32);
      return true;
    case 'x86-4row':
      if (rowLength % I2S_BLOCK_ELEMENTS !== 0) return false;
      repackFourRow(aligned(bytes, nElements / 4), nElements / rowLength, rowLength, out32);
      return true;
  }
}

/** The first `byteLength` bytes of `bytes` as 32-bit words (copied when they do not start on a 4-byte boundary). */
function aligned(bytes: Uint8Array, byteLength: number): Uint32Array {
  const at = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice(0, byteLength);
  return new Uint32Array(at.buffer, at.byteOffset, byteLength / 4);
}

/**
 * bitnet32-f16, split32, qk256: x86 word w of block b takes the source bytes of quads w, w+8, w+16, w+24 (elements
 * 4w+32g..+3 for g = 0..3). qk256 and split32 keep a block's 32 quad bytes together; bitnet32-f16 puts 8 of them
 * in each 10-byte block (its f16 scale after them).
 */
function repackQuads(flavor: I2sFlavor, bytes: Uint8Array, nElements: number, out32: Uint32Array): boolean {
  const lanes = quadLanes(codeOffset(flavor));
  const nBlocks = nElements / I2S_BLOCK_ELEMENTS;
  const groupStride = flavor === 'bitnet32-f16' ? 10 : 8; // source bytes from quad i to quad i + 8
  let flags = 0;
  for (let b = 0, o = 0, s = 0; b < nBlocks; b++, s += 4 * groupStride) {
    for (let w = 0; w < 8; w++, o++) {
      const l0 = lanes[bytes[s + w]];
      const l1 = lanes[bytes[s + groupStride + w]];
      const l2 = lanes[bytes[s + 2 * groupStride + w]];
      const l3 = lanes[bytes[s + 3 * groupStride + w]];
      flags |= l0 | l1 | l2 | l3;
      out32[o] = (l0 << 6) | (l1 << 4) | (l2 << 2) | l3;
    }
  }
  return (flags & NOT_TERNARY) === 0;
}

/**
 * arm: an x86 block is two 16-byte ARM blocks A, B (byte p holds elements p, 16+p, 32+p, 48+p at shifts 6, 4, 2, 0).
 * x86 byte p < 16 takes A[p] bits 7-6 and 3-2, then B[p]'s; byte 16 + p takes bits 5-4 and 1-0 of A[p], then B[p]'s.
 */
function repackArm(src32: Uint32Array, nElements: number, out32: Uint32Array): void {
  const nBlocks = nElements / I2S_BLOCK_ELEMENTS;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 8) {
    for (let w = 0; w < 4; w++) {
      const a = src32[o + w];
      const c = src32[o + 4 + w];
      out32[o + w] = (a & 0xc0c0c0c0) | ((a & 0x0c0c0c0c) << 2) | ((c & 0xc0c0c0c0) >>> 4) | ((c & 0x0c0c0c0c) >>> 2);
      out32[o + 4 + w] = ((a & 0x30303030) << 2) | ((a & 0x03030303) << 4) | ((c & 0x30303030) >>> 2) | (c & 0x03030303);
    }
  }
}

/**
 * x86-4row: byte q*cols + c holds column c of rows 4q..4q+3 at shifts 6, 4, 2, 0. For rows 4q+j and the x86 word w of
 * column block cb, source words w, w+8, w+16, w+24 of that column block give the four element groups.
 */
function repackFourRow(src32: Uint32Array, rows: number, cols: number, out32: Uint32Array): void {
  const rowWords = cols / 16;
  for (let q = 0; q < rows / 4; q++) {
    const srcRow = q * (cols / 4);
    const outRow = 4 * q * rowWords;
    for (let cb = 0; cb < cols; cb += I2S_BLOCK_ELEMENTS) {
      for (let w = 0; w < 8; w++) {
        const s = srcRow + cb / 4 + w;
        const g0 = src32[s];
        const g1 = src32[s + 8];
        const g2 = src32[s + 16];
        const g3 = src32[s + 24];
        const o = outRow + cb / 16 + w;
        for (let j = 0, shift = 6; j < 4; j++, shift -= 2) {
          out32[o + j * rowWords] =
            (((g0 >>> shift) & 0x03030303) << 6) | (((g1 >>> shift) & 0x03030303) << 4) | (((g2 >>> shift) & 0x03030303) << 2) | ((g3 >>> shift) & 0x03030303);
        }
      }
    }
  }
}

/** The one scale of a tensor: its f32 tail, or the per-block scales when they agree wherever a block is nonzero. */
function flavorScale(flavor: I2sFlavor, bytes: Uint8Array, nElements: number, blockScales: ArrayLike<number> | undefined, name: string): number {
  const spec = I2S_FLAVOR_SPECS[flavor];
  if (spec.scale === 'f32 tail per tensor') return readF32(bytes, nElements / 4);
  const nBlocks = nElements / spec.blockElements;
  const inline = flavor === 'bitnet32-f16';
  if (!inline && (blockScales === undefined || blockScales.length !== nBlocks)) {
    throw new BitNetError('BAD_TENSOR_DATA', `${name}: needs ${nBlocks} block scales (one per ${spec.blockElements} elements), got ${blockScales?.length ?? 'none'}`, {
      details: { flavor, expected: nBlocks, actual: blockScales?.length ?? 0 },
    });
  }
  const zeroByte = codeOffset(flavor) === 2 ? 0xaa : 0x55; // every code meaning 0
  const codeBytes = spec.blockElements / 4;
  let scale: number | undefined;
  let first = -1;
  for (let b = 0, at = 0; b < nBlocks; b++, at += spec.blockBytes) {
    // blockScales is defined here unless the flavor is bitnet32-f16 (checked above)
    const s = inline ? readF16(bytes, at + 8) : (blockScales?.[b] ?? NaN);
    if (s === scale) continue; // the common case: finite, and the tensor's scale already
    if (!Number.isFinite(s)) {
      throw new BitNetError('BAD_TENSOR_DATA', `${name}: block ${b} has a non-finite scale (${s})`, { details: { flavor, block: b } });
    }
    let zero = true;
    for (let i = 0; i < codeBytes && zero; i++) zero = bytes[at + i] === zeroByte;
    if (zero) continue;
    if (scale === undefined) {
      scale = s;
      first = b;
    } else {
      throw new BitNetError(
        'UNSUPPORTED_TENSOR_TYPE',
        `${name}: block ${b} has scale ${s} but block ${first} has ${scale}; the engine's ternary kernels take one scale per tensor (BitNet b1.58 weights have one)`,
        { details: { flavor, block: b, scale: s, firstBlock: first, firstScale: scale } },
      );
    }
  }
  if (scale !== undefined || nBlocks === 0) return scale ?? 0;
  return inline ? readF16(bytes, 8) : (blockScales?.[0] ?? NaN);
}

/**
 * The byte sizes an I2_S tensor of nElements can have, one per distinct size: the x86 / ARM / x86-4row tail
 * layouts (n/4 + 32, what tensorByteSize gives), qk256 / split32 (n/4) and bitnet32-f16 (10 bytes per 32). The GGUF reader
 * picks the one that fits the gap before the next tensor (gguf/reader.ts).
 */
export function i2sStoredSizes(nElements: number): { readonly flavors: readonly I2sFlavor[]; readonly byteSize: number }[] {
  const sizes: { flavors: I2sFlavor[]; byteSize: number }[] = [];
  if (nElements % 4 === 0) sizes.push({ flavors: ['x86', 'arm', 'x86-4row'], byteSize: nElements / 4 + I2S_TAIL_BYTES });
  if (nElements % 32 === 0) sizes.push({ flavors: nElements % 256 === 0 ? ['split32', 'qk256'] : ['split32'], byteSize: nElements / 4 });
  if (nElements % 32 === 0) sizes.push({ flavors: ['bitnet32-f16'], byteSize: (nElements / 32) * 10 });
  return sizes;
}
