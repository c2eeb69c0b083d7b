// The one-shot WebGPU check for a machine with a real GPU (scripts/device-webgpu.sh runs it there from a carried kit;
// bench/README.md "WebGPU on a real GPU"): in Node through Dawn, no browser, no network.
//   node dist/bench/webgpu-device.js [--out DIR] [--shape 2b-4t] [--pp 128] [--tg 64] [--skip-speed] [--skip-correctness]
// 1. The adapter: vendor, architecture, features, WGSL language features, limits.
// 2. Correctness on it: the tiny synthetic models (I2_S with Q8_0 and F16 embeddings, TQ2_0) against the wasm backend:
//    cosine and argmax of the logits at every prompt position, and 16 greedy tokens.
// 3. Speed: prefill pp and decode tg on the shape's I2_S file (Q8_0 embeddings) and its F16-embedding twin: tok/s,
//    TTFT, upload time, GPU memory, the weight bytes read per decoded token and the bandwidth that implies, and per
//    decode step the wall time, the JavaScript time of recording it and the GPU time of its passes (timestamp
//    queries: bench/gpu-timing.ts), which tell a CPU-bound decode from a GPU-bound one.
// 4. The cost of one dispatch: a step of 2000 tiny adds, each reading what the one before wrote (wall and GPU time per
//    dispatch), and the GPU time per decode token by kernel (each dispatch timed in a pass of its own).
// Writes webgpu-device.json and webgpu-device.md to --out (default: the current directory) and prints the markdown.

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BitNet } from '../src/engine/bitnet.js';
import { rowAgreement } from '../src/bench/logit-rows.js';
import { benchCacheDir, describeModelFile, ensureBenchModels } from '../src/bench/models.js';
import { createWebGpuBackend } from '../src/kernels/webgpu/index.js';
import { loadNodeGpu } from '../src/kernels/webgpu/node-gpu.js';
import { SHAPE_NAMES, type ShapeName } from '../src/synth/shapes.js';
import type { Gpu } from '../src/kernels/webgpu/gpu-api.js';
import { countGpuMemory } from './gpu-memory.js';
import { timeGpuPasses } from './gpu-timing.js';
import { benchPrompt, measure, type Measured } from './webgpu-measure.js';

interface Agreement {
  readonly model: string;
  readonly positions: number;
  readonly minCosine: number;
  readonly argmaxEqual: number;
  readonly greedyEqual: boolean;
  readonly kernels: string[];
}

async function agreement(path: string, gpu: ReturnType<typeof countGpuMemory>['gpu']): Promise<Agreement> {
  const wasm = await BitNet.load(path, { backend: 'wasm', threads: Math.min(8, cpus().length) });
  const web = await BitNet.load(path, { backend: 'webgpu', gpu });
  try {
    const tokens = benchPrompt(24, wasm.info.vocabSize);
    const vocab = wasm.info.vocabSize;
    const want = await wasm.evaluateLogits(tokens);
    const got = await web.evaluateLogits(tokens);
    let minCosine = 1;
    let argmaxEqual = 0;
    for (let p = 0; p < tokens.length; p++) {
      const r = rowAgreement(got, want, vocab, p);
      minCosine = Math.min(minCosine, r.cosine);
      if (r.argGot === r.argWant) argmaxEqual++;
    }
    const greedy = { maxTokens: 16, sampling: { kind: 'greedy' } as const, ignoreEos: true };
    const a = await wasm.complete(tokens, greedy);
    const b = await web.complete(tokens, greedy);
    const greedyEqual = a.tokenIds.length === b.tokenIds.length && a.tokenIds.every((t, i) => t === b.tokenIds[i]);
    return { model: path.split('/').pop() ?? path, positions: tokens.length, minCosine, argmaxEqual, greedyEqual, kernels: [...web.backend.kernelCalls().keys()].sort() };
  } finally {
    await wasm.dispose();
    await web.dispose();
  }
}

