// `npm run bench:kernels [-- --runs N --ring-mib M --threads 1,2 --pp N]`: GB/s and GMAC/s of the wasm matmul kernels
// at the BitNet b1.58 2B-4T decode shapes (--shape 8b: Llama3-8B-1.58's), the memory read bandwidth measured in the same run, the decode tok/s those
// figures imply, and the ternary matmuls of a --pp token prefill (the GEMM path) with the prefill tok/s they imply.
//
// Each shape is measured over a ring of copies of its weight (--ring-mib MiB in all, beyond the last-level
// cache) so every GEMV reads its weight from DRAM, as decode does; a run is one pass over the ring, the
// median of --runs runs is reported. The load average is printed: other jobs on the machine skew results; "per
// CPU-s" divides the same bytes by the process's CPU time over the pass (process.cpuUsage: every thread, spin-waits
// included), which other jobs skew much less than wall-clock time on a shared machine.
// "first call" is a backend's first matmul of the shape, before the warm-up pass: on the first shape of a backend
// it shows the kernel in V8's baseline compiler (Liftoff), which is replaced by TurboFan's code from the next call.

import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { f32ToF16Bits } from '../src/formats/f16.js';
import { GgmlType, TYPE_TRAITS } from '../src/formats/ggml-type.js';
import { packI2s } from '../src/formats/i2s.js';
import type { KernelBackend, Tensor, Weight } from '../src/kernels/backend.js';
import { getShape } from '../src/synth/shapes.js';
import { createWasmBackend, probeKernelSets, wasmReadSeconds, type WasmKernelSet } from '../src/kernels/wasm/index.js';

interface Shape {
  readonly label: string;
  readonly type: GgmlType;
  readonly rows: number;
  readonly cols: number;
}

/** The model dimensions the shapes and estimates come from (--shape: 2B-4T by default, or Llama3-8B-1.58's '8b'). */
interface Dims {
  readonly hidden: number;
  readonly ffn: number;
  readonly kvDim: number;
  readonly layers: number;
  readonly vocab: number;
}

function dimsOf(name: string): Dims {
  const m = getShape(name);
  return { hidden: m.hiddenSize, ffn: m.ffnSize, kvDim: m.nKvHeads * m.headDim, layers: m.nLayers, vocab: m.vocabSize };
}

/** The decode GEMV shapes: [0] q, o; [1] gate, up; [2] down; [3..5] the output matrix as Q8_0, Q6_K and F16. */
function shapesOf(d: Dims): Shape[] {
  const { hidden, ffn, vocab } = d;
  return [
    { label: `I2_S ${hidden}x${hidden} (attn q, o)`, type: GgmlType.I2_S, rows: hidden, cols: hidden },
    { label: `I2_S ${ffn}x${hidden} (ffn gate, up)`, type: GgmlType.I2_S, rows: ffn, cols: hidden },
    { label: `I2_S ${hidden}x${ffn} (ffn down)`, type: GgmlType.I2_S, rows: hidden, cols: ffn },
    { label: `Q8_0 ${vocab}x${hidden} (output)`, type: GgmlType.Q8_0, rows: vocab, cols: hidden },
    { label: `Q6_K ${vocab}x${hidden} (output)`, type: GgmlType.Q6_K, rows: vocab, cols: hidden },
    { label: `F16 ${vocab}x${hidden} (output)`, type: GgmlType.F16, rows: vocab, cols: hidden },
  ];
}

interface Row {
  kernelSet: string;
  threads: number;
  label: string;
  /** Median over runs of the mean time per GEMV in a pass over the ring. */
  microseconds: number;
  gbPerS: number;
  gmacPerS: number;
  /** The fastest run (least disturbed by other jobs on the machine). */
  bestGbPerS: number;
  /** Median over runs of the weight bytes per second of process CPU time (all threads, spin-waits included). */
  cpuGbPerS: number;
  /**
   * The untimed first pass, per GEMV: V8 starts a wasm function in its baseline compiler (Liftoff) and swaps in
   * TurboFan code compiled in the background, for the next call; far above `microseconds`, a kernel ran unoptimized.
   */
  firstMicroseconds: number;
}

