// `bitnet verify-receipt FILE [-m MODEL [--replay]]`: check a receipt against every gate; with the model, also that
// the file matches and (replay) that its tokens come out again; exit 1 naming the first gate that fails.

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { verifyReceipt, type GateResult } from '../../engine/receipt.js';
import { checkReceiptAgainstModel } from '../../engine/receipt-check.js';
import { BitNetError } from '../../errors.js';
import { interruptOnSigint } from '../interrupt.js';
import { modelArgsFromFlags } from '../options.js';

interface VerifyFlags {
  json?: boolean;
  model?: string;
  replay?: boolean;
}

export function register(program: Command): void {
  program
    .command('verify-receipt <file>')
    .description('verify a receipt written by run/bench --receipt (with -m, against the model file)')
    .option('-m, --model <file>', 'the model the receipt names: check its size, header hash and hyper-parameters')
    .option('--replay', 'with -m: run the recorded prompt, sampling and seed again and compare the tokens')
    .option('--json', 'print the gate results as JSON')
    .action(async (file: string, f: VerifyFlags) => {
      if (f.replay === true && f.model === undefined) throw new BitNetError('BAD_ARGUMENT', '--replay needs -m MODEL');
      if (f.model !== undefined) await modelArgsFromFlags({ model: f.model });
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(file, 'utf8'));
      } catch (e) {
        process.stderr.write(`bitnet: receipt ${file} is not readable JSON: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
        return;
      }
      const gates: GateResult[] = verifyReceipt(parsed);
      if (f.model !== undefined) {
        const interrupt = interruptOnSigint();
        try {
          gates.push(...(await checkReceiptAgainstModel(parsed, f.model, { replay: f.replay === true, signal: interrupt.signal })));
        } finally {
          interrupt.dispose();
        }
      }
      const failed = gates.filter((g) => !g.ok);
      if (f.json === true) process.stdout.write(`${JSON.stringify({ ok: failed.length === 0, gates }, null, 2)}\n`);
      else for (const g of gates) process.stdout.write(`${g.ok ? 'pass' : 'FAIL'}  ${g.gate.padEnd(24)} ${g.detail}\n`);
      if (failed.length > 0) {
        process.stderr.write(`bitnet: receipt failed gate '${failed[0].gate}'\n`);
        process.exitCode = 1;
      }
    });
}
