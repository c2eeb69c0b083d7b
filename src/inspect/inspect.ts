// Summarizes a parsed GGUF header (arch, hyper-parameters, tokenizer, tensor table, sizes) and lists what looks wrong.

import { lookupType } from '../formats/ggml-type.js';
import { GgmlType } from '../formats/ggml-type.js';
import type { GgufHeader, GgufValue } from '../gguf/types.js';
import { archFamily, expectedTensors, fileTypeName, REQUIRED_ARCH_KEY_SUFFIXES, unknownKeyReason } from './arch-spec.js';
import type { ExpectedTensor, TensorRole } from './arch-spec.js';
import { choosePreTokenizer, type PreTokenizerOrigin } from '../tokenizer/pre-tokenizer.js';
import { isLlama3Vocabulary } from '../tokenizer/tokenizer.js';
import { describeLayout, needsRepack, tensorLayout } from '../model/ternary-layout.js';
import type { TernaryLayoutOptions } from '../model/ternary-layout.js';
import { isBitNetError } from '../errors.js';

export type InspectWarningCode =
  | 'UNKNOWN_ARCH'
  | 'MISSING_METADATA'
  | 'BAD_METADATA'
  | 'UNKNOWN_KEY'
  | 'ODD_ALIGNMENT'
  | 'MISSING_TENSOR'
  | 'UNEXPECTED_TENSOR'
  | 'TENSOR_SHAPE'
  | 'UNEXPECTED_TENSOR_TYPE'
  | 'PRE_TOKENIZER_GUESSED'
  | 'TERNARY_LAYOUT';

export interface InspectWarning {
  readonly code: InspectWarningCode;
  /** The key or tensor name the warning is about ('' for file-level warnings). */
  readonly subject: string;
  readonly message: string;
}

export interface HyperParameters {
  readonly contextLength: number | null;
  readonly embeddingLength: number | null;
  readonly feedForwardLength: number | null;
  readonly blockCount: number | null;
  readonly headCount: number | null;
  readonly headCountKv: number | null;
  /** embedding_length / head_count (or attention.key_length when present). */
  readonly headDim: number | null;
  readonly rmsEps: number | null;
  readonly ropeFreqBase: number | null;
  readonly ropeDimensionCount: number | null;
  /** `{arch}.vocab_size`, else the token list length, else token_embd's ne[1]. */
  readonly vocabSize: number | null;
}

export interface TokenizerSummary {
  readonly model: string | null;
  readonly pre: string | null;
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  /** tokenizer.ggml.eot_token_id, else the id of '<|eot_id|>' when the vocabulary has it. */
  readonly eotTokenId: number | null;
  readonly mergesCount: number;
  readonly addBos: boolean | null;
  readonly hasChatTemplate: boolean;
  /** BPE ('gpt2') vocabularies: the pre-tokenizer rules a load would use, where they come from and why. */
  readonly preTokenizer: { readonly name: string; readonly origin: PreTokenizerOrigin; readonly reason: string } | null;
}

/** Choices that change what a load would do, so inspect reports what that load would see. */
export interface InspectOptions {
  /** As LoadOptions.preTokenizer: the BPE pre-tokenizer rules by name (BAD_ARGUMENT when unknown). */
  readonly preTokenizer?: string | undefined;
  /** As LoadOptions.i2sFlavor / tlConfig: the I2_S flavor and TL1/TL2 tiles a load would use. */
  readonly layout?: TernaryLayoutOptions | undefined;
}

/** How a group of ternary tensors is laid out and why the loader reads it so (model/ternary-layout.ts). */
export interface TernaryLayoutGroup {
  /** 'I2_S x86', 'I2_S qk256', 'TL2' ... */
  readonly layout: string;
  readonly nTensors: number;
  /** What was assumed or detected, and from what; for TL1/TL2 the tiles of the first tensor and their source. */
  readonly detail: string;
  /** The first tensor of the group. */
  readonly example: string;
  /** Repacked to x86 I2_S at load. */
  readonly repacked: boolean;
}

