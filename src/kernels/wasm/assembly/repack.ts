// Load-time repacks: ternary weights TQ1_0 -> TQ2_0 (in place, growing) and native -> 32-row tiled layout of the
// lookup-table kernel (in place, per tile through a scratch copy); long-row F16 and native I2_S weights to column
// panels (matmul-f16.ts, matmul-i2s-dot.ts; in place, per group of rows through a scratch copy).

import { TQ2_BLOCK_BYTES, TQ2_TILE_BLOCK_BYTES } from './matmul-tq2';
import { argPtr, argU32, ARG_COLS, ARG_SCRATCH, ARG_SCRATCH_STRIDE, ARG_W } from './job';
import { F16_PANEL_COLS, F16_PANEL_ROWS } from './matmul-f16';
import { I2S_PANEL_COLS, I2S_PANEL_ROWS } from './matmul-i2s-dot';

export const TQ1_BLOCK_BYTES: u32 = 54;

/** Trit n (0..4) of a TQ1_0 byte as a code 0..2 (ggml-quants.c dequantize_row_tq1_0: ((q * 3^n) mod 256) * 3 >> 8). */
// @ts-ignore: decorator
@inline function trit(q: u32, pow3: u32): u32 {
  return (((q * pow3) & 0xff) * 3) >> 8;
}

// @ts-ignore: decorator
@inline function putTQ2(dst: usize, e: u32, code: u32): void {
  const at = dst + ((e >> 7) << 5) + (e & 31);
  store<u8>(at, load<u8>(at) | <u8>(code << (((e >> 5) & 3) << 1)));
}

/**
 * Rewrite `nBlocks` TQ1_0 blocks at `p` (54 bytes each) as TQ2_0 blocks (66 bytes each) in place; the
 * region must hold nBlocks * 66 bytes. Works backwards (block i's TQ2_0 bytes start at or after its TQ1_0
 * bytes), copying each source block to `tmp` (54 bytes) first.
 * TQ1_0 (ggml-common.h block_tq1_0): qs[48] (5 trits per byte), qh[4] (4 trits per byte), f16 d.
 * Element order (ggml-quants.c): qs[0..31] trit n -> n*32 + m; qs[32..47] trit n -> 160 + n*16 + m;
 * qh[j] trit n -> 240 + n*4 + j.
 */
export function repackTQ1ToTQ2(p: usize, nBlocks: u32, tmp: usize): void {
  for (let i = <i32>nBlocks - 1; i >= 0; i--) {
    memory.copy(tmp, p + <usize>i * TQ1_BLOCK_BYTES, TQ1_BLOCK_BYTES);
    const dst = p + <usize>i * TQ2_BLOCK_BYTES;
    memory.fill(dst, 0, 64);
    let pow3: u32 = 1;
    for (let n: u32 = 0; n < 5; n++) {
      for (let m: u32 = 0; m < 32; m++) putTQ2(dst, n * 32 + m, trit(load<u8>(tmp + m), pow3));
      for (let m: u32 = 0; m < 16; m++) putTQ2(dst, 160 + n * 16 + m, trit(load<u8>(tmp + 32 + m), pow3));
      if (n < 4) for (let j: u32 = 0; j < 4; j++) putTQ2(dst, 240 + n * 4 + j, trit(load<u8>(tmp + 48 + j), pow3));
      pow3 *= 3;
    }
    store<u16>(dst, load<u16>(tmp, 52), 64);
  }
}

/** Four 2-bit fields at `shift` of the 4 bytes of v packed into one byte, first byte lowest. */
// @ts-ignore: decorator
@inline function pack4(v: u32, shift: u32): u32 {
  const f = (v >> shift) & 0x03030303;
  return (f & 3) | ((f >> 6) & 0xc) | ((f >> 12) & 0x30) | ((f >> 18) & 0xc0);
}

/** Job body: tiles [start/32, end/32) of an I2_S tensor to the tiled layout (needs cols % 4 == 0). */
export function tileI2SRows(job: usize, start: u32, end: u32, thread: u32): void {
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const tmp = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  const tileBytes = <usize>cols << 3; // 32 rows * cols / 4
  const nGroups = cols >> 2;
  for (let r = start; r + 32 <= end; r += 32) {
    const tile = w + <usize>r * (cols >> 2);
    memory.copy(tmp, tile, tileBytes);
    for (let row: u32 = 0; row < 32; row++) {
      const e0 = <usize>row * cols;
      for (let g: u32 = 0; g < nGroups; g++) {
        // e % 4 == 0, so elements e..e+3 share a block and a shift and sit in 4 consecutive bytes.
        const e = e0 + (<usize>g << 2);
        const v = load<u32>(tmp + ((e >> 7) << 5) + (e & 31));
        store<u8>(tile + (<usize>g << 5) + row, <u8>pack4(v, 6 - 2 * <u32>((e >> 5) & 3)));
      }
    }
  }
}

