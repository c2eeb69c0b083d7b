// Reads a Hugging Face config.json into the hyper-parameters and GGUF architecture of a ternary model, refusing
// what the engine cannot run (unknown architectures, rope scaling, biases, partial rotary ...). Browser-safe.
//
// Facts: transformers models/bitnet/configuration_bitnet.py (BitNetConfig: hidden_act 'relu2', the 2B-4T model
// type 'bitnet'), models/llama/configuration_llama.py (LlamaConfig defaults: rope_theta 10000, rms_norm_eps 1e-6,
// tie_word_embeddings false), utils/quantization_config.py (BitNetQuantConfig: linear_class 'bitlinear' |
// 'autobitlinear', quantization_mode 'offline' | 'online'); 1bitLLM's bitnet_b1_58 checkpoints declare
// 'BitnetForCausalLM' (llama.cpp convert_hf_to_gguf.py registers that name for its `bitnet` arch).

import { BitNetError } from '../errors.js';

/** GGUF architectures a checkpoint is converted to (the engine's three families). */
export type ConvertArch = 'bitnet-b1.58' | 'bitnet' | 'llama';

/** How the checkpoint's BitLinear layers apply `weight_scale` (transformers integrations/bitnet.py). */
export type WeightScaleUse =
  /** BitLinear.forward: y = acc / (input_scale * weight_scale), so the ternary magnitude is 1 / weight_scale. */
  | 'divide'
  /** AutoBitLinear (offline): output = F.linear(x, W) * weight_scale, so the magnitude is weight_scale. */
  | 'multiply';

export type CheckpointQuantization =
  | { readonly kind: 'none' }
  | { readonly kind: 'bitnet'; readonly linearClass: 'bitlinear' | 'autobitlinear'; readonly mode: 'offline' | 'online'; readonly weightScale: WeightScaleUse };

export interface HfModelConfig {
  readonly arch: ConvertArch;
  /** config.json `architectures[0]` and `model_type`, for messages. */
  readonly hfArchitecture: string;
  readonly modelType: string;
  readonly hiddenSize: number;
  readonly ffnSize: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly rmsEps: number;
  readonly ropeTheta: number;
  /** lm_head is the token embedding. */
  readonly tiedEmbeddings: boolean;
  readonly quantization: CheckpointQuantization;
  /** Float projection weights are ternarized with absmean (the model quantizes them online, as trained). */
  readonly absmeanFloatWeights: boolean;
  readonly bosTokenId: number | undefined;
  readonly eosTokenIds: readonly number[];
}

/** Bounds that keep a hostile config from asking for absurd shapes (the same spirit as model/config.ts). */
const MAX_DIM = 1 << 16;
const MAX_FFN = 1 << 18;
const MAX_LAYERS = 1024;
const MAX_HEADS = 1024;
const MAX_VOCAB = 1 << 22;
const MAX_CONTEXT = 1 << 24;

type Json = Record<string, unknown>;

function bad(message: string, field: string, actual?: string | number): BitNetError {
  return new BitNetError('CHECKPOINT_BAD_CONFIG', `config.json: ${message}`, { details: { file: 'config.json', field, ...(actual === undefined ? {} : { actual }) } });
}

function unsupported(message: string, field: string, actual?: string | number): BitNetError {
  return new BitNetError('CHECKPOINT_UNSUPPORTED', `config.json: ${message}`, { details: { file: 'config.json', field, ...(actual === undefined ? {} : { actual }) } });
}

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function int(c: Json, key: string, max: number, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw bad(`'${key}' must be an integer in [1, ${max}], got ${JSON.stringify(v) ?? 'nothing'}`, key, String(v));
  }
  return v;
}

function num(c: Json, key: string, fallback: number, ok: (x: number) => boolean): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !ok(v)) throw bad(`'${key}' is out of range: ${JSON.stringify(v)}`, key, String(v));
  return v;
}

function str(c: Json, key: string): string | undefined {
  const v = c[key];
  return typeof v === 'string' ? v : undefined;
}

/** Token ids from an int or a list of ints (generation_config's eos_token_id may be either). */
export function tokenIdList(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0);
  return [];
}

function readQuantization(c: Json): CheckpointQuantization {
  const q = c['quantization_config'];
  if (q === undefined || q === null) return { kind: 'none' };
  if (!isRecord(q)) throw bad('quantization_config is not an object', 'quantization_config');
  const method = q['quant_method'];
  if (method !== 'bitnet') {
    throw unsupported(`quantization_config.quant_method '${String(method)}' is not supported (only 'bitnet': ternary BitLinear weights)`, 'quantization_config.quant_method', String(method));
  }
  const linearClass = q['linear_class'] ?? 'bitlinear';
  const mode = q['quantization_mode'] ?? 'offline';
  if (linearClass !== 'bitlinear' && linearClass !== 'autobitlinear') throw unsupported(`quantization_config.linear_class '${String(linearClass)}' is unknown`, 'quantization_config.linear_class', String(linearClass));
  if (mode !== 'offline' && mode !== 'online') throw unsupported(`quantization_config.quantization_mode '${String(mode)}' is unknown`, 'quantization_config.quantization_mode', String(mode));
  // transformers integrations/bitnet.py: BitLinear.forward computes F.linear(int8 input, unpacked codes) and then
  // post_quant_process: out = y / (input_scale * weight_scale) -> the weight magnitude is 1 / weight_scale.
  // AutoBitLinear (offline) multiplies: output = F.linear(x, W) * weight_scale.
  return { kind: 'bitnet', linearClass, mode, weightScale: linearClass === 'bitlinear' ? 'divide' : 'multiply' };
}

