// Safetensors header parsing for untrusted files: every length, shape and offset checked against named limits.
//
// Layout (huggingface/safetensors docs and the Rust crate's `SafeTensors::read_metadata`): an 8-byte little-endian
// u64 N, then N bytes of UTF-8 JSON (padded with spaces), then the data buffer. The JSON maps each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} with offsets relative to the start of the data buffer; the
// optional "__metadata__" entry maps strings to strings. Browser-safe: no node:* imports.

import { BitNetError } from '../errors.js';

/** Size of the leading header-length field. */
export const SAFETENSORS_PREFIX_BYTES = 8;

/** Largest JSON header accepted: the Rust crate's own limit (MAX_HEADER_SIZE = 100_000_000). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

/** Most tensors in one file: a 400B-parameter shard holds a few thousand; a million is no checkpoint. */
export const MAX_SAFETENSORS_TENSORS = 1 << 20;

/** Most dimensions of one tensor: model weights have at most 4 (ggml's limit); 8 leaves room for odd buffers. */
export const MAX_SAFETENSORS_DIMS = 8;

/** Largest element count of one tensor (2^40): keeps every byte size an exact JavaScript integer. */
export const MAX_SAFETENSORS_ELEMENTS = 2 ** 40;

/** Element dtypes of the format with their byte widths (safetensors `Dtype`). */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

export interface SafetensorsTensor {
  readonly name: string;
  readonly dtype: string;
  /** Row-major (PyTorch) order: shape[0] is the outermost dimension. */
  readonly shape: readonly number[];
  readonly nElements: number;
  /** Absolute offset of the tensor's first byte in the file. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface SafetensorsHeader {
  /** File name, for messages. */
  readonly file: string;
  readonly fileBytes: number;
  /** Absolute offset of the data buffer (8 + N). */
  readonly dataOffset: number;
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  readonly metadata: ReadonlyMap<string, string>;
}

type Details = Readonly<Record<string, string | number | boolean | null>>;

function fail(code: 'SAFETENSORS_BAD_HEADER' | 'SAFETENSORS_TRUNCATED' | 'SAFETENSORS_LIMIT_EXCEEDED' | 'SAFETENSORS_TENSOR_OUT_OF_BOUNDS' | 'SAFETENSORS_TENSOR_OVERLAP', file: string, message: string, details: Details = {}): BitNetError {
  return new BitNetError(code, `${file}: ${message}`, { details: { file, ...details } });
}

/**
 * The header length N from the first 8 bytes, checked against the limit and the file size.
 * Returns the number of JSON bytes to read next.
 */