/** Job body: tiles [start/32, end/32) of a TQ2_0 tensor to the tiled layout (codes per block, then 32 f16 d). */
export function tileTQ2Rows(job: usize, start: u32, end: u32, thread: u32): void {
  const w = argPtr(job, ARG_W);
  const cols = argU32(job, ARG_COLS);
  const tmp = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  const nBlocks = cols >> 8;
  const rowBytes = <usize>nBlocks * TQ2_BLOCK_BYTES;
  for (let r = start; r + 32 <= end; r += 32) {
    const tile = w + <usize>r * rowBytes;
    memory.copy(tmp, tile, rowBytes << 5);
    for (let b: u32 = 0; b < nBlocks; b++) {
      const dstB = tile + <usize>b * TQ2_TILE_BLOCK_BYTES;
      for (let row: u32 = 0; row < 32; row++) {
        const src = tmp + <usize>row * rowBytes + <usize>b * TQ2_BLOCK_BYTES;
        for (let g: u32 = 0; g < 64; g++) {
          const k = g << 2; // first element of the group within the block
          const v = load<u32>(src + ((k >> 7) << 5) + (k & 31));
          store<u8>(dstB + (<usize>g << 5) + row, <u8>pack4(v, ((k >> 5) & 3) << 1));
        }
        store<u16>(dstB + 2048 + (<usize>row << 1), load<u16>(src, 64));
      }
    }
  }
}

/**
 * The whole groups of `groupRows` rows in [start, end) of a row-major weight (rowBytes per row) rewritten as column
 * panels: each group copied to tmp, then its rows' pieces of each panel (panelBytes each, the last one what is left
 * of the row) written back in order (matmul-f16.ts, matmul-i2s-dot.ts).
 */
// @ts-ignore: decorator
@inline function panelGroups(w: usize, rowBytes: usize, panelBytes: usize, groupRows: u32, start: u32, end: u32, tmp: usize): void {
  const groupBytes = rowBytes * groupRows;
  for (let r = start; r + groupRows <= end; r += groupRows) {
    let dst = w + <usize>r * rowBytes;
    memory.copy(tmp, dst, groupBytes);
    for (let b0: usize = 0; b0 < rowBytes; b0 += panelBytes) {
      const pieceBytes = min(panelBytes, rowBytes - b0);
      for (let i: u32 = 0; i < groupRows; i++) {
        memory.copy(dst, tmp + <usize>i * rowBytes + b0, pieceBytes);
        dst += pieceBytes;
      }
    }
  }
}

/** Job body: the F16_PANEL_ROWS-row groups in [start, end) of a row-major F16 weight to matmul-f16.ts's column panels. */
export function panelF16Rows(job: usize, start: u32, end: u32, thread: u32): void {
  const tmp = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  panelGroups(argPtr(job, ARG_W), <usize>argU32(job, ARG_COLS) << 1, <usize>F16_PANEL_COLS << 1, F16_PANEL_ROWS, start, end, tmp);
}

/** Job body: the I2S_PANEL_ROWS-row groups in [start, end) of a native I2_S weight to matmul-i2s-dot.ts's column panels. */
export function panelI2SRows(job: usize, start: u32, end: u32, thread: u32): void {
  const tmp = argPtr(job, ARG_SCRATCH) + <usize>thread * argU32(job, ARG_SCRATCH_STRIDE);
  panelGroups(argPtr(job, ARG_W), <usize>argU32(job, ARG_COLS) >> 2, <usize>I2S_PANEL_COLS >> 2, I2S_PANEL_ROWS, start, end, tmp);
}

/** The byte's four 2-bit fields in reverse order (TQ2_0's element order to I2_S's, matmul-tq2-dot.ts). */
// @ts-ignore: decorator
@inline function reverseFields(v: u32): u32 {
  return ((v & 3) << 6) | ((v & 0xc) << 2) | ((v >> 2) & 0xc) | (v >> 6);
}

/**
 * The whole 32-row tiles (dotRows rows) of a TQ2_0 weight at w (rows of cols / 256 blocks) rewritten in
 * matmul-tq2-dot.ts's dot layout, in place: the rows' code bytes (fields reversed) row after row, then the scales, 32
 * per tile and block in row order. One thread, tiles in order: tile t's codes land below its old place and over no
 * tile not yet copied; its scales wait in tmp (tile bytes, then 2 bytes per row and block) until every tile moved.
 */
export function dotLayoutTQ2(w: usize, cols: u32, dotRows: u32, tmp: usize): void {
  const nBlocks = <usize>(cols >> 8);
  const rowBytes = nBlocks * TQ2_BLOCK_BYTES;
  const codeBytes = <usize>(cols >> 2);
  const tileBytes = rowBytes << 5;
  const ds = tmp + tileBytes;
  for (let r: u32 = 0; r + 32 <= dotRows; r += 32) {
    memory.copy(tmp, w + <usize>r * rowBytes, tileBytes);
    const dt = ds + <usize>(r >> 5) * (nBlocks << 6);
    for (let i: usize = 0; i < 32; i++) {
      const src = tmp + i * rowBytes;
      const dst = w + (<usize>r + i) * codeBytes;
      for (let b: usize = 0; b < nBlocks; b++) {
        const s = src + b * TQ2_BLOCK_BYTES;
        const dd = dst + (b << 6);
        for (let m: usize = 0; m < 64; m++) store<u8>(dd + m, reverseFields(<u32>load<u8>(s + m)));
        store<u16>(dt + (b << 6) + (i << 1), load<u16>(s, 64));
      }
    }
  }
  memory.copy(w + <usize>dotRows * codeBytes, ds, <usize>dotRows * (nBlocks << 1));
}
