// Weights of the reference backend: one exact-size Uint8Array per tensor, validated when created and prepared.

import { BitNetError } from '../../errors.js';
import { readF16 } from '../../formats/f16.js';
import { GgmlType, lookupType, tensorByteSize } from '../../formats/ggml-type.js';
import { i2sByteSize, i2sScale } from '../../formats/i2s.js';
import { isReadable, nativeActivationQuant } from '../../formats/index.js';
import { type BlockLayout, fieldOffset } from '../../formats/layout.js';
import { Q4_0_BLOCK_BYTES, Q4_0_LAYOUT } from '../../formats/q4_0.js';
import { Q6_K_BLOCK_BYTES, Q6_K_LAYOUT } from '../../formats/q6_k.js';
import { Q8_0_BLOCK_BYTES, Q8_0_LAYOUT } from '../../formats/q8_0.js';
import { TQ1_0_BLOCK_BYTES, TQ1_0_LAYOUT } from '../../formats/tq1_0.js';
import { TQ2_0_BLOCK_BYTES, TQ2_0_LAYOUT } from '../../formats/tq2_0.js';
import type { ActivationQuant, Weight, WeightInfo } from '../backend.js';

export class RefWeight implements Weight {
  readonly info: WeightInfo;
  readonly rows: number;
  readonly cols: number;
  readonly nElements: number;
  /** The tensor bytes exactly as stored in the file. */
  readonly bytes: Uint8Array;
  /** How a matmul quantizes activations for this weight (ternary types only). */
  readonly activationQuant: ActivationQuant;
  prepared = false;

  constructor(info: WeightInfo, rows: number, cols: number, bytes: Uint8Array) {
    this.info = info;
    this.activationQuant = info.activationQuant ?? nativeActivationQuant(info.type);
    this.rows = rows;
    this.cols = cols;
    this.nElements = rows * cols;
    this.bytes = bytes;
  }
}

/** Validate `info` and allocate its bytes. */
export function createRefWeight(info: WeightInfo): RefWeight {
  const { rows, cols } = checkWeightInfo(info);
  return new RefWeight(info, rows, cols, new Uint8Array(info.byteSize));
}

/** Validates a weight's type, dims and byte size for the readable types (BitNetError otherwise); its rows and columns. */
export function checkWeightInfo(info: WeightInfo): { rows: number; cols: number } {
  const name = info.name;
  const traits = lookupType(info.type);
  if (traits === undefined) {
    throw new BitNetError('UNKNOWN_TENSOR_TYPE', `tensor '${name}': unknown ggml type id ${info.type}`, { details: { tensor: name, typeId: info.type } });
  }
  if (info.dims.length < 1 || info.dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new BitNetError('BAD_TENSOR_SHAPE', `tensor '${name}': dims must be positive integers, got [${info.dims.join(', ')}]`, {
      details: { tensor: name, dims: info.dims.join(',') },
    });
  }
  if (!isReadable(info.type)) {
    throw new BitNetError('UNSUPPORTED_TENSOR_TYPE', `tensor '${name}': type ${traits.name} is not supported by the reference backend`, {
      details: { tensor: name, type: traits.name },
    });
  }
  const cols = info.dims[0];
  const nElements = info.dims.reduce((a, b) => a * b, 1);
  const expectedBytes = info.type === GgmlType.I2_S ? i2sByteSize(nElements) : tensorByteSize(info.type, nElements, cols, name);
  if (info.byteSize !== expectedBytes) {
    throw new BitNetError('BAD_TENSOR_DATA', `tensor '${name}': ${traits.name} [${info.dims.join(', ')}] needs ${expectedBytes} bytes, info says ${info.byteSize}`, {
      details: { tensor: name, expected: expectedBytes, actual: info.byteSize },
    });
  }
  return { rows: nElements / cols, cols };
}

