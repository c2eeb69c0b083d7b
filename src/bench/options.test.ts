// Tests of the bench option parsers and the one-bench-at-a-time lock.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { acquireBenchLock, parseBackendList, parseIntList, parsePositiveInt, parseTolerance, readBaseline } from './options.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bitnet-bench-test-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isBitNetError(e) ? e.code : 'not a BitNetError';
  }
  return undefined;
}

describe('option parsers', () => {
  it('parses integer lists, dropping duplicates', () => {
    expect(parseIntList('--threads', '1,2')).toEqual([1, 2]);
    expect(parseIntList('--threads', ' 4 , 4,1 ')).toEqual([4, 1]);
    for (const bad of ['', ',', '0', '1,x', '1.5', '-2', '2e3']) expect(code(() => parseIntList('--threads', bad)), bad).toBe('BAD_ARGUMENT');
    expect(() => parseIntList('--threads', '1,x')).toThrow(/--threads.*'1,x'/);
  });

  it('parses one positive integer with a minimum', () => {
    expect(parsePositiveInt('--runs', '3')).toBe(3);
    expect(parsePositiveInt('--tg', '2', 2)).toBe(2);
    for (const bad of ['0', '', 'abc', '1.0', '-1']) expect(code(() => parsePositiveInt('--runs', bad)), bad).toBe('BAD_ARGUMENT');
    expect(() => parsePositiveInt('--tg', '1', 2)).toThrow(/--tg: expected an integer >= 2/);
  });

  it('parses backend lists', () => {
    expect(parseBackendList('--backends', 'wasm,reference')).toEqual(['wasm', 'reference']);
    expect(parseBackendList('--backends', 'reference, reference')).toEqual(['reference']);
    for (const bad of ['', 'webgpu', 'wasm,auto']) expect(code(() => parseBackendList('--backends', bad)), bad).toBe('BAD_ARGUMENT');
  });

  it('parses a tolerance as a fraction or a percentage', () => {
    expect(parseTolerance('--tolerance', '0.1')).toBe(0.1);
    expect(parseTolerance('--tolerance', '5%')).toBeCloseTo(0.05, 12);
    expect(parseTolerance('--tolerance', '0')).toBe(0);
    for (const bad of ['', '%', '1', '100%', '-0.1', 'x']) expect(code(() => parseTolerance('--tolerance', bad)), bad).toBe('BAD_ARGUMENT');
  });
});

describe('readBaseline', () => {
  it('reads JSON, and names the file when it is missing or not JSON', async () => {
    const d = await tempDir();
    await writeFile(join(d, 'ok.json'), '{"prefill_tok_s": 1, "decode_tok_s": 2}');
    await writeFile(join(d, 'bad.json'), '{nope');
    expect(await readBaseline(join(d, 'ok.json'))).toEqual({ prefill_tok_s: 1, decode_tok_s: 2 });
    await expect(readBaseline(join(d, 'bad.json'))).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(readBaseline(join(d, 'absent.json'))).rejects.toMatchObject({ code: 'IO_ERROR' });
  });
});

describe('acquireBenchLock', () => {
  it('takes the lock with our pid and releases it', async () => {
    const lock = join(await tempDir(), 'bench.lock');
    const release = await acquireBenchLock(lock, () => undefined);
    expect(await readFile(lock, 'utf8')).toBe(String(process.pid));
    await release();
    await expect(readFile(lock, 'utf8')).rejects.toThrow();
  });

  it('takes over a stale lock whose process is gone', async () => {
    const lock = join(await tempDir(), 'bench.lock');
    await writeFile(lock, '2147483646'); // no such pid
    const release = await acquireBenchLock(lock, () => undefined);
    expect(await readFile(lock, 'utf8')).toBe(String(process.pid));
    await release();
  });

  it('waits while a live process holds it, then gives up after the timeout naming the holder', async () => {
    const lock = join(await tempDir(), 'bench.lock');
    await writeFile(lock, String(process.pid)); // a live holder: this very process
    const lines: string[] = [];
    await expect(acquireBenchLock(lock, (l) => lines.push(l), { pollMs: 5, timeoutMs: 30 })).rejects.toMatchObject({ code: 'IO_ERROR' });
    expect(lines.join('\n')).toContain(`pid ${process.pid}`);
    expect(await readFile(lock, 'utf8')).toBe(String(process.pid));
  });
});
