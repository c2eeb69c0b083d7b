// A model file with no `tokenizer.ggml.pre` (Microsoft's 2B-4T GGUF): the load result, strict mode, inspect and the
// --pre-tokenizer flag all say which rules were chosen and why.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import { isBitNetError } from '../src/errors.js';
import { openGguf } from '../src/gguf/reader.js';
import { inspectGguf } from '../src/inspect/inspect.js';
import { rewriteModel } from './helpers/rewrite-model.js';
import { tinyModel } from './helpers/tiny-models.js';
import { tempDir } from './helpers/temp-dir.js';

const dir = tempDir('bitnet-pre-');
const bin = join(import.meta.dirname, '..', 'bin', 'bitnet.js');
let noPre = '';

beforeAll(async () => {
  noPre = join(dir, 'no-pre.gguf');
  await rewriteModel(await tinyModel('bitnet-b1.58', 'i2_s'), noPre, (meta) => meta.filter(([k]) => k !== 'tokenizer.ggml.pre'));
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [bin, ...args]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe('loading a file without tokenizer.ggml.pre', () => {
  it('lists the guess in model.fallbacks; strict mode refuses it unless the rules are named', async () => {
    const lax = await BitNet.load(noPre, { backend: 'reference' });
    try {
      expect(lax.fallbacks.join('\n')).toContain("tokenizer: tokenizer.ggml.pre is missing; using the LLaMA-3 rules ('llama-bpe')");
    } finally {
      await lax.dispose();
    }
    const err = await BitNet.load(noPre, { backend: 'reference', strict: true }).then(() => undefined, (e: unknown) => e);
    expect(isBitNetError(err, 'STRICT_VIOLATION')).toBe(true);
    expect((err as Error).message).toContain('tokenizer.ggml.pre is missing');
    for (const preTokenizer of ['llama-bpe', 'default']) {
      const named = await BitNet.load(noPre, { backend: 'reference', strict: true, preTokenizer });
      try {
        expect(named.fallbacks).toEqual([]);
      } finally {
        await named.dispose();
      }
    }
  });

  it('the named rules change the ids: "x=a+b*(c-d)" (ids derived in src/tokenizer/pre-tokenizer.test.ts)', async () => {
    const m = await BitNet.load(noPre, { backend: 'reference', preTokenizer: 'default' });
    try {
      expect(m.tokenize('x=a+b*(c-d)', { addBos: false })).toEqual([87, 28, 64, 10, 65, 6737, 66, 12, 67, 8]);
    } finally {
      await m.dispose();
    }
  });

  it('an unknown LoadOptions.preTokenizer is BAD_ARGUMENT before the file is opened', async () => {
    const err = await BitNet.load(join(dir, 'does-not-exist.gguf'), { preTokenizer: 'llama-3' }).then(() => undefined, (e: unknown) => e);
    expect(isBitNetError(err, 'BAD_ARGUMENT')).toBe(true);
  });

  it('inspect warns PRE_TOKENIZER_GUESSED and reports the rules; naming them clears the warning', async () => {
    const { source, header } = await openGguf(noPre);
    await source.close?.();
    const r = inspectGguf(header);
    expect(r.tokenizer?.preTokenizer).toMatchObject({ name: 'llama-bpe', origin: 'guessed' });
    expect(r.warnings.filter((w) => w.code === 'PRE_TOKENIZER_GUESSED').map((w) => w.subject)).toEqual(['tokenizer.ggml.pre']);
    const named = inspectGguf(header, { preTokenizer: 'default' });
    expect(named.tokenizer?.preTokenizer).toMatchObject({ name: 'default', origin: 'option' });
    expect(named.warnings.some((w) => w.code === 'PRE_TOKENIZER_GUESSED')).toBe(false);
  });
});

describe('--pre-tokenizer', () => {
  it('inspect prints the rules and the reason, and --strict fails on the guess', async () => {
    const r = await cli(['inspect', noPre, '--strict']);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("pre-tokenizer rules 'llama-bpe' (guessed)");
    expect(r.stdout).toContain('[PRE_TOKENIZER_GUESSED]');
    const named = await cli(['inspect', noPre, '--pre-tokenizer', 'default']);
    expect(named.code).toBe(0);
    expect(named.stdout).toContain("pre-tokenizer rules 'default' (option)");
  });

  it('run --strict refuses the guess and runs with the rules named; a bad name fails before the model loads', async () => {
    const strict = await cli(['run', '-m', noPre, '-n', '1', '--strict', '--backend', 'reference']);
    expect(strict.code).toBe(8);
    expect(strict.stderr).toContain('tokenizer.ggml.pre is missing');
    const ok = await cli(['run', '-m', noPre, '-n', '1', '--strict', '--backend', 'reference', '--pre-tokenizer', 'llama-bpe']);
    expect(ok.code).toBe(0);
    const bad = await cli(['run', '-m', join(dir, 'absent.gguf'), '--pre-tokenizer', 'llama3-bpe']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--pre-tokenizer: expected one of llama-bpe, default");
  });
});
