// Public surface of the bitnet package: browser-safe (tested by test/browser-bundle.test.ts).
export { BitNetError, isBitNetError } from './errors.js';
export type { BitNetErrorCode } from './errors.js';
export { GgmlType, TYPE_TRAITS } from './formats/ggml-type.js';
export { BitNet, type ModelSource } from './engine/bitnet.js';
export type { Sequence } from './engine/sequence.js';
export type {
  BackendChoice,
  ChatMessage,
  ChatRole,
  CompletionResult,
  EmbedOptions,
  EmbedResult,
  FinishReason,
  GenerateOptions,
  GeneratedPiece,
  KvStats,
  LoadedModel,
  LoadOptions,
  ModelInfo,
  Pooling,
  Timings,
  TokenLogprob,
  Usage,
} from './engine/types.js';
export type { Penalties, SamplingConfig } from './sampling/types.js';
export { checkResponseFormat } from './sampling/json-schema.js';
export type { JsonSchema, ResponseFormat } from './sampling/json-schema.js';
export { PRE_TOKENIZER_NAMES } from './tokenizer/pre-tokenizer.js';
export type { PreTokenizerChoice, PreTokenizerOrigin } from './tokenizer/pre-tokenizer.js';
export type { KernelBackend } from './kernels/backend.js';
// Node-only parts sit behind subpath exports so this entry bundles for browsers (no node:* import anywhere under it):
// 'bitnet/node' (file source, HTTP adapter, demo-model cache), 'bitnet/server' (createServerApp), 'bitnet/synth'
// (synthesizeModel). A file path given to BitNet.load still works in Node: the file system is looked up at run time.
export { bytesSource, blobSource } from './gguf/byte-source.js';
export { SHAPES, SHAPE_NAMES, getShape } from './synth/shapes.js';
export type { ModelShape, ShapeName } from './synth/shapes.js';
export { SYNTH_ARCHS } from './inspect/arch-spec.js';
export type { SynthArch } from './inspect/arch-spec.js';
export { inspectGguf } from './inspect/inspect.js';
// GGUF headers for inspection without loading weights: openGguf(path | bytes | Blob | ByteSource) -> { source, header }.
export { openGguf, readGgufHeader } from './gguf/reader.js';
export type { ByteSource, GgufHeader, GgufTensorInfo, GgufValue } from './gguf/types.js';
export type { InspectOptions, InspectReport, InspectWarning, InspectWarningCode, HyperParameters, TernaryLayoutGroup, TokenizerSummary, TensorRow, TypeTotal } from './inspect/inspect.js';
export type { I2sFlavor, I2sFlavorOption } from './formats/i2s-flavors.js';
export type { TlTiles } from './formats/tl.js';
export { formatInspectReport } from './inspect/format.js';
