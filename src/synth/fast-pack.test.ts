// The table-driven I2_S / TQ2_0 packers must write exactly the bytes of the reference packers in formats/.

import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { packI2s } from '../formats/i2s.js';
import { packTq2_0 } from '../formats/tq2_0.js';
import { packI2sFast, packTq2_0Fast } from './fast-pack.js';
import { Rng } from './rng.js';

function randomCodes(n: number, seed: number): Int8Array {
  const rng = new Rng(seed);
  return Int8Array.from({ length: n }, () => (rng.nextU32() % 3) - 1);
}

describe('fast 2-bit packers', () => {
  it('write the same bytes as packI2s and packTq2_0', () => {
    for (const [rowLength, nRows, seed] of [[256, 1, 1], [512, 3, 2], [2560, 2, 3], [768, 5, 4]] as const) {
      const codes = randomCodes(rowLength * nRows, seed);
      const scale = 0.0123 + seed;
      expect(packI2sFast(codes, scale, rowLength)).toEqual(packI2s(codes, scale, rowLength));
      expect(packTq2_0Fast(codes, scale, rowLength)).toEqual(packTq2_0(codes, scale, rowLength));
    }
    // I2_S blocks are 128 elements: rows of 128 are fine for it.
    const codes = randomCodes(128 * 3, 9);
    expect(packI2sFast(codes, 0.5, 128)).toEqual(packI2s(codes, 0.5, 128));
  });

  it('refuses rows that are not whole blocks, naming the tensor', () => {
    const codes = new Int8Array(384);
    for (const f of [() => packTq2_0Fast(codes, 1, 384, 'blk.0.attn_k.weight'), () => packI2sFast(codes, 1, 96, 'blk.0.attn_k.weight')]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isBitNetError(err, 'BAD_TENSOR_SHAPE')).toBe(true);
      expect(String(err)).toContain('blk.0.attn_k.weight');
    }
  });
});
