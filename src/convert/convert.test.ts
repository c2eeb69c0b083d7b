// Converter tests: synthetic Hugging Face checkpoints in each published layout, converted and compared with the same
// weights synthesized directly (tensor bytes and reference-backend logits), plus the refusals.

import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { BitNet } from '../engine/bitnet.js';
import { isBitNetError } from '../errors.js';
import { f16BitsToF32 } from '../formats/f16.js';
import { GgmlType } from '../formats/ggml-type.js';
import { i2sScale, packI2s, unpackI2s } from '../formats/i2s.js';
import { openFileSource } from '../gguf/byte-source.js';
import { readGgufHeader, readTensorData } from '../gguf/reader.js';
import type { GgufHeader, GgufValue } from '../gguf/types.js';
import { writeGguf } from '../gguf/writer.js';
import { synthesizeModel } from '../synth/synthesize.js';
import type { SynthWeightType } from '../synth/synthesize.js';
import type { SynthArch } from '../inspect/arch-spec.js';
import { quantizeF16 } from '../formats/f16.js';
import { encodeSafetensors, f32Bytes, type StTensor } from '../../test/helpers/safetensors-writer.js';
import { hfName, hfPackTernary, llama3TokenizerJson, miniTokenizerJson, synthCheckpointTensors, tinyConfig, writeCheckpoint } from '../../test/helpers/hf-checkpoint.js';
import { convertCheckpoint } from './convert.js';

let dir = '';
let llama3NoPre: unknown;
let llama3WithPre: unknown;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitnet-convert-'));
  llama3NoPre = llama3TokenizerJson(false);
  llama3WithPre = llama3TokenizerJson(true);
});
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const fresh = (label: string): string => join(dir, `${label}-${counter++}`);

interface Read {
  header: GgufHeader;
  bytes: Map<string, Uint8Array>;
}

async function readAll(path: string): Promise<Read> {
  const src = await openFileSource(path);
  try {
    const header = await readGgufHeader(src);
    const bytes = new Map<string, Uint8Array>();
    for (const t of header.tensors) {
      const b = new Uint8Array(t.byteSize);
      await readTensorData(src, t, b);
      bytes.set(t.name, b);
    }
    return { header, bytes };
  } finally {
    await src.close?.();
  }
}

/** Logits of every position of `tokens` on the reference backend. */
async function logits(path: string, tokens: readonly number[]): Promise<Float32Array> {
  const model = await BitNet.load(path, { backend: 'reference' });
  try {
    return await model.evaluateLogits(tokens);
  } finally {
    await model.dispose();
  }
}

const TOKENS = [128000, 791, 6864, 315, 9822, 374];

const synthesized = new Map<string, Promise<string>>();
/** The tiny model `bitnet synth` writes for these options (F16 embedding), generated once per test file. */
function synth(arch: SynthArch, weightType: SynthWeightType, seed = 3): Promise<string> {
  const key = `${arch}-${weightType}-${seed}`;
  let p = synthesized.get(key);
  if (p === undefined) {
    const path = `${fresh('synth')}.gguf`;
    p = synthesizeModel({ shape: 'tiny', arch, weightType, embedType: 'f16', seed, path }).then(() => path);
    synthesized.set(key, p);
  }
  return p;
}

function meta(h: GgufHeader, key: string): GgufValue['value'] | undefined {
  return h.metadata.get(key)?.value;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return m;
}

async function expectCode(p: Promise<unknown>, code: string, text?: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(isBitNetError(e), `expected a BitNetError, got ${String(e)}`).toBe(true);
  if (isBitNetError(e)) {
    expect(e.code).toBe(code);
    if (text !== undefined) expect(e.message).toMatch(text);
  }
}

