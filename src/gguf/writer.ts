// GGUF writer: encodes metadata and tensor tables, assigns aligned offsets, and writes whole files
// in memory or streamed to disk one tensor at a time. Layout: ggml docs/gguf.md; padding and offset
// rules as in gguf-py gguf_writer.py (each tensor's data padded to the alignment, the last one too).

import { BitNetError } from '../errors.js';
import { GgmlType, TYPE_TRAITS, lookupType, tensorByteSize } from '../formats/ggml-type.js';
import { i2sStoredSizes } from '../formats/i2s-flavors.js';
import {
  DEFAULT_ALIGNMENT,
  DEFAULT_VERSION,
  GGUF_MAGIC,
  MAX_ARRAY_DEPTH,
  MAX_ARRAY_ELEMENTS,
  MAX_DIMS,
  MAX_KEY_BYTES,
  MAX_KV_COUNT,
  MAX_STRING_BYTES,
  MAX_TENSOR_COUNT,
  MAX_TENSOR_ELEMENTS,
  MAX_TENSOR_NAME_BYTES,
  alignUp,
  isValidAlignment,
} from './limits.js';
import { nodeBuiltin } from '../platform/node-builtin.js';
import { describeValueType } from './metadata.js';
import { GgufValueType } from './types.js';
import type { GgufArray, GgufHeader, GgufTensorInfo, GgufValue } from './types.js';

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Tensor bytes, given directly or produced on demand (so a large model never sits in memory at once). */
export type GgufTensorData = Uint8Array | (() => Uint8Array | Promise<Uint8Array>);

export interface GgufWriteTensor {
  readonly name: string;
  /** ggml dims, ne[0] (row length) first. */
  readonly dims: readonly number[];
  readonly type: GgmlType;
  readonly data: GgufTensorData;
  /**
   * Bytes of the data. Needed only for types whose size the writer cannot compute (TL1/TL2) when
   * `data` is lazy; checked against the computed size otherwise.
   */
  readonly byteSize?: number;
}

export interface GgufWriteSpec {
  /** GGUF version to write (default 3). */
  readonly version?: 2 | 3;
  /** Data alignment (default: `general.alignment` from metadata, else 32). */
  readonly alignment?: number;
  /** Metadata pairs, written in iteration order. */
  readonly metadata: Iterable<readonly [string, GgufValue]>;
  /** Tensors, laid out in this order. */
  readonly tensors: readonly GgufWriteTensor[];
}

function invalid(message: string, details: Readonly<Record<string, string | number | boolean | null>>, cause?: unknown): BitNetError {
  return new BitNetError('GGUF_WRITE_INVALID', message, cause === undefined ? { details } : { details, cause });
}

/** A growable little-endian byte buffer. (Each method reserves before touching `buf`/`view`: reserve may replace them.) */
class ByteWriter {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(nBytes: number): number {
    const at = this.length;
    const need = at + nBytes;
    if (need > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, at));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    this.length = need;
    return at;
  }
  u8(v: number): void {
    const at = this.reserve(1);
    this.view.setUint8(at, v);
  }
  i8(v: number): void {
    const at = this.reserve(1);
    this.view.setInt8(at, v);
  }
  u16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
  }
  i16(v: number): void {
    const at = this.reserve(2);
    this.view.setInt16(at, v, true);
  }
  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.reserve(4);
    this.view.setInt32(at, v, true);
  }
  f32(v: number): void {
    const at = this.reserve(4);
    this.view.setFloat32(at, v, true);
  }
  f64(v: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
  }
  u64(v: bigint | number): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  i64(v: bigint): void {
    const at = this.reserve(8);
    this.view.setBigInt64(at, v, true);
  }
  bytes(b: Uint8Array): void {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }
  /** Little-endian bytes of a typed array (a byte copy on little-endian hosts). */
  typed(a: ArrayBufferView, width: number): void {
    const src = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    if (HOST_LITTLE_ENDIAN || width === 1) {
      this.bytes(src);
      return;
    }
    const at = this.reserve(src.length);
    for (let i = 0; i < src.length; i += width) {
      for (let b = 0; b < width; b++) this.buf[at + i + b] = src[i + width - 1 - b];
    }
  }
  zeros(nBytes: number): void {
    const at = this.reserve(nBytes);
    this.buf.fill(0, at, this.length);
  }
  result(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.length);
  }
}

