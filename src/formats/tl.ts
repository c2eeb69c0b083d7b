// TL1 / TL2 (bitnet.cpp fork only; ggml type ids 38 and 39 in its ggml.h): the lookup-table layouts bitnet.cpp's
// converter writes for its ARM (TL1) and x86 (TL2) LUT kernels. The engine does not run them: the loader repacks
// them as x86 I2_S (formats/i2s.ts) with repackTlToI2s below; packTl / unpackTl are the readable reference.
//
// Sources (read for facts, no code copied), microsoft/BitNet commit 16da220:
// - utils/convert-hf-to-gguf-bitnet.py: preprocess_weights_tl1 / process_tl1, preprocess_weights_tl2 /
//   preprocess_three_weights_tl2 / preprocess_two_weights_tl2 (the byte order below), transform_to_tl1/tl2 (the
//   scale is max|w| of the ternarized tensor, written as a separate F32 tensor '<name>_scale' right after it);
// - utils/codegen_tl1.py, utils/codegen_tl2.py (kernel_config.ini: per weight shape m x k the tiles bm = BM,
//   bk = BK, bmm = bm; TL1 bm in {32, 64}, TL2 bm = 32 and K % BK % 32 == 0; the transform code reads the scale at
//   byte m*k/4 (TL1) or at the TL2 size below rounded up to 32);
// - setup_env.py (the codegen arguments per model, which the converter then reads back from kernel_config.ini);
// - Eddie-Wang1120/llama.cpp branch merge-dev (bitnet.cpp's fork) ggml/src/ggml.c ggml_nbytes: TL1 = m*k/4 + 32,
//   TL2 = ((k - 256) * m / 3 * 5 / 8 + 256 * m / 2 * 4 / 8) rounded up to 32, + 32.
// The kernel side agrees: codegen_tl1.py gen_body_core_code reads 16 rows per 16-byte load, the high nibble for the
// first pair of four columns and the low one for the second (checked for bm = 32 against the hand test in tl.test.ts);
// codegen_tl2.py three_tbl_impl takes sign bits 15 - 4j .. 15 - 4j - 3 of each u16 word for the two triples of index
// tile j (rows 0-15, then 16-31) and reads bytes 0-7 + 16-23 as rows 0-15, which is what the group swap arranges; it
// finds each (row block, BK block) at k_outer * BK/6 * BM index bytes and k_outer * BK/24 * BM sign bytes.
// The GGUF records none of the tile sizes, so they come from the caller (a kernel_config.ini sidecar) or, for the
// shapes of the models setup_env.py knows, from its codegen arguments (TL_PRESET_TILES).
//
// Layout, for a weight W of m rows (ne[1]) by k columns (ne[0]), ternary w in {-1, 0, +1}:
// TL1: pairs along a row become one nibble 3*w[r][2j] + w[r][2j+1] + 4 (0..8). by = 256 / bm. For tile indices
//   i0 < m/BM, i1 < k/BK, i2 < BM/bm, i3 < BK/by, i4 < bm/16, i5 < by/4, r < 16 (this nesting order, r fastest),
//   the next byte holds row i0*BM + i2*bm + i4*16 + r, columns c..c+3 with c = i1*BK + i3*by + 4*i5: the pair
//   (c, c+1) in the high nibble and (c+2, c+3) in the low one. m*k/4 bytes.
// TL2: columns k3 = k - k % BK use triples: v = 9*w[c] + 3*w[c+1] + w[c+2] (-13..13) stored as |v| (a nibble) and a
//   sign bit (1 when v < 0); bm = 32, by = 6. Then
//   (a) index bytes, tiles i0 < m/BM, i1 < k3/BK, i2 < BM/32, i3 < BK/6, 32 bytes each: byte p holds row
//       i0*BM + i2*32 + r with r = G[p >> 3]*8 + (p & 7), G = [0, 2, 1, 3] (the middle two groups of 8 swapped),
//       |v| of columns c = i1*BK + 6*i3 in the high nibble and of c + 3 in the low one;
//   (b) sign words, groups i0, i1, i2, i4 < BK/24, 16 little-endian u16 each: bit 15 - i of word q is the sign of
//       row i0*BM + i2*32 + (i & 1)*16 + q, columns i1*BK + 24*i4 + 3*(i >> 1);
//   (c) the k % BK last columns (a multiple of 32) as TL1 pairs in tiles i0 < m/BM, i1 < (k%BK)/32, i2 < BM/32,
//       i3 < 8, 32 bytes each: byte p holds row i0*BM + i2*32 + r (r as in (a)), pair columns c = k3 + 32*i1 + 4*i3
//       (high nibble) and c + 2 (low);
//   (d) zero bytes up to (k - 256)*m//3*5//8 + 256*m//2*4//8 (Python floor divisions, left to right).

