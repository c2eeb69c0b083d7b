import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { f16BitsToF32 } from './f16.js';
import { GgmlType, TYPE_TRAITS } from './ggml-type.js';
import { layoutByteSize } from './layout.js';
import { Q8_0_BLOCK_BYTES, Q8_0_BLOCK_ELEMENTS, Q8_0_LAYOUT, dequantizeQ8_0, dotRowQ8_0, dotRowQ8_0Q8_0, quantizeActivationsQ8_0, quantizeQ8_0 } from './q8_0.js';

describe('Q8_0', () => {
  it('layout: f16 d then 32 int8 = 34 bytes per 32 elements', () => {
    expect(layoutByteSize(Q8_0_LAYOUT)).toBe(Q8_0_BLOCK_BYTES);
    expect(Q8_0_BLOCK_BYTES).toBe(2 + 32);
    expect(Q8_0_LAYOUT[0]).toMatchObject({ name: 'd', byteOffset: 0 });
    expect(TYPE_TRAITS[GgmlType.Q8_0]).toMatchObject({ blockSize: Q8_0_BLOCK_ELEMENTS, typeSize: Q8_0_BLOCK_BYTES });
  });

  it('dequantizes a hand-built block', () => {
    const block = new Uint8Array(34);
    block[0] = 0x00;
    block[1] = 0x38; // d = 0.5
    block[2] = 4; // element 0 = 2
    block[3] = 0xff; // element 1 = -1 * 0.5
    block[33] = 0x80; // element 31 = -128 * 0.5
    const out = new Float32Array(32).fill(NaN);
    dequantizeQ8_0(block, 32, out);
    expect(out[0]).toBe(2);
    expect(out[1]).toBe(-0.5);
    expect(out[2]).toBe(0);
    expect(out[31]).toBe(-64);
  });

  it('quantizes as quantize_row_q8_0_ref: d = amax/127, q = round half away from zero', () => {
    const values = new Float32Array(32);
    values[0] = 127; // amax = 127 -> d = 1, id = 1
    values[1] = 2.5; // tie -> 3
    values[2] = -2.5; // tie -> -3
    values[3] = 0.49;
    values[4] = -127;
    const bytes = quantizeQ8_0(values);
    expect(bytes[0] | (bytes[1] << 8)).toBe(0x3c00);
    const q = new Int8Array(bytes.buffer, 2, 32);
    expect(Array.from(q.subarray(0, 5))).toEqual([127, 3, -3, 0, -127]);
    const zero = quantizeQ8_0(new Float32Array(32));
    expect(Array.from(zero)).toEqual(new Array(34).fill(0));
  });

  it('random round trips stay within half a step (plus the F16 rounding of d)', () => {
    const rng = seededRng(80);
    const n = 32 * 9;
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = rng.normal() * 3;
    const bytes = quantizeQ8_0(values);
    expect(bytes.length).toBe(9 * 34);
    const out = new Float32Array(n);
    dequantizeQ8_0(bytes, n, out);
    for (let b = 0; b < 9; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[b * 32 + j]));
      const d = f16BitsToF32(bytes[b * 34] | (bytes[b * 34 + 1] << 8));
      expect(Math.abs(d - amax / 127)).toBeLessThanOrEqual((amax / 127) * 2 ** -11);
      for (let j = 0; j < 32; j++) {
        expect(Math.abs(out[b * 32 + j] - values[b * 32 + j])).toBeLessThanOrEqual(0.5 * (amax / 127) + amax * 2 ** -11 + 1e-6);
      }
    }
    const x = rng.f32(64);
    let expected = 0;
    for (let c = 0; c < 64; c++) expected += out[64 * 2 + c] * x[c];
    expect(dotRowQ8_0(bytes.subarray(0, 8 * 34), 2, 64, x)).toBeCloseTo(expected, 10);
  });

  it('dequantizes from a block offset and refuses partial blocks', () => {
    const rng = seededRng(81);
    const bytes = quantizeQ8_0(rng.f32(96));
    const all = new Float32Array(96);
    dequantizeQ8_0(bytes, 96, all);
    const part = new Float32Array(32);
    dequantizeQ8_0(bytes, 32, part, 0, 64);
    expect(Array.from(part)).toEqual(Array.from(all.subarray(64)));
    expect(() => quantizeQ8_0(new Float32Array(33))).toThrow(/multiple of 32/);
    expect(() => dequantizeQ8_0(bytes, 128, new Float32Array(128))).toThrow(/need 136 bytes/);
  });

  it('quantizes activations as llama.cpp x86: id = 127 / amax, halves to even, d rounded to F16; NaN blocks give d = NaN', () => {
    const x = new Float32Array(96);
    x[0] = 127; // block 0: amax 127 -> id 1, d 1
    x[1] = 2.5; // tie -> 2 (even); quantize_row_q8_0_ref would give 3
    x[2] = -3.5; // tie -> -4
    x[3] = 0.5; // tie -> 0
    x[32] = 0.3; // block 1: amax 0.3
    x[33] = -0.1;
    x[70] = NaN; // block 2
    const q = new Int8Array(96);
    const d = new Float64Array(3);
    quantizeActivationsQ8_0(x, 0, 96, q, d);
    expect(Array.from(q.subarray(0, 4))).toEqual([127, 2, -4, 0]);
    expect(d[0]).toBe(1);
    const id = Math.fround(127 / Math.fround(0.3));
    expect(q[32]).toBe(Math.round(Math.fround(Math.fround(0.3) * id)));
    expect(q[33]).toBe(Math.round(Math.fround(Math.fround(-0.1) * id)));
    expect(d[1]).toBe(f16BitsToF32(0x18d6)); // F16(0.3 / 127): 1.208984375 * 2^-9
    expect(Number.isNaN(d[2])).toBe(true);
    expect(Array.from(q.subarray(64))).toEqual(new Array(32).fill(0));
    expect(() => quantizeActivationsQ8_0(x, 0, 40, q, d)).toThrow(/multiple of 32/);
  });

  it('dotRowQ8_0Q8_0 is the dot of the dequantized row with the dequantized activations', () => {
    const rng = seededRng(82);
    const bytes = quantizeQ8_0(rng.f32(3 * 64, -2, 2));
    const w = new Float32Array(3 * 64);
    dequantizeQ8_0(bytes, 3 * 64, w);
    const x = rng.f32(64, -5, 5);
    const q = new Int8Array(64);
    const d = new Float64Array(2);
    quantizeActivationsQ8_0(x, 0, 64, q, d);
    for (let r = 0; r < 3; r++) {
      let expected = 0;
      for (let c = 0; c < 64; c++) expected += w[r * 64 + c] * d[c >> 5] * q[c];
      expect(dotRowQ8_0Q8_0(bytes, r, 64, q, d)).toBeCloseTo(expected, 12);
    }
    expect(() => dotRowQ8_0Q8_0(bytes, 3, 64, q, d)).toThrow(/row 3 out of range/);
  });
});
