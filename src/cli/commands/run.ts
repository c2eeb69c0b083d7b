// `bitnet run`: stream a completion of one prompt (or raw token ids); optionally dump every position's logits.

import { stat, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { BitNetError, isBitNetError } from '../../errors.js';
import { loadModelFromFlags } from '../load-model.js';
import { EXIT } from '../exit-codes.js';
import { interruptOnSigint } from '../interrupt.js';
import { addModelFlags, addSamplingFlags, modelArgsFromFlags, nPredictFromFlag, samplingFromFlags, type ModelFlags, type SamplingFlags } from '../options.js';

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

/** An output file's directory must exist before the model loads (the write happens after minutes of work). */
async function checkOutputPath(flag: string, path: string): Promise<void> {
  const dir = dirname(path);
  const ok = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!ok) throw new BitNetError('IO_ERROR', `--${flag}: the directory ${dir} does not exist`, { details: { flag, path } });
}

export function register(program: Command): void {
  const cmd = program.command('run').description('generate text from a prompt');
  addModelFlags(cmd);
  addSamplingFlags(cmd);
  cmd
    .option('-p, --prompt <text>', 'prompt text', 'Once upon a time')
    .option('-n, --n-predict <n>', 'new tokens to generate (-1 = until the context is full)', '64')
    .option('--tokens <ids>', 'feed raw token ids (comma-separated) instead of a prompt')
    .option('--dump-logits <file>', 'write the logits of every prompt position (positions x vocab, float32 LE) and exit')
    .option('--stop <text...>', 'stop strings')
    .option('--no-bos', 'do not add the BOS token to the prompt')
    .option('--no-stats', 'do not print timings on stderr')
    .option('--receipt <file>', 'write a receipt (JSON, docs/receipts.md) of the run')
    .action(async (f: RunFlags) => {
      const log = (line: string): void => void process.stderr.write(`${line}\n`);
      // ---- every flag is checked before anything loads ----
      const { sampling, seed } = samplingFromFlags(f);
      const nPredict = nPredictFromFlag(f.nPredict, 64);
      const modelArgs = await modelArgsFromFlags(f);
      const ids = f.tokens === undefined ? undefined : parseTokenList(f.tokens);
      if (f.stop?.some((s) => s === '') === true) throw new BitNetError('BAD_ARGUMENT', '--stop: a stop string cannot be empty');
      if (f.dumpLogits !== undefined) await checkOutputPath('dump-logits', f.dumpLogits);
      if (f.receipt !== undefined) await checkOutputPath('receipt', f.receipt);
      const addBos = f.bos === false ? { addBos: false } : {};
      const dumping = f.dumpLogits !== undefined;

      const interrupt = interruptOnSigint();
      try {
        const model = await loadModelFromFlags(modelArgs, log, (pre) => {
          // The prompt must fit before the weights load: dump-logits evaluates every position, a run also needs one new token.
          const n = ids?.length ?? pre.tokenize(f.prompt ?? '', addBos).length;
          const room = dumping ? pre.contextLength : pre.contextLength - 1;
          if (n > room) {
            throw new BitNetError('CONTEXT_OVERFLOW', `the prompt has ${n} tokens; the context holds ${pre.contextLength}${dumping ? '' : ' (prompt plus at least one new token must fit)'}; raise -c or shorten the prompt`, {
              details: { promptTokens: n, contextLength: pre.contextLength },
            });
          }
          const outOfRange = ids?.find((id) => id >= pre.vocabSize);
          if (outOfRange !== undefined) throw new BitNetError('BAD_ARGUMENT', `--tokens: id ${outOfRange} is out of range [0, ${pre.vocabSize})`, { details: { flag: 'tokens', value: outOfRange } });
        }, interrupt.signal);
        try {
          const prompt = ids ?? model.tokenize(f.prompt ?? '', addBos);
          if (f.dumpLogits !== undefined) {
            const logits = await model.evaluateLogits(prompt, interrupt.signal);
            if (endianness() !== 'LE') {
              const dv = new DataView(logits.buffer, logits.byteOffset, logits.byteLength);
              for (let i = 0; i < logits.length; i++) dv.setFloat32(i * 4, logits[i], true);
            }
            await writeFile(f.dumpLogits, new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
            log(`wrote ${prompt.length} x ${model.info.vocabSize} logits to ${f.dumpLogits}`);
            return;
          }
          if (ids === undefined) process.stdout.write(f.prompt ?? '');
          for await (const piece of model.generate(prompt, {
            maxTokens: nPredict === -1 ? model.info.contextLength : nPredict,
            // -1 stops where the context is full (no context shift), as documented
            ...(nPredict === -1 ? { contextShift: false } : {}),
            sampling,
            ...(seed === undefined ? {} : { seed }),
            ...(f.stop === undefined ? {} : { stop: f.stop }),
            signal: interrupt.signal,
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
          if (f.receipt !== undefined) {
            const receipt = model.lastReceipt('generate');
            if (receipt === undefined) throw new BitNetError('INTERNAL', 'no receipt: the generation did not finish');
            await writeFile(f.receipt, `${JSON.stringify(receipt, null, 2)}\n`);
            log(`receipt written to ${f.receipt}`);
          }
        } finally {
          await model.dispose();
        }
      } catch (e) {
        if (!(interrupt.signal.aborted && isBitNetError(e, 'ABORTED'))) throw e;
        process.stdout.write('\n');
        log('(interrupted)');
        process.exitCode = EXIT.interrupted;
      } finally {
        interrupt.dispose();
      }
    });
}
