// Every limit the GGUF reader and writer enforce on untrusted bytes, each a named constant with its reason.
// Upstream checks these mirror: ggml/src/gguf.cpp (gguf_init_from_reader), gguf-py gguf/gguf_reader.py.

/** "GGUF" read as a little-endian u32 (bytes 0x47 0x47 0x55 0x46). */
export const GGUF_MAGIC = 0x46554747;

/** Versions we read: v1 (u32 counts) was retired upstream; v2 and v3 share one layout. */
export const SUPPORTED_VERSIONS: readonly number[] = [2, 3];

/** The version the writer emits unless told otherwise (current upstream GGUF_VERSION). */
export const DEFAULT_VERSION = 3;

/** Alignment of the data section and of every tensor when `general.alignment` is absent (GGUF_DEFAULT_ALIGNMENT). */
export const DEFAULT_ALIGNMENT = 32;

/** Largest accepted alignment: a page-sized or SIMD alignment is plausible, a gigabyte of padding is not. */
export const MAX_ALIGNMENT = 1 << 20;

/** GGML_MAX_DIMS: ggml tensors have at most 4 dimensions. */
export const MAX_DIMS = 4;

/**
 * Largest element count of one tensor: 2^40 (a trillion) is far beyond any model we can run, and keeps
 * every byte size (at most 8 bytes per element) an exact JavaScript integer.
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 40;

/** Longest tensor name in bytes: GGML_MAX_NAME is 64, but other writers are looser; a name is never a kilobyte. */
export const MAX_TENSOR_NAME_BYTES = 1024;

/** Longest metadata key in bytes: keys are dotted identifiers such as `tokenizer.ggml.tokens`. */
export const MAX_KEY_BYTES = 1024;

/**
 * Longest metadata string in bytes: chat templates and embedded tokenizer JSON reach a few MB;
 * 64 MiB leaves room without letting one length field claim gigabytes.
 */
export const MAX_STRING_BYTES = 64 * 1024 * 1024;

/** Most elements of one metadata array: vocabularies hold up to ~1M entries; 2^26 is generous. */
export const MAX_ARRAY_ELEMENTS = 1 << 26;

/** Deepest nesting of arrays inside arrays: real files nest at most once; deep nesting is only an attack on the stack. */
export const MAX_ARRAY_DEPTH = 8;

/**
 * Most arrays nested inside other arrays in one file. Each costs some 250-340 bytes of JS objects for 12 bytes of file
 * (20-28x), so a few hundred MB of empty inner arrays would exhaust memory; real files nest rarely (ggml's C reader
 * accepts none). 2^14 of them take at most ~6 MB. (2^16 took 22 MB under Node 24, past the fuzz target's allowance of
 * 12 bytes of memory per header byte plus 8 MB: test/fuzz.test.ts gguf-header, case 8622 of seed 20250101.)
 */
export const MAX_NESTED_ARRAYS = 1 << 14;

/** Most metadata pairs: real files carry tens; 2^16 bounds the loop without refusing anything real. */
export const MAX_KV_COUNT = 1 << 16;

/** Most tensors: a 70B model has ~1k, large mixtures of experts some tens of thousands. */
export const MAX_TENSOR_COUNT = 1 << 20;

/**
 * Default bound on the header size (magic to the end of the tensor table): a 128k vocabulary makes
 * a header of a few MB; 256 MiB refuses headers that would exhaust memory.
 */
export const DEFAULT_MAX_HEADER_BYTES = 256 * 1024 * 1024;

/** Bytes fetched per header read: large enough that a multi-MB vocabulary takes few reads, small for tiny files. */
export const HEADER_CHUNK_BYTES = 1024 * 1024;

/** Bytes per read when copying tensor data: keeps each I/O call bounded (Node caps one read at 2 GiB). */
export const TENSOR_READ_CHUNK_BYTES = 64 * 1024 * 1024;

/** Smallest encoded size of one array element of each value type, used to refuse counts before allocating. */
export const MIN_ELEMENT_BYTES: Readonly<Record<number, number>> = {
  0: 1, // UINT8
  1: 1, // INT8
  2: 2, // UINT16
  3: 2, // INT16
  4: 4, // UINT32
  5: 4, // INT32
  6: 4, // FLOAT32
  7: 1, // BOOL
  8: 8, // STRING: u64 length
  9: 12, // ARRAY: u32 element type + u64 count
  10: 8, // UINT64
  11: 8, // INT64
  12: 8, // FLOAT64
};

/** Smallest encoded metadata pair: key length u64 + at least one key byte + type u32 + a 1-byte value. */
export const MIN_KV_BYTES = 8 + 1 + 4 + 1;

/**
 * Smallest encoded tensor info: name length u64 + n_dims u32 + type u32 + offset u64 (a scalar has no dims: gguf-py
 * writes n_dims = 0 for a 0-d array, as bitnet.cpp's TL1/TL2 converter does for each '<name>_scale').
 */
export const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8;

/** True when `n` is a power of two in [1, MAX_ALIGNMENT]. */
export function isValidAlignment(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_ALIGNMENT && (n & (n - 1)) === 0;
}

/** `offset` rounded up to a multiple of `alignment` (a power of two). */
export function alignUp(offset: number, alignment: number): number {
  const rem = offset % alignment;
  return rem === 0 ? offset : offset + (alignment - rem);
}
