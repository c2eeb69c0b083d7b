// The page side of test/browser/webgpu.test.ts, bundled by esbuild with `vitest` pointing at vitest-shim.ts: runs the
// shared conformance suite on the webgpu backend, and a tiny model end to end, inside Chromium.

import { BitNet } from '../../src/engine/bitnet.js';
import { isBitNetError } from '../../src/errors.js';
import { GgmlType } from '../../src/formats/ggml-type.js';
import { packTq2_0 } from '../../src/formats/tq2_0.js';
import type { Gpu } from '../../src/kernels/webgpu/gpu-api.js';
import { createWebGpuBackend } from '../../src/kernels/webgpu/index.js';
import { outOfMemoryFor, sharedDevices } from '../helpers/gpu-fakes.js';
import { defineConformanceSuite } from '../kernels/conformance.suite.js';
import { runRegistered, type TestReport } from './vitest-shim.js';

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

type Outcome = { tokens: number[] } | { error: string };

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
    // a backend per test on one shared device, so each pipeline compiles once (gpu-fakes.ts sharedDevices)
    const gpu = sharedDevices((navigator as unknown as { gpu: Gpu }).gpu);
    defineConformanceSuite(`webgpu${maxBindingBytes === undefined ? '' : ` split ${maxBindingBytes}`}`, () =>
      createWebGpuBackend(maxBindingBytes === undefined ? { gpu } : { gpu, maxBindingBytes }),
    );
    return runRegistered(filter);
  },
  /**
   * A TQ2_0 weight streamed in pieces of 2 blocks (split into 3-row buffers) against the same bytes through createWeight:
   * the matmul outputs (must be equal), and the codes of refused pieces (out of order; not at a block boundary;
   * a NaN block scale).
   */
  async streamed(): Promise<{ same: boolean; outOfOrder: string; unaligned: string; nanScale: string }> {
    const be = await createWebGpuBackend({ maxBindingBytes: 3 * 66 * 2 });
    const code = (fn: () => void): string => {
      try {
        fn();
        return 'accepted';
      } catch (e) {
        return isBitNetError(e) ? e.code : String(e);
      }
    };
    try {
      const rows = 7;
      const cols = 512;
      const codes = new Int8Array(rows * cols).map((_, i) => ((i * 7919) % 3) - 1);
      const bytes = packTq2_0(codes, 0.25, cols);
      const info = { name: 'w', type: GgmlType.TQ2_0, dims: [cols, rows], byteSize: bytes.length };
      const { weight: a, target } = be.createWeight(info);
      target.set(bytes);
      be.prepareWeight(a);
      const create = be.createStreamedWeight;
      const write = be.writeWeight;
      if (create === undefined || write === undefined) throw new Error('no streamed weights');
      const b = create(info);
      for (let o = 0; o < bytes.length; o += 132) write(b, o, bytes.subarray(o, Math.min(bytes.length, o + 132)));
      be.prepareWeight(b);
      const x = be.alloc(cols);
      be.write(x, new Float32Array(cols).map((_, i) => Math.sin(i)));
      const oa = be.alloc(rows);
      const ob = be.alloc(rows);
      be.beginStep();
      be.matmul(oa, a, x, 1);
      be.matmul(ob, b, x, 1);
      await be.endStep();
      const ra = await be.read(oa, 0, rows);
      const rb = await be.read(ob, 0, rows);
      const c = create(info);
      const outOfOrder = code(() => write(c, 132, bytes.subarray(132, 264)));
      const unaligned = code(() => {
        write(c, 0, bytes.subarray(0, 100));
        write(c, 100, bytes.subarray(100, 200));
      });
      const bad = bytes.slice(0, 132);
      bad[64] = 0x00;
      bad[65] = 0x7e; // F16 NaN as block 0's d
      const nanScale = code(() => write(create(info), 0, bad));
      return { same: ra.every((v, i) => Object.is(v, rb[i])) && ra.some((v) => v !== 0), outOfOrder, unaligned, nanScale };
    } finally {
      await be.dispose();
    }
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
  /**
   * Two sequences at once (prompts `a`, `b`, 4 greedy tokens each) on a device that refuses KV layer buffers of more
   * than `heldBlocks` blocks: what each gave, how many growths were refused, the pool's memory after, and `a` once more;
   * and each alone on a device with memory enough.
   */
  async kvRefused(url: string, a: number[], b: number[], heldBlocks: number): Promise<{ alone: Outcome[]; together: Outcome[]; refusals: number; allocated: number; later: Outcome }> {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const gpu = (navigator as { gpu?: Gpu }).gpu;
    if (gpu === undefined) throw new Error('no navigator.gpu');
    const run = async (model: BitNet, prompt: number[]): Promise<Outcome> => {
      const seq = model.createSequence();
      try {
        return { tokens: [...(await seq.complete(prompt, { maxTokens: 4, sampling: { kind: 'greedy' }, ignoreEos: true })).tokenIds] };
      } catch (e) {
        return { error: isBitNetError(e) ? `${e.code}: ${e.message}` : String(e) };
      } finally {
        seq.free();
      }
    };
    const load = { backend: 'webgpu', contextLength: 128, kvMemory: 1 << 24 } as const;
    const plain = await BitNet.load(bytes, { ...load, gpu });
    let alone: Outcome[];
    try {
      alone = [await run(plain, a), await run(plain, b)];
    } finally {
      await plain.dispose();
    }
    let maxBytes = Number.POSITIVE_INFINITY;
    let refusals = 0;
    const limited = outOfMemoryFor(
      gpu,
      ({ label, size }) => {
        const refused = /^[KV] layer \d+$/.test(label) && size > maxBytes;
        if (refused && label === 'K layer 0') refusals++;
        return refused;
      },
      'scope',
    );
    const model = await BitNet.load(bytes, { ...load, gpu: limited });
    try {
      maxBytes = heldBlocks * (model as unknown as { scheduler: { pool: { blockBytes: number } } }).scheduler.pool.blockBytes;
      const together = await Promise.all([run(model, a), run(model, b)]);
      const allocated = model.kvStats().blocks.allocated;
      return { alone, together, refusals, allocated, later: await run(model, a) };
    } finally {
      await model.dispose();
    }
  },
};

(globalThis as { webgpuTests?: typeof api }).webgpuTests = api;
