// Plans the conversion of a Hugging Face checkpoint to GGUF: reads the JSON side files and every safetensors header,
// maps each tensor to its GGUF name, checks shapes and dtypes against config.json, and returns the metadata plus one
// lazy producer per output tensor (each reads and converts only its own bytes). Browser-safe: no node:* imports.
//
// Tensor names (facts from gguf-py gguf/tensor_mapping.py): model.embed_tokens -> token_embd, lm_head -> output,
// model.norm -> output_norm, model.layers.N.{input_layernorm -> attn_norm, self_attn.{q,k,v,o}_proj -> attn_{q,k,v,
// output}, self_attn.attn_sub_norm | self_attn.inner_attn_ln -> attn_sub_norm, post_attention_layernorm -> ffn_norm,
// mlp.{gate,up,down}_proj -> ffn_{gate,up,down}, mlp.ffn_sub_norm | mlp.ffn_layernorm -> ffn_sub_norm}.

import { BitNetError } from '../errors.js';
import { quantizeF32 } from '../formats/f32.js';
import { GgmlType, tensorByteSize } from '../formats/ggml-type.js';
import { gv } from '../gguf/metadata.js';
import type { GgufValue } from '../gguf/types.js';
import { expectedTensors, FILE_TYPE } from '../inspect/arch-spec.js';
import type { ExpectedTensor } from '../inspect/arch-spec.js';
import { packProjectionBytes, quantizeEmbeddingBytes, quantizeFloats } from '../synth/tensor-bytes.js';
import { readJsonFile, readSafetensorsHeader, readTextFile } from './checkpoint-source.js';
import type { CheckpointSource } from './checkpoint-source.js';
import { readHfModelConfig } from './hf-config.js';
import type { ConvertArch, HfModelConfig } from './hf-config.js';
import { convertHfTokenizer } from './hf-tokenizer.js';
import type { SafetensorsHeader, SafetensorsTensor } from './safetensors.js';
import { absmeanTernarize, absmeanTernarize16, decodeFloats, exactTernary, isFloatDtype, permuteRowsForLlamaRope, unpackHfTernary } from './ternarize.js';
import type { FloatDtype, Ternary } from './ternarize.js';

export type ConvertWeightType = 'i2_s' | 'tq1_0' | 'tq2_0' | 'f16' | 'f32';
export type ConvertEmbedType = 'f16' | 'q8_0' | 'q6_k' | 'q4_0';
export const CONVERT_WEIGHT_TYPES: readonly ConvertWeightType[] = ['i2_s', 'tq1_0', 'tq2_0', 'f16', 'f32'];
export const CONVERT_EMBED_TYPES: readonly ConvertEmbedType[] = ['f16', 'q8_0', 'q6_k', 'q4_0'];

export interface PlanOptions {
  /** Storage of the seven projections of each layer (default i2_s). */
  readonly weights?: ConvertWeightType | undefined;
  /** Storage of token_embd and an untied output.weight (default f16, as in Microsoft's 2B-4T GGUF). */
  readonly embed?: ConvertEmbedType | undefined;
  /** tokenizer.ggml.pre to write instead of the detected rules. */
  readonly preTokenizer?: string | undefined;
  /** general.name (default: config.json `_name_or_path`, else the source label's last path part). */
  readonly name?: string | undefined;
}

/** How a projection's ternary weights are obtained from the checkpoint. */
export type WeightSource = 'absmean' | 'packed-divide' | 'packed-multiply' | 'ternary-floats' | 'floats';

export interface PlannedTensor {
  readonly ggufName: string;
  /** The checkpoint tensors it is made from. */
  readonly sources: readonly string[];
  readonly role: 'embedding' | 'output' | 'norm' | 'projection';
  readonly type: GgmlType;
  /** ggml order: ne[0] (row length) first. */
  readonly dims: readonly number[];
  readonly byteSize: number;
  /** How the values are derived, for the plan printout. */
  readonly how: string;
  /** Reads and converts this tensor; call once. */
  readonly data: () => Promise<Uint8Array>;
}

export interface ConversionPlan {
  readonly arch: ConvertArch;
  readonly config: HfModelConfig;
  readonly metadata: [string, GgufValue][];
  readonly tensors: readonly PlannedTensor[];
  /** Checkpoint tensors intentionally not written, with the reason. */
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
  /** Defaults taken and guesses made (tokenizer, tied embeddings ...). */
  readonly notes: readonly string[];
  /** The safetensors files read. */
  readonly files: readonly string[];
}