/** Byte size and scale offset of the block types whose per-block F16 scale must be finite. */
export const BLOCK_SCALES: Partial<Record<GgmlType, { readonly blockBytes: number; readonly scaleOffset: number }>> = {
  [GgmlType.TQ1_0]: { blockBytes: TQ1_0_BLOCK_BYTES, scaleOffset: fieldOffset(TQ1_0_LAYOUT, 'd') },
  [GgmlType.TQ2_0]: { blockBytes: TQ2_0_BLOCK_BYTES, scaleOffset: fieldOffset(TQ2_0_LAYOUT, 'd') },
  [GgmlType.Q8_0]: { blockBytes: Q8_0_BLOCK_BYTES, scaleOffset: fieldOffset(Q8_0_LAYOUT, 'd') },
  [GgmlType.Q4_0]: { blockBytes: Q4_0_BLOCK_BYTES, scaleOffset: fieldOffset(Q4_0_LAYOUT, 'd') },
  [GgmlType.Q6_K]: { blockBytes: Q6_K_BLOCK_BYTES, scaleOffset: fieldOffset(Q6_K_LAYOUT, 'd') },
};

/**
 * Throws BAD_TENSOR_DATA when a block of `bytes` (whole blocks of tensor `name`, the first at tensor byte `byteOffset`)
 * has a non-finite F16 scale.
 */
export function checkBlockScaleRange(name: string, type: GgmlType, bytes: Uint8Array, byteOffset: number): void {
  const b = BLOCK_SCALES[type];
  if (b === undefined) return;
  for (let o = 0; o + b.blockBytes <= bytes.length; o += b.blockBytes) {
    const d = readF16(bytes, o + b.scaleOffset);
    if (!Number.isFinite(d)) {
      const block = (byteOffset + o) / b.blockBytes;
      throw new BitNetError('BAD_TENSOR_DATA', `tensor '${name}': block ${block} has a non-finite scale (${d}) at byte ${byteOffset + o + b.scaleOffset}`, {
        details: { tensor: name, block, byteOffset: byteOffset + o + b.scaleOffset },
      });
    }
  }
}

/** Every per-block F16 scale of a block type must be finite (a NaN scale would poison every output). */
function checkBlockScales(w: RefWeight, blockBytes: number, layout: BlockLayout): void {
  const scaleOffset = fieldOffset(layout, 'd');
  const nBlocks = w.bytes.length / blockBytes;
  for (let b = 0; b < nBlocks; b++) {
    const d = readF16(w.bytes, b * blockBytes + scaleOffset);
    if (!Number.isFinite(d)) {
      throw new BitNetError('BAD_TENSOR_DATA', `tensor '${w.info.name}': block ${b} has a non-finite scale (${d}) at byte ${b * blockBytes + scaleOffset}`, {
        details: { tensor: w.info.name, block: b, byteOffset: b * blockBytes + scaleOffset },
      });
    }
  }
}

/** Check a filled weight: finite scales for the quantized types. */
export function prepareRefWeight(w: RefWeight): void {
  switch (w.info.type) {
    case GgmlType.I2_S: {
      const scale = i2sScale(w.bytes, w.nElements);
      if (!Number.isFinite(scale)) {
        throw new BitNetError('BAD_TENSOR_DATA', `tensor '${w.info.name}': I2_S scale is ${scale}, expected a finite number (byte ${w.nElements / 4})`, {
          details: { tensor: w.info.name, byteOffset: w.nElements / 4, actual: String(scale) },
        });
      }
      break;
    }
    case GgmlType.TQ1_0:
      checkBlockScales(w, TQ1_0_BLOCK_BYTES, TQ1_0_LAYOUT);
      break;
    case GgmlType.TQ2_0:
      checkBlockScales(w, TQ2_0_BLOCK_BYTES, TQ2_0_LAYOUT);
      break;
    case GgmlType.Q8_0:
      checkBlockScales(w, Q8_0_BLOCK_BYTES, Q8_0_LAYOUT);
      break;
    case GgmlType.Q4_0:
      checkBlockScales(w, Q4_0_BLOCK_BYTES, Q4_0_LAYOUT);
      break;
    case GgmlType.Q6_K:
      checkBlockScales(w, Q6_K_BLOCK_BYTES, Q6_K_LAYOUT);
      break;
    default:
      break;
  }
  w.prepared = true;
}
