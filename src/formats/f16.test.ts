import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { F16_BLOCK_BYTES, F16_BLOCK_ELEMENTS, F16_LAYOUT, dequantizeF16, dotRowF16, f16BitsToF32, f32ToF16Bits, quantizeF16 } from './f16.js';
import { GgmlType, TYPE_TRAITS } from './ggml-type.js';
import { layoutByteSize } from './layout.js';

/** Every finite non-negative F16 value in increasing order, built from the bit patterns 0..0x7bff. */
function finiteF16Values(): number[] {
  const values: number[] = [];
  for (let bits = 0; bits <= 0x7bff; bits++) values.push(f16BitsToF32(bits));
  return values;
}

describe('F16 layout', () => {
  it('is 2 bytes per element, as the type table says', () => {
    expect(layoutByteSize(F16_LAYOUT)).toBe(F16_BLOCK_BYTES);
    expect(F16_BLOCK_BYTES).toBe(2);
    expect(TYPE_TRAITS[GgmlType.F16].typeSize).toBe(F16_BLOCK_BYTES);
    expect(TYPE_TRAITS[GgmlType.F16].blockSize).toBe(F16_BLOCK_ELEMENTS);
  });
});

describe('f16BitsToF32', () => {
  it('decodes hand-picked patterns', () => {
    expect(f16BitsToF32(0x3c00)).toBe(1);
    expect(f16BitsToF32(0xc000)).toBe(-2);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(f16BitsToF32(0x0400)).toBe(2 ** -14);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16BitsToF32(0x7c00)).toBe(Infinity);
    expect(f16BitsToF32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true);
    expect(f16BitsToF32(0x3555)).toBeCloseTo(0.333251953125, 12);
  });
});

describe('f32ToF16Bits', () => {
  it('encodes hand-picked values with round to nearest even', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(0.1)).toBe(0x2e66);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65519.99)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // halfway to 65536: ties to even -> inf
    expect(f32ToF16Bits(1e6)).toBe(0x7c00);
    expect(f32ToF16Bits(-1e6)).toBe(0xfc00);
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, even stays
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, odd rounds up
    expect(f32ToF16Bits(2 ** -14)).toBe(0x0400);
    expect(f32ToF16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // subnormal 1023.5 units: tie -> 1024 = smallest normal
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and 1 unit -> 0
    expect(f32ToF16Bits(2 ** -25 * 1.0001)).toBe(0x0001);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // 1.5 units -> 2
    expect(f32ToF16Bits(1e-10)).toBe(0x0000);
    expect(f32ToF16Bits(-1e-10)).toBe(0x8000);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(Infinity)).toBe(0x7c00);
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00);
    const nan = f32ToF16Bits(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x03ff).not.toBe(0);
  });

  it('round-trips every non-NaN F16 pattern', () => {
    for (let bits = 0; bits < 65536; bits++) {
      if ((bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0) continue;
      const back = f32ToF16Bits(f16BitsToF32(bits));
      if (back !== bits) expect({ bits, back }).toEqual({ bits, back: bits });
    }
  });

  it('picks the nearest F16 (ties to even) for random f32 values over the whole range', () => {
    const table = finiteF16Values();
    const rng = seededRng(1601);
    const f32 = new Float32Array(1);
    for (let i = 0; i < 20000; i++) {
      f32[0] = (rng.next() < 0.5 ? -1 : 1) * rng.next() * 2 ** rng.int(-27, 17);
      const x = f32[0];
      const a = Math.abs(x);
      // Binary search for the neighbours lo <= a < hi among finite F16 values (the step past 65504 is 65536 = inf).
      let lo = 0;
      let hi = table.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (table[mid] <= a) lo = mid;
        else hi = mid;
      }
      let expectedBits: number;
      if (a >= 65520) expectedBits = 0x7c00;
      else if (a >= table[table.length - 1]) expectedBits = 0x7bff;
      else {
        const dLo = a - table[lo];
        const dHi = table[hi] - a;
        expectedBits = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
      }
      if (x < 0 || Object.is(x, -0)) expectedBits |= 0x8000;
      const actual = f32ToF16Bits(x);
      if (actual !== expectedBits) expect({ x, actual }).toEqual({ x, actual: expectedBits });
    }
  });
});

describe('F16 tensors', () => {
  it('quantize -> dequantize matches per-element conversion and dotRowF16 matches a float64 dot', () => {
    const rng = seededRng(7);
    const cols = 37;
    const rows = 3;
    const values = rng.f32(cols * rows, -3, 3);
    const bytes = quantizeF16(values);
    expect(bytes.length).toBe(cols * rows * 2);
    const out = new Float32Array(cols * rows);
    dequantizeF16(bytes, cols * rows, out);
    for (let i = 0; i < out.length; i++) expect(out[i]).toBe(f16BitsToF32(f32ToF16Bits(values[i])));
    const x = rng.f32(cols);
    for (let r = 0; r < rows; r++) {
      let expected = 0;
      for (let c = 0; c < cols; c++) expected += out[r * cols + c] * x[c];
      expect(dotRowF16(bytes, r, cols, x)).toBe(expected);
    }
  });

  it('refuses short buffers and rows out of range', () => {
    expect(() => dequantizeF16(new Uint8Array(3), 2, new Float32Array(2))).toThrow(/need 4 bytes/);
    expect(() => dotRowF16(new Uint8Array(8), 2, 2, new Float32Array(2))).toThrow(/row 2 out of range/);
  });
});
