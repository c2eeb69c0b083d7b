// Hostile model files through BitNet.load: absurd hyper-parameters, tensors of the wrong type or shape for the arch,
// NaN/Inf in norms and in ternary scales, missing tensors. Each is one change to a working mini model.

import { describe, expect, it } from 'vitest';
import { BitNet } from '../../src/engine/bitnet.js';
import { BitNetError } from '../../src/errors.js';
import { GgmlType } from '../../src/formats/ggml-type.js';
import { quantizeF32 } from '../../src/formats/f32.js';
import { gv } from '../../src/gguf/metadata.js';
import type { GgufWriteTensor } from '../../src/gguf/writer.js';
import { MINI, type MiniArch, type MiniSpec, type MiniWeightType, miniBytes, miniSpec, setMeta, setTensor, tensorData } from './mini-model.js';

async function loadCode(spec: MiniSpec): Promise<string> {
  try {
    const model = await BitNet.load(miniBytes(spec), { backend: 'reference' });
    await model.dispose();
    return 'ok';
  } catch (e) {
    return e instanceof BitNetError ? e.code : `not a BitNetError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
}

async function loadError(spec: MiniSpec, backend: 'reference' | 'wasm' = 'reference'): Promise<BitNetError> {
  try {
    const model = await BitNet.load(miniBytes(spec), { backend });
    await model.dispose();
  } catch (e) {
    if (e instanceof BitNetError) return e;
    throw e;
  }
  throw new Error('expected the load to fail');
}

describe('the mini model itself loads and generates (the baseline every case below breaks)', () => {
  it.each([
    ['bitnet-b1.58', 'i2_s'],
    ['bitnet', 'tq2_0'],
    ['llama', 'tq1_0'],
  ] as [MiniArch, MiniWeightType][])('%s with %s weights', async (arch, weights) => {
    const model = await BitNet.load(miniBytes(miniSpec(arch, weights)), { backend: 'reference' });
    try {
      const r = await model.complete('the', { maxTokens: 3, sampling: { kind: 'greedy' } });
      expect(r.usage.promptTokens).toBeGreaterThan(0);
      expect(r.tokenIds.every((id) => Number.isInteger(id) && id >= 0 && id < 260)).toBe(true);
    } finally {
      await model.dispose();
    }
  });
});

describe('absurd hyper-parameters', () => {
  const k = (key: string): string => `bitnet-b1.58.${key}`;
  it.each([
    ['embedding_length 2^30', 'BAD_METADATA', k('embedding_length'), gv.u32(2 ** 30)],
    ['embedding_length 2^64-1 (UINT64)', 'BAD_METADATA', k('embedding_length'), gv.u64(2n ** 64n - 1n)],
    ['embedding_length -256 (INT32)', 'BAD_METADATA', k('embedding_length'), gv.i32(-256)],
    ['embedding_length as a string', 'BAD_METADATA', k('embedding_length'), gv.str('256')],
    ['embedding_length 255.5 (FLOAT64)', 'BAD_METADATA', k('embedding_length'), gv.f64(255.5)],
    ['block_count 10^6', 'BAD_METADATA', k('block_count'), gv.u32(1_000_000)],
    ['block_count 0', 'BAD_METADATA', k('block_count'), gv.u32(0)],
    ['block_count 2 with tensors for 1 layer', 'MISSING_TENSOR', k('block_count'), gv.u32(2)],
    ['head_count 0', 'BAD_METADATA', k('attention.head_count'), gv.u32(0)],
    ['head_count 3 (does not divide 256)', 'BAD_METADATA', k('attention.head_count'), gv.u32(3)],
    ['head_count_kv 3 (does not divide 4 heads)', 'BAD_METADATA', k('attention.head_count_kv'), gv.u32(3)],
    ['context_length 2^40', 'BAD_METADATA', k('context_length'), gv.u64(2 ** 40)],
    ['feed_forward_length 2^31', 'BAD_METADATA', k('feed_forward_length'), gv.u32(2 ** 31)],
    ['rms epsilon NaN', 'BAD_METADATA', k('attention.layer_norm_rms_epsilon'), gv.f32(Number.NaN)],
    ['rms epsilon 0', 'BAD_METADATA', k('attention.layer_norm_rms_epsilon'), gv.f32(0)],
    ['rope freq_base Infinity', 'BAD_METADATA', k('rope.freq_base'), gv.f32(Number.POSITIVE_INFINITY)],
    ['rope dimension_count 32 (partial RoPE)', 'BAD_METADATA', k('rope.dimension_count'), gv.u32(32)],
    ['vocab_size 2^30', 'BAD_METADATA', k('vocab_size'), gv.u32(2 ** 30)],
    ['vocab_size 300 (the embedding has 260 rows)', 'BAD_TENSOR_FOR_ARCH', k('vocab_size'), gv.u32(300)],
    ['an unknown architecture', 'UNSUPPORTED_ARCH', 'general.architecture', gv.str('gpt-j')],
    ['architecture as a number', 'BAD_METADATA', 'general.architecture', gv.u32(1)],
  ])('%s -> %s', async (_name, code, key, value) => {
    expect(await loadCode(setMeta(miniSpec(), key, value))).toBe(code);
  });

  it('a missing embedding_length -> MISSING_METADATA naming the key', async () => {
    const e = await loadError(setMeta(miniSpec(), k('embedding_length'), undefined));
    expect(e.code).toBe('MISSING_METADATA');
    expect(e.message).toContain('embedding_length');
  });

  it('a missing architecture -> MISSING_METADATA', async () => {
    expect(await loadCode(setMeta(miniSpec(), 'general.architecture', undefined))).toBe('MISSING_METADATA');
  });
});

describe('tensors of the wrong type or shape for the arch', () => {
  /** The same tensor with another type and data of the right size for it. */
  const retype = (type: number, bytesPerElementBlock: [number, number]) => (t: GgufWriteTensor): GgufWriteTensor => {
    const n = t.dims.reduce((a, b) => a * b, 1);
    return { name: t.name, dims: t.dims, type: type as GgmlType, data: new Uint8Array((n / bytesPerElementBlock[0]) * bytesPerElementBlock[1]) };
  };

  it('a Q4_K projection -> BAD_TENSOR_FOR_ARCH naming the tensor and its type', async () => {
    const e = await loadError(setTensor(miniSpec(), 'blk.0.attn_q.weight', retype(GgmlType.Q4_K, [256, 144])));
    expect(e.code).toBe('BAD_TENSOR_FOR_ARCH');
    expect(e.message).toContain('blk.0.attn_q.weight');
    expect(e.message).toContain('Q4_K');
  });

  it('a Q8_0 projection (an embedding type, not a projection type) -> BAD_TENSOR_FOR_ARCH', async () => {
    expect(await loadCode(setTensor(miniSpec(), 'blk.0.ffn_down.weight', retype(GgmlType.Q8_0, [32, 34])))).toBe('BAD_TENSOR_FOR_ARCH');
  });

  it('an I2_S norm -> BAD_TENSOR_FOR_ARCH', async () => {
    const e = await loadError(setTensor(miniSpec(), 'blk.0.attn_norm.weight', (t) => ({ name: t.name, dims: t.dims, type: GgmlType.I2_S, data: new Uint8Array(256 / 4 + 32) })));
    expect(e.code).toBe('BAD_TENSOR_FOR_ARCH');
    expect(e.message).toContain('blk.0.attn_norm.weight');
  });

  it('a TQ2_0 token embedding -> BAD_TENSOR_FOR_ARCH', async () => {
    expect(await loadCode(setTensor(miniSpec(), 'token_embd.weight', retype(GgmlType.TQ2_0, [256, 66])))).toBe('BAD_TENSOR_FOR_ARCH');
  });

  it('a TL1 projection whose shape has no known tiles (none given, no bitnet.cpp preset) is refused with a BitNetError', async () => {
    const code = await loadCode(setTensor(miniSpec(), 'blk.0.attn_v.weight', (t) => ({ name: t.name, dims: t.dims, type: GgmlType.TL1, data: new Uint8Array(8192), byteSize: 8192 })));
    expect(code).toBe('UNSUPPORTED_TENSOR_TYPE');
  });

  it.each([
    ['attn_q [256, 128] (should be [256, 256])', 'blk.0.attn_q.weight', [MINI.hidden, 128]],
    ['attn_q [256, 256, 1] (three dimensions)', 'blk.0.attn_q.weight', [MINI.hidden, MINI.hidden, 1]],
    ['attn_k [256, 256] (should be [256, 128])', 'blk.0.attn_k.weight', [MINI.hidden, MINI.hidden]],
    ['ffn_down [512, 128] (same element count, wrong shape)', 'blk.0.ffn_down.weight', [512, 128]],
  ])('%s -> BAD_TENSOR_FOR_ARCH', async (_name, tensor, dims) => {
    const spec = setTensor(miniSpec(), tensor, (t) => {
      const n = dims.reduce((a, b) => a * b, 1);
      return { name: t.name, dims, type: GgmlType.I2_S, data: new Uint8Array(n / 4 + 32) };
    });
    expect(await loadCode(spec)).toBe('BAD_TENSOR_FOR_ARCH');
  });

  it('a norm of the wrong length -> BAD_TENSOR_FOR_ARCH', async () => {
    expect(await loadCode(setTensor(miniSpec(), 'blk.0.ffn_norm.weight', (t) => ({ ...t, dims: [128], data: quantizeF32(new Float32Array(128).fill(1)) })))).toBe('BAD_TENSOR_FOR_ARCH');
  });

  it('a token embedding with fewer rows than the vocabulary -> BAD_TENSOR_FOR_ARCH', async () => {
    expect(await loadCode(setTensor(miniSpec(), 'token_embd.weight', (t) => ({ ...t, dims: [MINI.hidden, 100], data: new Uint8Array(MINI.hidden * 100 * 2) })))).toBe('BAD_TENSOR_FOR_ARCH');
  });

  it.each(['blk.0.attn_sub_norm.weight', 'blk.0.ffn_gate.weight', 'output_norm.weight', 'token_embd.weight'])('without %s -> MISSING_TENSOR', async (name) => {
    const e = await loadError(setTensor(miniSpec(), name, () => undefined));
    expect(e.code).toBe('MISSING_TENSOR');
    expect(e.message).toContain(name);
  });

  it('a bitnet-arch scale tensor of two elements -> BAD_TENSOR_FOR_ARCH', async () => {
    const spec = miniSpec('bitnet', 'tq2_0');
    spec.tensors.push({ name: 'blk.0.attn_q.scale', dims: [2], type: GgmlType.F32, data: quantizeF32([1, 1]) });
    expect(await loadCode(spec)).toBe('BAD_TENSOR_FOR_ARCH');
  });
});

describe.each(['reference', 'wasm'] as const)('NaN and Inf in tensor data (%s backend)', (backend) => {
  /** A copy of `name`'s F32 data with `value` at element `index`. */
  const poisonNorm = (spec: MiniSpec, name: string, index: number, value: number): MiniSpec =>
    setTensor(spec, name, (t) => {
      const data = tensorData(spec, name).slice();
      new DataView(data.buffer).setFloat32(4 * index, value, true);
      return { ...t, data };
    });

  it.each([
    ['blk.0.attn_norm.weight', Number.NaN],
    ['blk.0.ffn_sub_norm.weight', Number.POSITIVE_INFINITY],
    ['output_norm.weight', Number.NEGATIVE_INFINITY],
  ])('%s holding %s -> BAD_TENSOR_DATA naming the tensor and index', async (name, value) => {
    const e = await loadError(poisonNorm(miniSpec(), name, 7, value), backend);
    expect(e.code).toBe('BAD_TENSOR_DATA');
    expect(e.message).toContain(name);
    expect(e.details.index).toBe(7);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY])('an I2_S tensor scale of %s -> BAD_TENSOR_DATA', async (value) => {
    const spec = miniSpec('bitnet-b1.58', 'i2_s');
    const name = 'blk.0.attn_output.weight';
    const data = tensorData(spec, name).slice();
    new DataView(data.buffer).setFloat32((MINI.hidden * MINI.hidden) / 4, value, true); // the scale follows the codes
    const e = await loadError(setTensor(spec, name, (t) => ({ ...t, data })), backend);
    expect(e.code).toBe('BAD_TENSOR_DATA');
    expect(e.message).toContain(name);
  });

  it.each([
    ['tq2_0', '+Inf', 0x7c00, 'blk.0.ffn_up.weight'],
    ['tq2_0', 'NaN', 0x7e00, 'blk.0.attn_k.weight'],
    ['tq1_0', '-Inf', 0xfc00, 'blk.0.ffn_gate.weight'],
    ['tq1_0', 'a signalling NaN', 0x7d01, 'blk.0.attn_q.weight'],
  ] as [MiniWeightType, string, number, string][])('a %s block scale of %s in a later block -> BAD_TENSOR_DATA', async (weights, _what, bits, name) => {
    // TQ2_0: 66-byte blocks, F16 d at byte 64; TQ1_0: 54-byte blocks, d at byte 52 (ggml-common.h: d comes last).
    const [blockBytes, scaleOffset] = weights === 'tq2_0' ? [66, 64] : [54, 52];
    const spec = miniSpec(weights === 'tq1_0' ? 'llama' : 'bitnet', weights);
    const data = tensorData(spec, name).slice();
    const block = 1; // not the first: every block must be checked
    data[block * blockBytes + scaleOffset] = bits & 0xff;
    data[block * blockBytes + scaleOffset + 1] = bits >> 8;
    const e = await loadError(setTensor(spec, name, (t) => ({ ...t, data })), backend);
    expect(e.code).toBe('BAD_TENSOR_DATA');
    expect(e.message).toContain(name);
    expect(e.details.block).toBe(block);
  });

  it('a NaN bitnet-arch projection scale tensor -> BAD_TENSOR_DATA', async () => {
    const spec = miniSpec('bitnet', 'tq2_0');
    spec.tensors.push({ name: 'blk.0.ffn_down.scale', dims: [1], type: GgmlType.F32, data: quantizeF32([Number.NaN]) });
    expect((await loadError(spec, backend)).code).toBe('BAD_TENSOR_DATA');
  });
});
