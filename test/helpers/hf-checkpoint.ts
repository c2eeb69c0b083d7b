// Writes small synthetic Hugging Face checkpoints (config.json, tokenizer files, safetensors) for converter tests:
// the same weights `bitnet synth` generates, laid out the way transformers stores each published layout.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { planSyntheticModel, ternaryTensor } from '../../src/synth/synthesize.js';
import type { SynthEmbedType, SynthWeightType } from '../../src/synth/synthesize.js';
import type { SynthArch } from '../../src/inspect/arch-spec.js';
import { llama3TokenizerMetadata } from '../../src/tokenizer/llama3-vocab.js';
import { bytesToByteLevel } from '../../src/tokenizer/byte-level.js';
import { encodeSafetensors, f32Bytes, type StTensor } from './safetensors-writer.js';

/** GGUF tensor suffix -> transformers name suffix (gguf-py tensor_mapping.py). */
const HF_LAYER_NAME: Readonly<Record<string, string>> = {
  attn_norm: 'input_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  attn_sub_norm: 'self_attn.attn_sub_norm',
  ffn_norm: 'post_attention_layernorm',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
  ffn_sub_norm: 'mlp.ffn_sub_norm',
};

/** The transformers name of a GGUF tensor (without the '.weight' suffix handling for scales). */
export function hfName(gguf: string, subNormNames: 'bitnet-2b' | '1bitllm' = 'bitnet-2b'): string {
  if (gguf === 'token_embd.weight') return 'model.embed_tokens.weight';
  if (gguf === 'output_norm.weight') return 'model.norm.weight';
  if (gguf === 'output.weight') return 'lm_head.weight';
  const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(gguf);
  if (m === null) throw new Error(`no HF name for ${gguf}`);
  let suffix = HF_LAYER_NAME[m[2] ?? ''] ?? '';
  if (subNormNames === '1bitllm') suffix = suffix.replace('attn_sub_norm', 'inner_attn_ln').replace('ffn_sub_norm', 'ffn_layernorm');
  return `model.layers.${m[1] ?? ''}.${suffix}.weight`;
}

/**
 * transformers integrations/bitnet.py pack_weights, restated: codes [rows, cols] (rows a multiple of 4) -> uint8
 * [rows/4, cols], where byte (p, c) holds code(i * rows/4 + p, c) + 1 at bits 2i..2i+1.
 */
export function hfPackTernary(codes: Int8Array, rows: number, cols: number): Uint8Array {
  const p = rows / 4;
  const out = new Uint8Array(p * cols);
  for (let r = 0; r < rows; r++) {
    const i = Math.floor(r / p);
    const pr = r % p;
    for (let c = 0; c < cols; c++) out[pr * cols + c] |= ((codes[r * cols + c] ?? 0) + 1) << (2 * i);
  }
  return out;
}

/**
 * The inverse of the llama q/k reordering, written from the RoPE definitions: GGUF's `llama` rotates rows (2i, 2i+1)
 * of a head together, transformers' rotate_half rotates (i, i + headDim/2); row 2i + j of a GGUF head is row
 * j * headDim/2 + i of the transformers head.
 */
export function llamaRowsToHf<T extends Int8Array | Float32Array>(m: T, nHeads: number, cols: number): T {
  const rows = m.length / cols;
  const headDim = rows / nHeads;
  const out = new (m.constructor as new (n: number) => T)(m.length);
  for (let h = 0; h < nHeads; h++) {
    for (let r = 0; r < headDim; r++) {
      const i = r >> 1;
      const j = r & 1;
      const from = (h * headDim + r) * cols;
      const to = (h * headDim + j * (headDim / 2) + i) * cols;
      out.set(m.subarray(from, from + cols), to);
    }
  }
  return out;
}

/** Meta's LLaMA-3 tokenizer.json rebuilt from llama3-tokenizer-js (vocab, 256 special added tokens, merges). */
export function llama3TokenizerJson(withPreTokenizer: boolean): unknown {
  const m = llama3TokenizerMetadata();
  const vocab: Record<string, number> = {};
  for (let id = 0; id < 128000; id++) vocab[m.tokens[id] ?? ''] = id;
  const added = [];
  for (let id = 128000; id < m.tokens.length; id++) added.push({ id, content: m.tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: withPreTokenizer
      ? {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Split', pattern: { Regex: String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` }, behavior: 'Isolated', invert: false },
            { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
          ],
        }
      : null,
    post_processor: {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: {} },
      ],
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges: m.merges },
  };
}

/** A 260-token byte-level BPE tokenizer.json: 256 byte tokens, 'Ġt' and 'he' by two merges, BOS and EOS. */
export function miniTokenizerJson(): unknown {
  const vocab: Record<string, number> = {};
  for (let b = 0; b < 256; b++) vocab[bytesToByteLevel(Uint8Array.of(b))] = b;
  vocab['Ġt'] = 256;
  vocab['he'] = 257;
  return {
    added_tokens: [
      { id: 258, content: '<|begin_of_text|>', special: true },
      { id: 259, content: '<|end_of_text|>', special: true },
    ],
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab, merges: [['Ġ', 't'], ['h', 'e']] },
  };
}

