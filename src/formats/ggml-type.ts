// The one exhaustive table of ggml tensor types: upstream ids, block sizes and what we can do with each.
// Sources: ggml/include/ggml.h (enum ggml_type), ggml/src/ggml.c (type_traits),
// gguf-py/gguf/constants.py (GGML_QUANT_SIZES); bitnet.cpp fork: 3rdparty/llama.cpp/ggml/include/ggml.h.

import { BitNetError } from '../errors.js';

/** ggml type ids as stored in GGUF tensor infos. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  // --- bitnet.cpp fork only (upstream llama.cpp retired 36..38 and now uses 39 for MXFP4) ---
  I2_S: 36,
  TL1: 38,
  TL2: 39,
} as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

/** What the engine can do with a tensor of this type. */
export type TypeSupport =
  | 'ternary' // ternary weights: read, pack, dot product
  | 'float' // F32/F16/BF16: read and convert
  | 'quant' // Q8_0/Q4_0/Q6_K: dequantize (embeddings, output)
  | 'layout-only' // size known so files parse, data refused with a clear error
  | 'lookup-table'; // TL1/TL2: tiled per weight shape; unpacked and repacked as I2_S at load (formats/tl.ts)

export interface TypeTraits {
  readonly name: string;
  readonly id: GgmlType;
  /** Elements per block (1 for plain types). */
  readonly blockSize: number;
  /** Bytes per block. For I2_S this is the code bytes per 4 elements; see i2s.ts for the trailing scale. */
  readonly typeSize: number;
  readonly support: TypeSupport;
}

function t(name: string, id: GgmlType, blockSize: number, typeSize: number, support: TypeSupport): TypeTraits {
  return { name, id, blockSize, typeSize, support };
}

/** Every known type. Sizes from gguf-py GGML_QUANT_SIZES. */
export const TYPE_TRAITS: Readonly<Record<GgmlType, TypeTraits>> = {
  [GgmlType.F32]: t('F32', GgmlType.F32, 1, 4, 'float'),
  [GgmlType.F16]: t('F16', GgmlType.F16, 1, 2, 'float'),
  [GgmlType.Q4_0]: t('Q4_0', GgmlType.Q4_0, 32, 18, 'quant'),
  [GgmlType.Q4_1]: t('Q4_1', GgmlType.Q4_1, 32, 20, 'layout-only'),
  [GgmlType.Q5_0]: t('Q5_0', GgmlType.Q5_0, 32, 22, 'layout-only'),
  [GgmlType.Q5_1]: t('Q5_1', GgmlType.Q5_1, 32, 24, 'layout-only'),
  [GgmlType.Q8_0]: t('Q8_0', GgmlType.Q8_0, 32, 34, 'quant'),
  [GgmlType.Q8_1]: t('Q8_1', GgmlType.Q8_1, 32, 36, 'layout-only'),
  [GgmlType.Q2_K]: t('Q2_K', GgmlType.Q2_K, 256, 84, 'layout-only'),
  [GgmlType.Q3_K]: t('Q3_K', GgmlType.Q3_K, 256, 110, 'layout-only'),
  [GgmlType.Q4_K]: t('Q4_K', GgmlType.Q4_K, 256, 144, 'layout-only'),
  [GgmlType.Q5_K]: t('Q5_K', GgmlType.Q5_K, 256, 176, 'layout-only'),
  [GgmlType.Q6_K]: t('Q6_K', GgmlType.Q6_K, 256, 210, 'quant'),
  [GgmlType.Q8_K]: t('Q8_K', GgmlType.Q8_K, 256, 292, 'layout-only'),
  [GgmlType.IQ2_XXS]: t('IQ2_XXS', GgmlType.IQ2_XXS, 256, 66, 'layout-only'),
  [GgmlType.IQ2_XS]: t('IQ2_XS', GgmlType.IQ2_XS, 256, 74, 'layout-only'),
  [GgmlType.IQ3_XXS]: t('IQ3_XXS', GgmlType.IQ3_XXS, 256, 98, 'layout-only'),
  [GgmlType.IQ1_S]: t('IQ1_S', GgmlType.IQ1_S, 256, 50, 'layout-only'),
  [GgmlType.IQ4_NL]: t('IQ4_NL', GgmlType.IQ4_NL, 32, 18, 'layout-only'),
  [GgmlType.IQ3_S]: t('IQ3_S', GgmlType.IQ3_S, 256, 110, 'layout-only'),
  [GgmlType.IQ2_S]: t('IQ2_S', GgmlType.IQ2_S, 256, 82, 'layout-only'),
  [GgmlType.IQ4_XS]: t('IQ4_XS', GgmlType.IQ4_XS, 256, 136, 'layout-only'),
  [GgmlType.I8]: t('I8', GgmlType.I8, 1, 1, 'layout-only'),
  [GgmlType.I16]: t('I16', GgmlType.I16, 1, 2, 'layout-only'),
  [GgmlType.I32]: t('I32', GgmlType.I32, 1, 4, 'layout-only'),
  [GgmlType.I64]: t('I64', GgmlType.I64, 1, 8, 'layout-only'),
  [GgmlType.F64]: t('F64', GgmlType.F64, 1, 8, 'layout-only'),
  [GgmlType.IQ1_M]: t('IQ1_M', GgmlType.IQ1_M, 256, 56, 'layout-only'),
  [GgmlType.BF16]: t('BF16', GgmlType.BF16, 1, 2, 'float'),
  [GgmlType.TQ1_0]: t('TQ1_0', GgmlType.TQ1_0, 256, 54, 'ternary'),
  [GgmlType.TQ2_0]: t('TQ2_0', GgmlType.TQ2_0, 256, 66, 'ternary'),
  // --- bitnet.cpp fork only ---
  // I2_S: 4 codes per byte plus a 32-byte tail holding the f32 per-tensor scale (src/ggml-bitnet-mad.cpp).
  [GgmlType.I2_S]: t('I2_S', GgmlType.I2_S, 1, 1, 'ternary'),
  // TL1/TL2: lookup-table layouts tiled per weight shape (bitnet.cpp utils/codegen_tl1.py, codegen_tl2.py,
  // utils/convert-hf-to-gguf-bitnet.py); the loader repacks them as I2_S (formats/tl.ts, model/ternary-layout.ts).
  // Their byte size depends on the tiles, so the reader takes it from the gap to the next tensor.
  [GgmlType.TL1]: t('TL1', GgmlType.TL1, 1, 1, 'lookup-table'),
  [GgmlType.TL2]: t('TL2', GgmlType.TL2, 1, 1, 'lookup-table'),
};

