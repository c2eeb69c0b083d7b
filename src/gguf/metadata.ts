// Typed access to GGUF metadata (throwing MISSING_METADATA / BAD_METADATA) and value constructors for writing.

import { BitNetError } from '../errors.js';
import { GgufValueType } from './types.js';
import type { GgufArray, GgufValue } from './types.js';

type Meta = ReadonlyMap<string, GgufValue>;

const TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'UINT8',
  1: 'INT8',
  2: 'UINT16',
  3: 'INT16',
  4: 'UINT32',
  5: 'INT32',
  6: 'FLOAT32',
  7: 'BOOL',
  8: 'STRING',
  9: 'ARRAY',
  10: 'UINT64',
  11: 'INT64',
  12: 'FLOAT64',
};

/** Name of a GGUF value type id (gguf-py GGUFValueType), or `type#<id>` when unknown. */
export function ggufTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `type#${type}`;
}

/** A value's type for messages: `UINT32`, `ARRAY[STRING]`, `ARRAY[ARRAY]`. */
export function describeValueType(v: GgufValue): string {
  return v.type === GgufValueType.ARRAY ? `ARRAY[${ggufTypeName(v.elementType)}]` : ggufTypeName(v.type);
}

function missing(key: string, expected: string): BitNetError {
  return new BitNetError('MISSING_METADATA', `metadata key '${key}' is missing (expected ${expected})`, {
    details: { key, expected },
  });
}

function bad(key: string, expected: string, actual: string): BitNetError {
  return new BitNetError('BAD_METADATA', `metadata key '${key}': expected ${expected}, got ${actual}`, {
    details: { key, expected, actual },
  });
}

function bigToNumber(key: string, expected: string, v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw bad(key, expected, `${v} (not exactly representable as a number)`);
  }
  return Number(v);
}

// --- scalar accessors ---

const NUMBER = 'a number (any integer or float type)';

/** The value of a numeric key (any integer or float type; 64-bit integers when exactly representable), or undefined. */
export function metaNumberOpt(meta: Meta, key: string): number | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  switch (v.type) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 12:
      return v.value;
    case 10:
    case 11:
      return bigToNumber(key, NUMBER, v.value);
    default:
      throw bad(key, NUMBER, describeValueType(v));
  }
}

/** The value of a numeric key; throws MISSING_METADATA / BAD_METADATA. */
export function metaNumber(meta: Meta, key: string): number {
  const n = metaNumberOpt(meta, key);
  if (n === undefined) throw missing(key, NUMBER);
  return n;
}

/** The value of a STRING key, or undefined. */
export function metaStringOpt(meta: Meta, key: string): string | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.STRING) throw bad(key, 'STRING', describeValueType(v));
  return v.value;
}

/** The value of a STRING key; throws MISSING_METADATA / BAD_METADATA. */
export function metaString(meta: Meta, key: string): string {
  const s = metaStringOpt(meta, key);
  if (s === undefined) throw missing(key, 'STRING');
  return s;
}

/** The value of a BOOL key, or undefined. */
export function metaBoolOpt(meta: Meta, key: string): boolean | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.BOOL) throw bad(key, 'BOOL', describeValueType(v));
  return v.value;
}

/** The value of a BOOL key; throws MISSING_METADATA / BAD_METADATA. */
export function metaBool(meta: Meta, key: string): boolean {
  const b = metaBoolOpt(meta, key);
  if (b === undefined) throw missing(key, 'BOOL');
  return b;
}

// --- array accessors ---

/** The elements of an ARRAY[STRING] key, or undefined. */
export function metaStringArrayOpt(meta: Meta, key: string): readonly string[] | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.ARRAY || v.elementType !== GgufValueType.STRING) {
    throw bad(key, 'ARRAY[STRING]', describeValueType(v));
  }
  return v.value;
}

/** The elements of an ARRAY[STRING] key; throws MISSING_METADATA / BAD_METADATA. */
export function metaStringArray(meta: Meta, key: string): readonly string[] {
  const a = metaStringArrayOpt(meta, key);
  if (a === undefined) throw missing(key, 'ARRAY[STRING]');
  return a;
}

const NUMBER_ARRAY = 'ARRAY of a numeric type';

/**
 * The elements of a numeric array key (the stored typed array, no copy; 64-bit integer arrays are
 * converted when every element is exactly representable), or undefined.
 */
export function metaNumberArrayOpt(meta: Meta, key: string): ArrayLike<number> | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.ARRAY) throw bad(key, NUMBER_ARRAY, describeValueType(v));
  switch (v.elementType) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 12:
      return v.value;
    case 10:
    case 11: {
      const out = new Float64Array(v.value.length);
      for (let i = 0; i < out.length; i++) out[i] = bigToNumber(key, NUMBER_ARRAY, v.value[i]);
      return out;
    }
    default:
      throw bad(key, NUMBER_ARRAY, describeValueType(v));
  }
}

/** The elements of a numeric array key; throws MISSING_METADATA / BAD_METADATA. */
export function metaNumberArray(meta: Meta, key: string): ArrayLike<number> {
  const a = metaNumberArrayOpt(meta, key);
  if (a === undefined) throw missing(key, NUMBER_ARRAY);
  return a;
}

// --- value constructors (for writing) ---

function invalid(what: string, value: unknown, expected: string): BitNetError {
  return new BitNetError('GGUF_WRITE_INVALID', `${what}: value ${String(value)} is not ${expected}`, {
    details: { field: what, expected, actual: String(value) },
  });
}

