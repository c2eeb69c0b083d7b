// Checks shared by the backends' matmulMany (kernels/backend.ts): one input, several weights of its width, outputs
// that are neither the input nor each other (a backend may quantize x once, before any output is written).

import { BitNetError } from '../errors.js';
import type { MatmulTarget, Tensor } from './backend.js';

function bad(message: string, details: Record<string, string | number> = {}): BitNetError {
  return new BitNetError('BAD_ARGUMENT', `matmulMany: ${message}`, { details: { op: 'matmulMany', ...details } });
}

/** A tensor-shaped object (ownership is each backend's own check). */
function isTensor(t: unknown): t is Tensor {
  return typeof t === 'object' && t !== null && typeof (t as { nElements?: unknown }).nElements === 'number';
}

/**
 * Throws BAD_ARGUMENT unless nTokens is a non-negative integer, x holds nTokens rows, `targets` is a non-empty array
 * whose weights (`shape` gives a weight's rows and columns) all have x's width, whose outputs hold nTokens x rows
 * floats and are neither x nor each other (tensors never overlap unless they are the same one), and whose scales are finite: all checked before any output is written.
 */
export function checkMatmulMany(
  x: Tensor,
  nTokens: number,
  targets: readonly MatmulTarget[],
  shape: (t: MatmulTarget) => { rows: number; cols: number },
): void {
  if (!isTensor(x)) throw bad('x must be a Tensor');
  if (!Number.isInteger(nTokens) || nTokens < 0) throw bad(`nTokens must be an integer >= 0, got ${nTokens}`, { field: 'nTokens', actual: String(nTokens) });
  if (!Array.isArray(targets) || targets.length === 0) throw bad('targets must be a non-empty array');
  targets.forEach((t: unknown, i) => {
    if (typeof t !== 'object' || t === null || !isTensor((t as { out?: unknown }).out)) throw bad(`target ${i} needs an out Tensor`, { target: i });
  });
  const width = shape(targets[0]).cols;
  if (x.nElements < nTokens * width) throw bad(`x needs at least ${nTokens * width} elements, has ${x.nElements}`, { field: 'x', expected: nTokens * width, actual: x.nElements });
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i];
    const { rows, cols: c } = shape(t);
    if (t.out.nElements < nTokens * rows) throw bad(`target ${i}'s out needs at least ${nTokens * rows} elements, has ${t.out.nElements}`, { target: i, expected: nTokens * rows, actual: t.out.nElements });
    if (t.scale !== undefined && !Number.isFinite(t.scale)) throw bad(`target ${i}'s scale must be finite, got ${t.scale}`, { target: i, actual: String(t.scale) });
    if (c !== width) throw bad(`target ${i}'s weight has ${c} columns, target 0's has ${width}`, { target: i, expected: width, actual: c });
    if (t.out === x) throw bad(`target ${i}'s out is x`, { target: i });
    for (let j = 0; j < i; j++) if (t.out === targets[j].out) throw bad(`targets ${j} and ${i} share an output tensor`, { target: i });
  }
}
