// A complete but minimal ternary model as a GGUF write spec (one layer, hidden 256, a 262-token byte-level BPE
// vocabulary), small enough to write and load in milliseconds, so hostile tests can break one thing at a time.

import { GgmlType } from '../../src/formats/ggml-type.js';
import { quantizeF16 } from '../../src/formats/f16.js';
import { quantizeF32 } from '../../src/formats/f32.js';
import { quantizeQ8_0 } from '../../src/formats/q8_0.js';
import { packI2s } from '../../src/formats/i2s.js';
import { packTq1_0 } from '../../src/formats/tq1_0.js';
import { packTq2_0 } from '../../src/formats/tq2_0.js';
import { gv } from '../../src/gguf/metadata.js';
import type { GgufValue } from '../../src/gguf/types.js';
import { writeGguf, type GgufWriteSpec, type GgufWriteTensor } from '../../src/gguf/writer.js';
import { bytesToByteLevel } from '../../src/tokenizer/byte-level.js';

export type MiniArch = 'bitnet-b1.58' | 'bitnet' | 'llama';
export type MiniWeightType = 'i2_s' | 'tq1_0' | 'tq2_0';

export const MINI = { hidden: 256, ffn: 256, heads: 4, kvHeads: 2, headDim: 64, layers: 1, context: 64 } as const;

/** What miniSpec's `shape` may change: the mini model's sizes, and its vocabulary size (at least MINI_VOCAB_SIZE). */
export interface MiniShape {
  readonly hidden: number;
  readonly ffn: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly layers: number;
  readonly context: number;
  readonly vocab: number;
  /** The token embedding's type (the tied output matrix): F16 unless named. */
  readonly embed: 'f16' | 'q8_0';
}

/** A mutable copy of a model spec: metadata as an ordered list, tensors as plain objects. */
export interface MiniSpec {
  metadata: [string, GgufValue][];
  tensors: GgufWriteTensor[];
}

/** Deterministic values in [-1, 1) (a linear congruential stream). */
export function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function ternaryCodes(n: number, seed: number): Int8Array {
  return Int8Array.from(values(n, seed), (v) => (v < -0.33 ? -1 : v > 0.33 ? 1 : 0));
}

/**
 * The byte-level BPE vocabulary: 256 byte tokens, two merges, BOS and EOS (control), then up to `size` tokens of
 * plain ASCII that no merge makes (the tokenizer never gives them; a model may generate them, and they decode as text).
 */
export function miniVocab(size = MINI_VOCAB_SIZE): { tokens: string[]; types: number[]; merges: string[] } {
  const tokens: string[] = [];
  for (let b = 0; b < 256; b++) tokens.push(bytesToByteLevel(Uint8Array.of(b)));
  const merges = ['Ġ t', 'h e'];
  tokens.push('Ġt', 'he', '<|begin_of_text|>', '<|end_of_text|>');
  while (tokens.length < size) tokens.push(`<pad${tokens.length}>`);
  const types = tokens.map((_, id) => (id === 258 || id === 259 ? 3 : 1));
  return { tokens, types, merges };
}

export const MINI_VOCAB_SIZE = 260;

/** Bytes of a ternary matrix [cols, rows] in `type`. */
export function ternaryBytes(type: MiniWeightType, cols: number, rows: number, seed: number, scale = 0.5): Uint8Array {
  const codes = ternaryCodes(cols * rows, seed);
  if (type === 'i2_s') return packI2s(codes, scale, cols);
  if (type === 'tq1_0') return packTq1_0(codes, scale, cols);
  return packTq2_0(codes, scale, cols);
}

const GGML: Readonly<Record<MiniWeightType, GgmlType>> = { i2_s: GgmlType.I2_S, tq1_0: GgmlType.TQ1_0, tq2_0: GgmlType.TQ2_0 };