function weightBytes(s: Shape): number {
  const n = s.rows * s.cols;
  if (s.type === GgmlType.I2_S) return n / 4 + 32;
  if (s.type === GgmlType.Q8_0) return (n / 32) * 34;
  if (s.type === GgmlType.F16) return n * 2;
  return (n / 256) * 210;
}

/** Random but valid bytes of a weight (ternary codes 0..2; Q8_0 / Q6_K with small finite scales; F16 like an embedding). */
function randomWeightBytes(s: Shape, seed: number): Uint8Array {
  let state = seed >>> 0;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state >>> 8;
  };
  if (s.type === GgmlType.I2_S) {
    const codes = new Int8Array(s.rows * s.cols);
    for (let i = 0; i < codes.length; i++) codes[i] = (next() % 3) - 1;
    return packI2s(codes, 0.02, s.cols);
  }
  const bytes = new Uint8Array(weightBytes(s));
  for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
  if (s.type === GgmlType.Q8_0) for (let b = 0; b < bytes.length / 34; b++) bytes[b * 34 + 1] = 0x20;
  else if (s.type === GgmlType.F16) {
    // like a real embedding table: normal values, sd 0.02 (about 0.25% F16 subnormals)
    for (let i = 0; i < bytes.length; i += 2) {
      const u = (next() + 1) / 16777217;
      const bits = f32ToF16Bits(0.02 * Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * next()) / 16777216));
      bytes[i] = bits & 0xff;
      bytes[i + 1] = bits >>> 8;
    }
  }
  else for (let b = 0; b < bytes.length / 210; b++) bytes[b * 210 + 209] = 0x20;
  return bytes;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function measureShape(be: KernelBackend, s: Shape, ringBytes: number, runs: number): Promise<{ seconds: number; best: number; first: number; cpuSeconds: number }> {
  const bytes = randomWeightBytes(s, s.rows * 31 + s.cols);
  const copies = Math.max(1, Math.ceil(ringBytes / bytes.length));
  const weights: Weight[] = [];
  for (let i = 0; i < copies; i++) {
    const { weight, target } = be.createWeight({ name: `${s.label} #${i}`, type: s.type, dims: [s.cols, s.rows], byteSize: bytes.length });
    target.set(bytes);
    be.prepareWeight(weight);
    weights.push(weight);
  }
  const x = be.alloc(s.cols);
  be.write(x, Float32Array.from({ length: s.cols }, (_, i) => Math.sin(i * 0.37) * 2));
  const out = be.alloc(s.rows);
  const cpuTimes: number[] = [];
  const pass = (): number => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (const w of weights) be.matmul(out, w, x, 1);
    const seconds = (performance.now() - t0) / 1000 / weights.length;
    const c = process.cpuUsage(c0);
    cpuTimes.push((c.user + c.system) / 1e6 / weights.length);
    return seconds;
  };
  // The backend's first matmul runs its kernel in V8's baseline tier (Liftoff) until TurboFan's code is in.
  const t0 = performance.now();
  be.matmul(out, weights[0], x, 1);
  const first = (performance.now() - t0) / 1000;
  pass();
  cpuTimes.length = 0;
  const times: number[] = [];
  for (let r = 0; r < runs; r++) times.push(pass());
  await Promise.resolve();
  return { seconds: median(times), best: Math.min(...times), first, cpuSeconds: median(cpuTimes) };
}

/** The live floats of a CPU backend's tensor (these benchmarks run the CPU backends only). */
function cpuView(be: KernelBackend, t: Tensor): Float32Array {
  if (be.view === undefined) throw new Error(`backend ${be.name} has no live view`);
  return be.view(t);
}

/**
 * Seconds per matmul of `nTokens` tokens (a prefill, or a batched decode step: the multi-token kernels), median over runs; weights cycle over copies
 * filling `ringBytes` (at most 16), fresh activations every call so nothing is reused from the previous one.
 */
