import { describe, expect, it } from 'vitest';
import { hostViews } from '../../../test/helpers/host-views.js';
import { defineConformanceSuite } from '../../../test/kernels/conformance.suite.js';
import { isBitNetError } from '../../errors.js';
import { GgmlType } from '../../formats/ggml-type.js';
import { packI2s } from '../../formats/i2s.js';
import { createReferenceBackend, quantizeActivations } from './index.js';

defineConformanceSuite('reference', () => createReferenceBackend());

describe('quantizeActivations', () => {
  it('absmax scaling with halves away from zero', () => {
    const q = new Int8Array(6);
    const s = quantizeActivations(new Float32Array([9, 1, -0.5, 0.25, 0, -1]), 1, 5, q);
    expect(s).toBe(127); // absmax 1 -> 127 / 1
    expect(Array.from(q.subarray(0, 5))).toEqual([127, -64, 32, 0, -127]); // -63.5 -> -64, 31.75 -> 32
  });

  it('an all-zero token uses the 1e-5 floor and stays zero; a tiny token is scaled up', () => {
    const q = new Int8Array(3);
    expect(quantizeActivations(new Float32Array(3), 0, 3, q)).toBe(Math.fround(127 / 1e-5));
    expect(Array.from(q)).toEqual([0, 0, 0]);
    quantizeActivations(new Float32Array([2e-6, -1e-5, 0]), 0, 3, q);
    expect(Array.from(q)).toEqual([25, -127, 0]); // 2e-6 * 1.27e7 = 25.4
  });
});

describe('reference backend specifics', () => {
  it('names kernels by op and type', () => {
    const be = hostViews(createReferenceBackend());
    const bytes = packI2s(new Int8Array(256).fill(1), 0.5, 128);
    const { weight, target } = be.createWeight({ name: 'w', type: GgmlType.I2_S, dims: [128, 2], byteSize: bytes.length });
    target.set(bytes);
    be.prepareWeight(weight);
    const x = be.allocF32(128).fill(1);
    const out = be.allocF32(2);
    be.matmul(out, weight, x, 1);
    be.matmul(out, weight, x, 1);
    expect(Array.from(out)).toEqual([64, 64]); // 128 * (127 / 127) * 0.5
    expect(be.kernelCalls().get('ref.matmul.i2_s')).toBe(2);
  });

  it('refuses ops after dispose and weights it did not create or that are not prepared', async () => {
    const a = hostViews(createReferenceBackend());
    const b = hostViews(createReferenceBackend());
    const bytes = new Uint8Array(8);
    const { weight } = a.createWeight({ name: 'w', type: GgmlType.F32, dims: [2, 1], byteSize: 8 });
    expect(() => a.matmul(new Float32Array(1), weight, new Float32Array(2), 1)).toThrow(/before prepareWeight/);
    a.prepareWeight(weight);
    expect(() => b.matmul(new Float32Array(1), weight, new Float32Array(2), 1)).toThrow(/not created by this backend/);
    expect(bytes.length).toBe(8);
    await a.dispose();
    let code = '';
    try {
      a.allocF32(1);
    } catch (e) {
      if (isBitNetError(e)) code = e.code;
    }
    expect(code).toBe('DISPOSED');
  });
});
