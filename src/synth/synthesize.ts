// Writes deterministic synthetic ternary models (random weights, real LLaMA-3 vocabulary) as GGUF, tensor by tensor.
//
// Determinism: every tensor draws from its own stream, seeded by (seed, tensor name), so a tensor's values do
// not depend on the order of generation nor on the storage type. Ternary weights are {-s, 0, +s} with a
// per-tensor s that is exactly representable in f16: the i2_s, tq1_0, tq2_0, f16 and f32 files of one seed
// hold the same weights (TQ types keep s as an f16 block scale, I2_S as an f32 tensor scale).
// Layout per arch (inspect/arch-spec.ts): all three archs are written with tied embeddings by default (no output.weight;
// llama.cpp's `bitnet` loader refuses an extra tensor, bitnet.cpp's `bitnet-b1.58` and llama.cpp's `llama`
// take token_embd when it is absent), no optional `*.scale` tensors, and sub-norms except for `llama`.
// untiedOutput adds output.weight (embedType, values of its own stream), as Llama3-8B-1.58 and Falcon3-1.58bit have.

import { BitNetError } from '../errors.js';
import { GgmlType, tensorByteSize } from '../formats/ggml-type.js';
import { quantizeF32 } from '../formats/f32.js';
import { gv } from '../gguf/metadata.js';
import type { GgufValue } from '../gguf/types.js';
import { writeGgufFile } from '../gguf/writer.js';
import { expectedTensors, FILE_TYPE, SYNTH_ARCHS } from '../inspect/arch-spec.js';
import type { ExpectedTensor, SynthArch } from '../inspect/arch-spec.js';
import { packProjectionBytes, quantizeEmbeddingBytes } from './tensor-bytes.js';
import { tensorRng } from './rng.js';
import type { Rng } from './rng.js';
import { getShape, LLAMA3_VOCAB_SIZE, validateShape } from './shapes.js';
import type { ModelShape, ShapeName } from './shapes.js';

export type SynthWeightType = 'i2_s' | 'tq1_0' | 'tq2_0' | 'f16' | 'f32';
export type SynthEmbedType = 'f16' | 'q8_0' | 'q6_k';
export const SYNTH_WEIGHT_TYPES: readonly SynthWeightType[] = ['i2_s', 'tq1_0', 'tq2_0', 'f16', 'f32'];
export const SYNTH_EMBED_TYPES: readonly SynthEmbedType[] = ['f16', 'q8_0', 'q6_k'];

