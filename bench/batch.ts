// `npm run bench:batch [-- --shape 2b-4t --threads 2 --streams 1,2,4,8 --tg 32 --runs 2 --model FILE --fused-dot M]`: aggregate
// decode speed of N sequences generating at once (their tokens share forward steps, so each ternary weight is read
// once per step for all of them) beside one sequence alone, on the bench's synthetic I2_S model.
//
// Each run gives every stream its own short prompt (8 tokens, prefilled in the same first steps) and times greedy
// decoding of --tg tokens per stream from the first generated token of the slowest stream to the last token of all:
// aggregate tok/s = streams x (tg - 1) / that time. Medians of --runs; the ratio is against 1 stream in the same run.
// Beside it, tokens per CPU-second of the process over the same interval (a shared machine's load skews it less).

import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { BitNet } from '../src/engine/bitnet.js';
import type { Sequence } from '../src/engine/sequence.js';
import { benchCacheDir, ensureBenchModels } from '../src/bench/models.js';
import { applyFusedDot, parseFusedDot } from '../src/bench/options.js';
import { SHAPE_NAMES, type ShapeName } from '../src/synth/shapes.js';

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
}

/** Ordinary token ids (no specials), different per stream and run. */
function promptIds(stream: number, run: number): number[] {
  return [128000, ...Array.from({ length: 7 }, (_, i) => 1000 + ((i * 7919 + stream * 104729 + run * 15485863) % 100_000))];
}

/** Aggregate decode tok/s, and tokens per CPU-second of this process (all its threads) over the same interval. */
interface StreamsResult {
  readonly tokS: number;
  readonly tokPerCpuS: number;
}

/** CPU seconds (user + system, every thread of the process) since process start. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function timeStreams(model: BitNet, n: number, tg: number, run: number): Promise<StreamsResult> {
  const seqs: Sequence[] = Array.from({ length: n }, () => model.createSequence());
  try {
    const firstAt: number[] = [];
    const firstCpu: number[] = [];
    let lastAt = 0;
    let lastCpu = 0;
    await Promise.all(
      seqs.map(async (seq, i) => {
        let count = 0;
        for await (const piece of seq.generate(promptIds(i, run), { maxTokens: tg, ignoreEos: true, sampling: { kind: 'greedy' }, contextShift: false })) {
          if (piece.tokenIds.length === 0) continue;
          const t = performance.now();
          const c = cpuSeconds();
          if (count === 0) {
            firstAt[i] = t;
            firstCpu[i] = c;
          }
          count += piece.tokenIds.length;
          if (t >= lastAt) {
            lastAt = t;
            lastCpu = c;
          }
        }
      }),
    );
    const start = Math.max(...firstAt);
    const startCpu = firstCpu[firstAt.indexOf(start)];
    const tokens = n * (tg - 1);
    return { tokS: tokens / ((lastAt - start) / 1000), tokPerCpuS: tokens / (lastCpu - startCpu) };
  } finally {
    for (const s of seqs) s.free();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      shape: { type: 'string', default: '2b-4t' },
      model: { type: 'string' },
      threads: { type: 'string', default: '2' },
      streams: { type: 'string', default: '1,2,4,8' },
      tg: { type: 'string', default: '32' },
      runs: { type: 'string', default: '2' },
      'fused-dot': { type: 'string', default: 'auto' },
    },
  });
  process.stderr.write(`${await applyFusedDot(parseFusedDot('--fused-dot', values['fused-dot']))}\n`);
  const shape = values.shape as ShapeName;
  if (!SHAPE_NAMES.includes(shape)) throw new Error(`--shape: one of ${SHAPE_NAMES.join(', ')}`);
  const streams = values.streams.split(',').map(Number);
  const tg = Number(values.tg);
  const runs = Number(values.runs);
  const threads = Number(values.threads);
  const path = values.model ?? (await ensureBenchModels(shape, benchCacheDir(), (l) => process.stderr.write(`${l}\n`), { withPeer: false })).model;
  const maxStreams = Math.max(...streams);
  const plan = await BitNet.plan(path, { contextLength: 64 });
  const model = await BitNet.load(path, { backend: 'wasm', threads, contextLength: 64, kvMemory: maxStreams * plan.memory.kvBytes, maxBatchSequences: maxStreams });
  try {
    process.stderr.write(`loaded ${path}: ${model.info.kernelSet} x${model.info.threads}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
    await timeStreams(model, 1, 4, 99); // warm-up
    const results = new Map<number, number[]>();
    const perCpu = new Map<number, number[]>();
    for (let r = 0; r < runs; r++) {
      for (const n of streams) {
        const { tokS, tokPerCpuS } = await timeStreams(model, n, tg, r);
        results.set(n, [...(results.get(n) ?? []), tokS]);
        perCpu.set(n, [...(perCpu.get(n) ?? []), tokPerCpuS]);
        process.stderr.write(`run ${r + 1}: ${n} stream(s) ${tokS.toFixed(2)} tok/s, ${tokPerCpuS.toFixed(2)} tok per CPU-s\n`);
      }
    }
    const one = median(results.get(1) ?? []);
    const oneCpu = median(perCpu.get(1) ?? []);
    const lines = [
      `${path.split('/').pop()}, wasm ${model.info.kernelSet} x${model.info.threads}, tg${tg}, median of ${runs}; Node ${process.versions.node}`,
      '',
      // tokens per CPU-second (every thread of the process, spin-waits included): on a shared machine this moves less
      // with other jobs' load than wall-clock tok/s does
      '| streams | aggregate decode tok/s | per stream | vs 1 stream | tok per CPU-s | vs 1 stream |',
      '| --- | --- | --- | --- | --- | --- |',
      ...streams.map((n) => {
        const m = median(results.get(n) ?? []);
        const c = median(perCpu.get(n) ?? []);
        const ratio = (a: number, b: number): string => (Number.isFinite(b) ? `${(a / b).toFixed(2)}x` : 'n/a');
        return `| ${n} | ${m.toFixed(2)} | ${(m / n).toFixed(2)} | ${ratio(m, one)} | ${c.toFixed(2)} | ${ratio(c, oneCpu)} |`;
      }),
      '',
      `load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await model.dispose();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
