// A small seeded PRNG (mulberry32) for tests: reproducible random data without a dependency.

export interface SeededRng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
  /** Float32Array of n values uniform in [lo, hi). */
  f32(n: number, lo?: number, hi?: number): Float32Array;
  /** n ternary codes (-1/0/+1). */
  codes(n: number): Int8Array;
}

export function seededRng(seed: number): SeededRng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng: SeededRng = {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    normal: () => {
      const u = 1 - next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    f32: (n, lo = -1, hi = 1) => {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * next();
      return a;
    },
    codes: (n) => {
      const a = new Int8Array(n);
      for (let i = 0; i < n; i++) a[i] = Math.floor(next() * 3) - 1;
      return a;
    },
  };
  return rng;
}
