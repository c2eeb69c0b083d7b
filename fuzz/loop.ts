// The fuzz loop: run the seeds, then mutate corpus entries for a time or run budget; with coverage feedback, keep every
// input that reached new code as a new corpus entry (coverage-guided), otherwise mutate the seeds only.

import type { BlockCoverage } from './coverage.js';
import { Prng, mutate, utf8Tokens } from './mutate.js';
import { FuzzFinding, execute, type FuzzTarget } from './target.js';
import type { Watchdog } from './watchdog.js';

/** Most executions between two coverage snapshots. */
const MAX_BATCH = 256;

export interface LoopOptions {
  /** Stop after this long (the seeds always run). */
  readonly timeMs: number;
  /** Stop after this many executions (seeds included). */
  readonly maxRuns?: number;
  readonly seed: number;
  /** Coverage feedback; without it the loop mutates the initial corpus only. */
  readonly coverage?: BlockCoverage;
  /** Hang watchdog told about every execution. */
  readonly watchdog?: Watchdog;
  /** Each input that reached new coverage. */
  readonly onNewInput?: (input: Uint8Array) => void;
  /** Each finding; return true to keep fuzzing (default: stop at the first). */
  readonly onFinding?: (finding: FuzzFinding) => boolean;
  /** Called about once a second. */
  readonly onProgress?: (stats: LoopStats) => void;
}

export interface LoopStats {
  readonly target: string;
  execs: number;
  ok: number;
  refused: number;
  corpus: number;
  features: number;
  slowestMs: number;
  elapsedMs: number;
  findings: number;
  /** Refusals by BitNetError code. */
  readonly codes: Record<string, number>;
}

/**
 * Fuzzes `target` starting from `initial`. Throws the first FuzzFinding unless `onFinding` asks to go on; returns the
 * statistics. The caller runs target.setup() first.
 */
export async function fuzzLoop(target: FuzzTarget, initial: readonly Uint8Array[], opts: LoopOptions): Promise<LoopStats> {
  const rng = new Prng(opts.seed);
  const dictionary = utf8Tokens(target.dictionary ?? []);
  const corpus: Uint8Array[] = [];
  const seen = new Set<number>();
  const stats: LoopStats = { target: target.name, execs: 0, ok: 0, refused: 0, corpus: 0, features: 0, slowestMs: 0, elapsedMs: 0, findings: 0, codes: {} };
  const t0 = performance.now();
  let lastProgress = t0;

  /** Runs one input; true when it passed (a finding that onFinding lets pass counts as false). */
  const runOne = async (input: Uint8Array): Promise<boolean> => {
    opts.watchdog?.begin(input);
    try {
      const r = await execute(target, input);
      stats.execs++;
      stats.slowestMs = Math.max(stats.slowestMs, r.ms);
      if (r.outcome === 'ok') stats.ok++;
      else {
        stats.refused++;
        if (r.code !== undefined) stats.codes[r.code] = (stats.codes[r.code] ?? 0) + 1;
      }
      return true;
    } catch (e) {
      stats.execs++;
      if (!(e instanceof FuzzFinding)) throw e;
      stats.findings++;
      if (opts.onFinding === undefined || !opts.onFinding(e)) throw e;
      return false;
    } finally {
      opts.watchdog?.end();
    }
  };

  /** Features of everything run since the last snapshot that were never seen; `commit` adds them to the seen set. */
  const freshFeatures = async (coverage: BlockCoverage, commit: boolean): Promise<number[]> => {
    const fresh: number[] = [];
    for (const f of await coverage.collect()) {
      if (!seen.has(f)) {
        fresh.push(f);
        if (commit) seen.add(f);
      }
    }
    stats.features = seen.size;
    return fresh;
  };

  // Coverage is taken once per batch of executions; a batch that found something new is replayed one input at a
  // time to learn which inputs to keep. The batch grows while nothing new turns up and shrinks back when it does.
  let batch: Uint8Array[] = [];
  let batchLimit = 1;
  const flush = async (): Promise<void> => {
    const coverage = opts.coverage;
    if (coverage === undefined || batch.length === 0) return;
    const ran = batch;
    batch = [];
    const fresh = await freshFeatures(coverage, ran.length === 1);
    if (fresh.length === 0) {
      batchLimit = Math.min(MAX_BATCH, batchLimit * 2);
      return;
    }
    batchLimit = 1;
    if (ran.length === 1) {
      keep(ran[0]);
      return;
    }
    for (const input of ran) {
      await runOne(input);
      if ((await freshFeatures(coverage, true)).length > 0) keep(input);
    }
    // What no single replay reproduced (state left by earlier executions) is not new the next time either.
    for (const f of fresh) seen.add(f);
    stats.features = seen.size;
  };
  const keep = (input: Uint8Array): void => {
    corpus.push(input);
    opts.onNewInput?.(input);
  };

  for (const input of initial) {
    await runOne(input);
    corpus.push(input);
  }
  if (opts.coverage !== undefined) await freshFeatures(opts.coverage, true);
  if (corpus.length === 0) corpus.push(new Uint8Array(0));
  const maxRuns = opts.maxRuns ?? Number.POSITIVE_INFINITY;
  while (stats.execs < maxRuns && performance.now() - t0 < opts.timeMs) {
    // Mostly mutate a corpus entry (recent discoveries a little more often); sometimes try fresh random bytes.
    let input: Uint8Array;
    if (rng.below(32) === 0) {
      input = new Uint8Array(rng.below(Math.min(256, target.maxInputBytes) + 1)).map(() => rng.below(256));
    } else {
      const recent = corpus.length > 8 && rng.below(3) === 0;
      const parent = recent ? corpus[corpus.length - 1 - rng.below(8)] : rng.pick(corpus);
      input = mutate(parent, rng, { maxLength: target.maxInputBytes, dictionary, corpus });
    }
    if (await runOne(input)) batch.push(input);
    if (batch.length >= batchLimit) await flush();
    stats.corpus = corpus.length;
    const now = performance.now();
    if (opts.onProgress !== undefined && now - lastProgress > 1000) {
      lastProgress = now;
      stats.elapsedMs = now - t0;
      opts.onProgress(stats);
    }
  }
  await flush();
  stats.corpus = corpus.length;
  stats.elapsedMs = performance.now() - t0;
  return stats;
}
