import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { readF32 } from './f32.js';
import { GgmlType, tensorByteSize } from './ggml-type.js';
import { I2S_BLOCK_BYTES, I2S_BLOCK_ELEMENTS, I2S_LAYOUT, I2S_TAIL_BYTES, I2S_TAIL_LAYOUT, dequantizeI2s, dotI2s, i2sByteSize, i2sScale, packI2s, quantizeI2s, unpackI2s } from './i2s.js';
import { layoutByteSize } from './layout.js';

describe('I2_S', () => {
  it('layout: 32 bytes per 128 elements, then a 32-byte tail holding the f32 scale', () => {
    expect(layoutByteSize(I2S_LAYOUT)).toBe(I2S_BLOCK_BYTES);
    expect(I2S_BLOCK_BYTES * 4).toBe(I2S_BLOCK_ELEMENTS);
    expect(layoutByteSize(I2S_TAIL_LAYOUT)).toBe(I2S_TAIL_BYTES);
    expect(i2sByteSize(2560 * 2560)).toBe((2560 * 2560) / 4 + 32);
    expect(tensorByteSize(GgmlType.I2_S, 2560 * 6912, 2560)).toBe(i2sByteSize(2560 * 6912));
  });

  it('decodes a hand-built tensor: byte p holds elements p, 32+p, 64+p, 96+p at shifts 6, 4, 2, 0', () => {
    const b = new Uint8Array(64).fill(0x55); // code 1 everywhere = 0
    b[0] = 0b10_00_01_10; // element 0: +1, element 32: -1, element 64: 0, element 96: +1
    b[31] = 0b01_01_01_11; // element 127 (byte 31, shift 0): code 3 -> +2 (as bitnet.cpp computes it)
    new DataView(b.buffer).setFloat32(32, 1.5, true);
    expect(i2sScale(b, 128)).toBe(1.5);
    const codes = unpackI2s(b, 128);
    expect([codes[0], codes[32], codes[64], codes[96], codes[1], codes[127]]).toEqual([1, -1, 0, 1, 0, 2]);
    const out = new Float32Array(128).fill(NaN);
    dequantizeI2s(b, 128, out);
    expect([out[0], out[32], out[64], out[96], out[127]]).toEqual([1.5, -1.5, 0, 1.5, 3]);
  });

  it('quantizes as bitnet.cpp quantize_i2_s: scale = max|w|, codes by sign, |w| < 1e-6 -> 0', () => {
    const values = new Float32Array(256);
    values.set([-0.7, 0, 5e-7, 0.7, 0.3, -1.1e-6, -2e-6], 0); // f32(1e-6) is just below 1e-6 and would be 0
    values[200] = 0.7;
    const bytes = quantizeI2s(values, 128);
    expect(bytes.length).toBe(256 / 4 + 32);
    expect(readF32(bytes, 64)).toBe(Math.fround(0.7));
    const codes = unpackI2s(bytes, 256);
    expect(Array.from(codes.subarray(0, 8))).toEqual([-1, 0, 0, 1, 1, -1, -1, 0]);
    expect(codes[200]).toBe(1);
  });

  it('pack -> unpack is exact for random codes; dequantize and dot agree with the codes', () => {
    const rng = seededRng(36);
    for (const [rows, cols] of [
      [1, 128],
      [3, 384],
      [7, 2560],
    ] as const) {
      const codes = rng.codes(rows * cols);
      const scale = Math.fround(rng.uniform(0.01, 2));
      const bytes = packI2s(codes, scale, cols);
      expect(bytes.length).toBe((rows * cols) / 4 + 32);
      expect(Array.from(unpackI2s(bytes, rows * cols))).toEqual(Array.from(codes));
      const out = new Float32Array(rows * cols);
      dequantizeI2s(bytes, rows * cols, out);
      for (let i = 0; i < out.length; i += 61) expect(out[i]).toBe(codes[i] * scale);
      const part = new Float32Array(cols);
      dequantizeI2s(bytes, rows * cols, part, 0, (rows - 1) * cols, cols);
      expect(Array.from(part)).toEqual(Array.from(out.subarray((rows - 1) * cols)));
      const xq = new Int8Array(cols);
      for (let c = 0; c < cols; c++) xq[c] = rng.int(-128, 127);
      for (let r = 0; r < rows; r++) {
        let acc = 0;
        for (let c = 0; c < cols; c++) acc += codes[r * cols + c] * xq[c];
        expect(dotI2s(bytes, r, cols, xq)).toBe(scale * acc);
      }
    }
  });

  it('refuses element counts that are not a multiple of 128 (bitnet.cpp only writes whole blocks)', () => {
    expect(() => quantizeI2s(new Float32Array(192), 192)).toThrow(/multiple of 128/);
    expect(() => packI2s(new Int8Array(64), 1, 64)).toThrow(/multiple of 128/);
    expect(() => i2sByteSize(100)).toThrow(/multiple of 128/);
    expect(() => unpackI2s(new Uint8Array(64), 192)).toThrow(/multiple of 128/);
    expect(() => dotI2s(new Uint8Array(64), 0, 64, new Int8Array(64))).toThrow(/multiple of 128/);
  });
});
