import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { BF16_BLOCK_BYTES, BF16_LAYOUT, bf16BitsToF32, dequantizeBf16, dotRowBf16, f32ToBf16Bits, quantizeBf16 } from './bf16.js';
import { GgmlType, TYPE_TRAITS } from './ggml-type.js';
import { layoutByteSize } from './layout.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}
function fromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

describe('BF16', () => {
  it('layout is 2 bytes, as the type table says', () => {
    expect(layoutByteSize(BF16_LAYOUT)).toBe(BF16_BLOCK_BYTES);
    expect(TYPE_TRAITS[GgmlType.BF16].typeSize).toBe(2);
  });

  it('converts hand-picked values (round to nearest even, quiet NaN, overflow to inf)', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(-2)).toBe(0xc000);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie, even stays
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie, odd rounds up
    expect(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBf16Bits(fromBits(0x7f7fffff))).toBe(0x7f80); // max f32 rounds to inf
    expect(f32ToBf16Bits(Infinity)).toBe(0x7f80);
    expect(f32ToBf16Bits(fromBits(0x7f800001))).toBe(0x7fc0); // signalling NaN made quiet
    expect(f32ToBf16Bits(fromBits(0x00010000))).toBe(0x0001); // subnormal kept
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(bf16BitsToF32(0xbfc0)).toBe(-1.5);
  });

  it('rounds random f32 values to the nearer neighbour, ties to even', () => {
    const rng = seededRng(1616);
    for (let i = 0; i < 20000; i++) {
      const u = (rng.int(0, 0xfffe) * 65536 + rng.int(0, 0xffff)) >>> 0;
      const x = fromBits(u);
      if (Number.isNaN(x) || !Number.isFinite(x)) continue;
      const lo = u & 0xffff0000;
      const hi = lo + 0x10000;
      const vLo = fromBits(lo);
      const vHi = (hi & 0x7fffffff) >>> 0 === 0x7f800000 ? (x < 0 ? -Infinity : Infinity) : fromBits(hi);
      const dLo = Math.abs(x - vLo);
      const dHi = Math.abs(vHi - x);
      const expected = dLo < dHi ? lo >>> 16 : dHi < dLo ? hi >>> 16 : (lo >>> 16) % 2 === 0 ? lo >>> 16 : hi >>> 16;
      const actual = f32ToBf16Bits(x);
      if (actual !== (expected & 0xffff)) expect({ u, actual }).toEqual({ u, actual: expected & 0xffff });
      expect(bitsOf(bf16BitsToF32(actual))).toBe((actual << 16) >>> 0);
    }
  });

  it('tensors: quantize -> dequantize and row dot', () => {
    const rng = seededRng(3);
    const values = rng.f32(64, -100, 100);
    const bytes = quantizeBf16(values);
    const out = new Float32Array(64);
    dequantizeBf16(bytes, 64, out);
    for (let i = 0; i < 64; i++) {
      expect(out[i]).toBe(bf16BitsToF32(f32ToBf16Bits(values[i])));
      expect(Math.abs(out[i] - values[i])).toBeLessThanOrEqual(Math.abs(values[i]) * 2 ** -8);
    }
    const x = rng.f32(32);
    let expected = 0;
    for (let c = 0; c < 32; c++) expected += out[32 + c] * x[c];
    expect(dotRowBf16(bytes, 1, 32, x)).toBe(expected);
  });
});
