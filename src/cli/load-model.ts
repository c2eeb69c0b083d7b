// Opens the model a command names (or the built-in demo model) and reports what was loaded on stderr.

import { BitNet } from '../engine/bitnet.js';
import { ensureDemoModel } from './demo-model.js';
import { loadOptionsFromFlags, type ModelFlags } from './options.js';

export async function loadModelFromFlags(f: ModelFlags, log: (line: string) => void): Promise<BitNet> {
  let path = f.model;
  if (path === undefined) {
    path = await ensureDemoModel(log);
    log(`no -m given: using the built-in demo model (random ternary weights: its text is gibberish) at ${path}`);
  }
  const opts = await loadOptionsFromFlags(f);
  const model = await BitNet.load(path, opts);
  const i = model.info;
  log(`loaded ${i.fileName}: ${i.arch}, ${(i.nParams / 1e6).toFixed(1)}M params, ctx ${i.contextLength}, backend ${i.backend}/${i.kernelSet} x${i.threads}, ${model.timingsLoadMs().toFixed(0)} ms`);
  for (const fb of model.fallbacks) log(`warning: ${fb}`);
  return model;
}