describe('packed 2B-4T layout (uint8 [out/4, in] + weight_scale)', () => {
  it('BitLinear (weight_scale divides) -> TQ2_0: every tensor byte and the logits equal the synthesized model', async () => {
    const tensors = await synthCheckpointTensors('bitnet-b1.58', 3, { kind: 'packed', weightScale: 'divide' });
    const ckpt = await writeCheckpoint(fresh('packed'), {
      config: tinyConfig('bitnet-b1.58', { quantization_config: { quant_method: 'bitnet', linear_class: 'bitlinear', quantization_mode: 'offline' } }),
      tensors,
      tokenizerJson: llama3NoPre, // Microsoft's 2B-4T quirk: no pre-tokenizer recorded
      tokenizerConfig: { bos_token: '<|begin_of_text|>', eos_token: '<|end_of_text|>', chat_template: '{{ messages }}' },
      generationConfig: { eos_token_id: [128001, 128009] },
    });
    const out = `${fresh('out')}.gguf`;
    const result = await convertCheckpoint(ckpt, out, { weights: 'tq2_0', embed: 'f16' });
    expect(result.plan.arch).toBe('bitnet-b1.58');
    const expected = await readAll(await synth('bitnet-b1.58', 'tq2_0'));
    const got = await readAll(out);
    expect(got.header.tensors.map((t) => [t.name, t.type, t.dims.join(',')])).toEqual(expected.header.tensors.map((t) => [t.name, t.type, t.dims.join(',')]));
    for (const [name, bytes] of expected.bytes) expect(Buffer.compare(Buffer.from(got.bytes.get(name) ?? []), Buffer.from(bytes)), name).toBe(0);
    // Tokenizer: the LLaMA-3 vocabulary, 'llama-bpe' recorded although tokenizer.json has no pre-tokenizer, eot_id as end of turn.
    expect(meta(got.header, 'tokenizer.ggml.pre')).toBe('llama-bpe');
    expect(meta(got.header, 'tokenizer.ggml.eot_token_id')).toBe(128009);
    expect(meta(got.header, 'tokenizer.ggml.eos_token_id')).toBe(128001);
    expect(meta(got.header, 'tokenizer.ggml.bos_token_id')).toBe(128000);
    expect(meta(got.header, 'tokenizer.ggml.add_bos_token')).toBe(true);
    expect(meta(got.header, 'tokenizer.chat_template')).toBe('{{ messages }}');
    expect(meta(got.header, 'tokenizer.ggml.tokens')).toEqual(meta(expected.header, 'tokenizer.ggml.tokens'));
    expect(meta(got.header, 'tokenizer.ggml.merges')).toEqual(meta(expected.header, 'tokenizer.ggml.merges'));
    expect(result.plan.notes.join('\n')).toMatch(/no pre_tokenizer/);

    const a = await logits(out, TOKENS);
    const b = await logits(await synth('bitnet-b1.58', 'tq2_0'), TOKENS);
    expect(maxAbsDiff(a, b)).toBe(0);
    // The engine tokenizes text the same way with the converted vocabulary as with the synthesized one.
    const converted = await BitNet.load(out, { backend: 'reference' });
    const direct = await BitNet.load(await synth('bitnet-b1.58', 'tq2_0'), { backend: 'reference' });
    try {
      for (const text of ["don't you'll WE'RE", 'tabs\tand\nnewlines', 'x=a+b*(c-d) 12345', 'Hello<|eot_id|>']) {
        expect(converted.tokenizer.encode(text), text).toEqual(direct.tokenizer.encode(text));
      }
    } finally {
      await converted.dispose();
      await direct.dispose();
    }
  }, 120_000);

  it('BitLinear -> I2_S: codes equal, scale = 1/weight_scale to one f32 rounding, logits agree', async () => {
    const tensors = await synthCheckpointTensors('bitnet-b1.58', 3, { kind: 'packed', weightScale: 'divide' });
    const ckpt = await writeCheckpoint(fresh('packed-i2s'), { config: tinyConfig('bitnet-b1.58', { quantization_config: { quant_method: 'bitnet' } }), tensors, tokenizerJson: llama3WithPre });
    const out = `${fresh('out')}.gguf`;
    await convertCheckpoint(ckpt, out, { weights: 'i2_s' });
    const expectedPath = await synth('bitnet-b1.58', 'i2_s');
    const expected = await readAll(expectedPath);
    const got = await readAll(out);
    for (const t of expected.header.tensors.filter((x) => x.type === GgmlType.I2_S)) {
      const e = expected.bytes.get(t.name) ?? new Uint8Array(0);
      const g = got.bytes.get(t.name) ?? new Uint8Array(0);
      expect(Buffer.compare(Buffer.from(unpackI2s(g, t.nElements)), Buffer.from(unpackI2s(e, t.nElements))), t.name).toBe(0);
      const se = i2sScale(e, t.nElements);
      expect(Math.abs(i2sScale(g, t.nElements) - se) / se, t.name).toBeLessThanOrEqual(2 ** -23);
    }
    expect(maxAbsDiff(await logits(out, TOKENS), await logits(expectedPath, TOKENS))).toBeLessThan(1e-3);
  }, 120_000);

  it('AutoBitLinear (weight_scale multiplies) -> I2_S: every tensor byte equals the synthesized model', async () => {
    const tensors = await synthCheckpointTensors('bitnet-b1.58', 3, { kind: 'packed', weightScale: 'multiply' });
    const ckpt = await writeCheckpoint(fresh('packed-mul'), {
      config: tinyConfig('bitnet-b1.58', { quantization_config: { quant_method: 'bitnet', linear_class: 'autobitlinear', quantization_mode: 'offline' } }),
      tensors,
      tokenizerJson: llama3WithPre,
    });
    const out = `${fresh('out')}.gguf`;
    await convertCheckpoint(ckpt, out, { weights: 'i2_s' });
    const expected = await readAll(await synth('bitnet-b1.58', 'i2_s'));
    const got = await readAll(out);
    for (const [name, bytes] of expected.bytes) expect(Buffer.compare(Buffer.from(got.bytes.get(name) ?? []), Buffer.from(bytes)), name).toBe(0);
  }, 120_000);

  it("weight_scale divides: the converted projection computes transformers BitLinear's output (multiplying would not)", async () => {
    // One projection, computed as transformers integrations/bitnet.py BitLinear.forward does: unpack the uint8
    // codes, quantize the input per token (scale = 127 / max|x|), integer matmul, then y / (input_scale * weight_scale).
    const rows = 8;
    const cols = 256;
    const codes = Int8Array.from({ length: rows * cols }, (_, i) => ((i * 7919) % 3) - 1);
    const ws = 37.5; // a typical 2B-4T weight_scale: 1 / mean|W|
    const x = Float32Array.from({ length: cols }, (_, i) => Math.sin(i * 0.37) * 2);
    let absmax = 0;
    for (const v of x) absmax = Math.max(absmax, Math.abs(v));
    const inputScale = 127 / absmax;
    const xq = Array.from(x, (v) => Math.max(-128, Math.min(127, Math.round(v * inputScale))));
    const hf = (r: number): number => {
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += xq[c] * (codes[r * cols + c] ?? 0);
      return acc / (inputScale * ws);
    };
    // A 1-layer tiny model is too big for this; convert just the tensors through a full checkpoint of the mini shape.
    const ckpt = await writeMiniCheckpoint(fresh('proof'), (name, r, c) => {
      if (name.endsWith('q_proj.weight')) return { kind: 'packed', codes: Int8Array.from({ length: r * c }, (_, i) => (i < rows * cols ? (codes[i] ?? 0) : 0)), ws };
      return undefined;
    }, { config: { quantization_config: { quant_method: 'bitnet', linear_class: 'bitlinear', quantization_mode: 'offline' } } });
    const out = `${fresh('out')}.gguf`;
    await convertCheckpoint(ckpt, out, { weights: 'i2_s' });
    const got = await readAll(out);
    const q = got.bytes.get('blk.0.attn_q.weight') ?? new Uint8Array(0);
    const n = MINI.hidden * MINI.hidden;
    const gCodes = unpackI2s(q, n);
    const scale = i2sScale(q, n);
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += xq[c] * (gCodes[r * cols + c] ?? 0);
      const engine = (acc / inputScale) * scale; // FORMATS.md bitlinear: y = acc / s * weight_scale
      expect(Math.abs(engine - hf(r))).toBeLessThan(1e-6 * Math.max(1, Math.abs(hf(r))));
      if (hf(r) !== 0) expect(Math.abs((acc / inputScale) * ws - hf(r))).toBeGreaterThan(Math.abs(hf(r))); // the other reading is off by ws^2
    }
  }, 60_000);
});

