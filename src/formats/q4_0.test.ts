import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { f16BitsToF32 } from './f16.js';
import { GgmlType, TYPE_TRAITS } from './ggml-type.js';
import { layoutByteSize } from './layout.js';
import { Q4_0_BLOCK_BYTES, Q4_0_LAYOUT, dequantizeQ4_0, dotRowQ4_0, quantizeQ4_0 } from './q4_0.js';

describe('Q4_0', () => {
  it('layout: f16 d then 16 bytes of nibbles = 18 bytes per 32 elements', () => {
    expect(layoutByteSize(Q4_0_LAYOUT)).toBe(Q4_0_BLOCK_BYTES);
    expect(Q4_0_BLOCK_BYTES).toBe(2 + 16);
    expect(TYPE_TRAITS[GgmlType.Q4_0]).toMatchObject({ blockSize: 32, typeSize: 18 });
  });

  it('dequantizes a hand-built block: byte j = element j (low nibble) and j + 16 (high nibble)', () => {
    const block = new Uint8Array(18).fill(0x88); // every nibble 8 -> 0
    block[0] = 0x00;
    block[1] = 0x40; // d = 2
    block[2] = 0x5a; // element 0: (10 - 8) * 2 = 4; element 16: (5 - 8) * 2 = -6
    block[17] = 0xf0; // element 15: (0 - 8) * 2 = -16; element 31: (15 - 8) * 2 = 14
    const out = new Float32Array(32).fill(NaN);
    dequantizeQ4_0(block, 32, out);
    expect(out[0]).toBe(4);
    expect(out[16]).toBe(-6);
    expect(out[15]).toBe(-16);
    expect(out[31]).toBe(14);
    expect(out[1]).toBe(0);
  });

  it('quantizes as quantize_row_q4_0_ref: d = signed max / -8, nibble = min(15, trunc(x/d + 8.5))', () => {
    const values = new Float32Array(32);
    for (let j = 0; j < 16; j++) values[j] = j - 8; // -8 .. 7, max magnitude -8 -> d = 1
    values[16] = 8; // same magnitude as -8 but found later: d stays 1 -> nibble min(15, 16) = 15 -> 7
    values[17] = 0.5; // 9.0 -> 9 -> 1
    values[18] = -0.5; // 8.0 -> 8 -> 0
    values[19] = 0.49; // 8.99 -> 8 -> 0
    const bytes = quantizeQ4_0(values);
    expect(f16BitsToF32(bytes[0] | (bytes[1] << 8))).toBe(1);
    const out = new Float32Array(32);
    dequantizeQ4_0(bytes, 32, out);
    for (let j = 0; j < 16; j++) expect(out[j]).toBe(j - 8);
    expect(Array.from(out.subarray(16, 20))).toEqual([7, 1, 0, 0]);
  });

  it('random round trips stay within one step', () => {
    const rng = seededRng(40);
    const n = 32 * 8;
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = rng.normal();
    const bytes = quantizeQ4_0(values);
    const out = new Float32Array(n);
    dequantizeQ4_0(bytes, n, out);
    for (let b = 0; b < 8; b++) {
      const d = Math.abs(f16BitsToF32(bytes[b * 18] | (bytes[b * 18 + 1] << 8)));
      for (let j = 0; j < 32; j++) expect(Math.abs(out[b * 32 + j] - values[b * 32 + j])).toBeLessThanOrEqual(d * 1.01);
    }
    const x = rng.f32(128);
    let expected = 0;
    for (let c = 0; c < 128; c++) expected += out[128 + c] * x[c];
    expect(dotRowQ4_0(bytes, 1, 128, x)).toBeCloseTo(expected, 10);
  });
});
