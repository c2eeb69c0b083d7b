// Tests of where the peer engine (node-llama-cpp) is looked for: tools/peer/ of the repository, installed or not.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PEER_INSTALL_HINT, PEER_VERSION, peerDir, peerInstalled } from './peer-llama.js';
import { tempDir } from '../../test/helpers/temp-dir.js';

describe('peer engine location', () => {
  it('is tools/peer/ of the repository, whose package.json pins the version the types mirror', () => {
    const dir = peerDir();
    expect(dir).toBe(resolve(import.meta.dirname, '..', '..', 'tools', 'peer'));
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['node-llama-cpp']).toBe(PEER_VERSION);
    const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
    expect(lock.packages['node_modules/node-llama-cpp']?.version).toBe(PEER_VERSION);
    expect(PEER_INSTALL_HINT).toContain('npm run peer:install');
  });

  it('counts as installed only when node_modules/node-llama-cpp/package.json is there', () => {
    const dir = tempDir('bitnet-peer-');
    expect(peerInstalled(dir)).toBe(false);
    mkdirSync(join(dir, 'node_modules', 'node-llama-cpp'), { recursive: true });
    expect(peerInstalled(dir)).toBe(false);
    writeFileSync(join(dir, 'node_modules', 'node-llama-cpp', 'package.json'), '{}');
    expect(peerInstalled(dir)).toBe(true);
  });

  it('is not a dependency of the package', () => {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies']) expect(pkg[field]?.['node-llama-cpp']).toBeUndefined();
  });
});