const utf8 = new TextEncoder();
/** Matches a lone surrogate (a pair is one code point under the `u` flag), which UTF-8 cannot encode. */
const LONE_SURROGATE = /\p{Cs}/u;

function encodeString(w: ByteWriter, s: unknown, maxBytes: number, what: string): void {
  if (typeof s !== 'string') throw invalid(`${what}: expected a string, got ${typeof s}`, { field: what });
  if (LONE_SURROGATE.test(s)) throw invalid(`${what}: string contains a lone surrogate (not valid UTF-8)`, { field: what });
  const b = utf8.encode(s);
  if (b.length > maxBytes) {
    throw invalid(`${what}: string of ${b.length} bytes exceeds the limit of ${maxBytes}`, { field: what, actual: b.length, limit: maxBytes });
  }
  w.u64(b.length);
  w.bytes(b);
}

const INT_RANGES: Readonly<Record<number, readonly [number, number]>> = {
  0: [0, 0xff],
  1: [-0x80, 0x7f],
  2: [0, 0xffff],
  3: [-0x8000, 0x7fff],
  4: [0, 0xffffffff],
  5: [-0x80000000, 0x7fffffff],
};
const BIG_RANGES: Readonly<Record<number, readonly [bigint, bigint]>> = {
  10: [0n, (1n << 64n) - 1n],
  11: [-(1n << 63n), (1n << 63n) - 1n],
};

function encodeScalar(w: ByteWriter, v: GgufValue, what: string): void {
  switch (v.type) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5: {
      const [min, max] = INT_RANGES[v.type];
      if (typeof v.value !== 'number' || !Number.isInteger(v.value) || v.value < min || v.value > max) {
        throw invalid(`${what}: ${describeValueType(v)} value ${String(v.value)} is not an integer in [${min}, ${max}]`, {
          field: what,
          actual: String(v.value),
        });
      }
      if (v.type === 0) w.u8(v.value);
      else if (v.type === 1) w.i8(v.value);
      else if (v.type === 2) w.u16(v.value);
      else if (v.type === 3) w.i16(v.value);
      else if (v.type === 4) w.u32(v.value);
      else w.i32(v.value);
      return;
    }
    case 6:
    case 12:
      if (typeof v.value !== 'number') throw invalid(`${what}: ${describeValueType(v)} value must be a number`, { field: what });
      if (v.type === 6) w.f32(v.value);
      else w.f64(v.value);
      return;
    case 10:
    case 11: {
      const [min, max] = BIG_RANGES[v.type];
      if (typeof v.value !== 'bigint' || v.value < min || v.value > max) {
        throw invalid(`${what}: ${describeValueType(v)} value ${String(v.value)} is not a bigint in [${min}, ${max}]`, {
          field: what,
          actual: String(v.value),
        });
      }
      if (v.type === 10) w.u64(v.value);
      else w.i64(v.value);
      return;
    }
    case 7:
      if (typeof v.value !== 'boolean') throw invalid(`${what}: BOOL value must be a boolean`, { field: what });
      w.u8(v.value ? 1 : 0);
      return;
    case 8:
      encodeString(w, v.value, MAX_STRING_BYTES, what);
      return;
    default:
      throw invalid(`${what}: unknown value type ${String((v as { type: unknown }).type)}`, { field: what });
  }
}

/** Typed array constructor and width per fixed-width element type. */
const TYPED: Readonly<Record<number, readonly [new (n: number) => ArrayBufferView, number]>> = {
  0: [Uint8Array, 1],
  1: [Int8Array, 1],
  2: [Uint16Array, 2],
  3: [Int16Array, 2],
  4: [Uint32Array, 4],
  5: [Int32Array, 4],
  6: [Float32Array, 4],
  10: [BigUint64Array, 8],
  11: [BigInt64Array, 8],
  12: [Float64Array, 8],
};

