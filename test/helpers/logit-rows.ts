// The per-position logits agreement the end-to-end tests use: src/bench/logit-rows.ts (the device check uses it too).
export { rowAgreement, type RowAgreement } from '../../src/bench/logit-rows.js';
