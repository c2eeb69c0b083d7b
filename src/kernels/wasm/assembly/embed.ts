// Embedding lookup: one row of a weight table, dequantized to f32 (every weight format this backend stores).

import { f16ToF32 } from './common';
import { F16_PANEL_COLS, F16_PANEL_ROWS } from './matmul-f16';
import { I2S_PANEL_COLS, I2S_PANEL_ROWS } from './matmul-i2s-dot';
import { Q8_0_BLOCK_BYTES } from './matmul-q8_0';
import { Q6_K_BLOCK_BYTES } from './matmul-q6_k';
import { Q4_0_BLOCK_BYTES } from './matmul-q4_0';
import { TQ2_BLOCK_BYTES, TQ2_TILE_BLOCK_BYTES } from './matmul-tq2';

// Format ids shared with the glue (../job-layout.ts WEIGHT_FORMAT).
export const FMT_F32: u32 = 0;
export const FMT_F16: u32 = 1;
export const FMT_BF16: u32 = 2;
export const FMT_Q8_0: u32 = 3;
export const FMT_Q6_K: u32 = 4;
export const FMT_I2_S: u32 = 5;
export const FMT_TQ2_0: u32 = 6;
export const FMT_Q4_0: u32 = 7;

/**
 * out[c] = W[row, c] for c < cols. `scale` is the I2_S per-tensor scale; rows below `tiledRows` of
 * ternary formats are in the tiled layout (ternary-lut.ts), rows below `panelRows` in column panels (F16:
 * matmul-f16.ts; I2_S: matmul-i2s-dot.ts), TQ2_0 rows below `dotRows` in matmul-tq2-dot.ts's dot layout.
 */
