// Shared types of the GGUF layer: metadata values, tensor infos, the parsed file and byte sources.
// Spec: ggml docs/gguf.md; gguf-py gguf/constants.py (GGUFValueType).

import type { GgmlType } from '../formats/ggml-type.js';

/** GGUF metadata value type ids (gguf-py GGUFValueType). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

/** A scalar metadata value with its exact on-disk type (kept so a rewrite is byte-identical). */
export type GgufScalar =
  | { readonly type: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 12; readonly value: number }
  | { readonly type: 10 | 11; readonly value: bigint }
  | { readonly type: 7; readonly value: boolean }
  | { readonly type: 8; readonly value: string };

/**
 * An array value. Numeric arrays of one fixed-width type are kept as typed arrays (zero parse cost
 * for 128k-entry token score/type tables); strings as string[]; nested arrays as GgufArray[].
 */
export type GgufArray =
  | { readonly type: 9; readonly elementType: 0; readonly value: Uint8Array }
  | { readonly type: 9; readonly elementType: 1; readonly value: Int8Array }
  | { readonly type: 9; readonly elementType: 2; readonly value: Uint16Array }
  | { readonly type: 9; readonly elementType: 3; readonly value: Int16Array }
  | { readonly type: 9; readonly elementType: 4; readonly value: Uint32Array }
  | { readonly type: 9; readonly elementType: 5; readonly value: Int32Array }
  | { readonly type: 9; readonly elementType: 6; readonly value: Float32Array }
  | { readonly type: 9; readonly elementType: 7; readonly value: boolean[] }
  | { readonly type: 9; readonly elementType: 8; readonly value: string[] }
  | { readonly type: 9; readonly elementType: 9; readonly value: GgufArray[] }
  | { readonly type: 9; readonly elementType: 10; readonly value: BigUint64Array }
  | { readonly type: 9; readonly elementType: 11; readonly value: BigInt64Array }
  | { readonly type: 9; readonly elementType: 12; readonly value: Float64Array };

export type GgufValue = GgufScalar | GgufArray;

/** One entry of the tensor table. */
export interface GgufTensorInfo {
  readonly name: string;
  /** ggml dims, ne[0] first (ne[0] = row length, the contiguous axis). */
  readonly dims: readonly number[];
  readonly type: GgmlType;
  readonly nElements: number;
  /** Offset relative to the start of the data section, as stored. */
  readonly relativeOffset: number;
  /** Absolute offset of the first byte in the file. */
  readonly byteOffset: number;
  /**
   * Bytes the tensor occupies: from its type and shape; for TL1/TL2, the gap to the next tensor or the end; for I2_S,
   * the flavor size (formats/i2s-flavors.ts) that gap holds, else n/4 + 32.
   */
  readonly byteSize: number;
}

/** A parsed GGUF header: everything but the tensor bytes. */
export interface GgufHeader {
  readonly version: 2 | 3;
  /** Metadata in file order. */
  readonly metadata: ReadonlyMap<string, GgufValue>;
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  /** Bytes of the header (= dataOffset minus padding is not tracked; this is the parsed length). */
  readonly headerBytes: number;
  /** Total size of the source in bytes. */
  readonly fileSize: number;
}

/**
 * Random-access bytes: a file, a Uint8Array, a Blob or anything that can read a range.
 * `read` fills `dst` completely from `position` or throws (BitNetError IO_ERROR / GGUF_TRUNCATED).
 */
export interface ByteSource {
  readonly size: number;
  /** A name for messages (file path, 'buffer', 'blob'). */
  readonly name: string;
  read(position: number, dst: Uint8Array): Promise<void>;
  close?(): Promise<void>;
}
