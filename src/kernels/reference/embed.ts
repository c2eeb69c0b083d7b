// Embedding lookup: the rows of a [dim x vocab] table (any readable type) for a list of token ids.

import { BitNetError } from '../../errors.js';
import { dequantizeRows } from '../../formats/index.js';
import type { RefWeight } from './weights.js';

/** out[t * dim .. (t + 1) * dim) = row tokenIds[t] of the table, dequantized. */
export function embedRef(out: Float32Array, table: RefWeight, tokenIds: ArrayLike<number>): void {
  const dim = table.cols;
  for (let t = 0; t < tokenIds.length; t++) {
    const id = tokenIds[t];
    if (!Number.isInteger(id) || id < 0 || id >= table.rows) {
      throw new BitNetError('BAD_ARGUMENT', `embed: token ${t} has id ${id}, expected an integer in [0, ${table.rows}) for '${table.info.name}'`, {
        details: { op: 'embed', index: t, actual: id, expected: table.rows },
      });
    }
    dequantizeRows(table.info.type, table.bytes, id, 1, dim, out, t * dim);
  }
}