const WEIGHT_GGML: Readonly<Record<ConvertWeightType, GgmlType>> = {
  i2_s: GgmlType.I2_S,
  tq1_0: GgmlType.TQ1_0,
  tq2_0: GgmlType.TQ2_0,
  f16: GgmlType.F16,
  f32: GgmlType.F32,
};
const EMBED_GGML: Readonly<Record<ConvertEmbedType, GgmlType>> = {
  f16: GgmlType.F16,
  q8_0: GgmlType.Q8_0,
  q6_k: GgmlType.Q6_K,
  q4_0: GgmlType.Q4_0,
};
const WEIGHT_FILE_TYPE: Readonly<Record<ConvertWeightType, number>> = {
  i2_s: FILE_TYPE.MOSTLY_I2_S,
  tq1_0: FILE_TYPE.MOSTLY_TQ1_0,
  tq2_0: FILE_TYPE.MOSTLY_TQ2_0,
  f16: FILE_TYPE.MOSTLY_F16,
  f32: FILE_TYPE.ALL_F32,
};
/** Row-length multiple each output type needs (its block size). */
const ROW_MULTIPLE: Readonly<Partial<Record<GgmlType, number>>> = {
  [GgmlType.I2_S]: 128,
  [GgmlType.TQ1_0]: 256,
  [GgmlType.TQ2_0]: 256,
  [GgmlType.Q8_0]: 32,
  [GgmlType.Q4_0]: 32,
  [GgmlType.Q6_K]: 256,
};

/** Rows of an embedding read, converted and quantized at a time: 1024 x 2560 bf16 is 5 MB, whatever the vocabulary. */
export const EMBED_ROWS_PER_CHUNK = 1024;

/** The GGUF alignment written (GGUF's default). */
export const CONVERT_ALIGNMENT = 32;

/** Per-layer tensor suffixes of the checkpoint and their GGUF names. */
const LAYER_TENSORS: Readonly<Record<string, string>> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.attn_sub_norm.weight': 'attn_sub_norm.weight',
  'self_attn.inner_attn_ln.weight': 'attn_sub_norm.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
  'mlp.ffn_sub_norm.weight': 'ffn_sub_norm.weight',
  'mlp.ffn_layernorm.weight': 'ffn_sub_norm.weight',
};
const GLOBAL_TENSORS: Readonly<Record<string, string>> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};
/** Buffers some checkpoints carry that hold nothing the GGUF needs (recomputed from rope_theta). */
const IGNORED_LAYER_SUFFIXES = ['self_attn.rotary_emb.inv_freq'];

interface Located {
  readonly header: SafetensorsHeader;
  readonly tensor: SafetensorsTensor;
}

function unsupported(message: string, details: Readonly<Record<string, string | number>>): BitNetError {
  return new BitNetError('CHECKPOINT_UNSUPPORTED', message, { details });
}

function badTensor(name: string, message: string, details: Readonly<Record<string, string | number>> = {}): BitNetError {
  return new BitNetError('BAD_TENSOR_FOR_ARCH', `tensor '${name}': ${message}`, { details: { tensor: name, ...details } });
}

function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new BitNetError('BAD_ARGUMENT', `${field}: expected one of ${allowed.join(', ')}, got '${value}'`, { details: { field, expected: allowed.join('|'), actual: value } });
  }
  return value as T;
}

