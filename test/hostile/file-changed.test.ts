// A model file changed on disk while it is open: truncated, grown, or rewritten in place between parsing the header and
// reading the tensors (or after a load, before the next). Reads must fail with FILE_CHANGED / GGUF_TRUNCATED instead
// of returning bytes of another file; a file replaced by rename keeps serving the bytes that were opened.

import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BitNet } from '../../src/engine/bitnet.js';
import { BitNetError } from '../../src/errors.js';
import { openGguf, readTensorData } from '../../src/gguf/reader.js';
import type { GgufTensorInfo } from '../../src/gguf/types.js';
import { miniBytes, miniSpec } from './mini-model.js';

const dir = mkdtempSync(join(tmpdir(), 'bitnet-hostile-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const original = miniBytes(miniSpec());
let counter = 0;

/** A fresh copy of the mini model on disk. */
function freshFile(): string {
  const path = join(dir, `model-${counter++}.gguf`);
  writeFileSync(path, original);
  return path;
}

/** The same bytes with the tensor data changed (the header, and so the size, unchanged). */
function sameSizeOtherData(): Uint8Array {
  const other = original.slice();
  for (let i = other.length - 4096; i < other.length; i++) other[i] ^= 0x5a;
  return other;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof BitNetError ? e.code : `not a BitNetError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
}

const CHANGED = ['FILE_CHANGED', 'GGUF_TRUNCATED'];

/** The tensor that sits last in the file. */
function lastTensor(tensors: readonly GgufTensorInfo[]): GgufTensorInfo {
  return [...tensors].sort((a, b) => b.byteOffset - a.byteOffset)[0];
}

describe('between parsing the header and reading a tensor', () => {
  it.each([
    ['truncated before the tensor', (path: string, at: number) => truncateSync(path, at - 100)],
    ['truncated inside the tensor', (path: string, at: number) => truncateSync(path, at + 10)],
    ['grown (bytes appended)', (path: string) => appendFileSync(path, new Uint8Array(4096))],
    ['rewritten in place with other data of the same size', (path: string) => writeFileSync(path, sameSizeOtherData())],
    ['rewritten with a longer file', (path: string) => writeFileSync(path, new Uint8Array(original.length * 2).fill(7))],
  ])('%s -> FILE_CHANGED or GGUF_TRUNCATED', async (_name, change) => {
    const path = freshFile();
    const { source, header } = await openGguf(path);
    try {
      const t = lastTensor(header.tensors);
      change(path, t.byteOffset);
      expect(CHANGED).toContain(await codeOf(readTensorData(source, t, new Uint8Array(t.byteSize))));
    } finally {
      await source.close?.();
    }
  });

  it('a file replaced by rename keeps serving the bytes that were opened', async () => {
    const path = freshFile();
    const { source, header } = await openGguf(path);
    try {
      const replacement = join(dir, `replacement-${counter++}.gguf`);
      writeFileSync(replacement, sameSizeOtherData());
      renameSync(replacement, path);
      const t = lastTensor(header.tensors);
      const got = new Uint8Array(t.byteSize);
      await readTensorData(source, t, got);
      expect(got).toEqual(original.subarray(t.byteOffset, t.byteOffset + t.byteSize));
    } finally {
      await source.close?.();
    }
  });
});

describe('during BitNet.load (the file changes after the first tensor is read)', () => {
  it.each([
    ['truncated to half', (path: string) => truncateSync(path, Math.floor(original.length / 2))],
    ['rewritten in place with other data of the same size', (path: string) => writeFileSync(path, sameSizeOtherData())],
    ['grown', (path: string) => appendFileSync(path, new Uint8Array(100))],
  ])('%s -> FILE_CHANGED or GGUF_TRUNCATED', async (_name, change) => {
    const path = freshFile();
    let changed = false;
    const load = BitNet.load(path, {
      backend: 'reference',
      onProgress: () => {
        if (changed) return;
        changed = true;
        change(path);
      },
    });
    expect(CHANGED).toContain(await codeOf(load));
    expect(changed).toBe(true);
  });
});

describe('after a load', () => {
  it('a loaded model keeps working when its file is truncated; the next load of it is refused', async () => {
    const path = freshFile();
    const model = await BitNet.load(path, { backend: 'reference' });
    try {
      truncateSync(path, Math.floor(original.length / 2));
      const r = await model.complete('the', { maxTokens: 2, sampling: { kind: 'greedy' } });
      expect(r.usage.completionTokens).toBeGreaterThan(0);
      expect(await codeOf(BitNet.load(path, { backend: 'reference' }))).toBe('GGUF_TENSOR_OUT_OF_BOUNDS');
      truncateSync(path, 20);
      expect(await codeOf(BitNet.load(path, { backend: 'reference' }))).toBe('GGUF_TRUNCATED');
    } finally {
      await model.dispose();
    }
  });

  it('a file rewritten with another valid model loads as that model (nothing stale is reused)', async () => {
    const path = freshFile();
    const first = await BitNet.load(path, { backend: 'reference' });
    const firstReply = await first.complete('the', { maxTokens: 4, sampling: { kind: 'greedy' } });
    await first.dispose();
    writeFileSync(path, miniBytes(miniSpec('bitnet', 'tq2_0')));
    const second = await BitNet.load(path, { backend: 'reference' });
    try {
      expect(second.info.arch).toBe('bitnet');
      const secondReply = await second.complete('the', { maxTokens: 4, sampling: { kind: 'greedy' } });
      expect(secondReply.tokenIds.length).toBeGreaterThan(0);
      expect(firstReply.tokenIds.length).toBeGreaterThan(0);
    } finally {
      await second.dispose();
    }
  });
});
