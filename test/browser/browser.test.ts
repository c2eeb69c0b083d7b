// The engine in real Chromium (Debian's /usr/bin/chromium through playwright-core): loads from a URL with progress
// and from a File, generation and logits equal to Node's, abort mid-stream, the single-thread fallback without
// cross-origin isolation, download errors, and a screenshot of the demo page with a streamed answer.

import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BitNet } from '../../src/engine/bitnet.js';
import type { CompletionResult, GenerateOptions } from '../../src/engine/types.js';
import { startDemoServer, type DemoServer } from '../../src/demo/server.js';
import { tinyModel } from '../helpers/tiny-models.js';
import { untiedSpecs } from '../helpers/untied-model.js';
import { miniBytes } from '../hostile/mini-model.js';
import { encodeGgufHeader } from '../../src/gguf/writer.js';
import { planSyntheticModel } from '../../src/synth/synthesize.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
// Without the background-networking flags Chromium keeps trying to reach Google from a closed network.
const ARGS = ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

interface PageResult {
  ok: boolean;
  code?: string | undefined;
  message?: string | undefined;
  value?: unknown;
}

describe.skipIf(!HAVE_CHROMIUM)(HAVE_CHROMIUM ? 'browser (Chromium)' : `browser tests SKIPPED: ${CHROMIUM} is not installed (apt-get install -y chromium)`, () => {
  let browser: Browser;
  let isolated: DemoServer;
  let plain: DemoServer;
  let noRanges: DemoServer;
  let modelPath: string;
  let modelUrl: string;
  let node: BitNet;

  beforeAll(async () => {
    modelPath = await tinyModel('bitnet-b1.58', 'i2_s');
    [isolated, plain, noRanges, browser, node] = await Promise.all([
      startDemoServer({ models: [modelPath] }),
      startDemoServer({ models: [modelPath], isolate: false }),
      startDemoServer({ models: [modelPath], isolate: false, ranges: false }),
      chromium.launch({ executablePath: CHROMIUM, args: ARGS }),
      BitNet.load(modelPath, { backend: 'wasm', threads: 2 }),
    ]);
    modelUrl = `/models/${basename(modelPath)}`;
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([isolated?.close(), plain?.close(), noRanges?.close(), node?.dispose()]);
  });

  async function openPage(server: DemoServer): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => typeof window.bitnet === 'object');
    return page;
  }

  async function waitForText(page: Page, selector: string, text: string): Promise<void> {
    await page.waitForFunction(([sel, t]) => (document.querySelector(sel)?.textContent ?? '').includes(t), [selector, text] as const, { timeout: 30_000 });
  }

  /** Runs `body` in the page (as a function source); BitNetErrors come back as { ok: false, code, message }. */
  async function inPage(page: Page, body: string, arg: unknown = null): Promise<PageResult> {
    return page.evaluate(
      async ([src, a]) => {
        try {
          const fn = new Function('bitnet', 'arg', `return (async () => { ${src} })();`) as (b: unknown, x: unknown) => Promise<unknown>;
          return { ok: true, value: await fn(window.bitnet, a) };
        } catch (e) {
          const err = e as { code?: string; message?: string };
          return { ok: false, code: err.code, message: err.message };
        }
      },
      [body, arg] as const,
    );
  }

  it('loads from a URL with progress, on worker threads, and generates token for token as Node does (greedy and seeded)', async () => {
    const page = await openPage(isolated);
    const greedy: GenerateOptions = { maxTokens: 24, sampling: { kind: 'greedy' }, ignoreEos: true };
    const sampled: GenerateOptions = { maxTokens: 24, sampling: { kind: 'sample', temperature: 0.9, topP: 0.95, topK: 40 }, seed: 1234, ignoreEos: true };
    const prompt = 'The capital of France is';
    const r = await inPage(
      page,
      `const progress = [];
       const m = await bitnet.BitNet.load(arg.url, { threads: 2, onProgress: (p) => progress.push(p) });
       const greedy = await m.complete(arg.prompt, arg.greedy);
       const sampled = await m.complete(arg.prompt, arg.sampled);
       const ids = await m.tokenize(arg.prompt);
       const logits = await m.evaluateLogits(ids);
       const out = { info: m.info, fallbacks: m.fallbacks, progress, greedy, sampled, ids, logits: Array.from(logits), isLogits: logits instanceof Float32Array, isolated: crossOriginIsolated };
       await m.dispose();
       return out;`,
      { url: modelUrl, prompt, greedy, sampled },
    );
    expect(r).toMatchObject({ ok: true });
    const v = r.value as {
      info: { threads: number; backend: string; kernelSet: string; fileBytes: number };
      fallbacks: string[];
      progress: { loadedBytes: number; totalBytes: number; percent: number }[];
      greedy: CompletionResult;
      sampled: CompletionResult;
      ids: number[];
      logits: number[];
      isLogits: boolean;
      isolated: boolean;
    };
    const size = (await stat(modelPath)).size;
    expect(v.isolated).toBe(true);
    expect(v.info).toMatchObject({ threads: 2, backend: 'wasm', fileBytes: size });
    expect(v.fallbacks.filter((f) => f.includes('one thread'))).toEqual([]);
    // Progress: several events, increasing, ending at the file's size.
    expect(v.progress.length).toBeGreaterThan(1);
    expect(v.progress.every((p, i) => i === 0 || p.loadedBytes >= v.progress[i - 1].loadedBytes)).toBe(true);
    expect(v.progress.at(-1)).toMatchObject({ totalBytes: size, percent: 100 });
    // Same tokens and logits as Node on the same file.
    const nodeGreedy = await node.complete(prompt, greedy);
    const nodeSampled = await node.complete(prompt, sampled);
    expect(v.greedy.tokenIds).toEqual(nodeGreedy.tokenIds);
    expect(v.greedy.text).toBe(nodeGreedy.text);
    expect(v.sampled.tokenIds).toEqual(nodeSampled.tokenIds);
    expect(v.sampled.tokenIds).not.toEqual(v.greedy.tokenIds);
    expect(v.ids).toEqual(node.tokenize(prompt));
    const nodeLogits = await node.evaluateLogits(v.ids);
    expect(v.isLogits).toBe(true);
    expect(v.logits.length).toBe(nodeLogits.length);
    let maxDiff = 0;
    for (let i = 0; i < nodeLogits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(v.logits[i] - nodeLogits[i]));
    expect(maxDiff).toBe(0);
    await page.close();
  });

  it('loads from a File chosen in the page, and aborts a stream within a token', async () => {
    const page = await openPage(isolated);
    await page.locator('#model-file').setInputFiles(modelPath);
    const r = await inPage(
      page,
      `const file = document.getElementById('model-file').files[0];
       const m = await bitnet.BitNet.load(file, { threads: 2 });
       const ac = new AbortController();
       const got = [];
       let code;
       try {
         for await (const p of m.generate('Once upon a time', { maxTokens: 400, ignoreEos: true, signal: ac.signal })) {
           got.push(p.tokenIds.length);
           if (got.length === 3) ac.abort();
         }
       } catch (e) { code = e.code; }
       // the model is still usable after an abort
       const after = await m.complete('Hello', { maxTokens: 4, ignoreEos: true });
       const chunks = [];
       for await (const c of await m.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], stream: true, max_tokens: 5, temperature: 0 })) chunks.push(c);
       const whole = await m.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, temperature: 0 });
       const out = { name: m.info.fileName, code, pieces: got.length, after: after.tokenIds.length, chunks, whole };
       await m.dispose();
       let disposedCode;
       try { await m.complete('x'); } catch (e) { disposedCode = e.code; }
       return { ...out, disposedCode };`,
    );
    expect(r).toMatchObject({ ok: true });
    const v = r.value as { name: string; code: string; pieces: number; after: number; disposedCode: string; chunks: { choices: { delta: { content?: string }; finish_reason: string | null }[] }[]; whole: { choices: { message: { content: string } }[]; usage: { completion_tokens: number } } };
    expect(v.name).toBe(basename(modelPath));
    expect(v.code).toBe('ABORTED');
    expect(v.pieces).toBeGreaterThanOrEqual(3);
    expect(v.pieces).toBeLessThanOrEqual(5); // abort lands within one token (one more may be in flight)
    expect(v.after).toBe(4);
    expect(v.disposedCode).toBe('DISPOSED');
    const streamed = v.chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    expect(v.chunks.at(-1)?.choices[0].finish_reason).toBe('length');
    expect(streamed).toBe(v.whole.choices[0].message.content);
    expect(v.whole.usage.completion_tokens).toBe(5);
    await page.close();
  });

  it('without cross-origin isolation runs one thread and says so (load result, warning, receipt); strict refuses', async () => {
    const page = await openPage(plain);
    const r = await inPage(
      page,
      `const warnings = [];
       const m = await bitnet.BitNet.load(arg.url, { onWarning: (w) => warnings.push(w) });
       await m.complete('Hi', { maxTokens: 2 });
       const receipt = await m.lastReceipt();
       const out = { isolated: crossOriginIsolated, threads: m.info.threads, fallbacks: m.fallbacks, warnings, receiptFallbacks: receipt.backend.fallbacks };
       await m.dispose();
       let strictCode;
       try { await bitnet.BitNet.load(arg.url, { strict: true }); } catch (e) { strictCode = e.code; }
       return { ...out, strictCode };`,
      { url: modelUrl },
    );
    expect(r).toMatchObject({ ok: true });
    const v = r.value as { isolated: boolean; threads: number; fallbacks: string[]; warnings: string[]; receiptFallbacks: string[]; strictCode: string };
    expect(v.isolated).toBe(false);
    expect(v.threads).toBe(1);
    const note = v.fallbacks.find((f) => f.includes('not cross-origin isolated'));
    expect(note).toBeDefined();
    expect(v.warnings).toContain(note);
    expect(v.receiptFallbacks).toContain(note);
    expect(v.strictCode).toBe('STRICT_VIOLATION');
    // The demo page tells the user too.
    await waitForText(page, '#notice', 'not cross-origin isolated');
    await page.close();
  });

  it('embed in the page gives the same vectors as Node', async () => {
    const page = await openPage(isolated);
    const inputs = ['The cat sat on the mat.', 'A feline rested on the rug.'];
    const r = await inPage(
      page,
      `const m = await bitnet.BitNet.load(arg.url, { threads: 2, cache: false });
       const mean = await m.embed(arg.inputs);
       const last = await m.embed(arg.inputs, { pooling: 'last', normalize: false });
       await m.dispose();
       return { mean: mean.embeddings.map((e) => Array.from(e)), last: last.embeddings.map((e) => Array.from(e)), usage: mean.usage, isF32: mean.embeddings[0] instanceof Float32Array };`,
      { url: modelUrl, inputs },
    );
    expect(r).toMatchObject({ ok: true });
    const v = r.value as { mean: number[][]; last: number[][]; usage: { promptTokens: number }; isF32: boolean };
    const mean = await node.embed(inputs);
    const last = await node.embed(inputs, { pooling: 'last', normalize: false });
    expect(v.isF32).toBe(true);
    expect(v.usage.promptTokens).toBe(mean.usage.promptTokens);
    // the same file and numerics: Chromium runs relaxed-simd, Node 20 simd128, which give bit-identical results
    expect(v.mean).toEqual(mean.embeddings.map((e) => Array.from(e)));
    expect(v.last).toEqual(last.embeddings.map((e) => Array.from(e)));
    await page.close();
  });

  it('a second load comes from the persistent cache without the network; entries are listed, verified and deletable', async () => {
    const page = await openPage(isolated);
    const modelRequests: string[] = [];
    page.context().on('request', (r) => {
      if (r.url().includes('/models/')) modelRequests.push(`${r.method()} ${r.headers().range ?? 'whole'}`);
    });
    const size = (await stat(modelPath)).size;
    const loadOnce = `const m = await bitnet.BitNet.load(arg.url, { threads: 2 });
       const r = await m.complete('Hello', { maxTokens: 6, sampling: { kind: 'greedy' }, ignoreEos: true });
       const out = { from: m.loadedFrom, note: m.cacheNote, ids: r.tokenIds, list: await bitnet.BitNet.cachedModels() };
       await m.dispose();
       return out;`;
    type Once = { from: string; note: string; ids: number[]; list: { url: string; bytes: number }[] };
    const first = await inPage(page, loadOnce, { url: modelUrl });
    expect(first).toMatchObject({ ok: true, value: { from: 'network+cache', note: '' } });
    const requestsAfterFirst = modelRequests.length;
    expect(requestsAfterFirst).toBeGreaterThan(0);
    const second = await inPage(page, loadOnce, { url: modelUrl });
    expect(second).toMatchObject({ ok: true, value: { from: 'cache' } });
    expect(modelRequests.length).toBe(requestsAfterFirst); // no network at all for the second load
    const a = first.value as Once;
    const b = second.value as Once;
    expect(b.ids).toEqual(a.ids);
    expect(b.list).toEqual([expect.objectContaining({ url: new URL(modelUrl, isolated.url).href, bytes: size })]);

    // A damaged copy (truncated to its first half) is noticed, dropped and downloaded again.
    const damaged = await inPage(
      page,
      `const root = await navigator.storage.getDirectory();
       const dir = await root.getDirectoryHandle('bitnet-models');
       for await (const name of dir.keys()) {
         if (name === 'index.json') continue;
         const h = await dir.getFileHandle(name);
         const w = await h.createWritable({ keepExistingData: true });
         await w.truncate(Math.floor((await h.getFile()).size / 2));
         await w.close();
       }
       const m = await bitnet.BitNet.load(arg.url);
       const from = m.loadedFrom;
       await m.dispose();
       return from;`,
      { url: modelUrl },
    );
    expect(damaged).toMatchObject({ ok: true, value: 'network+cache' });
    expect(modelRequests.length).toBeGreaterThan(requestsAfterFirst);

    // Deleting: by the URL as given (relative), then the list is empty and cache: false never stores.
    const deleted = await inPage(page, 'return [await bitnet.BitNet.deleteCachedModel(arg.url), await bitnet.BitNet.deleteCachedModel(arg.url), (await bitnet.BitNet.cachedModels()).length];', { url: modelUrl });
    expect(deleted).toMatchObject({ ok: true, value: [true, false, 0] });
    const uncached = await inPage(page, 'const m = await bitnet.BitNet.load(arg.url, { cache: false }); const f = m.loadedFrom; await m.dispose(); return [f, (await bitnet.BitNet.cachedModels()).length];', { url: modelUrl });
    expect(uncached).toMatchObject({ ok: true, value: ['network', 0] });
    await page.close();
  });

  it('a model that cannot fit a wasm32 memory is refused from its header, before the download, naming the sizes', async () => {
    // A 2b-4t-shaped header with F32 weights (8+ GB), as a sparse file: only the header has bytes on disk.
    const plan = await planSyntheticModel({ shape: '2b-4t', arch: 'bitnet-b1.58', weightType: 'f32', embedType: 'f16', seed: 1 });
    const header = encodeGgufHeader({ alignment: 32, metadata: plan.metadata, tensors: plan.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: () => new Uint8Array(0), byteSize: t.byteSize })) });
    const dataBytes = plan.tensors.reduce((sum, t) => sum + Math.ceil(t.byteSize / 32) * 32, 0);
    const dir = await mkdtemp(join(tmpdir(), 'bitnet-huge-'));
    const huge = join(dir, 'huge-f32.gguf');
    await writeFile(huge, header);
    await truncate(huge, header.length + dataBytes);
    const server = await startDemoServer({ models: [huge] });
    try {
      const page = await openPage(server);
      const r = await inPage(page, 'await bitnet.BitNet.load(arg); return "loaded";', '/models/huge-f32.gguf');
      expect(r).toMatchObject({ ok: false, code: 'MODEL_TOO_LARGE' });
      expect(r.message).toMatch(/needs \d+\.\d+ GiB of WebAssembly memory \(weights \d+\.\d+ GiB, KV cache .*\); a wasm32 memory holds at most 4\.00 GiB/);
      expect(server.modelBytesRequested).toBeGreaterThan(1 << 20);
      expect(server.modelBytesRequested).toBeLessThan(32 * 2 ** 20); // the header (the LLaMA-3 vocabulary is most of it), not 8 GB
      expect(await inPage(page, 'return (await bitnet.BitNet.cachedModels()).length;')).toMatchObject({ ok: true, value: 0 });
      // the webgpu backend holds weights in GPU buffers: no wasm32 refusal (this page has no WebGPU adapter, so the
      // load stops there, before the weights)
      const gpuLoad = await inPage(page, 'await bitnet.BitNet.load(arg, { backend: "webgpu", cache: false }); return "loaded";', '/models/huge-f32.gguf');
      expect(gpuLoad).toMatchObject({ ok: false, code: 'BACKEND_UNAVAILABLE' });
      expect(server.modelBytesRequested).toBeLessThan(64 * 2 ** 20);
      await page.close();
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a model with an untied token embedding (kept in host memory) gives in the page the logits and tokens of its tied twin in Node', async () => {
    const { tied, untied } = untiedSpecs('Q8_0');
    const dir = await mkdtemp(join(tmpdir(), 'bitnet-untied-'));
    const file = join(dir, 'untied.gguf');
    await writeFile(file, miniBytes(untied));
    const server = await startDemoServer({ models: [file] });
    const twin = await BitNet.load(miniBytes(tied), { backend: 'wasm', threads: 2 });
    try {
      const page = await openPage(server);
      const ids = [258, 84, 104, 101, 32, 99, 97, 116];
      const opts: GenerateOptions = { maxTokens: 12, sampling: { kind: 'greedy' }, ignoreEos: true };
      const r = await inPage(
        page,
        `const m = await bitnet.BitNet.load(arg.url, { threads: 2 });
         const logits = await m.evaluateLogits(arg.ids);
         const done = await m.complete(arg.ids, arg.opts);
         const out = { logits: Array.from(logits), tokens: done.tokenIds, backend: m.info.backend };
         await m.dispose();
         return out;`,
        { url: '/models/untied.gguf', ids, opts },
      );
      expect(r).toMatchObject({ ok: true });
      const v = r.value as { logits: number[]; tokens: number[]; backend: string };
      expect(v.backend).toBe('wasm');
      const want = await twin.evaluateLogits(ids);
      expect(v.logits.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) if (!Object.is(v.logits[i], want[i])) expect.fail(`logit ${i}: page ${v.logits[i]}, tied twin in Node ${want[i]}`);
      expect(v.tokens).toEqual((await twin.complete(ids, opts)).tokenIds);
      await page.close();
    } finally {
      await twin.dispose();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a failed download is a BitNetError with a clear message (404, no Range support, bad host)', async () => {
    const page = await openPage(plain);
    const load = (url: string): Promise<PageResult> => inPage(page, 'await bitnet.BitNet.load(arg); return "loaded";', url);
    const missing = await load('/models/missing.gguf');
    expect(missing).toMatchObject({ ok: false, code: 'HTTP_ERROR' });
    expect(missing.message).toContain('404');
    const refused = await load('http://127.0.0.1:9/model.gguf');
    expect(refused).toMatchObject({ ok: false, code: 'NETWORK_ERROR' });
    // Same-origin server without ranges: the page of that server.
    const page2 = await openPage(noRanges);
    const same = await inPage(page2, 'await bitnet.BitNet.load(arg, { cache: false }); return "loaded";', modelUrl);
    expect(same).toMatchObject({ ok: false, code: 'RANGE_UNSUPPORTED' });
    // With the cache (the default) the whole file is fetched with one plain GET, which such a server serves.
    const cached = await inPage(page2, 'const m = await bitnet.BitNet.load(arg); const from = m.loadedFrom; await m.dispose(); await bitnet.BitNet.clearModelCache(); return from;', modelUrl);
    expect(cached).toMatchObject({ ok: true, value: 'network+cache' });
    // The demo UI shows the error.
    await page2.locator('#served-model option').first().waitFor({ state: 'attached' });
    await page2.getByRole('tab', { name: 'URL' }).click();
    await page2.locator('#model-url').fill('/models/nothing-here.gguf');
    await page2.locator('#load').click();
    await waitForText(page2, '#notice', 'HTTP 404');
    await page.close();
    await page2.close();
  });

  it('the demo page streams a chat answer (screenshot), the same text as Node', async () => {
    const page = await openPage(isolated);
    await page.setViewportSize({ width: 1200, height: 760 });
    await page.locator('#served-model option').first().waitFor({ state: 'attached' });
    await page.locator('#max-tokens').fill('40');
    await page.locator('#load').click();
    await page.waitForFunction(() => !(document.getElementById('prompt') as HTMLTextAreaElement).disabled, null, { timeout: 60_000 });
    const question = 'Tell me about ternary weights.';
    await page.locator('#prompt').fill(question);
    await page.locator('#send').click();
    const answer = page.locator('.msg.assistant').first();
    await answer.and(page.locator('[data-done]')).waitFor({ timeout: 60_000 });
    const text = await answer.evaluate((el) => el.firstChild?.textContent ?? '');
    const expected = await node.chatComplete([{ role: 'user', content: question }], { maxTokens: 40, seed: 42, sampling: { kind: 'sample', temperature: 0.7, topP: 0.95 } });
    expect(text.length).toBeGreaterThan(0);
    expect(text).toBe(expected.text);
    await waitForText(page, '#stat-tps', 'tok/s');
    expect(await page.locator('#stat-threads').textContent()).toMatch(/^\d+$/);
    const dir = await mkdtemp(join(tmpdir(), 'bitnet-demo-shot-'));
    const shot = join(dir, 'demo.png');
    await page.screenshot({ path: shot });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
    console.log(`demo screenshot: ${shot}`);
    await page.close();
  });
});
