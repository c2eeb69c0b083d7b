// Messages between the page's proxy (src/browser/index.ts) and the engine worker (engine-worker.ts), and how a
// BitNetError crosses that boundary (structured clone keeps plain data, not the class).

import { BitNetError, type BitNetErrorCode } from '../errors.js';
import type { ChatMessage, CompletionResult, EmbedOptions, GenerateOptions, GeneratedPiece, LoadOptions, ModelInfo } from '../engine/types.js';

/** Where the worker reads the model from: a URL (already resolved against the page), a Blob / File, or bytes. */
export type WireSource = { readonly kind: 'url'; readonly url: string; readonly cache: boolean } | { readonly kind: 'blob'; readonly blob: Blob; readonly name: string } | { readonly kind: 'bytes'; readonly bytes: Uint8Array };

/** LoadOptions without the parts that cannot be cloned (signal, callbacks). */
export type WireLoadOptions = Omit<LoadOptions, 'signal' | 'onProgress'>;
/** GenerateOptions without the signal (abort travels as its own message). */
export type WireGenerateOptions = Omit<GenerateOptions, 'signal'>;

export interface WireError {
  readonly code: BitNetErrorCode;
  readonly message: string;
  readonly details: Readonly<Record<string, string | number | boolean | bigint | null>>;
}

/** Calls answered with one result. */
export type CallRequest =
  | { readonly method: 'complete'; readonly prompt: string | readonly number[]; readonly options: WireGenerateOptions }
  | { readonly method: 'chatComplete'; readonly messages: readonly ChatMessage[]; readonly options: WireGenerateOptions }
  | { readonly method: 'evaluateLogits'; readonly tokens: readonly number[] }
  | { readonly method: 'embed'; readonly inputs: string | readonly string[] | readonly (readonly number[])[]; readonly options: Omit<EmbedOptions, 'signal'> }
  | { readonly method: 'tokenize'; readonly text: string; readonly options: { addBos?: boolean; parseSpecial?: boolean } }
  | { readonly method: 'detokenize'; readonly ids: readonly number[] }
  | { readonly method: 'renderChat'; readonly messages: readonly ChatMessage[] }
  | { readonly method: 'lastReceipt' }
  | { readonly method: 'dispose' };

/** Page -> worker. */
export type ToWorker =
  | { readonly type: 'load'; readonly id: number; readonly source: WireSource; readonly options: WireLoadOptions }
  | { readonly type: 'call'; readonly id: number; readonly call: CallRequest }
  | { readonly type: 'generate'; readonly id: number; readonly prompt: string | readonly number[]; readonly options: WireGenerateOptions }
  | { readonly type: 'chat'; readonly id: number; readonly messages: readonly ChatMessage[]; readonly options: WireGenerateOptions }
  /** Abort the generation, call or load with this id (the engine checks between tokens). */
  | { readonly type: 'abort'; readonly id: number };

export interface LoadedReply {
  readonly info: ModelInfo;
  readonly fallbacks: readonly string[];
  readonly chatTemplateOrigin: string;
  /** Where the bytes came from: the persistent cache, a download stored into it, or the network directly. */
  readonly loadedFrom: 'cache' | 'network+cache' | 'network' | 'file';
  /** Why a URL load did not use the cache ('' when it did, or for files). */
  readonly cacheNote: string;
}

/** Worker -> page. */
export type FromWorker =
  | { readonly type: 'progress'; readonly id: number; readonly loadedBytes: number; readonly totalBytes: number; readonly percent: number }
  | { readonly type: 'loaded'; readonly id: number; readonly reply: LoadedReply }
  | { readonly type: 'result'; readonly id: number; readonly value: unknown }
  | { readonly type: 'piece'; readonly id: number; readonly piece: GeneratedPiece }
  | { readonly type: 'end'; readonly id: number }
  | { readonly type: 'error'; readonly id: number; readonly error: WireError };

export type { CompletionResult };

export function toWireError(e: unknown): WireError {
  if (e instanceof BitNetError) return { code: e.code, message: e.message, details: e.details };
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e), details: {} };
}

export function fromWireError(w: WireError): BitNetError {
  return new BitNetError(w.code, w.message, { details: w.details });
}
