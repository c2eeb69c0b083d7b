// GGUF reader: parses the header incrementally from any ByteSource, validates every count, offset and size,
// and copies tensor bytes straight into caller-supplied memory.
// Layout: ggml docs/gguf.md; checks mirror ggml/src/gguf.cpp (gguf_init_from_reader) and gguf-py gguf_reader.py.

import { BitNetError } from '../errors.js';
import { GgmlType, TYPE_TRAITS, tensorByteSize, typeTraits } from '../formats/ggml-type.js';
import { i2sStoredSizes } from '../formats/i2s-flavors.js';
import { blobSource, bytesSource, openFileSource } from './byte-source.js';
import { looksLikeUrl, openUrlSource } from './url-source.js';
import { isNodeRuntime } from '../platform/node-builtin.js';
import {
  DEFAULT_ALIGNMENT,
  DEFAULT_MAX_HEADER_BYTES,
  GGUF_MAGIC,
  HEADER_CHUNK_BYTES,
  MAX_ARRAY_DEPTH,
  MAX_ARRAY_ELEMENTS,
  MAX_DIMS,
  MAX_KEY_BYTES,
  MAX_KV_COUNT,
  MAX_NESTED_ARRAYS,
  MAX_STRING_BYTES,
  MAX_TENSOR_COUNT,
  MAX_TENSOR_ELEMENTS,
  MAX_TENSOR_NAME_BYTES,
  MIN_ELEMENT_BYTES,
  MIN_KV_BYTES,
  MIN_TENSOR_INFO_BYTES,
  SUPPORTED_VERSIONS,
  TENSOR_READ_CHUNK_BYTES,
  alignUp,
  isValidAlignment,
} from './limits.js';
import { describeValueType } from './metadata.js';
import { GgufValueType } from './types.js';
import type { ByteSource, GgufArray, GgufHeader, GgufTensorInfo, GgufValue } from './types.js';

/** Typed arrays can be filled by a byte copy only when the host is little-endian like GGUF. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Fixed-width value types: byte width of one element. */
const FIXED_WIDTH: Readonly<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 10: 8, 11: 8, 12: 8 };

/** TL1/TL2 sizes depend on tiles the file does not record; their byte size is inferred from the layout. */
function sizeFromLayout(type: GgmlType): boolean {
  return TYPE_TRAITS[type].support === 'lookup-table';
}

/**
 * The byte size of an I2_S tensor whose data runs `gap` bytes up to the next tensor (or the end of the file): the
 * first flavor size (formats/i2s-flavors.ts) that the gap holds with less than one alignment of padding after it,
 * else the x86 size n/4 + 32 (then the bounds and overlap checks below judge it as before).
 */
function i2sSizeFromGap(nElements: number, gap: number, alignment: number, fallback: number): number {
  for (const { byteSize } of i2sStoredSizes(nElements)) {
    if (byteSize <= gap && gap <= alignUp(byteSize, alignment)) return byteSize;
  }
  return fallback;
}

/**
 * A forward-only window over the header bytes: reads the source in chunks, never past the header limit,
 * and refuses any read that would run past the end of the source.
 */
class HeaderCursor {
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  /** Absolute offset of buf[0]. */
  private bufStart = 0;
  /** Read position inside buf. */
  off = 0;
  /** Arrays nested inside arrays read so far (MAX_NESTED_ARRAYS). */
  nestedArrays = 0;

  constructor(
    readonly src: ByteSource,
    readonly maxHeaderBytes: number,
  ) {}

  /** Absolute position of the next byte to parse. */
  get pos(): number {
    return this.bufStart + this.off;
  }

  /** Bytes available in the window without another read. */
  avail(): number {
    return this.buf.length - this.off;
  }

  /** Bytes left in the source after the current position. */
  remaining(): number {
    return this.src.size - this.pos;
  }

