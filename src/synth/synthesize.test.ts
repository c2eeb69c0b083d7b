// Tests of synthetic models: determinism, identical ternary weights across storage types, values, layouts per arch.

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { f16BitsToF32, f32ToF16Bits, dequantizeF16 } from '../formats/f16.js';
import { dequantizeF32 } from '../formats/f32.js';
import { GgmlType } from '../formats/ggml-type.js';
import { i2sScale, unpackI2s } from '../formats/i2s.js';
import { dequantizeQ8_0 } from '../formats/q8_0.js';
import { unpackTq1_0 } from '../formats/tq1_0.js';
import { unpackTq2_0, TQ2_0_BLOCK_BYTES } from '../formats/tq2_0.js';
import { openFileSource } from '../gguf/byte-source.js';
import { readGgufHeader, readTensorData } from '../gguf/reader.js';
import type { ByteSource, GgufHeader, GgufTensorInfo } from '../gguf/types.js';
import { inspectGguf } from '../inspect/inspect.js';
import { Rng, tensorRng } from './rng.js';
import { SHAPES } from './shapes.js';
import { planSyntheticModel, roundToF16Exact, synthesizeModel, ternaryTensor } from './synthesize.js';
import type { SynthesizeOptions, SynthWeightType } from './synthesize.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitnet-synth-'));
});
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

const BASE: Omit<SynthesizeOptions, 'path'> = { shape: 'tiny', arch: 'bitnet-b1.58', weightType: 'i2_s', embedType: 'q8_0', seed: 1 };

async function synth(file: string, over: Partial<SynthesizeOptions> = {}): Promise<string> {
  const path = join(dir, file);
  await synthesizeModel({ ...BASE, ...over, path });
  return path;
}

interface ReadModel {
  header: GgufHeader;
  /** Header info and bytes of the named tensor. */
  tensor: (name: string) => Promise<{ info: GgufTensorInfo; bytes: Uint8Array }>;
}

const openSources: ByteSource[] = [];
afterAll(async () => {
  for (const s of openSources) await s.close?.();
});

