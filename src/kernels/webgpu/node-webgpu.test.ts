// The webgpu backend in Node through Dawn (the optional `webgpu` package): the shared kernel conformance suite, a tiny
// model end to end against the wasm backend, and how `auto` treats software and hardware adapters. Without a GPU,
// Dawn gets an adapter from Chromium's SwiftShader Vulkan driver (Debian's chromium package ships it) when
// VK_ICD_FILENAMES points at it: set here for this test process when unset. Where Dawn finds no adapter at all the
// GPU tests are skipped, and the suite's name says so and why.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineConformanceSuite } from '../../../test/kernels/conformance.suite.js';
import { dispatchCounting, hardwareLabelled, outOfMemoryFor, pipelineCounting, sharedDevices } from '../../../test/helpers/gpu-fakes.js';
import { rowAgreement } from '../../../test/helpers/logit-rows.js';
import { quickModel, tinyModel } from '../../../test/helpers/tiny-models.js';
import { untiedSpecs } from '../../../test/helpers/untied-model.js';
import { miniBytes, miniSpec } from '../../../test/hostile/mini-model.js';
import { BitNet } from '../../engine/bitnet.js';
import { selectBackend } from '../../engine/backend-select.js';
import { BitNetError, isBitNetError } from '../../errors.js';
import { GgmlType } from '../../formats/ggml-type.js';
import { packI2s } from '../../formats/i2s.js';
import { f32ToF16Bits } from '../../formats/f16.js';
import { packTq2_0 } from '../../formats/tq2_0.js';
import type { Tensor } from '../backend.js';
import { softwareAdapterReason } from './adapter-kind.js';
import type { Gpu, GpuAdapter } from './gpu-api.js';
import { createWebGpuBackend } from './index.js';
import { loadNodeGpu } from './node-gpu.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;

/** Dawn's GPU object and its adapter, or why there is none (then the GPU tests are skipped, saying this). */
async function probe(): Promise<{ gpu: Gpu; adapter: GpuAdapter } | { why: string }> {
  try {
    const gpu = await loadNodeGpu();
    const adapter = await gpu.requestAdapter();
    if (adapter === null) return { why: 'Dawn gave no adapter' };
    return { gpu, adapter };
  } catch (e) {
    return { why: e instanceof Error ? e.message : String(e) };
  }
}
const found = await probe();
const dawn = 'gpu' in found ? found : null;
const skipWhy = 'why' in found ? found.why : '';

async function codeAndMessage(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return isBitNetError(e) ? `${e.code}: ${e.message}` : `not a BitNetError: ${String(e)}`;
  }
}