import { BitNetError } from '../errors.js';
import { I2S_BLOCK_ELEMENTS, i2sByteSize, packI2s } from './i2s.js';
import { requireTernaryCodes } from './ternary-common.js';
import { requireBytes } from './validate.js';

export type TlType = 'TL1' | 'TL2';

/** One kernel_config.ini section: tiles for weights of m rows and k columns (the file's key names). */
export interface TlTiles {
  readonly m: number;
  readonly k: number;
  /** BM: rows per tile. */
  readonly bm: number;
  /** BK: columns per tile. */
  readonly bk: number;
  /** bm: rows per SIMD block. */
  readonly bmm: number;
}

function preset(shapes: readonly (readonly [number, number])[], bm: readonly number[], bk: readonly number[], bmm: readonly number[]): TlTiles[] {
  return shapes.map(([m, k], i) => ({ m, k, bm: bm[i] ?? 0, bk: bk[i] ?? 0, bmm: bmm[i] ?? 0 }));
}
// Shapes from utils/codegen_tl{1,2}.py ModelShapeDict; tiles from setup_env.py gen_code (BitNet-b1.58-2B-4T is given
// the 3B shapes there, so its own shapes have no tiles and need a sidecar).
const LARGE: [number, number][] = [[1536, 4096], [1536, 1536], [4096, 1536]];
const B3: [number, number][] = [[3200, 8640], [3200, 3200], [8640, 3200]];
const L8B: [number, number][] = [[14336, 4096], [4096, 14336], [1024, 4096], [4096, 4096]];
export const TL_PRESET_TILES: Readonly<Record<TlType, readonly TlTiles[]>> = {
  TL1: [
    ...preset(LARGE, [256, 128, 256], [128, 64, 128], [32, 64, 32]),
    ...preset(B3, [160, 320, 320], [64, 128, 64], [32, 64, 32]),
    ...preset(L8B, [256, 128, 256, 128], [128, 64, 128, 64], [32, 64, 32, 64]),
  ],
  TL2: [
    ...preset(LARGE, [256, 128, 256], [96, 192, 96], [32, 32, 32]),
    ...preset(B3, [160, 320, 320], [96, 96, 96], [32, 32, 32]),
    ...preset(L8B, [256, 128, 256, 128], [96, 96, 96, 96], [32, 32, 32, 32]),
  ],
};

/** Parses bitnet.cpp's include/kernel_config.ini ([Kernels_N] sections with m, k, bm, bk, bmm). */
export function parseKernelConfigIni(text: string): TlTiles[] {
  const sections: Record<string, number>[] = [];
  let current: Record<string, number> | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[') && line.endsWith(']')) {
      current = {};
      sections.push(current);
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = Number(line.slice(eq + 1).trim());
    if (current === undefined || eq < 0 || !['m', 'k', 'bm', 'bk', 'bmm'].includes(key) || !Number.isSafeInteger(value) || value <= 0) {
      throw new BitNetError('BAD_ARGUMENT', `kernel config line ${i + 1}: expected 'm', 'k', 'bm', 'bk' or 'bmm' = a positive integer inside a [section], got '${line}'`, {
        details: { field: 'tlConfig', line: i + 1 },
      });
    }
    current[key] = value;
  }
  return sections.map((s, i) => {
    const { m, k, bm, bk, bmm } = s;
    if (m === undefined || k === undefined || bm === undefined || bk === undefined || bmm === undefined) {
      throw new BitNetError('BAD_ARGUMENT', `kernel config section ${i + 1} lacks one of m, k, bm, bk, bmm`, { details: { field: 'tlConfig', section: i + 1 } });
    }
    return { m, k, bm, bk, bmm };
  });
}

/** The tiles for an m x k weight, or undefined. */
export function findTlTiles(list: readonly TlTiles[], m: number, k: number): TlTiles | undefined {
  return list.find((t) => t.m === m && t.k === k);
}