const BY_ID = new Map<number, TypeTraits>(Object.values(TYPE_TRAITS).map((tr) => [tr.id, tr]));

/** Traits for a raw id from a file, or undefined when the id is unknown. */
export function lookupType(id: number): TypeTraits | undefined {
  return BY_ID.get(id);
}

/** Traits for a raw id; throws UNKNOWN_TENSOR_TYPE naming the tensor. */
export function typeTraits(id: number, tensorName = '?'): TypeTraits {
  const tr = BY_ID.get(id);
  if (tr === undefined) {
    throw new BitNetError('UNKNOWN_TENSOR_TYPE', `tensor '${tensorName}': unknown ggml type id ${id}`, {
      details: { tensor: tensorName, typeId: id },
    });
  }
  return tr;
}

/** I2_S stores its f32 scale in a 32-byte tail after the codes (bitnet.cpp src/ggml-bitnet-mad.cpp). */
export const I2S_TAIL_BYTES = 32;

/**
 * Bytes a tensor of `nElements` elements and row length `rowLength` (ne[0]) occupies.
 * Throws BAD_TENSOR_SHAPE when the row length is not a multiple of the block size.
 */
export function tensorByteSize(type: GgmlType, nElements: number, rowLength: number, tensorName = '?'): number {
  const tr = TYPE_TRAITS[type];
  if (type === GgmlType.I2_S) {
    if (nElements % 4 !== 0) {
      throw new BitNetError('BAD_TENSOR_SHAPE', `tensor '${tensorName}': I2_S needs a multiple of 4 elements, got ${nElements}`, {
        details: { tensor: tensorName, nElements },
      });
    }
    return nElements / 4 + I2S_TAIL_BYTES;
  }
  if (type === GgmlType.TL1 || type === GgmlType.TL2) {
    throw new BitNetError('UNSUPPORTED_TENSOR_TYPE', `tensor '${tensorName}': the size of a ${tr.name} tensor (bitnet.cpp lookup-table layout) depends on its tiles; it is read from the file's layout`, {
      details: { tensor: tensorName, type: tr.name },
    });
  }
  if (rowLength % tr.blockSize !== 0) {
    throw new BitNetError('BAD_TENSOR_SHAPE', `tensor '${tensorName}': row length ${rowLength} is not a multiple of ${tr.name} block size ${tr.blockSize}`, {
      details: { tensor: tensorName, rowLength, blockSize: tr.blockSize },
    });
  }
  return (nElements / tr.blockSize) * tr.typeSize;
}
