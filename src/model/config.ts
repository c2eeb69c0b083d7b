// Model hyper-parameters read from GGUF metadata, one normalized shape for every supported arch.
// Keys: llama.cpp src/llama-arch.cpp (LLM_KV_*: "{arch}.embedding_length" ...); arch behaviour per
// FORMATS.md (bitnet.cpp's fork 3rdparty/llama.cpp/src/llama.cpp build_bitnet_158, llama.cpp build_bitnet).

import { BitNetError } from '../errors.js';
import { metaNumber, metaNumberOpt, metaStringOpt } from '../gguf/metadata.js';
import type { GgufHeader } from '../gguf/types.js';
import type { RopeStyle } from '../kernels/backend.js';

/** The three model families we run; GGUF arch names map onto them. */
export type ModelFamily = 'bitnet-b1.58' | 'bitnet' | 'llama';

export interface ModelConfig {
  /** general.architecture as stored (e.g. 'bitnet-b1.58', 'bitnet-25'). */
  readonly arch: string;
  readonly family: ModelFamily;
  readonly name: string;
  readonly vocabSize: number;
  /** Hidden size (embedding_length). */
  readonly dim: number;
  /** FFN inner size (feed_forward_length). */
  readonly ffnDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  /** nKvHeads * headDim. */
  readonly kvDim: number;
  readonly rmsEps: number;
  readonly ropeTheta: number;
  readonly ropeStyle: RopeStyle;
  /** Trained context length. */
  readonly contextLength: number;
  /** FFN activation: relu(gate)^2 * up (2B-4T) or silu(gate) * up. */
  readonly ffnActivation: 'relu2' | 'silu';
  /** attn_sub_norm / ffn_sub_norm before the output and down projections. */
  readonly subNorms: boolean;
  /** Metadata keys present in the file that would change the computation but are not implemented. */
  readonly unsupportedKeys: readonly string[];
}

/**
 * Arch-relative keys that change the forward pass when present with a non-neutral value (llama.cpp
 * src/llama-arch.cpp LLM_KV_*). We implement none of them; a file that sets one runs with a warning, and
 * strict mode refuses it. Each entry: key suffix and the value that means "off".
 */
const SEMANTIC_KEYS: readonly (readonly [string, number | string | undefined])[] = [
  ['rope.scaling.type', 'none'],
  ['rope.scaling.factor', 1],
  ['rope.scale_linear', 1],
  ['attention.sliding_window', 0],
  ['attention.clamp_kqv', 0],
  ['attention.max_alibi_bias', 0],
  ['logit_scale', 1],
  ['final_logit_softcapping', 0],
  ['attn_logit_softcapping', 0],
  ['expert_count', 0],
  ['residual_scale', 1],
  ['embedding_scale', 1],
];

const ARCH_FAMILY: Readonly<Record<string, ModelFamily>> = {
  'bitnet-b1.58': 'bitnet-b1.58',
  'bitnet-25': 'bitnet-b1.58',
  bitnet: 'bitnet',
  llama: 'llama',
};

export const SUPPORTED_ARCHS: readonly string[] = Object.keys(ARCH_FAMILY);

function positiveInt(key: string, n: number, max: number): number {
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new BitNetError('BAD_METADATA', `metadata '${key}': expected an integer in [1, ${max}], got ${n}`, { details: { key, actual: n, max } });
  }
  return n;
}

/** Upper bounds that keep a hostile header from asking for absurd buffers. */
const MAX_DIM = 1 << 16; // hidden / ffn sizes: largest real models are ~50k
const MAX_LAYERS = 1024;
const MAX_HEADS = 1024;
const MAX_CONTEXT = 1 << 20;
const MAX_VOCAB = 1 << 22;

