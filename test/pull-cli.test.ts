// `bitnet pull`, `ls`, `rm` and `-m owner/name` end to end (built dist/) against the fake hub on 127.0.0.1.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeFile, startFakeHub, type FakeHub } from './helpers/fake-hub.js';
import { tinyModel } from './helpers/tiny-models.js';
import { tempDir } from './helpers/temp-dir.js';

const bin = join(import.meta.dirname, '..', 'bin', 'bitnet.js');
let hub: FakeHub;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  hub = await startFakeHub({ 'acme/tiny': { files: [fakeFile('tiny-i2_s.gguf', new Uint8Array(readFileSync(await tinyModel('bitnet-b1.58', 'i2_s'))))] } });
  const { HF_TOKEN: _t, BITNET_OFFLINE: _o, HF_HUB_OFFLINE: _h, ...rest } = process.env;
  env = { ...rest, BITNET_CACHE_DIR: tempDir('bitnet-pull-cli-'), BITNET_HUB_URL: hub.hubUrl };
});
afterAll(async () => hub.close());

async function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [bin, ...args], { env: { ...env, ...extraEnv } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe('bitnet pull / ls / rm / -m owner/name', () => {
  it('-m owner/name is looked up in the cache only; pull downloads with a progress line; then -m runs from the cache', async () => {
    const missing = await cli(['run', '-m', 'acme/tiny', '-n', '1', '--backend', 'reference']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("[NOT_CACHED]: -m acme/tiny: no such file, and not in the model cache");
    expect(missing.stderr).toContain("run 'bitnet pull acme/tiny' first, or add --pull");
    expect(hub.requests).toEqual([]);

    const offline = await cli(['pull', 'acme/tiny'], { BITNET_OFFLINE: '1' });
    expect(offline.code).toBe(1);
    expect(offline.stderr).toContain('NOT_CACHED');
    expect(hub.requests).toEqual([]);

    const pulled = await cli(['pull', 'acme/tiny']);
    expect(pulled.code).toBe(0);
    expect(pulled.stderr).toMatch(/\] 100\.0% .* ETA /);
    expect(pulled.stderr).toContain('(verified against the hub)');
    const path = pulled.stdout.trim();
    expect(path.endsWith(join('hub', 'acme', 'tiny', 'tiny-i2_s.gguf'))).toBe(true);

    const ls = await cli(['ls']);
    expect(ls.stdout).toContain('acme/tiny:tiny-i2_s.gguf');
    expect(ls.stdout).toContain('sha256 verified');

    const run = await cli(['run', '-m', 'acme/tiny', '-n', '2', '--temp', '0', '--backend', 'reference'], { BITNET_OFFLINE: '1' });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('-m acme/tiny: the cached acme/tiny:tiny-i2_s.gguf');

    const rm = await cli(['rm', 'acme/tiny']);
    expect(rm.stdout).toContain('removed acme/tiny:tiny-i2_s.gguf');
    expect((await cli(['ls'])).stdout).toContain('no pulled models');
    expect((await cli(['rm', 'acme/tiny'])).code).toBe(1);
  });

  it('--pull downloads a missing -m owner/name before loading it', async () => {
    const r = await cli(['run', '-m', 'acme/tiny', '--pull', '-n', '1', '--temp', '0', '--backend', 'reference']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('not in the model cache; pulling it (--pull)');
    expect(r.stderr).toMatch(/loaded \S*hub\/acme\/tiny\/tiny-i2_s\.gguf: bitnet-b1\.58/);
  });
});
