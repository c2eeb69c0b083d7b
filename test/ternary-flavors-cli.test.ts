// The CLI (built dist/) with --i2s-flavor and --tl-config: checked before any load, shown by inspect, and a TL1 file
// run with its tiles continues exactly as the x86 I2_S file of the same weights.

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { flavorDir, flavorFile, TL1_INI, TL1_TILES } from './helpers/flavor-files.js';
import { tinyModel } from './helpers/tiny-models.js';

const bin = join(import.meta.dirname, '..', 'bin', 'bitnet.js');

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [bin, ...args]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe('bitnet --i2s-flavor / --tl-config', () => {
  it('bad values are refused before the model is read, naming the flag', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const flavor = await cli(['run', '-m', model, '-p', 'Hi', '-n', '1', '--i2s-flavor', 'arm64']);
    expect(flavor.code).not.toBe(0);
    expect(flavor.stderr).toMatch(/--i2s-flavor: expected one of auto, x86, arm, x86-4row, bitnet32-f16, split32, qk256, got 'arm64'/);
    const badIni = join(flavorDir, 'bad.ini');
    writeFileSync(badIni, '[Kernels_0]\nm = 256\nbm = wide\n');
    const tl = await cli(['inspect', model, '--tl-config', badIni]);
    expect(tl.code).not.toBe(0);
    expect(tl.stderr).toMatch(/--tl-config .*bad\.ini: kernel config line 3/);
    const missing = await cli(['run', '-m', model, '-p', 'Hi', '-n', '1', '--tl-config', join(flavorDir, 'none.ini')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/tl-config/);
  });

  it('inspect shows the assumed flavor, and the tiles of a TL1 file from --tl-config', async () => {
    const x86 = await cli(['inspect', await tinyModel('bitnet-b1.58', 'i2_s')]);
    expect(x86.code).toBe(0);
    expect(x86.stdout).toMatch(/ternary layout\n {2}I2_S x86, 14 tensors: assumed: /);
    const arm = await cli(['inspect', await tinyModel('bitnet-b1.58', 'i2_s'), '--i2s-flavor', 'arm']);
    expect(arm.stdout).toMatch(/I2_S arm, 14 tensors \(repacked to I2_S x86 at load\): set by the i2sFlavor option/);
    const tl1 = await flavorFile('cli-tl1', { kind: 'tl', type: 'TL1', tiles: TL1_TILES, scale: 'tensor' });
    const ini = join(flavorDir, 'tiny-tl1.ini');
    writeFileSync(ini, TL1_INI);
    const withTiles = await cli(['inspect', tl1, '--tl-config', ini, '--json']);
    expect(withTiles.code).toBe(0);
    const report = JSON.parse(withTiles.stdout) as { ternaryLayouts: { layout: string; nTensors: number; detail: string }[] };
    expect(report.ternaryLayouts).toEqual([expect.objectContaining({ layout: 'TL1', nTensors: 14 })]);
    expect(report.ternaryLayouts[0]?.detail).toMatch(/from the tile config given/);
    const without = await cli(['inspect', tl1]);
    expect(without.stdout).toMatch(/\[TERNARY_LAYOUT\] TL1 tensor 'blk\.0\.attn_q\.weight' \(256 x 256\): the file does not record the tiles/);
  });

  it('run on the TL1 file with --tl-config gives the greedy continuation of the x86 file', async () => {
    const tl1 = await flavorFile('cli-tl1', { kind: 'tl', type: 'TL1', tiles: TL1_TILES, scale: 'tensor' });
    const ini = join(flavorDir, 'tiny-tl1-run.ini');
    writeFileSync(ini, TL1_INI);
    const args = ['-p', 'Hello there', '-n', '6', '--temp', '0', '--backend', 'reference'];
    const a = await cli(['run', '-m', await tinyModel('bitnet-b1.58', 'i2_s'), ...args]);
    const b = await cli(['run', '-m', tl1, '--tl-config', ini, ...args]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(a.stdout.length).toBeGreaterThan('Hello there'.length);
    expect(b.stdout).toBe(a.stdout);
  });
});
