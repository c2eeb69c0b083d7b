// `npm run bench:profile -- --model FILE [--threads N] [--pp N] [--tg N] [--runs N] [--sampling greedy,top-k,top-p]
// [--streams N] [--clock wall|cpu] [--shapes]`: where one decode token's (or, with --streams, one batched step's) time goes, per
// backend op, on a loaded model; with one stream also where the prefill of the --pp token prompt goes.
//
// Every KernelBackend method of the loaded model's backend is wrapped with a timer (self time: a wrapped call inside
// another, e.g. the wasm backend's activation quantization inside matmul, counts for the inner one only); for the
// wasm backend also its activation quantization and lookup tables, and the thread pool's waits (the main thread
// waiting for workers at the end of a job, or for a late worker to leave before the next: the hand-off cost).
// "outside the backend" is the rest of the token: sampling, the scheduler, detokenizing, the generator's awaits.
// Sampling alone is timed apart too, on a row of the model's vocabulary size. Tokens are timed from the first
// generated piece to the last (the prefill is left out). The ops are synchronous on CPU backends, so wall time per
// call is the op's cost; on a loaded machine the numbers include time the threads were descheduled. `--clock cpu`
// times with process.cpuUsage instead (CPU time of every thread of the process during the call, the workers'
// spin-waits included): a loaded machine moves it less. `--streams N` decodes N sequences at once (their tokens share
// forward steps, as `npm run bench:batch`) and reports per step of N tokens, from the slowest stream's first token on.

import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { BitNet } from '../src/engine/bitnet.js';
import { TYPE_TRAITS } from '../src/formats/ggml-type.js';
import type { Weight } from '../src/kernels/backend.js';
import { createSampler } from '../src/sampling/sampler.js';
import type { SamplingConfig } from '../src/sampling/types.js';

const HELP = `usage: npm run bench:profile -- --model FILE [options]

  --model FILE      the GGUF file to profile
  --threads N       wasm threads (default 2)
  --pp N            prompt tokens (default 16)
  --tg N            generated tokens per run (default 32)
  --runs N          runs per sampling mode; the report sums them (default 2)
  --sampling LIST   greedy,top-k,top-p,temperature (default greedy,top-p)
  --streams N       sequences decoding at once; figures per step of N tokens (default 1)
  --clock KIND      wall (default) or cpu (process.cpuUsage: every thread's CPU time)
  --shapes          one row per matmul weight shape (rows x cols), with the GB/s of its weight bytes (decode)
                    and its multiply-adds per second (prefill)
  -h, --help`;

const SAMPLING: Record<string, SamplingConfig> = {
  greedy: { kind: 'greedy' },
  'top-k': { kind: 'sample', temperature: 0.8, topK: 40 },
  'top-p': { kind: 'sample', temperature: 0.8, topP: 0.95 },
  // the OpenAI-compatible server's default (no top_k / top_p in the request): every vocabulary entry a candidate
  temperature: { kind: 'sample', temperature: 1 },
};

/** Backend methods timed (KernelBackend's per-step ops). */
const BACKEND_OPS = [
  'embed', 'rmsnorm', 'matmul', 'matmulMany', 'rope', 'kvWrite', 'attention', 'addInPlace', 'reluSqrMul', 'siluMul',
  'gatherRows', 'argmax', 'topK', 'beginStep', 'endStep', 'read', 'setBlockTables', 'copyBlocks', 'shiftKeys',
] as const;

interface Slot {
  ms: number;
  calls: number;
  /** Weight bytes the calls read (matmuls). */
  bytes?: number;
  /** Multiply-adds of the calls (matmuls: weight elements x tokens). */
  macs?: number;
}

/** Self-time accounting over nested wrapped calls. */
class Profile {
  readonly slots = new Map<string, Slot>();
  private readonly childMs: number[] = [];

  /** now(): milliseconds of the chosen clock. */
  constructor(readonly now: () => number) {}

  reset(): void {
    this.slots.clear();
  }

