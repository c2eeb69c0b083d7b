// Tests of the package.json lookup behind `bitnet --version` and the peer engine's location: from the repository and from an installed layout.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBitNetError } from './errors.js';
import { ENGINE_VERSION } from './engine/receipt.js';
import { findPackage, PACKAGE_NAME } from './package-info.js';
import { tempDir } from '../test/helpers/temp-dir.js';

const repoRoot = resolve(import.meta.dirname, '..');

describe('findPackage', () => {
  it('finds the repository root and its package.json from src/', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string };
    expect(pkg.name).toBe(PACKAGE_NAME);
    expect(findPackage()).toEqual({ root: repoRoot, name: pkg.name, version: pkg.version });
  });

  it('the engine version in receipts is the package version (the browser-safe engine cannot read package.json)', () => {
    expect(ENGINE_VERSION).toBe(findPackage().version);
  });

  it('finds an installed copy (node_modules/bitnet-engine/dist/src/cli) and skips other package.json files on the way', () => {
    const top = tempDir('bitnet-pkginfo-');
    writeFileSync(join(top, 'package.json'), JSON.stringify({ name: 'someones-app', version: '9.9.9' }));
    const installed = join(top, 'node_modules', PACKAGE_NAME);
    const cliDir = join(installed, 'dist', 'src', 'cli');
    mkdirSync(cliDir, { recursive: true });
    writeFileSync(join(installed, 'package.json'), JSON.stringify({ name: PACKAGE_NAME, version: '1.2.3-test' }));
    writeFileSync(join(installed, 'dist', 'package.json'), '{ not json'); // a stray file is not ours: keep walking
    expect(findPackage(cliDir)).toEqual({ root: installed, name: PACKAGE_NAME, version: '1.2.3-test' });
  });

  it('fails with a coded error when no package.json above has the name', () => {
    const top = tempDir('bitnet-pkginfo-');
    writeFileSync(join(top, 'package.json'), JSON.stringify({ name: 'bitnet', version: '0.0.0' }));
    let caught: unknown;
    try {
      findPackage(top);
    } catch (e) {
      caught = e;
    }
    expect(isBitNetError(caught, 'INTERNAL')).toBe(true);
  });
});