/** The spec of a working mini model (MINI's sizes and MINI_VOCAB_SIZE tokens, unless `shape` says otherwise). */
export function miniSpec(arch: MiniArch = 'bitnet-b1.58', weightType: MiniWeightType = 'i2_s', shape: Partial<MiniShape> = {}): MiniSpec {
  const { hidden, ffn, heads, kvHeads, headDim, layers, context, vocab: nVocab, embed } = { ...MINI, vocab: MINI_VOCAB_SIZE, embed: 'f16', ...shape };
  if (nVocab < MINI_VOCAB_SIZE) throw new Error(`mini model vocabulary of ${nVocab} tokens: it needs at least ${MINI_VOCAB_SIZE}`);
  const vocab = miniVocab(nVocab);
  const k = (s: string): string => `${arch}.${s}`;
  const metadata: [string, GgufValue][] = [
    ['general.architecture', gv.str(arch)],
    ['general.name', gv.str(`mini-${arch}-${weightType}`)],
    [k('context_length'), gv.u32(context)],
    [k('embedding_length'), gv.u32(hidden)],
    [k('feed_forward_length'), gv.u32(ffn)],
    [k('block_count'), gv.u32(layers)],
    [k('attention.head_count'), gv.u32(heads)],
    [k('attention.head_count_kv'), gv.u32(kvHeads)],
    [k('attention.layer_norm_rms_epsilon'), gv.f32(1e-5)],
    [k('rope.freq_base'), gv.f32(10000)],
    ['tokenizer.ggml.model', gv.str('gpt2')],
    ['tokenizer.ggml.pre', gv.str('llama-bpe')],
    ['tokenizer.ggml.tokens', gv.arrStr(vocab.tokens)],
    ['tokenizer.ggml.token_type', gv.arrI32(vocab.types)],
    ['tokenizer.ggml.merges', gv.arrStr(vocab.merges)],
    ['tokenizer.ggml.bos_token_id', gv.u32(258)],
    ['tokenizer.ggml.eos_token_id', gv.u32(259)],
  ];
  const norm = (name: string, n: number, seed: number): GgufWriteTensor => ({
    name,
    dims: [n],
    type: GgmlType.F32,
    data: quantizeF32(values(n, seed).map((v) => 1 + 0.1 * v)),
  });
  const proj = (name: string, cols: number, rows: number, seed: number): GgufWriteTensor => ({
    name,
    dims: [cols, rows],
    type: GGML[weightType],
    data: ternaryBytes(weightType, cols, rows, seed),
  });
  const kvDim = kvHeads * headDim;
  const table = values(hidden * nVocab, 1);
  const tensors: GgufWriteTensor[] = [
    embed === 'q8_0'
      ? { name: 'token_embd.weight', dims: [hidden, nVocab], type: GgmlType.Q8_0, data: quantizeQ8_0(table) }
      : { name: 'token_embd.weight', dims: [hidden, nVocab], type: GgmlType.F16, data: quantizeF16(table) },
  ];
  for (let l = 0; l < layers; l++) {
    const b = `blk.${l}.`;
    tensors.push(
      norm(`${b}attn_norm.weight`, hidden, 10),
      proj(`${b}attn_q.weight`, hidden, hidden, 11),
      proj(`${b}attn_k.weight`, hidden, kvDim, 12),
      proj(`${b}attn_v.weight`, hidden, kvDim, 13),
      proj(`${b}attn_output.weight`, hidden, hidden, 14),
      norm(`${b}ffn_norm.weight`, hidden, 15),
      proj(`${b}ffn_gate.weight`, hidden, ffn, 16),
      proj(`${b}ffn_up.weight`, hidden, ffn, 17),
      proj(`${b}ffn_down.weight`, ffn, hidden, 18),
    );
    if (arch !== 'llama') tensors.push(norm(`${b}attn_sub_norm.weight`, hidden, 19), norm(`${b}ffn_sub_norm.weight`, ffn, 20));
  }
  tensors.push(norm('output_norm.weight', hidden, 21));
  return { metadata, tensors };
}

/** The file bytes of `spec`. */
export function miniBytes(spec: MiniSpec): Uint8Array {
  const gguf: GgufWriteSpec = { metadata: spec.metadata, tensors: spec.tensors };
  return writeGguf(gguf);
}

/** Replaces (or with undefined removes) metadata `key`; appends it when absent. */
export function setMeta(spec: MiniSpec, key: string, value: GgufValue | undefined): MiniSpec {
  const i = spec.metadata.findIndex(([k]) => k === key);
  if (value === undefined) {
    if (i >= 0) spec.metadata.splice(i, 1);
  } else if (i >= 0) spec.metadata[i] = [key, value];
  else spec.metadata.push([key, value]);
  return spec;
}

/** Replaces the tensor called `name` with `change(tensor)`. */
export function setTensor(spec: MiniSpec, name: string, change: (t: GgufWriteTensor) => GgufWriteTensor | undefined): MiniSpec {
  const i = spec.tensors.findIndex((t) => t.name === name);
  if (i < 0) throw new Error(`mini model has no tensor '${name}'`);
  const next = change(spec.tensors[i]);
  if (next === undefined) spec.tensors.splice(i, 1);
  else spec.tensors[i] = next;
  return spec;
}

/** The bytes of tensor `name` (the spec holds them directly). */
export function tensorData(spec: MiniSpec, name: string): Uint8Array {
  const t = spec.tensors.find((x) => x.name === name);
  if (t === undefined || typeof t.data === 'function') throw new Error(`mini model has no direct data for '${name}'`);
  return t.data;
}