describe('Falcon3 / Llama3-8B-1.58 style (`llama` arch)', () => {
  it('packed BitLinear checkpoint -> TQ1_0 equals the synthesized llama model (q/k rows reordered for llama RoPE)', async () => {
    const tensors = await synthCheckpointTensors('llama', 5, { kind: 'packed', weightScale: 'divide' });
    const ckpt = await writeCheckpoint(fresh('llama-packed'), { config: tinyConfig('llama', { quantization_config: { quant_method: 'bitnet' } }), tensors, tokenizerJson: llama3WithPre, shards: 3 });
    const out = `${fresh('out')}.gguf`;
    const r = await convertCheckpoint(ckpt, out, { weights: 'tq1_0' });
    expect(r.plan.files.length).toBe(3);
    const expectedPath = await synth('llama', 'tq1_0', 5);
    const expected = await readAll(expectedPath);
    const got = await readAll(out);
    for (const [name, bytes] of expected.bytes) expect(Buffer.compare(Buffer.from(got.bytes.get(name) ?? []), Buffer.from(bytes)), name).toBe(0);
    expect(maxAbsDiff(await logits(out, TOKENS), await logits(expectedPath, TOKENS))).toBe(0);
  }, 120_000);

  it('already-ternary F16 tensors (no scales) -> I2_S equals the synthesized llama model', async () => {
    const tensors = await synthCheckpointTensors('llama', 5, { kind: 'floats', dtype: 'F16' });
    const ckpt = await writeCheckpoint(fresh('llama-f16'), { config: tinyConfig('llama'), tensors, tokenizerJson: llama3WithPre });
    const out = `${fresh('out')}.gguf`;
    await convertCheckpoint(ckpt, out, { weights: 'i2_s' });
    const expected = await readAll(await synth('llama', 'i2_s', 5));
    const got = await readAll(out);
    for (const [name, bytes] of expected.bytes) expect(Buffer.compare(Buffer.from(got.bytes.get(name) ?? []), Buffer.from(bytes)), name).toBe(0);
  }, 120_000);

  it('a plain (non-ternary) llama checkpoint converts to F32 as it is, and is refused as ternary', async () => {
    const ckpt = await writeMiniCheckpoint(fresh('plain'), () => undefined, { arch: 'llama', projections: 'random-floats' });
    const out = `${fresh('out')}.gguf`;
    await expectCode(convertCheckpoint(ckpt, out, { weights: 'i2_s' }), 'CHECKPOINT_UNSUPPORTED', /model\.layers\.0\.self_attn\.q_proj\.weight.*not ternary/);
    await expect(readdir(dir).then((f) => f.includes(out.split('/').pop() ?? ''))).resolves.toBe(false); // no partial file left
    await convertCheckpoint(ckpt, out, { weights: 'f32' });
    const got = await readAll(out);
    // v_proj is not reordered: its F32 bytes are the checkpoint's.
    expect(Buffer.compare(Buffer.from(got.bytes.get('blk.0.attn_v.weight') ?? []), Buffer.from(miniFloats('model.layers.0.self_attn.v_proj.weight', MINI.kvDim * MINI.hidden)))).toBe(0);
  }, 60_000);
});