function encodeArray(w: ByteWriter, a: GgufArray, depth: number, what: string): void {
  if (depth > MAX_ARRAY_DEPTH) {
    throw invalid(`${what}: arrays nested deeper than ${MAX_ARRAY_DEPTH} levels`, { field: what, limit: MAX_ARRAY_DEPTH });
  }
  const count = (a.value as { length?: unknown }).length;
  if (typeof count === 'number' && count > MAX_ARRAY_ELEMENTS) {
    throw invalid(`${what}: ${count} array elements exceed the limit of ${MAX_ARRAY_ELEMENTS}`, { field: what, actual: count });
  }
  const fixed = TYPED[a.elementType];
  if (fixed !== undefined) {
    const [Ctor, width] = fixed;
    if (!(a.value instanceof Ctor)) {
      throw invalid(`${what}: ARRAY[${describeElement(a.elementType)}] needs a ${Ctor.name}`, { field: what, expected: Ctor.name });
    }
    w.u32(a.elementType);
    w.u64(a.value.length);
    w.typed(a.value, width);
    return;
  }
  if (!Array.isArray(a.value)) throw invalid(`${what}: ARRAY[${describeElement(a.elementType)}] needs a plain array`, { field: what });
  switch (a.elementType) {
    case 7:
      w.u32(7);
      w.u64(a.value.length);
      for (const b of a.value) {
        if (typeof b !== 'boolean') throw invalid(`${what}: BOOL array element must be a boolean`, { field: what });
        w.u8(b ? 1 : 0);
      }
      return;
    case 8:
      w.u32(8);
      w.u64(a.value.length);
      for (const s of a.value) encodeString(w, s, MAX_STRING_BYTES, what);
      return;
    case 9:
      w.u32(9);
      w.u64(a.value.length);
      for (const inner of a.value) {
        if (typeof inner !== 'object' || inner === null || inner.type !== GgufValueType.ARRAY) {
          throw invalid(`${what}: nested array element must be an ARRAY value`, { field: what });
        }
        encodeArray(w, inner, depth + 1, what);
      }
      return;
    default:
      throw invalid(`${what}: unknown array element type ${String(a.elementType)}`, { field: what });
  }
}

function describeElement(t: number): string {
  return describeValueType({ type: 9, elementType: t } as GgufArray);
}

function encodeValue(w: ByteWriter, v: GgufValue, what: string): void {
  if (typeof v !== 'object' || v === null) throw invalid(`${what}: not a GgufValue`, { field: what });
  w.u32(v.type);
  if (v.type === GgufValueType.ARRAY) encodeArray(w, v, 1, what);
  else encodeScalar(w, v, what);
}

/** One tensor's place in the data section. */
interface PlannedTensor {
  readonly tensor: GgufWriteTensor;
  readonly relativeOffset: number;
  readonly byteSize: number;
}

interface Plan {
  /** Header bytes including the padding up to the data section. */
  readonly header: Uint8Array<ArrayBuffer>;
  readonly alignment: number;
  readonly tensors: readonly PlannedTensor[];
  /** Total file size. */
  readonly fileBytes: number;
}

function expectedTensorBytes(t: GgufWriteTensor, nElements: number): number {
  const traits = TYPE_TRAITS[t.type];
  if (traits.support === 'lookup-table') {
    const size = t.byteSize ?? (t.data instanceof Uint8Array ? t.data.length : undefined);
    if (size === undefined || !Number.isSafeInteger(size) || size < 1) {
      throw invalid(`tensor '${t.name}': ${traits.name} needs byteSize (or data as bytes): its size cannot be computed`, {
        tensor: t.name,
        type: traits.name,
      });
    }
    return size;
  }
  let size: number;
  try {
    size = tensorByteSize(t.type, nElements, t.dims[0] ?? 1, t.name);
  } catch (e) {
    throw invalid(`tensor '${t.name}': ${e instanceof Error ? e.message : String(e)}`, { tensor: t.name }, e);
  }
  // I2_S flavors other than x86 / ARM have other sizes (formats/i2s-flavors.ts): an explicit byteSize picks one.
  if (t.type === GgmlType.I2_S && t.byteSize !== undefined && i2sStoredSizes(nElements).some((c) => c.byteSize === t.byteSize)) return t.byteSize;
  if (t.byteSize !== undefined && t.byteSize !== size) {
    throw invalid(`tensor '${t.name}': byteSize ${t.byteSize} does not match ${size} computed from its type and shape`, {
      tensor: t.name,
      expected: size,
      actual: t.byteSize,
    });
  }
  return size;
}

