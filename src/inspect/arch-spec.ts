// What a GGUF of each ternary architecture must hold: tensor names and shapes, known metadata keys, file type ids.
//
// Sources (facts only):
// - llama.cpp src/models/bitnet.cpp (arch `bitnet`): token_embd, output_norm, per layer attn_norm,
//   attn_sub_norm, attn_q/k/v/output, ffn_norm, ffn_sub_norm, ffn_gate/up/down (+ optional one-element
//   `*.scale` tensors); the lm_head is token_embd (no output.weight; llama.cpp's loader rejects a file
//   whose tensor count differs from what it created, so an extra output.weight fails to load there).
// - bitnet.cpp fork (microsoft/BitNet 3rdparty/llama.cpp, src/llama.cpp, LLM_ARCH_BITNET_B158 and
//   LLM_ARCH_BITNET_25 = "bitnet-b1.58" / "bitnet-25"): same tensors without the scale tensors;
//   output.weight is optional (TENSOR_NOT_REQUIRED) and the graph reads token_embd anyway.
// - llama.cpp src/models/llama.cpp (arch `llama`): no sub-norms; output.weight optional (tied to token_embd).
// - llama.cpp src/llama-arch.cpp LLM_KV_NAMES (metadata keys); include/llama.h enum llama_ftype.

/** Architectures `bitnet synth` writes. */
export type SynthArch = 'bitnet-b1.58' | 'bitnet' | 'llama';
export const SYNTH_ARCHS: readonly SynthArch[] = ['bitnet-b1.58', 'bitnet', 'llama'];

/** Every arch name inspect knows, with the family whose tensor layout it uses. */
const ARCH_FAMILY: Readonly<Record<string, SynthArch>> = {
  'bitnet-b1.58': 'bitnet-b1.58',
  'bitnet-25': 'bitnet-b1.58',
  bitnet: 'bitnet',
  llama: 'llama',
};

/** The tensor layout family of a GGUF arch name, or undefined when unknown. */
export function archFamily(arch: string): SynthArch | undefined {
  return Object.prototype.hasOwnProperty.call(ARCH_FAMILY, arch) ? ARCH_FAMILY[arch] : undefined;
}

export const KNOWN_ARCHS: readonly string[] = Object.keys(ARCH_FAMILY);

/** What a tensor is for; decides which storage types are expected. */
export type TensorRole = 'embedding' | 'output' | 'norm' | 'projection' | 'projection-scale';

export interface ExpectedTensor {
  readonly name: string;
  /** ggml order: ne[0] (input features / row length) first. */
  readonly dims: readonly number[];
  readonly role: TensorRole;
  /** False for tensors a loader accepts but does not need. */
  readonly required: boolean;
}

/** The dimensions that fix every tensor shape. */
export interface ArchDims {
  readonly hiddenSize: number;
  readonly ffnSize: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
}

/** The projections of one layer: name suffix, dims [in, out]. */
function projections(d: ArchDims): [string, number, number][] {
  const qDim = d.nHeads * d.headDim;
  const kvDim = d.nKvHeads * d.headDim;
  return [
    ['attn_q', d.hiddenSize, qDim],
    ['attn_k', d.hiddenSize, kvDim],
    ['attn_v', d.hiddenSize, kvDim],
    ['attn_output', qDim, d.hiddenSize],
    ['ffn_gate', d.hiddenSize, d.ffnSize],
    ['ffn_up', d.hiddenSize, d.ffnSize],
    ['ffn_down', d.ffnSize, d.hiddenSize],
  ];
}

/**
 * Every tensor a file of `family` may hold, in the order synth writes them (llama.cpp's converter order:
 * token_embd, then each layer, then output_norm). Optional tensors are listed with required=false;
 * synth writes only the required ones.
 */
