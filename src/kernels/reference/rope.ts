// Rotary position embedding, NEOX (rotate-half) or normal (adjacent pairs), as ggml's rope with no scaling.
//
// ggml (ggml/src/ggml-cpu/ops.cpp, ggml_rope_cache_init / rotate_pairs): theta_scale = powf(base, -2.0f/n_dims);
// for pair i the angle is p * theta_scale^i, built by repeated f32 multiplication (theta *= theta_scale)
// starting from theta = (float)p; cos/sin rounded to f32. NEOX pairs (i, i + headDim/2); normal pairs
// (2i, 2i + 1). The rotation x0' = x0 cos - x1 sin, x1' = x0 sin + x1 cos is computed in double and rounded
// once to f32 (the C code rounds each product unless the compiler fuses them; the difference is an ulp).

import type { RopeStyle } from '../backend.js';

/**
 * Rotate x in place: x holds nTokens rows of nHeads * headDim; positions[t] is token t's position.
 * `cos` and `sin` are scratch of at least headDim / 2 elements.
 */
export function ropeRef(
  x: Float32Array,
  nTokens: number,
  nHeads: number,
  headDim: number,
  positions: ArrayLike<number>,
  theta: number,
  style: RopeStyle,
  cos: Float64Array,
  sin: Float64Array,
): void {
  const half = headDim / 2;
  const thetaScale = Math.fround(Math.pow(Math.fround(theta), Math.fround(-2 / headDim)));
  for (let t = 0; t < nTokens; t++) {
    let angle = Math.fround(positions[t]);
    for (let i = 0; i < half; i++) {
      cos[i] = Math.fround(Math.cos(angle));
      sin[i] = Math.fround(Math.sin(angle));
      angle = Math.fround(angle * thetaScale);
    }
    for (let h = 0; h < nHeads; h++) {
      const base = (t * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const i0 = style === 'neox' ? base + i : base + 2 * i;
        const i1 = style === 'neox' ? base + i + half : base + 2 * i + 1;
        const x0 = x[i0];
        const x1 = x[i1];
        x[i0] = x0 * cos[i] - x1 * sin[i];
        x[i1] = x0 * sin[i] + x1 * cos[i];
      }
    }
  }
}
