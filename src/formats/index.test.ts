import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { quantizeBf16 } from './bf16.js';
import { f16BitsToF32, f32ToF16Bits, quantizeF16 } from './f16.js';
import { quantizeF32 } from './f32.js';
import { GgmlType } from './ggml-type.js';
import { packI2s } from './i2s.js';
import { dequantizeRows, dotTernaryRow, floatRowDot, isTernary, quantizedRowDot, vecDotType } from './index.js';
import { roundToBf16 } from './bf16.js';
import { roundToF16 } from './f16.js';
import { quantizeActivationsQ8_0 } from './q8_0.js';
import { quantizeQ4_0 } from './q4_0.js';
import { quantizeQ6_K } from './q6_k.js';
import { quantizeQ8_0 } from './q8_0.js';
import { packTq1_0 } from './tq1_0.js';
import { packTq2_0 } from './tq2_0.js';

function expectCode(fn: () => unknown, code: string, text: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(isBitNetError(e)).toBe(true);
    if (isBitNetError(e)) {
      expect(e.code).toBe(code);
      expect(e.message).toMatch(text);
    }
    return;
  }
  throw new Error('expected a BitNetError');
}

describe('formats dispatch', () => {
  const rng = seededRng(99);
  const rows = 4;
  const cols = 512;
  const values = rng.f32(rows * cols, -2, 2);
  const encoders: [GgmlType, Uint8Array][] = [
    [GgmlType.F32, quantizeF32(values)],
    [GgmlType.F16, quantizeF16(values)],
    [GgmlType.BF16, quantizeBf16(values)],
    [GgmlType.Q8_0, quantizeQ8_0(values)],
    [GgmlType.Q4_0, quantizeQ4_0(values)],
    [GgmlType.Q6_K, quantizeQ6_K(values)],
  ];

  it('dequantizeRows of a row range equals the same rows of the whole tensor, and floatRowDot its float64 dot', () => {
    const x = rng.f32(cols);
    for (const [type, bytes] of encoders) {
      const all = new Float32Array(rows * cols);
      dequantizeRows(type, bytes, 0, rows, cols, all);
      const two = new Float32Array(2 * cols + 3).fill(NaN);
      dequantizeRows(type, bytes, 1, 2, cols, two, 3);
      expect(Array.from(two.subarray(3))).toEqual(Array.from(all.subarray(cols, 3 * cols)));
      for (let r = 0; r < rows; r++) {
        let expected = 0;
        for (let c = 0; c < cols; c++) expected += all[r * cols + c] * x[c];
        expect(floatRowDot(type, bytes, r, cols, x)).toBeCloseTo(expected, 9);
      }
      // Each encoding stays close to the source values.
      for (let i = 0; i < all.length; i += 31) expect(Math.abs(all[i] - values[i])).toBeLessThan(0.2);
    }
  });

  it('the three ternary formats give bit-identical dots for the same codes and an F16 scale', () => {
    const codes = rng.codes(rows * cols);
    const scale = f16BitsToF32(f32ToF16Bits(0.0371));
    const tensors: [GgmlType, Uint8Array][] = [
      [GgmlType.TQ1_0, packTq1_0(codes, scale, cols)],
      [GgmlType.TQ2_0, packTq2_0(codes, scale, cols)],
      [GgmlType.I2_S, packI2s(codes, scale, cols)],
    ];
    const xq = new Int8Array(cols);
    for (let c = 0; c < cols; c++) xq[c] = rng.int(-128, 127);
    for (let r = 0; r < rows; r++) {
      const dots = tensors.map(([type, bytes]) => dotTernaryRow(type, bytes, r, cols, xq));
      expect(Object.is(dots[0], dots[1]) && Object.is(dots[1], dots[2])).toBe(true);
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += codes[r * cols + c] * xq[c];
      expect(dots[0]).toBe(scale * acc);
    }
    for (const [type, bytes] of tensors) {
      expect(isTernary(type)).toBe(true);
      const out = new Float32Array(cols);
      dequantizeRows(type, bytes, 2, 1, cols, out);
      for (let c = 0; c < cols; c++) expect(out[c]).toBe(codes[2 * cols + c] * scale);
    }
  });

  it('refuses unsupported types naming them', () => {
    expect(isTernary(GgmlType.F16)).toBe(false);
    expectCode(() => dequantizeRows(GgmlType.Q4_K, new Uint8Array(144), 0, 1, 256, new Float32Array(256)), 'UNSUPPORTED_TENSOR_TYPE', /Q4_K/);
    expectCode(() => dequantizeRows(GgmlType.TL2, new Uint8Array(144), 0, 1, 256, new Float32Array(256)), 'UNSUPPORTED_TENSOR_TYPE', /TL2/);
    expectCode(() => dotTernaryRow(GgmlType.F16, new Uint8Array(512), 0, 256, new Int8Array(256)), 'UNSUPPORTED_TENSOR_TYPE', /F16/);
    expectCode(() => floatRowDot(GgmlType.TQ2_0, new Uint8Array(66), 0, 256, new Float32Array(256)), 'UNSUPPORTED_TENSOR_TYPE', /TQ2_0/);
    expectCode(() => dequantizeRows(GgmlType.F32, new Uint8Array(8), 0, 1, 0, new Float32Array(2)), 'BAD_ARGUMENT', /cols/);
  });

  it('vecDotType follows ggml type_traits_cpu; quantizedRowDot equals the dequantized dot with the quantized activations', () => {
    expect([GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q6_K].map(vecDotType)).toEqual(['f32', 'f16', 'bf16', 'q8_0', 'q8_0', 'q8_k']);
    expectCode(() => vecDotType(GgmlType.TQ2_0), 'UNSUPPORTED_TENSOR_TYPE', /TQ2_0/);
    expectCode(() => quantizedRowDot(GgmlType.F16, new Uint8Array(512), 0, 256, new Int8Array(256), [1]), 'UNSUPPORTED_TENSOR_TYPE', /F16/);
    const x = rng.f32(cols, -3, 3);
    const q32 = new Int8Array(cols);
    const d32 = new Float64Array(cols / 32);
    quantizeActivationsQ8_0(x, 0, cols, q32, d32);
    // Q8_K-style activations for Q6_K: any int8 values with one scale per 256
    const q256 = new Int8Array(cols);
    for (let c = 0; c < cols; c++) q256[c] = rng.int(-127, 127);
    const d256 = Float64Array.from([0.013, -0.0071]);
    for (const [type, bytes] of encoders) {
      if (type === GgmlType.F32 || type === GgmlType.F16 || type === GgmlType.BF16) continue;
      const [q, d, block] = type === GgmlType.Q6_K ? [q256, d256, 256] : [q32, d32, 32];
      const all = new Float32Array(rows * cols);
      dequantizeRows(type, bytes, 0, rows, cols, all);
      for (let r = 0; r < rows; r++) {
        let expected = 0;
        for (let c = 0; c < cols; c++) expected += all[r * cols + c] * d[Math.floor(c / block)] * q[c];
        expect(quantizedRowDot(type, bytes, r, cols, q, d)).toBeCloseTo(expected, 9);
      }
    }
    expect(roundToF16(1 + 2 ** -11)).toBe(1);
    expect(roundToF16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundToF16(70000)).toBe(Infinity);
    expect(roundToBf16(1 + 2 ** -8)).toBe(1);
    expect(roundToBf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
  });
});
