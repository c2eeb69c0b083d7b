import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { isBitNetError } from '../errors.js';
import { writeF16 } from './f16.js';
import { writeF32 } from './f32.js';
import { I2S_FLAVOR_SPECS, I2S_FLAVORS, i2sFlavorByteSize, i2sStoredSizes, packI2sFlavor, repackI2sFlavor } from './i2s-flavors.js';
import { i2sScale, packI2s, unpackI2s } from './i2s.js';
import { layoutByteSize } from './layout.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isBitNetError(e) ? e.code : `not a BitNetError: ${String(e)}`;
  }
  return 'no error';
}

function codesWith(n: number, set: Record<number, number>): Int8Array {
  const codes = new Int8Array(n);
  for (const [e, v] of Object.entries(set)) codes[Number(e)] = v;
  return codes;
}

/** Repacks `bytes` and checks that the x86 result decodes to `codes` and `scale`. */
function expectRepacksTo(flavor: (typeof I2S_FLAVORS)[number], bytes: Uint8Array, codes: Int8Array, scale: number, rowLength: number, blockScales?: Float32Array): void {
  const { bytes: x86, scale: s } = repackI2sFlavor(flavor, bytes, codes.length, rowLength, blockScales);
  expect(s).toBe(scale);
  expect(Array.from(unpackI2s(x86, codes.length))).toEqual(Array.from(codes));
  expect(i2sScale(x86, codes.length)).toBe(scale);
  expect(x86).toEqual(packI2s(codes, scale, rowLength % 128 === 0 ? rowLength : 128)); // the x86 bytes do not depend on the row length
}

