// Named model shapes for synthetic GGUF files: a tiny one for tests, a small one for benches, and the exact BitNet b1.58 2B-4T shape.

import { BitNetError } from '../errors.js';

/** Hyper-parameters of a LLaMA-style ternary transformer. */
export interface ModelShape {
  readonly name: string;
  /** Hidden size (`{arch}.embedding_length`). Must equal nHeads * headDim (llama.cpp's bitnet loader assumes it). */
  readonly hiddenSize: number;
  /** FFN inner size (`{arch}.feed_forward_length`). */
  readonly ffnSize: number;
  readonly nLayers: number;
  readonly nHeads: number;
  /** Key/value heads (grouped-query attention when smaller than nHeads). */
  readonly nKvHeads: number;
  readonly headDim: number;
  /** Trained context length in tokens. */
  readonly contextLength: number;
  /** Token count of the vocabulary (128256 = LLaMA-3, the only vocabulary synth writes). */
  readonly vocabSize: number;
  readonly rmsEps: number;
  readonly ropeTheta: number;
}

/** LLaMA-3 vocabulary size (128000 BPE pieces + 256 special tokens). */
export const LLAMA3_VOCAB_SIZE = 128256;

/** Names accepted by `getShape` and `bitnet synth --shape`. */
export type ShapeName = 'tiny' | 'small' | '2b-4t' | '8b';

export const SHAPES: Readonly<Record<ShapeName, ModelShape>> = {
  // Small enough for unit tests, yet every feature is exercised: GQA (4 query heads share 2 KV heads),
  // more than one layer, ffn != hidden, rows that are multiples of 256 (TQ1_0/TQ2_0 blocks) and the real vocabulary.
  tiny: {
    name: 'tiny',
    hiddenSize: 256,
    ffnSize: 512,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 64,
    contextLength: 256,
    vocabSize: LLAMA3_VOCAB_SIZE,
    rmsEps: 1e-5,
    ropeTheta: 500000,
  },
  // For benches: big enough that kernels dominate, small enough to generate in a second.
  small: {
    name: 'small',
    hiddenSize: 512,
    ffnSize: 1536,
    nLayers: 4,
    nHeads: 8,
    nKvHeads: 2,
    headDim: 64,
    contextLength: 1024,
    vocabSize: LLAMA3_VOCAB_SIZE,
    rmsEps: 1e-5,
    ropeTheta: 500000,
  },
  // BitNet b1.58 2B-4T exactly (FORMATS.md; microsoft/bitnet-b1.58-2B-4T config.json).
  '2b-4t': {
    name: '2b-4t',
    hiddenSize: 2560,
    ffnSize: 6912,
    nLayers: 30,
    nHeads: 20,
    nKvHeads: 5,
    headDim: 128,
    contextLength: 4096,
    vocabSize: LLAMA3_VOCAB_SIZE,
    rmsEps: 1e-5,
    ropeTheta: 500000,
  },
  // Llama3-8B-1.58 (HF1BitLLM/Llama3-8B-1.58-100B-tokens config.json, Llama-3-8B's hyper-parameters): llama-shaped,
  // untied output in the released model (synth --untied); over 2 GiB of weights in any format, so it drives the wasm
  // memory past 2 GiB offsets.
  '8b': {
    name: '8b',
    hiddenSize: 4096,
    ffnSize: 14336,
    nLayers: 32,
    nHeads: 32,
    nKvHeads: 8,
    headDim: 128,
    contextLength: 8192,
    vocabSize: LLAMA3_VOCAB_SIZE,
    rmsEps: 1e-5,
    ropeTheta: 500000,
  },
};

export const SHAPE_NAMES: readonly ShapeName[] = ['tiny', 'small', '2b-4t', '8b'];

function isShapeName(name: string): name is ShapeName {
  return (SHAPE_NAMES as readonly string[]).includes(name);
}

/** The shape called `name`; throws BAD_ARGUMENT listing the known names. */
export function getShape(name: string): ModelShape {
  if (!isShapeName(name)) {
    throw new BitNetError('BAD_ARGUMENT', `unknown model shape '${name}'; expected one of ${SHAPE_NAMES.join(', ')}`, {
      details: { field: 'shape', actual: name, expected: SHAPE_NAMES.join('|') },
    });
  }
  return SHAPES[name];
}

/** Checks the relations the synthesizer and the reference loaders rely on; throws BAD_ARGUMENT naming the field. */
export function validateShape(shape: ModelShape): void {
  const positive: [keyof ModelShape, number][] = [
    ['hiddenSize', shape.hiddenSize],
    ['ffnSize', shape.ffnSize],
    ['nLayers', shape.nLayers],
    ['nHeads', shape.nHeads],
    ['nKvHeads', shape.nKvHeads],
    ['headDim', shape.headDim],
    ['contextLength', shape.contextLength],
    ['vocabSize', shape.vocabSize],
  ];
  for (const [field, value] of positive) {
    if (!Number.isInteger(value) || value < 1) {
      throw new BitNetError('BAD_ARGUMENT', `shape '${shape.name}': ${field} must be a positive integer, got ${value}`, {
        details: { field, actual: value },
      });
    }
  }
  if (shape.nHeads * shape.headDim !== shape.hiddenSize) {
    throw new BitNetError('BAD_ARGUMENT', `shape '${shape.name}': nHeads * headDim (${shape.nHeads} * ${shape.headDim}) must equal hiddenSize ${shape.hiddenSize}`, {
      details: { field: 'headDim', expected: shape.hiddenSize, actual: shape.nHeads * shape.headDim },
    });
  }
  if (shape.nHeads % shape.nKvHeads !== 0) {
    throw new BitNetError('BAD_ARGUMENT', `shape '${shape.name}': nHeads ${shape.nHeads} is not a multiple of nKvHeads ${shape.nKvHeads}`, {
      details: { field: 'nKvHeads', actual: shape.nKvHeads },
    });
  }
  if (shape.headDim % 2 !== 0) {
    throw new BitNetError('BAD_ARGUMENT', `shape '${shape.name}': headDim must be even for RoPE, got ${shape.headDim}`, {
      details: { field: 'headDim', actual: shape.headDim },
    });
  }
  if (!(shape.rmsEps > 0) || !(shape.ropeTheta > 0)) {
    throw new BitNetError('BAD_ARGUMENT', `shape '${shape.name}': rmsEps and ropeTheta must be positive`, {
      details: { field: 'rmsEps', actual: shape.rmsEps },
    });
  }
}
