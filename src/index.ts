// Public surface of the bitnet package.
export { BitNetError, isBitNetError } from './errors.js';
export type { BitNetErrorCode } from './errors.js';
export { GgmlType, TYPE_TRAITS } from './formats/ggml-type.js';