  /** Fails unless `nBytes` more bytes exist in the source and within the header limit. */
  checkRoom(nBytes: number, what: string): void {
    const pos = this.pos;
    if (nBytes > this.src.size - pos) {
      throw new BitNetError(
        'GGUF_TRUNCATED',
        `${this.src.name}: ${what} needs ${nBytes} bytes at offset ${pos}, but the file has ${this.src.size} bytes`,
        { details: { field: what, offset: pos, needed: nBytes, fileSize: this.src.size } },
      );
    }
    if (nBytes > this.maxHeaderBytes - pos) {
      throw new BitNetError(
        'GGUF_LIMIT_EXCEEDED',
        `${this.src.name}: ${what} at offset ${pos} (${nBytes} bytes) runs past the header limit of ${this.maxHeaderBytes} bytes`,
        { details: { field: what, offset: pos, needed: nBytes, limit: this.maxHeaderBytes } },
      );
    }
  }

  /** Makes at least `nBytes` bytes available at the current position (one read of at least a chunk). */
  async fill(nBytes: number, what: string): Promise<void> {
    if (this.avail() >= nBytes) return;
    this.checkRoom(nBytes, what);
    const pos = this.pos;
    const size = Math.min(Math.max(nBytes, HEADER_CHUNK_BYTES), this.src.size - pos, this.maxHeaderBytes - pos);
    const next = new Uint8Array(size);
    const kept = this.avail();
    next.set(this.buf.subarray(this.off));
    await this.src.read(pos + kept, next.subarray(kept));
    this.buf = next;
    this.view = new DataView(next.buffer);
    this.bufStart = pos;
    this.off = 0;
  }

