// Per-position agreement of two logits matrices (positions x vocab): the cosine of the rows and their arg maxes,
// for the end-to-end comparisons of one backend against another (tests, and bench/webgpu-device.ts on a real GPU).

export interface RowAgreement {
  readonly cosine: number;
  /** Arg max of `got`'s row and of `want`'s row (first index on ties). */
  readonly argGot: number;
  readonly argWant: number;
}

export function rowAgreement(got: Float32Array, want: Float32Array, vocab: number, p: number): RowAgreement {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let argGot = 0;
  let argWant = 0;
  for (let i = 0; i < vocab; i++) {
    const a = got[p * vocab + i];
    const e = want[p * vocab + i];
    dot += a * e;
    na += a * a;
    nb += e * e;
    if (a > got[p * vocab + argGot]) argGot = i;
    if (e > want[p * vocab + argWant]) argWant = i;
  }
  return { cosine: dot / Math.sqrt(na * nb), argGot, argWant };
}