export function modelConfigFromGguf(header: GgufHeader): ModelConfig {
  const meta = header.metadata;
  const arch = metaStringOpt(meta, 'general.architecture');
  if (arch === undefined) throw new BitNetError('MISSING_METADATA', "metadata 'general.architecture' is missing", { details: { key: 'general.architecture' } });
  const family = ARCH_FAMILY[arch];
  if (family === undefined) {
    throw new BitNetError('UNSUPPORTED_ARCH', `architecture '${arch}' is not supported (supported: ${SUPPORTED_ARCHS.join(', ')})`, { details: { arch } });
  }
  const k = (s: string): string => `${arch}.${s}`;
  const dim = positiveInt(k('embedding_length'), metaNumber(meta, k('embedding_length')), MAX_DIM);
  const ffnDim = positiveInt(k('feed_forward_length'), metaNumber(meta, k('feed_forward_length')), MAX_DIM * 4);
  const nLayers = positiveInt(k('block_count'), metaNumber(meta, k('block_count')), MAX_LAYERS);
  const nHeads = positiveInt(k('attention.head_count'), metaNumber(meta, k('attention.head_count')), MAX_HEADS);
  const nKvHeads = positiveInt(k('attention.head_count_kv'), metaNumberOpt(meta, k('attention.head_count_kv')) ?? nHeads, MAX_HEADS);
  if (dim % nHeads !== 0) throw new BitNetError('BAD_METADATA', `embedding_length ${dim} is not divisible by head_count ${nHeads}`, { details: { dim, nHeads } });
  if (nHeads % nKvHeads !== 0) throw new BitNetError('BAD_METADATA', `head_count ${nHeads} is not a multiple of head_count_kv ${nKvHeads}`, { details: { nHeads, nKvHeads } });
  const headDim = dim / nHeads;
  if (headDim % 2 !== 0) throw new BitNetError('BAD_METADATA', `head dimension ${headDim} must be even for RoPE`, { details: { headDim } });
  const ropeDim = metaNumberOpt(meta, k('rope.dimension_count')) ?? headDim;
  if (ropeDim !== headDim) {
    throw new BitNetError('BAD_METADATA', `rope.dimension_count ${ropeDim} != head dimension ${headDim} (partial RoPE is not supported)`, { details: { ropeDim, headDim } });
  }
  const rmsEps = metaNumberOpt(meta, k('attention.layer_norm_rms_epsilon')) ?? 1e-5;
  if (!(rmsEps > 0 && rmsEps < 1)) throw new BitNetError('BAD_METADATA', `layer_norm_rms_epsilon ${rmsEps} out of range (0, 1)`, { details: { rmsEps } });
  const ropeTheta = metaNumberOpt(meta, k('rope.freq_base')) ?? 10000;
  // Infinity passed `> 1` and silently turned every rotation but the first pair's into the identity.
  if (!(ropeTheta > 1 && Number.isFinite(ropeTheta))) throw new BitNetError('BAD_METADATA', `rope.freq_base ${ropeTheta} must be a finite number > 1`, { details: { ropeTheta } });
  const contextLength = positiveInt(k('context_length'), metaNumberOpt(meta, k('context_length')) ?? 2048, MAX_CONTEXT);

  const embd = header.tensors.find((t) => t.name === 'token_embd.weight');
  const tokens = meta.get('tokenizer.ggml.tokens');
  const vocabFromMeta = metaNumberOpt(meta, k('vocab_size')) ?? (tokens !== undefined && tokens.type === 9 ? tokens.value.length : undefined);
  const vocabSize = positiveInt('vocab_size', vocabFromMeta ?? embd?.dims[1] ?? 0, MAX_VOCAB);
  if (embd !== undefined && (embd.dims[0] !== dim || embd.dims[1] !== vocabSize)) {
    throw new BitNetError('BAD_TENSOR_FOR_ARCH', `token_embd.weight has dims [${embd.dims.join(', ')}], expected [${dim}, ${vocabSize}]`, {
      details: { tensor: 'token_embd.weight', expected: `${dim},${vocabSize}`, actual: embd.dims.join(',') },
    });
  }
  const unsupportedKeys: string[] = [];
  for (const [suffix, neutral] of SEMANTIC_KEYS) {
    const v = meta.get(k(suffix));
    if (v === undefined) continue;
    const value = v.type === 8 || v.type === 7 ? v.value : v.type === 9 ? undefined : Number(v.value);
    if (value !== neutral) unsupportedKeys.push(`${k(suffix)} = ${String(value ?? 'array')}`);
  }
  const generalName = metaStringOpt(meta, 'general.name');
  return {
    arch,
    family,
    name: generalName ?? arch,
    vocabSize,
    dim,
    ffnDim,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    kvDim: nKvHeads * headDim,
    rmsEps,
    ropeTheta,
    // bitnet.cpp's fork and llama.cpp rotate q/k NEOX-style for all bitnet arch names; llama uses
    // the interleaved ("normal") rotation (llama.cpp llama_model_rope_type).
    ropeStyle: family === 'llama' ? 'normal' : 'neox',
    contextLength,
    ffnActivation: family === 'bitnet-b1.58' ? 'relu2' : 'silu',
    subNorms: family !== 'llama',
    unsupportedKeys,
  };
}
