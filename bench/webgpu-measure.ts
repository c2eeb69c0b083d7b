// One benchmark of a loaded model, the same in Node and in a page: load time, a warm-up call (on WebGPU: shader
// compilation), then prompt-processing (pp) and generation (tg) speed and time to first token of one completion.

import { BitNet, type ModelSource } from '../src/engine/bitnet.js';
import type { LoadOptions } from '../src/engine/types.js';

export interface Measured {
  readonly backend: string;
  readonly kernelSet: string;
  /** BitNet.load: read the file and put the weights into backend memory (on WebGPU: the upload). */
  readonly loadMs: number;
  /** The first, short completion: pipeline compilation and first-use costs. */
  readonly warmupMs: number | null;
  /** null with --load-only (no completion ran). */
  readonly prefillTokPerS: number | null;
  readonly decodeTokPerS: number | null;
  readonly ttftMs: number | null;
  readonly promptTokens: number;
  readonly generatedTokens: number;
}

/** A prompt of ordinary token ids (BOS first), the same for every backend. */
export function benchPrompt(n: number, vocab: number): number[] {
  const ids = [128000];
  for (let i = 1; i < n; i++) ids.push(1000 + ((i * 7919) % Math.min(100_000, vocab - 1000)));
  return ids;
}

/** pp = 0: load only (the upload time and memory of a shape too slow to run on a software adapter). */
export async function measure(source: ModelSource, load: LoadOptions, pp: number, tg: number): Promise<Measured> {
  const t0 = performance.now();
  const m = await BitNet.load(source, load);
  const loadMs = performance.now() - t0;
  try {
    if (pp === 0) {
      const info = { backend: m.info.backend, kernelSet: `${m.info.kernelSet} x${m.info.threads}`, loadMs };
      return { ...info, warmupMs: null, prefillTokPerS: null, decodeTokPerS: null, ttftMs: null, promptTokens: 0, generatedTokens: 0 };
    }
    const greedy = { sampling: { kind: 'greedy' } as const, ignoreEos: true };
    const t1 = performance.now();
    await m.complete(benchPrompt(4, m.info.vocabSize), { ...greedy, maxTokens: 2 });
    const warmupMs = performance.now() - t1;
    const r = await m.complete(benchPrompt(pp, m.info.vocabSize), { ...greedy, maxTokens: tg });
    return {
      backend: m.info.backend,
      kernelSet: `${m.info.kernelSet} x${m.info.threads}`,
      loadMs,
      warmupMs,
      prefillTokPerS: r.timings.prefillTokPerS,
      decodeTokPerS: r.timings.decodeTokPerS,
      ttftMs: r.timings.timeToFirstTokenMs,
      promptTokens: r.usage.promptTokens,
      generatedTokens: r.usage.completionTokens,
    };
  } finally {
    await m.dispose();
  }
}
