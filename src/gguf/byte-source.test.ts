// Tests of the byte sources: the same reads give the same bytes from a file, a buffer and a Blob.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobSource, bytesSource, openFileSource } from './byte-source.js';
import type { ByteSource } from './types.js';

const bytes = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 31 + 7) & 0xff);
let dir = '';
let path = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitnet-src-'));
  path = join(dir, 'data.bin');
  await writeFile(path, bytes);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const makers: [string, () => Promise<ByteSource>][] = [
  ['bytesSource', () => Promise.resolve(bytesSource(bytes))],
  ['blobSource', () => Promise.resolve(blobSource(new Blob([bytes])))],
  ['openFileSource', () => openFileSource(path)],
];

for (const [label, make] of makers) {
  describe(label, () => {
    it('reports the size and reads any range exactly', async () => {
      const src = await make();
      try {
        expect(src.size).toBe(bytes.length);
        for (const [pos, len] of [
          [0, 1],
          [0, 10_000],
          [9_999, 1],
          [1234, 4321],
          [10_000, 0],
        ] as const) {
          const dst = new Uint8Array(len + 4).fill(0xee);
          await src.read(pos, dst.subarray(2, 2 + len));
          expect(dst.subarray(2, 2 + len)).toEqual(bytes.subarray(pos, pos + len));
          expect([dst[0], dst[1], dst[len + 2], dst[len + 3]]).toEqual([0xee, 0xee, 0xee, 0xee]);
        }
      } finally {
        await src.close?.();
      }
    });

    it('refuses reads past the end with GGUF_TRUNCATED and bad positions with BAD_ARGUMENT', async () => {
      const src = await make();
      try {
        await expect(src.read(9_999, new Uint8Array(2))).rejects.toMatchObject({ code: 'GGUF_TRUNCATED' });
        await expect(src.read(20_000, new Uint8Array(1))).rejects.toMatchObject({ code: 'GGUF_TRUNCATED' });
        await expect(src.read(-1, new Uint8Array(1))).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
        await expect(src.read(1.5, new Uint8Array(1))).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
      } finally {
        await src.close?.();
      }
    });
  });
}

describe('openFileSource', () => {
  it('answers a missing file or a directory with IO_ERROR naming the path', async () => {
    await expect(openFileSource(join(dir, 'missing.bin'))).rejects.toMatchObject({ code: 'IO_ERROR', details: { path: join(dir, 'missing.bin') } });
    await expect(openFileSource(dir)).rejects.toMatchObject({ code: 'IO_ERROR' });
  });

  it('refuses reads after close and closes only once', async () => {
    const src = await openFileSource(path);
    await src.close?.();
    await src.close?.();
    await expect(src.read(0, new Uint8Array(1))).rejects.toMatchObject({ code: 'IO_ERROR' });
  });

  it('reports FILE_CHANGED when the file shrinks after opening', async () => {
    const p = join(dir, 'shrinks.bin');
    await writeFile(p, bytes);
    const src = await openFileSource(p);
    try {
      await writeFile(p, bytes.subarray(0, 100));
      await expect(src.read(50, new Uint8Array(200))).rejects.toMatchObject({ code: 'FILE_CHANGED' });
    } finally {
      await src.close?.();
    }
  });
});