// ---- a one-layer checkpoint with a 260-token vocabulary, for master-weight and refusal tests ----

const MINI = { hidden: 256, ffn: 256, heads: 4, kvHeads: 2, kvDim: 128, vocab: 260 } as const;

/** Deterministic pseudo-random floats (a linear congruential stream seeded by the name), bf16-exact when asked. */
function miniValues(name: string, n: number): Float32Array {
  let s = 0;
  for (const ch of name) s = (Math.imul(s, 31) + ch.charCodeAt(0)) >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 0.1;
  }
  return out;
}
function miniFloats(name: string, n: number): Uint8Array {
  return f32Bytes(miniValues(name, n));
}
function toBf16Bytes(v: Float32Array): Uint8Array {
  const u = new Uint32Array(Float32Array.from(v).buffer);
  const out = new Uint8Array(v.length * 2);
  for (let i = 0; i < v.length; i++) {
    const bits = (u[i] ?? 0) >>> 16; // truncation: these test values need no rounding, only bf16 exactness
    out[2 * i] = bits & 0xff;
    out[2 * i + 1] = bits >>> 8;
  }
  return out;
}
function bf16Values(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length / 2);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) u[i] = ((bytes[2 * i] ?? 0) | ((bytes[2 * i + 1] ?? 0) << 8)) << 16;
  return out;
}

