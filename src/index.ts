// Public surface of the bitnet package.
export { BitNetError, isBitNetError } from './errors.js';
export type { BitNetErrorCode } from './errors.js';
export { GgmlType, TYPE_TRAITS } from './formats/ggml-type.js';
export { BitNet, type ModelSource } from './engine/bitnet.js';
export type {
  BackendChoice,
  ChatMessage,
  ChatRole,
  CompletionResult,
  FinishReason,
  GenerateOptions,
  GeneratedPiece,
  LoadedModel,
  LoadOptions,
  ModelInfo,
  Timings,
  TokenLogprob,
  Usage,
} from './engine/types.js';
export type { Penalties, SamplingConfig } from './sampling/types.js';
export type { KernelBackend } from './kernels/backend.js';
export { createServerApp } from './server/app.js';
export type { ServerApp, ServerOptions, ServerState } from './server/app.js';
// The Node adapter (src/server/node.ts, `listen`) is left out of the root on purpose: it imports node:http.