/** Python's // on integers. */
function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** Bytes bitnet.cpp's converter writes for an m x k weight (TL2: padded with zeros to this size). */
export function tlByteSize(type: TlType, m: number, k: number): number {
  if (type === 'TL1') return (m * k) / 4;
  return floorDiv(floorDiv((k - 256) * m, 3) * 5, 8) + floorDiv(floorDiv(256 * m, 2) * 4, 8);
}

/** Byte offset of the f32 scale in a copy sized as the fork's ggml_nbytes (the tensor followed by its scale). */
export function tlInlineScaleOffset(type: TlType, m: number, k: number): number {
  const size = tlByteSize(type, m, k);
  return type === 'TL1' ? size : Math.ceil(size / 32) * 32;
}

function bad(type: TlType, m: number, k: number, t: TlTiles, why: string): BitNetError {
  return new BitNetError('BAD_ARGUMENT', `${type} tiles for a ${m} x ${k} weight (BM ${t.bm}, BK ${t.bk}, bm ${t.bmm}): ${why}`, {
    details: { type, m, k, BM: t.bm, BK: t.bk, bm: t.bmm },
  });
}

/** Throws BAD_ARGUMENT unless `t` tiles an m x k weight the way the converter can. */
export function checkTlTiles(type: TlType, m: number, k: number, t: TlTiles): void {
  const need = (ok: boolean, why: string): void => {
    if (!ok) throw bad(type, m, k, t, why);
  };
  need(t.m === m && t.k === k, `the tiles are for ${t.m} x ${t.k}`);
  need(m % t.bm === 0, 'm must be a multiple of BM');
  if (type === 'TL1') {
    need(t.bmm === 32 || t.bmm === 64, 'bm must be 32 or 64 (codegen_tl1.py; by = 256 / bm)');
    need(t.bm % t.bmm === 0, 'BM must be a multiple of bm');
    need(k % t.bk === 0 && t.bk % (256 / t.bmm) === 0, 'k must be a multiple of BK, and BK of 256 / bm');
    return;
  }
  need(t.bmm === 32 && t.bm % 32 === 0, 'bm must be 32 and BM a multiple of it');
  need(t.bk % 24 === 0 && t.bk <= k, 'BK must be a multiple of 24 (sign groups of 8 triples) and at most k');
  need((k % t.bk) % 32 === 0, 'k % BK must be a multiple of 32 (the pair tail)');
  const data = (m * (k - (k % t.bk)) * 5) / 24 + (m * (k % t.bk)) / 4;
  need(data <= tlByteSize(type, m, k), `the packed data (${data} bytes) exceeds the converter's padded size (${tlByteSize(type, m, k)})`);
}

/** Receives each stored code byte (or sign word bit) with what it holds. */
interface TlVisitor {
  /** Byte `b` holds pair (row, c, c+1) in its high nibble and (row, c+2, c+3) in its low one. */
  pairs(b: number, row: number, c: number): void;
  /** Byte `b` holds |triple| (row, c..c+2) in its high nibble and (row, c+3..c+5) in its low one. */
  triples(b: number, row: number, c: number): void;
  /** Bit `bit` of byte `b` is the sign of triple (row, c..c+2). */
  sign(b: number, bit: number, row: number, c: number): void;
}

const SWAP_GROUPS = [0, 2, 1, 3];