/** Validates the spec, resolves the alignment and encodes the header. */
function plan(spec: GgufWriteSpec): Plan {
  const version = spec.version ?? DEFAULT_VERSION;
  if (version !== 2 && version !== 3) throw invalid(`version must be 2 or 3, got ${String(version)}`, { field: 'version', actual: String(version) });

  const entries = [...spec.metadata];
  const keys = new Set<string>();
  let metaAlignment: number | undefined;
  for (const [key, value] of entries) {
    if (typeof key !== 'string' || key.length === 0) throw invalid(`metadata key must be a non-empty string`, { field: 'key' });
    if (keys.has(key)) throw invalid(`metadata key '${key}' appears twice`, { key });
    keys.add(key);
    if (key === 'general.alignment') {
      if (value.type !== GgufValueType.UINT32 || !isValidAlignment(value.value)) {
        throw invalid(`'general.alignment' must be a UINT32 power of two up to 2^20, got ${describeValueType(value)} ${String(value.value)}`, {
          key,
        });
      }
      metaAlignment = value.value;
    }
  }
  if (spec.alignment !== undefined && !isValidAlignment(spec.alignment)) {
    throw invalid(`alignment must be a power of two from 1 to 2^20, got ${spec.alignment}`, { field: 'alignment', actual: spec.alignment });
  }
  if (spec.alignment !== undefined && metaAlignment !== undefined && spec.alignment !== metaAlignment) {
    throw invalid(`alignment ${spec.alignment} disagrees with 'general.alignment' = ${metaAlignment}`, {
      field: 'alignment',
      expected: metaAlignment,
      actual: spec.alignment,
    });
  }
  const alignment = spec.alignment ?? metaAlignment ?? DEFAULT_ALIGNMENT;
  if (metaAlignment === undefined && alignment !== DEFAULT_ALIGNMENT) {
    entries.push(['general.alignment', { type: 4, value: alignment }]);
  }

  if (entries.length > MAX_KV_COUNT || spec.tensors.length > MAX_TENSOR_COUNT) {
    throw invalid(`${entries.length} metadata pairs / ${spec.tensors.length} tensors exceed the limits (${MAX_KV_COUNT} / ${MAX_TENSOR_COUNT})`, {
      field: 'counts',
    });
  }

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(version);
  w.u64(spec.tensors.length);
  w.u64(entries.length);
  for (const [key, value] of entries) {
    encodeString(w, key, MAX_KEY_BYTES, 'metadata key');
    encodeValue(w, value, `value of '${key}'`);
  }

  const names = new Set<string>();
  const planned: PlannedTensor[] = [];
  let relativeOffset = 0;
  for (const t of spec.tensors) {
    if (names.has(t.name)) throw invalid(`tensor '${t.name}' appears twice`, { tensor: t.name });
    names.add(t.name);
    if (lookupType(t.type) === undefined) throw invalid(`tensor '${t.name}': unknown ggml type id ${String(t.type)}`, { tensor: t.name });
    if (t.dims.length > MAX_DIMS) {
      throw invalid(`tensor '${t.name}': ${t.dims.length} dimensions; expected 0 (a scalar) to ${MAX_DIMS}`, { tensor: t.name, actual: t.dims.length });
    }
    let nElements = 1;
    for (const ne of t.dims) {
      if (!Number.isSafeInteger(ne) || ne < 1) throw invalid(`tensor '${t.name}': dimension ${ne} is not a positive integer`, { tensor: t.name });
      nElements *= ne;
    }
    if (nElements > MAX_TENSOR_ELEMENTS) {
      throw invalid(`tensor '${t.name}': ${nElements} elements exceed the limit of ${MAX_TENSOR_ELEMENTS}`, { tensor: t.name, actual: nElements });
    }
    const byteSize = expectedTensorBytes(t, nElements);
    encodeString(w, t.name, MAX_TENSOR_NAME_BYTES, 'tensor name');
    w.u32(t.dims.length);
    for (const ne of t.dims) w.u64(ne);
    w.u32(t.type);
    w.u64(relativeOffset);
    planned.push({ tensor: t, relativeOffset, byteSize });
    relativeOffset += alignUp(byteSize, alignment);
  }
  w.zeros(alignUp(w.length, alignment) - w.length);
  const header = w.result();
  return { header, alignment, tensors: planned, fileBytes: header.length + relativeOffset };
}