function f16Values(bytes: Uint8Array): Float32Array {
  return Float32Array.from({ length: bytes.length / 2 }, (_, i) => f16BitsToF32((bytes[2 * i] ?? 0) | ((bytes[2 * i + 1] ?? 0) << 8)));
}

type Override = { kind: 'packed'; codes: Int8Array; ws: number } | { kind: 'raw'; tensor: StTensor } | { kind: 'drop' };

interface MiniOptions {
  arch?: SynthArch;
  projections?: 'bf16-master' | 'random-floats' | 'f16-master';
  config?: Record<string, unknown>;
  extra?: StTensor[];
  tokenizerJson?: unknown;
}

/** The GGUF names of the mini model's tensors, in order, with their transformers shapes. */
function miniLayout(arch: SynthArch): { gguf: string; shape: number[]; norm: boolean }[] {
  const l: { gguf: string; shape: number[]; norm: boolean }[] = [{ gguf: 'token_embd.weight', shape: [MINI.vocab, MINI.hidden], norm: false }];
  const p = (n: string, o: number, i: number): void => void l.push({ gguf: `blk.0.${n}.weight`, shape: [o, i], norm: false });
  const nm = (n: string, d: number): void => void l.push({ gguf: `blk.0.${n}.weight`, shape: [d], norm: true });
  nm('attn_norm', MINI.hidden);
  p('attn_q', MINI.hidden, MINI.hidden);
  p('attn_k', MINI.kvDim, MINI.hidden);
  p('attn_v', MINI.kvDim, MINI.hidden);
  p('attn_output', MINI.hidden, MINI.hidden);
  if (arch !== 'llama') nm('attn_sub_norm', MINI.hidden);
  nm('ffn_norm', MINI.hidden);
  p('ffn_gate', MINI.ffn, MINI.hidden);
  p('ffn_up', MINI.ffn, MINI.hidden);
  p('ffn_down', MINI.hidden, MINI.ffn);
  if (arch !== 'llama') nm('ffn_sub_norm', MINI.ffn);
  l.push({ gguf: 'output_norm.weight', shape: [MINI.hidden], norm: true });
  return l;
}

async function writeMiniCheckpoint(path: string, override: (hfName: string, rows: number, cols: number) => Override | undefined, o: MiniOptions = {}): Promise<string> {
  const arch = o.arch ?? 'bitnet-b1.58';
  const tensors: StTensor[] = [];
  for (const t of miniLayout(arch)) {
    const name = hfName(t.gguf, arch === 'bitnet' ? '1bitllm' : 'bitnet-2b');
    const n = t.shape.reduce((a, b) => a * b, 1);
    const ov = override(name, t.shape[0] ?? 1, t.shape[1] ?? 1);
    if (ov?.kind === 'drop') continue;
    if (ov?.kind === 'raw') {
      tensors.push(ov.tensor);
      continue;
    }
    if (ov?.kind === 'packed') {
      const [rows = 0, cols = 0] = t.shape;
      tensors.push({ name, dtype: 'U8', shape: [rows / 4, cols], data: hfPackTernary(ov.codes, rows, cols) });
      tensors.push({ name: name.replace(/weight$/, 'weight_scale'), dtype: 'F32', shape: [1], data: f32Bytes([ov.ws]) });
      continue;
    }
    if (t.norm) tensors.push({ name, dtype: 'F32', shape: t.shape, data: f32Bytes(miniValues(name, n).map((v) => 1 + v)) });
    else if (t.gguf === 'token_embd.weight' || o.projections === 'random-floats') tensors.push({ name, dtype: 'F32', shape: t.shape, data: miniFloats(name, n) });
    else if (o.projections === 'f16-master') tensors.push({ name, dtype: 'F16', shape: t.shape, data: quantizeF16(miniValues(name, n)) });
    else tensors.push({ name, dtype: 'BF16', shape: t.shape, data: toBf16Bytes(miniValues(name, n)) });
  }
  tensors.push(...(o.extra ?? []));
  const config = {
    ...tinyConfig(arch),
    hidden_size: MINI.hidden,
    intermediate_size: MINI.ffn,
    num_hidden_layers: 1,
    num_attention_heads: MINI.heads,
    num_key_value_heads: MINI.kvHeads,
    vocab_size: MINI.vocab,
    bos_token_id: 258,
    eos_token_id: 259,
    ...o.config,
  };
  return writeCheckpoint(path, { config, tensors, tokenizerJson: o.tokenizerJson ?? miniTokenizerJson() });
}