/** Normalizes config.json (and generation_config.json for special ids). */
export function readHfModelConfig(config: unknown, generationConfig?: unknown): HfModelConfig {
  if (!isRecord(config)) throw bad('not a JSON object', '(root)');
  const architectures = Array.isArray(config['architectures']) ? config['architectures'].filter((a): a is string => typeof a === 'string') : [];
  const hfArchitecture = architectures[0] ?? '';
  const modelType = str(config, 'model_type') ?? '';
  const hiddenAct = str(config, 'hidden_act') ?? str(config, 'hidden_activation') ?? 'silu';
  const quantization = readQuantization(config);

  let arch: ConvertArch;
  if (hfArchitecture === 'BitNetForCausalLM' || modelType === 'bitnet') arch = 'bitnet-b1.58';
  else if (hfArchitecture === 'BitnetForCausalLM') arch = 'bitnet';
  else if (hfArchitecture === 'LlamaForCausalLM' || (hfArchitecture === '' && modelType === 'llama')) arch = 'llama';
  else {
    throw unsupported(`architecture '${hfArchitecture || '?'}' (model_type '${modelType || '?'}') is not supported; expected BitNetForCausalLM, BitnetForCausalLM or LlamaForCausalLM`, 'architectures', hfArchitecture);
  }
  const wantAct = arch === 'bitnet-b1.58' ? 'relu2' : 'silu';
  if (hiddenAct !== wantAct) {
    throw unsupported(`hidden_act '${hiddenAct}': GGUF arch '${arch}' computes ${wantAct}`, 'hidden_act', hiddenAct);
  }

  const rs = config['rope_scaling'];
  if (rs !== undefined && rs !== null) {
    const isIdentity = isRecord(rs) && (rs['type'] ?? rs['rope_type']) === 'linear' && rs['factor'] === 1;
    if (!isIdentity) throw unsupported(`rope_scaling ${JSON.stringify(rs)} is not implemented by the engine`, 'rope_scaling');
  }
  for (const key of ['attention_bias', 'mlp_bias']) {
    if (config[key] === true) throw unsupported(`'${key}' is true: the engine's layers have no biases`, key);
  }
  const prf = config['partial_rotary_factor'];
  if (prf !== undefined && prf !== 1) throw unsupported(`partial_rotary_factor ${JSON.stringify(prf)}: partial RoPE is not implemented`, 'partial_rotary_factor');

  const hiddenSize = int(config, 'hidden_size', MAX_DIM);
  const ffnSize = int(config, 'intermediate_size', MAX_FFN);
  const nLayers = int(config, 'num_hidden_layers', MAX_LAYERS);
  const nHeads = int(config, 'num_attention_heads', MAX_HEADS);
  const nKvHeads = int(config, 'num_key_value_heads', MAX_HEADS, nHeads);
  const vocabSize = int(config, 'vocab_size', MAX_VOCAB);
  const contextLength = int(config, 'max_position_embeddings', MAX_CONTEXT, 2048);
  if (hiddenSize % nHeads !== 0) throw bad(`hidden_size ${hiddenSize} is not divisible by num_attention_heads ${nHeads}`, 'hidden_size', hiddenSize);
  const headDim = hiddenSize / nHeads;
  const explicitHeadDim = config['head_dim'];
  if (explicitHeadDim !== undefined && explicitHeadDim !== null && explicitHeadDim !== headDim) {
    throw unsupported(`head_dim ${JSON.stringify(explicitHeadDim)} differs from hidden_size / num_attention_heads = ${headDim}; the engine needs them equal`, 'head_dim');
  }
  if (headDim % 2 !== 0) throw bad(`head dimension ${headDim} must be even for RoPE`, 'head_dim', headDim);
  if (nHeads % nKvHeads !== 0) throw bad(`num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${nKvHeads}`, 'num_key_value_heads', nKvHeads);
  const rmsEps = num(config, 'rms_norm_eps', 1e-6, (x) => x > 0 && x < 1);
  const ropeTheta = num(config, 'rope_theta', 10000, (x) => Number.isFinite(x) && x > 1);
  const tie = config['tie_word_embeddings'];
  if (tie !== undefined && typeof tie !== 'boolean') throw bad(`tie_word_embeddings must be a boolean`, 'tie_word_embeddings');

  const gen = isRecord(generationConfig) ? generationConfig : {};
  const bosIds = tokenIdList(config['bos_token_id'] ?? gen['bos_token_id']);
  const eosIds = [...new Set([...tokenIdList(gen['eos_token_id']), ...tokenIdList(config['eos_token_id'])])];
  return {
    arch,
    hfArchitecture,
    modelType,
    hiddenSize,
    ffnSize,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    vocabSize,
    contextLength,
    rmsEps,
    ropeTheta,
    // LlamaConfig and BitNetConfig default to untied; the 2B-4T config says true.
    tiedEmbeddings: tie ?? false,
    quantization,
    // BitNet b1.58 models quantize float weights on the fly with absmean (transformers integrations/bitnet.py
    // WeightQuant; 1bitLLM's modeling code does the same): that is the model they were trained as.
    absmeanFloatWeights: arch !== 'llama' || (quantization.kind === 'bitnet' && quantization.mode === 'online'),
    bosTokenId: bosIds[0],
    eosTokenIds: eosIds,
  };
}
