// `bitnet verify-receipt FILE`: check a receipt against every gate; exit 1 naming the first that fails.

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { verifyReceipt } from '../../engine/receipt.js';

export function register(program: Command): void {
  program
    .command('verify-receipt <file>')
    .description('verify a receipt written by run/bench --receipt')
    .option('--json', 'print the gate results as JSON')
    .action(async (file: string, f: { json?: boolean }) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(file, 'utf8'));
      } catch (e) {
        process.stderr.write(`bitnet: receipt ${file} is not readable JSON: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
        return;
      }
      const gates = verifyReceipt(parsed);
      const failed = gates.filter((g) => !g.ok);
      if (f.json === true) process.stdout.write(`${JSON.stringify({ ok: failed.length === 0, gates }, null, 2)}\n`);
      else for (const g of gates) process.stdout.write(`${g.ok ? 'pass' : 'FAIL'}  ${g.gate.padEnd(22)} ${g.detail}\n`);
      if (failed.length > 0) {
        process.stderr.write(`bitnet: receipt failed gate '${failed[0].gate}'\n`);
        process.exitCode = 1;
      }
    });
}
