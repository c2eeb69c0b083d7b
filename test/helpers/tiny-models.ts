// Synthetic tiny models for engine tests, generated once per test process into a temp dir.

import { join } from 'node:path';
import { synthesizeModel, type SynthEmbedType, type SynthWeightType } from '../../src/synth/synthesize.js';
import type { SynthArch } from '../../src/inspect/arch-spec.js';
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
