// The page side of test/browser/webgpu.test.ts, bundled by esbuild with `vitest` pointing at vitest-shim.ts: runs the
// shared conformance suite on the webgpu backend, and a tiny model end to end, inside Chromium.

import { BitNet } from '../../src/engine/bitnet.js';
import { createWebGpuBackend } from '../../src/kernels/webgpu/index.js';
import { defineConformanceSuite } from '../kernels/conformance.suite.js';
import { runRegistered, type TestReport } from './vitest-shim.js';

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

const api = {
  /** The adapter, or why there is none. */
  async adapter(): Promise<string> {
    const gpu = (navigator as { gpu?: { requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string } } | null> } }).gpu;
    if (gpu === undefined) return 'no navigator.gpu';
    const a = await gpu.requestAdapter();
    return a === null ? 'no adapter' : `${a.info?.vendor ?? ''} ${a.info?.architecture ?? ''}`.trim();
  },
  /** The conformance suite on the webgpu backend (weights split into buffers of maxBindingBytes when given). */
  async conformance(filter: string, maxBindingBytes?: number): Promise<TestReport[]> {
    defineConformanceSuite(`webgpu${maxBindingBytes === undefined ? '' : ` split ${maxBindingBytes}`}`, () =>
      createWebGpuBackend(maxBindingBytes === undefined ? {} : { maxBindingBytes }),
    );
    return runRegistered(filter);
  },
  /** Logits of every position (base64 float32) and greedy tokens of a model served at `url`, on the webgpu backend. */
  async endToEnd(url: string, tokens: number[], nGreedy: number): Promise<{ logits: string; greedy: number[]; backend: string; kernels: string[] }> {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const model = await BitNet.load(bytes, { backend: 'webgpu' });
    try {
      const logits = await model.evaluateLogits(tokens);
      const r = await model.complete(tokens, { maxTokens: nGreedy, sampling: { kind: 'greedy' }, ignoreEos: true });
      return { logits: base64(new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength)), greedy: [...r.tokenIds], backend: model.info.backend, kernels: [...model.backend.kernelCalls().keys()] };
    } finally {
      await model.dispose();
    }
  },
};

(globalThis as { webgpuTests?: typeof api }).webgpuTests = api;