export function expectedTensors(family: SynthArch, d: ArchDims): ExpectedTensor[] {
  const out: ExpectedTensor[] = [{ name: 'token_embd.weight', dims: [d.hiddenSize, d.vocabSize], role: 'embedding', required: true }];
  const subNorms = family !== 'llama';
  for (let layer = 0; layer < d.nLayers; layer++) {
    const blk = `blk.${layer}`;
    out.push({ name: `${blk}.attn_norm.weight`, dims: [d.hiddenSize], role: 'norm', required: true });
    for (const [proj, nIn, nOut] of projections(d)) {
      if (proj === 'ffn_gate') out.push({ name: `${blk}.ffn_norm.weight`, dims: [d.hiddenSize], role: 'norm', required: true });
      out.push({ name: `${blk}.${proj}.weight`, dims: [nIn, nOut], role: 'projection', required: true });
      // llama.cpp's bitnet loader: optional one-element F32 scale per projection.
      if (family === 'bitnet') out.push({ name: `${blk}.${proj}.scale`, dims: [1], role: 'projection-scale', required: false });
      if (subNorms && proj === 'attn_output') {
        out.push({ name: `${blk}.attn_sub_norm.weight`, dims: [d.nHeads * d.headDim], role: 'norm', required: true });
      }
    }
    if (subNorms) out.push({ name: `${blk}.ffn_sub_norm.weight`, dims: [d.ffnSize], role: 'norm', required: true });
  }
  out.push({ name: 'output_norm.weight', dims: [d.hiddenSize], role: 'norm', required: true });
  // Tied embeddings: `bitnet` (llama.cpp) has no output tensor at all; the others accept an optional one.
  if (family !== 'bitnet') out.push({ name: 'output.weight', dims: [d.hiddenSize, d.vocabSize], role: 'output', required: false });
  return out;
}

/** llama.cpp `enum llama_ftype` values synth writes as general.file_type (include/llama.h). */
export const FILE_TYPE = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_TQ1_0: 36,
  MOSTLY_TQ2_0: 37,
  // bitnet.cpp fork only (its include/llama.h); upstream llama.cpp later reused 40 for MOSTLY_Q1_0.
  MOSTLY_I2_S: 40,
} as const;

/** Names of general.file_type values (llama.cpp llama_model_ftype_name), for reports. */
const FILE_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'ALL_F32',
  1: 'MOSTLY_F16',
  2: 'MOSTLY_Q4_0',
  3: 'MOSTLY_Q4_1',
  7: 'MOSTLY_Q8_0',
  8: 'MOSTLY_Q5_0',
  9: 'MOSTLY_Q5_1',
  10: 'MOSTLY_Q2_K',
  11: 'MOSTLY_Q3_K_S',
  12: 'MOSTLY_Q3_K_M',
  13: 'MOSTLY_Q3_K_L',
  14: 'MOSTLY_Q4_K_S',
  15: 'MOSTLY_Q4_K_M',
  16: 'MOSTLY_Q5_K_S',
  17: 'MOSTLY_Q5_K_M',
  18: 'MOSTLY_Q6_K',
  32: 'MOSTLY_BF16',
  36: 'MOSTLY_TQ1_0',
  37: 'MOSTLY_TQ2_0',
};

/**
 * The name of a general.file_type value. 40 is read as bitnet.cpp's MOSTLY_I2_S (its converter writes it for
 * bitnet-b1.58 and for llama-arch ternary models such as Falcon3-1.58bit); upstream llama.cpp later gave 40 to
 * MOSTLY_Q1_0, which this engine does not run.
 */
export function fileTypeName(id: number): string {
  if (id === FILE_TYPE.MOSTLY_I2_S) return 'MOSTLY_I2_S';
  return FILE_TYPE_NAMES[id] ?? `UNKNOWN(${id})`;
}

// ---- metadata keys (llama.cpp src/llama-arch.cpp LLM_KV_NAMES, gguf-py gguf/constants.py Keys) ----

const GENERAL_KEYS: readonly string[] = [
  'general.architecture', 'general.quantization_version', 'general.alignment', 'general.file_type',
  'general.type', 'general.name', 'general.author', 'general.version', 'general.organization',
  'general.finetune', 'general.basename', 'general.description', 'general.quantized_by',
  'general.size_label', 'general.license', 'general.license.name', 'general.license.link',
  'general.url', 'general.doi', 'general.uuid', 'general.repo_url', 'general.source.url',
  'general.source.doi', 'general.source.uuid', 'general.source.repo_url',
  'general.source.huggingface.repository', 'general.base_model.count', 'general.dataset.count',
  'general.tags', 'general.languages', 'general.datasets', 'general.file_name',
];
/** general.base_model.N.* / general.dataset.N.* (gguf-py Keys.General.BASE_MODEL_*). */
const GENERAL_INDEXED = /^general\.(base_model|dataset)\.\d+\.(name|author|version|organization|description|url|doi|uuid|repo_url)$/;