  time<T>(label: string, f: () => T, bytes = 0, macs = 0): T {
    this.childMs.push(0);
    const t0 = this.now();
    try {
      return f();
    } finally {
      const ms = this.now() - t0;
      const children = this.childMs.pop() ?? 0;
      if (this.childMs.length > 0) this.childMs[this.childMs.length - 1] += ms;
      const s = this.slots.get(label) ?? { ms: 0, calls: 0 };
      s.ms += ms - children;
      s.calls++;
      s.bytes = (s.bytes ?? 0) + bytes;
      s.macs = (s.macs ?? 0) + macs;
      this.slots.set(label, s);
    }
  }
}

type Method = (...args: unknown[]) => unknown;

/** Replace obj[name] (own or inherited function) with a timed call; `label` names the slot from the arguments. */
function wrap(
  p: Profile,
  obj: object,
  name: string,
  label: (args: unknown[]) => string,
  bytes: (args: unknown[]) => number = () => 0,
  macs: (args: unknown[]) => number = () => 0,
): void {
  const target = obj as Record<string, unknown>;
  const f = target[name];
  if (typeof f !== 'function') return;
  const method = f as Method;
  target[name] = (...args: unknown[]): unknown => p.time(label(args), () => method.apply(obj, args), bytes(args), macs(args));
}

/** The weight's type name, and with `shapes` its ggml dims as rows x cols. */
function weightLabel(w: unknown, shapes: boolean): string {
  const info = (w as Partial<Weight> | undefined)?.info;
  if (info === undefined) return '?';
  const name = TYPE_TRAITS[info.type].name;
  return shapes ? `${name} ${info.dims[1] ?? 1}x${info.dims[0]}` : name;
}

function weightBytes(w: unknown): number {
  return (w as Partial<Weight> | undefined)?.info?.byteSize ?? 0;
}

function weightElements(w: unknown): number {
  return ((w as Partial<Weight> | undefined)?.info?.dims ?? []).reduce((a, b) => a * b, 1);
}

