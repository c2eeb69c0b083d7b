// Benchmark prompts: deterministic token ids, different from the first token on for every run so no engine reuses a cached prefix.

import { BitNetError } from '../errors.js';

/** Ids at or above this are special tokens in the LLaMA-3 vocabulary; prompts stay below it. */
const LLAMA3_FIRST_SPECIAL = 128000;

/**
 * `nTokens` token ids for run `runIndex`, drawn from [1, min(vocabSize, 128000)) by a small LCG
 * seeded with the run index. Different runs differ at position 0.
 */
export function benchPromptTokens(runIndex: number, nTokens: number, vocabSize: number): number[] {
  if (!Number.isInteger(nTokens) || nTokens < 1) throw new BitNetError('BAD_ARGUMENT', `prompt length must be a positive integer, got ${nTokens}`, { details: { field: 'pp', actual: nTokens } });
  if (!Number.isInteger(runIndex) || runIndex < 0) throw new BitNetError('BAD_ARGUMENT', `run index must be a non-negative integer, got ${runIndex}`, { details: { field: 'runIndex', actual: runIndex } });
  const range = Math.min(vocabSize, LLAMA3_FIRST_SPECIAL) - 1;
  if (!Number.isInteger(range) || range < 2) throw new BitNetError('BAD_ARGUMENT', `vocabulary of ${vocabSize} tokens is too small for bench prompts`, { details: { field: 'vocabSize', actual: vocabSize } });
  const out: number[] = [];
  // Position 0 walks the range by a prime stride, so runs 0 .. range-1 all start differently.
  out.push(1 + ((runIndex * 7919) % range));
  let state = (runIndex * 2654435761 + 12345) >>> 0;
  for (let i = 1; i < nTokens; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0; // Numerical Recipes LCG
    out.push(1 + (state % range));
  }
  return out;
}
