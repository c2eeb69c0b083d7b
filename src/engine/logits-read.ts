// How the engine reads a step's logits: the cheapest read that is exact for the sampling configuration
// (docs/next-shape.md section 4): an argmax for greedy decoding without penalties, else the whole row (the live view
// on CPU backends, a copy back from a GPU).

import type { KernelBackend, Tensor } from '../kernels/backend.js';
import type { TokenMask } from '../sampling/json-constraint.js';
import { validateSamplingConfig, type Sampler } from '../sampling/sampler.js';
import type { SamplingConfig } from '../sampling/types.js';

/** The first n floats of a tensor: the live view on CPU backends (no copy), else a read back. */
export function readRow(be: KernelBackend, t: Tensor, n: number): Float32Array | Promise<Float32Array> {
  return be.view === undefined ? be.read(t, 0, n) : be.view(t).subarray(0, n);
}

/**
 * How a generation reads each step's logits. Top-k sampling still reads the row: the sampler's draw walks its
 * candidates in an order that depends on the whole row's value range (its histogram selection), so a row rebuilt
 * from topK alone (-Infinity elsewhere) can draw another token for the same seed (logits-read.test.ts shows it).
 * Using backend.topK there needs a sampler entry point that takes candidates; not done yet.
 */
export type LogitsRead = 'argmax' | 'row';

export function logitsRead(sampling: SamplingConfig, topLogprobs: number): LogitsRead {
  const cfg = validateSamplingConfig(sampling);
  return cfg.greedy && !cfg.penaltiesActive && topLogprobs === 0 ? 'argmax' : 'row';
}

/** The next token from row 0 of `logits`, exactly as sampler.sample on the whole row picks it. */
export async function nextToken(be: KernelBackend, read: LogitsRead, sampler: Sampler, logits: Tensor, history: readonly number[], mask?: TokenMask): Promise<number> {
  if (read === 'argmax' && mask === undefined) {
    const [id] = await be.argmax(logits, 1, sampler.vocabSize);
    // -1: NaN, +Infinity or no finite logit; the sampler reads the row and says which
    if (id >= 0) return id;
  }
  return sampler.sample(await readRow(be, logits, sampler.vocabSize), history, mask);
}