describe('I2_S flavors', () => {
  it('layout tables add up to each flavor\'s block size; byte sizes per tensor', () => {
    for (const f of I2S_FLAVORS) expect(layoutByteSize(I2S_FLAVOR_SPECS[f].layout)).toBe(I2S_FLAVOR_SPECS[f].blockBytes);
    const n = 2560 * 6912;
    expect(i2sFlavorByteSize('x86', n)).toBe(n / 4 + 32);
    expect(i2sFlavorByteSize('arm', n)).toBe(n / 4 + 32);
    expect(i2sFlavorByteSize('x86-4row', n)).toBe(n / 4 + 32);
    expect(i2sFlavorByteSize('qk256', n)).toBe(n / 4);
    expect(i2sFlavorByteSize('split32', n)).toBe(n / 4);
    expect(i2sFlavorByteSize('bitnet32-f16', n)).toBe((n / 32) * 10);
    expect(i2sStoredSizes(n).map((s) => s.byteSize)).toEqual([n / 4 + 32, n / 4, (n / 32) * 10]);
    expect(code(() => i2sFlavorByteSize('arm', 96))).toBe('BAD_TENSOR_SHAPE');
  });

  // Each expected buffer below was laid out by hand from the upstream writers named in i2s-flavors.ts; untouched
  // bytes hold four zeros (code 1 = 0x55, or for bitnet32-f16 code 2 = 0xAA).
  it('arm (QK_I2_S = 64): byte p of a 16-byte block holds elements p, 16+p, 32+p, 48+p at shifts 6, 4, 2, 0', () => {
    const codes = codesWith(128, { 0: 1, 17: -1, 127: 1 });
    const expected = new Uint8Array(64).fill(0x55, 0, 32);
    expected[0] = 0x95; // element 0: code 2 at bits 6-7
    expected[1] = 0x45; // element 17 = 16 + 1: code 0 at bits 4-5
    expected[31] = 0x56; // element 127 = block 1, 48 + 15: code 2 at bits 0-1 of byte 16 + 15
    writeF32(expected, 32, 0.5);
    expect(packI2sFlavor('arm', codes, 0.5, 128).bytes).toEqual(expected);
    expectRepacksTo('arm', expected, codes, 0.5, 128);
  });

  it('x86-4row (quantize_i2_s_1x4): byte (r/4)*cols + c holds rows 4(r/4)..+3 of column c at shifts 6, 4, 2, 0', () => {
    const codes = codesWith(512, { 0: 1, [2 * 128 + 5]: -1, [3 * 128 + 127]: 1 });
    const expected = new Uint8Array(160).fill(0x55, 0, 128);
    expected[0] = 0x95; // row 0 column 0: code 2 at bits 6-7
    expected[5] = 0x51; // row 2 column 5: code 0 at bits 2-3
    expected[127] = 0x56; // row 3 column 127: code 2 at bits 0-1
    writeF32(expected, 128, 0.25);
    expect(packI2sFlavor('x86-4row', codes, 0.25, 128).bytes).toEqual(expected);
    expectRepacksTo('x86-4row', expected, codes, 0.25, 128);
  });

  it('bitnet32-f16: 8 code bytes (element 4i+j at bits 2j, value code - 2) then the f16 scale; 1.0 for a zero block', () => {
    const codes = codesWith(128, { 0: 1, 5: -1, 40: -1, 127: 1 });
    const expected = new Uint8Array(40).fill(0xaa);
    expected[0] = 0xab; // element 0: code 3 at bits 0-1
    expected[1] = 0xa6; // element 5 = 4 + 1: code 1 at bits 2-3
    expected[12] = 0xa9; // element 40 = block 1, element 8: byte 10 + 2, code 1 at bits 0-1
    expected[37] = 0xea; // element 127 = block 3, element 31: byte 30 + 7, code 3 at bits 6-7
    for (const [block, scale] of [[0, 0.25], [1, 0.25], [2, 1], [3, 0.25]] as const) writeF16(expected, block * 10 + 8, scale);
    expect(expected.subarray(28, 30)).toEqual(new Uint8Array([0x00, 0x3c])); // f16 1.0, little-endian
    expect(packI2sFlavor('bitnet32-f16', codes, 0.25, 128).bytes).toEqual(expected);
    expectRepacksTo('bitnet32-f16', expected, codes, 0.25, 128);
  });

  it('split32: byte i of an 8-byte block holds elements 4i..4i+3 at shifts 0, 2, 4, 6 (value code - 2); scales apart', () => {
    const codes = codesWith(128, { 0: 1, 5: -1, 127: 1 });
    const expected = new Uint8Array(32).fill(0xaa);
    expected[0] = 0xab; // element 0: code 3 at bits 0-1
    expected[1] = 0xa6; // element 5: code 1 at bits 2-3
    expected[31] = 0xea; // element 127: code 3 at bits 6-7 of the last byte
    const packed = packI2sFlavor('split32', codes, 0.25, 128);
    expect(packed.bytes).toEqual(expected);
    expect(packed.blockScales).toEqual(new Float32Array([0.25, 1, 1, 0.25])); // 1.0 for the blocks of zeros
    expectRepacksTo('split32', expected, codes, 0.25, 128, new Float32Array([0.25, 1, 1, 0.25]));
    expect(code(() => repackI2sFlavor('split32', expected, 128, 128, new Float32Array([0.25])))).toBe('BAD_TENSOR_DATA'); // 4 needed
  });

  it('qk256: byte i of a 64-byte block holds elements 4i..4i+3 at shifts 0, 2, 4, 6; the scales are a separate tensor', () => {
    const codes = codesWith(256, { 0: 1, 255: -1 });
    const expected = new Uint8Array(64).fill(0x55);
    expected[0] = 0x56; // element 0: code 2 at bits 0-1
    expected[63] = 0x15; // element 255: code 0 at bits 6-7
    const packed = packI2sFlavor('qk256', codes, 0.75, 256);
    expect(packed.bytes).toEqual(expected);
    expect(packed.blockScales).toEqual(new Float32Array([0.75]));
    expectRepacksTo('qk256', expected, codes, 0.75, 256, new Float32Array([0.75]));
  });

  it.each(I2S_FLAVORS)('%s: random codes repack to exactly the x86 bytes of the same weights', (flavor) => {
    const rowLength = 256;
    const codes = seededRng(7).codes(rowLength * 8);
    const packed = packI2sFlavor(flavor, codes, 0.375, rowLength);
    expectRepacksTo(flavor, packed.bytes, codes, 0.375, rowLength, packed.blockScales);
  });

  it.each(I2S_FLAVORS)('%s: other row lengths, an unaligned source, 4-row groups of rows that are not whole blocks', (flavor) => {
    for (const [rowLength, rows] of [[384, 12], [96, 8]] as const) {
      const codes = seededRng(rowLength).codes(rowLength * rows);
      const packed = packI2sFlavor(flavor, codes, 0.5, rowLength);
      expectRepacksTo(flavor, packed.bytes, codes, 0.5, rowLength, packed.blockScales);
      const shifted = new Uint8Array(packed.bytes.length + 1);
      shifted.set(packed.bytes, 1);
      expectRepacksTo(flavor, shifted.subarray(1), codes, 0.5, rowLength, packed.blockScales);
    }
  });

  it.each(['bitnet32-f16', 'split32'] as const)('%s: the first code 0 (value -2) is named wherever it sits', (flavor) => {
    const codes = seededRng(5).codes(256 * 8);
    const packed = packI2sFlavor(flavor, codes, 0.5, 256);
    const bytes = packed.bytes.slice();
    const at = (e: number): number => (flavor === 'split32' ? e >>> 2 : (e >>> 5) * 10 + ((e & 31) >>> 2));
    bytes[at(1500)] &= ~(3 << (2 * (1500 & 3)));
    bytes[at(1900)] &= ~(3 << (2 * (1900 & 3)));
    expect(() => repackI2sFlavor(flavor, bytes, codes.length, 256, packed.blockScales)).toThrow(/element 1500 holds code 0 \(value -2\)/);
  });

  it('refuses what cannot be one x86 I2_S tensor: non-ternary codes, disagreeing or missing scales, short data', () => {
    const codes = seededRng(3).codes(256);
    const b32 = packI2sFlavor('bitnet32-f16', codes, 0.5, 128).bytes;
    const notTernary = b32.slice();
    notTernary[0] = notTernary[0] & 0xfc; // element 0 -> code 0 = -2
    expect(code(() => repackI2sFlavor('bitnet32-f16', notTernary, 256, 128))).toBe('BAD_TENSOR_DATA');
    const twoScales = b32.slice();
    writeF16(twoScales, 18, 0.25); // block 1 (nonzero) gets another scale
    expect(() => repackI2sFlavor('bitnet32-f16', twoScales, 256, 128)).toThrow(/block 1 has scale 0.25 but block 0 has 0.5/);
    expect(code(() => repackI2sFlavor('bitnet32-f16', twoScales, 256, 128))).toBe('UNSUPPORTED_TENSOR_TYPE');
    const nanScale = b32.slice();
    writeF16(nanScale, 8, NaN);
    expect(code(() => repackI2sFlavor('bitnet32-f16', nanScale, 256, 128))).toBe('BAD_TENSOR_DATA');
    const q = packI2sFlavor('qk256', codes, 0.5, 256).bytes;
    expect(code(() => repackI2sFlavor('qk256', q, 256, 256))).toBe('BAD_TENSOR_DATA'); // no block scales
    expect(code(() => repackI2sFlavor('qk256', q, 256, 256, new Float32Array(2)))).toBe('BAD_TENSOR_DATA');
    expect(code(() => repackI2sFlavor('arm', new Uint8Array(90), 256, 256))).toBe('BAD_TENSOR_DATA'); // 96 needed
    expect(code(() => repackI2sFlavor('arm', new Uint8Array(64 / 4 + 32), 64, 64))).toBe('BAD_TENSOR_SHAPE'); // the x86 kernels need 128
    expect(code(() => packI2sFlavor('bitnet32-f16', codes, 0.1, 128))).toBe('BAD_ARGUMENT'); // 0.1 is not exact in f16
    expect(code(() => packI2sFlavor('x86-4row', codes, 0.5, 128))).toBe('BAD_TENSOR_SHAPE'); // 2 rows, not a multiple of 4
  });

  it('a block of zeros may carry any scale (bitnet32-f16 writes 1.0 there); an all-zero tensor keeps its first scale', () => {
    const zeros = new Int8Array(128);
    const { bytes } = packI2sFlavor('bitnet32-f16', zeros, 0.5, 128);
    expect(repackI2sFlavor('bitnet32-f16', bytes, 128, 128).scale).toBe(1);
  });
});
