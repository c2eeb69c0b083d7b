// `npm run bench:browser [-- --shape 2b-4t --threads 2 --pp 128 --tg 64 --runs 3 --json OUT --wllama --format i2_s --skip-cache-load]`: the engine in headless
// Chromium (Debian's /usr/bin/chromium, worker-hosted, cross-origin isolated) beside the same engine in Node, on the
// bench's synthetic I2_S and TQ2_0 files of one shape: prefill and decode tok/s (medians of --runs fresh prompts),
// the browser/Node ratio (the cost of WASM in a browser), and the time from BitNet.load to the first token when the
// file comes from the browser's persistent model cache. Memory: the page's (Chromium: the whole agent cluster after the
// runs) and Node's RSS right after BitNet.load. --format runs one of the two files only; --skip-cache-load the last part.

import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { ensureBenchModels, benchCacheDir } from '../src/bench/models.js';
import { acquireBenchLock } from '../src/bench/options.js';
import { median } from '../src/bench/report.js';
import { startDemoServer } from '../src/demo/server.js';
import { BitNet } from '../src/engine/bitnet.js';
import { openGguf } from '../src/gguf/reader.js';
import { createTokenizer } from '../src/tokenizer/tokenizer.js';
import type { GenerateOptions } from '../src/engine/types.js';
import { findPackage } from '../src/package-info.js';
import { getShape, SHAPE_NAMES, type ShapeName } from '../src/synth/shapes.js';

const CHROMIUM = '/usr/bin/chromium';
// ForceEagerMeasureMemory: performance.measureUserAgentSpecificMemory() answers at once instead of at the next GC.
const ARGS = ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--enable-blink-features=ForceEagerMeasureMemory'];

interface Row {
  readonly runtime: 'node' | 'chromium' | 'wllama (chromium)';
  readonly file: string;
  readonly prefillTokS: number | null;
  readonly decodeTokS: number | null;
  /**
   * Chromium: memory of the page and its workers (wasm memory included) after the runs, from
   * measureUserAgentSpecificMemory. Node: the process RSS right after BitNet.load.
   */
  readonly memoryBytes?: number | null;
}

