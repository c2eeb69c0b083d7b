import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { f16BitsToF32, f32ToF16Bits } from './f16.js';
import { GgmlType, TYPE_TRAITS } from './ggml-type.js';
import { layoutByteSize } from './layout.js';
import { TQ2_0_BLOCK_BYTES, TQ2_0_BLOCK_ELEMENTS, TQ2_0_LAYOUT, dequantizeTq2_0, dotTq2_0, packTq2_0, quantizeTq2_0, unpackTq2_0 } from './tq2_0.js';

describe('TQ2_0', () => {
  it('layout: qs[64] then f16 d (AFTER the codes) = 66 bytes per 256 elements', () => {
    expect(layoutByteSize(TQ2_0_LAYOUT)).toBe(TQ2_0_BLOCK_BYTES);
    expect(TQ2_0_BLOCK_BYTES).toBe(64 + 2);
    expect(TQ2_0_LAYOUT[1]).toMatchObject({ name: 'd', byteOffset: 64, byteLength: 2 });
    expect(TYPE_TRAITS[GgmlType.TQ2_0]).toMatchObject({ blockSize: TQ2_0_BLOCK_ELEMENTS, typeSize: TQ2_0_BLOCK_BYTES });
  });

  it('decodes a hand-built block in upstream element order', () => {
    const b = new Uint8Array(66); // code 0 everywhere = -1
    b[0] = 0b10_01_00_10; // element 0: 2 (+1), element 32: 0 (-1), element 64: 1 (0), element 96: 2 (+1)
    b[37] = 0b00_00_00_01; // element 128 + 5: 1 (0)
    b[64] = 0x00;
    b[65] = 0x34; // d = 0.25
    const codes = unpackTq2_0(b, 256);
    expect([codes[0], codes[32], codes[64], codes[96], codes[133], codes[165], codes[1]]).toEqual([1, -1, 0, 1, 0, -1, -1]);
    const out = new Float32Array(256).fill(NaN);
    dequantizeTq2_0(b, 256, out);
    expect([out[0], out[32], out[64], out[96], out[133], out[255]]).toEqual([0.25, -0.25, 0, 0.25, 0, -0.25]);
  });

  it('quantizes as quantize_row_tq2_0_ref: d = max|x|, code = lround(x / d)', () => {
    const values = new Float32Array(256);
    values[0] = 2; // amax
    values[1] = 1; // exactly half: rounds away from zero -> +1
    values[2] = -1; // -> -1
    values[3] = 0.99; // -> 0
    values[200] = -2;
    const bytes = quantizeTq2_0(values, 256);
    expect(bytes[64] | (bytes[65] << 8)).toBe(f32ToF16Bits(2));
    const codes = unpackTq2_0(bytes, 256);
    expect(Array.from(codes.subarray(0, 5))).toEqual([1, 1, -1, 0, 0]);
    expect(codes[200]).toBe(-1);
  });

  it('pack -> unpack is exact for random codes; dequantize and dot agree with the codes', () => {
    const rng = seededRng(20);
    for (const [rows, cols] of [
      [1, 256],
      [3, 512],
      [5, 2560],
    ] as const) {
      const codes = rng.codes(rows * cols);
      const scale = rng.uniform(0.01, 2);
      const bytes = packTq2_0(codes, scale, cols);
      expect(bytes.length).toBe(((rows * cols) / 256) * 66);
      expect(Array.from(unpackTq2_0(bytes, rows * cols))).toEqual(Array.from(codes));
      const d = f16BitsToF32(f32ToF16Bits(scale));
      const out = new Float32Array(rows * cols);
      dequantizeTq2_0(bytes, rows * cols, out);
      for (let i = 0; i < out.length; i += 97) expect(out[i]).toBe(codes[i] * d);
      const xq = new Int8Array(cols);
      for (let c = 0; c < cols; c++) xq[c] = rng.int(-128, 127);
      for (let r = 0; r < rows; r++) {
        let acc = 0;
        for (let c = 0; c < cols; c++) acc += codes[r * cols + c] * xq[c];
        expect(dotTq2_0(bytes, r, cols, xq)).toBe(d * acc);
      }
    }
  });

  it('re-quantizing dequantized ternary weights gives the same bytes', () => {
    const rng = seededRng(21);
    const codes = rng.codes(512);
    codes[0] = 1; // make every block reach the scale
    codes[256] = -1;
    const bytes = packTq2_0(codes, 0.75, 256);
    const values = new Float32Array(512);
    dequantizeTq2_0(bytes, 512, values);
    expect(Array.from(quantizeTq2_0(values, 256))).toEqual(Array.from(bytes));
  });

  it('refuses bad shapes and codes', () => {
    expect(() => quantizeTq2_0(new Float32Array(256), 128)).toThrow(/multiple of 256/);
    expect(() => packTq2_0(new Int8Array(256).fill(2), 1, 256)).toThrow(/code at index 0 is 2/);
    expect(() => packTq2_0(new Int8Array(256), NaN, 256)).toThrow(/scale must be finite/);
    expect(() => dotTq2_0(new Uint8Array(66), 1, 256, new Int8Array(256))).toThrow(/row 1 out of range/);
  });
});
