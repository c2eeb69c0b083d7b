import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { f16BitsToF32, f32ToF16Bits } from './f16.js';
import { GgmlType, TYPE_TRAITS } from './ggml-type.js';
import { layoutByteSize } from './layout.js';
import { TQ1_0_BLOCK_BYTES, TQ1_0_BLOCK_ELEMENTS, TQ1_0_LAYOUT, dequantizeTq1_0, dotTq1_0, packTq1_0, quantizeTq1_0, tq1_0Trit, unpackTq1_0 } from './tq1_0.js';

/** A block whose bytes all decode to trit 1 (code 0): 121 = 11111 in base 3 -> ceil(121 * 256 / 243) = 128. */
function zeroBlock(): Uint8Array {
  const b = new Uint8Array(54);
  b.fill(128, 0, 48);
  // qh bytes hold 4 trits then a 0: 1111 base 3 = 40, times 3 = 120 -> ceil(120 * 256 / 243) = 127.
  b.fill(127, 48, 52);
  return b;
}

describe('TQ1_0', () => {
  it('layout: qs[48], qh[4], f16 d last = 54 bytes per 256 elements', () => {
    expect(layoutByteSize(TQ1_0_LAYOUT)).toBe(TQ1_0_BLOCK_BYTES);
    expect(TQ1_0_BLOCK_BYTES).toBe(48 + 4 + 2);
    expect(TQ1_0_LAYOUT.map((f) => [f.name, f.byteOffset])).toEqual([
      ['qs', 0],
      ['qh', 48],
      ['d', 52],
    ]);
    expect(TYPE_TRAITS[GgmlType.TQ1_0]).toMatchObject({ blockSize: TQ1_0_BLOCK_ELEMENTS, typeSize: TQ1_0_BLOCK_BYTES });
  });

  it('the pow3 trick decodes every 5-trit number', () => {
    for (let v = 0; v < 243; v++) {
      const byte = Math.ceil((v * 256) / 243);
      const digits = [Math.floor(v / 81) % 3, Math.floor(v / 27) % 3, Math.floor(v / 9) % 3, Math.floor(v / 3) % 3, v % 3];
      expect([0, 1, 2, 3, 4].map((n) => tq1_0Trit(byte, n))).toEqual(digits);
    }
  });

  it('decodes a hand-built block in upstream element order', () => {
    const b = zeroBlock();
    // qs[0]: elements 0, 32, 64, 96, 128 with trits 2,0,1,2,1 -> 178 -> ceil(178 * 256 / 243) = 188.
    b[0] = 188;
    // qs[35]: elements 160 + 3 + 16n with trits 0,2,1,1,2 -> 0*81 + 2*27 + 9 + 3 + 2 = 68 -> ceil(68 * 256 / 243) = 72.
    b[35] = 72;
    // qh[1]: elements 241, 245, 249, 253 with trits 0,2,2,1 -> 25, times 3 = 75 -> ceil(75 * 256 / 243) = 80.
    b[49] = 80;
    b[52] = 0x00;
    b[53] = 0x40; // d = 2
    const codes = unpackTq1_0(b, 256);
    expect([0, 32, 64, 96, 128].map((e) => codes[e])).toEqual([1, -1, 0, 1, 0]);
    expect([163, 179, 195, 211, 227].map((e) => codes[e])).toEqual([-1, 1, 0, 0, 1]);
    expect([241, 245, 249, 253].map((e) => codes[e])).toEqual([-1, 1, 1, 0]);
    let nonZero = 0;
    for (const c of codes) if (c !== 0) nonZero++;
    expect(nonZero).toBe(9);
    const out = new Float32Array(256).fill(NaN);
    dequantizeTq1_0(b, 256, out);
    expect([out[0], out[32], out[64], out[241], out[245], out[7]]).toEqual([2, -2, 0, -2, 2, 0]);
  });

  it('packs the hand-built example to the same bytes', () => {
    const codes = new Int8Array(256);
    [codes[0], codes[32], codes[64], codes[96], codes[128]] = [1, -1, 0, 1, 0];
    const bytes = packTq1_0(codes, 1, 256);
    expect(bytes[0]).toBe(188);
    expect(bytes[1]).toBe(128);
    expect(bytes[48]).toBe(127);
    expect(bytes[52] | (bytes[53] << 8)).toBe(0x3c00);
  });

  it('quantizes as quantize_row_tq1_0_ref: d = max|x|, trit = lround(x / d) + 1', () => {
    const values = new Float32Array(256);
    values[10] = -4; // amax
    values[11] = 2; // half -> +1
    values[12] = -1.9; // -> 0
    values[250] = 3; // -> +1 (qh region)
    const bytes = quantizeTq1_0(values, 256);
    expect(bytes[52] | (bytes[53] << 8)).toBe(f32ToF16Bits(4));
    const codes = unpackTq1_0(bytes, 256);
    expect([codes[10], codes[11], codes[12], codes[250], codes[0]]).toEqual([-1, 1, 0, 1, 0]);
  });

  it('pack -> unpack is exact for random codes; dequantize and dot agree with the codes', () => {
    const rng = seededRng(10);
    for (const [rows, cols] of [
      [1, 256],
      [3, 768],
      [2, 2560],
    ] as const) {
      const codes = rng.codes(rows * cols);
      const scale = rng.uniform(0.001, 3);
      const bytes = packTq1_0(codes, scale, cols);
      expect(bytes.length).toBe(((rows * cols) / 256) * 54);
      expect(Array.from(unpackTq1_0(bytes, rows * cols))).toEqual(Array.from(codes));
      const d = f16BitsToF32(f32ToF16Bits(scale));
      const out = new Float32Array(rows * cols);
      dequantizeTq1_0(bytes, rows * cols, out);
      for (let i = 0; i < out.length; i += 89) expect(out[i]).toBe(codes[i] * d);
      const xq = new Int8Array(cols);
      for (let c = 0; c < cols; c++) xq[c] = rng.int(-128, 127);
      for (let r = 0; r < rows; r++) {
        let acc = 0;
        for (let c = 0; c < cols; c++) acc += codes[r * cols + c] * xq[c];
        expect(dotTq1_0(bytes, r, cols, xq)).toBe(d * acc);
      }
    }
  });

  it('refuses rows that are not a multiple of 256', () => {
    expect(() => packTq1_0(new Int8Array(384), 1, 384)).toThrow(/multiple of 256/);
    expect(() => unpackTq1_0(new Uint8Array(54), 512)).toThrow(/need 108 bytes/);
  });
});
