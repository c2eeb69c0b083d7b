// Multi-token matmul for F16 weights (the F16 tied embedding / output of the published BitNet b1.58 2B-4T) when a
// batched decode step wants several logits rows: each 64-column chunk of a row is converted to f32 once, into
// per-thread scratch, and every token's dot reads it from L1 instead of converting the F16 weights again.
//
// Why: with 8 tokens the output matmul is compute bound; the per-row kernel (matmul-f16.ts) spends 3 of its 5
// instructions per 4 weights and token on the conversion (a load, a shift, a mask). Here a token costs a load of the
// converted weights, a load of x and the multiply-add.
//
// Only the fast path (every weight finite: x rounded to F16 and pre-scaled by 2^112, weights as f32 bits worth
// w * 2^-112) is here; weights with Inf / NaN stay on the per-row kernel's exact path. The activations come in
// matmul-f16.ts's layout (quantize-activations.ts roundActivationsF16: in the whole 64-column chunks each group of 8
// columns even columns first), so the converted weights are stored in the same layout (the even / odd split of one
// 16-byte load, as matmul-f16.ts does it). Results are bit-identical to matmul-f16.ts's fast path for every
// (row, token) — wasm.test.ts compares them, matmul-f16.test.ts checks both against a scalar model of the order: per 64-column chunk four f32x4 accumulators e0, o0, e1, o1 take the
// even / odd columns of each 16-column group's two halves (every product exact, so relaxed SIMD's madd and
// mul-then-add give the same bits), the same shuffles as matmul-f16.ts rowChunks rebuild the natural-order sums, and
// (a0 + a1) + (a2 + a3) is added to an f64x2 with addF32x4ToF64x2; then the columns past the last whole chunk four
// at a time, then one at a time in f64, then the listed subnormal weights (f16-subnormals.ts), then f32(sum * scale).

import { addF32x4ToF64x2, f16ScaledDown, hsumF64 } from './common';
import { addChunkSums, evenW, F16_PANEL_COLS, F16_PANEL_ROWS, oddW, subExtra } from './matmul-f16';
import { C_F16_BITS, vconst } from './constants';
import {
  argF64, argPtr, argU32, ARG_COLS, ARG_N_TOKENS, ARG_OUT, ARG_OUT_STRIDE, ARG_SCALE, ARG_SCRATCH, ARG_SCRATCH_STRIDE, ARG_SUB_COLS,
  ARG_SUB_ROWS, ARG_SUB_VALUES, ARG_PANEL_ROWS, ARG_VARIANT, ARG_W, ARG_X, ARG_X_STRIDE,
} from './job';

/** The fast path's scale of the listed subnormal weights' products (matmul-f16.ts: weights read as w * 2^-112). */
const F16_SUB_SCALE: f64 = 1.925929944387236e-34; // 2^-112

/** Per-thread scratch: one 64-column chunk of a row converted to f32 (256 bytes). */
export const GEMM_F16_SCRATCH_BYTES: u32 = 256;

/** Four F16 weights at wp as f32 bits worth w * 2^-112 (exact for finite normal weights; subnormals are listed apart). */
// @ts-ignore: decorator
@inline function weights4(wp: usize, bits: v128): v128 {
  return v128.and(i32x4.shl(v128.load16x4_s(wp), 13), bits);
}


/** acc + w * x (four lanes; the product is exact, so one rounding either way). */
// @ts-ignore: decorator
@inline function madd(acc: v128, w: v128, x: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(w, x, acc);
  return f32x4.add(acc, f32x4.mul(w, x));
}

/**
 * One token's chunk: the converted weights at wc (64 f32), activations at xp; returns acc + the chunk's sum (the sums
 * of matmul-f16.ts rowChunks). The four 16-column groups are written out, each its own basic block behind an exit
 * test that never fires (xp points into the activations, never into this thread's scratch at wc; matmul-f16.ts says
 * why), and the first group multiplies (rowChunks: the same values as adding to zeroed accumulators).
 */
