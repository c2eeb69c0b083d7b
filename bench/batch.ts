// `npm run bench:batch [-- --shape 2b-4t --threads 2 --streams 1,2,4,8 --tg 32 --runs 2 --model FILE]`: aggregate
// decode speed of N sequences generating at once (their tokens share forward steps, so each ternary weight is read
// once per step for all of them) beside one sequence alone, on the bench's synthetic I2_S model.
//
// Each run gives every stream its own short prompt (8 tokens, prefilled in the same first steps) and times greedy
// decoding of --tg tokens per stream from the first generated token of the slowest stream to the last token of all:
// aggregate tok/s = streams x (tg - 1) / that time. Medians of --runs; the ratio is against 1 stream in the same run.

import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { BitNet } from '../src/engine/bitnet.js';
import type { Sequence } from '../src/engine/sequence.js';
import { benchCacheDir, ensureBenchModels } from '../src/bench/models.js';
import { SHAPE_NAMES, type ShapeName } from '../src/synth/shapes.js';

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
}

/** Ordinary token ids (no specials), different per stream and run. */
function promptIds(stream: number, run: number): number[] {
  return [128000, ...Array.from({ length: 7 }, (_, i) => 1000 + ((i * 7919 + stream * 104729 + run * 15485863) % 100_000))];
}

async function timeStreams(model: BitNet, n: number, tg: number, run: number): Promise<number> {
  const seqs: Sequence[] = Array.from({ length: n }, () => model.createSequence());
  try {
    const firstAt: number[] = [];
    let lastAt = 0;
    await Promise.all(
      seqs.map(async (seq, i) => {
        let count = 0;
        for await (const piece of seq.generate(promptIds(i, run), { maxTokens: tg, ignoreEos: true, sampling: { kind: 'greedy' }, contextShift: false })) {
          if (piece.tokenIds.length === 0) continue;
          const t = performance.now();
          if (count === 0) firstAt[i] = t;
          count += piece.tokenIds.length;
          lastAt = Math.max(lastAt, t);
        }
      }),
    );
    const start = Math.max(...firstAt);
    return (n * (tg - 1)) / ((lastAt - start) / 1000);
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
    },
  });
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
    for (let r = 0; r < runs; r++) {
      for (const n of streams) {
        const tokS = await timeStreams(model, n, tg, r);
        results.set(n, [...(results.get(n) ?? []), tokS]);
        process.stderr.write(`run ${r + 1}: ${n} stream(s) ${tokS.toFixed(2)} tok/s\n`);
      }
    }
    const one = median(results.get(1) ?? []);
    const lines = [
      `${path.split('/').pop()}, wasm ${model.info.kernelSet} x${model.info.threads}, tg${tg}, median of ${runs}; Node ${process.versions.node}`,
      '',
      '| streams | aggregate decode tok/s | per stream | vs 1 stream |',
      '| --- | --- | --- | --- |',
      ...streams.map((n) => {
        const m = median(results.get(n) ?? []);
        return `| ${n} | ${m.toFixed(2)} | ${(m / n).toFixed(2)} | ${Number.isFinite(one) ? `${(m / one).toFixed(2)}x` : 'n/a'} |`;
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