async function readModel(path: string): Promise<ReadModel> {
  const src = await openFileSource(path);
  openSources.push(src);
  const header = await readGgufHeader(src);
  return {
    header,
    tensor: async (name) => {
      const info = header.tensors.find((t) => t.name === name);
      if (info === undefined) throw new Error(`no tensor ${name}`);
      const bytes = new Uint8Array(info.byteSize);
      await readTensorData(src, info, bytes);
      return { info, bytes };
    },
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('ternaryTensor', () => {
  /** The plain definition: code i = [-1, 0, 1, 0][bits 2k..2k+1 of random word i >> 4], k = i & 15; the scale draws first. */
  function naive(seed: number, name: string, n: number): Int8Array {
    const rng = tensorRng(seed, name);
    rng.nextFloat();
    const out = new Int8Array(n);
    let r = 0;
    for (let i = 0; i < n; i++) {
      if (i % 16 === 0) r = rng.nextU32();
      out[i] = [-1, 0, 1, 0][(r >>> (2 * (i % 16))) & 3] ?? 9;
    }
    return out;
  }

  it('matches the plain definition, including a tail shorter than one random word', () => {
    for (const n of [16, 17, 64 + 7, 1000, 4096]) {
      expect(ternaryTensor(7, 'blk.0.attn_q.weight', [n, 1]).codes).toEqual(naive(7, 'blk.0.attn_q.weight', n));
    }
  });

  it('depends on the seed and the tensor name, and has about half zeros', () => {
    const a = ternaryTensor(1, 'blk.0.ffn_up.weight', [256, 512]);
    const b = ternaryTensor(2, 'blk.0.ffn_up.weight', [256, 512]);
    const c = ternaryTensor(1, 'blk.0.ffn_gate.weight', [256, 512]);
    expect(a.codes).not.toEqual(b.codes);
    expect(a.codes).not.toEqual(c.codes);
    const zeros = a.codes.filter((x) => x === 0).length / a.codes.length;
    const plus = a.codes.filter((x) => x === 1).length / a.codes.length;
    expect(zeros).toBeGreaterThan(0.47);
    expect(zeros).toBeLessThan(0.53);
    expect(plus).toBeGreaterThan(0.22);
    expect(plus).toBeLessThan(0.28);
  });

  it('has a scale exactly representable in f16, near 1/sqrt(fan-in / 2)', () => {
    for (const [name, fanIn] of [['a', 256], ['b', 2560], ['c', 6912]] as const) {
      const { scale } = ternaryTensor(3, name, [fanIn, 4]);
      expect(f16BitsToF32(f32ToF16Bits(scale))).toBe(scale);
      const base = 1 / Math.sqrt(fanIn / 2);
      expect(scale).toBeGreaterThanOrEqual(base * 0.74);
      expect(scale).toBeLessThanOrEqual(base * 1.26);
    }
  });

  it('roundToF16Exact rounds to 11 significant bits', () => {
    expect(roundToF16Exact(1)).toBe(1);
    expect(roundToF16Exact(1 + 2 ** -11)).toBe(1 + 2 ** -10); // halfway rounds up (Math.round)
    expect(roundToF16Exact(0.1)).toBe(f16BitsToF32(f32ToF16Bits(0.1)));
    const r = new Rng(5);
    for (let i = 0; i < 1000; i++) {
      const x = 2 ** -14 + r.nextFloat() * 100;
      const y = roundToF16Exact(x);
      expect(f16BitsToF32(f32ToF16Bits(y))).toBe(y);
      expect(Math.abs(y - x) / x).toBeLessThanOrEqual(2 ** -11);
    }
    expect(() => roundToF16Exact(1e6)).toThrow();
  });
});

describe('synthesizeModel', () => {
  it('is deterministic: the same seed gives byte-identical files, another seed other weights', async () => {
    const progress: number[] = [];
    let bytesTotal = 0;
    const pathA = await synth('det-a.gguf', {
      onProgress: (p) => {
        progress.push(p.tensorsDone);
        bytesTotal = p.bytesTotal;
        expect(p.bytesDone).toBeLessThanOrEqual(p.bytesTotal);
      },
    });
    const a = await readFile(pathA);
    const b = await readFile(await synth('det-b.gguf'));
    expect(a.length).toBe(b.length);
    expect(sha256(a)).toBe(sha256(b));
    // Progress: once per tensor, in order; the total is the tensor data (the header is not counted).
    expect(progress).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    const { header } = await readModel(pathA);
    expect(bytesTotal).toBe(header.tensors.reduce((sum, t) => sum + t.byteSize, 0));
    // Another seed: other weights, same sizes.
    const one = (await planSyntheticModel(BASE)).tensors.find((t) => t.name === 'blk.0.attn_q.weight');
    const two = (await planSyntheticModel({ ...BASE, seed: 2 })).tensors.find((t) => t.name === 'blk.0.attn_q.weight');
    const x = one?.data() ?? new Uint8Array();
    const y = two?.data() ?? new Uint8Array();
    expect(y.length).toBe(x.length);
    expect(sha256(y)).not.toBe(sha256(x));
  });

  it('stores the same ternary weights as i2_s, tq1_0, tq2_0, f16 and f32', async () => {
    // The i2_s file is the one of the determinism test (q8_0 embedding); the TQ files use an f16 embedding.
    const i2s = await readModel(join(dir, 'det-a.gguf'));
    const tq1 = await readModel(await synth('types-tq1_0.gguf', { weightType: 'tq1_0', embedType: 'f16' }));
    const tq2 = await readModel(await synth('types-tq2_0.gguf', { weightType: 'tq2_0', embedType: 'f16' }));
    const f16Plan = await planSyntheticModel({ ...BASE, weightType: 'f16' });
    const f32Plan = await planSyntheticModel({ ...BASE, weightType: 'f32' });
    const floatBytes = (w: SynthWeightType, name: string): Uint8Array =>
      (w === 'f16' ? f16Plan : f32Plan).tensors.find((t) => t.name === name)?.data() ?? new Uint8Array();
    for (const name of ['blk.0.attn_q.weight', 'blk.0.attn_k.weight', 'blk.1.ffn_down.weight', 'blk.1.attn_output.weight']) {
      const a = await i2s.tensor(name);
      const n = a.info.nElements;
      expect(a.info.type).toBe(GgmlType.I2_S);
      const codes = unpackI2s(a.bytes, n);
      const scale = i2sScale(a.bytes, n);
      expect(unpackTq1_0((await tq1.tensor(name)).bytes, n)).toEqual(codes);
      const t2 = await tq2.tensor(name);
      expect(unpackTq2_0(t2.bytes, n)).toEqual(codes);
      // TQ2_0 keeps the scale as each block's trailing f16 d: the same number as the I2_S f32 scale.
      const d = t2.bytes[TQ2_0_BLOCK_BYTES - 2] | (t2.bytes[TQ2_0_BLOCK_BYTES - 1] << 8);
      expect(f16BitsToF32(d)).toBe(scale);
      const expected = Float32Array.from(codes, (c) => c * scale);
      const fromF16 = new Float32Array(n);
      dequantizeF16(floatBytes('f16', name), n, fromF16);
      expect(fromF16).toEqual(expected);
      const fromF32 = new Float32Array(n);
      dequantizeF32(floatBytes('f32', name), n, fromF32);
      expect(fromF32).toEqual(expected);
      expect(codes).toEqual(ternaryTensor(1, name, a.info.dims).codes);
    }
    // Everything but the projections is byte-identical across weight types.
    for (const name of ['blk.0.attn_norm.weight', 'blk.1.ffn_sub_norm.weight', 'output_norm.weight']) {
      expect(sha256((await tq1.tensor(name)).bytes)).toBe(sha256((await i2s.tensor(name)).bytes));
    }
    expect(sha256((await tq1.tensor('token_embd.weight')).bytes)).toBe(sha256((await tq2.tensor('token_embd.weight')).bytes));
  });

  it('writes a tiny model that inspect finds complete, with the real LLaMA-3 tokenizer', async () => {
    const m = await readModel(join(dir, 'det-a.gguf'));
    const r = inspectGguf(m.header);
    expect(r.warnings).toEqual([]);
    const s = SHAPES.tiny;
    expect(r.arch).toBe('bitnet-b1.58');
    expect(r.alignment).toBe(32);
    expect(r.fileType).toEqual({ id: 40, name: 'MOSTLY_I2_S' });
    expect(r.hyperParameters).toMatchObject({
      contextLength: s.contextLength,
      embeddingLength: s.hiddenSize,
      feedForwardLength: s.ffnSize,
      blockCount: s.nLayers,
      headCount: s.nHeads,
      headCountKv: s.nKvHeads,
      headDim: s.headDim,
      ropeFreqBase: s.ropeTheta,
      ropeDimensionCount: s.headDim,
      vocabSize: 128256,
    });
    expect(r.tokenizer).toMatchObject({ model: 'gpt2', pre: 'llama-bpe', vocabSize: 128256, bosTokenId: 128000, eosTokenId: 128001, eotTokenId: 128009, mergesCount: 280147 });
    expect(r.tensors.map((t) => t.name)).not.toContain('output.weight');
    expect(r.tensors.find((t) => t.name === 'blk.0.attn_v.weight')).toMatchObject({ type: 'I2_S', dims: [256, 128], bytes: (256 * 128) / 4 + 32 });
    expect(r.tensors.find((t) => t.name === 'token_embd.weight')).toMatchObject({ type: 'Q8_0', dims: [256, 128256] });
  });

  it('writes positive norms and embeddings of the intended scale', async () => {
    const m = await readModel(join(dir, 'det-a.gguf'));
    const norm = await m.tensor('blk.1.ffn_sub_norm.weight');
    const nv = new Float32Array(norm.info.nElements);
    dequantizeF32(norm.bytes, nv.length, nv);
    expect(Math.min(...nv)).toBeGreaterThanOrEqual(0.9);
    expect(Math.max(...nv)).toBeLessThanOrEqual(1.1);
    expect(new Set(nv).size).toBeGreaterThan(nv.length / 2);
    const embd = await m.tensor('token_embd.weight');
    const rows = 64;
    const ev = new Float32Array(256 * rows);
    dequantizeQ8_0(embd.bytes.subarray(0, (ev.length / 32) * 34), ev.length, ev);
    const std = Math.sqrt(ev.reduce((s, x) => s + x * x, 0) / ev.length);
    expect(std).toBeGreaterThan((2 / Math.sqrt(256)) * 0.9);
    expect(std).toBeLessThan((2 / Math.sqrt(256)) * 1.1);
  });

  it('follows each arch layout: llama without sub-norms, all tied (no output.weight)', async () => {
    for (const arch of ['bitnet-b1.58', 'bitnet', 'llama'] as const) {
      const plan = await planSyntheticModel({ ...BASE, arch });
      const names = plan.tensors.map((t) => t.name);
      expect(names).not.toContain('output.weight');
      expect(names.some((n) => n.includes('sub_norm'))).toBe(arch !== 'llama');
      expect(names.length).toBe(2 + SHAPES.tiny.nLayers * (arch === 'llama' ? 9 : 11));
      const keys = plan.metadata.map(([k]) => k);
      expect(keys).toContain(`${arch}.attention.head_count_kv`);
      expect(keys.filter((k) => k.startsWith(`${arch}.`))).toHaveLength(10);
      expect(plan.metadata.find(([k]) => k === 'general.architecture')?.[1]).toEqual({ type: 8, value: arch });
    }
  });

  it('untiedOutput writes output.weight, a table of its own stream (not for arch bitnet); the 8b shape plans 3.58 GiB of tensors', async () => {
    for (const arch of ['bitnet-b1.58', 'llama'] as const) {
      const plan = await planSyntheticModel({ ...BASE, arch, untiedOutput: true });
      const out = plan.tensors.find((t) => t.name === 'output.weight');
      const embd = plan.tensors.find((t) => t.name === 'token_embd.weight');
      if (out === undefined || embd === undefined) throw new Error('missing table');
      expect(out.dims).toEqual(embd.dims);
      expect(out.type).toBe(embd.type);
      expect(Buffer.from(out.data()).equals(Buffer.from(embd.data()))).toBe(false);
      expect(plan.metadata.find(([k]) => k === 'general.name')?.[1]).toEqual({ type: 8, value: `synthetic-tiny-${arch}-i2_s-untied-s1` });
    }
    let err: unknown;
    try {
      await planSyntheticModel({ ...BASE, arch: 'bitnet', untiedOutput: true });
    } catch (e) {
      err = e;
    }
    expect(isBitNetError(err, 'BAD_ARGUMENT')).toBe(true);
    // Llama3-8B-1.58 as bitnet.cpp converts it: I2_S projections, F16 embedding and output (the data is not generated)
    const big = await planSyntheticModel({ ...BASE, shape: '8b', arch: 'llama', embedType: 'f16', untiedOutput: true });
    expect(big.tensors).toHaveLength(3 + 32 * 9);
    expect(big.tensors.reduce((n, t) => n + t.byteSize, 0)).toBe(3847248896);
  });

  it('stops when its signal is aborted and leaves no partial file', async () => {
    const ac = new AbortController();
    const path = join(dir, 'aborted.gguf');
    let err: unknown;
    try {
      await synthesizeModel({ ...BASE, path, signal: ac.signal, onProgress: (p) => { if (p.tensorsDone === 3) ac.abort(); } });
    } catch (e) {
      err = e;
    }
    expect(isBitNetError(err, 'ABORTED')).toBe(true);
    await expect(readFile(path)).rejects.toThrow();
  });

  it('refuses bad options with BAD_ARGUMENT / BAD_TENSOR_SHAPE', async () => {
    const codeOf = async (f: () => Promise<unknown>): Promise<string | undefined> => {
      try {
        await f();
      } catch (e) {
        return isBitNetError(e) ? e.code : 'not a BitNetError';
      }
      return undefined;
    };
    expect(await codeOf(() => planSyntheticModel({ ...BASE, shape: 'huge' as 'tiny' }))).toBe('BAD_ARGUMENT');
    expect(await codeOf(() => planSyntheticModel({ ...BASE, seed: -1 }))).toBe('BAD_ARGUMENT');
    expect(await codeOf(() => planSyntheticModel({ ...BASE, seed: 1.5 }))).toBe('BAD_ARGUMENT');
    expect(await codeOf(() => planSyntheticModel({ ...BASE, weightType: 'q4_0' as 'i2_s' }))).toBe('BAD_ARGUMENT');
    expect(await codeOf(() => planSyntheticModel({ ...BASE, arch: 'gpt2' as 'llama' }))).toBe('BAD_ARGUMENT');
    expect(await codeOf(() => planSyntheticModel({ ...BASE, shape: { ...SHAPES.tiny, headDim: 32 } }))).toBe('BAD_ARGUMENT');
    // TQ types need rows that are multiples of 256.
    expect(await codeOf(() => planSyntheticModel({ ...BASE, weightType: 'tq2_0', shape: { ...SHAPES.tiny, name: 'odd', hiddenSize: 128, nHeads: 2 } }))).toBe('BAD_TENSOR_SHAPE');
  });
});
