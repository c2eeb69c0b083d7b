// Tests of the GGUF inspect report: a well-formed small model has no warnings; each defect gives its warning.

import { describe, expect, it } from 'vitest';
import { GgmlType, tensorByteSize } from '../formats/ggml-type.js';
import { bytesSource } from '../gguf/byte-source.js';
import { gv } from '../gguf/metadata.js';
import { readGgufHeader } from '../gguf/reader.js';
import type { GgufValue } from '../gguf/types.js';
import { writeGguf } from '../gguf/writer.js';
import type { GgufWriteTensor } from '../gguf/writer.js';
import { expectedTensors, type SynthArch } from './arch-spec.js';
import { formatInspectReport } from './format.js';
import { inspectGguf, shortestF32, type InspectReport } from './inspect.js';

const DIMS = { hiddenSize: 256, ffnSize: 512, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 64, vocabSize: 300 };

interface Variant {
  arch?: SynthArch;
  dropTensor?: string;
  extraTensor?: GgufWriteTensor;
  extraKeys?: [string, GgufValue][];
  normType?: GgmlType;
  alignment?: number;
}

function metadataFor(arch: string, alignment: number): [string, GgufValue][] {
  const a = (s: string): string => `${arch}.${s}`;
  const tokens = Array.from({ length: DIMS.vocabSize }, (_, i) => (i === 290 ? '<|eot_id|>' : `t${i}`));
  return [
    ['general.architecture', gv.str(arch)],
    ['general.name', gv.str('inspect-test')],
    ['general.alignment', gv.u32(alignment)],
    ['general.file_type', gv.u32(37)],
    [a('vocab_size'), gv.u32(DIMS.vocabSize)],
    [a('context_length'), gv.u32(128)],
    [a('embedding_length'), gv.u32(DIMS.hiddenSize)],
    [a('feed_forward_length'), gv.u32(DIMS.ffnSize)],
    [a('block_count'), gv.u32(DIMS.nLayers)],
    [a('attention.head_count'), gv.u32(DIMS.nHeads)],
    [a('attention.head_count_kv'), gv.u32(DIMS.nKvHeads)],
    [a('attention.layer_norm_rms_epsilon'), gv.f32(1e-5)],
    [a('rope.freq_base'), gv.f32(500000)],
    [a('rope.dimension_count'), gv.u32(DIMS.headDim)],
    ['tokenizer.ggml.model', gv.str('gpt2')],
    ['tokenizer.ggml.pre', gv.str('llama-bpe')],
    ['tokenizer.ggml.tokens', gv.arrStr(tokens)],
    ['tokenizer.ggml.merges', gv.arrStr(['t 1', 't 2', 't1 0'])],
    ['tokenizer.ggml.bos_token_id', gv.u32(1)],
    ['tokenizer.ggml.eos_token_id', gv.u32(2)],
  ];
}

async function report(v: Variant = {}): Promise<InspectReport> {
  const arch = v.arch ?? 'bitnet-b1.58';
  const alignment = v.alignment ?? 32;
  const tensors: GgufWriteTensor[] = [];
  for (const t of expectedTensors(arch, DIMS)) {
    if (!t.required || t.name === v.dropTensor) continue;
    const type = t.role === 'norm' ? (v.normType ?? GgmlType.F32) : t.role === 'embedding' ? GgmlType.Q8_0 : GgmlType.TQ2_0;
    const nElements = t.dims.reduce((a, b) => a * b, 1);
    tensors.push({ name: t.name, dims: t.dims, type, data: new Uint8Array(tensorByteSize(type, nElements, t.dims[0] ?? 1, t.name)) });
  }
  if (v.extraTensor !== undefined) tensors.push(v.extraTensor);
  const bytes = writeGguf({ alignment, metadata: [...metadataFor(arch, alignment), ...(v.extraKeys ?? [])], tensors });
  return inspectGguf(await readGgufHeader(bytesSource(bytes, 'test.gguf')));
}

