// The F16 matmul kernels (assembly/matmul-f16.ts for 1-5 tokens, gemm-f16.ts from 6 on) against a scalar model of
// their summation order, bit for bit: the order is what keeps logits identical across kernel rewrites, and the
// reference backend's float64 dot is only within 1e-6 of it (wasm.test.ts checks that tolerance).
//
// The model (matmul-f16.ts header): every product w * f16(x) is exact in f32. Per whole 64-column chunk, S(m) sums
// the products of columns m, m+16, m+32, m+48 (m = 0..15) in f32 in that order, starting from +0; P(j) =
// (S(j) + S(4+j)) + (S(8+j) + S(12+j)) in f32 (j = 0..3); the f64 pair (acc0, acc1), from +0, takes acc0 += P(0),
// acc0 += P(2), acc1 += P(1), acc1 += P(3). The columns past the whole chunks go four at a time into the same pair
// (products 0, 2 to acc0; 1, 3 to acc1), then sum = acc0 + acc1, then one column at a time in f64; where the
// backend moved the subnormal weights out at load (at most 1 in 64 of the matrix, f16-subnormals.ts) they count as
// +0 above and add their f64 products in column order apart; out = f32((sum + extra) * f32(scale)).

import { describe, expect, it } from 'vitest';
import { hostViews } from '../../../test/helpers/host-views.js';
import { seededRng } from '../../../test/kernels/seeded-rng.js';
import { f16BitsToF32, f32ToF16Bits, roundToF16 } from '../../formats/f16.js';
import { GgmlType } from '../../formats/ggml-type.js';
import { type WasmKernelSet, createWasmBackend, probeKernelSets } from './index.js';

const probe = await probeKernelSets();
const sets: WasmKernelSet[] = probe.relaxedSelfCheck === true ? ['simd128', 'relaxed-simd'] : ['simd128'];

const f32 = Math.fround;

/** F16 subnormal: exponent 0, mantissa not 0. */
function isSubnormal(h: number): boolean {
  return (h & 0x7c00) === 0 && (h & 0x3ff) !== 0;
}

/** The model above for one row (F16 bits `w`) and x rounded to F16; `apart`: the subnormals were moved out at load. */
function modelRow(w: Uint16Array, xr: Float64Array, scale: number, apart: boolean): number {
  const cols = w.length;
  const v = new Float64Array(cols);
  const subs: number[] = [];
  for (let c = 0; c < cols; c++) {
    if (apart && isSubnormal(w[c])) subs.push(c); // +0 in the matrix, listed apart
    else v[c] = f16BitsToF32(w[c]);
  }
  const p = (c: number): number => f32(v[c] * xr[c]);
  const whole = cols & ~63;
  let acc0 = 0;
  let acc1 = 0;
  for (let c0 = 0; c0 < whole; c0 += 64) {
    const s: number[] = [];
    for (let m = 0; m < 16; m++) {
      let sm = 0;
      for (let k = 0; k < 64; k += 16) sm = f32(sm + p(c0 + m + k));
      s.push(sm);
    }
    const pj = (j: number): number => f32(f32(s[j] + s[4 + j]) + f32(s[8 + j] + s[12 + j]));
    acc0 = acc0 + pj(0) + pj(2);
    acc1 = acc1 + pj(1) + pj(3);
  }
  let c = whole;
  for (; c + 4 <= cols; c += 4) {
    acc0 = acc0 + p(c) + p(c + 2);
    acc1 = acc1 + p(c + 1) + p(c + 3);
  }
  let sum = acc0 + acc1;
  for (; c < cols; c++) sum += p(c);
  let extra = 0;
  for (const k of subs) extra += f16BitsToF32(w[k]) * xr[k];
  return f32((sum + extra) * f32(scale));
}

/**
 * F16 bits: normal values of varied magnitude, 1 in `oneIn` subnormal, as many zeros of either sign, and with
 * `special` as many Inf / NaN.
 */
function randomF16Bits(rng: ReturnType<typeof seededRng>, n: number, oneIn: number, special: boolean): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const kind = rng.int(0, oneIn - 1);
    out[i] =
      kind === 0 ? rng.int(1, 0x3ff) | (rng.int(0, 1) << 15)
      : kind === 1 ? rng.int(0, 1) << 15
      : special && kind === 2 ? [0x7c00, 0xfc00, 0x7e00, 0xfd01][rng.int(0, 3)]
      : f32ToF16Bits(rng.normal() * 2 ** rng.int(-9, 4));
  }
  return out;
}

