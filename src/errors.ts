// The one error class of the library: every failure a caller can meet carries a stable code.

/** Stable error codes. Add new codes at the end of a group; never reuse or rename one. */
export type BitNetErrorCode =
  // input bytes / files
  | 'GGUF_BAD_MAGIC'
  | 'GGUF_UNSUPPORTED_VERSION'
  | 'GGUF_TRUNCATED'
  | 'GGUF_LIMIT_EXCEEDED'
  | 'GGUF_BAD_VALUE_TYPE'
  | 'GGUF_BAD_STRING'
  | 'GGUF_DUPLICATE_KEY'
  | 'GGUF_DUPLICATE_TENSOR'
  | 'GGUF_BAD_ALIGNMENT'
  | 'GGUF_BAD_TENSOR'
  | 'GGUF_TENSOR_OUT_OF_BOUNDS'
  | 'GGUF_TENSOR_OVERLAP'
  | 'GGUF_MISALIGNED_TENSOR'
  | 'GGUF_WRITE_INVALID'
  | 'IO_ERROR'
  | 'FILE_CHANGED'
  | 'NETWORK_ERROR'
  | 'HTTP_ERROR'
  | 'RANGE_UNSUPPORTED'
  | 'DOWNLOAD_TRUNCATED'
  | 'CACHE_FULL'
  | 'SAFETENSORS_BAD_HEADER'
  | 'SAFETENSORS_TRUNCATED'
  | 'SAFETENSORS_LIMIT_EXCEEDED'
  | 'SAFETENSORS_TENSOR_OUT_OF_BOUNDS'
  | 'SAFETENSORS_TENSOR_OVERLAP'
  | 'CHECKSUM_MISMATCH'
  | 'NOT_CACHED'
  // tensor formats
  | 'UNKNOWN_TENSOR_TYPE'
  | 'UNSUPPORTED_TENSOR_TYPE'
  | 'BAD_TENSOR_SHAPE'
  | 'BAD_TENSOR_DATA'
  // model
  | 'UNSUPPORTED_ARCH'
  | 'MISSING_METADATA'
  | 'BAD_METADATA'
  | 'MISSING_TENSOR'
  | 'BAD_TENSOR_FOR_ARCH'
  | 'MODEL_TOO_LARGE'
  | 'CHECKPOINT_BAD_CONFIG'
  | 'CHECKPOINT_UNSUPPORTED'
  // tokenizer / templates
  | 'TOKENIZER_UNSUPPORTED'
  | 'TOKENIZER_BAD_VOCAB'
  | 'TOKENIZER_UNKNOWN_PIECE'
  | 'CHAT_TEMPLATE_ERROR'
  // generation
  | 'CONTEXT_OVERFLOW'
  | 'BAD_ARGUMENT'
  | 'ABORTED'
  | 'DISPOSED'
  | 'BACKEND_UNAVAILABLE'
  | 'KERNEL_SELF_CHECK_FAILED'
  | 'KV_CACHE_FULL'
  // trust
  | 'STRICT_VIOLATION'
  | 'RECEIPT_INVALID'
  | 'INTERNAL';

export interface BitNetErrorOptions {
  cause?: unknown;
  /** Structured facts (field, offset, expected, actual ...) for machines; the message has them for people. */
  details?: Readonly<Record<string, string | number | boolean | bigint | null>>;
}

export class BitNetError extends Error {
  override readonly name = 'BitNetError';
  readonly code: BitNetErrorCode;
  readonly details: Readonly<Record<string, string | number | boolean | bigint | null>>;

  constructor(code: BitNetErrorCode, message: string, options: BitNetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** True when `e` is a BitNetError, optionally with the given code. */
export function isBitNetError(e: unknown, code?: BitNetErrorCode): e is BitNetError {
  return e instanceof BitNetError && (code === undefined || e.code === code);
}
