import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { quantizeBf16 } from './bf16.js';
import { quantizeF16 } from './f16.js';
import { quantizeF32 } from './f32.js';
import { firstNonFinite, requireFiniteFloats } from './finite.js';
import { GgmlType } from './ggml-type.js';

describe('firstNonFinite', () => {
  const cases = [
    [GgmlType.F32, quantizeF32],
    [GgmlType.F16, quantizeF16],
    [GgmlType.BF16, quantizeBf16],
  ] as const;
  for (const [type, encode] of cases) {
    it(`finds NaN and +-Inf in type ${type} and accepts finite extremes`, () => {
      const finite = [0, -0, 1, -2.5, 1e-8, 60000, -60000, 3e38];
      const clean = encode(Float32Array.from(type === GgmlType.F16 ? finite.map((x) => Math.max(-65504, Math.min(65504, x))) : finite));
      expect(firstNonFinite(type, clean)).toBe(-1);
      for (const bad of [NaN, Infinity, -Infinity]) {
        const values = Float32Array.from([1, 2, 3, bad, 5]);
        expect(firstNonFinite(type, encode(values))).toBe(3);
        let err: unknown;
        try {
          requireFiniteFloats(type, encode(values), 'blk.0.attn_q.weight');
        } catch (e) {
          err = e;
        }
        expect(isBitNetError(err, 'BAD_TENSOR_DATA')).toBe(true);
        expect(String(err)).toMatch(/blk\.0\.attn_q\.weight.*element 3/);
      }
    });
  }
  it('F16: every position, aligned or not, and an odd byte count (the word scan and the byte tail agree)', () => {
    for (const shift of [0, 1, 2, 3]) {
      for (const n of [1, 2, 7, 8, 9, 33, 47, 64]) {
        for (let at = -1; at < n; at++) {
          const values = Float32Array.from({ length: n }, (_, i) => (i === at ? [Infinity, NaN, -Infinity][i % 3] ?? NaN : 0.5 - i));
          const enc = quantizeF16(values);
          const buf = new Uint8Array(enc.length + 8);
          buf.set(enc, shift);
          const view = buf.subarray(shift, shift + enc.length + (shift === 3 ? 1 : 0)); // one stray byte past the end sometimes
          expect(firstNonFinite(GgmlType.F16, view), `shift ${shift} n ${n} at ${at}`).toBe(at);
        }
      }
    }
  });

  it('ignores other types', () => {
    expect(firstNonFinite(GgmlType.Q8_0, new Uint8Array(34).fill(0xff))).toBe(-1);
  });
});
