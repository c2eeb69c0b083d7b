// `npm run bench:webgpu [-- --shape 2b-4t|small|tiny --pp 128 --tg 64 --node --threads 2 --load-only --skip-wasm --json OUT]`: the webgpu
// backend on a synthetic model (written to the bench cache in the temp directory, never the repository), in headless
// Chromium (default) or in Node through Dawn (--node), beside the wasm backend in Node on the same file: load time
// (on WebGPU: reading the file and uploading the weights), warm-up (shader compilation), prefill and decode tok/s,
// time to first token, and the GPU memory the backend allocated (peak of live buffers).
//
// Without a GPU, WebGPU runs on SwiftShader (a CPU rasterizer): correct, but slow. The 2b-4t shape then takes hours;
// `--shape tiny --pp 16 --tg 4` finishes in minutes. The figures say which adapter ran them.

import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { benchCacheDir, ensureBenchModels } from '../src/bench/models.js';
import { acquireBenchLock, parsePositiveInt } from '../src/bench/options.js';
import { startDemoServer } from '../src/demo/server.js';
import { loadNodeGpu } from '../src/kernels/webgpu/node-gpu.js';
import { findPackage } from '../src/package-info.js';
import { SHAPE_NAMES, type ShapeName } from '../src/synth/shapes.js';
import { countGpuMemory } from './gpu-memory.js';
import { measure, type Measured } from './webgpu-measure.js';
import type { PageResult } from './webgpu-page.js';

const CHROMIUM = '/usr/bin/chromium';
// SwiftShader's WebGPU needs the unsafe-WebGPU and Vulkan switches (as test/browser/webgpu.test.ts); no calls home.
const ARGS = ['--no-sandbox', '--headless=new', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Chromium's SwiftShader Vulkan driver: Dawn in Node finds no adapter without a driver, and this one ships with Debian's chromium. */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

interface Row extends Measured {
  readonly runtime: string;
  readonly adapter: string;
  readonly gpuPeakBytes: number | null;
}

async function inChromium(model: string, pp: number, tg: number, log: (l: string) => void): Promise<PageResult> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is not installed (apt-get install -y chromium); --node runs Dawn instead`);
  const root = findPackage().root;
  const bundle = await build({ entryPoints: [join(root, 'bench', 'webgpu-page.ts')], bundle: true, platform: 'browser', format: 'esm', target: 'es2022', write: false, logLevel: 'silent' });
  const script = bundle.outputFiles[0].contents;
  const server = await startDemoServer({ models: [model] });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    log(`chromium ${browser.version()}: loading ${model}`);
    const page = await browser.newPage();
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') log(`page console: ${m.text()}`);
    });
    // The bench page is answered from memory, on the demo server's origin (the model is fetched from it).
    await page.route('**/bench/**', (route) => {
      const isScript = route.request().url().endsWith('/page.js');
      return route.fulfill({
        status: 200,
        contentType: isScript ? 'text/javascript' : 'text/html',
        body: isScript ? Buffer.from(script) : '<!doctype html><script type="module" src="page.js"></script>',
      });
    });
    await page.goto(`${server.url}/bench/index.html`);
    await page.waitForFunction(() => 'webgpuBench' in globalThis);
    return await page.evaluate(
      async ({ url, pp, tg }) => {
        const api = (globalThis as unknown as { webgpuBench: { run(u: string, p: number, t: number): Promise<PageResult> } }).webgpuBench;
        return api.run(url, pp, tg);
      },
      { url: `/models/${encodeURIComponent(model.split('/').pop() ?? '')}`, pp, tg },
    );
  } finally {
    await browser.close();
    await server.close();
  }
}

async function inNode(model: string, pp: number, tg: number): Promise<Row> {
  if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const counter = countGpuMemory(await loadNodeGpu());
  const r = await measure(model, { backend: 'webgpu', gpu: counter.gpu }, pp, tg);
  return { ...r, runtime: `node ${process.versions.node} + dawn`, adapter: counter.adapter(), gpuPeakBytes: counter.peakBytes() };
}

const mib = (b: number | null): string => (b === null ? '' : `${(b / 2 ** 20).toFixed(0)} MiB`);
const fixed = (x: number | null): string => (x === null ? 'skipped' : x.toFixed(2));
const seconds = (ms: number | null): string => (ms === null ? 'skipped' : `${(ms / 1000).toFixed(2)} s`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      shape: { type: 'string', default: '2b-4t' },
      pp: { type: 'string', default: '128' },
      tg: { type: 'string', default: '64' },
      threads: { type: 'string', default: '2' },
      node: { type: 'boolean', default: false },
      'skip-wasm': { type: 'boolean', default: false },
      'load-only': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const shape = values.shape as ShapeName;
  if (!SHAPE_NAMES.includes(shape)) throw new Error(`--shape: one of ${SHAPE_NAMES.join(', ')}`);
  const loadOnly = values['load-only'] === true;
  const pp = loadOnly ? 0 : parsePositiveInt('--pp', values.pp);
  const tg = parsePositiveInt('--tg', values.tg);
  const threads = parsePositiveInt('--threads', values.threads);
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  await mkdir(benchCacheDir(), { recursive: true });
  const release = await acquireBenchLock(join(benchCacheDir(), 'bench.lock'), log);
  try {
    const { model } = await ensureBenchModels(shape, benchCacheDir(), log);
    log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const rows: Row[] = [];
    if (values['skip-wasm'] !== true) {
      const r = await measure(model, { backend: 'wasm', threads }, pp, tg);
      rows.push({ ...r, runtime: `node ${process.versions.node}`, adapter: '', gpuPeakBytes: null });
      log(`wasm: prefill ${fixed(r.prefillTokPerS)} tok/s, decode ${fixed(r.decodeTokPerS)} tok/s`);
    }
    if (values.node === true) rows.push(await inNode(model, pp, tg));
    else {
      const r = await inChromium(model, pp, tg, log);
      rows.push({ ...r, runtime: 'chromium', gpuPeakBytes: r.gpuPeakBytes });
    }
    const lines = [
      `shape ${shape} (${model.split('/').pop()}), ${loadOnly ? 'load only' : `pp${pp} / tg${tg}, one run each, greedy`}; wasm on ${threads} threads`,
      '',
      '| backend | runtime | adapter | load (webgpu: read + upload) | warm-up | prefill tok/s | decode tok/s | TTFT | GPU memory (peak) |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ];
    for (const r of rows) {
      lines.push(
        `| ${r.backend} (${r.kernelSet}) | ${r.runtime} | ${r.adapter} | ${seconds(r.loadMs)} | ${seconds(r.warmupMs)} | ${fixed(r.prefillTokPerS)} | ${fixed(r.decodeTokPerS)} | ${seconds(r.ttftMs)} | ${mib(r.gpuPeakBytes)} |`,
      );
    }
    lines.push('', `load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify({ shape, pp, tg, threads, rows }, null, 2)}\n`);
  } finally {
    await release();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:webgpu: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
