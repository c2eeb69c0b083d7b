import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { isBitNetError } from '../errors.js';
import { packI2s } from './i2s.js';
import { checkTlTiles, findTlTiles, packTl, parseKernelConfigIni, repackTlToI2s, TL_PRESET_TILES, tlByteSize, tlInlineScaleOffset, unpackTl } from './tl.js';
import type { TlTiles, TlType } from './tl.js';

function codesOf(m: number, k: number, set: Record<string, readonly number[]>): Int8Array {
  const codes = new Int8Array(m * k);
  for (const [at, values] of Object.entries(set)) {
    const [row = 0, col = 0] = at.split(',').map(Number);
    values.forEach((v, i) => (codes[row * k + col + i] = v));
  }
  return codes;
}

function randomCodes(n: number, seed: number): Int8Array {
  return seededRng(seed).codes(n);
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isBitNetError(e) ? e.code : `not a BitNetError: ${String(e)}`;
  }
  return 'no error';
}

describe('TL1 / TL2 layouts (bitnet.cpp utils/convert-hf-to-gguf-bitnet.py)', () => {
  // Bytes worked out by hand from process_tl1's reshapes for m = 32, k = 8, BM = 32, BK = 8, bm = 32 (by = 8):
  // byte (2*i4 + i5)*16 + r holds row 16*i4 + r, columns 4*i5..4*i5+3 as nibbles 3*w0 + w1 + 4 (high) and
  // 3*w2 + w3 + 4 (low). A zero pair is nibble 4, so untouched bytes are 0x44.
  it('TL1: a hand-packed 32 x 8 weight', () => {
    const tiles: TlTiles = { m: 32, k: 8, bm: 32, bk: 8, bmm: 32 };
    const codes = codesOf(32, 8, { '0,0': [1, -1, 0, 1, -1, -1, 1, 1], '17,4': [1, 0, -1, 0] });
    const expected = new Uint8Array(64).fill(0x44);
    expected[0] = 0x65; // row 0: (1,-1) -> 6, (0,1) -> 5
    expected[16] = 0x08; // row 0 columns 4..7: (-1,-1) -> 0, (1,1) -> 8
    expected[49] = 0x71; // row 17 columns 4..7: (1,0) -> 7, (-1,0) -> 1
    expect(tlByteSize('TL1', 32, 8)).toBe(64);
    expect(Array.from(packTl('TL1', codes, 32, 8, tiles))).toEqual(Array.from(expected));
    expect(Array.from(unpackTl('TL1', expected, 32, 8, tiles))).toEqual(Array.from(codes));
  });

  // m = 32, k = 80, BM = 32, BK = 48, bm = 32 (by = 6): columns 0..47 as triples (index tiles then sign words),
  // 48..79 as pairs, then zeros up to (80-256)*32//3*5//8 + 256*32//2*4//8 = 874 bytes. Worked out by hand from
  // preprocess_three_weights_tl2 / preprocess_two_weights_tl2: index tile i3 (triples 2*i3, 2*i3+1) takes 32 bytes,
  // byte 8*g + q holding row 8*G[g] + q with G = [0, 2, 1, 3]; sign group i4 (triples 8*i4..8*i4+7) takes 16 u16
  // words, bit 15 - (2*j4 + (r >> 4)) of word r & 15 being the sign of triple 8*i4 + j4 of row r.
  it('TL2: a hand-packed 32 x 80 weight (triples, signs and a pair tail)', () => {
    const tiles: TlTiles = { m: 32, k: 80, bm: 32, bk: 48, bmm: 32 };
    const codes = codesOf(32, 80, {
      '0,0': [1, -1, 0, -1, 0, 1], // triples v = 9-3+0 = 6 and -9+0+1 = -8
      '9,42': [-1, -1, -1], // triple 14 of row 9: v = -13
      '31,52': [1, 1, -1, 0], // pairs (1,1) -> 8 and (-1,0) -> 1 in the tail
    });
    const expected = new Uint8Array(874);
    expected[0] = 0x68; // tile 0, row 0: |6| high, |-8| low
    expected[241] = 0xd0; // tile 7 (triples 14, 15), row 9 sits in group 2 (rows 8..15 swapped there): byte 7*32 + 16 + 1
    expected[257] = 0x20; // sign group 0, word 0, bit 13 (triple 1 of row 0): the high byte's bit 5
    expected[306] = 0x08; // sign group 1 (triples 8..15), word 9, bit 3 (triple 14 = 8 + 6 of row 9)
    expected.fill(0x44, 320, 576); // the pair tail: zero pairs are nibble 4
    expected[383] = 0x81; // pair tile 1 (columns 52..55), row 31 in group 3: byte 320 + 32 + 31
    expect(tlByteSize('TL2', 32, 80)).toBe(874);
    expect(Array.from(packTl('TL2', codes, 32, 80, tiles))).toEqual(Array.from(expected));
    expect(Array.from(unpackTl('TL2', expected, 32, 80, tiles))).toEqual(Array.from(codes));
  });

  it.each([
    ['TL1', { m: 256, k: 256, bm: 128, bk: 64, bmm: 32 }],
    ['TL1', { m: 128, k: 512, bm: 64, bk: 128, bmm: 64 }],
    ['TL2', { m: 256, k: 256, bm: 128, bk: 96, bmm: 32 }],
    ['TL2', { m: 64, k: 512, bm: 32, bk: 240, bmm: 32 }],
    ['TL2', { m: 96, k: 192, bm: 96, bk: 192, bmm: 32 }],
    ['TL2', { m: 64, k: 384, bm: 64, bk: 96, bmm: 32 }], // no pair tail
  ] as const)('%s %o: random codes survive pack then unpack', (type, tiles) => {
    const codes = randomCodes(tiles.m * tiles.k, tiles.m + tiles.bk);
    const bytes = packTl(type, codes, tiles.m, tiles.k, tiles);
    expect(bytes.length).toBe(tlByteSize(type, tiles.m, tiles.k));
    expect(unpackTl(type, bytes, tiles.m, tiles.k, tiles)).toEqual(codes);
    // the loader's direct repack gives the bytes packI2s gives for the same codes (the tail's scale left zero)
    if (tiles.k % 128 === 0) expect(repackTlToI2s(type, bytes, tiles.m, tiles.k, tiles)).toEqual(packI2s(codes, 0, tiles.k));
    else expect(code(() => repackTlToI2s(type, bytes, tiles.m, tiles.k, tiles))).toBe('BAD_TENSOR_SHAPE');
    // other tiles give other bytes: the layout really depends on them
    if (type === 'TL1') {
      const other = { ...tiles, bmm: tiles.bmm === 32 ? 64 : 32 };
      expect(packTl(type, codes, tiles.m, tiles.k, other)).not.toEqual(bytes);
    }
  });

  it('sizes follow the fork\'s ggml_nbytes (TL2: the Python converter\'s padded size; the scale after it, 32-aligned)', () => {
    // values from Python: (K - 256) * M // 3 * 5 // 8 + 256 * M // 2 * 4 // 8
    expect(tlByteSize('TL2', 3200, 8640)).toBe(5794133);
    expect(tlByteSize('TL2', 8640, 3200)).toBe(5852160);
    expect(tlByteSize('TL2', 32, 24)).toBe(501);
    expect(tlInlineScaleOffset('TL2', 3200, 8640)).toBe(5794144);
    expect(tlByteSize('TL1', 2560, 6912)).toBe((2560 * 6912) / 4);
    expect(tlInlineScaleOffset('TL1', 2560, 6912)).toBe((2560 * 6912) / 4);
  });

  it('reads kernel_config.ini as codegen writes it; presets cover the models setup_env.py knows, not 2B-4T', () => {
    const ini = '[Kernels_0]\nm = 3200\nk = 8640\nbm = 160\nbk = 96\nbmm = 32\n\n[Kernels_1]\r\nm = 3200\r\nk = 3200\r\nbm = 320\r\nbk = 96\r\nbmm = 32\r\n';
    expect(parseKernelConfigIni(ini)).toEqual([
      { m: 3200, k: 8640, bm: 160, bk: 96, bmm: 32 },
      { m: 3200, k: 3200, bm: 320, bk: 96, bmm: 32 },
    ]);
    expect(findTlTiles(TL_PRESET_TILES.TL2, 3200, 8640)).toEqual({ m: 3200, k: 8640, bm: 160, bk: 96, bmm: 32 });
    expect(findTlTiles(TL_PRESET_TILES.TL1, 8640, 3200)).toEqual({ m: 8640, k: 3200, bm: 320, bk: 64, bmm: 32 });
    for (const type of ['TL1', 'TL2'] as const) {
      for (const t of TL_PRESET_TILES[type]) expect(() => checkTlTiles(type, t.m, t.k, t)).not.toThrow();
      expect(findTlTiles(TL_PRESET_TILES[type], 2560, 2560)).toBeUndefined();
      expect(findTlTiles(TL_PRESET_TILES[type], 6912, 2560)).toBeUndefined();
    }
    expect(code(() => parseKernelConfigIni('m = 3'))).toBe('BAD_ARGUMENT'); // outside a section
    expect(code(() => parseKernelConfigIni('[K]\nm = x'))).toBe('BAD_ARGUMENT');
    expect(code(() => parseKernelConfigIni('[K]\nm = 32\nk = 8'))).toBe('BAD_ARGUMENT'); // bm, bk, bmm missing
  });

  it.each<[TlType, TlTiles, RegExp]>([
    ['TL1', { m: 32, k: 8, bm: 32, bk: 8, bmm: 16 }, /bm must be 32 or 64/],
    ['TL1', { m: 48, k: 8, bm: 32, bk: 8, bmm: 32 }, /multiple of BM/],
    ['TL1', { m: 32, k: 12, bm: 32, bk: 12, bmm: 32 }, /BK/],
    ['TL2', { m: 32, k: 80, bm: 32, bk: 48, bmm: 64 }, /bm must be 32/],
    ['TL2', { m: 32, k: 56, bm: 32, bk: 48, bmm: 32 }, /k % BK/],
    ['TL2', { m: 32, k: 80, bm: 32, bk: 40, bmm: 32 }, /multiple of 24/],
    ['TL2', { m: 32, k: 80, bm: 32, bk: 48, bmm: 32 }, /^$/],
  ])('%s tiles %o: %s', (type, t, message) => {
    if (message.source === '^$') {
      expect(() => checkTlTiles(type, t.m, t.k, t)).not.toThrow();
      return;
    }
    expect(() => checkTlTiles(type, t.m, t.k, t)).toThrow(message);
    expect(code(() => checkTlTiles(type, t.m, t.k, t))).toBe('BAD_ARGUMENT');
  });

  it('refuses bytes that are not TL data: nibbles out of range, short buffers', () => {
    const tiles: TlTiles = { m: 32, k: 8, bm: 32, bk: 8, bmm: 32 };
    const bytes = new Uint8Array(64).fill(0x44);
    bytes[5] = 0x49; // nibble 9: no pair of ternary weights gives it
    expect(code(() => unpackTl('TL1', bytes, 32, 8, tiles))).toBe('BAD_TENSOR_DATA');
    expect(code(() => unpackTl('TL1', new Uint8Array(63), 32, 8, tiles))).toBe('BAD_TENSOR_DATA');
    const t2: TlTiles = { m: 32, k: 80, bm: 32, bk: 48, bmm: 32 };
    const b2 = new Uint8Array(874);
    b2[3] = 0xe0; // |v| = 14 > 13
    expect(code(() => unpackTl('TL2', b2, 32, 80, t2))).toBe('BAD_TENSOR_DATA');
    expect(code(() => packTl('TL1', new Int8Array(256).fill(2), 32, 8, tiles))).toBe('BAD_ARGUMENT');
  });

  it.each([
    ['TL1', { m: 128, k: 512, bm: 64, bk: 128, bmm: 64 }, 0x0f, 15, 8],
    ['TL2', { m: 64, k: 512, bm: 32, bk: 240, bmm: 32 }, 0xe0, 14, 13],
  ] as const)('%s: the direct repack names the same first bad byte as unpackTl', (type, t, bad, nibble, max) => {
    const bytes = packTl(type, randomCodes(t.m * t.k, 7), t.m, t.k, t);
    bytes[3000] = bad; // in the second tile row
    bytes[5000] = bad;
    const message = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return isBitNetError(e) ? `${e.code}: ${e.message}` : String(e);
      }
      return 'no error';
    };
    const expected = message(() => unpackTl(type, bytes, t.m, t.k, t, 'w'));
    expect(expected).toContain(`byte 3000 holds a code ${nibble}, above ${max}`);
    expect(message(() => repackTlToI2s(type, bytes, t.m, t.k, t, 'w'))).toBe(expected);
  });
});