export function safetensorsHeaderLength(prefix: Uint8Array, fileBytes: number, file: string): number {
  if (fileBytes < SAFETENSORS_PREFIX_BYTES || prefix.length < SAFETENSORS_PREFIX_BYTES) {
    throw fail('SAFETENSORS_TRUNCATED', file, `file of ${fileBytes} bytes is too short for the 8-byte header length`, { expected: SAFETENSORS_PREFIX_BYTES, actual: fileBytes });
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, SAFETENSORS_PREFIX_BYTES).getBigUint64(0, true);
  if (n > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
    throw fail('SAFETENSORS_LIMIT_EXCEEDED', file, `header length ${n} exceeds the limit of ${MAX_SAFETENSORS_HEADER_BYTES} bytes`, { actual: String(n), limit: MAX_SAFETENSORS_HEADER_BYTES });
  }
  const headerBytes = Number(n);
  if (SAFETENSORS_PREFIX_BYTES + headerBytes > fileBytes) {
    throw fail('SAFETENSORS_TRUNCATED', file, `header of ${headerBytes} bytes runs past the end of the ${fileBytes}-byte file`, {
      expected: SAFETENSORS_PREFIX_BYTES + headerBytes,
      actual: fileBytes,
    });
  }
  if (headerBytes < 2) throw fail('SAFETENSORS_BAD_HEADER', file, `header length ${headerBytes} is too small for a JSON object`, { actual: headerBytes });
  return headerBytes;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses the JSON header (the N bytes after the prefix) of a file of `fileBytes` bytes. Every tensor's dtype, shape and
 * offsets are checked: the byte range must match dtype x shape, lie inside the file, and not overlap another tensor.
 */
export function parseSafetensorsHeader(json: Uint8Array, fileBytes: number, file: string): SafetensorsHeader {
  const dataOffset = SAFETENSORS_PREFIX_BYTES + json.length;
  const dataBytes = fileBytes - dataOffset;
  if (dataBytes < 0) throw fail('SAFETENSORS_TRUNCATED', file, `header of ${json.length} bytes runs past the end of the ${fileBytes}-byte file`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch (e) {
    throw new BitNetError('SAFETENSORS_BAD_HEADER', `${file}: header is not valid UTF-8`, { cause: e, details: { file } });
  }
  if (!text.startsWith('{')) throw fail('SAFETENSORS_BAD_HEADER', file, "header does not start with '{'");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new BitNetError('SAFETENSORS_BAD_HEADER', `${file}: header is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { file } });
  }
  if (!isRecord(parsed)) throw fail('SAFETENSORS_BAD_HEADER', file, 'header is not a JSON object');

  const metadata = new Map<string, string>();
  const tensors = new Map<string, SafetensorsTensor>();
  const entries = Object.entries(parsed);
  if (entries.length > MAX_SAFETENSORS_TENSORS + 1) {
    throw fail('SAFETENSORS_LIMIT_EXCEEDED', file, `${entries.length} header entries exceed the limit of ${MAX_SAFETENSORS_TENSORS} tensors`, { actual: entries.length, limit: MAX_SAFETENSORS_TENSORS });
  }
  for (const [name, value] of entries) {
    if (name === '__metadata__') {
      if (!isRecord(value)) throw fail('SAFETENSORS_BAD_HEADER', file, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw fail('SAFETENSORS_BAD_HEADER', file, `__metadata__['${k}'] is not a string`, { key: k });
        metadata.set(k, v);
      }
      continue;
    }
    tensors.set(name, parseTensorEntry(name, value, dataOffset, dataBytes, file));
  }

  // Overlap: sorted by start, each tensor must begin at or after the end of the one before (empty tensors take no room).
  const sorted = [...tensors.values()].filter((t) => t.byteLength > 0).sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (prev !== undefined && cur !== undefined && cur.byteOffset < prev.byteOffset + prev.byteLength) {
      throw fail('SAFETENSORS_TENSOR_OVERLAP', file, `tensor '${cur.name}' (data bytes ${cur.byteOffset - dataOffset}..${cur.byteOffset - dataOffset + cur.byteLength}) overlaps '${prev.name}' (data bytes ${prev.byteOffset - dataOffset}..${prev.byteOffset - dataOffset + prev.byteLength})`, {
        tensor: cur.name,
        other: prev.name,
        begin: cur.byteOffset - dataOffset,
        otherEnd: prev.byteOffset - dataOffset + prev.byteLength,
      });
    }
  }
  return { file, fileBytes, dataOffset, tensors, metadata };
}

function parseTensorEntry(name: string, value: unknown, dataOffset: number, dataBytes: number, file: string): SafetensorsTensor {
  const bad = (why: string, details: Details = {}): BitNetError => fail('SAFETENSORS_BAD_HEADER', file, `tensor '${name}': ${why}`, { tensor: name, ...details });
  if (!isRecord(value)) throw bad('entry is not an object');
  const dtype = value['dtype'];
  if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BYTES, dtype)) {
    throw bad(`unknown dtype ${JSON.stringify(dtype) ?? 'undefined'}`, { dtype: String(dtype) });
  }
  const width = SAFETENSORS_DTYPE_BYTES[dtype] ?? 0;
  const shape = value['shape'];
  if (!Array.isArray(shape)) throw bad('shape is not an array');
  if (shape.length > MAX_SAFETENSORS_DIMS) {
    throw fail('SAFETENSORS_LIMIT_EXCEEDED', file, `tensor '${name}': ${shape.length} dimensions exceed the limit of ${MAX_SAFETENSORS_DIMS}`, { tensor: name, actual: shape.length });
  }
  let nElements = 1;
  const dims: number[] = [];
  for (const d of shape) {
    if (!nonNegativeInt(d)) throw bad(`shape entry ${JSON.stringify(d) ?? 'undefined'} is not a non-negative integer`);
    nElements *= d;
    if (nElements > MAX_SAFETENSORS_ELEMENTS) {
      throw fail('SAFETENSORS_LIMIT_EXCEEDED', file, `tensor '${name}': shape [${shape.join(', ')}] exceeds the limit of ${MAX_SAFETENSORS_ELEMENTS} elements`, { tensor: name, limit: MAX_SAFETENSORS_ELEMENTS });
    }
    dims.push(d);
  }
  const offsets = value['data_offsets'];
  if (!Array.isArray(offsets) || offsets.length !== 2) throw bad('data_offsets is not a [begin, end] pair');
  const [begin, end] = offsets as unknown[];
  if (!nonNegativeInt(begin) || !nonNegativeInt(end)) throw bad(`data_offsets [${String(begin)}, ${String(end)}] are not non-negative integers`);
  if (end < begin) throw fail('SAFETENSORS_TENSOR_OUT_OF_BOUNDS', file, `tensor '${name}': data_offsets end ${end} is before begin ${begin}`, { tensor: name, begin, end });
  const expected = nElements * width;
  if (end - begin !== expected) {
    throw bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes; ${dtype} [${dims.join(', ')}] needs ${expected}`, { begin, end, expected, actual: end - begin });
  }
  if (end > dataBytes) {
    throw fail('SAFETENSORS_TENSOR_OUT_OF_BOUNDS', file, `tensor '${name}': data_offsets [${begin}, ${end}] run past the end of the ${dataBytes}-byte data buffer (file truncated?)`, {
      tensor: name,
      begin,
      end,
      dataBytes,
    });
  }
  return { name, dtype, shape: dims, nElements, byteOffset: dataOffset + begin, byteLength: expected };
}
