// Flags shared by run, chat and serve: model/backend choice and sampling, parsed into engine options.

import type { Command } from 'commander';
import { BitNetError } from '../errors.js';
import type { BackendChoice, LoadOptions } from '../engine/types.js';
import type { SamplingConfig } from '../sampling/types.js';

export interface ModelFlags {
  model?: string;
  threads?: string;
  backend?: string;
  ctx?: string;
  strict?: boolean;
  chatTemplate?: string;
}

export interface SamplingFlags {
  temp?: string;
  topK?: string;
  topP?: string;
  minP?: string;
  repeatPenalty?: string;
  repeatLastN?: string;
  frequencyPenalty?: string;
  presencePenalty?: string;
  seed?: string;
}

export function addModelFlags(cmd: Command): Command {
  return cmd
    .option('-m, --model <file>', 'GGUF model file (default: the built-in demo model)')
    .option('-t, --threads <n>', 'worker threads for the wasm backend (default: available cores)')
    .option('--backend <name>', 'auto | wasm | reference', 'auto')
    .option('-c, --ctx <n>', 'context length (KV cache size)')
    .option('--strict', 'refuse every fallback (also BITNET_STRICT=1)')
    .option('--chat-template <file-or-jinja>', 'override the chat template');
}

export function addSamplingFlags(cmd: Command): Command {
  return cmd
    .option('--temp <x>', 'temperature; 0 = greedy', '0.8')
    .option('--top-k <n>', 'keep the k most likely tokens (0 = off)', '40')
    .option('--top-p <p>', 'nucleus sampling threshold (1 = off)', '0.95')
    .option('--min-p <p>', 'drop tokens below p * p(max) (0 = off)', '0.05')
    .option('--repeat-penalty <x>', 'repetition penalty (1 = off)', '1')
    .option('--repeat-last-n <n>', 'tokens the penalties look back on', '64')
    .option('--frequency-penalty <x>', 'OpenAI frequency penalty', '0')
    .option('--presence-penalty <x>', 'OpenAI presence penalty', '0')
    .option('-s, --seed <n>', 'random seed (default: random)');
}

export function num(name: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new BitNetError('BAD_ARGUMENT', `--${name}: expected ${integer ? 'an integer' : 'a number'}, got '${v}'`, { details: { flag: name, value: v } });
  }
  return n;
}

export function strictFromEnv(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return flag === true || env.BITNET_STRICT === '1' || env.BITNET_STRICT === 'true';
}

export async function loadOptionsFromFlags(f: ModelFlags): Promise<LoadOptions> {
  const backend = (f.backend ?? 'auto') as BackendChoice;
  if (!['auto', 'wasm', 'reference', 'webgpu'].includes(backend)) {
    throw new BitNetError('BAD_ARGUMENT', `--backend: expected auto, wasm or reference, got '${f.backend}'`);
  }
  const opts: LoadOptions = { backend, strict: strictFromEnv(f.strict) };
  const threads = num('threads', f.threads, true);
  const ctx = num('ctx', f.ctx, true);
  let chatTemplate: string | undefined;
  if (f.chatTemplate !== undefined) {
    const { readFile } = await import('node:fs/promises');
    chatTemplate = f.chatTemplate.includes('{') ? f.chatTemplate : await readFile(f.chatTemplate, 'utf8');
  }
  return {
    ...opts,
    ...(threads === undefined ? {} : { threads }),
    ...(ctx === undefined ? {} : { contextLength: ctx }),
    ...(chatTemplate === undefined ? {} : { chatTemplate }),
  };
}

export function samplingFromFlags(f: SamplingFlags): { sampling: SamplingConfig; seed?: number } {
  const temperature = num('temp', f.temp) ?? 0.8;
  const penalties = {
    repetition: num('repeat-penalty', f.repeatPenalty) ?? 1,
    frequency: num('frequency-penalty', f.frequencyPenalty) ?? 0,
    presence: num('presence-penalty', f.presencePenalty) ?? 0,
    lastN: num('repeat-last-n', f.repeatLastN, true) ?? 64,
  };
  const seed = num('seed', f.seed, true);
  const sampling: SamplingConfig =
    temperature <= 0
      ? { kind: 'greedy', penalties }
      : {
          kind: 'sample',
          temperature,
          topK: num('top-k', f.topK, true) ?? 40,
          topP: num('top-p', f.topP) ?? 0.95,
          minP: num('min-p', f.minP) ?? 0.05,
          penalties,
        };
  return seed === undefined ? { sampling } : { sampling, seed };
}