function visitTl(type: TlType, m: number, k: number, t: TlTiles, v: TlVisitor): void {
  let b = 0;
  if (type === 'TL1') {
    const by = 256 / t.bmm;
    for (let i0 = 0; i0 < m / t.bm; i0++)
      for (let i1 = 0; i1 < k / t.bk; i1++)
        for (let i2 = 0; i2 < t.bm / t.bmm; i2++)
          for (let i3 = 0; i3 < t.bk / by; i3++)
            for (let i4 = 0; i4 < t.bmm / 16; i4++)
              for (let i5 = 0; i5 < by / 4; i5++)
                for (let r = 0; r < 16; r++) v.pairs(b++, i0 * t.bm + i2 * t.bmm + i4 * 16 + r, i1 * t.bk + i3 * by + 4 * i5);
    return;
  }
  const k3 = k - (k % t.bk);
  const rowOf = (i0: number, i2: number, p: number): number => i0 * t.bm + i2 * 32 + (SWAP_GROUPS[p >>> 3] ?? 0) * 8 + (p & 7);
  for (let i0 = 0; i0 < m / t.bm; i0++)
    for (let i1 = 0; i1 < k3 / t.bk; i1++)
      for (let i2 = 0; i2 < t.bm / 32; i2++)
        for (let i3 = 0; i3 < t.bk / 6; i3++) for (let p = 0; p < 32; p++) v.triples(b++, rowOf(i0, i2, p), i1 * t.bk + 6 * i3);
  for (let i0 = 0; i0 < m / t.bm; i0++)
    for (let i1 = 0; i1 < k3 / t.bk; i1++)
      for (let i2 = 0; i2 < t.bm / 32; i2++)
        for (let i4 = 0; i4 < t.bk / 24; i4++) {
          for (let q = 0; q < 16; q++)
            for (let i = 0; i < 16; i++) {
              const bit = 15 - i;
              v.sign(b + 2 * q + (bit >>> 3), bit & 7, i0 * t.bm + i2 * 32 + (i & 1) * 16 + q, i1 * t.bk + 24 * i4 + 3 * (i >>> 1));
            }
          b += 32;
        }
  for (let i0 = 0; i0 < m / t.bm; i0++)
    for (let i1 = 0; i1 < (k - k3) / 32; i1++)
      for (let i2 = 0; i2 < t.bm / 32; i2++)
        for (let i3 = 0; i3 < 8; i3++) for (let p = 0; p < 32; p++) v.pairs(b++, rowOf(i0, i2, p), k3 + 32 * i1 + 4 * i3);
}

/** TL1 / TL2 bytes of `codes` (-1/0/+1, m rows of k), as bitnet.cpp's converter writes them for tiles `t`. */
export function packTl(type: TlType, codes: Int8Array, m: number, k: number, t: TlTiles): Uint8Array {
  checkTlTiles(type, m, k, t);
  if (codes.length !== m * k) throw new BitNetError('BAD_ARGUMENT', `${type}: ${codes.length} codes for a ${m} x ${k} weight`, { details: { type, m, k } });
  requireTernaryCodes(type, codes);
  const out = new Uint8Array(tlByteSize(type, m, k));
  const w = (row: number, c: number): number => codes[row * k + c] ?? 0;
  const triple = (row: number, c: number): number => 9 * w(row, c) + 3 * w(row, c + 1) + w(row, c + 2);
  visitTl(type, m, k, t, {
    pairs: (b, row, c) => {
      out[b] = ((3 * w(row, c) + w(row, c + 1) + 4) << 4) | (3 * w(row, c + 2) + w(row, c + 3) + 4);
    },
    triples: (b, row, c) => {
      out[b] = (Math.abs(triple(row, c)) << 4) | Math.abs(triple(row, c + 3));
    },
    sign: (b, bit, row, c) => {
      if (triple(row, c) < 0) out[b] |= 1 << bit;
    },
  });
  return out;
}

/** The codes (-1/0/+1, m rows of k, row-major) of TL1 / TL2 bytes written for tiles `t`. */
export function unpackTl(type: TlType, bytes: Uint8Array, m: number, k: number, t: TlTiles, tensorName = '?'): Int8Array {
  checkTlTiles(type, m, k, t);
  requireBytes(type, bytes, tlByteSize(type, m, k));
  const codes = new Int8Array(m * k);
  const badNibble = (b: number, value: number, max: number): BitNetError =>
    new BitNetError('BAD_TENSOR_DATA', `${type} tensor '${tensorName}': byte ${b} holds a code ${value}, above ${max}: not ${type} data for these tiles`, {
      details: { tensor: tensorName, type, byte: b, code: value },
    });
  const setPair = (b: number, u: number, row: number, c: number): void => {
    if (u > 8) throw badNibble(b, u, 8);
    codes[row * k + c] = Math.floor(u / 3) - 1;
    codes[row * k + c + 1] = (u % 3) - 1;
  };
  const setTriple = (b: number, u: number, row: number, c: number): void => {
    if (u > 13) throw badNibble(b, u, 13);
    codes[row * k + c] = u; // |v| for now; the sign pass below decodes it
  };
  visitTl(type, m, k, t, {
    pairs: (b, row, c) => {
      const byte = bytes[b] ?? 0;
      setPair(b, byte >>> 4, row, c);
      setPair(b, byte & 15, row, c + 2);
    },
    triples: (b, row, c) => {
      const byte = bytes[b] ?? 0;
      setTriple(b, byte >>> 4, row, c);
      setTriple(b, byte & 15, row, c + 3);
    },
    sign: (b, bit, row, c) => {
      const at = row * k + c;
      const v = (((bytes[b] ?? 0) >>> bit) & 1) === 1 ? -(codes[at] ?? 0) : (codes[at] ?? 0);
      const u = v + 13; // 9 (w0 + 1) + 3 (w1 + 1) + (w2 + 1)
      codes[at] = Math.floor(u / 9) - 1;
      codes[at + 1] = (Math.floor(u / 3) % 3) - 1;
      codes[at + 2] = (u % 3) - 1;
    },
  });
  return codes;
}

