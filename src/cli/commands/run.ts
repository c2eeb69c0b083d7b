// `bitnet run`: stream a completion of one prompt (or raw token ids); optionally dump every position's logits.

import { writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import type { Command } from 'commander';
import { BitNetError } from '../../errors.js';
import { loadModelFromFlags } from '../load-model.js';
import { addModelFlags, addSamplingFlags, num, samplingFromFlags, type ModelFlags, type SamplingFlags } from '../options.js';

interface RunFlags extends ModelFlags, SamplingFlags {
  prompt?: string;
  nPredict?: string;
  tokens?: string;
  dumpLogits?: string;
  stop?: string[];
  bos?: boolean;
  stats?: boolean;
  receipt?: string;
}

export function parseTokenList(s: string): number[] {
  const ids = s.split(',').map((x) => x.trim()).filter((x) => x !== '').map(Number);
  if (ids.length === 0 || ids.some((x) => !Number.isInteger(x) || x < 0)) {
    throw new BitNetError('BAD_ARGUMENT', `--tokens: expected comma-separated non-negative integers, got '${s}'`);
  }
  return ids;
}

export function register(program: Command): void {
  const cmd = program.command('run').description('generate text from a prompt');
  addModelFlags(cmd);
  addSamplingFlags(cmd);
  cmd
    .option('-p, --prompt <text>', 'prompt text', 'Once upon a time')
    .option('-n, --n-predict <n>', 'new tokens to generate', '64')
    .option('--tokens <ids>', 'feed raw token ids (comma-separated) instead of a prompt')
    .option('--dump-logits <file>', 'write the logits of every prompt position (positions x vocab, float32 LE) and exit')
    .option('--stop <text...>', 'stop strings')
    .option('--no-bos', 'do not add the BOS token to the prompt')
    .option('--no-stats', 'do not print timings on stderr')
    .option('--receipt <file>', 'write a receipt (JSON, docs/receipts.md) of the run')
    .action(async (f: RunFlags) => {
      const log = (line: string): void => void process.stderr.write(`${line}\n`);
      const model = await loadModelFromFlags(f, log);
      try {
        const prompt = f.tokens !== undefined ? parseTokenList(f.tokens) : model.tokenize(f.prompt ?? '', f.bos === false ? { addBos: false } : {});
        if (f.dumpLogits !== undefined) {
          const logits = await model.evaluateLogits(prompt);
          if (endianness() !== 'LE') {
            const dv = new DataView(logits.buffer, logits.byteOffset, logits.byteLength);
            for (let i = 0; i < logits.length; i++) dv.setFloat32(i * 4, logits[i], true);
          }
          await writeFile(f.dumpLogits, new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
          log(`wrote ${prompt.length} x ${model.info.vocabSize} logits to ${f.dumpLogits}`);
          return;
        }
        const { sampling, seed } = samplingFromFlags(f);
        const ac = new AbortController();
        const onSigint = (): void => ac.abort();
        process.once('SIGINT', onSigint);
        if (f.tokens === undefined) process.stdout.write(f.prompt ?? '');
        try {
          for await (const piece of model.generate(prompt, {
            maxTokens: num('n-predict', f.nPredict, true) ?? 64,
            sampling,
            ...(seed === undefined ? {} : { seed }),
            ...(f.stop === undefined ? {} : { stop: f.stop }),
            signal: ac.signal,
          })) {
            process.stdout.write(piece.text);
            if (piece.finish !== undefined) {
              process.stdout.write('\n');
              const t = piece.finish.timings;
              const u = piece.finish.usage;
              if (f.stats !== false) {
                log(`[${piece.finish.reason}] prompt ${u.promptTokens} tok, ${t.prefillTokPerS.toFixed(1)} tok/s prefill; ${u.completionTokens} generated, ${t.decodeTokPerS.toFixed(1)} tok/s decode; first token ${t.timeToFirstTokenMs.toFixed(0)} ms`);
              }
            }
          }
        } finally {
          process.off('SIGINT', onSigint);
        }
        if (f.receipt !== undefined) {
          const receipt = model.lastReceipt('generate');
          if (receipt === undefined) throw new BitNetError('INTERNAL', 'no receipt: the generation did not finish');
          await writeFile(f.receipt, `${JSON.stringify(receipt, null, 2)}\n`);
          log(`receipt written to ${f.receipt}`);
        }
      } finally {
        await model.dispose();
      }
    });
}