/** transformers WeightQuant restated: s = 1/max(mean|W|, 1e-5) in f32; code = clamp(round-half-even(W*s)); magnitude 1/s. */
function weightQuant(w: Float32Array): { codes: Int8Array; scale: number } {
  let sum = 0;
  for (const v of w) sum += Math.abs(v);
  const s = Math.fround(1 / Math.max(Math.fround(sum / w.length), 1e-5));
  const codes = Int8Array.from(w, (v) => {
    const p = Math.fround(v * s);
    const f = Math.floor(p);
    const r = p - f > 0.5 || (p - f === 0.5 && f % 2 !== 0) ? f + 1 : f;
    return Math.max(-1, Math.min(1, r));
  });
  return { codes, scale: Math.fround(1 / s) };
}

describe('BitNet master weights (absmean ternarization)', () => {
  for (const [arch, dtype] of [['bitnet-b1.58', 'BF16'], ['bitnet', 'F16']] as const) {
    it(`${arch} ${dtype} master weights -> I2_S: per-tensor absmean codes and scale, logits equal a GGUF of those weights`, async () => {
      const ckpt = await writeMiniCheckpoint(fresh('master'), () => undefined, { arch, projections: dtype === 'BF16' ? 'bf16-master' : 'f16-master' });
      const out = `${fresh('out')}.gguf`;
      const r = await convertCheckpoint(ckpt, out, { weights: 'i2_s', embed: 'q8_0' });
      expect(r.plan.arch).toBe(arch);
      expect(r.plan.tensors.find((t) => t.ggufName === 'blk.0.attn_q.weight')?.how).toMatch(/absmean/);
      const got = await readAll(out);
      // The expected file: the converted metadata and non-projection tensors, projections ternarized here from the source values.
      const tensors = got.header.tensors.map((t) => {
        let data = got.bytes.get(t.name) ?? new Uint8Array(0);
        if (t.type === GgmlType.I2_S) {
          const name = hfName(t.name, arch === 'bitnet' ? '1bitllm' : 'bitnet-2b');
          const src = miniValues(name, t.nElements);
          const values = dtype === 'BF16' ? bf16Values(toBf16Bytes(src)) : f16Values(quantizeF16(src));
          const q = weightQuant(values);
          expect(q.codes.some((c) => c === 0) && q.codes.some((c) => c === 1) && q.codes.some((c) => c === -1)).toBe(true);
          data = packI2s(q.codes, q.scale, t.dims[0] ?? 1);
          expect(Buffer.compare(Buffer.from(got.bytes.get(t.name) ?? []), Buffer.from(data)), t.name).toBe(0);
        }
        return { name: t.name, dims: t.dims, type: t.type, data };
      });
      const expectedPath = `${fresh('expected')}.gguf`;
      await writeFile(expectedPath, writeGguf({ metadata: got.header.metadata, tensors }));
      const tokens = [258, 72, 101, 108, 256, 257];
      expect(maxAbsDiff(await logits(out, tokens), await logits(expectedPath, tokens))).toBe(0);
    }, 60_000);
  }
});