/** A fresh prompt per run: ordinary token ids (no special tokens), different from the first one on. */
function promptIds(n: number, run: number, vocab: number): number[] {
  const ids = [128000];
  for (let i = 1; i < n; i++) ids.push(1000 + ((i * 7919 + run * 104729) % Math.min(100_000, vocab - 1000)));
  return ids;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      shape: { type: 'string', default: '2b-4t' },
      threads: { type: 'string', default: '2' },
      pp: { type: 'string', default: '128' },
      tg: { type: 'string', default: '64' },
      runs: { type: 'string', default: '3' },
      json: { type: 'string' },
      wllama: { type: 'boolean', default: false },
      format: { type: 'string' },
      'skip-cache-load': { type: 'boolean', default: false },
    },
  });
  const shape = values.shape as ShapeName;
  if (!SHAPE_NAMES.includes(shape)) throw new Error(`--shape: one of ${SHAPE_NAMES.join(', ')}`);
  const [threads, pp, tg, runs] = [values.threads, values.pp, values.tg, values.runs].map(Number);
  if (![threads, pp, tg, runs].every((n) => Number.isInteger(n) && n > 0)) throw new Error('--threads, --pp, --tg and --runs take positive integers');
  if (values.format !== undefined && values.format !== 'i2_s' && values.format !== 'tq2_0') throw new Error('--format: i2_s or tq2_0');
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is not installed (apt-get install -y chromium)`);
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const vocab = getShape(shape).vocabSize;
  await mkdir(benchCacheDir(), { recursive: true });
  const release = await acquireBenchLock(join(benchCacheDir(), 'bench.lock'), log);
  try {
    const { model, peerModel } = await ensureBenchModels(shape, benchCacheDir(), log, { withPeer: true });
    const files = [...(values.format === 'tq2_0' ? [] : [model]), ...(peerModel === null || values.format === 'i2_s' ? [] : [peerModel])];
    const options: GenerateOptions = { maxTokens: tg, sampling: { kind: 'greedy' }, ignoreEos: true };
    log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const rows: Row[] = [];

    // ---- Node ----
    for (const file of files) {
      const m = await BitNet.load(file, { backend: 'wasm', threads });
      const rssAfterLoad = process.memoryUsage().rss;
      try {
        await m.complete(promptIds(8, 99, vocab), { ...options, maxTokens: 4 }); // warm-up (tier-up, page faults)
        const prefill: number[] = [];
        const decode: number[] = [];
        for (let r = 0; r < runs; r++) {
          const res = await m.complete(promptIds(pp, r, vocab), options);
          prefill.push(res.timings.prefillTokPerS);
          decode.push(res.timings.decodeTokPerS);
        }
        rows.push({ runtime: 'node', file, prefillTokS: median(prefill), decodeTokS: median(decode), memoryBytes: rssAfterLoad });
        log(`node     ${file}: prefill ${prefill.map((x) => x.toFixed(1)).join(' ')}, decode ${decode.map((x) => x.toFixed(1)).join(' ')} tok/s (${m.info.kernelSet})`);
      } finally {
        await m.dispose();
      }
    }

    // ---- Chromium ----
    const wllamaDir = join(findPackage().root, 'node_modules', '@wllama', 'wllama', 'esm');
    const haveWllama = existsSync(join(wllamaDir, 'index.js'));
    const server = await startDemoServer({ models: files, staticDirs: haveWllama ? { '/wllama/': wllamaDir } : {} });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    let cacheLoadMs: number | null = null;
    const browserVersion = `Chromium ${browser.version()}`;
    try {
      const page = await browser.newPage();
      await page.goto(server.url);
      await page.waitForFunction(() => typeof window.bitnet === 'object');
      for (const file of files) {
        const url = `/models/${encodeURIComponent(file.split('/').pop() ?? '')}`;
        const out = await page.evaluate(
          async ({ url, threads, runs, prompts, warm, options }) => {
            const m = await window.bitnet.BitNet.load(url, { threads, cache: false });
            try {
              await m.complete(warm, { ...options, maxTokens: 4 });
              const prefill: number[] = [];
              const decode: number[] = [];
              for (let r = 0; r < runs; r++) {
                const res = await m.complete(prompts[r], options);
                prefill.push(res.timings.prefillTokPerS);
                decode.push(res.timings.decodeTokPerS);
              }
              // the whole agent cluster: the page, the engine worker and its thread workers, their wasm memory
              const measure = (performance as Performance & { measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }> }).measureUserAgentSpecificMemory;
              const memoryBytes = crossOriginIsolated && measure !== undefined ? (await measure.call(performance)).bytes : null;
              return { prefill, decode, kernelSet: m.info.kernelSet, threads: m.info.threads, memoryBytes };
            } finally {
              await m.dispose();
            }
          },
          { url, threads, runs, prompts: Array.from({ length: runs }, (_, r) => promptIds(pp, r, vocab)), warm: promptIds(8, 99, vocab), options },
        );
        rows.push({ runtime: 'chromium', file, prefillTokS: median(out.prefill), decodeTokS: median(out.decode), memoryBytes: out.memoryBytes });
        log(`chromium ${file}: prefill ${out.prefill.map((x) => x.toFixed(1)).join(' ')}, decode ${out.decode.map((x) => x.toFixed(1)).join(' ')} tok/s (${out.kernelSet} x${out.threads})`);
      }
      // Load from the persistent cache: store once, then time BitNet.load + a 1-token completion from a fresh proxy,
      // three times (one sample on a shared machine says little); the median is reported, every sample logged.
      if (values['skip-cache-load'] !== true) {
        const samples = await page.evaluate(
          async ({ url, threads }) => {
            const first = await window.bitnet.BitNet.load(url, { threads });
            await first.dispose();
            const out: (number | null)[] = [];
            for (let i = 0; i < 3; i++) {
              const t0 = performance.now();
              const m = await window.bitnet.BitNet.load(url, { threads });
              await m.complete('Hello', { maxTokens: 1, sampling: { kind: 'greedy' } });
              const ms = performance.now() - t0;
              out.push(m.loadedFrom === 'cache' ? ms : null);
              await m.dispose();
            }
            await window.bitnet.BitNet.clearModelCache();
            return out;
          },
          { url: `/models/${encodeURIComponent(model.split('/').pop() ?? '')}`, threads },
        );
        log(`cache load to first token, ${model.split('/').pop()}: ${samples.map((x) => (x === null ? 'not from cache' : `${(x / 1000).toFixed(2)} s`)).join(', ')}`);
        cacheLoadMs = samples.includes(null) ? null : median(samples as number[]);
      }
      // ---- wllama (llama.cpp compiled to wasm): the TQ2_0 file only (it cannot read I2_S) ----
      if (values.wllama === true && haveWllama && peerModel !== null) {
        // the same prompts as text (wllama tokenizes itself): only the file's tokenizer is needed, not its weights
        const { source, header } = await openGguf(peerModel);
        await source.close?.();
        const tokenizer = createTokenizer(header.metadata);
        const texts = Array.from({ length: runs }, (_, r) => tokenizer.decode(promptIds(pp, r, vocab).slice(1)));
        // wllama 3.13 serializes each completion's text as JSON and fails ("incomplete UTF-8 string", then "Invalid
        // typed array length") when the text ends inside a UTF-8 sequence, which random weights produce within a few
        // tokens: its runs ban the tokens that are not whole UTF-8 by themselves (a logit bias costs nothing measurable)
        const fatal = new TextDecoder('utf-8', { fatal: true });
        const partialUtf8: number[] = [];
        for (let id = 0; id < vocab; id++) {
          try {
            fatal.decode(tokenizer.tokenBytes(id));
          } catch {
            partialUtf8.push(id);
          }
        }
        log(`wllama: ${partialUtf8.length} tokens that are not whole UTF-8 are banned in its runs`);
        const wlPage = await browser.newPage();
        await wlPage.goto(server.url);
        const evaluation = wlPage.evaluate(
          async ({ url, threads, texts, tg, partialUtf8 }) => {
            const mod = (await import('/wllama/index.js' as string)) as { Wllama: new (paths: Record<string, string>, cfg?: object) => WllamaLike };
            interface Timings { prompt_n: number; prompt_per_second: number; predicted_n: number; predicted_per_second: number }
            interface WllamaLike {
              loadModelFromUrl(url: string, params: object): Promise<void>;
              loadModel(blobs: Blob[], params: object): Promise<void>;
              createCompletion(o: object): Promise<{ timings?: Timings }>;
              exit(): Promise<void>;
            }
            const w = new mod.Wllama({ default: '/wllama/wasm/wllama.wasm' }, { suppressNativeLog: true });
            let stage = 'load';
            // wllama can hang rather than fail (a crashed worker): every stage gets a deadline
            const deadline = <T,>(p: Promise<T>, ms: number): Promise<T> =>
              Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer after ${ms / 1000} s`)), ms))]);
            try {
              const blob = await (await fetch(url)).blob();
              await deadline(w.loadModel([blob], { n_threads: threads, n_ctx: 1024, n_batch: 128, n_gpu_layers: 0 }), 300_000);
              stage = 'warm-up completion';
              const logit_bias = partialUtf8.map((id) => [id, false]);
              await deadline(w.createCompletion({ prompt: 'Hello', max_tokens: 4, temperature: 0, logit_bias }), 120_000);
              stage = 'completions';
              const out: Timings[] = [];
              for (const text of texts) {
                const r = await deadline(w.createCompletion({ prompt: text, max_tokens: tg, temperature: 0, ignore_eos: true, cache_prompt: false, logit_bias }), 600_000);
                if (r.timings !== undefined) out.push(r.timings);
              }
              return { ok: true as const, out };
            } catch (e) {
              return { ok: false as const, error: `${stage}: ${e instanceof Error ? e.message : String(e)}` };
            } finally {
              await deadline(w.exit(), 10_000).catch(() => undefined);
            }
          },
          { url: `/models/${encodeURIComponent(peerModel.split('/').pop() ?? '')}`, threads, texts, tg, partialUtf8 },
        );
        // the page itself can hang inside wllama (its in-page deadlines then never fire): a deadline from outside too
        const wl = await Promise.race([evaluation, new Promise<{ ok: false; error: string }>((resolve) => setTimeout(() => resolve({ ok: false, error: 'no answer from the page in 15 min' }), 900_000))]);
        evaluation.catch(() => undefined);
        await wlPage.close().catch(() => undefined);
        if (wl.ok && wl.out.length > 0) {
          rows.push({ runtime: 'wllama (chromium)', file: peerModel, prefillTokS: median(wl.out.map((t) => t.prompt_per_second)), decodeTokS: median(wl.out.map((t) => t.predicted_per_second)) });
          log(`wllama   ${peerModel}: prompt ${wl.out.map((t) => t.prompt_n).join(' ')} tokens; prefill ${wl.out.map((t) => t.prompt_per_second.toFixed(1)).join(' ')}, decode ${wl.out.map((t) => t.predicted_per_second.toFixed(1)).join(' ')} tok/s`);
        } else log(`wllama: no result (${wl.ok ? 'no timings' : wl.error})`);
      } else log(values.wllama === true ? 'wllama: not installed (npm install); its column is left out' : 'wllama: left out (--wllama runs it)');
    } finally {
      await browser.close();
      await server.close();
    }

    // ---- report ----
    const lines = [`shape ${shape}, ${threads} threads, pp${pp} / tg${tg}, median of ${runs} runs; Node ${process.versions.node}, ${browserVersion}`, '', '| file | runtime | prefill tok/s | decode tok/s | decode / our Node decode | memory (page; Node: RSS after load) |', '| --- | --- | --- | --- | --- | --- |'];
    for (const r of rows) {
      const nodeRow = rows.find((x) => x.runtime === 'node' && x.file === r.file);
      const ratio = r.runtime !== 'node' && nodeRow?.decodeTokS != null && r.decodeTokS != null ? (r.decodeTokS / nodeRow.decodeTokS).toFixed(2) : '';
      lines.push(`| ${r.file.split('/').pop()} | ${r.runtime} | ${r.prefillTokS?.toFixed(1) ?? 'n/a'} | ${r.decodeTokS?.toFixed(1) ?? 'n/a'} | ${ratio} | ${r.memoryBytes == null ? '' : `${(r.memoryBytes / 2 ** 30).toFixed(2)} GiB`} |`);
    }
    lines.push(
      '',
      values['skip-cache-load'] === true
        ? "load from the browser's model cache: not measured (--skip-cache-load)"
        : `load from the browser's model cache to the first token (${model.split('/').pop()}, median of 3): ${cacheLoadMs === null ? 'n/a' : `${(cacheLoadMs / 1000).toFixed(2)} s`}`,
    );
    lines.push(`load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify({ shape, threads, pp, tg, runs, rows, cacheLoadMs }, null, 2)}\n`);
  } finally {
    await release();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:browser: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