describe('inspectGguf', () => {
  it('summarizes a well-formed bitnet-b1.58 file without warnings', async () => {
    const r = await report();
    expect(r.warnings).toEqual([]);
    expect(r.arch).toBe('bitnet-b1.58');
    expect(r.name).toBe('inspect-test');
    expect(r.fileType).toEqual({ id: 37, name: 'MOSTLY_TQ2_0' });
    expect(r.hyperParameters).toMatchObject({ embeddingLength: 256, feedForwardLength: 512, blockCount: 2, headCount: 4, headCountKv: 2, headDim: 64, vocabSize: 300, contextLength: 128 });
    expect(r.hyperParameters.rmsEps).toBe(1e-5); // the f32 shown as its shortest decimal
    expect(r.hyperParameters.ropeFreqBase).toBe(500000);
    expect(r.tokenizer).toMatchObject({ model: 'gpt2', pre: 'llama-bpe', vocabSize: 300, bosTokenId: 1, eosTokenId: 2, eotTokenId: 290, mergesCount: 3, hasChatTemplate: false });
    // 1 embedding + 2 layers x (4 norms + 7 projections) + output_norm.
    expect(r.tensors).toHaveLength(1 + 2 * 11 + 1);
    const k = r.tensors.find((t) => t.name === 'blk.1.attn_k.weight');
    expect(k).toMatchObject({ type: 'TQ2_0', dims: [256, 128], nElements: 256 * 128, bytes: (256 * 128 / 256) * 66 });
    const expectedParams = expectedTensors('bitnet-b1.58', DIMS).filter((t) => t.required).reduce((s, t) => s + t.dims.reduce((a, b) => a * b, 1), 0);
    expect(r.totalParams).toBe(expectedParams);
    expect(r.bytesByType.map((t) => t.type).sort()).toEqual(['F32', 'Q8_0', 'TQ2_0']);
    expect(r.bytesByType.reduce((s, t) => s + t.bytes, 0)).toBe(r.tensorBytes);
    expect(r.bytesByType.find((t) => t.type === 'F32')?.nTensors).toBe(2 * 4 + 1);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r); // plain JSON
  });

  it('warns about a missing tensor, naming it', async () => {
    const r = await report({ dropTensor: 'blk.1.ffn_sub_norm.weight' });
    expect(r.warnings).toEqual([expect.objectContaining({ code: 'MISSING_TENSOR', subject: 'blk.1.ffn_sub_norm.weight' })]);
  });

  it('warns about unknown keys and keys of another architecture', async () => {
    const r = await report({ extraKeys: [['bitnet-b1.58.made_up', gv.u32(1)], ['llama.context_length', gv.u32(8)], ['acme.secret', gv.str('x')]] });
    expect(r.warnings.map((w) => [w.code, w.subject])).toEqual([
      ['UNKNOWN_KEY', 'bitnet-b1.58.made_up'],
      ['UNKNOWN_KEY', 'llama.context_length'],
      ['UNKNOWN_KEY', 'acme.secret'],
    ]);
    expect(r.warnings[1]?.message).toContain("architecture 'llama'");
  });

  it('warns about unexpected tensor types and unexpected tensors', async () => {
    const r = await report({
      normType: GgmlType.F16,
      extraTensor: { name: 'blk.9.attn_q.weight', dims: [256, 256], type: GgmlType.F32, data: new Uint8Array(256 * 256 * 4) },
    });
    const codes = r.warnings.map((w) => w.code);
    expect(codes.filter((c) => c === 'UNEXPECTED_TENSOR_TYPE')).toHaveLength(2 * 4 + 1);
    expect(r.warnings).toContainEqual(expect.objectContaining({ code: 'UNEXPECTED_TENSOR', subject: 'blk.9.attn_q.weight' }));
  });

  it('knows the per-arch layouts: llama has no sub-norms, bitnet has no output tensor', async () => {
    expect((await report({ arch: 'llama' })).warnings).toEqual([]);
    expect((await report({ arch: 'bitnet' })).warnings).toEqual([]);
    const subNorm = await report({ arch: 'llama', extraTensor: { name: 'blk.0.attn_sub_norm.weight', dims: [256], type: GgmlType.F32, data: new Uint8Array(1024) } });
    expect(subNorm.warnings.map((w) => w.code)).toEqual(['UNEXPECTED_TENSOR']);
    const output = await report({ arch: 'bitnet', extraTensor: { name: 'output.weight', dims: [256, 300], type: GgmlType.F16, data: new Uint8Array(256 * 300 * 2) } });
    expect(output.warnings.map((w) => w.code)).toEqual(['UNEXPECTED_TENSOR']);
    const scale = await report({ arch: 'bitnet', extraTensor: { name: 'blk.0.attn_q.scale', dims: [1], type: GgmlType.F32, data: new Uint8Array(4) } });
    expect(scale.warnings).toEqual([]);
  });

  it('warns about a non-default alignment', async () => {
    const r = await report({ alignment: 64 });
    expect(r.alignment).toBe(64);
    expect(r.warnings.map((w) => w.code)).toEqual(['ODD_ALIGNMENT']);
  });

  it('shows f32 metadata as the shortest decimal of the same f32', () => {
    for (const x of [1e-5, 1e-6, 0.1, 500000, 10000, 3.14159, 1 / 3]) {
      const f = Math.fround(x);
      const shown = shortestF32(f);
      expect(Math.fround(shown)).toBe(f);
      expect(String(shown).length).toBeLessThanOrEqual(String(x).length);
    }
    expect(shortestF32(Math.fround(1e-5))).toBe(1e-5);
  });

  it('formats a readable table', async () => {
    const r = await report({ dropTensor: 'output_norm.weight' });
    const text = formatInspectReport(r);
    expect(text).toContain('bitnet-b1.58');
    expect(text).toMatch(/blk\.0\.attn_k\.weight\s+TQ2_0\s+\[256, 128\]\s+8448/);
    expect(text).toContain('[MISSING_TENSOR]');
    const capped = formatInspectReport(r, { maxTensorRows: 5 });
    expect(capped).toContain(`... ${r.tensors.length - 5} more`);
  });
});
