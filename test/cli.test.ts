// The CLI end to end (built dist/): run, --dump-logits, --receipt + verify-receipt, chat over stdin.

import { execFile, spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tinyModel } from './helpers/tiny-models.js';
import { tempDir } from './helpers/temp-dir.js';

const bin = join(import.meta.dirname, '..', 'bin', 'bitnet.js');
const dir = tempDir('bitnet-cli-');

async function cli(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  if (input === undefined) {
    return promisify(execFile)(process.execPath, [bin, ...args]).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('bitnet CLI', () => {
  it('run streams the prompt and a greedy continuation, with stats on stderr', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const a = await cli(['run', '-m', model, '-p', 'Hello there', '-n', '6', '--temp', '0']);
    expect(a.code).toBe(0);
    expect(a.stdout.startsWith('Hello there')).toBe(true);
    expect(a.stdout.length).toBeGreaterThan('Hello there'.length);
    expect(a.stderr).toMatch(/6 generated/);
    const b = await cli(['run', '-m', model, '-p', 'Hello there', '-n', '6', '--temp', '0']);
    expect(b.stdout).toBe(a.stdout);
  });

  it('--tokens with --dump-logits writes positions x vocab float32 little-endian', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const out = join(dir, 'logits.bin');
    const r = await cli(['run', '-m', model, '--tokens', '128000,9906,1917', '--dump-logits', out, '--backend', 'reference']);
    expect(r.code).toBe(0);
    expect(statSync(out).size).toBe(3 * 128256 * 4);
    const f = new Float32Array(readFileSync(out).buffer.slice(0));
    expect(f.every((x) => Number.isFinite(x))).toBe(true);
    expect(new Set(f.subarray(0, 1000)).size).toBeGreaterThan(100);
  });

  it('--receipt writes a receipt that verify-receipt accepts; a tampered one is refused naming the gate', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const receipt = join(dir, 'receipt.json');
    const r = await cli(['run', '-m', model, '-p', 'Hi', '-n', '3', '--temp', '0', '--receipt', receipt]);
    expect(r.code).toBe(0);
    const ok = await cli(['verify-receipt', receipt]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toMatch(/FAIL/);
    const parsed = JSON.parse(readFileSync(receipt, 'utf8')) as Record<string, unknown>;
    const bad = join(dir, 'bad-receipt.json');
    writeFileSync(bad, JSON.stringify({ ...parsed, kernels: [{ id: 'wasm.mock.matmul', calls: 3 }] }));
    const refused = await cli(['verify-receipt', bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/kernels_real/);
    const garbage = join(dir, 'garbage.json');
    writeFileSync(garbage, '{not json');
    expect((await cli(['verify-receipt', garbage])).code).toBe(1);
  });

  it('chat answers each line, forgets on /clear and quits on /exit', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const r = await cli(['chat', '-m', model, '-n', '3', '--temp', '0'], 'Hi\n/clear\nHello again\n/exit\n');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/conversation cleared/);
    expect(r.stdout.split('> ').length).toBeGreaterThanOrEqual(3);
  });

  it('a missing model file is a clear error, not a crash', async () => {
    const r = await cli(['run', '-m', join(dir, 'nope.gguf'), '-n', '1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/bitnet: error \[/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
