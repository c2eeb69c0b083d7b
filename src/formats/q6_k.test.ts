import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { GgmlType, TYPE_TRAITS } from './ggml-type.js';
import { layoutByteSize } from './layout.js';
import { Q6_K_BLOCK_BYTES, Q6_K_LAYOUT, dequantizeQ6_K, dotRowQ6_K, quantizeQ6_K } from './q6_k.js';

describe('Q6_K', () => {
  it('layout: ql[128], qh[64], scales[16], f16 d last = 210 bytes per 256 elements', () => {
    expect(layoutByteSize(Q6_K_LAYOUT)).toBe(Q6_K_BLOCK_BYTES);
    expect(Q6_K_BLOCK_BYTES).toBe(128 + 64 + 16 + 2);
    expect(Q6_K_LAYOUT.map((f) => f.name)).toEqual(['ql', 'qh', 'scales', 'd']);
    expect(TYPE_TRAITS[GgmlType.Q6_K]).toMatchObject({ blockSize: 256, typeSize: 210 });
  });

  it('dequantizes a hand-built block as dequantize_row_q6_K', () => {
    const b = new Uint8Array(210); // all ql/qh 0 -> q = -32
    b[208] = 0x00;
    b[209] = 0x38; // d = 0.5
    const scales = new Int8Array(b.buffer, 192, 16);
    scales.fill(1);
    scales[0] = 2; // elements 0..15
    scales[1] = 4; // elements 16..31
    scales[2] = -3; // elements 32..47
    scales[4] = 5; // elements 64..79
    scales[6] = 7; // elements 96..111
    scales[8] = -1; // elements 128..143
    b[0] = 0x21; // ql[0]: element 0 low nibble 1, element 64 low nibble 2
    b[128] = 0xe4; // qh[0]: element 0 hi 0, element 32 hi 1, element 64 hi 2, element 96 hi 3
    b[16] = 0x05; // ql[16]: element 16 low nibble 5
    b[128 + 16] = 0x01; // qh[16]: element 16 hi 1
    b[64] = 0x0f; // ql[64] (second half): element 128 low nibble 15
    b[128 + 32] = 0x03; // qh[32]: element 128 hi 3
    const out = new Float32Array(256).fill(NaN);
    dequantizeQ6_K(b, 256, out);
    expect(out[0]).toBe(0.5 * 2 * (1 - 32)); // -31
    expect(out[32]).toBe(0.5 * -3 * (16 - 32)); // 24
    expect(out[64]).toBe(0.5 * 5 * ((2 | 32) - 32)); // 5
    expect(out[96]).toBe(0.5 * 7 * (48 - 32)); // 56
    expect(out[16]).toBe(0.5 * 4 * ((5 | 16) - 32)); // -22
    expect(out[128]).toBe(0.5 * -1 * (63 - 32)); // -15.5
    expect(out[1]).toBe(0.5 * 2 * -32);
    expect(out[255]).toBe(0.5 * 1 * -32);
  });

  it('quantize -> dequantize has small error on random data (and zero blocks stay zero)', () => {
    const rng = seededRng(66);
    const n = 256 * 4;
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = rng.normal() * (i < 256 ? 0.02 : 1);
    values.fill(0, 512, 768);
    const bytes = quantizeQ6_K(values);
    expect(bytes.length).toBe(4 * 210);
    const out = new Float32Array(n);
    dequantizeQ6_K(bytes, n, out);
    for (let blk = 0; blk < 4; blk++) {
      let amax = 0;
      let err2 = 0;
      let sig2 = 0;
      for (let j = 0; j < 256; j++) {
        const i = blk * 256 + j;
        amax = Math.max(amax, Math.abs(values[i]));
        err2 += (out[i] - values[i]) ** 2;
        sig2 += values[i] ** 2;
      }
      for (let j = 0; j < 256; j++) expect(Math.abs(out[blk * 256 + j] - values[blk * 256 + j])).toBeLessThanOrEqual(0.04 * amax);
      if (blk === 2) expect(sig2 === 0 && err2 === 0).toBe(true);
      else expect(Math.sqrt(err2 / sig2)).toBeLessThan(0.03);
    }
    const x = rng.f32(512);
    let expected = 0;
    for (let c = 0; c < 512; c++) expected += out[512 + c] * x[c];
    expect(dotRowQ6_K(bytes, 1, 512, x)).toBeCloseTo(expected, 10);
    const part = new Float32Array(256);
    dequantizeQ6_K(bytes, 256, part, 0, 768);
    expect(Array.from(part)).toEqual(Array.from(out.subarray(768)));
  });
});
