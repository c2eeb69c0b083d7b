// Opens the model a command names (or the built-in demo model) and reports what was loaded on stderr.

import { BitNet } from '../engine/bitnet.js';
import type { LoadOptions } from '../engine/types.js';
import { ensureDemoModel } from './demo-model.js';
import { modelArgsFromFlags, type ModelArgs, type ModelFlags } from './options.js';

/** Loads from flags (checked first); `preflight` runs on the header and tokenizer before weights are read. */
export async function loadModelFromFlags(f: ModelFlags | ModelArgs, log: (line: string) => void, preflight?: LoadOptions['preflight'], signal?: AbortSignal): Promise<BitNet> {
  const args = 'load' in f ? f : await modelArgsFromFlags(f);
  let path = args.path;
  if (path === undefined) {
    path = await ensureDemoModel(log);
    log(`no -m given: using the built-in demo model (random ternary weights: its text is gibberish) at ${path}`);
  }
  const model = await BitNet.load(path, {
    ...args.load,
    ...(preflight === undefined ? {} : { preflight }),
    ...(signal === undefined ? {} : { signal }),
  });
  const i = model.info;
  log(`loaded ${i.fileName}: ${i.arch}, ${(i.nParams / 1e6).toFixed(1)}M params, ctx ${i.contextLength}, backend ${i.backend}/${[i.kernelSet, ...i.kernelFeatures].join('+')} x${i.threads}, ${model.timingsLoadMs().toFixed(0)} ms`);
  for (const fb of model.fallbacks) log(`warning: ${fb}`);
  return model;
}
