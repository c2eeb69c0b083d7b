// Tests for the sampler: each stage against hand-computed values, a naive reference pipeline, statistics, validation.
import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { createRng } from './rng.js';
import { createSampler, TopSelector, topKOnePass, type CandidateProb } from './sampler.js';
import type { SamplingConfig } from './types.js';

const f32 = (xs: readonly number[]): Float32Array => Float32Array.from(xs);

function softmax(xs: readonly number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function tokens(d: readonly CandidateProb[]): number[] {
  return d.map((c) => c.token);
}

function expectBadArgument(fn: () => unknown, field: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(isBitNetError(caught, 'BAD_ARGUMENT'), `expected BAD_ARGUMENT, got ${String(caught)}`).toBe(true);
  expect((caught as Error).message).toMatch(field);
}

/** Normal(0, 1) from the project's RNG (Box–Muller), for test logits. */
function randomLogits(n: number, seed: number, scale: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - rng.nextFloat();
    const v = rng.nextFloat();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** The pipeline written the slow, obvious way: full sort, then each stage in llama.cpp order. */
function referenceDistribution(logits: Float32Array, cfg: Extract<SamplingConfig, { kind: 'sample' }>): CandidateProb[] {
  let cand = Array.from(logits, (v, id) => ({ id, v })).filter((c) => c.v !== -Infinity);
  cand.sort((a, b) => b.v - a.v || a.id - b.id);
  const max = cand[0]?.v ?? 0;
  if (cfg.topK !== undefined && cfg.topK > 0) cand = cand.slice(0, cfg.topK);
  if (cfg.topP !== undefined && cfg.topP < 1) {
    const total = cand.reduce((s, c) => s + Math.exp(c.v - max), 0);
    let cum = 0;
    let keep = cand.length;
    for (let j = 0; j < cand.length; j++) {
      cum += Math.exp((cand[j]?.v ?? 0) - max) / total;
      if (cum >= cfg.topP) {
        keep = j + 1;
        break;
      }
    }
    cand = cand.slice(0, keep);
  }
  if (cfg.minP !== undefined && cfg.minP > 0) {
    const threshold = Math.fround(max + Math.log(cfg.minP));
    cand = cand.filter((c) => c.v >= threshold);
  }
  const w = cand.map((c) => Math.exp((c.v - max) / cfg.temperature));
  const total = w.reduce((a, b) => a + b, 0);
  return cand.map((c, j) => ({ token: c.id, prob: (w[j] ?? 0) / total }));
}

describe('config validation', () => {
  const cases: [SamplingConfig, RegExp][] = [
    [{ kind: 'sample', temperature: 0 }, /temperature/],
    [{ kind: 'sample', temperature: -1 }, /temperature/],
    [{ kind: 'sample', temperature: NaN }, /temperature/],
    [{ kind: 'sample', temperature: Infinity }, /temperature/],
    [{ kind: 'sample', temperature: 1, topP: 0 }, /topP/],
    [{ kind: 'sample', temperature: 1, topP: 1.01 }, /topP/],
    [{ kind: 'sample', temperature: 1, topP: NaN }, /topP/],
    [{ kind: 'sample', temperature: 1, topK: -1 }, /topK/],
    [{ kind: 'sample', temperature: 1, topK: 2.5 }, /topK/],
    [{ kind: 'sample', temperature: 1, minP: -0.1 }, /minP/],
    [{ kind: 'sample', temperature: 1, minP: 1.5 }, /minP/],
    [{ kind: 'sample', temperature: 1, minP: NaN }, /minP/],
    [{ kind: 'greedy', penalties: { repetition: 0 } }, /penalties\.repetition/],
    [{ kind: 'greedy', penalties: { repetition: NaN } }, /penalties\.repetition/],
    [{ kind: 'greedy', penalties: { frequency: Infinity } }, /penalties\.frequency/],
    [{ kind: 'greedy', penalties: { presence: NaN } }, /penalties\.presence/],
    [{ kind: 'greedy', penalties: { lastN: -2 } }, /penalties\.lastN/],
    [{ kind: 'greedy', penalties: { lastN: 1.5 } }, /penalties\.lastN/],
    [{ kind: 'beam' } as unknown as SamplingConfig, /kind/],
  ];
  it.each(cases)('rejects %j naming the field', (config, field) => {
    expectBadArgument(() => createSampler(config, 1, 10), field);
  });

  it('accepts the boundary values', () => {
    expect(() => createSampler({ kind: 'sample', temperature: 1e-3, topP: 1, minP: 0, topK: 0 }, 1, 10)).not.toThrow();
    expect(() => createSampler({ kind: 'sample', temperature: 1, topP: 1e-9, minP: 1, topK: 100 }, 1, 10)).not.toThrow();
    expect(() => createSampler({ kind: 'greedy', penalties: { lastN: -1, frequency: -2, presence: 2 } }, 1, 10)).not.toThrow();
  });

  it('rejects a bad vocabSize or seed', () => {
    expectBadArgument(() => createSampler({ kind: 'greedy' }, 1, 0), /vocabSize/);
    expectBadArgument(() => createSampler({ kind: 'greedy' }, 1, 2.5), /vocabSize/);
    expectBadArgument(() => createSampler({ kind: 'greedy' }, 0.5, 10), /seed/);
  });
});

describe('logits validation', () => {
  const sampleCfg: SamplingConfig = { kind: 'sample', temperature: 1 };
  it.each([
    ['greedy', { kind: 'greedy' }],
    ['sample', sampleCfg],
  ] as const)('%s rejects NaN, +Infinity, all -Infinity and a wrong length', (_name, cfg) => {
    const s = createSampler(cfg, 1, 4);
    expectBadArgument(() => s.sample(f32([0, NaN, 1, 2]), []), /logits\[1\] is NaN/);
    expectBadArgument(() => s.sample(f32([0, 1, Infinity, 2]), []), /logits\[2\] is Infinity/);
    expectBadArgument(() => s.sample(f32([-Infinity, -Infinity, -Infinity, -Infinity]), []), /-Infinity/);
    expectBadArgument(() => s.sample(f32([0, 1, 2]), []), /vocabSize = 4.*got 3/);
    expectBadArgument(() => s.sample([0, 1, 2, 3] as unknown as Float32Array, []), /Float32Array/);
  });

  it('rejects history ids outside the vocabulary (only inside the penalty window)', () => {
    const s = createSampler({ kind: 'greedy', penalties: { repetition: 1.1, lastN: 2 } }, 1, 4);
    expectBadArgument(() => s.sample(f32([0, 1, 2, 3]), [0, 4]), /history\[1\]/);
    expectBadArgument(() => s.sample(f32([0, 1, 2, 3]), [0, -1, 2]), /history\[1\]/);
    expect(s.sample(f32([0, 1, 2, 3]), [99, 1, 2])).toBe(3); // 99 is outside the last 2
  });

  it('never samples a -Infinity token', () => {
    const s = createSampler({ kind: 'sample', temperature: 5 }, 3, 3);
    const logits = f32([0, -Infinity, 0]);
    for (let i = 0; i < 2000; i++) expect(s.sample(logits, [])).not.toBe(1);
  });
});

describe('greedy', () => {
  it('picks the argmax, ties to the lowest id', () => {
    const s = createSampler({ kind: 'greedy' }, 1, 5);
    expect(s.sample(f32([0, 3, 1, 3, -2]), [])).toBe(1);
    expect(s.sample(f32([-5, -1, -Infinity, -1, -2]), [])).toBe(1);
    expect(s.distribution(f32([0, 3, 1, 3, -2]), [])).toEqual([{ token: 1, prob: 1 }]);
  });

  it('ignores the seed (never uses the RNG)', () => {
    const logits = randomLogits(1000, 5, 2);
    const picks = [1, 2, 3, 99].map((seed) => {
      const s = createSampler({ kind: 'greedy' }, seed, 1000);
      return [s.sample(logits, []), s.sample(logits, []), s.sample(logits, [])];
    });
    for (const p of picks) expect(p).toEqual(picks[0]);
  });

  it('applies penalties before the argmax', () => {
    // token 0: 2 / 1.5 = 1.333 < token 1: 1.5 (never seen)
    const s = createSampler({ kind: 'greedy', penalties: { repetition: 1.5 } }, 1, 3);
    expect(s.sample(f32([2, 1.5, 0]), [])).toBe(0);
    expect(s.sample(f32([2, 1.5, 0]), [0])).toBe(1);
  });
});

describe('penalties', () => {
  // With kind 'sample', temperature 1 and no truncation, distribution() is softmax(penalized logits),
  // so log(p_i / p_j) recovers penalized_i - penalized_j.
  function penalizedDifferences(logits: number[], history: number[], penalties: object): number[] {
    const s = createSampler({ kind: 'sample', temperature: 1, penalties }, 1, logits.length);
    const d = s.distribution(f32(logits), history).sort((a, b) => a.token - b.token);
    expect(tokens(d)).toEqual(logits.map((_, i) => i));
    const p0 = d[0]?.prob ?? 0;
    return d.map((c) => Math.log(c.prob / p0));
  }

  it('repetition (llama.cpp: divide positive, multiply non-positive), frequency and presence (OpenAI)', () => {
    const logits = [2, -1, 0.5, 1, 0];
    const history = [0, 0, 1, 3, 4];
    const got = penalizedDifferences(logits, history, { repetition: 2, frequency: 0.5, presence: 0.25, lastN: -1 });
    // token 0: count 2: 2/2 - 2*0.5 - 0.25 = -0.25
    // token 1: count 1: -1*2 - 0.5 - 0.25 = -2.75
    // token 2: unseen: 0.5
    // token 3: count 1: 1/2 - 0.5 - 0.25 = -0.25
    // token 4: count 1: 0*2 - 0.75 = -0.75
    const expected = [-0.25, -2.75, 0.5, -0.25, -0.75].map((v) => v - -0.25);
    got.forEach((g, i) => expect(g).toBeCloseTo(expected[i] ?? NaN, 5));
  });

  it('each distinct token is penalized once by repetition, however often it occurs', () => {
    const got = penalizedDifferences([1, 1], [0, 0, 0, 0], { repetition: 2, lastN: -1 });
    expect(got[1]).toBeCloseTo(1 - 0.5, 6); // token 0: 1/2 once, not 1/16
  });

  it('looks only at the last lastN tokens (default 64; 0 = off)', () => {
    // lastN 2 sees [1, 3]: token 0 is untouched.
    const got = penalizedDifferences([2, -1, 0.5, 1], [0, 0, 1, 3], { presence: 1, lastN: 2 });
    const expected = [2, -2, 0.5, 0].map((v) => v - 2);
    got.forEach((g, i) => expect(g).toBeCloseTo(expected[i] ?? NaN, 5));

    const off = penalizedDifferences([2, -1, 0.5, 1], [0, 0, 1, 3], { presence: 1, lastN: 0 });
    [2, -1, 0.5, 1].map((v) => v - 2).forEach((e, i) => expect(off[i]).toBeCloseTo(e, 5));

    const history = [...Array<number>(64).fill(2), 0]; // token 0 is in the window, then pushed out
    const inWindow = penalizedDifferences([1, 1, 1], history, { presence: 1 });
    expect(inWindow[1]).toBeCloseTo(1, 5);
    const outOfWindow = penalizedDifferences([1, 1, 1], [0, ...Array<number>(64).fill(2)], { presence: 1 });
    expect(outOfWindow[1]).toBeCloseTo(0, 5);
  });

  it('does not modify the caller’s logits', () => {
    const logits = f32([2, -1, 0.5]);
    const copy = Float32Array.from(logits);
    const s = createSampler({ kind: 'greedy', penalties: { repetition: 3, frequency: 1, presence: 1 } }, 1, 3);
    s.sample(logits, [0, 1, 2]);
    expect(logits).toEqual(copy);
  });

  it('keeps no state between calls (counts are cleared)', () => {
    const s = createSampler({ kind: 'sample', temperature: 1, penalties: { frequency: 1 } }, 1, 2);
    const a = s.distribution(f32([0, 0]), [0, 0, 0]);
    s.distribution(f32([0, 0]), [1, 1]);
    expect(s.distribution(f32([0, 0]), [0, 0, 0])).toEqual(a);
  });
});

describe('truncation stages', () => {
  it('top-k = 2 leaves exactly the two largest, renormalized', () => {
    const logits = [0.1, 2, -1, 1.5, 0.3];
    const s = createSampler({ kind: 'sample', temperature: 1, topK: 2 }, 1, 5);
    const d = s.distribution(f32(logits), []);
    expect(tokens(d)).toEqual([1, 3]);
    const p = softmax([2, 1.5]);
    expect(d[0]?.prob).toBeCloseTo(p[0] ?? NaN, 6);
    expect(d[1]?.prob).toBeCloseTo(p[1] ?? NaN, 6);
  });

  it('top-k breaks ties by the lower id and is off at 0 or >= vocab', () => {
    const s = createSampler({ kind: 'sample', temperature: 1, topK: 2 }, 1, 4);
    expect(tokens(s.distribution(f32([1, 3, 3, 3]), []))).toEqual([1, 2]);
    expect(tokens(s.distribution(f32([5, 5, 5, 5]), []))).toEqual([0, 1]);
    const off = createSampler({ kind: 'sample', temperature: 1, topK: 0 }, 1, 4);
    expect(off.distribution(f32([1, 3, 3, 3]), [])).toHaveLength(4);
    const big = createSampler({ kind: 'sample', temperature: 1, topK: 10 }, 1, 4);
    expect(big.distribution(f32([1, 3, 3, 3]), [])).toHaveLength(4);
  });

  it('top-p is inclusive: keeps the smallest prefix whose mass reaches p', () => {
    // Four equal logits: each p = 0.25 exactly; cumulative 0.25, 0.5, 0.75, 1.
    const logits = f32([0, 0, 0, 0]);
    const at = (topP: number): number[] =>
      tokens(createSampler({ kind: 'sample', temperature: 1, topP }, 1, 4).distribution(logits, []));
    expect(at(0.5)).toEqual([0, 1]); // 0.5 >= 0.5: the boundary token is kept, no more
    expect(at(0.50001)).toEqual([0, 1, 2]);
    expect(at(0.25)).toEqual([0]);
    expect(at(1e-6)).toEqual([0]); // always at least one token
    expect(at(1)).toEqual([0, 1, 2, 3]);
  });

  it('top-p on distinct logits, sorted by probability', () => {
    // softmax([3, 1, 2, 0]) = [0.644, 0.087, 0.237, 0.032]: 0.644 < 0.8 <= 0.881
    const s = createSampler({ kind: 'sample', temperature: 1, topP: 0.8 }, 1, 4);
    const d = s.distribution(f32([3, 1, 2, 0]), []);
    expect(tokens(d)).toEqual([0, 2]);
    const p = softmax([3, 2]);
    expect(d[0]?.prob).toBeCloseTo(p[0] ?? NaN, 6);
  });

  it('top-p uses the unscaled logits (temperature comes after), as in llama.cpp', () => {
    // Unscaled: softmax([2, 1, 0]) = [0.665, 0.245, 0.090] -> p = 0.6 keeps one token.
    // Had temperature 10 been applied first ([0.367, 0.332, 0.301]) it would keep two.
    const s = createSampler({ kind: 'sample', temperature: 10, topP: 0.6 }, 1, 3);
    expect(tokens(s.distribution(f32([2, 1, 0]), []))).toEqual([0]);
  });

  it('min-p keeps p >= minP * p(max), boundary included', () => {
    const logits = f32([0, -0.5, -1, -3]);
    const s = createSampler({ kind: 'sample', temperature: 1, minP: Math.exp(-1.5) }, 1, 4);
    const d = s.distribution(logits, []);
    expect(tokens(d)).toEqual([0, 1, 2]);
    const p = softmax([0, -0.5, -1]);
    d.forEach((c, i) => expect(c.prob).toBeCloseTo(p[i] ?? NaN, 6));
    const boundary = createSampler({ kind: 'sample', temperature: 1, minP: 0.5 }, 1, 3);
    expect(tokens(boundary.distribution(f32([0, Math.log(0.5), -0.7]), []))).toEqual([0, 1]);
    const one = createSampler({ kind: 'sample', temperature: 1, minP: 1 }, 1, 4);
    expect(tokens(one.distribution(f32([1, 2, 2, 0]), []))).toEqual([1, 2]);
  });

  it('temperature divides the logits of the survivors', () => {
    const logits = [1, 0.5, -2, 3];
    for (const t of [0.25, 1, 2.5]) {
      const d = createSampler({ kind: 'sample', temperature: t }, 1, 4).distribution(f32(logits), []);
      expect(tokens(d)).toEqual([3, 0, 1, 2]); // sorted by probability
      d.sort((a, b) => a.token - b.token);
      const p = softmax(logits.map((l) => l / t));
      d.forEach((c, i) => expect(c.prob).toBeCloseTo(p[i] ?? NaN, 9));
    }
  });

  it('chains top-k -> top-p -> min-p -> temperature in that order', () => {
    // top-k 4 keeps [4, 3, 2, 1.8]; top-p 0.9 over their softmax keeps [4, 3, 2] (0.59, 0.81, 0.91);
    // min-p 0.2 (threshold 4 + ln 0.2 = 2.39) keeps [4, 3]; temperature 0.5 then sharpens.
    const logits = f32([1, 4, 2, 3, 1.8, -1]);
    const s = createSampler({ kind: 'sample', temperature: 0.5, topK: 4, topP: 0.9, minP: 0.2 }, 1, 6);
    const d = s.distribution(logits, []);
    expect(tokens(d)).toEqual([1, 3]);
    const p = softmax([8, 6]);
    expect(d[0]?.prob).toBeCloseTo(p[0] ?? NaN, 6);
  });

  it('matches a naive full-sort reference on a large random vocabulary (bucketed selection)', () => {
    const n = 20_000;
    const configs: Extract<SamplingConfig, { kind: 'sample' }>[] = [
      { kind: 'sample', temperature: 0.8, topK: 40 },
      { kind: 'sample', temperature: 0.8, topK: 5000 },
      { kind: 'sample', temperature: 1, topP: 0.9 },
      { kind: 'sample', temperature: 1, topP: 0.999 },
      { kind: 'sample', temperature: 0.7, topK: 100, topP: 0.95, minP: 0.05 },
      { kind: 'sample', temperature: 1.3, minP: 0.1 },
      { kind: 'sample', temperature: 1.3, topP: 0.5, minP: 0.01 },
    ];
    for (const [seed, scale] of [
      [1, 1],
      [2, 4],
      [3, 12],
    ] as const) {
      const logits = randomLogits(n, seed, scale);
      // Repeated values and masked tokens exercise tie-breaking and -Infinity handling.
      for (let i = 0; i < n; i += 7) logits[i] = logits[i + 3] ?? 0;
      for (let i = 5; i < n; i += 97) logits[i] = -Infinity;
      for (const cfg of configs) {
        const got = createSampler(cfg, 1, n).distribution(logits, []);
        const want = referenceDistribution(logits, cfg);
        expect(tokens(got), JSON.stringify(cfg)).toEqual(tokens(want));
        got.forEach((c, i) => expect(c.prob).toBeCloseTo(want[i]?.prob ?? NaN, 12));
      }
    }
  });
});

describe('sampling draws', () => {
  it('is deterministic for a seed, and different seeds differ', () => {
    const logits = randomLogits(500, 9, 1);
    const cfg: SamplingConfig = { kind: 'sample', temperature: 1, topK: 50 };
    const run = (seed: number): number[] => {
      const s = createSampler(cfg, seed, 500);
      return Array.from({ length: 40 }, () => s.sample(logits, []));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it('never draws a zero-weight candidate, even at the ends of [0, 1)', () => {
    const fixed = (u: number) => ({ nextFloat: () => u, nextUint32: () => 0 });
    // Token 0 is masked, token 2's weight underflows to exactly 0 at this temperature.
    const logits = f32([-Infinity, 0, -1000, 0.5, -Infinity]);
    for (const cfg of [
      { kind: 'sample', temperature: 1 },
      { kind: 'sample', temperature: 1, minP: 1e-300 },
    ] as SamplingConfig[]) {
      expect(createSampler(cfg, 1, 5, { rng: fixed(0) }).sample(logits, [])).not.toBe(0);
      expect(createSampler(cfg, 1, 5, { rng: fixed(0) }).sample(logits, [])).not.toBe(2);
      expect(createSampler(cfg, 1, 5, { rng: fixed(1 - 2 ** -53) }).sample(logits, [])).not.toBe(4);
    }
    expect(createSampler({ kind: 'sample', temperature: 1 }, 1, 2, { rng: fixed(0) }).sample(f32([-1000, 0]), [])).toBe(1);
  });

  /** Chi-square statistic of `n` draws against the sampler's own stated distribution. */
  function chiSquare(cfg: SamplingConfig, logits: number[], expectedProbs: number[], n: number, seed: number): number {
    const s = createSampler(cfg, seed, logits.length);
    const counts = new Array<number>(logits.length).fill(0);
    const x = f32(logits);
    for (let i = 0; i < n; i++) {
      const t = s.sample(x, []);
      counts[t] = (counts[t] ?? 0) + 1;
    }
    let chi2 = 0;
    expectedProbs.forEach((p, i) => {
      if (p === 0) {
        expect(counts[i], `token ${i} has probability 0`).toBe(0);
        return;
      }
      chi2 += ((counts[i] ?? 0) - n * p) ** 2 / (n * p);
    });
    return chi2;
  }

  it('draws follow softmax at temperature 1 (chi-square, 5 degrees of freedom)', () => {
    const logits = [1, 0.5, 0, -0.5, 2, -1];
    // 20.52 is the 0.999 quantile of chi-square with 5 degrees of freedom.
    expect(chiSquare({ kind: 'sample', temperature: 1 }, logits, softmax(logits), 30_000, 12345)).toBeLessThan(20.52);
  });

  it('draws follow the truncated, temperature-scaled distribution (chi-square, 2 degrees of freedom)', () => {
    const logits = [1, 0.5, 0, -0.5, 2, -1];
    const kept = softmax([2, 1, 0.5].map((l) => l / 0.7));
    const expected = [kept[1] ?? 0, kept[2] ?? 0, 0, 0, kept[0] ?? 0, 0];
    // 13.82 is the 0.999 quantile of chi-square with 2 degrees of freedom.
    expect(chiSquare({ kind: 'sample', temperature: 0.7, topK: 3 }, logits, expected, 30_000, 777)).toBeLessThan(13.82);
  });

  it('a real check: draws from a different distribution fail the same test', () => {
    const logits = [1, 0.5, 0, -0.5, 2, -1];
    const wrong = softmax(logits.map((l) => l / 1.2));
    expect(chiSquare({ kind: 'sample', temperature: 1 }, logits, wrong, 30_000, 12345)).toBeGreaterThan(20.52);
  });
});

describe('logprobs', () => {
  it('is the log-softmax of the raw logits, whatever the sampling config', () => {
    const logits = [1, 0.5, 0, -0.5, 2, -Infinity];
    const p = softmax(logits);
    for (const cfg of [
      { kind: 'greedy', penalties: { repetition: 3 } },
      { kind: 'sample', temperature: 0.2, topK: 1 },
    ] as SamplingConfig[]) {
      const s = createSampler(cfg, 1, 6);
      const r = s.logprobs(f32(logits), 3, 3);
      expect(r.chosen.token).toBe(3);
      expect(r.chosen.logprob).toBeCloseTo(Math.log(p[3] ?? NaN), 6);
      expect(r.top.map((t) => t.token)).toEqual([4, 0, 1]);
      r.top.forEach((t) => expect(t.logprob).toBeCloseTo(Math.log(p[t.token] ?? NaN), 6));
    }
  });

  it('reports -Infinity for a masked chosen token and leaves masked tokens out of top', () => {
    const s = createSampler({ kind: 'greedy' }, 1, 3);
    const r = s.logprobs(f32([0, -Infinity, 0]), 1, 10);
    expect(r.chosen.logprob).toBe(-Infinity);
    expect(r.top.map((t) => t.token)).toEqual([0, 2]);
    expect(r.top[0]?.logprob).toBeCloseTo(Math.log(0.5), 9);
  });

  it('top is sorted with ties to the lower id, and topN 0 gives none', () => {
    const s = createSampler({ kind: 'greedy' }, 1, 5);
    expect(s.logprobs(f32([1, 3, 3, 2, 3]), 0, 4).top.map((t) => t.token)).toEqual([1, 2, 4, 3]);
    expect(s.logprobs(f32([1, 3, 3, 2, 3]), 0, 0).top).toEqual([]);
  });

  it('probabilities over the whole vocabulary sum to 1', () => {
    const n = 3000;
    const logits = randomLogits(n, 11, 5);
    const s = createSampler({ kind: 'greedy' }, 1, n);
    const all = s.logprobs(logits, 0, n).top;
    expect(all).toHaveLength(n);
    expect(all.reduce((acc, t) => acc + Math.exp(t.logprob), 0)).toBeCloseTo(1, 9);
    for (let i = 1; i < n; i++) expect((all[i - 1]?.logprob ?? 0) >= (all[i]?.logprob ?? 0)).toBe(true);
  });

  it('validates its arguments', () => {
    const s = createSampler({ kind: 'greedy' }, 1, 3);
    expectBadArgument(() => s.logprobs(f32([0, 1, 2]), 3, 1), /token/);
    expectBadArgument(() => s.logprobs(f32([0, 1, 2]), 0, -1), /topN/);
    expectBadArgument(() => s.logprobs(f32([0, NaN, 2]), 0, 1), /logits\[1\]/);
  });
});

describe('full-size vocabulary', () => {
  // Speed is measured by benchmarks, not asserted here; this checks every mode works at 128k entries.
  it('samples a 128256-entry vocabulary with every truncation mode, in range and deterministically', () => {
    const n = 128_256;
    const logits = randomLogits(n, 21, 3);
    const configs: SamplingConfig[] = [
      { kind: 'greedy', penalties: { repetition: 1.1 } },
      { kind: 'sample', temperature: 0.8 },
      { kind: 'sample', temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, penalties: { repetition: 1.1 } },
      { kind: 'sample', temperature: 0.8, topP: 0.95 },
    ];
    const history = Array.from({ length: 64 }, (_, i) => (i * 977) % n);
    for (const cfg of configs) {
      const a = createSampler(cfg, 1, n);
      const b = createSampler(cfg, 1, n);
      for (let i = 0; i < 5; i++) {
        const t = a.sample(logits, history);
        expect(Number.isInteger(t) && t >= 0 && t < n, JSON.stringify(cfg)).toBe(true);
        expect(b.sample(logits, history)).toBe(t);
      }
    }
  });
});

describe('top-k in one pass (k <= 128): the same candidates in the same order as the histogram selection', () => {
  /** The histogram path: every finite id in id order, then TopSelector.selectTopK, then the candidates' minimum. */
  function bucketed(values: Float32Array, k: number): { ids: number[]; minValue: number } {
    const ids = new Uint32Array(values.length);
    let n = 0;
    let max = -Infinity;
    let min = Infinity;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === -Infinity) continue;
      max = Math.max(max, v);
      min = Math.min(min, v);
      ids[n++] = i;
    }
    if (k < n) {
      n = new TopSelector(values.length).selectTopK(values, ids, n, k, max, min);
      min = Infinity;
      for (let j = 0; j < n; j++) min = Math.min(min, values[ids[j]]);
    }
    return { ids: [...ids.subarray(0, n)], minValue: min };
  }

  it('random logits with ties, -Infinity, coarse values, all equal, fewer finite than k; the draws of a seeded sampler', () => {
    const cases: [string, Float32Array][] = [];
    for (const [seed, scale] of [
      [1, 1],
      [2, 6],
      [3, 0.01],
    ] as const) {
      const l = randomLogits(30_000, seed, scale);
      for (let i = 0; i < l.length; i += 5) l[i] = l[i + 2] ?? 0; // ties
      for (let i = 3; i < l.length; i += 41) l[i] = -Infinity;
      cases.push([`normal seed ${seed} scale ${scale}`, l]);
    }
    // few distinct values: large boundary buckets and many ties at the cut
    cases.push(['coarse', Float32Array.from(randomLogits(5000, 4, 3), (v) => Math.round(v))]);
    cases.push(['all equal', new Float32Array(1000).fill(0.5)]);
    const sparse = new Float32Array(1000).fill(-Infinity);
    for (const i of [7, 100, 3, 999, 500]) sparse[i] = i / 100;
    cases.push(['5 finite', sparse]);
    for (const [label, values] of cases) {
      for (const k of [1, 2, 5, 40, 127, 128]) {
        const want = bucketed(values, k);
        const cand = new Uint32Array(values.length);
        const got = topKOnePass(values, k, new Uint32Array(128), cand);
        expect([...cand.subarray(0, got.n)], `${label} k=${k}`).toEqual(want.ids);
        expect(got.minValue, `${label} k=${k} min`).toBe(want.minValue);
      }
    }
    // end to end: the draws follow the candidates' order. These are the draws the histogram path gave before the one
    // pass existed (same logits, seed 42), for two configurations
    const logits = cases[0][1];
    const drawn = (cfg: SamplingConfig): number[] => {
      const s = createSampler(cfg, 42, logits.length);
      return Array.from({ length: 40 }, () => s.sample(logits, []));
    };
    expect(drawn({ kind: 'sample', temperature: 1.5, topK: 40, topP: 0.97, minP: 0.001 })).toEqual([17265,3130,27340,27340,27421,27342,27342,11601,23313,26661,14503,15076,29052,26863,26661,27782,25514,14503,27340,3132,27340,14503,17265,11506,10300,25514,17265,27782,26863,27782,14582,27342,14582,7266,19009,15072,26661,10302,6203,27340]);
    expect(drawn({ kind: 'sample', temperature: 3, topK: 128 })).toEqual([15070,89,23531,24287,27371,25508,27340,6549,17267,22508,11506,14489,28847,23313,21762,28593,21760,10756,23313,593,23694,10300,15072,6203,3130,21760,14952,27782,23068,28258,12143,27340,12449,29737,17265,13483,22621,5373,1841,25065]);
  });

  it('NaN and +Infinity are refused as before', () => {
    const s = createSampler({ kind: 'sample', temperature: 1, topK: 40 }, 1, 4);
    expect(() => s.sample(Float32Array.of(1, NaN, 2, 3), [])).toThrow(/logits\[1\]/);
    expect(() => s.sample(Float32Array.of(1, 2, Infinity, 3), [])).toThrow(/logits\[2\]/);
    expect(() => s.sample(new Float32Array(4).fill(-Infinity), [])).toThrow(/every logit is -Infinity/);
  });
});
