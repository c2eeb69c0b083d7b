// Rewrites a synthetic x86 I2_S model with the same ternary weights in another I2_S flavor or as TL1 / TL2, laid out
// the way each flavor's writer does (the packers in src/formats, whose bytes the format tests check by hand).

import { join } from 'node:path';
import { GgmlType } from '../../src/formats/ggml-type.js';
import { quantizeF32 } from '../../src/formats/f32.js';
import { packI2sFlavor } from '../../src/formats/i2s-flavors.js';
import type { I2sFlavor } from '../../src/formats/i2s-flavors.js';
import { i2sScale, unpackI2s } from '../../src/formats/i2s.js';
import { findTlTiles, packTl, tlInlineScaleOffset } from '../../src/formats/tl.js';
import type { TlTiles, TlType } from '../../src/formats/tl.js';
import { openGguf, readTensorData } from '../../src/gguf/reader.js';
import { writeGgufFile } from '../../src/gguf/writer.js';
import type { GgufWriteTensor } from '../../src/gguf/writer.js';
import { tinyModel } from './tiny-models.js';
import { tempDir } from './temp-dir.js';

/** Where flavorFile writes. */
export const flavorDir = tempDir('bitnet-flavors-');

export type FlavorTarget =
  | { readonly kind: 'i2s'; readonly flavor: I2sFlavor; /** qk256: name of the block-scale tensor (default '<base>.scale'). */ readonly scaleSuffix?: string }
  /** scale 'tensor': '<name>_scale' as a 0-d F32 (bitnet.cpp's converter); 'inline': f32 after the codes (ggml_nbytes copies). */
  | { readonly kind: 'tl'; readonly type: TlType; readonly tiles: readonly TlTiles[]; readonly scale: 'tensor' | 'inline' };

/** Copies `from` (an x86 I2_S file) to `to` with every I2_S tensor rewritten for `target`. */
export async function writeFlavorFile(from: string, to: string, target: FlavorTarget): Promise<void> {
  const { source, header } = await openGguf(from);
  try {
    const tensors: GgufWriteTensor[] = [];
    for (const t of header.tensors) {
      const bytes = new Uint8Array(t.byteSize);
      await readTensorData(source, t, bytes);
      if (t.type !== GgmlType.I2_S) {
        tensors.push({ name: t.name, dims: t.dims, type: t.type, data: bytes });
        continue;
      }
      const [k = 0, m = 1] = t.dims;
      const codes = unpackI2s(bytes, t.nElements);
      const scale = i2sScale(bytes, t.nElements);
      if (target.kind === 'i2s') {
        const packed = packI2sFlavor(target.flavor, codes, scale, k);
        tensors.push({ name: t.name, dims: t.dims, type: GgmlType.I2_S, data: packed.bytes, byteSize: packed.bytes.length });
        if (packed.blockScales !== undefined) {
          const scaleName = t.name.replace(/\.weight$/, target.scaleSuffix ?? '.scale');
          tensors.push({ name: scaleName, dims: [packed.blockScales.length], type: GgmlType.F32, data: quantizeF32(packed.blockScales) });
        }
        continue;
      }
      const tiles = findTlTiles(target.tiles, m, k);
      if (tiles === undefined) throw new Error(`test tiles lack ${m} x ${k}`);
      const packed = packTl(target.type, codes, m, k, tiles);
      if (target.scale === 'tensor') {
        tensors.push({ name: t.name, dims: t.dims, type: target.type === 'TL1' ? GgmlType.TL1 : GgmlType.TL2, data: packed, byteSize: packed.length });
        tensors.push({ name: `${t.name}_scale`, dims: [], type: GgmlType.F32, data: quantizeF32(new Float32Array([scale])) });
      } else {
        const at = tlInlineScaleOffset(target.type, m, k);
        const withScale = new Uint8Array(at + 32);
        withScale.set(packed);
        new DataView(withScale.buffer).setFloat32(at, scale, true);
        tensors.push({ name: t.name, dims: t.dims, type: target.type === 'TL1' ? GgmlType.TL1 : GgmlType.TL2, data: withScale, byteSize: withScale.length });
      }
    }
    await writeGgufFile(to, { version: header.version, alignment: header.alignment, metadata: header.metadata, tensors });
  } finally {
    await source.close?.();
  }
}

// Tiles for the tiny shape's four weight shapes (m x k: q/o 256 x 256, k/v 128 x 256, gate/up 512 x 256, down
// 256 x 512), mixing BM, BK and bm; as kernel_config.ini text for TL1 and as sections for TL2.
export const TL1_INI = [
  [256, 256, 128, 64, 32],
  [128, 256, 64, 128, 64],
  [512, 256, 256, 256, 32],
  [256, 512, 256, 128, 64],
]
  .map(([m, k, bm, bk, bmm], i) => `[Kernels_${i}]\nm = ${m}\nk = ${k}\nbm = ${bm}\nbk = ${bk}\nbmm = ${bmm}\n`)
  .join('\n');
export const TL1_TILES = [
  { m: 256, k: 256, bm: 128, bk: 64, bmm: 32 },
  { m: 128, k: 256, bm: 64, bk: 128, bmm: 64 },
  { m: 512, k: 256, bm: 256, bk: 256, bmm: 32 },
  { m: 256, k: 512, bm: 256, bk: 128, bmm: 64 },
];
export const TL2_TILES = [
  { m: 256, k: 256, bm: 128, bk: 96, bmm: 32 },
  { m: 128, k: 256, bm: 64, bk: 192, bmm: 32 },
  { m: 512, k: 256, bm: 256, bk: 96, bmm: 32 },
  { m: 256, k: 512, bm: 32, bk: 240, bmm: 32 },
];

const made = new Map<string, Promise<string>>();
/** A tiny bitnet-b1.58 model (the x86 I2_S one of tinyModel) rewritten for `target`, made once per name. */
export function flavorFile(name: string, target: FlavorTarget): Promise<string> {
  let p = made.get(name);
  if (p === undefined) {
    const path = join(flavorDir, `${name.replace(/[^\w.-]+/g, '_')}.gguf`);
    p = tinyModel('bitnet-b1.58', 'i2_s').then(async (x86) => {
      await writeFlavorFile(x86, path, target);
      return path;
    });
    made.set(name, p);
  }
  return p;
}

