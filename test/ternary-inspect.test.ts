// `inspect` says which I2_S flavor or TL tiles a load would assume for a file, and why.

import { describe, expect, it } from 'vitest';
import { openGguf } from '../src/gguf/reader.js';
import type { GgufHeader } from '../src/gguf/types.js';
import { formatInspectReport } from '../src/inspect/format.js';
import { inspectGguf } from '../src/inspect/inspect.js';
import type { InspectOptions } from '../src/inspect/inspect.js';
import { flavorFile, TL1_TILES, TL2_TILES } from './helpers/flavor-files.js';
import { tinyModel } from './helpers/tiny-models.js';

async function headerOf(path: string): Promise<GgufHeader> {
  const { source, header } = await openGguf(path);
  await source.close?.();
  return header;
}

async function report(path: string, options: InspectOptions = {}): Promise<ReturnType<typeof inspectGguf>> {
  return inspectGguf(await headerOf(path), options);
}

describe('inspect: ternary layout', () => {
  it('an x86-sized file: x86 assumed, and the report says that nothing in the file tells x86 from ARM', async () => {
    const r = await report(await tinyModel('bitnet-b1.58', 'i2_s'));
    expect(r.ternaryLayouts).toHaveLength(1);
    expect(r.ternaryLayouts[0]).toMatchObject({ layout: 'I2_S x86', nTensors: 14, repacked: false, example: 'blk.0.attn_q.weight' });
    expect(r.ternaryLayouts[0]?.detail).toMatch(/assumed: .* nothing in the file tells them apart/);
    const text = formatInspectReport(r);
    expect(text).toMatch(/ternary layout\n {2}I2_S x86, 14 tensors: assumed: 16416 bytes \(n\/4 \+ 32\) fit the x86, ARM and x86-4row layouts alike/);
    const arm = await report(await tinyModel('bitnet-b1.58', 'i2_s'), { layout: { i2sFlavor: 'arm' } });
    expect(arm.ternaryLayouts[0]).toMatchObject({ layout: 'I2_S arm', repacked: true });
    expect(arm.ternaryLayouts[0]?.detail).toMatch(/set by the i2sFlavor option/);
  });

  it('qk256 and bitnet32-f16 files: detected by size; the block-scale tensors are not reported as unexpected', async () => {
    const q = await report(await flavorFile('inspect-qk256', { kind: 'i2s', flavor: 'qk256' }));
    expect(q.ternaryLayouts[0]).toMatchObject({ layout: 'I2_S qk256', nTensors: 14, repacked: true });
    expect(q.ternaryLayouts[0]?.detail).toMatch(/16384 bytes for 65536 elements are the split32 \/ qk256 size and 'blk.0.attn_q.scale' holds 256 scales, one per 256 elements: BitNet-rs GgmlQk256NoScale/);
    expect(q.warnings.filter((w) => w.code === 'UNEXPECTED_TENSOR')).toEqual([]);
    const s32 = await report(await flavorFile('inspect-split32', { kind: 'i2s', flavor: 'split32' }));
    expect(s32.ternaryLayouts[0]).toMatchObject({ layout: 'I2_S split32', nTensors: 14, repacked: true });
    expect(s32.ternaryLayouts[0]?.detail).toMatch(/'blk.0.attn_q.scale' holds 2048 scales, one per 32 elements/);
    const b = await report(await flavorFile('inspect-b32', { kind: 'i2s', flavor: 'bitnet32-f16' }));
    expect(b.ternaryLayouts[0]).toMatchObject({ layout: 'I2_S bitnet32-f16', nTensors: 14, repacked: true });
  });

  it('TL files: tiles from the config given, or a TERNARY_LAYOUT warning per tensor naming the flag', async () => {
    const path = await flavorFile('inspect-tl2', { kind: 'tl', type: 'TL2', tiles: TL2_TILES, scale: 'tensor' });
    const without = await report(path);
    expect(without.ternaryLayouts).toEqual([]);
    const layoutWarnings = without.warnings.filter((w) => w.code === 'TERNARY_LAYOUT');
    expect(layoutWarnings).toHaveLength(14);
    expect(layoutWarnings[0]?.message).toMatch(/does not record the tiles .*--tl-config.*\[UNSUPPORTED_TENSOR_TYPE\]/);
    const withTiles = await report(path, { layout: { tlTiles: TL2_TILES } });
    expect(withTiles.ternaryLayouts).toEqual([
      expect.objectContaining({ layout: 'TL2', nTensors: 14, repacked: true, example: 'blk.0.attn_q.weight' }),
    ]);
    expect(withTiles.ternaryLayouts[0]?.detail).toBe("TL2 tiles BM 128, BK 96, bm 32 from the tile config given (the file does not record them); scale 'blk.0.attn_q.weight_scale'");
    expect(withTiles.warnings.filter((w) => w.code === 'TERNARY_LAYOUT' || w.code === 'UNEXPECTED_TENSOR')).toEqual([]);
    const tl1 = await report(await flavorFile('inspect-tl1', { kind: 'tl', type: 'TL1', tiles: TL1_TILES, scale: 'inline' }), { layout: { tlTiles: TL1_TILES } });
    expect(formatInspectReport(tl1)).toMatch(/TL1, 14 tensors \(repacked to I2_S x86 at load\): TL1 tiles BM 128, BK 64, bm 32 .*; scale the f32 after the codes/);
  });
});
