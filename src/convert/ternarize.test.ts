// Weight transforms: transformers' uint8 packing read back, absmean as WeightQuant computes it, exact-ternary
// detection, and the llama q/k row order checked against the two RoPE definitions.

import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { hfPackTernary, llamaRowsToHf } from '../../test/helpers/hf-checkpoint.js';
import { absmeanTernarize, absmeanTernarize16, decodeFloats, exactTernary, permuteRowsForLlamaRope, unpackHfTernary } from './ternarize.js';

describe('unpackHfTernary', () => {
  it("reads transformers' documented example (integrations/bitnet.py unpack_weights docstring)", () => {
    // packed [[0b10100001, 0b00011000], [0b10010000, 0b00001010]] unpacks to 8 rows x 2 columns:
    // [[0,-1],[-1,1],[-1,1],[-1,1],[1,0],[0,-1],[1,-1],[1,-1]]
    const packed = Uint8Array.of(0b10100001, 0b00011000, 0b10010000, 0b00001010);
    expect(Array.from(unpackHfTernary(packed, 2, 2, 'w'))).toEqual([0, -1, -1, 1, -1, 1, -1, 1, 1, 0, 0, -1, 1, -1, 1, -1]);
  });
  it('inverts the pack_weights layout on random codes', () => {
    const rows = 12;
    const cols = 5;
    const codes = Int8Array.from({ length: rows * cols }, (_, i) => ((i * 37 + 11) % 3) - 1);
    expect(Array.from(unpackHfTernary(hfPackTernary(codes, rows, cols), rows / 4, cols, 'w'))).toEqual(Array.from(codes));
  });
});

describe('absmeanTernarize', () => {
  it('scale = mean|W| (through 1/s in f32), codes = clamp(round(W / scale)), ties to even', () => {
    // mean|W| = 4 / 6, s = 1.5: W * s = 0.75, 0.375, -3, 0, -0.375, 1.5
    const w = Float32Array.of(0.5, 0.25, -2, 0, -0.25, 1);
    const { codes, scale } = absmeanTernarize(w, 'w');
    expect(Array.from(codes)).toEqual([1, 0, -1, 0, 0, 1]);
    expect(scale).toBe(Math.fround(1 / Math.fround(1 / Math.fround(4 / 6))));
    const big = absmeanTernarize(Float32Array.of(1, 3, 0, 0), 'w'); // mean 1: 3 clamps to 1
    expect(Array.from(big.codes)).toEqual([1, 1, 0, 0]);
    // W * s exactly +-0.5 rounds to 0 (torch.round: half to even), where Math.round would give 1
    const tie = absmeanTernarize(Float32Array.of(0.25, -0.25, 1.5, 0), 'w'); // mean 0.5, s = 2
    expect(Array.from(tie.codes)).toEqual([0, 0, 1, 0]);
  });
  it('an all-zero tensor uses the 1e-5 floor and stays zero; NaN is refused', () => {
    const z = absmeanTernarize(new Float32Array(8), 'z');
    expect(Array.from(z.codes)).toEqual(new Array(8).fill(0));
    expect(z.scale).toBe(Math.fround(1 / Math.fround(1 / 1e-5)));
    let err: unknown;
    try {
      absmeanTernarize(Float32Array.of(1, NaN), 'bad');
    } catch (e) {
      err = e;
    }
    expect(isBitNetError(err, 'BAD_TENSOR_DATA')).toBe(true);
  });
});

