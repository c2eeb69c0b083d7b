// A start-up self-check of a compute backend against the scalar reference: one ternary matmul (I2_S, the format of
// BitNet b1.58 2B-4T files) and one RMSNorm on a few tokens, compared value by value. `auto` runs it before it trusts
// a GPU: a driver that miscompiles a shader or mishandles a buffer is caught here instead of producing wrong text.

import { GgmlType } from '../formats/ggml-type.js';
import { packI2s } from '../formats/i2s.js';
import type { KernelBackend, Tensor } from './backend.js';
import { createReferenceBackend } from './reference/index.js';

/** Shape of the check: rows of the I2_S weight, its row length (a multiple of the 128-value I2_S block) and tokens. */
const ROWS = 24;
const COLS = 512;
const N_TOKENS = 3;
/**
 * Relative tolerance. The matmul is integer dot products times float scales, exact up to float rounding order
 * (the conformance suite allows 1e-6); RMSNorm sums in another order on a GPU (conformance: 1e-5). A broken kernel
 * is off by far more.
 */
const REL_TOL = 1e-4;

/** Deterministic values without a random generator: codes in {-1, 0, 1}, activations in about [-2, 2]. */
function inputs(): { codes: Int8Array; x: Float32Array; norm: Float32Array } {
  const codes = new Int8Array(ROWS * COLS).map((_, i) => (((i * 7919 + 13) % 3) - 1));
  const x = new Float32Array(N_TOKENS * COLS).map((_, i) => 2 * Math.sin(i * 0.37 + 0.1));
  const norm = new Float32Array(COLS).map((_, i) => 0.5 + ((i * 31) % 17) / 16);
  return { codes, x, norm };
}

/** Runs the two ops on `be`; returns the matmul output then the RMSNorm output. */
async function run(be: KernelBackend): Promise<Float32Array[]> {
  const { codes, x, norm } = inputs();
  const bytes = packI2s(codes, 0.75, COLS);
  const { weight, target } = be.createWeight({ name: 'self-check.i2_s', type: GgmlType.I2_S, dims: [COLS, ROWS], byteSize: bytes.length });
  target.set(bytes);
  be.prepareWeight(weight);
  const alloc = (src: Float32Array): Tensor => {
    const t = be.alloc(src.length);
    be.write(t, src);
    return t;
  };
  const xt = alloc(x);
  const nt = alloc(norm);
  const mm = be.alloc(N_TOKENS * ROWS);
  const rn = be.alloc(N_TOKENS * COLS);
  be.beginStep();
  be.matmul(mm, weight, xt, N_TOKENS);
  be.rmsnorm(rn, xt, nt, N_TOKENS, COLS, 1e-5);
  await be.endStep();
  return [await be.read(mm, 0, N_TOKENS * ROWS), await be.read(rn, 0, N_TOKENS * COLS)];
}

/**
 * '' when `be` computes the check like the reference backend does, else what differed (op, index, both values).
 * An exception from the backend is reported the same way (it is not thrown).
 */
export async function selfCheckAgainstReference(be: KernelBackend): Promise<string> {
  const ref = createReferenceBackend();
  try {
    const want = await run(ref);
    let got: Float32Array[];
    try {
      got = await run(be);
    } catch (e) {
      return `the check failed to run: ${e instanceof Error ? e.message : String(e)}`;
    }
    const names = ['matmul i2_s', 'rmsnorm'];
    for (let k = 0; k < want.length; k++) {
      const w = want[k];
      const g = got[k];
      let scale = 0;
      for (const v of w) scale = Math.max(scale, Math.abs(v));
      for (let i = 0; i < w.length; i++) {
        if (!(Math.abs(g[i] - w[i]) <= REL_TOL * scale)) return `${names[k]} differs at ${i}: reference ${w[i]}, backend ${g[i]}`;
      }
    }
    return '';
  } finally {
    await ref.dispose();
  }
}
