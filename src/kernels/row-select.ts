// Argmax and top-k over rows of logits held in a Float32Array: the CPU backends' sampling reads (docs/next-shape.md section 4).
//
// Same order as the sampler (src/sampling/sampler.ts): the largest value wins, the lower id among equals. Argmax
// gives -1 for a row with NaN or +Infinity or with no value above -Infinity, so the caller can report the row as the
// sampler does. Top-k ranks NaN below every number (it never throws: the sampler checks what it reads).

import { BitNetError } from '../errors.js';

function bad(op: string, message: string, details: Record<string, string | number> = {}): BitNetError {
  return new BitNetError('BAD_ARGUMENT', `${op}: ${message}`, { details: { op, ...details } });
}

/** Throws BAD_ARGUMENT unless nRows >= 0 and vocab >= 1 are integers and `have` elements hold nRows x vocab. */
export function checkRows(op: string, have: number, nRows: number, vocab: number): void {
  if (!Number.isInteger(nRows) || nRows < 0) throw bad(op, `nRows must be an integer >= 0, got ${nRows}`, { field: 'nRows' });
  if (!Number.isInteger(vocab) || vocab < 1) throw bad(op, `vocab must be an integer >= 1, got ${vocab}`, { field: 'vocab' });
  if (have < nRows * vocab) throw bad(op, `logits need at least ${nRows * vocab} elements, have ${have}`, { field: 'logits', expected: nRows * vocab, actual: have });
}

/** Throws BAD_ARGUMENT unless k is an integer in 1..vocab. */
export function checkK(op: string, k: number, vocab: number): void {
  if (!Number.isInteger(k) || k < 1 || k > vocab) throw bad(op, `k must be an integer in 1..${vocab}, got ${k}`, { field: 'k' });
}

/** Per row: the lowest id of the largest value; -1 when the row holds NaN or +Infinity or only -Infinity. */
export function argmaxRows(data: Float32Array, nRows: number, vocab: number): Int32Array {
  const out = new Int32Array(nRows);
  for (let r = 0; r < nRows; r++) {
    const base = r * vocab;
    let best = -Infinity;
    let bestId = -1;
    for (let i = 0; i < vocab; i++) {
      const v = data[base + i];
      if (v > best) {
        best = v;
        bestId = i;
      } else if (v !== v) {
        bestId = -1;
        break;
      }
    }
    out[r] = best === Infinity ? -1 : bestId;
  }
  return out;
}

/** a ranks before b: larger value first (NaN last), then lower id. */
function before(av: number, ai: number, bv: number, bi: number): boolean {
  if (av !== av) return bv !== bv && ai < bi;
  if (bv !== bv) return true;
  return av > bv || (av === bv && ai < bi);
}

/** Per row: the k largest values with their ids, descending, ties by lower id (insertion into a sorted list of k). */
export function topKRows(data: Float32Array, nRows: number, vocab: number, k: number): { ids: Int32Array; values: Float32Array } {
  const ids = new Int32Array(nRows * k);
  const values = new Float32Array(nRows * k);
  for (let r = 0; r < nRows; r++) {
    const base = r * vocab;
    const o = r * k;
    let n = 0;
    for (let i = 0; i < vocab; i++) {
      const v = data[base + i];
      if (n === k && !before(v, i, values[o + k - 1], ids[o + k - 1])) continue;
      let j = n < k ? n++ : k - 1;
      for (; j > 0 && before(v, i, values[o + j - 1], ids[o + j - 1]); j--) {
        values[o + j] = values[o + j - 1];
        ids[o + j] = ids[o + j - 1];
      }
      values[o + j] = v;
      ids[o + j] = i;
    }
  }
  return { ids, values };
}