  // Synchronous reads: the caller has made the bytes available.
  u8(): number {
    return this.buf[this.off++];
  }
  u32(): number {
    const v = this.view.getUint32(this.off, true);
    this.off += 4;
    return v;
  }
  /** A u64 as a number: exact up to 2^53, a (larger) approximation beyond, which every limit check refuses. */
  u64n(): number {
    const lo = this.view.getUint32(this.off, true);
    const hi = this.view.getUint32(this.off + 4, true);
    this.off += 8;
    return hi * 0x1_0000_0000 + lo;
  }
  scalar(type: number): GgufValue {
    const v = this.view;
    const o = this.off;
    switch (type) {
      case 0:
        this.off += 1;
        return { type, value: v.getUint8(o) };
      case 1:
        this.off += 1;
        return { type, value: v.getInt8(o) };
      case 2:
        this.off += 2;
        return { type, value: v.getUint16(o, true) };
      case 3:
        this.off += 2;
        return { type, value: v.getInt16(o, true) };
      case 4:
        this.off += 4;
        return { type, value: v.getUint32(o, true) };
      case 5:
        this.off += 4;
        return { type, value: v.getInt32(o, true) };
      case 6:
        this.off += 4;
        return { type, value: v.getFloat32(o, true) };
      case 10:
        this.off += 8;
        return { type, value: v.getBigUint64(o, true) };
      case 11:
        this.off += 8;
        return { type, value: v.getBigInt64(o, true) };
      case 12:
        this.off += 8;
        return { type, value: v.getFloat64(o, true) };
      default:
        throw new BitNetError('INTERNAL', `scalar(): not a fixed-width type ${type}`);
    }
  }
  /** A length-prefixed string when it lies wholly inside the window (and within `maxBytes`), else undefined. */
  tryStringInWindow(maxBytes: number, what: string): string | undefined {
    const avail = this.buf.length - this.off;
    if (avail < 8) return undefined;
    const lo = this.view.getUint32(this.off, true);
    const hi = this.view.getUint32(this.off + 4, true);
    if (hi !== 0 || lo > maxBytes || lo > avail - 8) return undefined;
    const at = this.bufStart + this.off + 8;
    this.off += 8 + lo;
    return decodeUtf8(this.buf.subarray(this.off - lo, this.off), what, at);
  }
  /** `nBytes` raw bytes as a view into the window (valid until the next fill). */
  bytes(nBytes: number): Uint8Array {
    const b = this.buf.subarray(this.off, this.off + nBytes);
    this.off += nBytes;
    return b;
  }
  /** Copies `nBytes` into `dst` (its underlying bytes) and advances. */
  copyTo(dst: Uint8Array): void {
    dst.set(this.buf.subarray(this.off, this.off + dst.length));
    this.off += dst.length;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes UTF-8 strictly (no replacement characters, BOM kept); GGUF_BAD_STRING otherwise. */
function decodeUtf8(bytes: Uint8Array, what: string, offset: number): string {
  // ASCII fast path: most vocabulary entries and keys are short ASCII.
  if (bytes.length <= 32) {
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  try {
    return utf8.decode(bytes);
  } catch (e) {
    throw new BitNetError('GGUF_BAD_STRING', `${what} at offset ${offset} is not valid UTF-8`, {
      cause: e,
      details: { field: what, offset },
    });
  }
}

/** Reads a u64-length-prefixed UTF-8 string of at most `maxBytes` bytes. */
async function readString(cur: HeaderCursor, maxBytes: number, what: string): Promise<string> {
  if (cur.avail() < 8) await cur.fill(8, `${what} length`);
  const at = cur.pos;
  const nBytes = cur.u64n();
  if (nBytes > maxBytes) {
    throw new BitNetError('GGUF_LIMIT_EXCEEDED', `${what} at offset ${at}: length ${nBytes} exceeds the limit of ${maxBytes} bytes`, {
      details: { field: what, offset: at, actual: nBytes, limit: maxBytes },
    });
  }
  if (cur.avail() < nBytes) await cur.fill(nBytes, what);
  return decodeUtf8(cur.bytes(nBytes), what, at + 8);
}

/** Refuses an element count before anything is allocated: limit, then bytes left in the file, then header limit. */
function checkCount(cur: HeaderCursor, count: number, limit: number, minBytesEach: number, what: string): void {
  if (count > limit) {
    throw new BitNetError('GGUF_LIMIT_EXCEEDED', `${what} at offset ${cur.pos}: count ${count} exceeds the limit of ${limit}`, {
      details: { field: what, offset: cur.pos, actual: count, limit },
    });
  }
  cur.checkRoom(count * minBytesEach, `${what} (${count} entries of at least ${minBytesEach} bytes)`);
}

function badValueType(type: number, what: string, offset: number): BitNetError {
  return new BitNetError('GGUF_BAD_VALUE_TYPE', `${what} at offset ${offset}: unknown value type ${type} (expected 0..12)`, {
    details: { field: what, offset, actual: type },
  });
}

/** Copies `count` fixed-width elements into a fresh, aligned typed array. */
function readFixedArray(cur: HeaderCursor, elementType: number, count: number): GgufArray {
  const width = FIXED_WIDTH[elementType];
  const nBytes = count * width;
  const make = (): GgufArray => {
    switch (elementType) {
      case 0:
        return { type: 9, elementType, value: new Uint8Array(count) };
      case 1:
        return { type: 9, elementType, value: new Int8Array(count) };
      case 2:
        return { type: 9, elementType, value: new Uint16Array(count) };
      case 3:
        return { type: 9, elementType, value: new Int16Array(count) };
      case 4:
        return { type: 9, elementType, value: new Uint32Array(count) };
      case 5:
        return { type: 9, elementType, value: new Int32Array(count) };
      case 6:
        return { type: 9, elementType, value: new Float32Array(count) };
      case 10:
        return { type: 9, elementType, value: new BigUint64Array(count) };
      case 11:
        return { type: 9, elementType, value: new BigInt64Array(count) };
      case 12:
        return { type: 9, elementType, value: new Float64Array(count) };
      default:
        throw new BitNetError('INTERNAL', `readFixedArray(): not a fixed-width type ${elementType}`);
    }
  };
  const arr = make();
  const typed = arr.value as ArrayBufferView;
  if (HOST_LITTLE_ENDIAN || width === 1) {
    cur.copyTo(new Uint8Array(typed.buffer, typed.byteOffset, nBytes));
    return arr;
  }
  // Big-endian host: copy with each element's bytes reversed.
  const dst = new Uint8Array(typed.buffer, typed.byteOffset, nBytes);
  const raw = cur.bytes(nBytes);
  for (let i = 0; i < nBytes; i += width) {
    for (let b = 0; b < width; b++) dst[i + b] = raw[i + width - 1 - b];
  }
  return arr;
}

/** Reads an array body (element type and count already read). `depth` is 1 for a top-level array. */
async function readArray(cur: HeaderCursor, elementType: number, count: number, depth: number, what: string): Promise<GgufArray> {
  const minBytes = MIN_ELEMENT_BYTES[elementType];
  if (minBytes === undefined) throw badValueType(elementType, `${what} element type`, cur.pos - 12);
  checkCount(cur, count, MAX_ARRAY_ELEMENTS, minBytes, `${what} elements`);

  if (FIXED_WIDTH[elementType] !== undefined) {
    const nBytes = count * FIXED_WIDTH[elementType];
    if (cur.avail() < nBytes) await cur.fill(nBytes, what);
    return readFixedArray(cur, elementType, count);
  }
  switch (elementType) {
    case GgufValueType.BOOL: {
      if (cur.avail() < count) await cur.fill(count, what);
      const at = cur.pos;
      const raw = cur.bytes(count);
      const out = new Array<boolean>(count);
      for (let i = 0; i < count; i++) {
        const b = raw[i];
        if (b > 1) throw badBool(b, `${what}[${i}]`, at + i);
        out[i] = b === 1;
      }
      return { type: 9, elementType, value: out };
    }
    case GgufValueType.STRING: {
      const out = new Array<string>(count);
      for (let i = 0; i < count; i++) {
        // Fast path without a promise per element when the whole string is already in the window.
        out[i] = cur.tryStringInWindow(MAX_STRING_BYTES, what) ?? (await readString(cur, MAX_STRING_BYTES, what));
      }
      return { type: 9, elementType, value: out };
    }
    default: {
      // Nested arrays (gguf-py reads them; ggml's C reader does not).
      if (depth + 1 > MAX_ARRAY_DEPTH) {
        throw new BitNetError('GGUF_LIMIT_EXCEEDED', `${what} at offset ${cur.pos}: arrays nested deeper than ${MAX_ARRAY_DEPTH} levels`, {
          details: { field: what, offset: cur.pos, limit: MAX_ARRAY_DEPTH },
        });
      }
      cur.nestedArrays += count;
      if (cur.nestedArrays > MAX_NESTED_ARRAYS) {
        throw new BitNetError(
          'GGUF_LIMIT_EXCEEDED',
          `${what} at offset ${cur.pos}: ${cur.nestedArrays} nested arrays in the file exceed the limit of ${MAX_NESTED_ARRAYS}`,
          { details: { field: what, offset: cur.pos, actual: cur.nestedArrays, limit: MAX_NESTED_ARRAYS } },
        );
      }
      const out = new Array<GgufArray>(count);
      for (let i = 0; i < count; i++) {
        if (cur.avail() < 12) await cur.fill(12, `${what} nested array header`);
        const innerType = cur.u32();
        const innerCount = cur.u64n();
        out[i] = await readArray(cur, innerType, innerCount, depth + 1, what);
      }
      return { type: 9, elementType: 9, value: out };
    }
  }
}

function badBool(b: number, what: string, offset: number): BitNetError {
  return new BitNetError('GGUF_BAD_VALUE_TYPE', `${what} at offset ${offset}: BOOL byte must be 0 or 1, got ${b}`, {
    details: { field: what, offset, actual: b },
  });
}

/** Reads one metadata value of type `type` (already read). */
async function readValue(cur: HeaderCursor, type: number, what: string): Promise<GgufValue> {
  const width = FIXED_WIDTH[type];
  if (width !== undefined) {
    if (cur.avail() < width) await cur.fill(width, what);
    return cur.scalar(type);
  }
  switch (type) {
    case GgufValueType.BOOL: {
      if (cur.avail() < 1) await cur.fill(1, what);
      const at = cur.pos;
      const b = cur.u8();
      if (b > 1) throw badBool(b, what, at);
      return { type: 7, value: b === 1 };
    }
    case GgufValueType.STRING:
      return { type: 8, value: await readString(cur, MAX_STRING_BYTES, what) };
    case GgufValueType.ARRAY: {
      if (cur.avail() < 12) await cur.fill(12, `${what} array header`);
      const elementType = cur.u32();
      const count = cur.u64n();
      return readArray(cur, elementType, count, 1, what);
    }
    default:
      throw badValueType(type, what, cur.pos - 4);
  }
}

export interface ReadHeaderOptions {
  /** Refuse headers longer than this many bytes (default DEFAULT_MAX_HEADER_BYTES). */
  maxHeaderBytes?: number;
}

/** Mutable tensor record while the table is being validated. */
interface TensorDraft {
  name: string;
  dims: number[];
  type: GgmlType;
  nElements: number;
  relativeOffset: number;
  byteOffset: number;
  byteSize: number;
}

/**
 * Parses and validates a GGUF header (magic .. tensor table) without reading tensor data.
 * Every count is checked against its limit and against the bytes left before anything is allocated.
 */
export async function readGgufHeader(src: ByteSource, opts: ReadHeaderOptions = {}): Promise<GgufHeader> {
  const maxHeaderBytes = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 24) {
    throw new BitNetError('BAD_ARGUMENT', `maxHeaderBytes must be an integer >= 24, got ${maxHeaderBytes}`, {
      details: { field: 'maxHeaderBytes', actual: maxHeaderBytes },
    });
  }
  const fileSize = src.size;
  const cur = new HeaderCursor(src, maxHeaderBytes);

  // Magic and version.
  await cur.fill(4, 'magic');
  const magic = cur.u32();
  if (magic !== GGUF_MAGIC) {
    const hex = magic.toString(16).padStart(8, '0');
    throw new BitNetError('GGUF_BAD_MAGIC', `${src.name}: not a GGUF file (magic 0x${hex} at offset 0, expected 'GGUF' = 0x46554747)`, {
      details: { offset: 0, expected: GGUF_MAGIC, actual: magic },
    });
  }
  await cur.fill(4, 'version');
  const version = cur.u32();
  if (version !== 2 && version !== 3) {
    // gguf.cpp: a version with zero low 16 bits suggests a big-endian file.
    const hint = version !== 0 && (version & 0xffff) === 0 ? ' (a big-endian file?)' : version === 1 ? ' (GGUF v1 is no longer supported; reconvert the model)' : '';
    throw new BitNetError(
      'GGUF_UNSUPPORTED_VERSION',
      `${src.name}: GGUF version ${version} is not supported${hint}; expected one of ${SUPPORTED_VERSIONS.join(', ')}`,
      { details: { offset: 4, expected: SUPPORTED_VERSIONS.join(','), actual: version } },
    );
  }

  // Counts (u64 since v2).
  await cur.fill(16, 'tensor and metadata counts');
  const nTensors = cur.u64n();
  const nKv = cur.u64n();
  checkCount(cur, nKv, MAX_KV_COUNT, MIN_KV_BYTES, 'metadata pairs');
  checkCount(cur, nTensors, MAX_TENSOR_COUNT, MIN_TENSOR_INFO_BYTES, 'tensor infos');

  // Metadata.
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const keyAt = cur.pos;
    const key = await readString(cur, MAX_KEY_BYTES, `metadata key #${i}`);
    if (key.length === 0) {
      // gguf.cpp refuses empty keys.
      throw new BitNetError('GGUF_BAD_STRING', `${src.name}: metadata key #${i} at offset ${keyAt} is empty`, {
        details: { field: `metadata key #${i}`, offset: keyAt },
      });
    }
    if (metadata.has(key)) {
      throw new BitNetError('GGUF_DUPLICATE_KEY', `${src.name}: metadata key '${key}' appears twice (second at offset ${keyAt})`, {
        details: { key, offset: keyAt },
      });
    }
    if (cur.avail() < 4) await cur.fill(4, `type of '${key}'`);
    const type = cur.u32();
    metadata.set(key, await readValue(cur, type, `value of '${key}'`));
  }

  // Alignment: gguf.cpp requires general.alignment to be a UINT32 power of two.
  let alignment = DEFAULT_ALIGNMENT;
  const alignValue = metadata.get('general.alignment');
  if (alignValue !== undefined) {
    if (alignValue.type !== GgufValueType.UINT32) {
      throw new BitNetError('GGUF_BAD_ALIGNMENT', `${src.name}: 'general.alignment' must be UINT32, got ${describeValueType(alignValue)}`, {
        details: { key: 'general.alignment', expected: 'UINT32', actual: describeValueType(alignValue) },
      });
    }
    if (!isValidAlignment(alignValue.value)) {
      throw new BitNetError(
        'GGUF_BAD_ALIGNMENT',
        `${src.name}: 'general.alignment' is ${alignValue.value}; expected a power of two from 1 to ${2 ** 20}`,
        { details: { key: 'general.alignment', actual: alignValue.value } },
      );
    }
    alignment = alignValue.value;
  }

  // Tensor infos.
  const drafts: TensorDraft[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const nameAt = cur.pos;
    const name = await readString(cur, MAX_TENSOR_NAME_BYTES, `tensor name #${i}`);
    if (names.has(name)) {
      throw new BitNetError('GGUF_DUPLICATE_TENSOR', `${src.name}: tensor '${name}' appears twice (second at offset ${nameAt})`, {
        details: { tensor: name, offset: nameAt },
      });
    }
    names.add(name);
    if (cur.avail() < 4) await cur.fill(4, `n_dims of '${name}'`);
    const nDims = cur.u32();
    // n_dims 0 is a scalar (one element): gguf-py writes it for 0-d arrays and llama.cpp reads it.
    if (nDims > MAX_DIMS) {
      throw new BitNetError('GGUF_BAD_TENSOR', `${src.name}: tensor '${name}' has ${nDims} dimensions; expected 0 to ${MAX_DIMS}`, {
        details: { tensor: name, field: 'n_dims', expected: `0..${MAX_DIMS}`, actual: nDims },
      });
    }
    if (cur.avail() < nDims * 8 + 12) await cur.fill(nDims * 8 + 12, `dims, type and offset of '${name}'`);
    const dims: number[] = [];
    let nElements = 1;
    for (let d = 0; d < nDims; d++) {
      const ne = cur.u64n();
      if (ne === 0) {
        throw new BitNetError('GGUF_BAD_TENSOR', `${src.name}: tensor '${name}' dimension ${d} is 0; every dimension must be at least 1`, {
          details: { tensor: name, field: `ne[${d}]`, actual: 0 },
        });
      }
      nElements *= ne;
      if (ne > MAX_TENSOR_ELEMENTS || nElements > MAX_TENSOR_ELEMENTS) {
        throw new BitNetError(
          'GGUF_LIMIT_EXCEEDED',
          `${src.name}: tensor '${name}' has too many elements (dimension ${d} = ${ne}, product so far ${nElements}; limit ${MAX_TENSOR_ELEMENTS})`,
          { details: { tensor: name, field: `ne[${d}]`, actual: ne, limit: MAX_TENSOR_ELEMENTS } },
        );
      }
      dims.push(ne);
    }
    const typeId = cur.u32();
    const traits = typeTraits(typeId, name);
    const offsetAt = cur.pos;
    const relativeOffset = cur.u64n();
    if (!Number.isSafeInteger(relativeOffset) || relativeOffset > fileSize) {
      throw new BitNetError(
        'GGUF_TENSOR_OUT_OF_BOUNDS',
        `${src.name}: tensor '${name}' offset ${relativeOffset} (stored at ${offsetAt}) lies past the end of the file (${fileSize} bytes)`,
        { details: { tensor: name, offset: relativeOffset, fileSize } },
      );
    }
    if (relativeOffset % alignment !== 0) {
      throw new BitNetError(
        'GGUF_MISALIGNED_TENSOR',
        `${src.name}: tensor '${name}' offset ${relativeOffset} is not a multiple of the alignment ${alignment}`,
        { details: { tensor: name, offset: relativeOffset, alignment } },
      );
    }
    const byteSize = sizeFromLayout(traits.id) ? 0 : tensorByteSize(traits.id, nElements, dims[0] ?? 1, name);
    drafts.push({ name, dims, type: traits.id, nElements, relativeOffset, byteOffset: 0, byteSize });
  }

  const headerBytes = cur.pos;
  const dataOffset = alignUp(headerBytes, alignment);
  for (const t of drafts) t.byteOffset = dataOffset + t.relativeOffset;

  // Sizes of TL1/TL2 tensors: the gap to the next tensor's start or to the end of the file; of I2_S tensors, the
  // flavor size that gap fits.
  const byStart = [...drafts].sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 0; i < byStart.length; i++) {
    const t = byStart[i];
    const end = i + 1 < byStart.length ? byStart[i + 1].byteOffset : fileSize;
    if (t.type === GgmlType.I2_S) t.byteSize = i2sSizeFromGap(t.nElements, end - t.byteOffset, alignment, t.byteSize);
    if (!sizeFromLayout(t.type)) continue;
    t.byteSize = Math.max(0, end - t.byteOffset);
    if (t.byteSize === 0) {
      const other = i + 1 < byStart.length ? byStart[i + 1].name : '(end of file)';
      throw new BitNetError(
        i + 1 < byStart.length ? 'GGUF_TENSOR_OVERLAP' : 'GGUF_TENSOR_OUT_OF_BOUNDS',
        `${src.name}: tensor '${t.name}' (${TYPE_TRAITS[t.type].name}) at offset ${t.byteOffset} has no bytes before '${other}'`,
        { details: { tensor: t.name, offset: t.byteOffset, other } },
      );
    }
  }

