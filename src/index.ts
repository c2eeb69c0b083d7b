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
// Synthetic models and GGUF inspection (src/synth, src/inspect). synthesizeModel writes files (Node only) and
// loads the LLaMA-3 vocabulary lazily; inspectGguf works on any parsed header.
export { synthesizeModel, planSyntheticModel, SYNTH_WEIGHT_TYPES, SYNTH_EMBED_TYPES } from './synth/synthesize.js';
export type { SynthesizeOptions, SynthesizeResult, SynthProgress, SynthWeightType, SynthEmbedType } from './synth/synthesize.js';
export { SHAPES, SHAPE_NAMES, getShape } from './synth/shapes.js';
export type { ModelShape, ShapeName } from './synth/shapes.js';
export { SYNTH_ARCHS } from './inspect/arch-spec.js';
export type { SynthArch } from './inspect/arch-spec.js';
export { inspectGguf } from './inspect/inspect.js';
// GGUF headers for inspection without loading weights: openGguf(path | bytes | Blob | ByteSource) -> { source, header }.
export { openGguf, readGgufHeader } from './gguf/reader.js';
export type { ByteSource, GgufHeader, GgufTensorInfo, GgufValue } from './gguf/types.js';
export type { InspectReport, InspectWarning, InspectWarningCode, HyperParameters, TokenizerSummary, TensorRow, TypeTotal } from './inspect/inspect.js';
export { formatInspectReport } from './inspect/format.js';