export function embedRow(out: usize, w: usize, format: u32, cols: u32, row: u32, scale: f32, tiledRows: u32, panelRows: u32, dotRows: u32): void {
  const r = <usize>row;
  if (format == FMT_F32) {
    memory.copy(out, w + ((r * cols) << 2), <usize>cols << 2);
  } else if (format == FMT_F16) {
    if (row < panelRows) {
      // the row's piece of each panel of its group (matmul-f16.ts: byte 2 (ROWS p PANEL_COLS + i pc + c - p PANEL_COLS))
      const g = w + ((r - r % F16_PANEL_ROWS) * cols << 1);
      const i = r % F16_PANEL_ROWS;
      for (let c0: usize = 0; c0 < <usize>cols; c0 += F16_PANEL_COLS) {
        const pc = min(<usize>F16_PANEL_COLS, <usize>cols - c0);
        const piece = g + ((c0 * F16_PANEL_ROWS + i * pc) << 1);
        for (let c: usize = 0; c < pc; c++) store<f32>(out + ((c0 + c) << 2), f16ToF32(load<u16>(piece + (c << 1))));
      }
    } else {
      const wr = w + ((r * cols) << 1);
      for (let c: usize = 0; c < cols; c++) store<f32>(out + (c << 2), f16ToF32(load<u16>(wr + (c << 1))));
    }
  } else if (format == FMT_BF16) {
    const wr = w + ((r * cols) << 1);
    for (let c: usize = 0; c < cols; c++) store<f32>(out + (c << 2), reinterpret<f32>(<u32>load<u16>(wr + (c << 1)) << 16));
  } else if (format == FMT_Q8_0) {
    const nb = <usize>cols >> 5;
    const wr = w + r * nb * Q8_0_BLOCK_BYTES;
    for (let b: usize = 0; b < nb; b++) {
      const blk = wr + b * Q8_0_BLOCK_BYTES;
      const d = f16ToF32(load<u16>(blk));
      for (let i: usize = 0; i < 32; i++) store<f32>(out + ((b * 32 + i) << 2), <f32>load<i8>(blk + 2 + i) * d);
    }
  } else if (format == FMT_Q4_0) {
    const nb = <usize>cols >> 5;
    const wr = w + r * nb * Q4_0_BLOCK_BYTES;
    for (let b: usize = 0; b < nb; b++) {
      const blk = wr + b * Q4_0_BLOCK_BYTES;
      const d = f16ToF32(load<u16>(blk));
      for (let j: usize = 0; j < 16; j++) {
        const q = <i32>load<u8>(blk + 2 + j);
        store<f32>(out + ((b * 32 + j) << 2), <f32>((q & 15) - 8) * d);
        store<f32>(out + ((b * 32 + j + 16) << 2), <f32>((q >> 4) - 8) * d);
      }
    }
  } else if (format == FMT_Q6_K) {
    const nb = <usize>cols >> 8;
    const wr = w + r * nb * Q6_K_BLOCK_BYTES;
    for (let b: usize = 0; b < nb; b++) {
      const blk = wr + b * Q6_K_BLOCK_BYTES;
      const d = f16ToF32(load<u16>(blk, 208));
      for (let n: usize = 0; n < 2; n++) {
        const ql = blk + (n << 6);
        const qh = blk + 128 + (n << 5);
        const sc = blk + 192 + (n << 3);
        const y = out + ((b * 256 + n * 128) << 2);
        for (let l: usize = 0; l < 32; l++) {
          const is = l >> 4;
          const h = <i32>load<u8>(qh + l);
          const q1 = (<i32>(load<u8>(ql + l) & 15) | ((h & 3) << 4)) - 32;
          const q2 = (<i32>(load<u8>(ql + l + 32) & 15) | (((h >> 2) & 3) << 4)) - 32;
          const q3 = (<i32>(load<u8>(ql + l) >> 4) | (((h >> 4) & 3) << 4)) - 32;
          const q4 = (<i32>(load<u8>(ql + l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32;
          store<f32>(y + (l << 2), d * <f32>load<i8>(sc + is) * <f32>q1);
          store<f32>(y + ((l + 32) << 2), d * <f32>load<i8>(sc + is + 2) * <f32>q2);
          store<f32>(y + ((l + 64) << 2), d * <f32>load<i8>(sc + is + 4) * <f32>q3);
          store<f32>(y + ((l + 96) << 2), d * <f32>load<i8>(sc + is + 6) * <f32>q4);
        }
      }
    }
  } else if (format == FMT_I2_S) {
    if (row < tiledRows) {
      const tile = w + ((r & ~31) * cols >> 2);
      const lane = r & 31;
      for (let g: usize = 0; g < (<usize>cols >> 2); g++) {
        const byte = <u32>load<u8>(tile + (g << 5) + lane);
        for (let k: usize = 0; k < 4; k++) store<f32>(out + ((g * 4 + k) << 2), <f32>(<i32>((byte >> (2 * <u32>k)) & 3) - 1) * scale);
      }
    } else if (row < panelRows) {
      // the row's piece of each panel of its group (matmul-i2s-dot.ts), a row of pc columns each
      const g = w + ((r - r % I2S_PANEL_ROWS) * cols >> 2);
      const i = r % I2S_PANEL_ROWS;
      for (let c0: usize = 0; c0 < <usize>cols; c0 += I2S_PANEL_COLS) {
        const pc = min(<usize>I2S_PANEL_COLS, <usize>cols - c0);
        const piece = g + ((c0 * I2S_PANEL_ROWS + i * pc) >> 2);
        for (let c: usize = 0; c < pc; c++) {
          const code = (<u32>load<u8>(piece + ((c >> 7) << 5) + (c & 31)) >> (6 - 2 * <u32>((c >> 5) & 3))) & 3;
          store<f32>(out + ((c0 + c) << 2), <f32>(<i32>code - 1) * scale);
        }
      }
    } else {
      const e0 = r * cols;
      for (let c: usize = 0; c < cols; c++) {
        const e = e0 + c;
        const code = (<u32>load<u8>(w + ((e >> 7) << 5) + (e & 31)) >> (6 - 2 * <u32>((e >> 5) & 3))) & 3;
        store<f32>(out + (c << 2), <f32>(<i32>code - 1) * scale);
      }
    }
  } else if (format == FMT_TQ2_0) {
    const nb = <usize>cols >> 8;
    const rowBytes = nb * TQ2_BLOCK_BYTES;
    if (row < dotRows) {
      // the row's codes (fields reversed: element 32 l + p of a 128-column half at shift 6 - 2 l) and its scales
      const codes = w + r * (<usize>cols >> 2);
      const ds = w + <usize>dotRows * (<usize>cols >> 2) + (r >> 5) * (nb << 6) + ((r & 31) << 1);
      for (let b: usize = 0; b < nb; b++) {
        const d = f16ToF32(load<u16>(ds + (b << 6)));
        for (let e: usize = 0; e < 256; e++) {
          const byte = <u32>load<u8>(codes + (b << 6) + ((e >> 7) << 5) + (e & 31));
          store<f32>(out + ((b * 256 + e) << 2), <f32>(<i32>((byte >> (6 - 2 * <u32>((e >> 5) & 3))) & 3) - 1) * d);
        }
      }
    } else if (row < tiledRows) {
      const tile = w + (r & ~31) * rowBytes;
      const lane = r & 31;
      for (let b: usize = 0; b < nb; b++) {
        const tb = tile + b * TQ2_TILE_BLOCK_BYTES;
        const d = f16ToF32(load<u16>(tb + 2048 + (lane << 1)));
        for (let g: usize = 0; g < 64; g++) {
          const byte = <u32>load<u8>(tb + (g << 5) + lane);
          for (let k: usize = 0; k < 4; k++) store<f32>(out + ((b * 256 + g * 4 + k) << 2), <f32>(<i32>((byte >> (2 * <u32>k)) & 3) - 1) * d);
        }
      }
    } else {
      const wr = w + r * rowBytes;
      for (let b: usize = 0; b < nb; b++) {
        const blk = wr + b * TQ2_BLOCK_BYTES;
        const d = f16ToF32(load<u16>(blk, 64));
        for (let e: usize = 0; e < 256; e++) {
          const code = (<u32>load<u8>(blk + ((e >> 7) << 5) + (e & 31)) >> (2 * <u32>((e >> 5) & 3))) & 3;
          store<f32>(out + ((b * 256 + e) << 2), <f32>(<i32>code - 1) * d);
        }
      }
    }
  }
}