/**
 * Per decode step: the JavaScript time of recording it (beginStep to endStep's submit: the forward pass's ops and
 * their WebGPU calls; the median over `tg` greedy tokens), and per token of that completion its wall time and the GPU
 * time of its compute passes (timestamp queries, where the adapter has them; NaN else). Set side by side, they tell a CPU-bound decode from a
 * GPU-bound one.
 */
async function stepTimes(path: string, gpu: Gpu, tg: number): Promise<{ recordMs: number; gpuMs: number; wallMs: number }> {
  const timer = timeGpuPasses(gpu);
  const m = await BitNet.load(path, { backend: 'webgpu', gpu: timer.gpu });
  try {
    const be = m.backend;
    const begin = be.beginStep.bind(be);
    const end = be.endStep.bind(be);
    const steps: number[] = [];
    let t0 = 0;
    be.beginStep = () => {
      t0 = performance.now();
      begin();
    };
    be.endStep = () => {
      steps.push(performance.now() - t0);
      return end();
    };
    const median = (a: number[]): number => (a.length === 0 ? Number.NaN : [...a].sort((x, y) => x - y)[a.length >> 1]);
    await m.complete(benchPrompt(4, m.info.vocabSize), { maxTokens: 2, sampling: { kind: 'greedy' }, ignoreEos: true });
    steps.length = 0;
    await timer.take();
    const w0 = performance.now();
    const r = await m.complete(benchPrompt(4, m.info.vocabSize), { maxTokens: tg, sampling: { kind: 'greedy' }, ignoreEos: true });
    const wallMs = (performance.now() - w0) / Math.max(1, r.tokenIds.length);
    // every submission of the completion (steps, read-backs; the 4-token prompt's too) over its tokens
    const gpuMs = timer.available() ? (await timer.take()).reduce((a, b) => a + b, 0) / Math.max(1, r.tokenIds.length) : Number.NaN;
    return { recordMs: median(steps.slice(1)), gpuMs, wallMs };
  } finally {
    await m.dispose();
  }
}

/**
 * What one more dispatch costs: a step of `n` adds of 64 floats, each reading what the one before wrote (so the GPU
 * cannot overlap them), after a warm-up step; wall time and GPU pass time (timestamp queries) per dispatch.
 */
async function dispatchCost(gpu: Gpu, n = 2000): Promise<{ wallUs: number; gpuUs: number }> {
  const timer = timeGpuPasses(gpu);
  const be = await createWebGpuBackend({ gpu: timer.gpu });
  try {
    const x = be.alloc(64);
    const y = be.alloc(64);
    be.write(x, new Float32Array(64));
    be.write(y, new Float32Array(64).fill(1));
    const step = async (): Promise<void> => {
      be.beginStep();
      for (let i = 0; i < n; i++) be.addInPlace(x, y, 64);
      await be.endStep();
    };
    await step();
    await timer.take();
    const t0 = performance.now();
    await step();
    const wallMs = performance.now() - t0;
    const gpuMs = timer.available() ? (await timer.take()).reduce((a, b) => a + b, 0) : Number.NaN;
    const got = (await be.read(x, 0, 1))[0];
    if (got !== 2 * n) throw new Error(`dispatch cost: ${n} dependent adds twice gave ${got}, expected ${2 * n}`);
    return { wallUs: (1000 * wallMs) / n, gpuUs: (1000 * gpuMs) / n };
  } finally {
    await be.dispose();
  }
}

/** One kernel's share of a decode token (kernelTimes). */
interface KernelShare {
  readonly kernel: string;
  readonly msPerToken: number;
  readonly dispatchesPerToken: number;
}

/**
 * Where a decode token's GPU time goes, by kernel: every dispatch timed in a pass of its own (gpu-timing.ts
 * perDispatch) over `tg` greedy tokens after a warm-up, summed by kernel per token, largest first. The pass per
 * dispatch adds its own cost, so the total is a breakdown, not the step's time (stepTimes has that).
 */
