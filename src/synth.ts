// The synthetic-model entry ('bitnet/synth'): writes GGUF files with random weights of real shapes (Node: files).
export { synthesizeModel, planSyntheticModel, SYNTH_WEIGHT_TYPES, SYNTH_EMBED_TYPES } from './synth/synthesize.js';
export type { SynthesizeOptions, SynthesizeResult, SynthProgress, SynthWeightType, SynthEmbedType } from './synth/synthesize.js';
export { SHAPES, SHAPE_NAMES, getShape } from './synth/shapes.js';
export type { ModelShape, ShapeName } from './synth/shapes.js';