export interface TensorRow {
  readonly name: string;
  /** Type name ('I2_S', 'Q8_0' ...) or `type#<id>` when unknown. */
  readonly type: string;
  readonly typeId: number;
  /** ggml dims, ne[0] first. */
  readonly dims: readonly number[];
  readonly nElements: number;
  readonly bytes: number;
  /** Absolute file offset of the first byte. */
  readonly byteOffset: number;
}

export interface TypeTotal {
  readonly type: string;
  readonly nTensors: number;
  readonly nElements: number;
  readonly bytes: number;
}

/** Everything `bitnet inspect` prints; plain JSON (numbers, strings, arrays), no bigint. */
export interface InspectReport {
  readonly version: number;
  readonly fileBytes: number;
  readonly headerBytes: number;
  readonly dataOffset: number;
  readonly alignment: number;
  readonly nMetadata: number;
  readonly arch: string | null;
  readonly name: string | null;
  readonly fileType: { readonly id: number; readonly name: string } | null;
  readonly hyperParameters: HyperParameters;
  readonly tokenizer: TokenizerSummary | null;
  readonly tensors: readonly TensorRow[];
  /** Per storage type, largest first. */
  readonly bytesByType: readonly TypeTotal[];
  /** The I2_S flavors and TL1/TL2 tiles of the ternary tensors (empty when there are none). */
  readonly ternaryLayouts: readonly TernaryLayoutGroup[];
  /** Sum of all tensors' element counts. */
  readonly totalParams: number;
  /** Sum of all tensors' byte sizes. */
  readonly tensorBytes: number;
  readonly warnings: readonly InspectWarning[];
}

/** GGUF's default alignment (ggml docs/gguf.md GGUF_DEFAULT_ALIGNMENT). */
const DEFAULT_ALIGNMENT = 32;

/** Storage types a loader can use for each tensor role without surprises. */
const EXPECTED_TYPES: Readonly<Record<TensorRole, readonly number[]>> = {
  projection: [GgmlType.I2_S, GgmlType.TL1, GgmlType.TL2, GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.F16, GgmlType.BF16, GgmlType.F32],
  embedding: [GgmlType.F16, GgmlType.BF16, GgmlType.F32, GgmlType.Q8_0, GgmlType.Q6_K, GgmlType.Q4_0],
  output: [GgmlType.F16, GgmlType.BF16, GgmlType.F32, GgmlType.Q8_0, GgmlType.Q6_K, GgmlType.Q4_0],
  norm: [GgmlType.F32],
  'projection-scale': [GgmlType.F32],
};

/** Collects warnings while reading metadata leniently (inspect reports problems instead of throwing). */
class MetaReader {
  readonly warnings: InspectWarning[] = [];
  constructor(private readonly meta: ReadonlyMap<string, GgufValue>) {}

  number(key: string): number | null {
    const v = this.meta.get(key);
    if (v === undefined) return null;
    if (v.type === 8 || v.type === 7 || v.type === 9) {
      this.warnings.push({ code: 'BAD_METADATA', subject: key, message: `metadata '${key}': expected a number, got value type ${v.type}` });
      return null;
    }
    if (v.type === 6) return shortestF32(v.value);
    return typeof v.value === 'bigint' ? Number(v.value) : v.value;
  }

  string(key: string): string | null {
    const v = this.meta.get(key);
    if (v === undefined) return null;
    if (v.type !== 8) {
      this.warnings.push({ code: 'BAD_METADATA', subject: key, message: `metadata '${key}': expected a string, got value type ${v.type}` });
      return null;
    }
    return v.value;
  }

  bool(key: string): boolean | null {
    const v = this.meta.get(key);
    if (v === undefined) return null;
    if (v.type !== 7) {
      this.warnings.push({ code: 'BAD_METADATA', subject: key, message: `metadata '${key}': expected a bool, got value type ${v.type}` });
      return null;
    }
    return v.value;
  }

  /** Length of an array value (null when absent or not an array). */
  arrayLength(key: string): number | null {
    const v = this.meta.get(key);
    if (v === undefined) return null;
    if (v.type !== 9) {
      this.warnings.push({ code: 'BAD_METADATA', subject: key, message: `metadata '${key}': expected an array, got value type ${v.type}` });
      return null;
    }
    return v.value.length;
  }