async function kernelTimes(path: string, gpu: Gpu, tg: number): Promise<KernelShare[]> {
  const timer = timeGpuPasses(gpu, { perDispatch: true });
  const m = await BitNet.load(path, { backend: 'webgpu', gpu: timer.gpu });
  try {
    if (!timer.available()) return [];
    await m.complete(benchPrompt(4, m.info.vocabSize), { maxTokens: 2, sampling: { kind: 'greedy' }, ignoreEos: true });
    await timer.takeKernels();
    const r = await m.complete(benchPrompt(4, m.info.vocabSize), { maxTokens: tg, sampling: { kind: 'greedy' }, ignoreEos: true });
    const n = Math.max(1, r.tokenIds.length);
    return [...(await timer.takeKernels())].map(([kernel, k]) => ({ kernel: kernel === '' ? '(unlabelled)' : kernel, msPerToken: k.ms / n, dispatchesPerToken: k.count / n })).sort((a, b) => b.msPerToken - a.msPerToken);
  } finally {
    await m.dispose();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: '.' },
      shape: { type: 'string', default: '2b-4t' },
      pp: { type: 'string', default: '128' },
      tg: { type: 'string', default: '64' },
      'skip-speed': { type: 'boolean', default: false },
      'skip-correctness': { type: 'boolean', default: false },
    },
  });
  const shape = values.shape as ShapeName;
  if (!SHAPE_NAMES.includes(shape)) throw new Error(`--shape: one of ${SHAPE_NAMES.join(', ')}`);
  const pp = Number(values.pp);
  const tg = Number(values.tg);
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const started = Date.now();
  const gpu = await loadNodeGpu();
  const counter = countGpuMemory(gpu);
  const adapter = await counter.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) throw new Error('no adapter');
  const features: string[] = [];
  for (const f of ['shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix']) if (adapter.features.has(f)) features.push(f);
  const wgsl = ['packed_4x8_integer_dot_product', 'subgroup_id', 'subgroup_uniformity', 'unrestricted_pointer_parameters'].filter((f) => counter.gpu.wgslLanguageFeatures?.has(f) === true);
  const limits = adapter.limits as unknown as Record<string, number>;
  const report = {
    adapter: [adapter.info?.vendor, adapter.info?.architecture, adapter.info?.description].filter((s) => s !== undefined && s !== '').join(' '),
    features,
    wgslLanguageFeatures: wgsl,
    limits: Object.fromEntries(['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup'].map((k) => [k, limits[k]])),
    node: process.versions.node,
    cpus: cpus().length,
    loadAverage: loadavg(),
    correctness: [] as Agreement[],
    dispatch: null as { wallUs: number; gpuUs: number } | null,
    speed: [] as (Measured & { model: string; weightBytesPerToken: number; gpuPeakBytes: number; decodeGBps: number | null; recordMs: number; gpuMs: number; wallMs: number; kernels: KernelShare[] })[],
    seconds: 0,
  };
  log(`adapter: ${report.adapter}; features ${features.join(', ') || 'none'}; WGSL ${wgsl.join(', ') || 'none'}`);

  const cache = benchCacheDir();
  const tiny = values['skip-correctness'] === true ? null : await ensureBenchModels('tiny', cache, log, { withF16: true, withPeer: true });
  for (const path of tiny === null ? [] : [tiny.model, tiny.f16Model, tiny.peerModel]) {
    if (path === null) continue;
    const a = await agreement(path, counter.gpu);
    report.correctness.push(a);
    log(`${a.model}: min cosine ${a.minCosine.toFixed(7)}, argmax equal ${a.argmaxEqual}/${a.positions}, 16 greedy tokens ${a.greedyEqual ? 'equal' : 'DIFFER'}`);
  }

  if (values['skip-speed'] !== true) {
    report.dispatch = await dispatchCost(gpu);
    log(`one dependent dispatch: ${report.dispatch.wallUs.toFixed(1)} us wall, ${report.dispatch.gpuUs.toFixed(1)} us of GPU time`);
    const big = await ensureBenchModels(shape, cache, log, { withF16: true, withPeer: false });
    for (const path of [big.model, big.f16Model]) {
      if (path === null) continue;
      const info = await describeModelFile(path);
      const r = await measure(path, { backend: 'webgpu', gpu: counter.gpu }, pp, tg);
      const decodeGBps = r.decodeTokPerS === null ? null : (r.decodeTokPerS * info.weightBytesPerToken) / 1e9;
      const step = await stepTimes(path, gpu, tg);
      const kernels = await kernelTimes(path, gpu, Math.min(tg, 16));
      report.speed.push({ ...r, model: path.split('/').pop() ?? path, weightBytesPerToken: info.weightBytesPerToken, gpuPeakBytes: counter.peakBytes(), decodeGBps, ...step, kernels });
      log(`${path.split('/').pop()}: prefill ${r.prefillTokPerS?.toFixed(1)} tok/s, decode ${r.decodeTokPerS?.toFixed(1)} tok/s (${decodeGBps?.toFixed(0)} GB/s of weights), TTFT ${r.ttftMs?.toFixed(0)} ms, load ${(r.loadMs / 1000).toFixed(1)} s; per decode step ${step.wallMs.toFixed(2)} ms wall, ${step.recordMs.toFixed(2)} ms of JavaScript recording, ${step.gpuMs.toFixed(2)} ms of GPU passes`);
    }
  }
  report.seconds = (Date.now() - started) / 1000;

  const lines = [
    `adapter: ${report.adapter} (node ${report.node}, ${report.cpus} CPUs)`,
    `features: ${features.join(', ') || 'none'}; WGSL language features: ${wgsl.join(', ') || 'none'}`,
    `limits: ${Object.entries(report.limits).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    '',
    '| tiny model | positions | min cosine vs wasm | argmax equal | 16 greedy tokens |',
    '| --- | --- | --- | --- | --- |',
    ...report.correctness.map((a) => `| ${a.model} | ${a.positions} | ${a.minCosine.toFixed(7)} | ${a.argmaxEqual}/${a.positions} | ${a.greedyEqual ? 'equal' : 'differ'} |`),
    '',
    ...(report.dispatch === null ? [] : [`one dependent dispatch (2000 tiny adds in a step): ${report.dispatch.wallUs.toFixed(1)} us wall, ${report.dispatch.gpuUs.toFixed(1)} us of GPU time`, '']),
    `| ${shape} model | load (read + upload) | warm-up | prefill pp${pp} tok/s | decode tg${tg} tok/s | TTFT | weight bytes per token | decode GB/s of weights | decode step: wall / JS recording / GPU passes | GPU memory (peak) |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...report.speed.map(
      (r) =>
        `| ${r.model} | ${(r.loadMs / 1000).toFixed(2)} s | ${((r.warmupMs ?? 0) / 1000).toFixed(2)} s | ${r.prefillTokPerS?.toFixed(1)} | ${r.decodeTokPerS?.toFixed(1)} | ${r.ttftMs?.toFixed(0)} ms | ${(r.weightBytesPerToken / 1e6).toFixed(0)} MB | ${r.decodeGBps?.toFixed(0)} | ${r.wallMs.toFixed(2)} / ${r.recordMs.toFixed(2)} / ${r.gpuMs.toFixed(2)} ms | ${(r.gpuPeakBytes / 2 ** 20).toFixed(0)} MiB |`,
    ),
    ...report.speed.flatMap((r) =>
      r.kernels.length === 0
        ? []
        : [
            '',
            `${r.model}: GPU time per decode token by kernel (each dispatch timed in a pass of its own; ${r.kernels.reduce((a, k) => a + k.msPerToken, 0).toFixed(2)} ms in all)`,
            '',
            '| kernel | ms per token | dispatches per token | us per dispatch |',
            '| --- | --- | --- | --- |',
            ...r.kernels.map((k) => `| ${k.kernel} | ${k.msPerToken.toFixed(3)} | ${k.dispatchesPerToken.toFixed(1)} | ${((1000 * k.msPerToken) / Math.max(1e-9, k.dispatchesPerToken)).toFixed(1)} |`),
          ],
    ),
    '',
    `${report.seconds.toFixed(0)} s in all`,
  ];
  await mkdir(values.out, { recursive: true });
  await writeFile(join(values.out, 'webgpu-device.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(values.out, 'webgpu-device.md'), `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`webgpu-device: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
