import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { openOpfsSyncSource, type ReleasableSource } from './opfs-source.js';

async function open(handle: FileSystemFileHandle): Promise<ReleasableSource> {
  const src = await openOpfsSyncSource(handle, 'm.gguf');
  if (src === undefined) throw new Error('no source');
  return src;
}

/** A FileSystemFileHandle stand-in whose access handle reads `bytes` at most `maxRead` at a time. */
function fakeHandle(bytes: Uint8Array, opts: { maxRead?: number; refuseShared?: boolean; locked?: boolean; size?: number } = {}) {
  const state = { open: 0, closed: 0, reads: 0 };
  const handle = {
    async createSyncAccessHandle() {
      if (opts.locked === true) throw new DOMException('locked', 'NoModificationAllowedError');
      state.open++;
      return {
        getSize: () => opts.size ?? bytes.length,
        read(view: Uint8Array, o: { at?: number } = {}) {
          if (opts.refuseShared === true && view.buffer instanceof SharedArrayBuffer) throw new TypeError('shared views are not allowed');
          state.reads++;
          const at = o.at ?? 0;
          const n = Math.max(0, Math.min(view.length, bytes.length - at, opts.maxRead ?? Infinity));
          view.set(bytes.subarray(at, at + n));
          return n;
        },
        close() {
          state.closed++;
        },
      };
    },
  };
  return { handle: handle as unknown as FileSystemFileHandle, state };
}

const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 255);

describe('OPFS sync-access-handle source', () => {
  it('fills the destination in place, looping over short reads, also a shared-memory view', async () => {
    const { handle, state } = fakeHandle(data, { maxRead: 64 });
    const src = await open(handle);
    expect(src.size).toBe(1000);
    const dst = new Uint8Array(new SharedArrayBuffer(300), 0, 300).fill(0xee);
    await src.read(500, dst);
    expect([...dst]).toEqual([...data.subarray(500, 800)]);
    expect(state.reads).toBe(5);
  });

  it('reads through a bounce buffer where the engine refuses shared views', async () => {
    const { handle } = fakeHandle(data, { refuseShared: true });
    const src = await open(handle);
    const dst = new Uint8Array(new SharedArrayBuffer(999), 0, 999);
    await src.read(1, dst);
    expect([...dst]).toEqual([...data.subarray(1)]);
    const plain = new Uint8Array(10);
    await src.read(0, plain);
    expect([...plain]).toEqual([...data.subarray(0, 10)]);
  });

  it('refuses reads outside the file and after release, and releases once', async () => {
    const { handle, state } = fakeHandle(data);
    const src = await open(handle);
    await expect(src.read(990, new Uint8Array(11))).rejects.toSatisfy((e) => isBitNetError(e, 'IO_ERROR'));
    src.release();
    src.release();
    await src.close?.();
    expect(state.closed).toBe(1);
    await expect(src.read(0, new Uint8Array(1))).rejects.toSatisfy((e) => isBitNetError(e, 'IO_ERROR'));
  });

  it('reports a file that shrank under it as FILE_CHANGED', async () => {
    // opened at 1000 bytes, holding 500 now
    const { handle } = fakeHandle(data.subarray(0, 500), { maxRead: 100, size: 1000 });
    const src = await open(handle);
    await src.read(0, new Uint8Array(500));
    await expect(src.read(400, new Uint8Array(200))).rejects.toSatisfy((e) => isBitNetError(e, 'FILE_CHANGED'));
  });

  it('answers undefined where no handle can be had: locked by another context, or no sync access at all', async () => {
    expect(await openOpfsSyncSource(fakeHandle(data, { locked: true }).handle, 'm.gguf')).toBeUndefined();
    expect(await openOpfsSyncSource({} as FileSystemFileHandle, 'm.gguf')).toBeUndefined();
  });
});