// @ts-ignore: decorator
@inline function chunkDot(wc: usize, xp: usize, acc: v128): v128 {
  let e0 = f32x4.mul(v128.load(wc), v128.load(xp));
  let o0 = f32x4.mul(v128.load(wc, 16), v128.load(xp, 16));
  let e1 = f32x4.mul(v128.load(wc, 32), v128.load(xp, 32));
  let o1 = f32x4.mul(v128.load(wc, 48), v128.load(xp, 48));
  do {
    if (xp == wc) break;
    e0 = madd(e0, v128.load(wc, 64), v128.load(xp, 64));
    o0 = madd(o0, v128.load(wc, 80), v128.load(xp, 80));
    e1 = madd(e1, v128.load(wc, 96), v128.load(xp, 96));
    o1 = madd(o1, v128.load(wc, 112), v128.load(xp, 112));
    if (xp == wc + 64) break;
    e0 = madd(e0, v128.load(wc, 128), v128.load(xp, 128));
    o0 = madd(o0, v128.load(wc, 144), v128.load(xp, 144));
    e1 = madd(e1, v128.load(wc, 160), v128.load(xp, 160));
    o1 = madd(o1, v128.load(wc, 176), v128.load(xp, 176));
    if (xp == wc + 128) break;
    e0 = madd(e0, v128.load(wc, 192), v128.load(xp, 192));
    o0 = madd(o0, v128.load(wc, 208), v128.load(xp, 208));
    e1 = madd(e1, v128.load(wc, 224), v128.load(xp, 224));
    o1 = madd(o1, v128.load(wc, 240), v128.load(xp, 240));
  } while (false);
  return addChunkSums(acc, e0, o0, e1, o1);
}

/**
 * chunkDot for two tokens (activations at xp and xq) sharing each load of the converted weights: 8 accumulators, one
 * weight and one activation vector live; each token's sums as chunkDot's (the same bits), added to the f64x2
 * accumulators at ap and ap + 16. Per chunk and two tokens 16 weight loads instead of 32. Taken where ARG_VARIANT
 * is 2 (the glue sets it for every multi-token F16 job). Measured on an Intel Xeon, 16384x2560, 1 thread, CPU ms,
 * the previous build against this one in one process (alternating, medians of 7), 6 / 8 / 16 tokens: Node 24 29.8 /
 * 37.1 / 68.7 -> 24.5 / 32.8 / 56.6; Node 22 25.2 / 33.1 / 57.9 -> 23.9 / 29.6 / 51.9; Node 20 (simd128) 28.2 / 35.5
 * / 63.7 -> 25.3 / 32.4 / 56.1. The same pairing with the flag a compile-time constant (always on) ran 5-9% slower
 * than one token at a time under Node 20 and 22 (and 1.15-1.25x faster under Node 24): V8's code for the two differed.
 */
// @ts-ignore: decorator
@inline function chunkDot2(wc: usize, xp: usize, xq: usize, ap: usize): void {
  let w = v128.load(wc);
  let e0 = f32x4.mul(w, v128.load(xp));
  let f0 = f32x4.mul(w, v128.load(xq));
  w = v128.load(wc, 16);
  let o0 = f32x4.mul(w, v128.load(xp, 16));
  let p0 = f32x4.mul(w, v128.load(xq, 16));
  w = v128.load(wc, 32);
  let e1 = f32x4.mul(w, v128.load(xp, 32));
  let f1 = f32x4.mul(w, v128.load(xq, 32));
  w = v128.load(wc, 48);
  let o1 = f32x4.mul(w, v128.load(xp, 48));
  let p1 = f32x4.mul(w, v128.load(xq, 48));
  do {
    if (xp == wc) break; // never taken (chunkDot)
    w = v128.load(wc, 64);
    e0 = madd(e0, w, v128.load(xp, 64));
    f0 = madd(f0, w, v128.load(xq, 64));
    w = v128.load(wc, 80);
    o0 = madd(o0, w, v128.load(xp, 80));
    p0 = madd(p0, w, v128.load(xq, 80));
    if (xp == wc + 32) break;
    w = v128.load(wc, 96);
    e1 = madd(e1, w, v128.load(xp, 96));
    f1 = madd(f1, w, v128.load(xq, 96));
    w = v128.load(wc, 112);
    o1 = madd(o1, w, v128.load(xp, 112));
    p1 = madd(p1, w, v128.load(xq, 112));
    if (xp == wc + 64) break;
    w = v128.load(wc, 128);
    e0 = madd(e0, w, v128.load(xp, 128));
    f0 = madd(f0, w, v128.load(xq, 128));
    w = v128.load(wc, 144);
    o0 = madd(o0, w, v128.load(xp, 144));
    p0 = madd(p0, w, v128.load(xq, 144));
    if (xp == wc + 96) break;
    w = v128.load(wc, 160);
    e1 = madd(e1, w, v128.load(xp, 160));
    f1 = madd(f1, w, v128.load(xq, 160));
    w = v128.load(wc, 176);
    o1 = madd(o1, w, v128.load(xp, 176));
    p1 = madd(p1, w, v128.load(xq, 176));
    if (xp == wc + 128) break;
    w = v128.load(wc, 192);
    e0 = madd(e0, w, v128.load(xp, 192));
    f0 = madd(f0, w, v128.load(xq, 192));
    w = v128.load(wc, 208);
    o0 = madd(o0, w, v128.load(xp, 208));
    p0 = madd(p0, w, v128.load(xq, 208));
    if (xp == wc + 160) break;
    w = v128.load(wc, 224);
    e1 = madd(e1, w, v128.load(xp, 224));
    f1 = madd(f1, w, v128.load(xq, 224));
    w = v128.load(wc, 240);
    o1 = madd(o1, w, v128.load(xp, 240));
    p1 = madd(p1, w, v128.load(xq, 240));
  } while (false);
  v128.store(ap, addChunkSums(v128.load(ap), e0, o0, e1, o1));
  v128.store(ap, addChunkSums(v128.load(ap, 16), f0, p0, f1, p1), 16);
}