function instrument(p: Profile, backend: object, shapes: boolean): void {
  for (const op of BACKEND_OPS) {
    if (op === 'matmul') wrap(p, backend, op, (a) => `matmul ${weightLabel(a[1], shapes)}`, (a) => weightBytes(a[1]), (a) => weightElements(a[1]) * Number(a[3]));
    else if (op === 'matmulMany') {
      const ws = (a: unknown[]): unknown[] => ((a[2] as { w: unknown }[] | undefined) ?? []).map((t) => t.w);
      wrap(
        p,
        backend,
        op,
        (a) => `matmulMany ${shapes ? ws(a).map((w) => weightLabel(w, true)).join(' + ') : weightLabel(ws(a)[0], false)}`,
        (a) => ws(a).reduce((n: number, w) => n + weightBytes(w), 0),
        (a) => ws(a).reduce((n: number, w) => n + weightElements(w), 0) * Number(a[1]),
      );
    } else wrap(p, backend, op, () => op);
  }
  // wasm backend internals (absent elsewhere: wrap skips them)
  wrap(p, backend, 'quantize', () => '  activation quantization (ternary)');
  wrap(p, backend, 'lutTables', () => '  lookup tables');
  const pool = (backend as Record<string, unknown>).pool;
  if (typeof pool === 'object' && pool !== null) {
    wrap(p, pool, 'begin', () => '  pool: wait for a late worker (begin)');
    wrap(p, pool, 'waitIdle', () => '  pool: wait for workers (end of job)');
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      threads: { type: 'string', default: '2' },
      pp: { type: 'string', default: '16' },
      tg: { type: 'string', default: '32' },
      runs: { type: 'string', default: '2' },
      sampling: { type: 'string', default: 'greedy,top-p' },
      streams: { type: 'string', default: '1' },
      clock: { type: 'string', default: 'wall' },
      shapes: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || values.model === undefined) {
    console.log(HELP);
    return;
  }
  const threads = Number(values.threads);
  const pp = Number(values.pp);
  const tg = Number(values.tg);
  const runs = Number(values.runs);
  const modes = String(values.sampling).split(',');
  const streams = Number(values.streams);
  if (!Number.isInteger(streams) || streams < 1) throw new Error(`--streams must be an integer >= 1, got ${values.streams}`);
  if (values.clock !== 'wall' && values.clock !== 'cpu') throw new Error(`--clock must be wall or cpu, got ${values.clock}`);
  const now = values.clock === 'cpu' ? (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  } : (): number => performance.now();
  for (const m of modes) if (SAMPLING[m] === undefined) throw new Error(`unknown sampling mode ${m}; one of ${Object.keys(SAMPLING).join(', ')}`);

  console.log(`node ${process.versions.node}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  // several streams: a context for the run and KV memory for every stream (as bench/batch.ts)
  const contextLength = pp + tg + 8;
  const batchOptions = streams > 1 ? { contextLength, maxBatchSequences: streams, kvMemory: streams * (await BitNet.plan(values.model, { contextLength })).memory.kvBytes } : {};
  const model = await BitNet.load(values.model, { backend: 'wasm', threads, ...batchOptions });
  try {
    const vocab = model.config.vocabSize;
    const p = new Profile(now);
    instrument(p, model.backend, values.shapes);
    // warm-up: every kernel runs (and tiers up) before the timed runs
    const warm = Array.from({ length: streams }, () => model.createSequence());
    try {
      await Promise.all(
        warm.map(async (seq, i) => {
          for await (const piece of seq.generate(Array.from({ length: pp }, (_, j) => 1000 + j + 7919 * i), { maxTokens: 4, sampling: { kind: 'greedy' }, ignoreEos: true, seed: 1 })) void piece;
        }),
      );
    } finally {
      for (const seq of warm) seq.free();
    }
    const kernelSet = [...model.backend.kernelCalls().keys()].find((k) => k.startsWith('wasm.'))?.split('.')[1] ?? model.backend.name;
    const unit = streams > 1 ? 'step' : 'token';
    console.log(`${values.model}: ${model.backend.name} backend, ${threads} threads, kernel set ${kernelSet}; pp ${pp}, tg ${tg}, ${runs} runs per mode, ${streams} stream(s), ${values.clock} clock`);
    for (const mode of modes) {
      // per op: the decode part of every run (slots at the last piece minus slots at the first)
      const decode = new Map<string, Slot>();
      // per op: the prefill of every run (from the start of generate to its first token; one stream only)
      const prefill = new Map<string, Slot>();
      let prefillMs = 0;
      let decodeMs = 0;
      let tokens = 0;
      const perToken: number[] = [];
      for (let r = 0; r < runs; r++) {
        p.reset();
        const snapshot = (): Map<string, Slot> => new Map([...p.slots].map(([k, v]) => [k, { ...v }]));
        // the decode part: from the step that gives the last stream its first token to the last step
        let first = new Map<string, Slot>();
        let end = first;
        let firstAt = -1;
        let lastAt = -1;
        let started = 0;
        let counted = 0;
        let stepAt = -1;
        const runStart = now();
        const seqs = Array.from({ length: streams }, () => model.createSequence());
        try {
          await Promise.all(
            seqs.map(async (seq, i) => {
              const prompt = Array.from({ length: pp }, (_, j) => 2000 + 97 * r + 31 * j + 7919 * i);
              let seen = 0;
              for await (const piece of seq.generate(prompt, { maxTokens: tg, sampling: SAMPLING[mode], ignoreEos: true, seed: 7 + r + 1000 * i })) {
                // a piece holds the tokens decoded since the previous one (none: the closing piece)
                if (piece.tokenIds.length === 0) continue;
                const t = now();
                if (seen === 0 && ++started === streams) {
                  first = snapshot();
                  firstAt = t;
                } else if (seen > 0 && firstAt >= 0) {
                  counted += piece.tokenIds.length;
                  if (t !== stepAt && stepAt >= 0 && streams === 1) perToken.push((t - stepAt) / piece.tokenIds.length);
                }
                seen += piece.tokenIds.length;
                end = snapshot();
                lastAt = t;
                stepAt = t;
              }
            }),
          );
        } finally {
          for (const seq of seqs) seq.free();
        }
        decodeMs += lastAt - firstAt;
        tokens += counted;
        prefillMs += firstAt - runStart;
        for (const [k, v] of first) {
          const d = prefill.get(k) ?? { ms: 0, calls: 0 };
          d.ms += v.ms;
          d.calls += v.calls;
          d.bytes = (d.bytes ?? 0) + (v.bytes ?? 0);
          d.macs = (d.macs ?? 0) + (v.macs ?? 0);
          prefill.set(k, d);
        }
        for (const [k, v] of end) {
          const f = first.get(k) ?? { ms: 0, calls: 0 };
          const d = decode.get(k) ?? { ms: 0, calls: 0 };
          d.ms += v.ms - f.ms;
          d.calls += v.calls - f.calls;
          d.bytes = (d.bytes ?? 0) + (v.bytes ?? 0) - (f.bytes ?? 0);
          decode.set(k, d);
        }
      }
      const rows = [...decode].filter(([, s]) => s.calls > 0).sort((a, b) => b[1].ms - a[1].ms);
      const inBackend = rows.reduce((sum, [, s]) => sum + s.ms, 0);
      const steps = tokens / streams;
      const msStep = decodeMs / steps;
      const med = streams === 1 ? `, median ${median(perToken).toFixed(2)} ms` : '';
      console.log(`\n${mode}: ${tokens} decode tokens, ${msStep.toFixed(2)} ${values.clock}-ms/${unit} mean (${((1000 * streams) / msStep).toFixed(2)} tok per ${values.clock}-s)${med}`);
      for (const [label, s] of rows) {
        const gbs = values.shapes && (s.bytes ?? 0) > 0 && s.ms > 0 ? `  ${((s.bytes ?? 0) / s.ms / 1e6).toFixed(1).padStart(5)} GB/s` : '';
        console.log(`  ${label.padEnd(44)} ${(s.ms / steps).toFixed(3).padStart(8)} ms/${unit} ${((100 * s.ms) / decodeMs).toFixed(1).padStart(5)} %  ${(s.calls / steps).toFixed(1).padStart(6)} calls/${unit}${gbs}`);
      }
      const outside = decodeMs - inBackend;
      console.log(`  ${'outside the backend (sampling, engine, awaits)'.padEnd(44)} ${(outside / steps).toFixed(3).padStart(8)} ms/${unit} ${((100 * outside) / decodeMs).toFixed(1).padStart(5)} %`);
      if (streams === 1) {
        const pRows = [...prefill].filter(([, s]) => s.calls > 0).sort((a, b) => b[1].ms - a[1].ms);
        const pIn = pRows.reduce((sum, [, s]) => sum + s.ms, 0);
        console.log(`\n${mode} prefill: ${pp} tokens, ${(prefillMs / runs).toFixed(1)} ${values.clock}-ms per prompt (${((1000 * pp * runs) / prefillMs).toFixed(1)} tok per ${values.clock}-s), to the first token`);
        for (const [label, s] of pRows) {
          const gbs = values.shapes && (s.macs ?? 0) > 0 && s.ms > 0 ? `  ${((s.macs ?? 0) / s.ms / 1e6).toFixed(1).padStart(6)} GMAC/s` : '';
          console.log(`  ${label.padEnd(44)} ${(s.ms / runs).toFixed(3).padStart(9)} ms/prompt ${((100 * s.ms) / prefillMs).toFixed(1).padStart(5)} %  ${(s.calls / runs).toFixed(1).padStart(6)} calls/prompt${gbs}`);
        }
        console.log(`  ${'outside the backend (tokens, engine, awaits)'.padEnd(44)} ${((prefillMs - pIn) / runs).toFixed(3).padStart(9)} ms/prompt ${((100 * (prefillMs - pIn)) / prefillMs).toFixed(1).padStart(5)} %`);
      }
    }
    // sampling alone over one row of the vocabulary (random logits, the engine's sampler)
    const logits = new Float32Array(vocab);
    let s = 12345;
    for (let i = 0; i < vocab; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      logits[i] = (s / 4294967296) * 8 - 4;
    }
    console.log(`\nsampling alone, ${vocab} logits (median of 50 calls after 10):`);
    for (const mode of Object.keys(SAMPLING)) {
      const sampler = createSampler(SAMPLING[mode], 3, vocab);
      const times: number[] = [];
      for (let i = 0; i < 60; i++) {
        const t0 = performance.now();
        sampler.sample(logits, []);
        if (i >= 10) times.push(performance.now() - t0);
      }
      console.log(`  ${mode.padEnd(11)} ${median(times).toFixed(3)} ms`);
    }
  } finally {
    await model.dispose();
  }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(2);
});
