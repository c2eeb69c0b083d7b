// Table-driven packing of ternary codes into the 2-bit I2_S and TQ2_0 layouts, fast enough to synthesize a 2B model.
//
// The layouts stay declared in formats/i2s.ts and formats/tq2_0.ts: the tables below are built from their
// position functions (i2sPosition, tq2_0Position) and field tables, and synthesize.test.ts checks that the
// bytes equal packI2s / packTq2_0 exactly. The reference packers compute each element's position on the fly
// (about 7 ns a weight); a lookup per element is several times faster, which matters for 2 G weights.

import { BitNetError } from '../errors.js';
import { writeF16 } from '../formats/f16.js';
import { writeF32 } from '../formats/f32.js';
import { I2S_BLOCK_BYTES, I2S_BLOCK_ELEMENTS, i2sByteSize, i2sPosition } from '../formats/i2s.js';
import { TQ2_0_BLOCK_BYTES, TQ2_0_BLOCK_ELEMENTS, TQ2_0_LAYOUT, tq2_0Position } from '../formats/tq2_0.js';

/**
 * One block's layout inverted: for byte j of the block, source[4j + k] is the element stored at bit shift 2k.
 * Every 2-bit layout fills each code byte with exactly four elements.
 */
interface TwoBitTable {
  readonly blockElements: number;
  /** Code bytes per block (blockElements / 4); a block may carry more bytes after them (TQ2_0's d). */
  readonly codeBytes: number;
  readonly blockBytes: number;
  readonly source: Int32Array;
}

function buildTable(blockElements: number, blockBytes: number, position: (e: number) => { byteIndex: number; shift: number }): TwoBitTable {
  const codeBytes = blockElements / 4;
  const source = new Int32Array(blockElements).fill(-1);
  for (let e = 0; e < blockElements; e++) {
    const at = position(e);
    const slot = 4 * at.byteIndex + at.shift / 2;
    if (at.byteIndex >= codeBytes || at.shift % 2 !== 0 || source[slot] !== -1) {
      throw new BitNetError('INTERNAL', `2-bit layout: element ${e} maps to byte ${at.byteIndex} shift ${at.shift}, outside the code bytes or taken`, {
        details: { element: e, byteIndex: at.byteIndex, shift: at.shift },
      });
    }
    source[slot] = e;
  }
  return { blockElements, codeBytes, blockBytes, source };
}

let i2sTable: TwoBitTable | undefined;
let tq2Table: TwoBitTable | undefined;

/** Writes every code byte: four elements' code + 1 at shifts 0, 2, 4, 6; block b starts at byte b * blockBytes. */
function packBlocks(codes: Int8Array, t: TwoBitTable, out: Uint8Array): void {
  const nBlocks = codes.length / t.blockElements;
  const { source, codeBytes, blockElements, blockBytes } = t;
  for (let b = 0; b < nBlocks; b++) {
    const base = b * blockBytes;
    const first = b * blockElements;
    for (let j = 0, s = 0; j < codeBytes; j++, s += 4) {
      out[base + j] =
        (codes[first + source[s]] + 1) |
        ((codes[first + source[s + 1]] + 1) << 2) |
        ((codes[first + source[s + 2]] + 1) << 4) |
        ((codes[first + source[s + 3]] + 1) << 6);
    }
  }
}

function requireWholeBlocks(typeName: string, tensorName: string, nElements: number, rowLength: number, blockElements: number): void {
  if (rowLength <= 0 || rowLength % blockElements !== 0 || nElements % rowLength !== 0) {
    throw new BitNetError('BAD_TENSOR_SHAPE', `tensor '${tensorName}': ${typeName} needs rows that are a multiple of ${blockElements} elements, got row length ${rowLength} for ${nElements} elements`, {
      details: { tensor: tensorName, type: typeName, rowLength, nElements, blockElements },
    });
  }
}

/**
 * I2_S bytes of `codes` (each -1, 0 or +1; the caller guarantees it) and the per-tensor `scale`: the same
 * bytes as formats/i2s.ts packI2s.
 */
export function packI2sFast(codes: Int8Array, scale: number, rowLength: number, tensorName = '?'): Uint8Array {
  requireWholeBlocks('I2_S', tensorName, codes.length, rowLength, I2S_BLOCK_ELEMENTS);
  i2sTable ??= buildTable(I2S_BLOCK_ELEMENTS, I2S_BLOCK_BYTES, i2sPosition);
  const out = new Uint8Array(i2sByteSize(codes.length));
  packBlocks(codes, i2sTable, out);
  writeF32(out, codes.length / 4, scale);
  return out;
}

/** TQ2_0 bytes of `codes` with `scale` as every block's f16 d: the same bytes as formats/tq2_0.ts packTq2_0. */
export function packTq2_0Fast(codes: Int8Array, scale: number, rowLength: number, tensorName = '?'): Uint8Array {
  requireWholeBlocks('TQ2_0', tensorName, codes.length, rowLength, TQ2_0_BLOCK_ELEMENTS);
  tq2Table ??= buildTable(TQ2_0_BLOCK_ELEMENTS, TQ2_0_BLOCK_BYTES, (e) => tq2_0Position(e));
  const dOffset = TQ2_0_LAYOUT.find((f) => f.name === 'd')?.byteOffset;
  if (dOffset === undefined) throw new BitNetError('INTERNAL', "TQ2_0_LAYOUT has no 'd' field");
  const nBlocks = codes.length / TQ2_0_BLOCK_ELEMENTS;
  const out = new Uint8Array(nBlocks * TQ2_0_BLOCK_BYTES);
  packBlocks(codes, tq2Table, out);
  for (let b = 0; b < nBlocks; b++) writeF16(out, b * TQ2_0_BLOCK_BYTES + dOffset, scale);
  return out;
}