export interface SynthProgress {
  /** Tensors fully generated so far (0 .. nTensors). */
  readonly tensorsDone: number;
  readonly nTensors: number;
  /** The tensor just generated. */
  readonly tensorName: string;
  /** Tensor bytes generated so far and in all (the header is not counted). */
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

export interface SynthesizeOptions {
  /** A named shape ('tiny', 'small', '2b-4t', '8b') or explicit hyper-parameters. */
  readonly shape: ShapeName | ModelShape;
  readonly arch: SynthArch;
  /** Storage of the seven projections of each layer. */
  readonly weightType: SynthWeightType;
  /** Storage of token_embd (also the tied output projection) and of output.weight when untied. */
  readonly embedType: SynthEmbedType;
  /** Write output.weight, a table of its own, instead of tying the output to token_embd (not for arch `bitnet`). */
  readonly untiedOutput?: boolean;
  /** Any integer in [0, 2^32). Same options and seed -> byte-identical file. */
  readonly seed: number;
  /** Output file; overwritten. */
  readonly path: string;
  /** general.name (default `synthetic-<shape>-<arch>-<weightType>-s<seed>`). */
  readonly name?: string;
  readonly onProgress?: (p: SynthProgress) => void;
  readonly signal?: AbortSignal;
}

export interface SynthesizeResult {
  readonly path: string;
  /** Size of the written file. */
  readonly fileBytes: number;
  readonly nTensors: number;
  /** Total elements over all tensors. */
  readonly nParams: number;
}

/** ggml storage type of each weight option. */
const WEIGHT_GGML_TYPE: Readonly<Record<SynthWeightType, GgmlType>> = {
  i2_s: GgmlType.I2_S,
  tq1_0: GgmlType.TQ1_0,
  tq2_0: GgmlType.TQ2_0,
  f16: GgmlType.F16,
  f32: GgmlType.F32,
};
const EMBED_GGML_TYPE: Readonly<Record<SynthEmbedType, GgmlType>> = {
  f16: GgmlType.F16,
  q8_0: GgmlType.Q8_0,
  q6_k: GgmlType.Q6_K,
};
/** general.file_type names the projections' type (llama.cpp sets it from the bulk of the weights). */
const WEIGHT_FILE_TYPE: Readonly<Record<SynthWeightType, number>> = {
  i2_s: FILE_TYPE.MOSTLY_I2_S,
  tq1_0: FILE_TYPE.MOSTLY_TQ1_0,
  tq2_0: FILE_TYPE.MOSTLY_TQ2_0,
  f16: FILE_TYPE.MOSTLY_F16,
  f32: FILE_TYPE.ALL_F32,
};

/** The GGUF alignment synth writes (general.alignment; also GGUF's default). */
export const SYNTH_ALIGNMENT = 32;

/** Share of zero weights: two of the four 2-bit patterns map to 0 (BitNet b1.58 weights are about half zeros). */
const CODE_OF_2BITS = new Int8Array([-1, 0, 1, 0]);
const NONZERO_FRACTION = 0.5;

let codesOfByteTable: Int32Array | undefined;
/** For each random byte, its four codes (2 bits each, low bits first) packed as they lie in memory. */
function codesOfByte(): Int32Array {
  if (codesOfByteTable !== undefined) return codesOfByteTable;
  const table = new Int32Array(256);
  const asCodes = new Int8Array(table.buffer);
  for (let b = 0; b < 256; b++) {
    for (let k = 0; k < 4; k++) asCodes[4 * b + k] = CODE_OF_2BITS[(b >>> (2 * k)) & 3] ?? 0;
  }
  codesOfByteTable = table;
  return table;
}

/** Rows of token_embd generated (and quantized) at a time, so a 128k x 2560 table never sits in memory as floats. */
const EMBED_ROWS_PER_CHUNK = 1024;

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/**
 * Rounds a positive number to the nearest value with an 11-bit significand (f16's precision) using only
 * exact operations (scaling by powers of two), so the result is the same on every platform.
 * Valid for f16's normal range [2^-14, 65504].
 */
export function roundToF16Exact(x: number): number {
  if (!(x >= 2 ** -14 && x <= 65504)) {
    throw new BitNetError('INTERNAL', `roundToF16Exact: ${x} is outside f16's normal range`, { details: { actual: x } });
  }
  let m = x;
  let e = 0;
  while (m >= 2) {
    m /= 2;
    e++;
  }
  while (m < 1) {
    m *= 2;
    e--;
  }
  return (Math.round(m * 1024) / 1024) * 2 ** e;
}

/** Ternary weights of one projection: codes -1/0/+1 (row-major, rows of dims[0]) and the magnitude s. */
export interface TernaryTensor {
  readonly codes: Int8Array;
  /** Exactly representable in f16; weight = code * scale. */
  readonly scale: number;
}

/**
 * The ternary weights of tensor `tensorName` for `seed`: the same whatever storage type is chosen.
 * s ~ 1/sqrt(fan-in * nonzero share) (times 0.75..1.25) keeps each projection's output near unit scale
 * when its input is RMS-normalized, so activations stay finite through any number of layers.
 */
export function ternaryTensor(seed: number, tensorName: string, dims: readonly number[]): TernaryTensor {
  const fanIn = dims[0] ?? 1;
  const nElements = dims.reduce((a, b) => a * b, 1);
  const rng = tensorRng(seed, tensorName);
  const scale = roundToF16Exact((0.75 + 0.5 * rng.nextFloat()) / Math.sqrt(fanIn * NONZERO_FRACTION));
  // Code i is CODE_OF_2BITS[bits 2k..2k+1 of the (i >> 4)-th random word], k = i & 15. Written four
  // codes (one random byte) at a time through a 32-bit view; the table is built through the same view,
  // so byte order does not matter.
  const codes = new Int8Array(nElements);
  const words = new Int32Array(codes.buffer, 0, nElements >>> 2);
  const lut = codesOfByte();
  let w = 0;
  const wholeWords = words.length - (words.length % 4);
  while (w < wholeWords) {
    const r = rng.nextU32();
    words[w++] = lut[r & 0xff] ?? 0;
    words[w++] = lut[(r >>> 8) & 0xff] ?? 0;
    words[w++] = lut[(r >>> 16) & 0xff] ?? 0;
    words[w++] = lut[r >>> 24] ?? 0;
  }
  // Tail (fewer than 16 codes): one more random word, two bits per code, same order as above.
  if (w * 4 < nElements) {
    let r = rng.nextU32();
    for (let i = w * 4; i < nElements; i++) {
      codes[i] = CODE_OF_2BITS[r & 3] ?? 0;
      r >>>= 2;
    }
  }
  return { codes, scale };
}

/** RMSNorm weights: 1 plus up to +-10% noise (positive, so no channel is switched off). */
export function normValues(seed: number, tensorName: string, n: number): Float32Array {
  const rng = tensorRng(seed, tensorName);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 1 + 0.2 * (rng.nextFloat() - 0.5);
  return out;
}

/**
 * Embedding values, uniform with standard deviation 2/sqrt(hidden): a normalized hidden state then gives
 * tied-output logits with a standard deviation near 2 (a peaked but not degenerate softmax).
 */
function fillEmbeddingRows(rng: Rng, out: Float32Array, hiddenSize: number): void {
  const halfWidth = (Math.sqrt(3) * 2) / Math.sqrt(hiddenSize);
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.nextFloat() - 1) * halfWidth;
}