function checkData(p: PlannedTensor, data: unknown): Uint8Array {
  if (!(data instanceof Uint8Array)) {
    const hint = typeof (data as { then?: unknown } | null)?.then === 'function' ? ' (async data needs writeGgufFile)' : '';
    throw invalid(`tensor '${p.tensor.name}': data must be a Uint8Array${hint}`, { tensor: p.tensor.name });
  }
  if (data.length !== p.byteSize) {
    throw invalid(`tensor '${p.tensor.name}': data has ${data.length} bytes, expected ${p.byteSize} for ${TYPE_TRAITS[p.tensor.type].name} [${p.tensor.dims.join(', ')}]`, {
      tensor: p.tensor.name,
      expected: p.byteSize,
      actual: data.length,
    });
  }
  return data;
}

/** The header bytes (magic to the end of the tensor table, padded to the alignment) for `spec`. */
export function encodeGgufHeader(spec: GgufWriteSpec): Uint8Array<ArrayBuffer> {
  return plan(spec).header;
}

/** The whole file in memory (tests, small models). Lazy data must be synchronous here. */
export function writeGguf(spec: GgufWriteSpec): Uint8Array<ArrayBuffer> {
  const p = plan(spec);
  const out = new Uint8Array(p.fileBytes);
  out.set(p.header, 0);
  for (const t of p.tensors) {
    const d = t.tensor.data;
    out.set(checkData(t, typeof d === 'function' ? d() : d), p.header.length + t.relativeOffset);
  }
  return out;
}

/** Writes `buf` fully at `position` (FileHandle.write may write less than asked). */
async function writeAll(
  fh: { write(b: Uint8Array, off: number, len: number, pos: number): Promise<{ bytesWritten: number }> },
  buf: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten}`);
    done += bytesWritten;
  }
}

/**
 * Streams a GGUF file to `path` (Node only): header first, then each tensor's data, produced lazily
 * one at a time. A partly written file is removed when anything fails.
 */
export async function writeGgufFile(path: string, spec: GgufWriteSpec): Promise<void> {
  const p = plan(spec);
  const fs = await nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
  let fh: Awaited<ReturnType<typeof fs.open>>;
  try {
    fh = await fs.open(path, 'w');
  } catch (e) {
    throw new BitNetError('IO_ERROR', `cannot create '${path}': ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { path } });
  }
  let position = 0;
  try {
    const zeros = new Uint8Array(p.alignment);
    await writeAll(fh, p.header, 0);
    position = p.header.length;
    for (const t of p.tensors) {
      const d = t.tensor.data;
      const data = checkData(t, typeof d === 'function' ? await d() : d);
      await writeAll(fh, data, position);
      position += data.length;
      const pad = alignUp(data.length, p.alignment) - data.length;
      await writeAll(fh, zeros.subarray(0, pad), position);
      position += pad;
    }
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fs.rm(path, { force: true }).catch(() => undefined);
    if (e instanceof BitNetError) throw e;
    throw new BitNetError('IO_ERROR', `writing '${path}' failed at offset ${position}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
      details: { path, offset: position },
    });
  }
}

/**
 * A write spec that reproduces a parsed file: metadata and tensors in file order, same value types,
 * tensor data from `data` (for example `(t) => bytes.subarray(t.byteOffset, t.byteOffset + t.byteSize)`).
 */
export function headerToSpec(
  header: GgufHeader,
  data: (tensor: GgufTensorInfo) => Uint8Array | Promise<Uint8Array>,
): GgufWriteSpec {
  return {
    version: header.version,
    alignment: header.alignment,
    metadata: header.metadata,
    tensors: header.tensors.map((t) => {
      const base = { name: t.name, dims: t.dims, type: t.type, data: () => data(t) };
      return TYPE_TRAITS[t.type].support === 'lookup-table' || t.type === GgmlType.I2_S ? { ...base, byteSize: t.byteSize } : base;
    }),
  };
}
