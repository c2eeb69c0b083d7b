// `bitnet convert`: a Hugging Face checkpoint directory (config.json, tokenizer.json, *.safetensors) -> GGUF.

import type { Command } from 'commander';
import { BitNetError } from '../../errors.js';
import { TYPE_TRAITS } from '../../formats/ggml-type.js';
import { formatBytes } from '../../inspect/format.js';
import { convertCheckpoint } from '../../convert/convert.js';
import type { ConvertProgress } from '../../convert/convert.js';
import { CONVERT_EMBED_TYPES, CONVERT_WEIGHT_TYPES } from '../../convert/plan.js';
import type { ConversionPlan, ConvertEmbedType, ConvertWeightType } from '../../convert/plan.js';
import { KNOWN_PRE_TOKENIZERS } from '../../convert/hf-tokenizer.js';

interface ConvertFlags {
  output?: string;
  weights: string;
  embed: string;
  preTokenizer?: string;
  name?: string;
  dryRun?: boolean;
  quiet?: boolean;
}

function pick<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new BitNetError('BAD_ARGUMENT', `${flag}: expected one of ${allowed.join(', ')}, got '${value}'`, { details: { field: flag, expected: allowed.join('|'), actual: value } });
  }
  return value as T;
}

const BAR_WIDTH = 30;

/** A progress bar on stderr: redrawn in place on a terminal, one line per 10% otherwise. */
function progressBar(started: number): (p: ConvertProgress) => void {
  const tty = process.stderr.isTTY === true;
  let lastDecile = -1;
  return (p) => {
    const frac = p.bytesTotal === 0 ? 1 : p.bytesDone / p.bytesTotal;
    const filled = Math.round(frac * BAR_WIDTH);
    const seconds = (performance.now() - started) / 1000;
    const eta = frac > 0 && frac < 1 ? ` eta ${((seconds / frac) * (1 - frac)).toFixed(0)} s` : '';
    const line = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${p.tensorsDone}/${p.nTensors} tensors, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}, ${seconds.toFixed(1)} s${eta} ${p.tensorName}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K${p.tensorsDone === p.nTensors ? '\n' : ''}`);
    else if (Math.floor(frac * 10) > lastDecile || p.tensorsDone === p.nTensors) {
      lastDecile = Math.floor(frac * 10);
      process.stderr.write(`${line}\n`);
    }
  };
}

/** The plan as text: one line per tensor (checkpoint name -> GGUF name, type, shape, bytes, how), then notes. */
export function formatPlan(plan: ConversionPlan): string {
  const c = plan.config;
  const lines = [
    `arch ${plan.arch} (${c.hfArchitecture || c.modelType}): hidden ${c.hiddenSize}, ffn ${c.ffnSize}, ${c.nLayers} layers, ${c.nHeads} heads / ${c.nKvHeads} kv, vocab ${c.vocabSize}, context ${c.contextLength}`,
    `files: ${plan.files.join(', ')}`,
    '',
  ];
  const rows = plan.tensors.map((t) => [t.sources.join(' + '), t.ggufName, TYPE_TRAITS[t.type].name, `[${t.dims.join(', ')}]`, String(t.byteSize), t.how]);
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const w = (i: number): number => widths[i] ?? 0;
  for (const [from = '', to = '', type = '', shape = '', bytes = '', how = ''] of rows) {
    lines.push(`${from.padEnd(w(0))} -> ${to.padEnd(w(1))}  ${type.padEnd(w(2))}  ${shape.padEnd(w(3))}  ${bytes.padStart(w(4))}  ${how}`);
  }
  const total = plan.tensors.reduce((s, t) => s + t.byteSize, 0);
  lines.push('', `${plan.tensors.length} tensors, ${formatBytes(total)} of tensor data`);
  for (const s of plan.skipped) lines.push(`skipped ${s.name}: ${s.reason}`);
  for (const n of plan.notes) lines.push(`note: ${n}`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('convert')
    .description('convert a Hugging Face checkpoint directory (safetensors) to GGUF')
    .argument('<dir>', 'checkpoint directory: config.json, tokenizer.json, *.safetensors')
    .option('-o, --output <file>', 'output GGUF file (overwritten)')
    .option('--weights <type>', `projection weight type: ${CONVERT_WEIGHT_TYPES.join(' | ')}`, 'i2_s')
    .option('--embed <type>', `token embedding type: ${CONVERT_EMBED_TYPES.join(' | ')}`, 'f16')
    .option('--pre-tokenizer <name>', `pre-tokenizer rules to record when tokenizer.json's are not recognised: ${KNOWN_PRE_TOKENIZERS.join(' | ')}`)
    .option('--name <text>', 'general.name to store')
    .option('--dry-run', 'print the conversion plan (tensor -> GGUF name, type, shape, bytes) and write nothing')
    .option('-q, --quiet', 'no progress or summary output')
    .action(async (dir: string, f: ConvertFlags) => {
      const weights = pick<ConvertWeightType>('--weights', f.weights, CONVERT_WEIGHT_TYPES);
      const embed = pick<ConvertEmbedType>('--embed', f.embed, CONVERT_EMBED_TYPES);
      const dryRun = f.dryRun === true;
      if (!dryRun && f.output === undefined) throw new BitNetError('BAD_ARGUMENT', "convert: -o/--output is required (or use --dry-run)", { details: { field: 'output' } });
      const started = performance.now();
      const result = await convertCheckpoint(dir, f.output ?? '', {
        weights,
        embed,
        dryRun,
        preTokenizer: f.preTokenizer,
        name: f.name,
        ...(f.quiet === true || dryRun ? {} : { onProgress: progressBar(started) }),
      });
      if (dryRun) {
        process.stdout.write(formatPlan(result.plan));
        return;
      }
      if (f.quiet !== true) {
        for (const n of result.plan.notes) process.stderr.write(`note: ${n}\n`);
        const seconds = (performance.now() - started) / 1000;
        process.stderr.write(`wrote ${result.path ?? ''}: ${result.plan.arch} ${weights}/${embed}, ${result.plan.tensors.length} tensors, ${formatBytes(result.fileBytes)} (${result.fileBytes} bytes) in ${seconds.toFixed(1)} s\n`);
      }
    });
}