async function measurePrefill(be: KernelBackend, s: Shape, ringBytes: number, runs: number, nTokens: number): Promise<{ seconds: number; best: number }> {
  const bytes = randomWeightBytes(s, s.rows * 31 + s.cols);
  const copies = Math.max(1, Math.min(16, Math.ceil(ringBytes / bytes.length)));
  const weights: Weight[] = [];
  for (let i = 0; i < copies; i++) {
    const { weight, target } = be.createWeight({ name: `${s.label} prefill #${i}`, type: s.type, dims: [s.cols, s.rows], byteSize: bytes.length });
    target.set(bytes);
    be.prepareWeight(weight);
    weights.push(weight);
  }
  const x = be.alloc(s.cols * nTokens);
  const xs = cpuView(be, x);
  for (let i = 0; i < xs.length; i++) xs[i] = Math.sin(i * 0.37) * 2;
  const out = be.alloc(s.rows * nTokens);
  let k = 0;
  const call = (): number => {
    xs[k % xs.length] += 1e-3; // a new input: no quantization or table is reused
    const t0 = performance.now();
    be.matmul(out, weights[k++ % weights.length], x, nTokens);
    return (performance.now() - t0) / 1000;
  };
  call();
  const times: number[] = [];
  for (let r = 0; r < Math.max(runs, copies); r++) times.push(call());
  await Promise.resolve();
  return { seconds: median(times), best: Math.min(...times) };
}