// ---------------------------------------------------------------------------------------------
// Tensor bytes
// ---------------------------------------------------------------------------------------------

function projectionBytes(seed: number, t: ExpectedTensor, weightType: SynthWeightType): Uint8Array {
  const { codes, scale } = ternaryTensor(seed, t.name, t.dims);
  return packProjectionBytes(weightType, codes, scale, t.dims[0] ?? 1, t.name);
}

/** token_embd generated and quantized EMBED_ROWS_PER_CHUNK rows at a time into one buffer of the final size. */
function embeddingBytes(seed: number, t: ExpectedTensor, embedType: SynthEmbedType, byteSize: number): Uint8Array {
  const rowLength = t.dims[0] ?? 1;
  const nRows = t.dims[1] ?? 1;
  const rng = tensorRng(seed, t.name);
  const out = new Uint8Array(byteSize);
  const chunk = new Float32Array(EMBED_ROWS_PER_CHUNK * rowLength);
  let byteOffset = 0;
  for (let row = 0; row < nRows; row += EMBED_ROWS_PER_CHUNK) {
    const rows = Math.min(EMBED_ROWS_PER_CHUNK, nRows - row);
    const values = rows === EMBED_ROWS_PER_CHUNK ? chunk : chunk.subarray(0, rows * rowLength);
    fillEmbeddingRows(rng, values, rowLength);
    const bytes = quantizeEmbeddingBytes(embedType, values);
    out.set(bytes, byteOffset);
    byteOffset += bytes.length;
  }
  if (byteOffset !== byteSize) {
    throw new BitNetError('INTERNAL', `tensor '${t.name}': generated ${byteOffset} bytes, expected ${byteSize}`, {
      details: { tensor: t.name, expected: byteSize, actual: byteOffset },
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

export interface SynthTensorPlan {
  readonly name: string;
  readonly dims: readonly number[];
  readonly type: GgmlType;
  readonly byteSize: number;
  /** Generates the tensor bytes (call once; big tensors are only built when the writer asks). */
  readonly data: () => Uint8Array;
}

export interface SynthModelPlan {
  readonly shape: ModelShape;
  readonly metadata: [string, GgufValue][];
  readonly tensors: SynthTensorPlan[];
}

function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new BitNetError('BAD_ARGUMENT', `${field}: expected one of ${allowed.join(', ')}, got '${value}'`, {
      details: { field, expected: allowed.join('|'), actual: value },
    });
  }
  return value as T;
}

/**
 * The metadata and lazily generated tensors of a synthetic model (what synthesizeModel writes).
 * Async only to load the LLaMA-3 vocabulary (a few MB of data) on first use rather than when this module is imported.
 */
export async function planSyntheticModel(opts: Omit<SynthesizeOptions, 'path' | 'onProgress' | 'signal'>): Promise<SynthModelPlan> {
  const shape = typeof opts.shape === 'string' ? getShape(opts.shape) : opts.shape;
  validateShape(shape);
  const arch = oneOf('arch', opts.arch, SYNTH_ARCHS);
  const weightType = oneOf('weightType', opts.weightType, SYNTH_WEIGHT_TYPES);
  const embedType = oneOf('embedType', opts.embedType, SYNTH_EMBED_TYPES);
  const seed = opts.seed;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new BitNetError('BAD_ARGUMENT', `seed: expected an integer in [0, 4294967295], got ${seed}`, { details: { field: 'seed', actual: seed } });
  }
  if (shape.vocabSize !== LLAMA3_VOCAB_SIZE) {
    throw new BitNetError('BAD_ARGUMENT', `shape '${shape.name}': vocabSize must be ${LLAMA3_VOCAB_SIZE} (synth writes the LLaMA-3 vocabulary), got ${shape.vocabSize}`, {
      details: { field: 'vocabSize', expected: LLAMA3_VOCAB_SIZE, actual: shape.vocabSize },
    });
  }

  const { llama3GgufMetadataEntries } = await import('../tokenizer/llama3-vocab.js');
  const untied = opts.untiedOutput === true;
  if (untied && arch === 'bitnet') {
    throw new BitNetError('BAD_ARGUMENT', "untiedOutput: llama.cpp's `bitnet` arch has no output.weight (its loader refuses one)", { details: { field: 'untiedOutput', actual: arch } });
  }
  const name = opts.name ?? `synthetic-${shape.name}-${arch}-${weightType}${untied ? '-untied' : ''}-s${seed}`;
  const a = (suffix: string): string => `${arch}.${suffix}`;
  // Key order follows llama.cpp's converter: general.*, then the arch block, then the tokenizer.
  const metadata: [string, GgufValue][] = [
    ['general.architecture', gv.str(arch)],
    ['general.name', gv.str(name)],
    ['general.alignment', gv.u32(SYNTH_ALIGNMENT)],
    ['general.file_type', gv.u32(WEIGHT_FILE_TYPE[weightType])],
    ['general.quantization_version', gv.u32(2)],
    [a('vocab_size'), gv.u32(shape.vocabSize)],
    [a('context_length'), gv.u32(shape.contextLength)],
    [a('embedding_length'), gv.u32(shape.hiddenSize)],
    [a('feed_forward_length'), gv.u32(shape.ffnSize)],
    [a('block_count'), gv.u32(shape.nLayers)],
    [a('attention.head_count'), gv.u32(shape.nHeads)],
    [a('attention.head_count_kv'), gv.u32(shape.nKvHeads)],
    [a('attention.layer_norm_rms_epsilon'), gv.f32(shape.rmsEps)],
    [a('rope.freq_base'), gv.f32(shape.ropeTheta)],
    [a('rope.dimension_count'), gv.u32(shape.headDim)],
    ...llama3GgufMetadataEntries(),
  ];

  const expected = expectedTensors(arch, shape).filter((t) => t.required || (untied && t.role === 'output'));
  const tensors: SynthTensorPlan[] = expected.map((t) => {
    const nElements = t.dims.reduce((x, y) => x * y, 1);
    const rowLength = t.dims[0] ?? 1;
    switch (t.role) {
      case 'embedding':
      case 'output': {
        const type = EMBED_GGML_TYPE[embedType];
        const byteSize = tensorByteSize(type, nElements, rowLength, t.name);
        return { name: t.name, dims: t.dims, type, byteSize, data: () => embeddingBytes(seed, t, embedType, byteSize) };
      }
      case 'norm':
        return { name: t.name, dims: t.dims, type: GgmlType.F32, byteSize: nElements * 4, data: () => quantizeF32(normValues(seed, t.name, nElements)) };
      case 'projection': {
        const type = WEIGHT_GGML_TYPE[weightType];
        const byteSize = tensorByteSize(type, nElements, rowLength, t.name);
        return { name: t.name, dims: t.dims, type, byteSize, data: () => checkedSize(t.name, projectionBytes(seed, t, weightType), byteSize) };
      }
      default:
        throw new BitNetError('INTERNAL', `synth does not generate optional tensor '${t.name}' (${t.role})`, { details: { tensor: t.name } });
    }
  });
  return { shape, metadata, tensors };
}

function checkedSize(name: string, bytes: Uint8Array, byteSize: number): Uint8Array {
  if (bytes.length !== byteSize) {
    throw new BitNetError('INTERNAL', `tensor '${name}': packed ${bytes.length} bytes, expected ${byteSize}`, {
      details: { tensor: name, expected: byteSize, actual: bytes.length },
    });
  }
  return bytes;
}

/**
 * Generates a synthetic model and writes it to `opts.path` through the streaming GGUF writer: one tensor is
 * in memory at a time (the 2B-4T shape writes ~1.2 GB without holding it).
 */
export async function synthesizeModel(opts: SynthesizeOptions): Promise<SynthesizeResult> {
  const plan = await planSyntheticModel(opts);
  const nTensors = plan.tensors.length;
  const bytesTotal = plan.tensors.reduce((s, t) => s + t.byteSize, 0);
  let tensorsDone = 0;
  let bytesDone = 0;
  await writeGgufFile(opts.path, {
    alignment: SYNTH_ALIGNMENT,
    metadata: plan.metadata,
    tensors: plan.tensors.map((t) => ({
      name: t.name,
      dims: t.dims,
      type: t.type,
      data: () => {
        if (opts.signal?.aborted === true) throw new BitNetError('ABORTED', `synthesis of '${opts.path}' was aborted`, { details: { path: opts.path } });
        const bytes = t.data();
        tensorsDone++;
        bytesDone += bytes.length;
        opts.onProgress?.({ tensorsDone, nTensors, tensorName: t.name, bytesDone, bytesTotal });
        return bytes;
      },
    })),
  });
  const { stat } = await import('node:fs/promises');
  return {
    path: opts.path,
    fileBytes: (await stat(opts.path)).size,
    nTensors,
    nParams: plan.tensors.reduce((s, t) => s + t.dims.reduce((x, y) => x * y, 1), 0),
  };
}