describe('refusals (BitNetError naming the tensor and the reason)', () => {
  it('an unknown tensor', async () => {
    const ckpt = await writeMiniCheckpoint(fresh('unknown'), () => undefined, { extra: [{ name: 'model.layers.0.self_attn.rel_pos.weight', dtype: 'F32', shape: [4], data: f32Bytes([1, 2, 3, 4]) }] });
    await expectCode(convertCheckpoint(ckpt, '', { dryRun: true }), 'CHECKPOINT_UNSUPPORTED', /model\.layers\.0\.self_attn\.rel_pos\.weight/);
  });
  it('a bias', async () => {
    const ckpt = await writeMiniCheckpoint(fresh('bias'), () => undefined, { extra: [{ name: 'model.layers.0.self_attn.q_proj.bias', dtype: 'F32', shape: [256], data: new Uint8Array(1024) }] });
    await expectCode(convertCheckpoint(ckpt, '', { dryRun: true }), 'CHECKPOINT_UNSUPPORTED', /q_proj\.bias.*biases/);
  });
  it('a shape that disagrees with config.json', async () => {
    const ckpt = await writeMiniCheckpoint(fresh('shape'), (name) =>
      name === 'model.layers.0.mlp.up_proj.weight' ? { kind: 'raw', tensor: { name, dtype: 'F32', shape: [MINI.hidden, MINI.ffn * 2], data: new Uint8Array(MINI.hidden * MINI.ffn * 8) } } : undefined,
    );
    await expectCode(convertCheckpoint(ckpt, '', { dryRun: true }), 'BAD_TENSOR_FOR_ARCH', /up_proj\.weight.*\[256, 512\].*\[256, 256\]/);
  });
  it('a missing tensor', async () => {
    const ckpt = await writeMiniCheckpoint(fresh('missing'), (name) => (name.endsWith('ffn_sub_norm.weight') ? { kind: 'drop' } : undefined));
    await expectCode(convertCheckpoint(ckpt, '', { dryRun: true }), 'MISSING_TENSOR', /blk\.0\.ffn_sub_norm\.weight/);
  });
  it('a packed byte holding no ternary code', async () => {
    const ckpt = await writeMiniCheckpoint(fresh('code3'), (name, r, c) => (name.endsWith('k_proj.weight') ? { kind: 'raw', tensor: { name, dtype: 'U8', shape: [r / 4, c], data: new Uint8Array((r / 4) * c).fill(0xff) } } : undefined), {
      extra: [{ name: 'model.layers.0.self_attn.k_proj.weight_scale', dtype: 'F32', shape: [1], data: f32Bytes([2]) }],
    });
    await expectCode(convertCheckpoint(ckpt, `${fresh('out')}.gguf`), 'BAD_TENSOR_DATA', /k_proj\.weight.*value 3/);
  });
  it('rope scaling, an unknown architecture, a non-safetensors checkpoint', async () => {
    await expectCode(convertCheckpoint(await writeMiniCheckpoint(fresh('rope'), () => undefined, { config: { rope_scaling: { rope_type: 'llama3', factor: 8 } } }), '', { dryRun: true }), 'CHECKPOINT_UNSUPPORTED', /rope_scaling/);
    await expectCode(convertCheckpoint(await writeMiniCheckpoint(fresh('arch'), () => undefined, { config: { architectures: ['MistralForCausalLM'], model_type: 'mistral' } }), '', { dryRun: true }), 'CHECKPOINT_UNSUPPORTED', /MistralForCausalLM/);
    const bin = fresh('bin');
    await writeCheckpoint(bin, { config: tinyConfig('llama'), tensors: [], tokenizerJson: miniTokenizerJson() });
    await rm(join(bin, 'model.safetensors'));
    await writeFile(join(bin, 'pytorch_model.bin'), new Uint8Array(8));
    await expectCode(convertCheckpoint(bin, '', { dryRun: true }), 'CHECKPOINT_BAD_CONFIG', /pickle/);
  });
  it('an unrecognised pre-tokenizer unless the user names the rules', async () => {
    const tj = miniTokenizerJson() as Record<string, unknown>;
    const odd = { ...tj, pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, { type: 'ByteLevel', use_regex: true }] } };
    const ckpt = await writeMiniCheckpoint(fresh('pre'), () => undefined, { tokenizerJson: odd });
    await expectCode(convertCheckpoint(ckpt, '', { dryRun: true }), 'CHECKPOINT_UNSUPPORTED', /pre-tokenizer Digits \+ ByteLevel.*--pre-tokenizer/);
    const r = await convertCheckpoint(ckpt, '', { dryRun: true, preTokenizer: 'gpt2' });
    expect(r.plan.metadata.find(([k]) => k === 'tokenizer.ggml.pre')?.[1].value).toBe('gpt2');
  });
  it('an index that names a missing shard, and a shard that does not hold what the index says', async () => {
    const ckpt = await writeMiniCheckpoint(fresh('index'), () => undefined);
    await writeFile(join(ckpt, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': 'model-00002-of-00002.safetensors' } }));
    await expectCode(convertCheckpoint(ckpt, '', { dryRun: true }), 'CHECKPOINT_BAD_CONFIG', /model\.norm\.weight.*missing/);
    await writeFile(join(ckpt, 'model-00002-of-00002.safetensors'), encodeSafetensors([{ name: 'model.embed_tokens.weight', dtype: 'F32', shape: [1], data: new Uint8Array(4) }]));
    await expectCode(convertCheckpoint(ckpt, '', { dryRun: true }), 'CHECKPOINT_BAD_CONFIG', /model\.norm\.weight/);
  });
});

