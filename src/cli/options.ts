// Flags shared by run, chat and serve: model/backend choice and sampling, parsed and checked into engine
// options before anything is loaded (a bad flag costs no model load).

import { availableParallelism } from 'node:os';
import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { BitNetError } from '../errors.js';
import type { BackendChoice, LoadOptions } from '../engine/types.js';
import { validateSamplingConfig } from '../sampling/sampler.js';
import type { SamplingConfig } from '../sampling/types.js';
import { PRE_TOKENIZER_NAMES } from '../tokenizer/pre-tokenizer.js';
import { I2S_FLAVOR_OPTIONS } from '../formats/i2s-flavors.js';
import type { I2sFlavorOption } from '../formats/i2s-flavors.js';
import { parseKernelConfigIni } from '../formats/tl.js';
import type { TlTiles } from '../formats/tl.js';
import { resolveModelRef } from './model-ref.js';

export interface ModelFlags {
  model?: string;
  threads?: string;
  backend?: string;
  ctx?: string;
  strict?: boolean;
  chatTemplate?: string;
  preTokenizer?: string;
  i2sFlavor?: string;
  tlConfig?: string;
  pull?: boolean;
  offline?: boolean;
  hub?: string;
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

const BACKENDS: readonly BackendChoice[] = ['auto', 'wasm', 'reference', 'webgpu'];
/** Largest accepted --ctx: the engine caps it at the model's trained context anyway; beyond this is a typo. */
const MAX_CTX_FLAG = 1 << 20;
/** Largest accepted -n / --n-predict (the context bounds a run long before this). */
const MAX_PREDICT_FLAG = 1 << 20;

export function addModelFlags(cmd: Command): Command {
  return cmd
    .option('-m, --model <file|owner/name[:file]>', 'GGUF model file, or a pulled hub model / URL from the cache (default: the built-in demo model)')
    .option('--pull', '-m owner/name not in the cache: download it first (otherwise it is an error)')
    .option('--offline', 'never use the network for -m (also BITNET_OFFLINE=1)')
    .option('--hub <url>', 'hub base URL for --pull (also BITNET_HUB_URL or HF_ENDPOINT)')
    .option('-t, --threads <n>', `worker threads for the wasm backend, 1..${availableParallelism()} (default: available cores)`)
    .option('--backend <name>', 'auto | wasm | reference | webgpu (in Node: the optional webgpu package)', 'auto')
    .option('-c, --ctx <n>', 'context length (KV cache size; default: the model\'s, at most 4096)')
    .option('--strict', 'refuse every fallback (also BITNET_STRICT=1)')
    .option('--chat-template <file-or-jinja>', 'override the chat template (a file, or Jinja source containing "{")')
    .option('--pre-tokenizer <name>', preTokenizerFlagHelp())
    .option('--i2s-flavor <name>', I2S_FLAVOR_FLAG_HELP)
    .option('--tl-config <kernel_config.ini>', TL_CONFIG_FLAG_HELP);
}

/** Help for --i2s-flavor (run, chat, serve, inspect). */
export const I2S_FLAVOR_FLAG_HELP = `I2_S byte layout: ${I2S_FLAVOR_OPTIONS.join(' | ')} (default auto: told by tensor sizes where they can, else x86; a file converted by an ARM build of bitnet.cpp needs arm)`;
/** Help for --tl-config (run, chat, serve, inspect). */
export const TL_CONFIG_FLAG_HELP = "the kernel_config.ini a TL1/TL2 file was converted with (its tiles are not in the file; bitnet.cpp's presets cover only the models its setup_env.py knows)";

/** --i2s-flavor checked against the flavors the engine reads; undefined when absent. */
export function i2sFlavorFromFlag(v: string | undefined): I2sFlavorOption | undefined {
  if (v !== undefined && !(I2S_FLAVOR_OPTIONS as readonly string[]).includes(v)) throw badFlag('i2s-flavor', `one of ${I2S_FLAVOR_OPTIONS.join(', ')}`, v);
  return v as I2sFlavorOption | undefined;
}

/** --tl-config read and parsed now (a bad file costs no model load); undefined when absent. */
export async function tlConfigFromFlag(path: string | undefined): Promise<TlTiles[] | undefined> {
  if (path === undefined) return undefined;
  const text = await readFlagFile('tl-config', path);
  try {
    return parseKernelConfigIni(text);
  } catch (e) {
    throw new BitNetError('BAD_ARGUMENT', `--tl-config ${path}: ${e instanceof Error ? e.message : String(e)}`, { details: { flag: 'tl-config', path }, cause: e });
  }
}

/** Help for --pre-tokenizer (run, chat, serve, inspect). */
export function preTokenizerFlagHelp(): string {
  return `BPE pre-tokenizer rules: ${PRE_TOKENIZER_NAMES.join(' | ')} (default: the file's tokenizer.ggml.pre; 'default' splits as llama.cpp/bitnet.cpp do when the key is missing)`;
}

/** --pre-tokenizer checked against the names the engine implements; undefined when absent. */
export function preTokenizerFromFlag(v: string | undefined): string | undefined {
  if (v !== undefined && !PRE_TOKENIZER_NAMES.includes(v)) throw badFlag('pre-tokenizer', `one of ${PRE_TOKENIZER_NAMES.join(', ')}`, v);
  return v;
}

export function addSamplingFlags(cmd: Command): Command {
  return cmd
    .option('--temp <x>', 'temperature; 0 = greedy', '0.8')
    .option('--top-k <n>', 'keep the k most likely tokens (0 = off)', '40')
    .option('--top-p <p>', 'nucleus sampling threshold in (0, 1] (1 = off)', '0.95')
    .option('--min-p <p>', 'drop tokens below p * p(max), p in [0, 1] (0 = off)', '0.05')
    .option('--repeat-penalty <x>', 'repetition penalty > 0 (1 = off)', '1')
    .option('--repeat-last-n <n>', 'tokens the penalties look back on (-1 = all, 0 = off)', '64')
    .option('--frequency-penalty <x>', 'OpenAI frequency penalty', '0')
    .option('--presence-penalty <x>', 'OpenAI presence penalty', '0')
    .option('-s, --seed <n>', 'random seed, 0..4294967295 (default: random)');
}

function badFlag(flag: string, expected: string, value: string | number): BitNetError {
  return new BitNetError('BAD_ARGUMENT', `--${flag}: expected ${expected}, got '${value}'`, { details: { flag, value: String(value) } });
}

/** A numeric flag, or undefined when absent; BAD_ARGUMENT naming the flag when it is not a (finite) number. */
export function num(name: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw badFlag(name, integer ? 'an integer' : 'a number', v);
  return n;
}

/** An integer flag within [min, max]; undefined when absent. */
export function intInRange(name: string, v: string | undefined, min: number, max: number): number | undefined {
  const n = num(name, v, true);
  if (n !== undefined && (n < min || n > max)) throw badFlag(name, `an integer in ${min}..${max}`, v ?? '');
  return n;
}

export function strictFromEnv(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return flag === true || env.BITNET_STRICT === '1' || env.BITNET_STRICT === 'true';
}

/** What the model flags resolve to: a checked path (undefined = the demo model) and load options. */
export interface ModelArgs {
  readonly path: string | undefined;
  readonly load: LoadOptions;
}

/**
 * Checks every model flag and reads what they name (the model must be a readable file, a chat template file is
 * read now), so that mistakes are reported before a model loads. Throws BAD_ARGUMENT or IO_ERROR naming the flag.
 */
export async function modelArgsFromFlags(f: ModelFlags, log: (line: string) => void = (line) => void process.stderr.write(`${line}\n`)): Promise<ModelArgs> {
  const backend = (f.backend ?? 'auto') as BackendChoice;
  if (!BACKENDS.includes(backend)) throw badFlag('backend', 'auto, wasm, reference or webgpu', f.backend ?? '');
  const cores = availableParallelism();
  const threads = num('threads', f.threads, true);
  if (threads !== undefined && (threads < 1 || threads > cores)) {
    throw new BitNetError('BAD_ARGUMENT', `--threads: expected 1..${cores} (this machine runs ${cores} threads at once; more only slow every token), got '${f.threads}'`, {
      details: { flag: 'threads', value: String(f.threads), max: cores },
    });
  }
  const ctx = intInRange('ctx', f.ctx, 1, MAX_CTX_FLAG);
  const preTokenizer = preTokenizerFromFlag(f.preTokenizer);
  const i2sFlavor = i2sFlavorFromFlag(f.i2sFlavor);
  const tlConfig = await tlConfigFromFlag(f.tlConfig);
  let chatTemplate: string | undefined;
  if (f.chatTemplate !== undefined) {
    chatTemplate = f.chatTemplate.includes('{') ? f.chatTemplate : await readFlagFile('chat-template', f.chatTemplate);
  }
  let modelPath = f.model;
  if (f.model !== undefined) {
    // Every other flag is checked above, so a pull (which takes minutes) never ends in a flag error.
    modelPath = (await resolveModelRef(f.model, f, log)) ?? f.model;
    await checkReadableFile('model', modelPath);
  }
  const load: LoadOptions = {
    backend,
    strict: strictFromEnv(f.strict),
    ...(threads === undefined ? {} : { threads }),
    ...(ctx === undefined ? {} : { contextLength: ctx }),
    ...(chatTemplate === undefined ? {} : { chatTemplate }),
    ...(preTokenizer === undefined ? {} : { preTokenizer }),
    ...(i2sFlavor === undefined ? {} : { i2sFlavor }),
    ...(tlConfig === undefined ? {} : { tlConfig }),
  };
  return { path: modelPath, load };
}

async function checkReadableFile(flag: string, path: string): Promise<void> {
  let isFile: boolean;
  try {
    isFile = (await stat(path)).isFile();
  } catch (e) {
    throw ioError(flag, path, e);
  }
  if (!isFile) throw new BitNetError('IO_ERROR', `--${flag}: ${path} is not a file`, { details: { flag, path } });
}

async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw ioError(flag, path, e);
  }
}