// The repack into x86 I2_S (formats/i2s.ts) that the loader runs, without unpacking the whole tensor into codes:
// byte tables turn each stored byte into x86 codes (0, 1, 2 for -1, 0, +1) in the byte lanes of a 32-bit word, which
// is or'ed into the x86 word holding those four columns of the row at the bit pair of their 32-column group. Every lane
// operation keeps byte lanes apart and the tables are built through a byte view of the same word, so nothing depends
// on the platform's byte order.

/** Row within a 32-row block of byte p of a TL2 index tile or pair tile (the middle groups of 8 swapped). */
const SWAPPED_ROW = Uint8Array.from({ length: 32 }, (_, p) => (SWAP_GROUPS[p >>> 3] ?? 0) * 8 + (p & 7));

/**
 * Or'ed into a table entry for a nibble out of range (a pair above 8, a triple above 13). Lane values stay below 4,
 * so the bit (bit 7 of the last lane) is never a code's; the decoders or the unshifted entries together and test it.
 */
const OUT_OF_RANGE = 0x80000000;

interface TlTables {
  /** A pair byte (pairs c, c+1 high, c+2, c+3 low) as the x86 codes of columns c..c+3, one per byte lane. */
  readonly pairLanes: Uint32Array;
  /**
   * Two index bytes of neighbouring tiles hold four triples t0..t3 of one row, columns c..c+11 (c a multiple of 4):
   * three x86 words, lanes x, y, z of each triple as below. Indexed by |v| + 16 * sign; |v| 14 and 15 are
   * OUT_OF_RANGE in every table.
   */
  readonly xyz012: Uint32Array; // t0 in word 0 lanes 0-2
  readonly x3: Uint32Array; // t1's x in word 0 lane 3
  readonly y0z1: Uint32Array; // t1's y, z in word 1 lanes 0-1
  readonly x2y3: Uint32Array; // t2's x, y in word 1 lanes 2-3
  readonly z0: Uint32Array; // t2's z in word 2 lane 0
  readonly xyz123: Uint32Array; // t3 in word 2 lanes 1-3
}
let tlTables: TlTables | undefined;

function buildTlTables(): TlTables {
  const pairLanes = new Uint32Array(256);
  const word = new Uint32Array(1);
  const lanes = new Uint8Array(word.buffer);
  for (let byte = 0; byte < 256; byte++) {
    const hi = byte >>> 4;
    const lo = byte & 15;
    lanes[0] = Math.floor(hi / 3) & 3; // nibble 3*w0 + w1 + 4 = 3*(w0 + 1) + (w1 + 1): x86 codes w + 1
    lanes[1] = (hi % 3) & 3;
    lanes[2] = Math.floor(lo / 3) & 3;
    lanes[3] = (lo % 3) & 3;
    pairLanes[byte] = hi > 8 || lo > 8 ? (word[0] ?? 0) | OUT_OF_RANGE : (word[0] ?? 0);
  }
  const tables = { xyz012: new Uint32Array(32), x3: new Uint32Array(32), y0z1: new Uint32Array(32), x2y3: new Uint32Array(32), z0: new Uint32Array(32), xyz123: new Uint32Array(32) };
  for (const table of Object.values(tables)) table.fill(OUT_OF_RANGE); // the entries below overwrite |v| <= 13
  const put = (table: Uint32Array, at: number, laneCodes: readonly (readonly [number, number])[]): void => {
    lanes.fill(0);
    for (const [lane, c] of laneCodes) lanes[lane] = c;
    table[at] = word[0] ?? 0;
  };
  for (let abs = 0; abs < 14; abs++) {
    for (let sign = 0; sign < 2; sign++) {
      const u = (sign === 1 ? -abs : abs) + 13; // 9 (w0 + 1) + 3 (w1 + 1) + (w2 + 1): x86 codes w + 1
      const x = Math.floor(u / 9);
      const y = Math.floor(u / 3) % 3;
      const z = u % 3;
      const at = abs + 16 * sign;
      put(tables.xyz012, at, [[0, x], [1, y], [2, z]]);
      put(tables.x3, at, [[3, x]]);
      put(tables.y0z1, at, [[0, y], [1, z]]);
      put(tables.x2y3, at, [[2, x], [3, y]]);
      put(tables.z0, at, [[0, z]]);
      put(tables.xyz123, at, [[1, x], [2, y], [3, z]]);
    }
  }
  return { pairLanes, ...tables };
}

