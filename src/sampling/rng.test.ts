// Tests for the seeded RNG: published reference outputs, determinism, range and rough uniformity.
import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { createRng, createRngFromState, splitmix64 } from './rng.js';

function take(n: number, next: () => number): number[] {
  return Array.from({ length: n }, next);
}

describe('xoshiro128**', () => {
  it('matches the reference outputs for state {1, 2, 3, 4}', () => {
    // Outputs of Blackman & Vigna's xoshiro128starstar.c (v1.1) from s = {1, 2, 3, 4}, as listed
    // in the rand_xoshiro crate's test `reference` (rust-random/rngs, rand_xoshiro/src/xoshiro128starstar.rs).
    const rng = createRngFromState(1, 2, 3, 4);
    expect(take(10, rng.nextUint32)).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it('rejects an all-zero or malformed state', () => {
    expect(() => createRngFromState(0, 0, 0, 0)).toThrow(/all zero/);
    expect(() => createRngFromState(1, 2, 3, 2 ** 32)).toThrow(/state word 3/);
    expect(() => createRngFromState(1.5, 2, 3, 4)).toThrow(/state word 0/);
  });
});

describe('splitmix64', () => {
  it('matches the reference outputs from state 0', () => {
    // First outputs of Vigna's splitmix64.c with x = 0 (widely used as its test vector).
    let state = 0n;
    const out: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      const [z, next] = splitmix64(state);
      out.push(z);
      state = next;
    }
    expect(out).toEqual([0xe220a8397b1dcdafn, 0x6e789e6aa1b965f4n, 0x06c45d188009454fn]);
  });
});

describe('createRng', () => {
  it('is deterministic: the same seed gives the same sequence', () => {
    for (const seed of [0, 1, 42, -7, 2 ** 53 - 1, -(2 ** 53 - 1)]) {
      const a = createRng(seed);
      const b = createRng(seed);
      expect(take(64, a.nextFloat)).toEqual(take(64, b.nextFloat));
    }
  });

  it('seeds its state from two splitmix64 outputs', () => {
    const [x, next] = splitmix64(BigInt(12345));
    const [y] = splitmix64(next);
    const words = [x & 0xffffffffn, x >> 32n, y & 0xffffffffn, y >> 32n].map(Number);
    const expected = createRngFromState(words[0] ?? 0, words[1] ?? 0, words[2] ?? 0, words[3] ?? 0);
    expect(take(8, createRng(12345).nextUint32)).toEqual(take(8, expected.nextUint32));
  });

  it('gives different sequences for different (even adjacent) seeds', () => {
    const seqs = [0, 1, 2, -1].map((s) => take(8, createRng(s).nextUint32).join(','));
    expect(new Set(seqs).size).toBe(4);
  });

  it('treats a negative seed as its 64-bit two’s complement', () => {
    const viaNegative = take(4, createRng(-1).nextUint32);
    const [x, next] = splitmix64(2n ** 64n - 1n);
    const [y] = splitmix64(next);
    const words = [x & 0xffffffffn, x >> 32n, y & 0xffffffffn, y >> 32n].map(Number);
    const direct = createRngFromState(words[0] ?? 0, words[1] ?? 0, words[2] ?? 0, words[3] ?? 0);
    expect(viaNegative).toEqual(take(4, direct.nextUint32));
  });

  it('nextFloat stays in [0, 1) and is roughly uniform', () => {
    const rng = createRng(2024);
    const nBins = 10;
    const bins = new Array<number>(nBins).fill(0);
    const n = 100_000;
    let outOfRange = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.nextFloat();
      if (!(u >= 0 && u < 1)) outOfRange++;
      const b = Math.floor(u * nBins);
      bins[b] = (bins[b] ?? 0) + 1;
    }
    expect(outOfRange).toBe(0);
    // Chi-square with 9 degrees of freedom; 27.88 is the 0.999 quantile.
    const expected = n / nBins;
    const chi2 = bins.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(27.88);
  });

  it('nextFloat combines two 32-bit outputs into 53 bits', () => {
    const a = createRngFromState(1, 2, 3, 4);
    const b = createRngFromState(1, 2, 3, 4);
    const hi = b.nextUint32() >>> 5;
    const lo = b.nextUint32() >>> 6;
    expect(a.nextFloat()).toBe((hi * 2 ** 26 + lo) / 2 ** 53);
  });

  it('rejects seeds that are not safe integers', () => {
    for (const bad of [1.5, NaN, Infinity, 2 ** 53, '7' as unknown as number]) {
      let caught: unknown;
      try {
        createRng(bad);
      } catch (e) {
        caught = e;
      }
      expect(isBitNetError(caught, 'BAD_ARGUMENT')).toBe(true);
      expect(String((caught as Error).message)).toMatch(/seed/);
    }
  });
});
