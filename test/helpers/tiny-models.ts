// Synthetic tiny models for engine tests, generated once per test process into a temp dir.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { synthesizeModel, type SynthEmbedType, type SynthWeightType } from '../../src/synth/synthesize.js';
import type { SynthArch } from '../../src/inspect/arch-spec.js';
import { miniBytes, miniSpec, type MiniArch, type MiniWeightType } from '../hostile/mini-model.js';
import { tempDir } from './temp-dir.js';

const dir = tempDir('bitnet-test-models-');
const made = new Map<string, Promise<string>>();

/** Path of a tiny synthetic model with these options (seed 1 unless given), generated on first request. */
export function tinyModel(arch: SynthArch, weightType: SynthWeightType, embedType: SynthEmbedType = 'q8_0', seed = 1): Promise<string> {
  const key = `${arch}-${weightType}-${embedType}-${seed}`;
  let p = made.get(key);
  if (p === undefined) {
    const path = join(dir, `${key}.gguf`);
    p = synthesizeModel({ shape: 'tiny', arch, weightType, embedType, seed, path }).then(() => path);
    made.set(key, p);
  }
  return p;
}

/** The sizes of quickModel: the tiny shape's layers, heads, FFN and context, Q8_0 embeddings; 8192 tokens. */
export const QUICK_SHAPE = { hidden: 256, ffn: 512, heads: 4, kvHeads: 2, headDim: 64, layers: 2, context: 256, vocab: 8192, embed: 'q8_0' } as const;

/**
 * Path of a model with the tiny shape's KV geometry and layers (so the same KV blocks, bytes and positions) but the
 * mini model's byte-level vocabulary padded to 8192 tokens (test/hostile/mini-model.ts), generated on first request.
 * The LLaMA-3 output matrix is ~96% of a tiny model's compute; tests of scheduling, memory and caching, where the
 * vocabulary plays no part, run about ten times faster on this one (token ids below 8192).
 */
export function quickModel(arch: MiniArch, weightType: MiniWeightType): Promise<string> {
  const key = `quick-${arch}-${weightType}`;
  let p = made.get(key);
  if (p === undefined) {
    const path = join(dir, `${key}.gguf`);
    p = writeFile(path, miniBytes(miniSpec(arch, weightType, QUICK_SHAPE))).then(() => path);
    made.set(key, p);
  }
  return p;
}