function fmt(n: number, digits = 2): string {
  return n.toFixed(digits).padStart(8);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      'ring-mib': { type: 'string', default: '384' },
      threads: { type: 'string', default: '1,2' },
      only: { type: 'string', default: '' },
      sets: { type: 'string', default: '' },
      pp: { type: 'string', default: '128' },
      batch: { type: 'string', default: '8' },
      shape: { type: 'string', default: '2b-4t' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    console.log(
      'usage: npm run bench:kernels -- [--runs N] [--ring-mib M] [--threads 1,2] [--only SUBSTRING] [--sets simd128,relaxed-simd] [--pp N (0: no prefill)] [--batch N (tokens of a batched decode step; 0: none)] [--shape 2b-4t|8b]',
    );
    return;
  }
  const runs = Number(values.runs);
  const ringBytes = Number(values['ring-mib']) * 1024 * 1024;
  const threadList = String(values.threads).split(',').map(Number);
  const probe = await probeKernelSets();
  const available: WasmKernelSet[] = probe.relaxedSelfCheck === true ? ['simd128', 'relaxed-simd'] : ['simd128'];
  const sets = values.sets === '' ? available : available.filter((k) => String(values.sets).split(',').includes(k));
  const dims = dimsOf(String(values.shape));
  const { hidden: HIDDEN, kvDim: KV_DIM, layers: LAYERS } = dims;
  const SHAPES = shapesOf(dims);
  // one layer's ternary matmuls from the per-shape seconds: q, o (hidden x hidden), k, v (kvDim x hidden, at the q
  // rate per weight), gate, up, down
  const layerOf = (sq: number, up: number, down: number): number => 2 * sq + 2 * sq * (KV_DIM / HIDDEN) + 2 * up + down;
  const shapes = SHAPES.filter((s) => s.label.includes(String(values.only)));
  console.log(`node ${process.versions.node}, kernel sets: ${sets.join(', ')}${probe.relaxedValidates && probe.relaxedSelfCheck !== true ? ' (relaxed SIMD validates but fails the self-check)' : ''}`);
  console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ring ${values['ring-mib']} MiB per shape, median of ${runs} runs; shapes of ${String(values.shape)}`);

  const pp = Number(values.pp);
  const batch = Number(values.batch);
  if (!Number.isInteger(batch) || batch < 0 || batch > 64) throw new Error(`--batch must be an integer 0..64, got ${String(values.batch)}`);
  const rows: Row[] = [];
  // a batched decode step (issue 12): every shape with `batch` tokens at once, the multi-token kernels
  const batched: { kernelSet: string; threads: number; label: string; seconds: number }[] = [];
  const prefill: { kernelSet: string; threads: number; label: string; seconds: number }[] = [];
  const bandwidth = new Map<number, number>();
  for (const kernelSet of sets) {
    for (const threads of threadList) {
      const be = await createWasmBackend({ threads, kernelSet });
      try {
        if (!bandwidth.has(threads)) {
          const buffer = be.alloc(ringBytes / 4);
          cpuView(be, buffer).fill(1);
          wasmReadSeconds(be, buffer);
          const times: number[] = [];
          for (let r = 0; r < runs; r++) times.push(wasmReadSeconds(be, buffer));
          bandwidth.set(threads, ringBytes / median(times) / 1e9);
        }
        for (const s of shapes) {
          const { seconds, best, first, cpuSeconds } = await measureShape(be, s, ringBytes, runs);
          const row = {
            kernelSet,
            threads,
            label: s.label,
            microseconds: seconds * 1e6,
            gbPerS: weightBytes(s) / seconds / 1e9,
            gmacPerS: (s.rows * s.cols) / seconds / 1e9,
            bestGbPerS: weightBytes(s) / best / 1e9,
            cpuGbPerS: weightBytes(s) / cpuSeconds / 1e9,
            firstMicroseconds: first * 1e6,
          };
          rows.push(row);
          console.log(
            `${kernelSet.padEnd(13)} t=${threads} ${s.label.padEnd(30)} ${fmt(row.microseconds, 0)} us ${fmt(row.gbPerS)} GB/s ${fmt(row.gmacPerS)} GMAC/s   (best run ${fmt(row.bestGbPerS)} GB/s; ${fmt(row.cpuGbPerS)} GB per CPU-s; first call ${fmt(row.firstMicroseconds, 0)} us)`,
          );
        }
        for (const s of pp > 0 ? shapes.filter((sh) => sh.type === GgmlType.I2_S) : []) {
          const { seconds, best } = await measurePrefill(be, s, ringBytes, runs, pp);
          prefill.push({ kernelSet, threads, label: s.label, seconds });
          console.log(
            `${kernelSet.padEnd(13)} t=${threads} ${s.label.padEnd(30)} x ${pp} tokens ${fmt(seconds * 1e3, 1)} ms = ${fmt((pp * s.rows * s.cols) / seconds / 1e9, 1)} GMAC/s   (best run ${fmt((best * 1e3), 1)} ms)`,
          );
        }
      } finally {
        await be.dispose();
      }
      // a fresh backend (the weights above would not leave room in a wasm32 memory for another ring of each shape)
      if (batch > 1) {
        const bb = await createWasmBackend({ threads, kernelSet });
        try {
          for (const s of shapes) {
            const before = bb.kernelCalls();
            const { seconds, best } = await measurePrefill(bb, s, ringBytes, runs, batch);
            batched.push({ kernelSet, threads, label: s.label, seconds });
            const ran = [...bb.kernelCalls()].filter(([id, n]) => id.includes('.matmul.') && n > (before.get(id) ?? 0)).map(([id]) => id.split('.')[3]);
            console.log(
              `${kernelSet.padEnd(13)} t=${threads} ${s.label.padEnd(30)} x ${batch} tokens (a decode step) ${fmt(seconds * 1e3, 2)} ms = ${fmt((batch * s.rows * s.cols) / seconds / 1e9, 1)} G weight-tokens/s   (best run ${fmt(best * 1e3, 2)} ms; ${ran.join(', ')})`,
            );
          }
        } finally {
          await bb.dispose();
        }
      }
    }
  }
  console.log('');
  for (const [threads, gb] of bandwidth) console.log(`memory read bandwidth, ${threads} thread(s): ${gb.toFixed(2)} GB/s`);
  console.log('');
  // Decode estimate: per layer q, o (hidden x hidden), k, v (kvDim x hidden, timed at the q rate per byte),
  // gate, up (ffn x hidden), down (hidden x ffn); plus the output matrix. Attention, norms and sampling are left out.
  for (const kernelSet of sets) {
    for (const threads of threadList) {
      const get = (label: string): Row | undefined => rows.find((r) => r.kernelSet === kernelSet && r.threads === threads && r.label === label);
      const sq = get(SHAPES[0].label);
      const up = get(SHAPES[1].label);
      const down = get(SHAPES[2].label);
      if (sq === undefined || up === undefined || down === undefined) continue;
      const kvSeconds = (2 * (KV_DIM * HIDDEN)) / 4 / (sq.gbPerS * 1e9);
      const layerSeconds = (2 * sq.microseconds + 2 * up.microseconds + down.microseconds) / 1e6 + kvSeconds;
      for (const out of [SHAPES[3], SHAPES[4], SHAPES[5]]) {
        const o = get(out.label);
        if (o === undefined) continue;
        const tokenSeconds = LAYERS * layerSeconds + o.microseconds / 1e6;
        console.log(
          `estimate ${kernelSet.padEnd(13)} t=${threads} with ${TYPE_TRAITS[out.type].name} output: ${(tokenSeconds * 1e3).toFixed(1)} ms/token = ${(1 / tokenSeconds).toFixed(1)} tok/s (GEMVs only)`,
        );
      }
    }
  }
  // Batched decode estimate: the same sum with every matmul at `batch` tokens; aggregate tok/s against one stream's
  for (const kernelSet of sets) {
    for (const threads of threadList) {
      const one = (label: string): number | undefined => {
        const r = rows.find((x) => x.kernelSet === kernelSet && x.threads === threads && x.label === label);
        return r === undefined ? undefined : r.microseconds / 1e6;
      };
      const many = (label: string): number | undefined => batched.find((r) => r.kernelSet === kernelSet && r.threads === threads && r.label === label)?.seconds;
      const step = (get: (label: string) => number | undefined, outLabel: string): number | undefined => {
        const sq = get(SHAPES[0].label);
        const up = get(SHAPES[1].label);
        const down = get(SHAPES[2].label);
        const o = get(outLabel);
        if (sq === undefined || up === undefined || down === undefined || o === undefined) return undefined;
        return LAYERS * layerOf(sq, up, down) + o;
      };
      for (const out of [SHAPES[3], SHAPES[5]]) {
        const s1 = step(one, out.label);
        const sN = step(many, out.label);
        if (s1 === undefined || sN === undefined) continue;
        console.log(
          `batch estimate ${kernelSet.padEnd(13)} t=${threads} with ${TYPE_TRAITS[out.type].name} output: ${batch} streams ${(batch / sN).toFixed(1)} tok/s against one ${(1 / s1).toFixed(1)} = ${(s1 * batch / sN).toFixed(2)}x (matmuls only)`,
        );
      }
    }
  }
  // Prefill estimate: per layer q, o, k, v (at the q rate per weight), gate, up, down,
  // all over the --pp tokens; the output matrix only for the last token (left out). Attention and norms are left out.
  for (const kernelSet of sets) {
    for (const threads of threadList) {
      const get = (label: string): number | undefined => prefill.find((r) => r.kernelSet === kernelSet && r.threads === threads && r.label === label)?.seconds;
      const sq = get(SHAPES[0].label);
      const up = get(SHAPES[1].label);
      const down = get(SHAPES[2].label);
      if (sq === undefined || up === undefined || down === undefined) continue;
      const layerSeconds = layerOf(sq, up, down);
      console.log(
        `prefill estimate ${kernelSet.padEnd(13)} t=${threads}: ${pp} tokens in ${(LAYERS * layerSeconds * 1e3).toFixed(0)} ms = ${(pp / (LAYERS * layerSeconds)).toFixed(1)} tok/s (ternary GEMMs only)`,
      );
    }
  }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(2);
});
