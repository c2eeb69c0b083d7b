// The quick I2_S model (the tiny model's layers and KV blocks, a small vocabulary: tiny-models.ts) on one wasm thread
// with a KV cache of a few 16-position blocks (the preemption, KV admission and KV-wait tests).

import { BitNet } from '../../src/engine/bitnet.js';
import type { GenerateOptions, LoadOptions } from '../../src/engine/types.js';
import { kvCacheBytes } from '../../src/model/forward.js';
import { quickModel } from './tiny-models.js';

let blockBytes = 0;

/** The quick model, context 128, with kvMemory of exactly `blocks` blocks of 16 positions (kvAdmission as given). */
export async function loadWithKvBlocks(blocks: number, options: Pick<LoadOptions, 'kvAdmission'> = {}): Promise<BitNet> {
  const path = await quickModel('bitnet-b1.58', 'i2_s');
  if (blockBytes === 0) {
    const probe = await BitNet.load(path, { backend: 'wasm', threads: 1, contextLength: 16 });
    blockBytes = kvCacheBytes(probe.config, 16);
    await probe.dispose();
  }
  return BitNet.load(path, { backend: 'wasm', threads: 1, contextLength: 128, kvMemory: blocks * blockBytes, ...options });
}

/** Greedy, 28 new tokens with the top-2 logprobs: the answers the KV-pressure tests compare with running alone. */
export const GREEDY_28: GenerateOptions = { maxTokens: 28, sampling: { kind: 'greedy' }, ignoreEos: true, topLogprobs: 2 };

/** Seeded sampling with every penalty, 28 new tokens with the top-2 logprobs (the sampler's state must survive waits). */
export function seeded28(seed: number): GenerateOptions {
  return {
    maxTokens: 28,
    sampling: { kind: 'sample', temperature: 0.9, topK: 40, penalties: { repetition: 1.3, frequency: 0.2, presence: 0.1 } },
    seed,
    ignoreEos: true,
    topLogprobs: 2,
  };
}