interface IntRange {
  readonly name: string;
  readonly min: number;
  readonly max: number;
}
const U8: IntRange = { name: 'UINT8', min: 0, max: 0xff };
const I8: IntRange = { name: 'INT8', min: -0x80, max: 0x7f };
const U16: IntRange = { name: 'UINT16', min: 0, max: 0xffff };
const I16: IntRange = { name: 'INT16', min: -0x8000, max: 0x7fff };
const U32: IntRange = { name: 'UINT32', min: 0, max: 0xffffffff };
const I32: IntRange = { name: 'INT32', min: -0x80000000, max: 0x7fffffff };

function int(r: IntRange, v: number): number {
  if (!Number.isInteger(v) || v < r.min || v > r.max) throw invalid(r.name, v, `an integer in [${r.min}, ${r.max}]`);
  return v;
}

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

function big(name: string, min: bigint, max: bigint, v: bigint | number): bigint {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw invalid(name, v, 'a safe integer or bigint');
  const b = BigInt(v);
  if (b < min || b > max) throw invalid(name, v, `in [${min}, ${max}]`);
  return b;
}

function ints<T extends { length: number; [i: number]: number }>(
  r: IntRange,
  Ctor: { new (n: number): T },
  values: ArrayLike<number>,
): T {
  if (values instanceof Ctor) return values;
  const out = new Ctor(values.length);
  for (let i = 0; i < values.length; i++) out[i] = int(r, values[i]);
  return out;
}

function bigs<T extends { length: number; [i: number]: bigint }>(
  name: string,
  min: bigint,
  max: bigint,
  Ctor: { new (n: number): T },
  values: ArrayLike<bigint | number>,
): T {
  if (values instanceof Ctor) return values;
  const out = new Ctor(values.length);
  for (let i = 0; i < values.length; i++) out[i] = big(name, min, max, values[i]);
  return out;
}

/**
 * Constructors of GgufValue for writing, checking ranges (GGUF_WRITE_INVALID):
 * `gv.u32(4)`, `gv.str('llama')`, `gv.arrStr(tokens)`, `gv.arrNested([gv.arrI32([1]), gv.arrI32([])])`.
 * Typed-array arguments of the matching type are kept, not copied.
 */
export const gv = {
  u8: (v: number): GgufValue => ({ type: 0, value: int(U8, v) }),
  i8: (v: number): GgufValue => ({ type: 1, value: int(I8, v) }),
  u16: (v: number): GgufValue => ({ type: 2, value: int(U16, v) }),
  i16: (v: number): GgufValue => ({ type: 3, value: int(I16, v) }),
  u32: (v: number): GgufValue => ({ type: 4, value: int(U32, v) }),
  i32: (v: number): GgufValue => ({ type: 5, value: int(I32, v) }),
  f32: (v: number): GgufValue => ({ type: 6, value: Math.fround(v) }),
  f64: (v: number): GgufValue => ({ type: 12, value: v }),
  bool: (v: boolean): GgufValue => ({ type: 7, value: v }),
  str: (v: string): GgufValue => ({ type: 8, value: v }),
  u64: (v: bigint | number): GgufValue => ({ type: 10, value: big('UINT64', 0n, U64_MAX, v) }),
  i64: (v: bigint | number): GgufValue => ({ type: 11, value: big('INT64', I64_MIN, I64_MAX, v) }),
  arrU8: (v: ArrayLike<number>): GgufArray => ({ type: 9, elementType: 0, value: ints(U8, Uint8Array, v) }),
  arrI8: (v: ArrayLike<number>): GgufArray => ({ type: 9, elementType: 1, value: ints(I8, Int8Array, v) }),
  arrU16: (v: ArrayLike<number>): GgufArray => ({ type: 9, elementType: 2, value: ints(U16, Uint16Array, v) }),
  arrI16: (v: ArrayLike<number>): GgufArray => ({ type: 9, elementType: 3, value: ints(I16, Int16Array, v) }),
  arrU32: (v: ArrayLike<number>): GgufArray => ({ type: 9, elementType: 4, value: ints(U32, Uint32Array, v) }),
  arrI32: (v: ArrayLike<number>): GgufArray => ({ type: 9, elementType: 5, value: ints(I32, Int32Array, v) }),
  arrF32: (v: ArrayLike<number>): GgufArray => ({
    type: 9,
    elementType: 6,
    value: v instanceof Float32Array ? v : Float32Array.from(v),
  }),
  arrF64: (v: ArrayLike<number>): GgufArray => ({
    type: 9,
    elementType: 12,
    value: v instanceof Float64Array ? v : Float64Array.from(v),
  }),
  arrBool: (v: readonly boolean[]): GgufArray => ({ type: 9, elementType: 7, value: [...v] }),
  arrStr: (v: readonly string[]): GgufArray => ({ type: 9, elementType: 8, value: [...v] }),
  arrU64: (v: ArrayLike<bigint | number>): GgufArray => ({
    type: 9,
    elementType: 10,
    value: bigs('UINT64', 0n, U64_MAX, BigUint64Array, v),
  }),
  arrI64: (v: ArrayLike<bigint | number>): GgufArray => ({
    type: 9,
    elementType: 11,
    value: bigs('INT64', I64_MIN, I64_MAX, BigInt64Array, v),
  }),
  arrNested: (v: readonly GgufArray[]): GgufArray => ({ type: 9, elementType: 9, value: [...v] }),
} as const;