describe('dry run', () => {
  it('plans every tensor (name -> GGUF name, type, shape, bytes) and writes nothing', async () => {
    const ckpt = await writeMiniCheckpoint(fresh('dry'), () => undefined);
    const out = `${fresh('out')}.gguf`;
    const r = await convertCheckpoint(ckpt, out, { dryRun: true, weights: 'tq2_0', embed: 'q6_k' });
    expect(r.path).toBeUndefined();
    await expect(readdir(dir).then((f) => f.includes(out.split('/').pop() ?? ''))).resolves.toBe(false);
    const q = r.plan.tensors.find((t) => t.ggufName === 'blk.0.attn_q.weight');
    expect(q).toMatchObject({ sources: ['model.layers.0.self_attn.q_proj.weight'], type: GgmlType.TQ2_0, dims: [256, 256], byteSize: 256 * 66 });
    expect(r.plan.tensors.find((t) => t.ggufName === 'token_embd.weight')).toMatchObject({ type: GgmlType.Q6_K, dims: [256, 260], byteSize: 260 * 210 });
    expect(r.plan.tensors.length).toBe(miniLayout('bitnet-b1.58').length);
    // the norms become F32 of their own size
    expect(r.plan.tensors.find((t) => t.ggufName === 'output_norm.weight')).toMatchObject({ type: GgmlType.F32, byteSize: 1024 });
  });
});

describe('bitnet convert (CLI)', () => {
  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
    try {
      const code = await main(args);
      return { code, out, err };
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
  }

  it('--dry-run prints one line per tensor (checkpoint name -> GGUF name, type, shape, bytes, how) and writes nothing', async () => {
    const ckpt = await writeMiniCheckpoint(fresh('cli'), () => undefined);
    const r = await run(['convert', ckpt, '--dry-run', '--weights', 'tq2_0']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^model\.layers\.0\.self_attn\.q_proj\.weight +-> blk\.0\.attn_q\.weight +TQ2_0 +\[256, 256\] +16896 +BF16 master weights -> absmean ternary -> TQ2_0$/m);
    expect(r.out).toMatch(/^arch bitnet-b1\.58 \(BitNetForCausalLM\): hidden 256/m);
    expect(r.out).toMatch(/^13 tensors, /m);
  });

  it('writes the file with a progress bar on stderr; bad input exits 2 with the error code', async () => {
    const ckpt = await writeMiniCheckpoint(fresh('cli'), () => undefined);
    const out = `${fresh('cli-out')}.gguf`;
    const r = await run(['convert', ckpt, '-o', out, '--embed', 'q8_0']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/\[#{30}\] 100% 13\/13 tensors/);
    expect(r.err).toMatch(/wrote .*bitnet-b1\.58 i2_s\/q8_0, 13 tensors/);
    expect((await readAll(out)).header.tensors.length).toBe(13);
    const bad = await writeMiniCheckpoint(fresh('cli-bad'), () => undefined, { extra: [{ name: 'model.layers.0.self_attn.q_proj.bias', dtype: 'F32', shape: [1], data: new Uint8Array(4) }] });
    const r2 = await run(['convert', bad, '-o', `${fresh('cli-out')}.gguf`]);
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/error \[CHECKPOINT_UNSUPPORTED\].*q_proj\.bias/);
  });
});
