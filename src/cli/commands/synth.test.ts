// End-to-end tests of `bitnet synth` and `bitnet inspect` through the CLI entry point, in a temp dir.

import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../main.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitnet-cli-synth-'));
});
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

/** Runs the CLI, capturing stdout and stderr. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  }
}

describe('bitnet synth + inspect', () => {
  it('writes a tiny model and inspects it as JSON without warnings', async () => {
    const file = join(dir, 'tiny.gguf');
    const s = await cli('synth', '--shape', 'tiny', '--arch', 'bitnet-b1.58', '--weights', 'tq2_0', '--embed', 'q8_0', '--seed', '7', '-o', file);
    expect(s.code).toBe(0);
    expect(s.stderr).toContain('24 tensors');
    const size = (await stat(file)).size;

    const r = await cli('inspect', file, '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Record<string, unknown> & {
      warnings: unknown[];
      tensors: { name: string; type: string; dims: number[] }[];
      hyperParameters: Record<string, number>;
      tokenizer: Record<string, unknown>;
      fileType: { id: number; name: string };
      headerReadMs: number;
    };
    expect(report.warnings).toEqual([]);
    expect(report.arch).toBe('bitnet-b1.58');
    expect(report.name).toBe('synthetic-tiny-bitnet-b1.58-tq2_0-s7');
    expect(report.fileBytes).toBe(size);
    expect(report.fileType).toEqual({ id: 37, name: 'MOSTLY_TQ2_0' });
    expect(report.hyperParameters).toMatchObject({ embeddingLength: 256, feedForwardLength: 512, blockCount: 2, headCount: 4, headCountKv: 2 });
    expect(report.tokenizer).toMatchObject({ vocabSize: 128256, bosTokenId: 128000, eosTokenId: 128001, eotTokenId: 128009 });
    expect(report.tensors.find((t) => t.name === 'blk.1.ffn_down.weight')).toMatchObject({ type: 'TQ2_0', dims: [512, 256] });
    expect(report.headerReadMs).toBeGreaterThanOrEqual(0);

    const text = await cli('inspect', file);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('MOSTLY_TQ2_0');
    expect(text.stdout).toMatch(/blk\.0\.attn_q\.weight\s+TQ2_0\s+\[256, 256\]/);
    expect(text.stdout).toContain('warnings      none');
  });

  it('rejects bad options and non-GGUF files with the documented exit codes', async () => {
    const bad = await cli('synth', '--weights', 'q4_0', '-o', join(dir, 'x.gguf'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('BAD_ARGUMENT');
    expect(bad.stderr).toContain('--weights');
    const badShape = await cli('synth', '--shape', 'huge', '-o', join(dir, 'x.gguf'));
    expect(badShape.code).toBe(1);
    expect(badShape.stderr).toContain("unknown model shape 'huge'");
    const badSeed = await cli('synth', '--seed', '-3', '-o', join(dir, 'x.gguf'));
    expect(badSeed.code).toBe(1);
    expect(badSeed.stderr).toContain('--seed');

    const notGguf = join(dir, 'not.gguf');
    await writeFile(notGguf, 'hello, this is not a model file at all');
    const r = await cli('inspect', notGguf);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('GGUF_BAD_MAGIC');
  });
});