  stringArray(key: string): readonly string[] | null {
    const v = this.meta.get(key);
    if (v === undefined || v.type !== 9 || v.elementType !== 8) return null;
    return v.value;
  }
}

/** The shortest decimal that rounds to the same f32 (1e-5 stored as f32 reads back as 0.000009999999747; show 0.00001). */
export function shortestF32(x: number): number {
  if (!Number.isFinite(x)) return x;
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(x.toPrecision(digits));
    if (Math.fround(candidate) === x) return candidate;
  }
  return x;
}

function typeName(typeId: number): string {
  return lookupType(typeId)?.name ?? `type#${typeId}`;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  // ggml pads dims with 1s; a stored [n] and an expected [n, 1] are the same tensor.
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if ((a[i] ?? 1) !== (b[i] ?? 1)) return false;
  return true;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Builds the report from a header alone (no tensor bytes are read). */
export function inspectGguf(header: GgufHeader, options: InspectOptions = {}): InspectReport {
  const r = new MetaReader(header.metadata);
  const warnings = r.warnings;

  // ---- arch and hyper-parameters ----
  const arch = r.string('general.architecture');
  if (arch === null) warnings.push({ code: 'MISSING_METADATA', subject: 'general.architecture', message: "metadata 'general.architecture' is missing" });
  const family = arch === null ? undefined : archFamily(arch);
  if (arch !== null && family === undefined) {
    warnings.push({ code: 'UNKNOWN_ARCH', subject: 'general.architecture', message: `architecture '${arch}' is not one of the ternary archs this engine runs (bitnet-b1.58, bitnet-25, bitnet, llama)` });
  }
  const k = (suffix: string): string => `${arch ?? '?'}.${suffix}`;
  if (family !== undefined) {
    for (const suffix of REQUIRED_ARCH_KEY_SUFFIXES) {
      if (!header.metadata.has(k(suffix))) warnings.push({ code: 'MISSING_METADATA', subject: k(suffix), message: `metadata '${k(suffix)}' is missing` });
    }
  }
  const embeddingLength = r.number(k('embedding_length'));
  const headCount = r.number(k('attention.head_count'));
  const keyLength = r.number(k('attention.key_length'));
  const tokensLength = r.arrayLength('tokenizer.ggml.tokens');
  const embd = header.tensors.find((t) => t.name === 'token_embd.weight');
  const vocabKey = r.number(k('vocab_size'));
  const hyperParameters: HyperParameters = {
    contextLength: r.number(k('context_length')),
    embeddingLength,
    feedForwardLength: r.number(k('feed_forward_length')),
    blockCount: r.number(k('block_count')),
    headCount,
    headCountKv: r.number(k('attention.head_count_kv')) ?? headCount,
    headDim: keyLength ?? (embeddingLength !== null && headCount !== null && headCount > 0 ? embeddingLength / headCount : null),
    rmsEps: r.number(k('attention.layer_norm_rms_epsilon')),
    ropeFreqBase: r.number(k('rope.freq_base')),
    ropeDimensionCount: r.number(k('rope.dimension_count')),
    vocabSize: vocabKey ?? tokensLength ?? embd?.dims[1] ?? null,
  };
  if (vocabKey !== null && tokensLength !== null && vocabKey !== tokensLength) {
    warnings.push({ code: 'BAD_METADATA', subject: k('vocab_size'), message: `'${k('vocab_size')}' is ${vocabKey} but the tokenizer has ${tokensLength} tokens` });
  }

  // ---- file type, name ----
  const fileTypeId = r.number('general.file_type');
  const fileType = fileTypeId === null ? null : { id: fileTypeId, name: fileTypeName(fileTypeId) };
  const name = r.string('general.name');

  // ---- tokenizer ----
  let tokenizer: TokenizerSummary | null = null;
  if (tokensLength !== null || header.metadata.has('tokenizer.ggml.model')) {
    const tokens = r.stringArray('tokenizer.ggml.tokens');
    const eotIndex = tokens === null ? -1 : tokens.indexOf('<|eot_id|>');
    const model = r.string('tokenizer.ggml.model');
    const pre = r.string('tokenizer.ggml.pre');
    let preTokenizer: TokenizerSummary['preTokenizer'] = null;
    if (model === 'gpt2') {
      const merges = r.stringArray('tokenizer.ggml.merges');
      const choice = choosePreTokenizer({
        filePre: pre ?? undefined,
        llama3Vocabulary: tokens !== null && merges !== null && isLlama3Vocabulary(tokens, merges),
        requested: options.preTokenizer,
      });
      preTokenizer = { name: choice.name, origin: choice.origin, reason: choice.reason };
      if (choice.origin === 'guessed') warnings.push({ code: 'PRE_TOKENIZER_GUESSED', subject: 'tokenizer.ggml.pre', message: choice.reason });
    }
    tokenizer = {
      model,
      pre,
      vocabSize: tokensLength ?? 0,
      bosTokenId: r.number('tokenizer.ggml.bos_token_id'),
      eosTokenId: r.number('tokenizer.ggml.eos_token_id'),
      eotTokenId: r.number('tokenizer.ggml.eot_token_id') ?? (eotIndex >= 0 ? eotIndex : null),
      mergesCount: r.arrayLength('tokenizer.ggml.merges') ?? 0,
      addBos: r.bool('tokenizer.ggml.add_bos_token'),
      hasChatTemplate: header.metadata.has('tokenizer.chat_template'),
      preTokenizer,
    };
  }

  // ---- unknown keys, alignment ----
  for (const key of header.metadata.keys()) {
    const why = unknownKeyReason(key, arch ?? undefined);
    if (why !== undefined) warnings.push({ code: 'UNKNOWN_KEY', subject: key, message: `metadata '${key}': ${why}` });
  }
  if (!isPowerOfTwo(header.alignment)) {
    warnings.push({ code: 'ODD_ALIGNMENT', subject: 'general.alignment', message: `alignment ${header.alignment} is not a power of two` });
  } else if (header.alignment !== DEFAULT_ALIGNMENT) {
    warnings.push({ code: 'ODD_ALIGNMENT', subject: 'general.alignment', message: `alignment ${header.alignment} differs from the default ${DEFAULT_ALIGNMENT}` });
  }
  if (header.dataOffset % header.alignment !== 0) {
    warnings.push({ code: 'ODD_ALIGNMENT', subject: '', message: `data section offset ${header.dataOffset} is not a multiple of the alignment ${header.alignment}` });
  }

  // ---- tensor table and totals ----
  const tensors: TensorRow[] = header.tensors.map((t) => ({
    name: t.name,
    type: typeName(t.type),
    typeId: t.type,
    dims: [...t.dims],
    nElements: t.nElements,
    bytes: t.byteSize,
    byteOffset: t.byteOffset,
  }));
  const totals = new Map<string, { nTensors: number; nElements: number; bytes: number }>();
  let totalParams = 0;
  let tensorBytes = 0;
  for (const t of tensors) {
    const sum = totals.get(t.type) ?? { nTensors: 0, nElements: 0, bytes: 0 };
    sum.nTensors += 1;
    sum.nElements += t.nElements;
    sum.bytes += t.bytes;
    totals.set(t.type, sum);
    totalParams += t.nElements;
    tensorBytes += t.bytes;
    if (t.byteOffset % header.alignment !== 0) {
      warnings.push({ code: 'ODD_ALIGNMENT', subject: t.name, message: `tensor '${t.name}' starts at offset ${t.byteOffset}, not a multiple of the alignment ${header.alignment}` });
    }
  }
  const bytesByType = [...totals.entries()].map(([type, s]) => ({ type, ...s })).sort((a, b) => b.bytes - a.bytes || a.type.localeCompare(b.type));

  // ---- ternary layouts: which I2_S flavor, which TL tiles, and why ----
  const { groups: ternaryLayouts, scaleTensors } = ternaryLayoutGroups(header, options.layout, warnings);

  // ---- tensors against the arch ----
  const hp = hyperParameters;
  if (family !== undefined && hp.embeddingLength !== null && hp.feedForwardLength !== null && hp.blockCount !== null && hp.headCount !== null && hp.headCountKv !== null && hp.headDim !== null && hp.vocabSize !== null) {
    const expected = expectedTensors(family, {
      hiddenSize: hp.embeddingLength,
      ffnSize: hp.feedForwardLength,
      nLayers: hp.blockCount,
      nHeads: hp.headCount,
      nKvHeads: hp.headCountKv,
      headDim: hp.headDim,
      vocabSize: hp.vocabSize,
    });
    warnings.push(...checkTensors(header, expected, scaleTensors));
  }

  return {
    version: header.version,
    fileBytes: header.fileSize,
    headerBytes: header.headerBytes,
    dataOffset: header.dataOffset,
    alignment: header.alignment,
    nMetadata: header.metadata.size,
    arch,
    name,
    fileType,
    hyperParameters,
    tokenizer,
    tensors,
    bytesByType,
    ternaryLayouts,
    totalParams,
    tensorBytes,
    warnings,
  };
}

/** Groups the I2_S / TL1 / TL2 tensors by layout; a tensor whose layout cannot be read becomes a TERNARY_LAYOUT warning. */
function ternaryLayoutGroups(header: GgufHeader, opts: TernaryLayoutOptions | undefined, warnings: InspectWarning[]): { groups: TernaryLayoutGroup[]; scaleTensors: Set<string> } {
  const groups = new Map<string, { layout: string; nTensors: number; detail: string; example: string; repacked: boolean }>();
  const scaleTensors = new Set<string>();
  for (const t of header.tensors) {
    let layout;
    try {
      layout = tensorLayout(header, t, opts);
    } catch (e) {
      if (!isBitNetError(e)) throw e;
      warnings.push({ code: 'TERNARY_LAYOUT', subject: t.name, message: `${e.message} [${e.code}]` });
      continue;
    }
    if (layout === undefined) continue;
    if (layout.scaleTensor !== undefined) scaleTensors.add(layout.scaleTensor.name);
    const name = layout.kind === 'i2s' ? `I2_S ${layout.flavor}` : layout.type;
    const key = layout.kind === 'i2s' ? name : `${name} ${layout.tilesFrom}`;
    const g = groups.get(key);
    if (g !== undefined) g.nTensors++;
    else groups.set(key, { layout: name, nTensors: 1, detail: describeLayout(layout), example: t.name, repacked: needsRepack(layout) });
  }
  return { groups: [...groups.values()], scaleTensors };
}

/** Missing, unexpected, mis-shaped and oddly typed tensors (`scaleTensors`: read by a ternary layout, not unexpected). */
function checkTensors(header: GgufHeader, expected: readonly ExpectedTensor[], scaleTensors: ReadonlySet<string>): InspectWarning[] {
  const warnings: InspectWarning[] = [];
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const expectedNames = new Set<string>();
  for (const e of expected) {
    expectedNames.add(e.name);
    if (scaleTensors.has(e.name)) continue; // qk256 block scales under a `bitnet` output-scale name
    const t = byName.get(e.name);
    if (t === undefined) {
      if (e.required) warnings.push({ code: 'MISSING_TENSOR', subject: e.name, message: `tensor '${e.name}' [${e.dims.join(', ')}] is missing` });
      continue;
    }
    if (!sameDims(t.dims, e.dims)) {
      warnings.push({ code: 'TENSOR_SHAPE', subject: e.name, message: `tensor '${e.name}' has dims [${t.dims.join(', ')}], expected [${e.dims.join(', ')}]` });
    }
    if (!EXPECTED_TYPES[e.role].includes(t.type)) {
      const allowed = EXPECTED_TYPES[e.role].map(typeName).join(', ');
      warnings.push({ code: 'UNEXPECTED_TENSOR_TYPE', subject: e.name, message: `tensor '${e.name}' (${e.role}) is ${typeName(t.type)}, expected one of ${allowed}` });
    }
  }
  for (const t of header.tensors) {
    if (!expectedNames.has(t.name) && !scaleTensors.has(t.name)) {
      warnings.push({ code: 'UNEXPECTED_TENSOR', subject: t.name, message: `tensor '${t.name}' is not part of the architecture's layout` });
    }
  }
  return warnings;
}
