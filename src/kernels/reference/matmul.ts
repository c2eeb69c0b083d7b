// Matrix times activations for one weight: ternary weights with int8 activations, or float / quantized weights.
//
// Ternary (TQ1_0, TQ2_0, I2_S), activations quantized as the weight's ActivationQuant says:
// - 'per-token' (bitnet.cpp, I2_S): xq = quantizeActivations(x) with scale s; for each row the exact float64
//   dot (sum over blocks of block scale * integer dot) is divided by s and rounded to f32, then times the
//   optional output scale (f32): y = f32(f32(dot / s) * scale), the order of bitnet.cpp's
//   (float)sumi / act_scale * weight_scale.
// - 'q8k-block' (llama.cpp, TQ1_0/TQ2_0): xq and one d per 256 values from quantizeActivationsQ8K; each
//   block's integer dot is multiplied by its weight scale and its d (float64), summed, rounded to f32.
// Float / quantized (F32, F16, BF16, Q8_0, Q4_0, Q6_K): as ggml's CPU mul_mat, x is first converted to the
// weight type's vec_dot_type (formats/index.ts vecDotType; ggml/src/ggml-cpu/ggml-cpu.c type_traits_cpu):
// - F32: x as is; F16 / BF16: x rounded to F16 / BF16 (ties to even), then a float64 dot with the exact
//   weights (every product is exact), rounded to f32 once (times scale);
// - Q8_0 / Q4_0: x quantized to Q8_0 blocks of 32 as llama.cpp's x86 quantize_row_q8_0 (formats/q8_0.ts
//   quantizeActivationsQ8_0), Q6_K: to Q8_K blocks of 256 (quantizeActivationsQ8K); per block an integer dot
//   times both block scales, summed in float64, rounded to f32 once (times scale). A Q8_K block holding NaN or
//   +-Infinity gets d = NaN (ggml would quantize it to garbage; a NaN output says what happened).

import { roundToBf16 } from '../../formats/bf16.js';
import { roundToF16 } from '../../formats/f16.js';
import { dotTernaryRow, floatRowDot, isTernary, quantizedRowDot, vecDotType } from '../../formats/index.js';
import { quantizeActivationsQ8_0 } from '../../formats/q8_0.js';
import { Q8K_BLOCK, quantizeActivations, quantizeActivationsQ8K } from './quantize-activations.js';
import type { RefWeight } from './weights.js';

/**
 * Scratch a matmul needs: int8 activations (>= cols), Q8_K block scales (>= cols / 256) and a Q6_K block (>= 256
 * floats). matmulRef grows the optional ones itself: `xRounded` (F16 / BF16-rounded x, >= cols) and `blockScales`
 * (Q8_0 activation scales, >= cols / 32).
 */
export interface MatmulScratch {
  xq: Int8Array;
  actScales: Float64Array;
  block: Float32Array;
  xRounded?: Float32Array;
  blockScales?: Float64Array;
}

/** out[t * rows + r] = scale * sum_c W[r, c] * x[t * cols + c] for t < nTokens. */
export function matmulRef(out: Float32Array, w: RefWeight, x: Float32Array, nTokens: number, scale: number, scratch: MatmulScratch): void {
  const { rows, cols, bytes } = w;
  const type = w.info.type;
  if (isTernary(type) && w.activationQuant === 'q8k-block') {
    const { xq, actScales } = scratch;
    for (let t = 0; t < nTokens; t++) {
      quantizeActivationsQ8K(x, t * cols, cols, xq, actScales);
      for (let r = 0; r < rows; r++) {
        const y = Math.fround(dotTernaryRow(type, bytes, r, cols, xq, actScales));
        out[t * rows + r] = scale === 1 ? y : y * scale;
      }
    }
    return;
  }
  if (isTernary(type)) {
    const xq = scratch.xq;
    for (let t = 0; t < nTokens; t++) {
      const s = quantizeActivations(x, t * cols, cols, xq);
      for (let r = 0; r < rows; r++) {
        const y = Math.fround(dotTernaryRow(type, bytes, r, cols, xq) / s);
        out[t * rows + r] = scale === 1 ? y : y * scale;
      }
    }
    return;
  }
  const dotType = vecDotType(type);
  if (dotType === 'f32') {
    for (let t = 0; t < nTokens; t++) {
      for (let r = 0; r < rows; r++) out[t * rows + r] = floatRowDot(type, bytes, r, cols, x, t * cols, scratch.block) * scale;
    }
    return;
  }
  if (dotType === 'f16' || dotType === 'bf16') {
    if (scratch.xRounded === undefined || scratch.xRounded.length < cols) scratch.xRounded = new Float32Array(cols);
    const xr = scratch.xRounded;
    const round = dotType === 'f16' ? roundToF16 : roundToBf16;
    for (let t = 0; t < nTokens; t++) {
      for (let c = 0; c < cols; c++) xr[c] = round(x[t * cols + c]);
      for (let r = 0; r < rows; r++) out[t * rows + r] = floatRowDot(type, bytes, r, cols, xr, 0) * scale;
    }
    return;
  }
  const blockSize = dotType === 'q8_0' ? 32 : Q8K_BLOCK;
  if (scratch.xq.length < cols) scratch.xq = new Int8Array(cols);
  if (scratch.blockScales === undefined || scratch.blockScales.length < Math.ceil(cols / blockSize)) scratch.blockScales = new Float64Array(Math.ceil(cols / blockSize));
  const { xq, blockScales } = scratch;
  for (let t = 0; t < nTokens; t++) {
    if (dotType === 'q8_0') {
      quantizeActivationsQ8_0(x, t * cols, cols, xq, blockScales);
    } else {
      quantizeActivationsQ8K(x, t * cols, cols, xq, blockScales);
      for (let c = 0; c < cols; c++) if (!Number.isFinite(x[t * cols + c])) blockScales[Math.floor(c / Q8K_BLOCK)] = NaN;
    }
    for (let r = 0; r < rows; r++) out[t * rows + r] = quantizedRowDot(type, bytes, r, cols, xq, blockScales) * scale;
  }
}
