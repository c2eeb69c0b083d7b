// Tensor bytes from values, shared by the synthesizer and the converter: ternary codes packed as a projection
// weight type, float rows quantized as an embedding type. Layouts are the formats' own (formats/*.ts).

import { quantizeF16 } from '../formats/f16.js';
import { quantizeF32 } from '../formats/f32.js';
import { quantizeQ4_0 } from '../formats/q4_0.js';
import { quantizeQ6_K } from '../formats/q6_k.js';
import { quantizeQ8_0 } from '../formats/q8_0.js';
import { packTq1_0 } from '../formats/tq1_0.js';
import { packI2sFast, packTq2_0Fast } from './fast-pack.js';

/** Storage types a projection (attention / feed-forward matrix) can be written in. */
export type ProjectionType = 'i2_s' | 'tq1_0' | 'tq2_0' | 'f16' | 'f32';
/** Storage types of the token embedding (and a separate output matrix). */
export type EmbeddingType = 'f16' | 'q8_0' | 'q6_k' | 'q4_0';

/** Ternary codes (-1, 0, +1) times `scale`, rows of `rowLength`, in `type`'s layout (F16/F32 store the products). */
export function packProjectionBytes(type: ProjectionType, codes: Int8Array, scale: number, rowLength: number, tensorName: string): Uint8Array {
  switch (type) {
    // I2_S and TQ2_0 through lookup tables built from the formats' own layouts (same bytes, ~4x faster).
    case 'i2_s':
      return packI2sFast(codes, scale, rowLength, tensorName);
    case 'tq2_0':
      return packTq2_0Fast(codes, scale, rowLength, tensorName);
    case 'tq1_0':
      return packTq1_0(codes, scale, rowLength);
    case 'f16':
    case 'f32':
      return quantizeFloats(type, ternaryValues(codes, scale));
  }
}

/** Float values in F16 or F32 storage. */
export function quantizeFloats(type: 'f16' | 'f32', values: Float32Array): Uint8Array {
  return type === 'f16' ? quantizeF16(values) : quantizeF32(values);
}

/** Rows of an embedding (whole rows: the block types need multiples of their block length) in `type`. */
export function quantizeEmbeddingBytes(type: EmbeddingType, values: Float32Array): Uint8Array {
  switch (type) {
    case 'f16':
      return quantizeF16(values);
    case 'q8_0':
      return quantizeQ8_0(values);
    case 'q6_k':
      return quantizeQ6_K(values);
    case 'q4_0':
      return quantizeQ4_0(values);
  }
}

function ternaryValues(codes: Int8Array, scale: number): Float32Array {
  const values = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) values[i] = codes[i] * scale;
  return values;
}
