// Matrix times activations for one weight: ternary weights with int8 activations, or float / quantized weights.
//
// Ternary (TQ1_0, TQ2_0, I2_S), activations quantized as the weight's ActivationQuant says:
// - 'per-token' (bitnet.cpp, I2_S): xq = quantizeActivations(x) with scale s; for each row the exact float64
//   dot (sum over blocks of block scale * integer dot) is divided by s and rounded to f32, then times the
//   optional output scale (f32): y = f32(f32(dot / s) * scale), the order of bitnet.cpp's
//   (float)sumi / act_scale * weight_scale.
// - 'q8k-block' (llama.cpp, TQ1_0/TQ2_0): xq and one d per 256 values from quantizeActivationsQ8K; each
//   block's integer dot is multiplied by its weight scale and its d (float64), summed, rounded to f32.
// Float / quantized (F32, F16, BF16, Q8_0, Q4_0, Q6_K): a float64 dot of the exactly dequantized row with x,
// rounded to f32 once (times scale). ggml would instead round x to the weight's dot type (F16, Q8_0 ...)
// first; the reference keeps x exact, so it is the more accurate of the two.

import { dotTernaryRow, floatRowDot, isTernary } from '../../formats/index.js';
import { quantizeActivations, quantizeActivationsQ8K } from './quantize-activations.js';
import type { RefWeight } from './weights.js';

/** Scratch a matmul needs: int8 activations (>= cols), Q8_K block scales (>= cols / 256) and a Q6_K block (>= 256 floats). */
export interface MatmulScratch {
  xq: Int8Array;
  actScales: Float64Array;
  block: Float32Array;
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
  for (let t = 0; t < nTokens; t++) {
    for (let r = 0; r < rows; r++) out[t * rows + r] = floatRowDot(type, bytes, r, cols, x, t * cols, scratch.block) * scale;
  }
}