/** Keys under `{arch}.` that llama.cpp reads for LLaMA-style models. */
const ARCH_KEY_SUFFIXES: readonly string[] = [
  'vocab_size', 'context_length', 'embedding_length', 'block_count', 'feed_forward_length',
  'use_parallel_residual', 'tensor_data_layout', 'expert_count', 'expert_used_count', 'hidden_act',
  'logit_scale', 'embedding_scale', 'residual_scale',
  'attention.head_count', 'attention.head_count_kv', 'attention.key_length', 'attention.value_length',
  'attention.layer_norm_epsilon', 'attention.layer_norm_rms_epsilon', 'attention.causal',
  'attention.max_alibi_bias', 'attention.clamp_kqv', 'attention.sliding_window',
  'rope.dimension_count', 'rope.freq_base', 'rope.scale_linear', 'rope.scaling.type',
  'rope.scaling.factor', 'rope.scaling.attn_factor', 'rope.scaling.original_context_length',
  'rope.scaling.finetuned',
];

const TOKENIZER_KEYS: readonly string[] = [
  'tokenizer.ggml.model', 'tokenizer.ggml.pre', 'tokenizer.ggml.tokens', 'tokenizer.ggml.token_type',
  'tokenizer.ggml.token_type_count', 'tokenizer.ggml.scores', 'tokenizer.ggml.merges',
  'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.eot_token_id',
  'tokenizer.ggml.eom_token_id', 'tokenizer.ggml.unknown_token_id', 'tokenizer.ggml.seperator_token_id',
  'tokenizer.ggml.padding_token_id', 'tokenizer.ggml.cls_token_id', 'tokenizer.ggml.mask_token_id',
  'tokenizer.ggml.add_bos_token', 'tokenizer.ggml.add_eos_token', 'tokenizer.ggml.add_sep_token',
  'tokenizer.ggml.add_space_prefix', 'tokenizer.ggml.remove_extra_whitespaces',
  'tokenizer.ggml.precompiled_charsmap', 'tokenizer.ggml.prefix_token_id', 'tokenizer.ggml.suffix_token_id',
  'tokenizer.ggml.middle_token_id', 'tokenizer.ggml.fim_pre_token_id', 'tokenizer.ggml.fim_suf_token_id',
  'tokenizer.ggml.fim_mid_token_id', 'tokenizer.ggml.fim_pad_token_id', 'tokenizer.ggml.fim_rep_token_id',
  'tokenizer.ggml.fim_sep_token_id', 'tokenizer.huggingface.json', 'tokenizer.rwkv.world',
  'tokenizer.chat_template',
];
/** Named chat templates: tokenizer.chat_template.<name> and the list tokenizer.chat_templates. */
const TOKENIZER_NAMED_TEMPLATE = /^tokenizer\.chat_templates?(\..+)?$/;

const KNOWN_FIXED = new Set<string>([...GENERAL_KEYS, ...TOKENIZER_KEYS]);

/** The `{arch}.` keys synth writes (and a well-formed file of these archs carries). */
export const REQUIRED_ARCH_KEY_SUFFIXES: readonly string[] = [
  'context_length', 'embedding_length', 'feed_forward_length', 'block_count', 'attention.head_count',
  'attention.layer_norm_rms_epsilon',
];

/** Why a metadata key is not one we know for `arch`: undefined when it is known. */
export function unknownKeyReason(key: string, arch: string | undefined): string | undefined {
  if (KNOWN_FIXED.has(key) || GENERAL_INDEXED.test(key) || TOKENIZER_NAMED_TEMPLATE.test(key)) return undefined;
  if (arch !== undefined && key.startsWith(`${arch}.`)) {
    return ARCH_KEY_SUFFIXES.includes(key.slice(arch.length + 1)) ? undefined : `not a known '${arch}' key`;
  }
  const prefix = key.split('.')[0] ?? key;
  if (prefix !== arch && KNOWN_ARCHS.includes(prefix)) return `key of architecture '${prefix}' in a '${arch ?? '?'}' file`;
  return 'not a known GGUF key';
}