/** Reads every safetensors header (from the index when there is one) into one name -> location map. */
async function locateTensors(src: CheckpointSource, present: ReadonlySet<string>): Promise<{ byName: Map<string, Located>; files: string[] }> {
  const index = await readJsonFile(src, 'model.safetensors.index.json', present);
  let files: string[];
  let weightMap: Record<string, unknown> | undefined;
  if (index !== undefined) {
    const wm = typeof index === 'object' && index !== null ? (index as Record<string, unknown>)['weight_map'] : undefined;
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
      throw new BitNetError('CHECKPOINT_BAD_CONFIG', 'model.safetensors.index.json: weight_map is not an object', { details: { file: 'model.safetensors.index.json' } });
    }
    weightMap = wm as Record<string, unknown>;
    const named = new Set<string>();
    for (const [tensor, file] of Object.entries(weightMap)) {
      if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) {
        throw new BitNetError('CHECKPOINT_BAD_CONFIG', `model.safetensors.index.json: tensor '${tensor}' maps to ${JSON.stringify(file)}, not a file name in the directory`, { details: { tensor } });
      }
      if (!present.has(file)) {
        throw new BitNetError('CHECKPOINT_BAD_CONFIG', `model.safetensors.index.json: tensor '${tensor}' is in '${file}', which is missing from ${src.label}`, { details: { tensor, file } });
      }
      named.add(file);
    }
    files = [...named].sort();
  } else {
    files = [...present].filter((f) => f.endsWith('.safetensors')).sort();
  }
  if (files.length === 0) {
    const hasBin = [...present].some((f) => f.endsWith('.bin') || f.endsWith('.pt') || f.endsWith('.pth'));
    throw new BitNetError('CHECKPOINT_BAD_CONFIG', `${src.label}: no *.safetensors files${hasBin ? ' (PyTorch pickle files are not read: they can run code; convert them to safetensors first)' : ''}`, { details: { dir: src.label } });
  }
  const byName = new Map<string, Located>();
  for (const file of files) {
    const header = await readSafetensorsHeader(src, file);
    for (const tensor of header.tensors.values()) {
      const prev = byName.get(tensor.name);
      if (prev !== undefined) {
        throw new BitNetError('CHECKPOINT_BAD_CONFIG', `tensor '${tensor.name}' is in both '${prev.header.file}' and '${file}'`, { details: { tensor: tensor.name, file, other: prev.header.file } });
      }
      byName.set(tensor.name, { header, tensor });
    }
  }
  if (weightMap !== undefined) {
    for (const [tensor, file] of Object.entries(weightMap)) {
      const at = byName.get(tensor);
      if (at === undefined || at.header.file !== file) {
        throw new BitNetError('CHECKPOINT_BAD_CONFIG', `model.safetensors.index.json: tensor '${tensor}' should be in '${String(file)}' but ${at === undefined ? 'no file has it' : `'${at.header.file}' has it`}`, { details: { tensor } });
      }
    }
  }
  return { byName, files };
}