export interface CheckpointFiles {
  readonly config: Record<string, unknown>;
  readonly tensors: readonly StTensor[];
  readonly tokenizerJson: unknown;
  readonly tokenizerConfig?: unknown;
  readonly generationConfig?: unknown;
  /** Split the tensors over this many files with a model.safetensors.index.json (default 1: model.safetensors). */
  readonly shards?: number;
}

/** Writes a checkpoint directory. */
export async function writeCheckpoint(dir: string, files: CheckpointFiles): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(files.config));
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizerJson));
  if (files.tokenizerConfig !== undefined) await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig));
  if (files.generationConfig !== undefined) await writeFile(join(dir, 'generation_config.json'), JSON.stringify(files.generationConfig));
  const shards = files.shards ?? 1;
  if (shards === 1) {
    await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(files.tensors));
    return dir;
  }
  const weightMap: Record<string, string> = {};
  const per = Math.ceil(files.tensors.length / shards);
  for (let s = 0; s < shards; s++) {
    const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = files.tensors.slice(s * per, (s + 1) * per);
    for (const t of part) weightMap[t.name] = name;
    await writeFile(join(dir, name), encodeSafetensors(part));
  }
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return dir;
}

export type SynthLayout =
  /** uint8 [out/4, in] + weight_scale (F32): BitLinear's 1/magnitude, or AutoBitLinear's magnitude. */
  | { readonly kind: 'packed'; readonly weightScale: 'divide' | 'multiply' }
  /** Already-ternary float values code * scale. */
  | { readonly kind: 'floats'; readonly dtype: 'F32' | 'F16' };

/** config.json of a tiny synth shape for `arch`. */
export function tinyConfig(arch: SynthArch, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = {
    hidden_size: 256,
    intermediate_size: 512,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: 128256,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    tie_word_embeddings: true,
    bos_token_id: 128000,
    eos_token_id: 128001,
  };
  if (arch === 'bitnet-b1.58') return { ...base, architectures: ['BitNetForCausalLM'], model_type: 'bitnet', hidden_act: 'relu2', ...extra };
  if (arch === 'bitnet') return { ...base, architectures: ['BitnetForCausalLM'], model_type: 'llama', hidden_act: 'silu', ...extra };
  return { ...base, architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', ...extra };
}

/**
 * The tensors of the tiny synthetic model (`bitnet synth --shape tiny`, F16 embedding) in a transformers layout:
 * exactly the weights synth writes, so a converted file can be compared with a synthesized one.
 */
export async function synthCheckpointTensors(arch: SynthArch, seed: number, layout: SynthLayout, weightType: SynthWeightType = 'i2_s', embedType: SynthEmbedType = 'f16'): Promise<StTensor[]> {
  const plan = await planSyntheticModel({ shape: 'tiny', arch, weightType, embedType, seed });
  const out: StTensor[] = [];
  for (const t of plan.tensors) {
    const name = hfName(t.name);
    const [cols = 0, rows = 1] = t.dims;
    const shape = t.dims.length === 1 ? [cols] : [rows, cols];
    if (t.dims.length === 1) {
      out.push({ name, dtype: 'F32', shape, data: t.data() }); // norms: synth writes F32
      continue;
    }
    if (t.name === 'token_embd.weight') {
      if (embedType !== 'f16') throw new Error('the embedding must be F16 to carry over exactly');
      out.push({ name, dtype: 'F16', shape, data: t.data() });
      continue;
    }
    const { codes: ggufCodes, scale } = ternaryTensor(seed, t.name, t.dims);
    const heads = arch === 'llama' ? (t.name.endsWith('attn_q.weight') ? 4 : t.name.endsWith('attn_k.weight') ? 2 : 0) : 0;
    const codes = heads > 0 ? llamaRowsToHf(ggufCodes, heads, cols) : ggufCodes;
    if (layout.kind === 'packed') {
      out.push({ name, dtype: 'U8', shape: [rows / 4, cols], data: hfPackTernary(codes, rows, cols) });
      const ws = layout.weightScale === 'divide' ? Math.fround(1 / scale) : scale;
      out.push({ name: name.replace(/\.weight$/, '.weight_scale'), dtype: 'F32', shape: [1], data: f32Bytes([ws]) });
    } else {
      const values = Float32Array.from(codes, (c) => c * scale);
      if (layout.dtype === 'F32') out.push({ name, dtype: 'F32', shape, data: f32Bytes(values) });
      else {
        const { quantizeF16 } = await import('../../src/formats/f16.js');
        out.push({ name, dtype: 'F16', shape, data: quantizeF16(values) });
      }
    }
  }
  return out;
}