/**
 * Job body (fast path only, see above): rows [start, end) for every token, rows outer. Per row and 64-column chunk
 * the weights are converted once into scratch; each token's f64x2 accumulator lives in the output slot's place in
 * scratch (one per token, after the chunk), so the token loop is a run-time loop with no state in registers.
 */
export function gemmF16Rows(job: usize, start: u32, end: u32, thread: u32): void {
  const out = argPtr(job, ARG_OUT);
  const outStride = <usize>argU32(job, ARG_OUT_STRIDE);
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const x = argPtr(job, ARG_X);
  const xStride = <usize>argU32(job, ARG_X_STRIDE);
  const nTokens = argU32(job, ARG_N_TOKENS);
  const scale = argF64(job, ARG_SCALE);
  const subRows = argPtr(job, ARG_SUB_ROWS);
  const subCols = argPtr(job, ARG_SUB_COLS);
  const subValues = argPtr(job, ARG_SUB_VALUES);
  const bits = vconst(C_F16_BITS);
  const wc = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  const accs = wc + GEMM_F16_SCRATCH_BYTES; // nTokens f64x2 accumulators
  const accEnd = accs + (<usize>nTokens << 4);
  const rowBytes = <usize>cols << 1;
  const whole = cols & ~63;
  const zero = f64x2.splat(0);
  const panelRows = argU32(job, ARG_PANEL_ROWS); // rows in matmul-f16.ts's column-panel layout (whole = cols there)
  const groupBytes = <usize>cols * F16_PANEL_ROWS * 2;
  const pairs = argU32(job, ARG_VARIANT) == 2; // tokens two at a time (chunkDot2)
  for (let r = start; r < end; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let ap = accs; ap < accEnd; ap += 16) v128.store(ap, zero);
    const panel = r < panelRows;
    const g = w + <usize>(r / F16_PANEL_ROWS) * groupBytes;
    const i = <usize>(r % F16_PANEL_ROWS);
    for (let c0: u32 = 0; c0 < whole; ) {
      // the row's next piece: one panel (its width pc) in the panel layout, else the whole row
      const pc = panel ? min(F16_PANEL_COLS, whole - c0) : whole;
      let wp = panel ? g + ((<usize>c0 * F16_PANEL_ROWS + i * pc) << 1) : wr;
      const pieceEnd = c0 + pc;
      for (let c = c0; c < pieceEnd; c += 64) {
        for (let k: usize = 0; k < 256; k += 64) {
          // 16 columns: the even and odd columns of each 8, as the activations are laid out
          const h0 = v128.load(wp + (k >> 1));
          const h1 = v128.load(wp + (k >> 1) + 16);
          v128.store(wc + k, evenW<f32>(h0, bits));
          v128.store(wc + k, oddW<f32>(h0, bits), 16);
          v128.store(wc + k, evenW<f32>(h1, bits), 32);
          v128.store(wc + k, oddW<f32>(h1, bits), 48);
        }
        wp += 128;
        let xp = x + (<usize>c << 2);
        let ap = accs;
        if (pairs) {
          for (; ap + 16 < accEnd; ap += 32) {
            chunkDot2(wc, xp, xp + xStride, ap);
            xp += xStride << 1;
          }
        }
        for (; ap < accEnd; ap += 16) {
          v128.store(ap, chunkDot(wc, xp, v128.load(ap)));
          xp += xStride;
        }
      }
      c0 = pieceEnd;
    }
    // per token: the columns past the last whole chunk (matmul-f16.ts rowTail), the listed subnormals, the scale
    for (let t: u32 = 0; t < nTokens; t++) {
      const xt = x + <usize>t * xStride;
      let acc = v128.load(accs + (<usize>t << 4));
      let c = whole;
      for (; c + 4 <= cols; c += 4) acc = addF32x4ToF64x2(acc, f32x4.mul(weights4(wr + (<usize>c << 1), bits), v128.load(xt + (<usize>c << 2))));
      let sum = hsumF64(acc);
      for (; c < cols; c++) sum += <f64>(f16ScaledDown(<i32>load<i16>(wr + (<usize>c << 1))) * load<f32>(xt + (<usize>c << 2)));
      sum += subExtra(subRows, subCols, subValues, r, xt, F16_SUB_SCALE, whole);
      store<f32>(out + ((<usize>t * outStride + r) << 2), <f32>(sum * scale));
    }
  }
}
