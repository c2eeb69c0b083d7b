// The webgpu backend in headless Chromium on SwiftShader (no GPU needed; Debian's /usr/bin/chromium through
// playwright-core, one launch for the file): the shared kernel conformance suite op by op against its float64
// expectations (tolerances stated per op in the suite), once more with weights split into small GPU buffers, streamed
// weights, and tiny models of the three archs (one with the real vocabulary) end to end against the wasm backend
// (cosine >= 0.9999 and equal argmax per position, equal greedy tokens).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BitNet } from '../../src/engine/bitnet.js';
import type { SynthArch } from '../../src/inspect/arch-spec.js';
import type { SynthWeightType } from '../../src/synth/synthesize.js';
import { rowAgreement } from '../helpers/logit-rows.js';
import { quickModel, tinyModel } from '../helpers/tiny-models.js';
import { miniBytes, miniSpec, type MiniArch, type MiniWeightType } from '../hostile/mini-model.js';
import type { TestReport } from './vitest-shim.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
// SwiftShader's WebGPU needs the unsafe-WebGPU and Vulkan switches; the background-networking ones keep Chromium from
// calling Google on a closed network.
const ARGS = ['--no-sandbox', '--headless=new', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

interface PageApi {
  adapter(): Promise<string>;
  conformance(filter: string, maxBindingBytes?: number): Promise<TestReport[]>;
  streamed(): Promise<{ same: boolean; outOfOrder: string; unaligned: string; nanScale: string }>;
  endToEnd(url: string, tokens: number[], nGreedy: number): Promise<{ logits: string; greedy: number[]; backend: string; kernels: string[] }>;
  kvRefused(url: string, a: number[], b: number[], heldBlocks: number): Promise<{ alone: Outcome[]; together: Outcome[]; refusals: number; allocated: number; later: Outcome }>;
}

type Outcome = { tokens: number[] } | { error: string };

function summary(reports: readonly TestReport[]): string {
  const failed = reports.filter((r) => !r.ok);
  const shown = failed.slice(0, 20).map((r) => `${r.name}\n    ${(r.error ?? '').split('\n').slice(0, 3).join('\n    ')}`);
  return failed.length > shown.length ? `${shown.join('\n')}\n(${failed.length - shown.length} more)` : shown.join('\n');
}

describe.skipIf(!HAVE_CHROMIUM)(HAVE_CHROMIUM ? 'webgpu backend in Chromium (SwiftShader)' : `webgpu browser tests SKIPPED: ${CHROMIUM} is not installed (apt-get install -y chromium)`, () => {
  let browser: Browser;
  let server: Server;
  let page: Page;
  let base = '';
  let modelDir = '';

  beforeAll(async () => {
    modelDir = dirname(await tinyModel('bitnet-b1.58', 'i2_s'));
    const bundle = await build({
      entryPoints: [join(import.meta.dirname, 'webgpu-page.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
      alias: { vitest: join(import.meta.dirname, 'vitest-shim.ts') },
    });
    const script = bundle.outputFiles[0].contents;
    server = createServer((req, res) => {
      const model = /^\/models\/([\w.-]+\.gguf)$/.exec(req.url ?? '');
      if (req.url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      else if (req.url === '/models/mini.gguf') res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(miniBytes(miniSpec()));
      else if (model !== null) {
        readFile(join(modelDir, model[1])).then(
          (bytes) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes),
          () => res.writeHead(404).end(),
        );
      } else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/page.js"></script>');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    page = await browser.newPage();
    await page.goto(`${base}/`);
    await page.waitForFunction(() => 'webgpuTests' in globalThis);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => server?.close(done));
  });

  const call = <K extends keyof PageApi>(name: K, ...args: Parameters<PageApi[K]>): Promise<Awaited<ReturnType<PageApi[K]>>> =>
    page.evaluate(
      async ([n, a]) => {
        const api = (globalThis as unknown as { webgpuTests: Record<string, (...x: unknown[]) => Promise<unknown>> }).webgpuTests;
        return api[n](...a);
      },
      [name, args] as const,
    ) as Promise<Awaited<ReturnType<PageApi[K]>>>;

  it('SwiftShader gives a WebGPU adapter', async () => {
    expect(await call('adapter')).toMatch(/swiftshader/i);
  });

  it('the shared conformance suite passes on the webgpu backend', async () => {
    // BITNET_WEBGPU_FILTER narrows the run while debugging one op (the count check below then fails on purpose)
    const reports = await call('conformance', process.env.BITNET_WEBGPU_FILTER ?? '');
    expect(summary(reports), 'failed conformance tests').toBe('');
    expect(reports.length, 'tests run in the page').toBeGreaterThan(90);
  }, 600_000);

  it('weights split into GPU buffers of 2 KiB (rows across several bindings) give the same results', async () => {
    const reports = await call('conformance', 'matmul', 2048);
    expect(reports.length).toBeGreaterThan(30);
    expect(summary(reports), 'failed conformance tests with split weights').toBe('');
  }, 600_000);

  it('streamed weights (the loader path: pieces of whole blocks, no whole tensor on the host) equal createWeight; bad pieces are refused', async () => {
    expect(await call('streamed')).toEqual({ same: true, outOfOrder: 'BAD_ARGUMENT', unaligned: 'BAD_ARGUMENT', nanScale: 'BAD_TENSOR_DATA' });
  });

  it("a KV growth the device refuses (Chrome's error scopes, the refusal injected): only that sequence waits, both give their tokens alone, the model goes on", async () => {
    // the one-layer mini model (260-token vocabulary, test/hostile/mini-model.ts): steps of milliseconds on SwiftShader
    const a = Array.from({ length: 10 }, (_, i) => 50 + i * 3); // 1 block
    const b = Array.from({ length: 20 }, (_, i) => 100 + i * 5); // 2 blocks: 3 in all, the device holds 2
    const r = await call('kvRefused', `${base}/models/mini.gguf`, a, b, 2);
    expect(r.alone.every((o) => 'tokens' in o && o.tokens.length === 4)).toBe(true);
    expect(r.together).toEqual(r.alone);
    expect(r.refusals).toBeGreaterThan(0);
    expect(r.allocated).toBe(2);
    expect(r.later).toEqual(r.alone[0]);
  }, 600_000);

  // the 2B-4T arch on I2_S, the tiny model with the LLaMA-3 vocabulary (its 128256-row output matrix), every position
  // compared and 12 greedy tokens; the two other archs (SiLU gate, TQ formats, the llama arch's normal RoPE) on
  // quickModel (the tiny model's layers, 8192 tokens: SwiftShader spends ~1.5 s on each step's 128256-row matrix)
  const models: ['tiny' | 'quick', SynthArch & MiniArch, SynthWeightType & MiniWeightType, string, number][] = [
    ['tiny', 'bitnet-b1.58', 'i2_s', 'The quick brown fox', 12],
    ['quick', 'bitnet', 'tq2_0', 'Hello', 8],
    ['quick', 'llama', 'tq1_0', 'Hello', 8],
  ];
  for (const [kind, arch, weights, prompt, nGreedy] of models) {
    it(`${kind} ${arch} ${weights} (Q8_0 embeddings): logits per position and ${nGreedy} greedy tokens as the wasm backend gives them`, async () => {
      const path = await (kind === 'tiny' ? tinyModel : quickModel)(arch, weights);
      const node = await BitNet.load(path, { backend: 'wasm', threads: 2 });
      try {
        const tokens = node.tokenize(prompt);
        const vocab = node.info.vocabSize;
        const want = await node.evaluateLogits(tokens);
        const wantGreedy = (await node.complete(tokens, { maxTokens: nGreedy, sampling: { kind: 'greedy' }, ignoreEos: true })).tokenIds;
        const got = await call('endToEnd', `${base}/models/${basename(path)}`, tokens, nGreedy);
        expect(got.backend).toBe('webgpu');
        expect(got.kernels.some((k) => k.startsWith(`webgpu.matmul.gemv.${weights}`))).toBe(true);
        // Chromium's WGSL has packed_4x8_integer_dot_product: I2_S takes the dot-product kernel, decode and prefill
        if (weights === 'i2_s') expect(got.kernels).toEqual(expect.arrayContaining(['webgpu.matmul.gemv.i2_s.dp4a', 'webgpu.matmul.gemm.i2_s.dp4a']));
        const b = Buffer.from(got.logits, 'base64');
        const logits = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
        expect(logits.length).toBe(tokens.length * vocab);
        for (let p = 0; p < tokens.length; p++) {
          const r = rowAgreement(logits, want, vocab, p);
          expect(r.cosine, `cosine at position ${p}`).toBeGreaterThanOrEqual(0.9999);
          expect(r.argGot, `argmax at position ${p}`).toBe(r.argWant);
        }
        expect(got.greedy).toEqual([...wantGreedy]);
      } finally {
        await node.dispose();
      }
    }, 600_000);
  }
});