/**
 * The x86 I2_S bytes (i2sByteSize(m * k): codes, then a zeroed tail where the caller writes the scale) of TL1 / TL2
 * bytes written for tiles `t`: the same codes unpackTl gives, packed as packI2s packs them. k must be a multiple of
 * the x86 block (128). No scratch beyond the result.
 */
export function repackTlToI2s(type: TlType, bytes: Uint8Array, m: number, k: number, t: TlTiles, tensorName = '?'): Uint8Array {
  checkTlTiles(type, m, k, t);
  requireBytes(type, bytes, tlByteSize(type, m, k));
  if (k % I2S_BLOCK_ELEMENTS !== 0) {
    throw new BitNetError('BAD_TENSOR_SHAPE', `tensor '${tensorName}': I2_S needs rows that are a multiple of ${I2S_BLOCK_ELEMENTS} elements, got row length ${k}`, {
      details: { tensor: tensorName, type: 'I2_S', rowLength: k, nElements: m * k, blockElements: I2S_BLOCK_ELEMENTS },
    });
  }
  tlTables ??= buildTlTables();
  const out = new Uint8Array(i2sByteSize(m * k));
  const out32 = new Uint32Array(out.buffer, out.byteOffset, (m * k) / 16);
  const ok = type === 'TL1' ? decodeTl1(bytes, m, k, t, tlTables, out32) : decodeTl2(bytes, m, k, t, tlTables, out32);
  if (!ok) {
    // Some nibble is out of range: the reference decoder names the first one.
    return packI2s(unpackTl(type, bytes, m, k, t, tensorName), 0, k);
  }
  return out;
}

/**
 * TL1 into the x86 words in output order. The byte holding row `row`, columns c..c+3 is rowOffset[row] +
 * colOffset[c / 4]: of the tile indices (module header) i0, i2, i4 and r depend on the row only and i1, i3, i5 on the
 * column only, and each adds its own term. x86 word w of a row's 128-column block then takes the bytes of column
 * groups w, w+8, w+16, w+24 (columns 4w + 32g), each a pair byte whose four codes are one lane word.
 */
function decodeTl1(bytes: Uint8Array, m: number, k: number, t: TlTiles, tables: TlTables, out32: Uint32Array): boolean {
  const { pairLanes } = tables;
  const by = 256 / t.bmm;
  const perI4 = 4 * by; // (by / 4) * 16 bytes
  const perI3 = (t.bmm * by) / 4;
  const perI2 = (t.bmm * t.bk) / 4;
  const perI1 = (t.bm * t.bk) / 4;
  const perI0 = (k / t.bk) * perI1;
  const rowOffset = new Int32Array(m);
  for (let row = 0; row < m; row++) {
    const inTile = row % t.bm;
    const inBlock = inTile % t.bmm;
    rowOffset[row] = Math.floor(row / t.bm) * perI0 + Math.floor(inTile / t.bmm) * perI2 + (inBlock >>> 4) * perI4 + (inBlock & 15);
  }
  const colOffset = new Int32Array(k / 4);
  for (let c = 0; c < k; c += 4) {
    const inTile = c % t.bk;
    colOffset[c / 4] = Math.floor(c / t.bk) * perI1 + Math.floor(inTile / by) * perI3 + ((inTile % by) >>> 2) * 16;
  }
  let flags = 0;
  for (let row = 0, o = 0; row < m; row++) {
    const rb = rowOffset[row];
    for (let c4 = 0; c4 < k / 4; c4 += 32) {
      for (let w = c4; w < c4 + 8; w++, o++) {
        const l0 = pairLanes[bytes[rb + colOffset[w]]];
        const l1 = pairLanes[bytes[rb + colOffset[w + 8]]];
        const l2 = pairLanes[bytes[rb + colOffset[w + 16]]];
        const l3 = pairLanes[bytes[rb + colOffset[w + 24]]];
        flags |= l0 | l1 | l2 | l3;
        out32[o] = (l0 << 6) | (l1 << 4) | (l2 << 2) | l3;
      }
    }
  }
  return (flags & OUT_OF_RANGE) === 0;
}

