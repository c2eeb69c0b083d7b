// `npm run fuzz`: coverage-guided fuzzing of every target in fuzz/targets/ for a while each, with a hang watchdog;
// findings are saved as files and summarised; the exit code is 1 when there was any.
//
// Usage: npm run fuzz -- [--time <s per target>=60] [--runs <n>] [--target <name>[,<name>]] [--seed <n>]
//                        [--out <dir>] [--save-corpus <dir>] [--no-coverage] [--write-seeds] [--list]
//        npm run fuzz -- --target <name> --replay <file>...   run saved inputs once each and print what happened
// Run it under vite-node (the npm script does), which loads the TypeScript sources directly.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { loadCorpus, writeSeeds } from '../fuzz/corpus.js';
import { BlockCoverage } from '../fuzz/coverage.js';
import type { LoopStats } from '../fuzz/loop.js';
import type { FuzzFinding, FuzzTarget } from '../fuzz/target.js';

/** Distinct findings after which a target's run stops. */
const MAX_FINDINGS_PER_TARGET = 20;

interface Args {
  timeS: number;
  runs: number | undefined;
  targets: string[];
  seed: number;
  out: string;
  saveCorpus: string | undefined;
  coverage: boolean;
  writeSeeds: boolean;
  list: boolean;
  replay: string[];
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { timeS: 60, runs: undefined, targets: [], seed: Date.now() % 2 ** 31, out: join(tmpdir(), 'bitnet-fuzz-findings'), saveCorpus: undefined, coverage: true, writeSeeds: false, list: false, replay: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--') continue;
    else if (a === '--time') args.timeS = Number(value());
    else if (a === '--runs') args.runs = Number(value());
    else if (a === '--target') args.targets.push(...value().split(','));
    else if (a === '--seed') args.seed = Number(value());
    else if (a === '--out') args.out = value();
    else if (a === '--save-corpus') args.saveCorpus = value();
    else if (a === '--no-coverage') args.coverage = false;
    else if (a === '--write-seeds') args.writeSeeds = true;
    else if (a === '--list') args.list = true;
    else if (a === '--replay') args.replay.push(value());
    else throw new Error(`unknown option ${a}`);
  }
  if (!(args.timeS > 0)) throw new Error('--time must be a positive number of seconds');
  return args;
}

function line(s: LoopStats): string {
  const codes = Object.entries(s.codes).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([c, n]) => `${c}:${n}`).join(' ');
  return `${s.target}: ${s.execs} execs in ${(s.elapsedMs / 1000).toFixed(1)} s (${Math.round(s.execs / Math.max(s.elapsedMs / 1000, 0.001))}/s), ok ${s.ok}, refused ${s.refused}, corpus ${s.corpus}, features ${s.features}, slowest ${s.slowestMs.toFixed(0)} ms, findings ${s.findings}${codes === '' ? '' : ` [${codes}]`}`;
}