describe('F16 matmul: bit for bit the summation order of the model above', () => {
  // cols: 1, 3 (no chunk, no group of 4), 63, 64 (one chunk, no tail), 97 (a chunk, 8 four at a time, 1 alone),
  // 2563 (40 chunks, a tail); rows not a multiple of the 16-row job quantum. Past 3072 columns (a multiple of 64) the
  // weight is stored in column panels of 2048 (matmul-f16.ts): 4160 (2048 + 2048 + 64) with 2 whole 16-row groups
  // and 5 row-major rows past them, 3136 (2048 + 1088) with one group and 2 rows past it; 3073 stays row-major
  const shapes: [number, number][] = [
    [5, 1],
    [3, 3],
    [17, 63],
    [33, 64],
    [37, 97],
    [41, 2563],
    [37, 4160],
    [18, 3136],
    [17, 3073],
  ];
  for (const kernelSet of sets) {
    for (const threads of [1, 2]) {
      it(`${kernelSet} threads=${threads}: fresh random weights and activations, 1 / 3 / 8 tokens, subnormals apart and in place, zeros of both signs, Inf / NaN weights`, async () => {
        const be = hostViews(await createWasmBackend({ threads, kernelSet }));
        try {
          // subnormals 1 in 200 (moved out of the matrix at load) and 1 in 25 (left in it: index.ts prepareWeight)
          for (const [special, oneIn] of [[false, 200], [false, 25], [true, 200], [true, 25]] as const) {
            for (const [rows, cols] of shapes) {
              const rng = seededRng(rows * 7919 + cols * 31 + threads + oneIn + (special ? 5 : 0) + (kernelSet === 'simd128' ? 0 : 1000));
              const bits = randomF16Bits(rng, rows * cols, oneIn, special);
              const nSub = bits.filter(isSubnormal).length;
              const apart = nSub > 0 && nSub <= (rows * cols) / 64;
              const { weight, target } = be.createWeight({ name: `f16 ${rows}x${cols}`, type: GgmlType.F16, dims: [cols, rows], byteSize: rows * cols * 2 });
              target.set(new Uint8Array(bits.buffer));
              be.prepareWeight(weight);
              // embed reads rows of either layout back: the stored values, subnormals put back
              const ids = [0, rows - 1, rows >> 1, 17 % rows];
              const emb = be.allocF32(ids.length * cols);
              be.embed(emb, weight, ids);
              for (let k = 0; k < ids.length; k++) {
                for (let c = 0; c < cols; c++) {
                  const want = f16BitsToF32(bits[ids[k] * cols + c]);
                  const got = emb[k * cols + c];
                  if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)))) expect.fail(`${rows}x${cols} embed row ${ids[k]} column ${c}: ${got}, stored ${want}`);
                }
              }
              for (const nTokens of [1, 3, 8]) {
                const x = be.allocF32(nTokens * cols);
                // activations with outliers (F16 range edges included) and an all-zero token
                for (let i = 0; i < x.length; i++) x[i] = rng.normal() * (i % 11 === 0 ? 3000 : i % 13 === 0 ? 1e-6 : 1);
                if (nTokens > 1) x.fill(0, cols, 2 * cols);
                const scale = 0.5 + rng.next();
                const out = be.allocF32(nTokens * rows + 4);
                out.fill(Number.NaN);
                be.matmul(out, weight, x, nTokens, scale);
                for (let t = 0; t < nTokens; t++) {
                  const xr = Float64Array.from(x.subarray(t * cols, (t + 1) * cols), roundToF16);
                  for (let r = 0; r < rows; r++) {
                    const want = modelRow(bits.subarray(r * cols, (r + 1) * cols), xr, scale, apart);
                    const got = out[t * rows + r];
                    if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)))) {
                      expect.fail(`${rows}x${cols}${special ? ' with Inf / NaN' : ''}, subnormals ${apart ? 'apart' : 'in place'}, nTokens=${nTokens} token ${t} row ${r}: model ${want}, wasm ${got}`);
                    }
                  }
                }
                for (let i = nTokens * rows; i < out.length; i++) if (!Number.isNaN(out[i])) expect.fail(`wrote past its output at ${i}`);
              }
            }
          }
        } finally {
          await be.dispose();
        }
      }, 120_000);
    }
  }
});