/** The x86 word within a row holding columns c..c+3 (c a multiple of 4), and the shift of their codes there. */
function x86Word(c: number): number {
  return (c >>> 7) * 8 + ((c & 31) >>> 2);
}
function x86Shift(c: number): number {
  return 6 - 2 * ((c & 127) >>> 5);
}

/**
 * TL2 straight into the x86 words: tiles i3 and i3 + 1 (i3 even) hold triples 2 i3 .. 2 i3 + 3 of each row, twelve
 * columns from a multiple of 4 (BK is a multiple of 24), with their signs in one sign group; the pair tail as TL1's.
 */
function decodeTl2(bytes: Uint8Array, m: number, k: number, t: TlTiles, tables: TlTables, out32: Uint32Array): boolean {
  const { pairLanes, xyz012, x3, y0z1, x2y3, z0, xyz123 } = tables;
  const k3 = k - (k % t.bk);
  const rowWords = k / 16;
  const signStart = (m * k3) / 6; // after the index tiles (32 bytes per 32 rows x 6 columns)
  const tailStart = signStart + (m * k3) / 24; // after the sign groups (32 bytes per 32 rows x 24 columns)
  let flags = 0;
  let b = 0;
  for (let i0 = 0; i0 < m / t.bm; i0++)
    for (let i1 = 0; i1 < k3 / t.bk; i1++)
      for (let i2 = 0; i2 < t.bm / 32; i2++) {
        const rowBase = i0 * t.bm + i2 * 32;
        for (let i3 = 0; i3 < t.bk / 6; i3 += 2, b += 64) {
          const group = signStart + (((i0 * (k3 / t.bk) + i1) * (t.bm / 32) + i2) * (t.bk / 24) + (i3 >>> 2)) * 32;
          const firstBit = 15 - 2 * ((2 * i3) & 7); // triple j of the group, row half h: sign bit 15 - (2j + h)
          const c = i1 * t.bk + 6 * i3;
          const [w0, w1, w2] = [x86Word(c), x86Word(c + 4), x86Word(c + 8)];
          const [s0, s1, s2] = [x86Shift(c), x86Shift(c + 4), x86Shift(c + 8)];
          for (let p = 0; p < 32; p++) {
            const byte0 = bytes[b + p];
            const byte1 = bytes[b + 32 + p];
            const r = SWAPPED_ROW[p];
            const signs = (bytes[group + 2 * (r & 15)] | (bytes[group + 2 * (r & 15) + 1] << 8)) >>> (firstBit - (r >>> 4) - 6);
            // the signs of t0..t3 are now bits 6, 4, 2, 0 of `signs`; each goes to bit 4 of its table index
            const t0 = (byte0 >>> 4) | ((signs >>> 2) & 16);
            const t1 = (byte0 & 15) | (signs & 16);
            const t2 = (byte1 >>> 4) | ((signs << 2) & 16);
            const t3 = (byte1 & 15) | ((signs << 4) & 16);
            const row = (rowBase + r) * rowWords;
            const word0 = xyz012[t0] | x3[t1];
            const word1 = y0z1[t1] | x2y3[t2];
            const word2 = z0[t2] | xyz123[t3];
            flags |= word0 | word1 | word2;
            out32[row + w0] |= word0 << s0;
            out32[row + w1] |= word1 << s1;
            out32[row + w2] |= word2 << s2;
          }
        }
      }
  b = tailStart;
  for (let i0 = 0; i0 < m / t.bm; i0++)
    for (let i1 = 0; i1 < (k - k3) / 32; i1++)
      for (let i2 = 0; i2 < t.bm / 32; i2++)
        for (let i3 = 0; i3 < 8; i3++) {
          const c = k3 + 32 * i1 + 4 * i3;
          const shift = x86Shift(c);
          const word = x86Word(c);
          const rowBase = i0 * t.bm + i2 * 32;
          for (let p = 0; p < 32; p++) {
            const lanes = pairLanes[bytes[b++]];
            flags |= lanes;
            out32[(rowBase + SWAPPED_ROW[p]) * rowWords + word] |= lanes << shift;
          }
        }
  return (flags & OUT_OF_RANGE) === 0;
}
