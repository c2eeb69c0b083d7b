import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { F32_BLOCK_BYTES, F32_LAYOUT, dequantizeF32, dotRowF32, quantizeF32, readF32 } from './f32.js';
import { GgmlType, TYPE_TRAITS } from './ggml-type.js';
import { layoutByteSize } from './layout.js';

describe('F32', () => {
  it('layout is 4 bytes, as the type table says', () => {
    expect(layoutByteSize(F32_LAYOUT)).toBe(F32_BLOCK_BYTES);
    expect(TYPE_TRAITS[GgmlType.F32].typeSize).toBe(4);
  });

  it('reads little-endian at any alignment', () => {
    const bytes = new Uint8Array([0xff, 0x00, 0x00, 0x80, 0x3f]); // 1.0f at offset 1
    expect(readF32(bytes, 1)).toBe(1);
    const out = new Float32Array(1);
    dequantizeF32(bytes.subarray(1), 1, out);
    expect(out[0]).toBe(1);
  });

  it('round-trips and dots exactly', () => {
    const rng = seededRng(32);
    const values = rng.f32(3 * 10);
    const bytes = quantizeF32(values);
    const out = new Float32Array(30);
    dequantizeF32(bytes, 30, out);
    expect(Array.from(out)).toEqual(Array.from(values));
    const x = rng.f32(10);
    let expected = 0;
    for (let c = 0; c < 10; c++) expected += values[20 + c] * x[c];
    expect(dotRowF32(bytes, 2, 10, x)).toBe(expected);
  });
});
