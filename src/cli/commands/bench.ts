// `bitnet bench -m FILE`: the end-to-end benchmark of `npm run bench` on a given file (llama.cpp side by side only with --peer).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { BitNetError } from '../../errors.js';
import { formatComparison, formatReport } from '../../bench/format.js';
import { exposeGc } from '../../bench/gc.js';
import { benchCacheDir } from '../../bench/models.js';
import { acquireBenchLock, parseBackendList, parseIntList, parsePositiveInt, parseTolerance, readBaseline } from '../../bench/options.js';
import { compareToBaseline, DEFAULT_REGRESSION_TOLERANCE } from '../../bench/report.js';
import { defaultThreads, runBench } from '../../bench/run-bench.js';

interface BenchFlags {
  model: string;
  threads?: string;
  backend: string;
  runs: string;
  pp: string;
  tg: string;
  json?: string;
  receipt?: string;
  peer?: boolean;
  peerModel?: string;
  compare?: string;
  tolerance?: string;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('measure load time, prefill and decode tok/s, time to first token and peak memory of a model file')
    .requiredOption('-m, --model <file>', 'GGUF model file')
    .option('-t, --threads <list>', `thread counts, comma-separated (default: ${defaultThreads().join(',')})`)
    .option('--backend <list>', 'wasm | reference, or both comma-separated', 'wasm')
    .option('--runs <n>', 'timed runs per configuration (medians are reported)', '3')
    .option('--pp <n>', 'prompt tokens per run', '128')
    .option('--tg <n>', 'generated tokens per run', '64')
    .option('--json <file>', 'write the report as JSON')
    .option('--receipt <file>', "write the receipt of the primary configuration's last run")
    .option('--peer', 'also run llama.cpp (node-llama-cpp) on the same file, side by side')
    .option('--peer-model <file>', 'run llama.cpp on this file instead (e.g. the TQ2_0 twin of an I2_S model)')
    .option('--compare <file>', 'compare with a saved --json report; exit 1 on a regression')
    .option('--tolerance <x>', `regression tolerance, fraction or percent (default ${DEFAULT_REGRESSION_TOLERANCE})`)
    .action(async (f: BenchFlags) => {
      const log = (line: string): void => void process.stderr.write(`${line}\n`);
      const threads = f.threads === undefined ? defaultThreads() : parseIntList('--threads', f.threads);
      const backends = parseBackendList('--backend', f.backend);
      const runs = parsePositiveInt('--runs', f.runs);
      const pp = parsePositiveInt('--pp', f.pp);
      const tg = parsePositiveInt('--tg', f.tg, 2);
      const tolerance = f.tolerance === undefined ? DEFAULT_REGRESSION_TOLERANCE : parseTolerance('--tolerance', f.tolerance);
      const baseline = f.compare === undefined ? undefined : await readBaseline(f.compare);
      const peerModel = f.peerModel ?? (f.peer === true ? f.model : null);

      const cache = benchCacheDir();
      await mkdir(cache, { recursive: true });
      const release = await acquireBenchLock(join(cache, 'bench.lock'), log);
      try {
        const gc = exposeGc();
        const { report, receipt } = await runBench({ model: f.model, peerModel, shape: null, backends, threads, runs, pp, tg, log, ...(gc === undefined ? {} : { gc }) });
        process.stdout.write(`${formatReport(report).join('\n')}\n`);
        if (f.json !== undefined) {
          await writeFile(f.json, `${JSON.stringify(report, null, 2)}\n`);
          log(`report written to ${f.json}`);
        }
        if (f.receipt !== undefined) {
          if (receipt === undefined) throw new BitNetError('BACKEND_UNAVAILABLE', 'no receipt: no configuration of our engine finished (see the table)');
          await writeFile(f.receipt, `${JSON.stringify(receipt, null, 2)}\n`);
          log(`receipt written to ${f.receipt}`);
        }
        if (f.compare !== undefined) {
          const cmp = compareToBaseline(report, baseline, tolerance);
          process.stdout.write(`${formatComparison(cmp, f.compare).join('\n')}\n`);
          if (cmp.regressed) process.exitCode = 1;
        }
      } finally {
        await release();
      }
    });
}