/** What each checkpoint tensor becomes: GGUF name, or a weight_scale of a projection, or skipped. */
function mapName(name: string, nLayers: number): { kind: 'tensor'; gguf: string } | { kind: 'scale'; gguf: string } | { kind: 'skip'; reason: string } | { kind: 'unknown'; reason: string } {
  const g = GLOBAL_TENSORS[name];
  if (g !== undefined) return { kind: 'tensor', gguf: g };
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (m === null) return { kind: 'unknown', reason: 'not a tensor of a LLaMA-style checkpoint (expected model.embed_tokens, model.norm, lm_head or model.layers.N.*)' };
  const layer = Number(m[1]);
  const suffix = m[2] ?? '';
  if (!Number.isSafeInteger(layer) || layer >= nLayers) return { kind: 'unknown', reason: `layer ${m[1] ?? '?'} is beyond num_hidden_layers ${nLayers}` };
  if (IGNORED_LAYER_SUFFIXES.includes(suffix)) return { kind: 'skip', reason: 'RoPE frequencies are recomputed from rope_theta' };
  const scaleOf = /^(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.weight_scale$/.exec(suffix);
  if (scaleOf !== null) {
    const t = LAYER_TENSORS[`${scaleOf[1] ?? ''}.weight`];
    if (t !== undefined) return { kind: 'scale', gguf: `blk.${layer}.${t}` };
  }
  const t = LAYER_TENSORS[suffix];
  if (t !== undefined) return { kind: 'tensor', gguf: `blk.${layer}.${t}` };
  if (suffix.endsWith('.bias')) return { kind: 'unknown', reason: 'biases are not part of the supported architectures' };
  return { kind: 'unknown', reason: `'${suffix}' is not a known layer tensor (${Object.keys(LAYER_TENSORS).join(', ')}, *_proj.weight_scale)` };
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function requireFloat(t: SafetensorsTensor): FloatDtype {
  if (!isFloatDtype(t.dtype)) throw badTensor(t.name, `dtype ${t.dtype} is not a float type (F32, F16, BF16)`, { dtype: t.dtype });
  return t.dtype;
}

function requireRows(ggufName: string, source: string, type: GgmlType, typeName: string, rowLength: number, flag: string): void {
  const multiple = ROW_MULTIPLE[type];
  if (multiple !== undefined && rowLength % multiple !== 0) {
    throw unsupported(`tensor '${source}' (${ggufName}): ${typeName} needs rows that are a multiple of ${multiple} values; the row length is ${rowLength}. Choose another ${flag}`, {
      tensor: source,
      rowLength,
      multiple,
    });
  }
}

/** Reads the scalar weight_scale tensor of a projection. */
async function readScale(src: CheckpointSource, at: Located): Promise<number> {
  const dtype = requireFloat(at.tensor);
  if (at.tensor.nElements !== 1) throw badTensor(at.tensor.name, `expected one element, got shape ${shapeText(at.tensor.shape)}`);
  const v = decodeFloats(await src.read(at.header.file, at.tensor.byteOffset, at.tensor.byteLength), dtype)[0];
  if (v === undefined || !Number.isFinite(v) || v <= 0) throw new BitNetError('BAD_TENSOR_DATA', `tensor '${at.tensor.name}': weight_scale ${String(v)} is not a positive finite number`, { details: { tensor: at.tensor.name } });
  return v;
}

/** Packs ternary weights (or plain floats for f16/f32) into the chosen storage. */
function packProjection(weights: ConvertWeightType, t: Ternary | Float32Array, rowLength: number, name: string): Uint8Array {
  if (t instanceof Float32Array) return quantizeFloats(weights === 'f16' ? 'f16' : 'f32', t);
  return packProjectionBytes(weights, t.codes, t.scale, rowLength, name);
}

function requireFinite(values: Float32Array, name: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new BitNetError('BAD_TENSOR_DATA', `tensor '${name}': non-finite value at index ${i}`, { details: { tensor: name, index: i } });
  }
}

/**
 * Plans the conversion of the checkpoint in `src`. Reads only JSON files and safetensors headers; the returned
 * tensors read their data when asked.
 */
export async function planConversion(src: CheckpointSource, options: PlanOptions = {}): Promise<ConversionPlan> {
  const weights = oneOf('weights', options.weights ?? 'i2_s', CONVERT_WEIGHT_TYPES);
  const embed = oneOf('embed', options.embed ?? 'f16', CONVERT_EMBED_TYPES);
  const present = new Set(await src.list());
  if (!present.has('config.json')) throw new BitNetError('CHECKPOINT_BAD_CONFIG', `${src.label}: no config.json (not a Hugging Face checkpoint directory?)`, { details: { dir: src.label } });
  if (!present.has('tokenizer.json')) {
    throw new BitNetError('CHECKPOINT_UNSUPPORTED', `${src.label}: no tokenizer.json (checkpoints with only a SentencePiece tokenizer.model are not supported)`, { details: { dir: src.label } });
  }
  const configJson = await readJsonFile(src, 'config.json', present);
  const config = readHfModelConfig(configJson, await readJsonFile(src, 'generation_config.json', present));
  const notes: string[] = [];
  const tokenizer = convertHfTokenizer({
    tokenizerJson: await readJsonFile(src, 'tokenizer.json', present),
    tokenizerConfig: await readJsonFile(src, 'tokenizer_config.json', present),
    chatTemplateFile: await readTextFile(src, 'chat_template.jinja', present),
    vocabSize: config.vocabSize,
    configBosId: config.bosTokenId,
    configEosIds: config.eosTokenIds,
    preTokenizer: options.preTokenizer,
  });
  notes.push(...tokenizer.notes);

  const { byName, files } = await locateTensors(src, present);
  const sourceOf = new Map<string, string>();
  const scaleOf = new Map<string, Located>();
  const skipped: { name: string; reason: string }[] = [];
  for (const [name, at] of byName) {
    const m = mapName(name, config.nLayers);
    if (m.kind === 'unknown') throw unsupported(`tensor '${name}' (${at.header.file}): ${m.reason}`, { tensor: name, file: at.header.file });
    if (m.kind === 'skip') skipped.push({ name, reason: m.reason });
    else if (m.kind === 'scale') scaleOf.set(m.gguf, at);
    else {
      const prev = sourceOf.get(m.gguf);
      if (prev !== undefined) throw unsupported(`tensors '${prev}' and '${name}' both map to '${m.gguf}'`, { tensor: name, other: prev });
      sourceOf.set(m.gguf, name);
    }
  }

  const lmHead = sourceOf.get('output.weight');
  let tied = config.tiedEmbeddings;
  if (lmHead !== undefined && tied) {
    skipped.push({ name: lmHead, reason: 'tie_word_embeddings is true: the output projection is the token embedding' });
    sourceOf.delete('output.weight');
  }
  if (lmHead === undefined && !tied) {
    notes.push('no lm_head.weight in the checkpoint: the output projection is tied to the token embedding');
    tied = true;
  }
  const dims = {
    hiddenSize: config.hiddenSize,
    ffnSize: config.ffnSize,
    nLayers: config.nLayers,
    nHeads: config.nHeads,
    nKvHeads: config.nKvHeads,
    headDim: config.headDim,
    vocabSize: config.vocabSize,
  };
  const expected: ExpectedTensor[] = expectedTensors(config.arch, dims).filter((t) => t.required || (t.role === 'output' && !tied));
  if (config.arch === 'bitnet' && !tied) expected.push({ name: 'output.weight', dims: [config.hiddenSize, config.vocabSize], role: 'output', required: true });

  const tensors: PlannedTensor[] = [];
  const used = new Set<string>();
  for (const e of expected) {
    const hfName = sourceOf.get(e.name);
    if (hfName === undefined) {
      throw new BitNetError('MISSING_TENSOR', `the checkpoint has no tensor for '${e.name}' (arch '${config.arch}' needs it)`, { details: { tensor: e.name, arch: config.arch } });
    }
    const at = byName.get(hfName);
    if (at === undefined) throw new BitNetError('INTERNAL', `lost tensor '${hfName}'`);
    used.add(e.name);
    const hfShape = [...e.dims].reverse(); // GGUF [in, out] is PyTorch [out, in]
    if (e.role === 'norm') tensors.push(planNorm(src, at, e, hfShape));
    else if (e.role === 'embedding' || e.role === 'output') tensors.push(planEmbedding(src, at, e, hfShape, embed));
    else if (e.role === 'projection') tensors.push(planProjection(src, at, scaleOf.get(e.name), e, hfShape, weights, config));
  }
  for (const [gguf, name] of sourceOf) {
    if (!used.has(gguf)) throw unsupported(`tensor '${name}' (${gguf}) is not part of a '${config.arch}' model`, { tensor: name });
  }
  for (const [gguf, at] of scaleOf) {
    if (!used.has(gguf)) throw unsupported(`tensor '${at.tensor.name}' scales '${gguf}', which is not written`, { tensor: at.tensor.name });
  }

  const arch = config.arch;
  const a = (s: string): string => `${arch}.${s}`;
  const configName = typeof configJson === 'object' && configJson !== null ? (configJson as Record<string, unknown>)['_name_or_path'] : undefined;
  const name = options.name ?? (typeof configName === 'string' && configName !== '' ? configName : (src.label.split(/[\\/]/).filter((p) => p !== '').pop() ?? 'converted'));
  const metadata: [string, GgufValue][] = [
    ['general.architecture', gv.str(arch)],
    ['general.name', gv.str(name)],
    ['general.alignment', gv.u32(CONVERT_ALIGNMENT)],
    ['general.file_type', gv.u32(WEIGHT_FILE_TYPE[weights])],
    ['general.quantization_version', gv.u32(2)],
    [a('vocab_size'), gv.u32(config.vocabSize)],
    [a('context_length'), gv.u32(config.contextLength)],
    [a('embedding_length'), gv.u32(config.hiddenSize)],
    [a('feed_forward_length'), gv.u32(config.ffnSize)],
    [a('block_count'), gv.u32(config.nLayers)],
    [a('attention.head_count'), gv.u32(config.nHeads)],
    [a('attention.head_count_kv'), gv.u32(config.nKvHeads)],
    [a('attention.layer_norm_rms_epsilon'), gv.f32(config.rmsEps)],
    [a('rope.freq_base'), gv.f32(config.ropeTheta)],
    [a('rope.dimension_count'), gv.u32(config.headDim)],
    ...tokenizer.entries,
  ];
  return { arch, config, metadata, tensors, skipped, notes, files };
}

function planNorm(src: CheckpointSource, at: Located, e: ExpectedTensor, hfShape: readonly number[]): PlannedTensor {
  const t = at.tensor;
  const dtype = requireFloat(t);
  if (shapeText(t.shape) !== shapeText(hfShape)) throw badTensor(t.name, `shape ${shapeText(t.shape)}, config.json implies ${shapeText(hfShape)}`, { expected: shapeText(hfShape), actual: shapeText(t.shape) });
  return {
    ggufName: e.name,
    sources: [t.name],
    role: 'norm',
    type: GgmlType.F32,
    dims: e.dims,
    byteSize: t.nElements * 4,
    how: `${dtype} -> F32`,
    data: async () => {
      const values = decodeFloats(await src.read(at.header.file, t.byteOffset, t.byteLength), dtype);
      requireFinite(values, t.name);
      return quantizeF32(values);
    },
  };
}

function planEmbedding(src: CheckpointSource, at: Located, e: ExpectedTensor, hfShape: readonly number[], embed: ConvertEmbedType): PlannedTensor {
  const t = at.tensor;
  const dtype = requireFloat(t);
  if (shapeText(t.shape) !== shapeText(hfShape)) throw badTensor(t.name, `shape ${shapeText(t.shape)}, config.json implies ${shapeText(hfShape)}`, { expected: shapeText(hfShape), actual: shapeText(t.shape) });
  const type = EMBED_GGML[embed];
  const [rowLength = 0, nRows = 0] = e.dims;
  requireRows(e.name, t.name, type, embed, rowLength, '--embed');
  const byteSize = tensorByteSize(type, rowLength * nRows, rowLength, e.name);
  const width = dtype === 'F32' ? 4 : 2;
  return {
    ggufName: e.name,
    sources: [t.name],
    role: e.role === 'output' ? 'output' : 'embedding',
    type,
    dims: e.dims,
    byteSize,
    how: `${dtype} -> ${embed.toUpperCase()} (${EMBED_ROWS_PER_CHUNK} rows at a time)`,
    data: async () => {
      // One buffer of the final size; the source is read, decoded and quantized a chunk of rows at a time.
      const out = new Uint8Array(byteSize);
      let written = 0;
      for (let row = 0; row < nRows; row += EMBED_ROWS_PER_CHUNK) {
        const rows = Math.min(EMBED_ROWS_PER_CHUNK, nRows - row);
        const bytes = await src.read(at.header.file, t.byteOffset + row * rowLength * width, rows * rowLength * width);
        const values = decodeFloats(bytes, dtype);
        requireFinite(values, t.name);
        const q = quantizeEmbeddingBytes(embed, values);
        out.set(q, written);
        written += q.length;
      }
      if (written !== byteSize) throw new BitNetError('INTERNAL', `tensor '${e.name}': wrote ${written} bytes, expected ${byteSize}`, { details: { tensor: e.name } });
      return out;
    },
  };
}

function planProjection(src: CheckpointSource, at: Located, scaleAt: Located | undefined, e: ExpectedTensor, hfShape: readonly number[], weights: ConvertWeightType, config: HfModelConfig): PlannedTensor {
  const t = at.tensor;
  const [nIn = 0, nOut = 0] = e.dims;
  const type = WEIGHT_GGML[weights];
  requireRows(e.name, t.name, type, weights, nIn, '--weights');
  const byteSize = tensorByteSize(type, nIn * nOut, nIn, e.name);
  // The `llama` arch rotates adjacent pairs; transformers checkpoints rotate halves: reorder q and k rows.
  const permuteHeads = config.arch === 'llama' ? (e.name.endsWith('attn_q.weight') ? config.nHeads : e.name.endsWith('attn_k.weight') ? config.nKvHeads : 0) : 0;
  const permute = <T extends Int8Array | Float32Array>(m: T): T => (permuteHeads > 0 ? permuteRowsForLlamaRope(m, permuteHeads, nIn) : m);
  const sources = scaleAt === undefined ? [t.name] : [t.name, scaleAt.tensor.name];

  let how: WeightSource;
  if (t.dtype === 'U8') {
    const packedShape = [nOut / 4, nIn];
    if (nOut % 4 !== 0 || shapeText(t.shape) !== shapeText(packedShape)) {
      throw badTensor(t.name, `packed U8 shape ${shapeText(t.shape)}; config.json implies ${shapeText(packedShape)} (four rows per byte)`, { expected: shapeText(packedShape), actual: shapeText(t.shape) });
    }
    if (scaleAt === undefined) throw new BitNetError('MISSING_TENSOR', `tensor '${t.name}' is packed ternary but the checkpoint has no '${t.name}_scale'`, { details: { tensor: `${t.name}_scale` } });
    const q = config.quantization;
    how = q.kind === 'bitnet' && q.weightScale === 'multiply' ? 'packed-multiply' : 'packed-divide';
  } else {
    requireFloat(t);
    if (shapeText(t.shape) !== shapeText(hfShape)) throw badTensor(t.name, `shape ${shapeText(t.shape)}, config.json implies ${shapeText(hfShape)}`, { expected: shapeText(hfShape), actual: shapeText(t.shape) });
    if (scaleAt !== undefined && config.quantization.kind === 'bitnet' && config.quantization.weightScale === 'divide') {
      throw unsupported(`tensor '${t.name}' is ${t.dtype} with a weight_scale, but BitLinear ('bitlinear' linear_class) stores packed U8 weights`, { tensor: t.name });
    }
    const keepFloats = weights === 'f16' || weights === 'f32';
    // Float weights with a weight_scale (AutoBitLinear offline) are used as stored, times the scale: no absmean.
    how = config.absmeanFloatWeights && scaleAt === undefined ? 'absmean' : keepFloats ? 'floats' : 'ternary-floats';
  }
  const describe: Record<WeightSource, string> = {
    absmean: `${t.dtype} master weights -> absmean ternary -> ${weights.toUpperCase()}`,
    'packed-divide': `U8 packed codes, magnitude 1/weight_scale (BitLinear divides) -> ${weights.toUpperCase()}`,
    'packed-multiply': `U8 packed codes, magnitude weight_scale (AutoBitLinear multiplies) -> ${weights.toUpperCase()}`,
    'ternary-floats': `${t.dtype} ternary values (checked) -> ${weights.toUpperCase()}`,
    floats: `${t.dtype} -> ${weights.toUpperCase()}`,
  };

  return {
    ggufName: e.name,
    sources,
    role: 'projection',
    type,
    dims: e.dims,
    byteSize,
    how: `${describe[how]}${permuteHeads > 0 ? ', rows reordered for llama RoPE' : ''}`,
    data: async () => {
      const bytes = await src.read(at.header.file, t.byteOffset, t.byteLength);
      let ternary: Ternary | Float32Array;
      if (how === 'packed-divide' || how === 'packed-multiply') {
        const ws = scaleAt === undefined ? 1 : await readScale(src, scaleAt);
        const codes = unpackHfTernary(bytes, nOut / 4, nIn, t.name);
        ternary = { codes: permute(codes), scale: Math.fround(how === 'packed-divide' ? 1 / ws : ws) };
      } else {
        const dtype = requireFloat(t);
        if (how === 'absmean') {
          const q = dtype === 'F32' ? absmeanTernarize(decodeFloats(bytes, dtype), t.name) : absmeanTernarize16(bytes, dtype, t.name);
          ternary = { codes: permute(q.codes), scale: q.scale };
        } else {
          const values = decodeFloats(bytes, dtype);
          if (how === 'floats') {
            requireFinite(values, t.name);
            if (scaleAt !== undefined) {
              const ws = await readScale(src, scaleAt);
              for (let i = 0; i < values.length; i++) values[i] *= ws;
            }
            ternary = permute(values);
          } else {
            const exact = exactTernary(values, t.name);
            if (exact === undefined) {
              throw unsupported(`tensor '${t.name}' is not ternary (its nonzero values differ in magnitude) and config.json declares no BitNet quantization; convert with --weights f16 or f32 to keep it as floats`, { tensor: t.name });
            }
            const ws = scaleAt === undefined ? 1 : await readScale(src, scaleAt);
            ternary = { codes: permute(exact.codes), scale: Math.fround(exact.scale * ws) };
          }
        }
      }
      const out = packProjection(weights, ternary, nIn, e.name);
      if (out.length !== byteSize) throw new BitNetError('INTERNAL', `tensor '${e.name}': packed ${out.length} bytes, expected ${byteSize}`, { details: { tensor: e.name } });
      return out;
    },
  };
}