describe('absmeanTernarize16', () => {
  it('gives the same codes and scale as absmeanTernarize on the decoded values (BF16 and F16, ties included)', () => {
    let s = 7;
    const rand = (): number => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s;
    };
    for (const dtype of ['BF16', 'F16'] as const) {
      for (let trial = 0; trial < 20; trial++) {
        const bytes = new Uint8Array(2 * 4096);
        for (let i = 0; i < bytes.length; i += 2) {
          // magnitudes around 2^-6 .. 2^2 with random signs, some zeros and subnormal-ish values
          const bits = dtype === 'BF16' ? (rand() % 3 === 0 ? 0 : 0x3c00 + (rand() % 0x0500)) | (rand() & 0x8000) : (rand() % 3 === 0 ? rand() % 0x400 : 0x1c00 + (rand() % 0x2400)) | (rand() & 0x8000);
          bytes[i] = bits & 0xff;
          bytes[i + 1] = bits >>> 8;
        }
        if (trial === 0) {
          // plant exact ties: groups (0.25, 1.75, 0, 0) have mean 0.5, s = 2, so 0.25 * s = 0.5 exactly -> code 0
          const quarter = dtype === 'BF16' ? 0x3e80 : 0x3400;
          const sevenQuarters = dtype === 'BF16' ? 0x3fe0 : 0x3f00;
          for (let i = 0; i < bytes.length; i += 2) {
            const bits = i % 8 === 0 ? quarter : i % 8 === 2 ? sevenQuarters : 0;
            bytes[i] = bits & 0xff;
            bytes[i + 1] = bits >>> 8;
          }
        }
        const a = absmeanTernarize(decodeFloats(bytes, dtype), 'w');
        const b = absmeanTernarize16(bytes, dtype, 'w');
        expect(b.scale).toBe(a.scale);
        expect(Buffer.compare(Buffer.from(b.codes.buffer), Buffer.from(a.codes.buffer)), `${dtype} trial ${trial}`).toBe(0);
        expect(a.codes.some((c) => c === 0) && a.codes.some((c) => c !== 0)).toBe(true);
        if (trial === 0) expect(Array.from(b.codes.subarray(0, 4))).toEqual([0, 1, 0, 0]);
      }
    }
  });
  it('refuses NaN and infinity', () => {
    expect(() => absmeanTernarize16(Uint8Array.of(0, 0x3f, 0xc0, 0x7f), 'BF16', 'nan')).toThrow(/non-finite/);
    expect(() => absmeanTernarize16(Uint8Array.of(0, 0x3c, 0, 0x7c), 'F16', 'inf')).toThrow(/non-finite/);
  });
});

describe('exactTernary', () => {
  it('accepts {-a, 0, a} losslessly and rejects a second magnitude', () => {
    expect(exactTernary(Float32Array.of(0.125, 0, -0.125), 'w')).toEqual({ codes: Int8Array.of(1, 0, -1), scale: 0.125 });
    expect(exactTernary(Float32Array.of(0.125, 0.25), 'w')).toBeUndefined();
  });
});

describe('decodeFloats', () => {
  it('BF16, F16 and F32 little-endian, at an odd byte offset too', () => {
    const buf = Uint8Array.of(0, 0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3c);
    expect(Array.from(decodeFloats(buf.subarray(1, 5), 'BF16'))).toEqual([1, -2]);
    expect(Array.from(decodeFloats(buf.subarray(5, 7), 'F16'))).toEqual([1]);
  });
});

describe('llama q/k row order', () => {
  it('rotate-half RoPE on the transformers rows equals pairwise RoPE on the converted rows', () => {
    const heads = 2;
    const headDim = 8;
    const cols = 3;
    const w = Float32Array.from({ length: heads * headDim * cols }, (_, i) => Math.sin(i + 1));
    const x = Float32Array.of(0.3, -1.2, 0.7);
    const matvec = (m: Float32Array): Float32Array => Float32Array.from({ length: heads * headDim }, (_, r) => m[r * cols] * x[0] + m[r * cols + 1] * x[1] + m[r * cols + 2] * x[2]);
    const pos = 5;
    const theta = (i: number): number => pos * 10000 ** (-(2 * i) / headDim);
    // transformers (rotate_half): dims i and i + headDim/2 rotate together by theta(i)
    const qHf = matvec(w);
    const ropeHf = new Float64Array(qHf.length);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < headDim / 2; i++) {
        const a = qHf[h * headDim + i];
        const b = qHf[h * headDim + i + headDim / 2];
        ropeHf[h * headDim + i] = a * Math.cos(theta(i)) - b * Math.sin(theta(i));
        ropeHf[h * headDim + i + headDim / 2] = b * Math.cos(theta(i)) + a * Math.sin(theta(i));
      }
    }
    // GGUF llama (normal RoPE): dims 2i and 2i+1 rotate together by theta(i)
    const qG = matvec(permuteRowsForLlamaRope(w, heads, cols));
    const ropeG = new Float64Array(qG.length);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < headDim / 2; i++) {
        const a = qG[h * headDim + 2 * i];
        const b = qG[h * headDim + 2 * i + 1];
        ropeG[h * headDim + 2 * i] = a * Math.cos(theta(i)) - b * Math.sin(theta(i));
        ropeG[h * headDim + 2 * i + 1] = b * Math.cos(theta(i)) + a * Math.sin(theta(i));
      }
    }
    // The same rotated vector, with its dimensions in the converted order.
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < headDim / 2; i++) {
        expect(ropeG[h * headDim + 2 * i]).toBeCloseTo(ropeHf[h * headDim + i], 12);
        expect(ropeG[h * headDim + 2 * i + 1]).toBeCloseTo(ropeHf[h * headDim + i + headDim / 2], 12);
      }
    }
    // And the test helper's inverse undoes it.
    expect(Array.from(llamaRowsToHf(permuteRowsForLlamaRope(w, heads, cols), heads, cols))).toEqual(Array.from(w));
  });
});