describe('WebGPU in Node: what is missing is named', () => {
  it('no `webgpu` package: BACKEND_UNAVAILABLE naming it and how to install it', async () => {
    const missing = Object.assign(new Error("Cannot find package 'webgpu' imported from /x/node-gpu.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(await codeAndMessage(loadNodeGpu(() => Promise.reject(missing)))).toMatch(/^BACKEND_UNAVAILABLE: .*optional 'webgpu' package .*not installed: npm install webgpu/);
    const broken = new Error('libvulkan.so.1: cannot open shared object file');
    expect(await codeAndMessage(loadNodeGpu(() => Promise.reject(broken)))).toMatch(/^BACKEND_UNAVAILABLE: .*installed but its Dawn binding did not load: libvulkan/);
    expect(await codeAndMessage(loadNodeGpu(() => Promise.resolve({})))).toMatch(/^BACKEND_UNAVAILABLE: .*does not export create/);
  });

  it('a Dawn that finds no adapter: BACKEND_UNAVAILABLE naming the Vulkan driver it needs', async () => {
    const gpu = await loadNodeGpu(() => Promise.resolve({ create: () => ({ requestAdapter: () => Promise.resolve(null) }) }));
    expect(await codeAndMessage(gpu.requestAdapter())).toMatch(/^BACKEND_UNAVAILABLE: .*found no GPU adapter.*libvulkan1.*VK_ICD_FILENAMES/);
  });

  it("backend 'webgpu' in Node goes through the package: its absence fails the load with that error", async () => {
    const missing = new BitNetError('BACKEND_UNAVAILABLE', "webgpu backend: WebGPU in Node needs the optional 'webgpu' package");
    expect(await codeAndMessage(selectBackend('webgpu', undefined, false, undefined, { loadNodeGpu: () => Promise.reject(missing) }))).toMatch(/optional 'webgpu' package/);
  });

  it("'auto' without LoadOptions.gpu does not load Dawn in Node (wasm, no fallback)", async () => {
    let asked = false;
    const sel = await selectBackend('auto', 1, true, undefined, {
      loadNodeGpu: () => {
        asked = true;
        return Promise.reject(new Error('must not be called'));
      },
    });
    expect(asked).toBe(false);
    expect(sel.backend.name).toBe('wasm');
    expect(sel.fallback).toBe('');
    await sel.backend.dispose();
  });

  it('software adapters are recognised from the flag or their names', () => {
    const a = (info: GpuAdapter['info'], flag?: boolean): GpuAdapter =>
      ({ limits: {}, features: { has: () => false }, info, isFallbackAdapter: flag, requestDevice: () => Promise.reject(new Error('x')) }) as unknown as GpuAdapter;
    expect(softwareAdapterReason(a({ vendor: 'nvidia', architecture: 'ampere', isFallbackAdapter: false }))).toBe('');
    expect(softwareAdapterReason(a({ vendor: 'google', architecture: 'swiftshader' }))).toMatch(/software adapter \(swiftshader\)/);
    expect(softwareAdapterReason(a({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }))).toMatch(/llvmpipe/);
    expect(softwareAdapterReason(a({ vendor: 'x', isFallbackAdapter: true }))).toMatch(/fallback/);
    expect(softwareAdapterReason(a({ vendor: 'x' }, true))).toMatch(/fallback/);
  });
});

describe.skipIf(dawn === null)(dawn === null ? `webgpu backend in Node (Dawn) SKIPPED: ${skipWhy}` : 'webgpu backend in Node (Dawn)', () => {
  const gpu = dawn?.gpu as Gpu;

  it('Dawn gives an adapter (SwiftShader here: a software one)', () => {
    const info = dawn?.adapter.info;
    expect(`${info?.vendor ?? ''} ${info?.architecture ?? ''} ${info?.description ?? ''}`.trim()).not.toBe('');
  });

  // a backend per test, on shared devices (each pipeline compiled once: test/helpers/gpu-fakes.ts sharedDevices)
  const shared = dawn === null ? gpu : sharedDevices(gpu);
  defineConformanceSuite('webgpu (Node, Dawn)', () => createWebGpuBackend({ gpu: shared }));
  // the kernels for adapters without WGSL's packed 4 x int8 dot products (the I2_S matmul then runs matmul-ternary.wgsl)
  defineConformanceSuite('webgpu (Node, Dawn, portable kernels)', () => createWebGpuBackend({ gpu: shared, portableKernels: true }));

  it('a step of more dispatches than one parameter buffer holds (1024) runs them all, in order, and the next step reuses the slots', async () => {
    const be = await createWebGpuBackend({ gpu });
    try {
      const x = be.alloc(8);
      const y = be.alloc(8);
      be.write(x, new Float32Array(8));
      be.write(y, Float32Array.from({ length: 8 }, (_, i) => i + 1));
      be.beginStep();
      for (let k = 0; k < 1100; k++) be.addInPlace(x, y, 8);
      await be.endStep();
      expect(Array.from(await be.read(x, 0, 8))).toEqual(Array.from({ length: 8 }, (_, i) => 1100 * (i + 1)));
      // the same dispatches (same bind groups, same slots) with new parameters: n = 3 adds to the first 3 values only
      be.beginStep();
      for (let k = 0; k < 5; k++) be.addInPlace(x, y, 3);
      await be.endStep();
      expect(Array.from(await be.read(x, 0, 8))).toEqual(Array.from({ length: 8 }, (_, i) => (i < 3 ? 1105 : 1100) * (i + 1)));
    } finally {
      await be.dispose();
    }
  });

  it('the dot-product kernels (I2_S, TQ2_0, Q8_0) give the portable kernels\' outputs bit for bit, decode and batched', async () => {
    let seed = 7;
    const next = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
    // odd row counts, a Q8_0 row of an odd block count (its blocks alternate between word-aligned and not), 1 and 11 tokens
    const cases = [
      { type: GgmlType.I2_S, rows: 37, cols: 384, bytes: packI2s(Int8Array.from({ length: 37 * 384 }, () => (next() % 3) - 1), 0.031, 384) },
      { type: GgmlType.Q8_0, rows: 29, cols: 96, bytes: Uint8Array.from({ length: 29 * 3 * 34 }, (_, i) => (i % 34 === 1 ? 0x2c : next() & 0xff)) },
      // TQ2_0 rows of 3 blocks (every other block starts mid-word), its own Q8_K activations and per-token ones
      { type: GgmlType.TQ2_0, rows: 13, cols: 768, bytes: packTq2_0(Int8Array.from({ length: 13 * 768 }, () => (next() % 3) - 1), 0.047, 768) },
      { type: GgmlType.TQ2_0, rows: 13, cols: 768, bytes: packTq2_0(Int8Array.from({ length: 13 * 768 }, () => (next() % 3) - 1), 0.047, 768), activationQuant: 'per-token' as const },
    ];
    const inputs = cases.map((c) => [1, 11].map((n) => Float32Array.from({ length: n * c.cols }, () => ((next() >>> 8) / 2 ** 24 - 0.5) * 6)));
    const outputs: Float32Array[][] = [];
    for (const portableKernels of [false, true]) {
      const be = await createWebGpuBackend({ gpu, portableKernels });
      const got: Float32Array[] = [];
      try {
        for (const [ci, c] of cases.entries()) {
          const { weight, target } = be.createWeight({ name: 'w', type: c.type, dims: [c.cols, c.rows], byteSize: c.bytes.length, ...('activationQuant' in c ? { activationQuant: c.activationQuant } : {}) });
          target.set(c.bytes);
          be.prepareWeight(weight);
          for (const [ti, nTokens] of [1, 11].entries()) {
            const x = be.alloc(nTokens * c.cols);
            be.write(x, inputs[ci][ti]);
            const out = be.alloc(nTokens * c.rows);
            be.matmul(out, weight, x, nTokens);
            got.push(await be.read(out, 0, nTokens * c.rows));
          }
        }
        const ids = [...be.kernelCalls().keys()];
        expect(ids.some((k) => k.endsWith('.dp4a'))).toBe(!portableKernels);
      } finally {
        await be.dispose();
      }
      outputs.push(got);
    }
    for (let i = 0; i < outputs[0].length; i++) expect(Array.from(outputs[0][i])).toEqual(Array.from(outputs[1][i]));
  });

  it('fused ops (gating + norm + per-token quantization, norm or gating + quantization, a matmul + the residual add, two I2_S matmuls of one input, the RoPE of q and k) give the unfused outputs bit for bit in fewer dispatches, on both kernel sets', async () => {
    let seed = 11;
    const next = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
    const rnd = (n: number, scale = 4): Float32Array => Float32Array.from({ length: n }, () => ((next() >>> 8) / 2 ** 24 - 0.5) * scale);
    const ternary = (n: number): Int8Array => Int8Array.from({ length: n }, () => (next() % 3) - 1);
    const [dim, ffn, nT, hd] = [256, 384, 3, 64];
    const weights = [
      { name: 'q', type: GgmlType.I2_S, rows: dim, cols: dim, bytes: packI2s(ternary(dim * dim), 0.03, dim) },
      { name: 'k', type: GgmlType.TQ2_0, rows: 2 * hd, cols: dim, bytes: packTq2_0(ternary(2 * hd * dim), 0.04, dim), activationQuant: 'per-token' as const },
      { name: 'r', type: GgmlType.Q8_0, rows: 40, cols: dim, bytes: Uint8Array.from({ length: 40 * (dim / 32) * 34 }, (_, i) => (i % 34 === 1 ? 0x2c : next() & 0xff)) },
      { name: 'down', type: GgmlType.I2_S, rows: dim, cols: ffn, bytes: packI2s(ternary(dim * ffn), 0.05, ffn) },
      { name: 'q3', type: GgmlType.I2_S, rows: 24, cols: dim, bytes: packI2s(ternary(24 * dim), 0.07, dim) },
      { name: 'f16', type: GgmlType.F16, rows: 24, cols: dim, bytes: new Uint8Array(Uint16Array.from(rnd(24 * dim, 0.2), (v) => f32ToF16Bits(v)).buffer) },
    ];
    const inputs = { x: rnd(nT * dim), g: rnd(nT * ffn), u: rnd(nT * ffn), g2: rnd(nT * ffn), u2: rnd(nT * ffn), g3: rnd(nT * ffn), u3: rnd(nT * ffn), nw: rnd(dim, 2), fw: rnd(ffn, 2), q2: rnd(nT * dim), k2: rnd(nT * 2 * hd) };
    // SwiftShader has subgroups, so the subgroup reductions are tested here
    expect(dawn?.adapter.features.has('subgroups'), 'the adapter has subgroups').toBe(true);
    const fusedOuts: Float32Array[][] = [];
    for (const portableKernels of [false, true]) {
      const runs: { out: Float32Array[]; ids: string[]; calls: ReadonlyMap<string, number>; dispatches: number }[] = [];
      for (const fuseOps of [true, false]) {
        const counter = { dispatches: 0 };
        const be = await createWebGpuBackend({ gpu: dispatchCounting(gpu, counter), fuseOps, portableKernels });
        try {
          // SwiftShader has subgroups: the norm and quantization kernels reduce with them unless portableKernels
          expect((be as unknown as { subgroups: boolean }).subgroups).toBe(!portableKernels && dawn?.adapter.features.has('subgroups') === true);
          const [wq, wk, wr, wd, wd2, wf] = weights.map((w) => {
            const { weight, target } = be.createWeight({ name: w.name, type: w.type, dims: [w.cols, w.rows], byteSize: w.bytes.length, ...('activationQuant' in w ? { activationQuant: w.activationQuant } : {}) });
            target.set(w.bytes);
            be.prepareWeight(weight);
            return weight;
          });
          const t = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, be.alloc(v.length)])) as Record<keyof typeof inputs, Tensor>;
          for (const [k, v] of Object.entries(inputs)) be.write(t[k as keyof typeof inputs], v);
          const a = (n: number): Tensor => be.alloc(n);
          const [xb, q, k, r, o, h, o2, xb2, r2, q3] = [a(nT * dim), a(nT * dim), a(nT * 2 * hd), a(nT * 40), a(nT * dim), a(nT * ffn), a(nT * dim), a(nT * dim), a(nT * 40), a(nT * 24)];
          await be.endStep();
          const before = counter.dispatches;
          be.beginStep();
          // norm + per-token quantization (the I2_S and per-token TQ2_0 targets share it; Q8_0 quantizes its own)
          be.rmsnorm(xb, t.x, t.nw, nT, dim, 1e-5);
          // two I2_S targets share a dispatch (with a TQ2_0 and a Q8_0 target between them)
          be.matmulMany(xb, nT, [{ out: q, w: wq }, { out: k, w: wk, scale: 0.5 }, { out: r, w: wr }, { out: q3, w: wd2, scale: 0.75 }]);
          be.rope(q, nT, 4, hd, [5, 6, 7], 10000, 'neox');
          be.rope(k, nT, 2, hd, [5, 6, 7], 10000, 'neox');
          // not adjacent: each RoPE alone
          be.rope(t.q2, nT, 4, hd, [1, 9, 30], 500000, 'normal');
          be.addInPlace(xb, q, nT * dim);
          be.rope(t.k2, nT, 2, hd, [1, 9, 30], 500000, 'normal');
          // gating + norm in place + quantization; gating + norm into another tensor + quantization
          be.reluSqrMul(t.g, t.u, nT * ffn);
          be.rmsnorm(t.g, t.g, t.fw, nT, ffn, 1e-6);
          be.matmul(o, wd, t.g, nT, 0.7);
          // the residual add of the matmul's output goes into its kernel
          be.addInPlace(t.x, o, nT * dim);
          be.siluMul(t.g2, t.u2, nT * ffn);
          be.rmsnorm(h, t.g2, t.fw, nT, ffn, 1e-6);
          be.matmul(o2, wd, h, nT);
          // an add of something else into the matmul's output: no fusion
          be.addInPlace(o2, xb, nT * dim);
          // a norm before a Q8_0 matmul only (no per-token quantization to take in), then its residual add (a Q8_0 kernel)
          be.rmsnorm(xb2, t.x, t.nw, nT, dim, 1e-5);
          be.matmul(r2, wr, xb2, nT);
          be.addInPlace(t.x, r2, nT * 40);
          // a gating right before the matmul (no norm): gating + quantization, then the matmul with its residual add
          be.siluMul(t.g3, t.u3, nT * ffn);
          be.matmul(o2, wd, t.g3, nT);
          be.addInPlace(xb, o2, nT * dim);
          // the same through the TQ2_0 and F16 kernels
          be.matmul(k, wk, xb, nT);
          be.addInPlace(t.k2, k, nT * 2 * hd);
          be.matmul(r, wf, xb, nT);
          be.addInPlace(t.q2, r, nT * 24);
          await be.endStep();
          const dispatches = counter.dispatches - before;
          const out: Float32Array[] = [];
          for (const [tt, n] of [[xb, nT * dim], [q, nT * dim], [k, nT * 2 * hd], [r, nT * 40], [t.q2, nT * dim], [t.k2, nT * 2 * hd], [t.g, nT * ffn], [o, nT * dim], [t.g2, nT * ffn], [h, nT * ffn], [o2, nT * dim], [xb2, nT * dim], [r2, nT * 40], [t.x, nT * dim], [t.g3, nT * ffn], [q3, nT * 24]] as const) out.push(await be.read(tt, 0, n));
          runs.push({ out, ids: [...be.kernelCalls().keys()], calls: be.kernelCalls(), dispatches });
        } finally {
          await be.dispose();
        }
      }
      const [fused, plain] = runs;
      for (let i = 0; i < plain.out.length; i++) {
        for (let j = 0; j < plain.out[i].length; j++) if (!Object.is(fused.out[i][j], plain.out[i][j])) expect.fail(`${portableKernels ? 'portable' : 'dp4a'} kernels, output ${i}, value ${j}: fused ${fused.out[i][j]}, unfused ${plain.out[i][j]}`);
      }
      expect(fused.ids).toEqual(expect.arrayContaining(['webgpu.fused.rmsnorm+quantize', 'webgpu.fused.rope+rope.neox', 'webgpu.rope.normal', 'webgpu.fused.relu_sqr_mul+rmsnorm+quantize', 'webgpu.fused.silu_mul+rmsnorm+quantize', 'webgpu.rmsnorm', 'webgpu.fused.matmul+add', 'webgpu.add', 'webgpu.fused.silu_mul+quantize', ...(portableKernels ? [] : ['webgpu.fused.matmul+matmul'])]));
      expect(fused.calls.get('webgpu.fused.matmul+add')).toBe(5);
      expect(fused.ids.filter((id) => id.includes('fused') || id.includes('relu') || id.includes('silu'))).toHaveLength(portableKernels ? 6 : 7);
      expect(plain.ids.filter((id) => id.includes('fused'))).toEqual([]);
      // one dispatch saved by the first norm, one by the RoPE pair, two by each gating + norm + quantization, one by the
      // gating + quantization, one by each residual add, one by the I2_S pair (dot-product kernels only)
      expect(plain.dispatches - fused.dispatches).toBe(portableKernels ? 12 : 13);
      fusedOuts.push(fused.out);
    }
    // the dot-product kernels and subgroup reductions give the portable kernels' bits here too
    for (let i = 0; i < fusedOuts[0].length; i++) {
      for (let j = 0; j < fusedOuts[0][i].length; j++) if (!Object.is(fusedOuts[0][i][j], fusedOuts[1][i][j])) expect.fail(`output ${i}, value ${j}: ${fusedOuts[0][i][j]} against the portable kernels' ${fusedOuts[1][i][j]}`);
    }
  }, 180_000);

  it('attention split over chunks of positions (long contexts, few workgroups) gives the unsplit kernel\'s outputs to a few ulp', async () => {
    let seed = 21;
    const next = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
    const rnd = (n: number, scale: number): Float32Array => Float32Array.from({ length: n }, () => ((next() >>> 8) / 2 ** 24 - 0.5) * scale);
    // query groups of 4, 5 (two head groups) and 8 with one KV head; odd and > 128 head sizes; 1-3 entries of one and
    // two sequences; contexts past several chunks of 7 positions and a last partial chunk
    const cases = [
      { nHeads: 20, nKv: 5, headDim: 128, nPos: 200, entries: [[0, 199]] },
      { nHeads: 10, nKv: 2, headDim: 72, nPos: 90, entries: [[0, 87], [0, 88], [0, 89]] },
      { nHeads: 8, nKv: 1, headDim: 13, nPos: 40, entries: [[0, 39], [1, 22]] },
      { nHeads: 2, nKv: 1, headDim: 200, nPos: 30, entries: [[1, 29]] },
      // scores spread over hundreds: a softmax not taking the true max (of any chunk) overflows
      { nHeads: 4, nKv: 1, headDim: 64, nPos: 50, entries: [[0, 49]], qScale: 1000 },
    ];
    for (const c of cases) {
      const outs: Float32Array[] = [];
      const ids: string[][] = [];
      for (const attentionChunk of [7, 1 << 20]) {
        const be = await createWebGpuBackend({ gpu, attentionChunk });
        try {
          const kvDim = c.nKv * c.headDim;
          const blockSize = 16;
          const maxBlocks = Math.ceil(c.nPos / blockSize);
          const pool = be.createKvPool(1, kvDim, c.headDim, blockSize, 2 * maxBlocks + 1);
          // each sequence's blocks in reverse order
          const tables = Int32Array.from({ length: 2 * maxBlocks }, (_, i) => 2 * maxBlocks - i);
          be.setBlockTables(pool, tables, 2, maxBlocks);
          const k = be.alloc(c.nPos * kvDim);
          const v = be.alloc(c.nPos * kvDim);
          for (const seq of [0, 1]) {
            seed = 100 + seq;
            be.write(k, rnd(c.nPos * kvDim, 4));
            be.write(v, rnd(c.nPos * kvDim, 4));
            be.kvWrite(pool, 0, k, v, { nTokens: c.nPos, positions: Int32Array.from({ length: c.nPos }, (_, i) => i), seqs: new Int32Array(c.nPos).fill(seq) });
          }
          const n = c.entries.length;
          const q = be.alloc(n * c.nHeads * c.headDim);
          seed = 7;
          be.write(q, rnd(n * c.nHeads * c.headDim, 'qScale' in c ? c.qScale : 6));
          const out = be.alloc(n * c.nHeads * c.headDim);
          be.attention(out, q, pool, 0, { nTokens: n, seqs: Int32Array.from(c.entries, (e) => e[0]), positions: Int32Array.from(c.entries, (e) => e[1]) }, c.nHeads, c.nKv);
          outs.push(await be.read(out, 0, n * c.nHeads * c.headDim));
          ids.push([...be.kernelCalls().keys()]);
        } finally {
          await be.dispose();
        }
      }
      expect(ids[0]).toContain('webgpu.attention.split');
      expect(ids[1]).not.toContain('webgpu.attention.split');
      const scale = Math.max(...outs[1].map(Math.abs));
      for (let i = 0; i < outs[0].length; i++) {
        if (!(Math.abs(outs[0][i] - outs[1][i]) <= 1e-6 * scale)) expect.fail(`${JSON.stringify(c)} value ${i}: split ${outs[0][i]}, unsplit ${outs[1][i]}`);
      }
    }
  }, 120_000);

  // bitnet-b1.58: squared-ReLU gating and sub-norms; llama: SiLU gating straight into the down projection, normal RoPE.
  // On quickModel (the tiny model's layers, Q8_0 embeddings of 8192 tokens) and a 6-token prompt: SwiftShader spent
  // ~1.5 s on each step's 128256-row output matrix of the tiny model; the browser tests run tiny models with it.
  it.each([
    ['bitnet-b1.58', ['webgpu.fused.rmsnorm+quantize', 'webgpu.fused.relu_sqr_mul+rmsnorm+quantize', 'webgpu.fused.rope+rope.neox', 'webgpu.fused.matmul+add', 'webgpu.fused.matmul+matmul']],
    ['llama', ['webgpu.fused.rmsnorm+quantize', 'webgpu.fused.silu_mul+quantize', 'webgpu.fused.rope+rope.normal', 'webgpu.fused.matmul+add', 'webgpu.fused.matmul+matmul']],
  ] as const)('a quick %s model: logits at every position and 8 greedy tokens as the wasm backend gives them', async (arch, fusedIds) => {
    const path = await quickModel(arch, 'i2_s');
    const wasm = await BitNet.load(path, { backend: 'wasm', threads: 1 });
    const gpuModel = await BitNet.load(path, { backend: 'webgpu', gpu });
    try {
      expect(gpuModel.info.backend).toBe('webgpu');
      const tokens = wasm.tokenize('Hello');
      expect(tokens).toHaveLength(6); // BOS and five bytes
      const vocab = wasm.info.vocabSize;
      const want = await wasm.evaluateLogits(tokens);
      const got = await gpuModel.evaluateLogits(tokens);
      expect(got.length).toBe(want.length);
      for (let p = 0; p < tokens.length; p++) {
        const r = rowAgreement(got, want, vocab, p);
        expect(r.cosine, `cosine at position ${p}`).toBeGreaterThanOrEqual(0.9999);
        expect(r.argGot, `argmax at position ${p}`).toBe(r.argWant);
      }
      const opts = { maxTokens: 8, sampling: { kind: 'greedy' } as const, ignoreEos: true };
      const a = await wasm.complete(tokens, opts);
      const b = await gpuModel.complete(tokens, opts);
      expect([...b.tokenIds]).toEqual([...a.tokenIds]);
      const kernels = [...gpuModel.backend.kernelCalls().keys()];
      expect(kernels.some((k) => k.startsWith('webgpu.matmul'))).toBe(true);
      // Dawn has WGSL's packed_4x8_integer_dot_product: the I2_S matmuls take the dot-product kernel
      expect(gpu.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product')).toBe(true);
      expect(kernels).toContain('webgpu.matmul.gemv.i2_s.dp4a');
      expect(kernels).toContain('webgpu.matmul.gemm.i2_s.dp4a');
      // the forward's norms and gatings feed its I2_S matmuls (fuseOps): gating, norm and quantization in one kernel
      expect(kernels).toEqual(expect.arrayContaining([...fusedIds]));
    } finally {
      await wasm.dispose();
      await gpuModel.dispose();
    }
  }, 300_000);

  it('an untied token embedding stays in host memory: the same logits (bit for bit) and tokens as the tied model', async () => {
    const { tied, untied } = untiedSpecs('Q8_0');
    const prompt = Array.from({ length: 9 }, (_, i) => (i * 41 + 3) % 258);
    const results = [];
    for (const spec of [tied, untied]) {
      const model = await BitNet.load(miniBytes(spec), { backend: 'webgpu', gpu });
      try {
        const logits = await model.evaluateLogits(prompt);
        const r = await model.complete(prompt, { maxTokens: 8, sampling: { kind: 'greedy' }, ignoreEos: true });
        results.push({ logits, tokens: [...r.tokenIds], embedIds: [...model.backend.kernelCalls().keys()].filter((k) => k.includes('.embed.')) });
      } finally {
        await model.dispose();
      }
    }
    const [a, b] = results;
    expect(b.tokens).toEqual(a.tokens);
    for (let i = 0; i < a.logits.length; i++) if (!Object.is(a.logits[i], b.logits[i])) expect.fail(`logit ${i}: tied ${a.logits[i]}, untied ${b.logits[i]}`);
    expect(a.embedIds).toEqual(['webgpu.embed.q8_0']);
    expect(b.embedIds).toEqual(['webgpu.embed.q8_0.host']);
  }, 300_000);

  it('a device out of memory: for a weight, the load fails with MODEL_TOO_LARGE naming it; for the KV cache, the generation with KV_CACHE_FULL; a failed staging map is a BitNetError too', async () => {
    const path = await tinyModel('bitnet-b1.58', 'i2_s');
    const weight = await codeAndMessage(BitNet.load(path, { backend: 'webgpu', gpu: outOfMemoryFor(gpu, /^weight blk\.0\.ffn_up\.weight/, 'scope') }));
    expect(weight).toMatch(/^MODEL_TOO_LARGE: webgpu backend: the GPU has no memory for weight blk\.0\.ffn_up\.weight rows 0\.\.\d+ \(\d+ bytes, with \d+ MiB of buffers held\): injected/);
    const staging = await codeAndMessage(BitNet.load(path, { backend: 'webgpu', gpu: outOfMemoryFor(gpu, /^upload of /, 'throw') }));
    expect(staging).toMatch(/^MODEL_TOO_LARGE: webgpu backend: the GPU has no memory for upload of \d+ bytes .*injected: could not map/);
    const model = await BitNet.load(path, { backend: 'webgpu', gpu: outOfMemoryFor(gpu, /^K layer 1$/, 'scope') });
    try {
      const run = model.complete(model.tokenize('Hello'), { maxTokens: 2, sampling: { kind: 'greedy' } });
      expect(await codeAndMessage(run)).toMatch(/^KV_CACHE_FULL: webgpu backend: the GPU has no memory for K layer 1 \(\d+ bytes.*lower kvMemory/);
    } finally {
      await model.dispose();
    }
  }, 300_000);

  it('settleKvGrowth: a refused growth is undone (the pool keeps its memory and contents, the block takes memory again on its next use); a refusal not settled fails the step that binds it', async () => {
    let maxBytes = Number.POSITIVE_INFINITY;
    const refused: { label: string; destroyed: boolean }[] = [];
    const be = await createWebGpuBackend({ gpu: outOfMemoryFor(gpu, (d) => /^[KV] layer \d+$/.test(d.label) && d.size > maxBytes, 'scope', refused) });
    const settle = be.settleKvGrowth;
    if (settle === undefined) throw new Error('the webgpu backend has no settleKvGrowth');
    try {
      // one layer, one KV head of 8, blocks of 4 positions: 64 bytes per block and plane
      const pool = be.createKvPool(1, 8, 8, 4, 8);
      maxBytes = 2 * 64;
      const batch = { nTokens: 3, positions: Int32Array.of(0, 1, 2), seqs: Int32Array.of(0, 0, 0) };
      const data = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.3));
      const [k, v, q, out] = [be.alloc(24), be.alloc(24), be.alloc(24), be.alloc(24)];
      const attend = async (): Promise<Float32Array> => {
        be.beginStep();
        be.setBlockTables(pool, Int32Array.of(3), 1, 1);
        be.attention(out, q, pool, 0, batch, 1, 1);
        await be.endStep();
        return be.read(out, 0, 24);
      };
      // block 3 gets the first home (growth to 1 block, good); 3 positions written there
      be.setBlockTables(pool, Int32Array.of(3), 1, 1);
      await settle(pool);
      expect(pool.allocatedBlocks).toBe(1);
      be.beginStep();
      be.write(k, data(24, 1));
      be.write(v, data(24, 2));
      be.write(q, data(24, 3));
      be.kvWrite(pool, 0, k, v, batch);
      await be.endStep();
      const before = await attend();
      expect(before.every(Number.isFinite)).toBe(true);
      // block 5: growth to 2 blocks, good; block 6: growth to 4 blocks (256 bytes a plane), refused
      be.setBlockTables(pool, Int32Array.of(5), 1, 1);
      await settle(pool);
      be.setBlockTables(pool, Int32Array.of(6), 1, 1);
      expect(pool.allocatedBlocks).toBe(4);
      expect(await codeAndMessage(settle(pool))).toMatch(/^KV_CACHE_FULL: webgpu backend: the GPU has no memory for K layer 0 \(256 bytes.*injected/);
      expect(pool.allocatedBlocks).toBe(2);
      // the refused buffers are gone (a step binding one would fail): the pool reads its old ones, block 3 unchanged
      expect(refused.map((r) => `${r.label} ${r.destroyed}`)).toEqual(['K layer 0 true', 'V layer 0 true']);
      await settle(pool); // nothing left to settle
      expect(await attend()).toEqual(before);
      // block 6 takes memory again on its next use, now given; block 3 kept its contents through the copy
      maxBytes = Number.POSITIVE_INFINITY;
      be.setBlockTables(pool, Int32Array.of(6, 5), 1, 2);
      expect(pool.allocatedBlocks).toBe(4);
      await settle(pool);
      expect(await attend()).toEqual(before);
      // not settled: the refused growth is bound by the next op, and that step fails at endStep, naming the buffer
      maxBytes = 4 * 64;
      be.beginStep();
      be.setBlockTables(pool, Int32Array.of(3, 7, 1), 1, 3);
      expect(pool.allocatedBlocks).toBe(8);
      be.attention(out, q, pool, 0, batch, 1, 1);
      expect(await codeAndMessage(be.endStep())).toMatch(/^KV_CACHE_FULL: webgpu backend: the GPU has no memory for [KV] layer 0 \(512 bytes.*injected/);
    } finally {
      await be.dispose();
    }
  });

  describe('a KV growth the device refuses (K and V buffers past 2 blocks): it fails only the sequence that needed it, the pool keeps its memory', () => {
    // the one-layer mini model with its 260-token vocabulary (test/hostile/mini-model.ts): a 128k-row output matrix
    // would take seconds per step on SwiftShader; 4 tokens each
    const GREEDY_4 = { sampling: { kind: 'greedy' }, ignoreEos: true, maxTokens: 4 } as const;
    const A = Array.from({ length: 10 }, (_, i) => 50 + i * 3); // positions 0..12: 1 block
    const B = Array.from({ length: 20 }, (_, i) => 100 + i * 5); // positions 0..22: 2 blocks
    const C = Array.from({ length: 40 }, (_, i) => 5 + ((i * 7) % 250)); // positions 0..42: 3 blocks, more than the device holds
    const LOAD = { backend: 'webgpu', contextLength: 128, kvMemory: 1 << 24 } as const;
    /** Blocks of KV memory the injected device holds (each layer's K and V buffer at most this many blocks). */
    const HELD_BLOCKS = 2;

    async function complete(model: BitNet, prompt: readonly number[]): Promise<readonly number[]> {
      const seq = model.createSequence();
      try {
        return (await seq.complete(prompt, GREEDY_4)).tokenIds;
      } finally {
        seq.free();
      }
    }

    let alone: Promise<{ a: readonly number[]; b: readonly number[] }> | undefined;
    /** A's and B's tokens, each run alone on a device with memory enough. */
    function wantAlone(path: Uint8Array): Promise<{ a: readonly number[]; b: readonly number[] }> {
      alone ??= (async () => {
        const model = await BitNet.load(path, LOAD);
        try {
          return { a: await complete(model, A), b: await complete(model, B) };
        } finally {
          await model.dispose();
        }
      })();
      return alone;
    }

    /** A model whose device refuses KV layer buffers of more than HELD_BLOCKS blocks; counts the growths refused. */
    async function limited(path: Uint8Array): Promise<{ model: BitNet; refusals: () => number }> {
      let maxBytes = Number.POSITIVE_INFINITY;
      let refusals = 0;
      const model = await BitNet.load(path, {
        ...LOAD,
        gpu: outOfMemoryFor(
          gpu,
          (d) => {
            const refused = /^[KV] layer \d+$/.test(d.label) && d.size > maxBytes;
            if (refused && d.label === 'K layer 0') refusals++;
            return refused;
          },
          'scope',
        ),
      });
      const pool = (model as unknown as { scheduler: { pool: { blockBytes: number; allocatedBlocks: number } } }).scheduler.pool;
      expect(pool.allocatedBlocks).toBe(0);
      maxBytes = HELD_BLOCKS * pool.blockBytes;
      return { model, refusals: () => refusals };
    }

    it('two sequences needing 3 blocks: the one refused waits for the blocks with memory and both give their tokens alone; later generations work', async () => {
      const path = miniBytes(miniSpec());
      const want = await wantAlone(path);
      const { model, refusals } = await limited(path);
      try {
        const [ra, rb] = await Promise.allSettled([complete(model, A), complete(model, B)]);
        expect(ra.status, String(ra.status === 'rejected' ? ra.reason : '')).toBe('fulfilled');
        expect(ra.status === 'fulfilled' ? ra.value : undefined).toEqual(want.a);
        expect(rb.status, String(rb.status === 'rejected' ? rb.reason : '')).toBe('fulfilled');
        expect(rb.status === 'fulfilled' ? rb.value : undefined).toEqual(want.b);
        expect(refusals()).toBeGreaterThan(0);
        expect(model.kvStats().blocks.allocated).toBe(HELD_BLOCKS);
        expect(model.kvStats().blocks.used).toBe(0);
        // the pool kept its buffers and contents: the model goes on, with the same tokens
        expect(await complete(model, A)).toEqual(want.a);
      } finally {
        await model.dispose();
      }
    }, 300_000);

    it('a sequence needing more blocks than the device holds ends with KV_CACHE_FULL naming the refused buffer; the one beside it gives its tokens alone', async () => {
      const path = miniBytes(miniSpec());
      const want = await wantAlone(path);
      const { model, refusals } = await limited(path);
      try {
        const [ra, rc] = await Promise.allSettled([complete(model, A), complete(model, C)]);
        expect(ra.status, String(ra.status === 'rejected' ? ra.reason : '')).toBe('fulfilled');
        expect(ra.status === 'fulfilled' ? ra.value : undefined).toEqual(want.a);
        expect(await codeAndMessage(rc.status === 'rejected' ? Promise.reject(rc.reason as Error) : Promise.resolve())).toMatch(
          /^KV_CACHE_FULL: webgpu backend: the GPU has no memory for K layer 0 \(\d+ bytes.*injected.*lower kvMemory/,
        );
        expect(refusals()).toBeGreaterThan(0);
        expect(model.kvStats().blocks.allocated).toBe(HELD_BLOCKS);
        expect(await complete(model, B)).toEqual(want.b);
      } finally {
        await model.dispose();
      }
    }, 300_000);
  });

  it('a load compiles the pipelines its steps run while the weights upload (hardware adapter, relabelled; not on a software one): the first steps create none and give the same logits and tokens', async () => {
    const path = await quickModel('bitnet-b1.58', 'i2_s');
    const tokens = [258, 72, 101, 108, 108, 111];
    const opts = { maxTokens: 4, sampling: { kind: 'greedy' }, ignoreEos: true } as const;
    const runs = [];
    for (const hardware of [true, false]) {
      const counted = pipelineCounting(hardware ? hardwareLabelled(gpu) : gpu);
      const model = await BitNet.load(path, { backend: 'webgpu', gpu: counted.gpu });
      try {
        const afterLoad = { sync: [...counted.sync], async: [...counted.async] };
        const logits = await model.evaluateLogits(tokens);
        const ids = [...(await model.complete(tokens, opts)).tokenIds];
        const topK = [...(await model.complete(tokens, { ...opts, sampling: { kind: 'sample', topK: 5, temperature: 0.7 }, seed: 3 })).tokenIds];
        runs.push({ afterLoad, later: counted.sync.slice(afterLoad.sync.length), logits, ids, topK, kernels: [...model.backend.kernelCalls().keys()] });
      } finally {
        await model.dispose();
      }
    }
    const [hw, sw] = runs;
    // warmed up: every pipeline the steps run was compiled in the background during the load (those the software
    // adapter's model makes at its first steps), none at a step
    expect(sw.afterLoad.async).toEqual([]);
    expect(sw.later).toEqual(expect.arrayContaining(['rmsnorm', 'quantize', 'attention', 'matmul-i2s-dp4a', 'matmul-q8_0-dp4a']));
    expect(hw.afterLoad.async).toEqual(expect.arrayContaining(sw.later));
    expect(hw.later, 'pipelines created at a step after a warmed-up load').toEqual([]);
    expect(hw.kernels).toEqual(sw.kernels);
    expect(hw.ids).toEqual(sw.ids);
    expect(hw.topK).toEqual(sw.topK);
    for (let i = 0; i < hw.logits.length; i++) if (!Object.is(hw.logits[i], sw.logits[i])) expect.fail(`logit ${i}: warmed ${hw.logits[i]}, not ${sw.logits[i]}`);
    expect(await codeAndMessage(createWebGpuBackend({ gpu, warmUp: 'yes' as unknown as boolean }))).toMatch(/^BAD_ARGUMENT: createWebGpuBackend: warmUp must be a boolean/);
  }, 300_000);

  it("'auto' passes over the software adapter for wasm, without recording a fallback", async () => {
    expect(softwareAdapterReason(dawn?.adapter as GpuAdapter)).not.toBe('');
    const sel = await selectBackend('auto', 1, true, undefined, { gpu });
    expect(sel.backend.name).toBe('wasm');
    expect(sel.fallback).toBe('');
    await sel.backend.dispose();
  });

  it("'auto' takes a hardware adapter whose device passes the self-check (a real Dawn device, relabelled)", async () => {
    const sel = await selectBackend('auto', 1, true, undefined, { gpu: hardwareLabelled(gpu) });
    expect(sel.backend.name).toBe('webgpu');
    expect(sel.fallback).toBe('');
    await sel.backend.dispose();
  });

  it("'auto' falls back to wasm when the hardware adapter fails the self-check, records it, and strict mode refuses it", async () => {
    const sel = await selectBackend('auto', 1, false, undefined, { gpu: hardwareLabelled(gpu, true) });
    expect(sel.backend.name).toBe('wasm');
    expect(sel.fallback).toMatch(/^webgpu adapter test hw-labelled a CPU adapter relabelled as hardware failed its start-up self-check \(matmul i2_s differs at \d+: reference [-\d.e]+, backend [-\d.e]+\); using the wasm backend$/);
    await sel.backend.dispose();
    expect(await codeAndMessage(selectBackend('auto', 1, true, undefined, { gpu: hardwareLabelled(gpu, true) }))).toMatch(/^STRICT_VIOLATION: strict mode: webgpu adapter .* failed its start-up self-check/);
    // through BitNet.load: the fallback is on the model (and so in its receipts)
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'auto', threads: 1, gpu: hardwareLabelled(gpu, true) });
    try {
      expect(model.info.backend).toBe('wasm');
      expect(model.fallbacks.some((f) => f.includes('failed its start-up self-check'))).toBe(true);
    } finally {
      await model.dispose();
    }
  });

  it('`bitnet run --backend webgpu` in Node: Dawn loaded on demand, same greedy text as wasm, exit 0 (it once segfaulted)', async () => {
    const bin = join(import.meta.dirname, '..', '..', '..', 'bin', 'bitnet.js');
    const model = await quickModel('bitnet-b1.58', 'i2_s');
    const run = (backend: string): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, [bin, 'run', '-m', model, '--backend', backend, '-t', '1', '-p', 'Hello', '-n', '6', '--temp', '0'], { env: process.env }, (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
        });
      });
    const [gpuRun, wasmRun] = [await run('webgpu'), await run('wasm')];
    expect(gpuRun.code, gpuRun.stderr).toBe(0);
    expect(gpuRun.stderr).toMatch(/backend webgpu\/webgpu/);
    expect(wasmRun.code).toBe(0);
    expect(gpuRun.stdout).toBe(wasmRun.stdout);
  }, 300_000);
});
