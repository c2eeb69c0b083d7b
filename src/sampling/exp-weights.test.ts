import { describe, expect, it } from 'vitest';
import { expWeightsInWasm, softmaxBuckets, softmaxWeights, WASM_MIN_VALUES } from './exp-weights.js';
import { createRng } from './rng.js';

/** The loop the module replaces: every weight and the in-order sum. */
function reference(values: Float32Array, ids: Uint32Array | null, n: number, max: number, invT: number): { w: Float64Array; total: number } {
  const w = new Float64Array(n);
  let total = 0;
  for (let j = 0; j < n; j++) {
    w[j] = Math.exp((values[ids === null ? j : ids[j]] - max) * invT);
    total += w[j];
  }
  return { w, total };
}

function expectSame(values: Float32Array, ids: Uint32Array | null, n: number, max: number, invT: number): void {
  const want = reference(values, ids, n, max, invT);
  const fallback = new Float64Array(n).fill(Number.NaN); // poisoned: the loop must write every weight
  const got = softmaxWeights(values, ids, n, max, invT, () => fallback);
  expect(got.w.length).toBeGreaterThanOrEqual(n);
  let bad = 0;
  let first = '';
  for (let j = 0; j < n; j++) {
    if (!Object.is(got.w[j], want.w[j])) {
      if (bad++ === 0) first = `j=${j}: x=${(values[ids === null ? j : ids[j]] - max) * invT} got ${got.w[j]} want ${want.w[j]}`;
    }
  }
  expect(bad, first).toBe(0);
  expect(Object.is(got.total, want.total), `total ${got.total} vs ${want.total}`).toBe(true);
}

function randomValues(n: number, seed: number, scale: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => (rng.nextFloat() - 0.5) * scale);
}

function maxOf(values: Float32Array): number {
  let m = -Infinity;
  for (const v of values) if (v > m) m = v;
  return m;
}

describe('softmaxWeights (the sampler exp module)', () => {
  it('instantiates its WebAssembly module here (so the tests below run it)', () => {
    expect(expWeightsInWasm()).toBe(true);
  });

  it('gives the doubles of Math.exp and their in-order sum, over every range of arguments and temperatures', () => {
    let seed = 1;
    for (const scale of [0.01, 1, 6, 40, 300, 1500]) {
      for (const invT of [1, 1 / 0.8, 1 / 0.05, 1 / 3.7]) {
        for (const n of [WASM_MIN_VALUES, WASM_MIN_VALUES + 3, 20_001]) {
          const values = randomValues(n, seed++, scale);
          expectSame(values, null, n, maxOf(values), invT);
        }
      }
    }
  });

  it('handles -Infinity logits (masked tokens), exact zeros, tiny and reduction-boundary arguments', () => {
    const n = WASM_MIN_VALUES + 5;
    const values = randomValues(n, 77, 4);
    // fdlibm's branch points: |x| near 2^-28, 0.5 ln2, 1.5 ln2, 708 / 709.78 / 745.13, and the maximum itself (x = 0)
    const special = [0, -3.7e-9, -1e-30, -0.34657359, -0.3465736, -1.0397205, -1.0397208, -707.9, -708.1, -709.7, -709.9, -745.1, -745.2, -800, -Infinity];
    for (let i = 0; i < n; i++) if (i % 3 === 0) values[i] = special[(i / 3) % special.length];
    values[1] = 0; // the maximum
    expectSame(values, null, n, 0, 1);
    expectSame(values, null, n, 0, 1 / 0.9);
    const allMasked = new Float32Array(n).fill(-Infinity);
    allMasked[n - 1] = 2;
    expectSame(allMasked, null, n, 2, 1);
  });

  it('reads a candidate id list (gathered values), odd lengths and the short-list loop alike', () => {
    const values = randomValues(50_000, 9, 12);
    const max = maxOf(values);
    const rng = createRng(3);
    for (const n of [1, 7, WASM_MIN_VALUES - 1, WASM_MIN_VALUES, WASM_MIN_VALUES + 1, 33_333]) {
      const ids = Uint32Array.from({ length: n + 10 }, () => Math.floor(rng.nextFloat() * values.length));
      expectSame(values, ids, n, max, 1 / 0.7);
    }
  });

  it('keeps working after a longer list grows its memory (earlier views are not reused)', () => {
    const small = randomValues(WASM_MIN_VALUES, 11, 5);
    expectSame(small, null, small.length, maxOf(small), 1);
    const large = randomValues(300_000, 12, 5);
    expectSame(large, null, large.length, maxOf(large), 1);
    expectSame(small, null, small.length, maxOf(small), 1);
  });

  it("top-p's histogram and partition equal the sampler's loops (same masses, same ids in the same order)", () => {
    const rng = createRng(21);
    for (const [n, scale, nb] of [
      [WASM_MIN_VALUES + 1, 3, 1024],
      [40_000, 0.2, 1024],
      [12_345, 30, 64],
      [WASM_MIN_VALUES - 1, 3, 1024], // the loop: no module partition
    ] as const) {
      const values = randomValues(60_000, n, scale);
      const ids = Uint32Array.from({ length: n }, () => Math.floor(rng.nextFloat() * values.length));
      let max = -Infinity;
      let min = Infinity;
      for (let j = 0; j < n; j++) {
        max = Math.max(max, values[ids[j]]);
        min = Math.min(min, values[ids[j]]);
      }
      const bucketScale = nb / (max - min);
      const bucketOf = (id: number): number => Math.min(nb - 1, Math.floor((max - values[id]) * bucketScale));
      const want = reference(values, ids, n, max, 1);
      const wantMass = new Float64Array(nb);
      for (let j = 0; j < n; j++) wantMass[bucketOf(ids[j])] += want.w[j];
      const got = softmaxBuckets(values, ids, n, max, bucketScale, nb, () => new Float64Array(n), new Float64Array(nb).fill(Number.NaN));
      expect(Object.is(got.total, want.total)).toBe(true);
      expect(Array.from(got.mass)).toEqual(Array.from(wantMass));
      expect(got.partition === null).toBe(n < WASM_MIN_VALUES);
      if (got.partition === null) continue;
      const boundary = bucketOf(ids[Math.floor(n / 2)]);
      const wantAbove = Array.from(ids.subarray(0, n)).filter((id) => bucketOf(id) < boundary);
      const wantIn = Array.from(ids.subarray(0, n)).filter((id) => bucketOf(id) === boundary);
      const out = ids.slice();
      const boundaryIds = new Uint32Array(n).fill(0xffffffff);
      const [above, inBoundary] = got.partition(boundary, out, boundaryIds);
      expect([above, inBoundary]).toEqual([wantAbove.length, wantIn.length]);
      expect(Array.from(out.subarray(0, above))).toEqual(wantAbove);
      expect(Array.from(boundaryIds.subarray(0, inBoundary))).toEqual(wantIn);
    }
  });
});
