// The `bitnet/convert` entry: Hugging Face checkpoint -> GGUF. convertCheckpoint needs Node (files); the rest (safetensors
// headers, config and tokenizer conversion, the lazy conversion plan over any CheckpointSource) also runs in browsers.

export { convertCheckpoint } from './convert.js';
export type { ConvertOptions, ConvertProgress, ConvertResult } from './convert.js';
export { planConversion, CONVERT_WEIGHT_TYPES, CONVERT_EMBED_TYPES } from './plan.js';
export type { ConversionPlan, ConvertEmbedType, ConvertWeightType, PlanOptions, PlannedTensor, WeightSource } from './plan.js';
export { memoryCheckpointSource } from './checkpoint-source.js';
export type { CheckpointSource } from './checkpoint-source.js';
export { parseSafetensorsHeader, safetensorsHeaderLength } from './safetensors.js';
export type { SafetensorsHeader, SafetensorsTensor } from './safetensors.js';
export { readHfModelConfig } from './hf-config.js';
export type { ConvertArch, HfModelConfig, CheckpointQuantization, WeightScaleUse } from './hf-config.js';
export { convertHfTokenizer, KNOWN_PRE_TOKENIZERS } from './hf-tokenizer.js';
export type { HfTokenizerInput, HfTokenizerResult } from './hf-tokenizer.js';