  // Bounds, then overlap (sorted by start: a tensor overlaps when it starts before the furthest end so far).
  for (const t of drafts) {
    if (t.byteOffset + t.byteSize > fileSize) {
      throw new BitNetError(
        'GGUF_TENSOR_OUT_OF_BOUNDS',
        `${src.name}: tensor '${t.name}' at offset ${t.byteOffset} with ${t.byteSize} bytes ends at ${t.byteOffset + t.byteSize}, past the end of the file (${fileSize} bytes)`,
        { details: { tensor: t.name, offset: t.byteOffset, size: t.byteSize, fileSize } },
      );
    }
  }
  let furthest: TensorDraft | undefined;
  for (const t of byStart) {
    if (furthest !== undefined && t.byteOffset < furthest.byteOffset + furthest.byteSize) {
      throw new BitNetError(
        'GGUF_TENSOR_OVERLAP',
        `${src.name}: tensor '${t.name}' at [${t.byteOffset}, ${t.byteOffset + t.byteSize}) overlaps '${furthest.name}' at [${furthest.byteOffset}, ${furthest.byteOffset + furthest.byteSize})`,
        { details: { tensor: t.name, other: furthest.name, offset: t.byteOffset, otherEnd: furthest.byteOffset + furthest.byteSize } },
      );
    }
    if (furthest === undefined || t.byteOffset + t.byteSize > furthest.byteOffset + furthest.byteSize) furthest = t;
  }