async function fuzzOne(target: FuzzTarget, args: Args, coverage: BlockCoverage | undefined): Promise<{ stats: LoopStats; findings: FuzzFinding[] }> {
  const { fuzzLoop } = await import('../fuzz/loop.js');
  const { Watchdog } = await import('../fuzz/watchdog.js');
  mkdirSync(args.out, { recursive: true });
  const lastInput = join(args.out, `${target.name}-last-input.bin`);
  if (existsSync(lastInput)) process.stdout.write(`${target.name}: a previous run died (fatal error) while running ${lastInput}; it is replaced now\n`);
  const watchdog = new Watchdog(target.name, target.maxInputBytes, Math.max(10_000, 5 * target.maxExecMs), join(args.out, `${target.name}-hang.bin`), lastInput);
  process.stdout.write(`${target.name}: if the process dies outright (a fatal V8 error), the input that killed it is ${lastInput}\n`);
  const findings: FuzzFinding[] = [];
  const seenMessages = new Set<string>();
  if (coverage !== undefined) {
    const also = target.coverageAlso ?? [];
    coverage.include = (url) => (url.includes(`${sep}src${sep}`) && !url.includes('node_modules')) || also.some((part) => url.includes(part));
  }
  await target.setup?.();
  await coverage?.collect(); // drop what setup covered
  const initial = [...loadCorpus(target.name), ...(await target.seeds())];
  if (args.saveCorpus !== undefined) mkdirSync(join(args.saveCorpus, target.name), { recursive: true });
  try {
    const stats = await fuzzLoop(target, initial, {
      timeMs: args.timeS * 1000,
      ...(args.runs === undefined ? {} : { maxRuns: args.runs }),
      seed: args.seed,
      ...(coverage === undefined ? {} : { coverage }),
      watchdog,
      onNewInput: (input) => {
        if (args.saveCorpus === undefined) return;
        const name = createHash('sha1').update(input).digest('hex').slice(0, 16);
        writeFileSync(join(args.saveCorpus, target.name, `${name}.bin`), input);
      },
      onFinding: (f) => {
        // One report per kind of failure: the first line up to any quoted text, numbers masked.
        const key = `${f.kind}:${f.message.split('\n')[0].replace(/\(input .*$/, '').split('"')[0].replace(/\d+/g, 'N')}`;
        if (!seenMessages.has(key)) {
          seenMessages.add(key);
          findings.push(f);
          const path = join(args.out, `${target.name}-${f.kind}-${createHash('sha1').update(f.input).digest('hex').slice(0, 12)}.bin`);
          writeFileSync(path, f.input);
          process.stdout.write(`\nFINDING ${f.message}\n  input saved to ${path}\n`);
        }
        return findings.length < MAX_FINDINGS_PER_TARGET;
      },
      onProgress: (s) => process.stdout.write(`\r${line(s)}`),
    });
    process.stdout.write(`\r${line(stats)}\n`);
    return { stats, findings };
  } finally {
    await watchdog.stop();
    await target.teardown?.();
  }
}

/** Runs each saved input once through `target` and prints the outcome or the finding. */
async function replay(target: FuzzTarget, files: readonly string[]): Promise<void> {
  const { execute, FuzzFinding } = await import('../fuzz/target.js');
  await target.setup?.();
  try {
    for (const file of files) {
      const input = new Uint8Array(readFileSync(file));
      try {
        const r = await execute(target, input);
        process.stdout.write(`${file}: ${r.outcome}${r.code === undefined ? '' : ` (${r.code})`} in ${r.ms.toFixed(1)} ms\n`);
      } catch (e) {
        if (!(e instanceof FuzzFinding)) throw e;
        process.stdout.write(`${file}: FINDING ${e.message}\n`);
        process.exitCode = 1;
      }
    }
  } finally {
    await target.teardown?.();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Coverage first, then the code under test: functions compiled afterwards carry block counters.
  const coverage = args.coverage ? await BlockCoverage.start((url) => url.includes(`${sep}src${sep}`) && !url.includes('node_modules')) : undefined;
  const { TARGETS } = await import('../fuzz/targets/index.js');
  if (args.list) {
    for (const t of TARGETS) process.stdout.write(`${t.name}: ${t.description}\n`);
    return;
  }
  const chosen = args.targets.length === 0 ? TARGETS : args.targets.map((n) => {
    const t = TARGETS.find((x) => x.name === n);
    if (t === undefined) throw new Error(`no fuzz target '${n}' (have: ${TARGETS.map((x) => x.name).join(', ')})`);
    return t;
  });
  if (args.replay.length > 0) {
    if (chosen.length !== 1) throw new Error('--replay needs exactly one --target');
    await replay(chosen[0], args.replay);
    return;
  }
  if (args.writeSeeds) {
    for (const t of chosen) process.stdout.write(`${t.name}: ${writeSeeds(t.name, await t.seeds()).length} seeds written\n`);
    return;
  }
  process.stdout.write(`fuzzing ${chosen.length} target(s), ${args.timeS} s each, seed ${args.seed}, coverage ${args.coverage ? 'on' : 'off'}\n`);
  const all: FuzzFinding[] = [];
  for (const t of chosen) {
    const { findings } = await fuzzOne(t, args, coverage);
    all.push(...findings);
  }
  await coverage?.stop();
  if (all.length > 0) {
    process.stdout.write(`\n${all.length} finding(s); inputs in ${args.out}\n`);
    for (const f of all) process.stdout.write(`- ${f.message.split('\n')[0]}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write('\nno findings\n');
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 2;
});
