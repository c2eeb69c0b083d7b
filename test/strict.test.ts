// Strict mode: every fallback the engine would take silently becomes a STRICT_VIOLATION (CLI exit 8).

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import { isBitNetError } from '../src/errors.js';
import { gv } from '../src/gguf/metadata.js';
import { rewriteModel } from './helpers/rewrite-model.js';
import { tinyModel } from './helpers/tiny-models.js';
import { tempDir } from './helpers/temp-dir.js';

const dir = tempDir('bitnet-strict-');

async function modelWithRopeScaling(): Promise<string> {
  const path = join(dir, 'rope-scaling.gguf');
  await rewriteModel(await tinyModel('bitnet-b1.58', 'i2_s'), path, (meta) => [...meta, ['bitnet-b1.58.rope.scaling.factor', gv.f32(2)]]);
  return path;
}

describe('strict mode', () => {
  it('an unimplemented semantic metadata key is a recorded fallback, and a strict load refuses it', async () => {
    const path = await modelWithRopeScaling();
    const lax = await BitNet.load(path, { backend: 'reference' });
    try {
      expect(lax.fallbacks.some((f) => f.includes('rope.scaling.factor'))).toBe(true);
    } finally {
      await lax.dispose();
    }
    const err = await BitNet.load(path, { backend: 'reference', strict: true }).then(() => undefined, (e: unknown) => e);
    expect(isBitNetError(err, 'STRICT_VIOLATION')).toBe(true);
    expect((err as Error).message).toMatch(/rope\.scaling\.factor/);
  });

  it('a clean model loads in strict mode with no fallbacks', async () => {
    const model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference', strict: true });
    try {
      expect(model.fallbacks).toEqual([]);
    } finally {
      await model.dispose();
    }
  });

  it('the CLI exits with code 8 and names the policy (flag and BITNET_STRICT=1)', async () => {
    const path = await modelWithRopeScaling();
    const bin = join(import.meta.dirname, '..', 'bin', 'bitnet.js');
    for (const [args, env] of [
      [['run', '-m', path, '-n', '1', '--strict', '--backend', 'reference'], {}],
      [['run', '-m', path, '-n', '1', '--backend', 'reference'], { BITNET_STRICT: '1' }],
    ] as const) {
      const r = await promisify(execFile)(process.execPath, [bin, ...args], { env: { ...process.env, ...env } }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(r.code).toBe(8);
      expect(r.stderr).toMatch(/STRICT_VIOLATION/);
      expect(r.stderr).toMatch(/rope\.scaling\.factor/);
    }
  });
});