  const tensors: GgufTensorInfo[] = drafts.map((t) => ({
    name: t.name,
    dims: Object.freeze(t.dims),
    type: t.type,
    nElements: t.nElements,
    relativeOffset: t.relativeOffset,
    byteOffset: t.byteOffset,
    byteSize: t.byteSize,
  }));
  return { version, metadata, tensors, alignment, dataOffset, headerBytes, fileSize };
}

/**
 * Reads exactly `tensor.byteSize` bytes of tensor data into `target` (for example a view into
 * WebAssembly memory): big tensors are read in chunks of `chunkBytes` (default TENSOR_READ_CHUNK_BYTES)
 * straight into subarrays of `target`, no intermediate copies.
 */
export async function readTensorData(
  src: ByteSource,
  tensor: GgufTensorInfo,
  target: Uint8Array,
  opts: { chunkBytes?: number } = {},
): Promise<void> {
  const chunkBytes = opts.chunkBytes ?? TENSOR_READ_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) {
    throw new BitNetError('BAD_ARGUMENT', `chunkBytes must be a positive integer, got ${chunkBytes}`, {
      details: { field: 'chunkBytes', actual: chunkBytes },
    });
  }
  if (target.length !== tensor.byteSize) {
    throw new BitNetError(
      'BAD_ARGUMENT',
      `tensor '${tensor.name}': target holds ${target.length} bytes, expected exactly ${tensor.byteSize}`,
      { details: { tensor: tensor.name, expected: tensor.byteSize, actual: target.length } },
    );
  }
  if (tensor.byteOffset + tensor.byteSize > src.size) {
    throw new BitNetError(
      'GGUF_TENSOR_OUT_OF_BOUNDS',
      `${src.name}: tensor '${tensor.name}' at offset ${tensor.byteOffset} with ${tensor.byteSize} bytes lies past the end (${src.size} bytes)`,
      { details: { tensor: tensor.name, offset: tensor.byteOffset, size: tensor.byteSize, fileSize: src.size } },
    );
  }
  for (let done = 0; done < target.length; done += chunkBytes) {
    const end = Math.min(target.length, done + chunkBytes);
    await src.read(tensor.byteOffset + done, target.subarray(done, end));
  }
}

/** Anything `openGguf` accepts: a URL, a file path (Node), bytes, a Blob, or a ByteSource. */
export type GgufSourceInput = string | Uint8Array | Blob | ByteSource;

function toSource(input: Exclude<GgufSourceInput, string>): ByteSource {
  if (input instanceof Uint8Array) return bytesSource(input);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return blobSource(input);
  return input as ByteSource;
}

/** A string is a URL (http, https, blob, data; any string outside Node, resolved against the page) or, in Node, a file path. */
function openStringSource(s: string): Promise<ByteSource> {
  return looksLikeUrl(s) || !isNodeRuntime() ? openUrlSource(s) : openFileSource(s);
}

/** Opens a source and parses its header. A file opened here is closed again if the header is refused. */
export async function openGguf(
  input: GgufSourceInput,
  opts: ReadHeaderOptions = {},
): Promise<{ source: ByteSource; header: GgufHeader }> {
  const ownsSource = typeof input === 'string';
  const source = typeof input === 'string' ? await openStringSource(input) : toSource(input);
  try {
    const header = await readGgufHeader(source, opts);
    return { source, header };
  } catch (e) {
    if (ownsSource) await source.close?.().catch(() => undefined);
    throw e;
  }
}

