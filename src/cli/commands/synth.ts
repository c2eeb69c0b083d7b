// `bitnet synth`: writes a deterministic synthetic ternary model (random weights, LLaMA-3 vocabulary) as GGUF.

import type { Command } from 'commander';
import { BitNetError } from '../../errors.js';
import { SYNTH_ARCHS } from '../../inspect/arch-spec.js';
import type { SynthArch } from '../../inspect/arch-spec.js';
import { formatBytes } from '../../inspect/format.js';
import { SHAPE_NAMES, getShape } from '../../synth/shapes.js';
import { SYNTH_EMBED_TYPES, SYNTH_WEIGHT_TYPES, synthesizeModel } from '../../synth/synthesize.js';
import type { SynthEmbedType, SynthProgress, SynthWeightType } from '../../synth/synthesize.js';

interface SynthFlags {
  shape: string;
  arch: string;
  weights: string;
  embed: string;
  untied?: boolean;
  seed: string;
  output: string;
  name?: string;
  quiet?: boolean;
}

/** Models with more tensor bytes than this get a progress line on stderr. */
const PROGRESS_MIN_BYTES = 64 * 1024 * 1024;

function pick<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new BitNetError('BAD_ARGUMENT', `${flag}: expected one of ${allowed.join(', ')}, got '${value}'`, {
      details: { field: flag, expected: allowed.join('|'), actual: value },
    });
  }
  return value as T;
}

function parseSeed(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s.trim()) || !Number.isInteger(n) || n > 0xffffffff) {
    throw new BitNetError('BAD_ARGUMENT', `--seed: expected an integer in [0, 4294967295], got '${s}'`, { details: { field: 'seed', actual: s } });
  }
  return n;
}

/** Reports progress: one rewritten line on a terminal, a line per 10% otherwise. */
function progressReporter(path: string): (p: SynthProgress) => void {
  const tty = process.stderr.isTTY === true;
  let lastDecile = -1;
  return (p) => {
    if (p.bytesTotal < PROGRESS_MIN_BYTES) return;
    const pct = Math.floor((100 * p.bytesDone) / p.bytesTotal);
    const line = `synth ${path}: ${pct}% (${p.tensorsDone}/${p.nTensors} tensors, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)})`;
    if (tty) {
      process.stderr.write(`\r${line}\x1b[K${p.tensorsDone === p.nTensors ? '\n' : ''}`);
    } else if (Math.floor(pct / 10) > lastDecile || p.tensorsDone === p.nTensors) {
      lastDecile = Math.floor(pct / 10);
      process.stderr.write(`${line}\n`);
    }
  };
}

export function register(program: Command): void {
  program
    .command('synth')
    .description('write a synthetic ternary model with random weights (deterministic from the seed)')
    .option('--shape <name>', `model shape: ${SHAPE_NAMES.join(' | ')}`, 'tiny')
    .option('--arch <name>', `GGUF architecture: ${SYNTH_ARCHS.join(' | ')}`, 'bitnet-b1.58')
    .option('--weights <type>', `projection weight type: ${SYNTH_WEIGHT_TYPES.join(' | ')}`, 'i2_s')
    .option('--embed <type>', `token embedding type: ${SYNTH_EMBED_TYPES.join(' | ')}`, 'q8_0')
    .option('--untied', 'write output.weight of its own instead of tying the output to token_embd (as Llama3-8B-1.58 and Falcon3 have)')
    .option('--seed <n>', 'random seed (same seed and options -> identical file)', '1')
    .requiredOption('-o, --output <file>', 'output GGUF file (overwritten)')
    .option('--name <text>', 'general.name to store')
    .option('-q, --quiet', 'no progress or summary output')
    .action(async (f: SynthFlags) => {
      const shape = getShape(f.shape);
      const arch = pick<SynthArch>('--arch', f.arch, SYNTH_ARCHS);
      const weightType = pick<SynthWeightType>('--weights', f.weights, SYNTH_WEIGHT_TYPES);
      const embedType = pick<SynthEmbedType>('--embed', f.embed, SYNTH_EMBED_TYPES);
      const seed = parseSeed(f.seed);
      const started = performance.now();
      const result = await synthesizeModel({
        shape,
        arch,
        weightType,
        embedType,
        ...(f.untied === true ? { untiedOutput: true } : {}),
        seed,
        path: f.output,
        ...(f.name === undefined ? {} : { name: f.name }),
        ...(f.quiet === true ? {} : { onProgress: progressReporter(f.output) }),
      });
      const seconds = (performance.now() - started) / 1000;
      if (f.quiet !== true) {
        process.stderr.write(
          `wrote ${result.path}: ${shape.name} ${arch} ${weightType}/${embedType}${f.untied === true ? ' untied' : ''} seed ${seed}, ${result.nTensors} tensors, ${result.nParams} params, ${formatBytes(result.fileBytes)} (${result.fileBytes} bytes) in ${seconds.toFixed(1)} s\n`,
        );
      }
    });
}
