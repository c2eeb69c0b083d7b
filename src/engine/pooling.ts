// Pooling of hidden states into one embedding per input: a running sum over prefill batches, then mean/last/cls and L2.

import { BitNetError } from '../errors.js';
import type { Pooling } from './types.js';

export const POOLINGS: readonly Pooling[] = ['mean', 'last', 'cls'];

/** Checks a pooling name from outside (JavaScript callers, the server): a wrong name is BAD_ARGUMENT, never a default. */
export function checkPooling(p: unknown): Pooling {
  const found = POOLINGS.find((x) => x === p);
  if (found === undefined) throw new BitNetError('BAD_ARGUMENT', `pooling must be one of ${POOLINGS.join(', ')}, got ${String(p)}`, { details: { field: 'pooling' } });
  return found;
}

/** Collects one input's hidden states batch by batch (rows token-major, `dim` floats each) and pools them. */
export class PoolAccumulator {
  /** Sum (mean), or the chosen row (last, cls), in double precision. */
  private readonly acc: Float64Array;
  private nTokens = 0;

  constructor(
    private readonly pooling: Pooling,
    private readonly dim: number,
  ) {
    this.acc = new Float64Array(dim);
  }

  /** Which rows of a batch of `n` tokens starting at `startPos`, of an input of `total` tokens, `add` needs: [first, end). */
  rowsWanted(startPos: number, n: number, total: number): [number, number] {
    if (this.pooling === 'mean') return [0, n];
    if (this.pooling === 'cls') return startPos === 0 ? [0, 1] : [0, 0];
    return startPos + n === total ? [n - 1, n] : [0, 0];
  }

  /** Adds `rows` (the wanted rows of a batch of `n` tokens, as rowsWanted gave them). */
  add(rows: Float32Array, n: number): void {
    const { dim, acc } = this;
    const nRows = rows.length / dim;
    if (this.pooling === 'mean') {
      for (let r = 0; r < nRows; r++) for (let i = 0; i < dim; i++) acc[i] += rows[r * dim + i];
    } else if (nRows === 1) {
      for (let i = 0; i < dim; i++) acc[i] = rows[i];
    }
    this.nTokens += n;
  }

  /** The embedding: pooled, then scaled to unit L2 length when `normalize` (a zero vector stays zero). */
  result(normalize: boolean): Float32Array {
    const out = new Float64Array(this.acc);
    if (this.pooling === 'mean') for (let i = 0; i < out.length; i++) out[i] /= this.nTokens;
    if (normalize) {
      let ss = 0;
      for (const v of out) ss += v * v;
      const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
      for (let i = 0; i < out.length; i++) out[i] *= inv;
    }
    return Float32Array.from(out);
  }
}