function ioError(flag: string, path: string, e: unknown): BitNetError {
  const code = (e as { code?: unknown }).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : e instanceof Error ? e.message : String(e);
  return new BitNetError('IO_ERROR', `--${flag}: cannot read ${path}: ${why}`, { cause: e, details: { flag, path } });
}

/** Sampling flags as a checked SamplingConfig (temperature 0 = greedy; a negative one is an error). */
export function samplingFromFlags(f: SamplingFlags): { sampling: SamplingConfig; seed?: number } {
  const temperature = num('temp', f.temp) ?? 0.8;
  if (temperature < 0) throw badFlag('temp', 'a number >= 0 (0 = greedy)', f.temp ?? '');
  const penalties = {
    repetition: num('repeat-penalty', f.repeatPenalty) ?? 1,
    frequency: num('frequency-penalty', f.frequencyPenalty) ?? 0,
    presence: num('presence-penalty', f.presencePenalty) ?? 0,
    lastN: num('repeat-last-n', f.repeatLastN, true) ?? 64,
  };
  const seed = intInRange('seed', f.seed, 0, 0xffffffff);
  // top-k/p and min-p are checked even when --temp 0 makes them unused: a typo should not pass silently.
  const topK = num('top-k', f.topK, true) ?? 40;
  const topP = num('top-p', f.topP) ?? 0.95;
  const minP = num('min-p', f.minP) ?? 0.05;
  const sampling: SamplingConfig = temperature === 0 ? { kind: 'greedy', penalties } : { kind: 'sample', temperature, topK, topP, minP, penalties };
  const flagOf: Record<string, string> = {
    'sampling.topK': 'top-k',
    'sampling.topP': 'top-p',
    'sampling.minP': 'min-p',
    'sampling.penalties.repetition': 'repeat-penalty',
    'sampling.penalties.frequency': 'frequency-penalty',
    'sampling.penalties.presence': 'presence-penalty',
    'sampling.penalties.lastN': 'repeat-last-n',
  };
  try {
    validateSamplingConfig({ kind: 'sample', temperature: temperature === 0 ? 1 : temperature, topK, topP, minP, penalties });
  } catch (e) {
    const field = e instanceof BitNetError ? e.details.field : undefined;
    const flag = typeof field === 'string' ? flagOf[field] : undefined;
    if (flag === undefined || !(e instanceof BitNetError)) throw e;
    throw new BitNetError('BAD_ARGUMENT', `--${flag}: ${e.message.replace(/^[\w.]+ must be /, 'expected ')}`, { cause: e, details: { flag, value: String(e.details.actual) } });
  }
  return seed === undefined ? { sampling } : { sampling, seed };
}

/** -n / --n-predict: new tokens; -1 = until the context is full (llama.cpp's convention). */
export function nPredictFromFlag(v: string | undefined, fallback: number): number {
  return intInRange('n-predict', v, -1, MAX_PREDICT_FLAG) ?? fallback;
}
