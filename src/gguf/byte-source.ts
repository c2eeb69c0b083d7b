// Random-access byte sources for the GGUF reader: a file (Node), an in-memory Uint8Array, or a Blob.

import { BitNetError } from '../errors.js';
import { nodeBuiltin } from '../platform/node-builtin.js';
import type { ByteSource } from './types.js';

/** Node caps one positional read at 2 GiB - 1; stay well below it. */
const MAX_FILE_READ_BYTES = 1 << 30;

/** Refuses a range that is not inside [0, size); the message names the source, position, length and size. */
function checkRange(name: string, size: number, position: number, length: number): void {
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new BitNetError('BAD_ARGUMENT', `${name}: read position must be a non-negative integer, got ${position}`, {
      details: { source: name, position },
    });
  }
  if (position + length > size) {
    throw new BitNetError(
      'GGUF_TRUNCATED',
      `${name}: read of ${length} bytes at offset ${position} runs past the end (size ${size} bytes)`,
      { details: { source: name, offset: position, length, size } },
    );
  }
}

/** A source over bytes already in memory; reads copy from `bytes` into the caller's buffer. */
export function bytesSource(bytes: Uint8Array, name = 'buffer'): ByteSource {
  return {
    size: bytes.length,
    name,
    read(position: number, dst: Uint8Array): Promise<void> {
      try {
        checkRange(name, bytes.length, position, dst.length);
        dst.set(bytes.subarray(position, position + dst.length));
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    },
  };
}

/** A source over a Blob (browser File, fetch response blob); each read slices the blob. */
export function blobSource(blob: Blob, name = 'blob'): ByteSource {
  return {
    size: blob.size,
    name,
    async read(position: number, dst: Uint8Array): Promise<void> {
      checkRange(name, blob.size, position, dst.length);
      if (dst.length === 0) return;
      let buf: ArrayBuffer;
      try {
        buf = await blob.slice(position, position + dst.length).arrayBuffer();
      } catch (e) {
        throw new BitNetError('IO_ERROR', `${name}: reading ${dst.length} bytes at offset ${position} failed: ${String(e)}`, {
          cause: e,
          details: { source: name, offset: position, length: dst.length },
        });
      }
      if (buf.byteLength !== dst.length) {
        throw new BitNetError('FILE_CHANGED', `${name}: expected ${dst.length} bytes at offset ${position}, got ${buf.byteLength}`, {
          details: { source: name, offset: position, expected: dst.length, actual: buf.byteLength },
        });
      }
      dst.set(new Uint8Array(buf));
    },
  };
}

/**
 * Opens a file for positional reads (Node only; node:fs/promises is looked up at run time so this module
 * bundles for browsers). Reads loop until the destination is full, then check that the file still has the size and
 * modification time it had when opened (FILE_CHANGED otherwise). Call `close()` when done.
 */
export async function openFileSource(path: string): Promise<ByteSource> {
  const fs = await nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
  let handle: Awaited<ReturnType<typeof fs.open>>;
  let size: number;
  let mtimeNs: bigint;
  try {
    handle = await fs.open(path, 'r');
  } catch (e) {
    throw new BitNetError('IO_ERROR', `cannot open '${path}': ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
      details: { path },
    });
  }
  try {
    const st = await handle.stat({ bigint: true });
    if (!st.isFile()) {
      throw new BitNetError('IO_ERROR', `'${path}' is not a regular file`, { details: { path } });
    }
    size = Number(st.size);
    mtimeNs = st.mtimeNs;
  } catch (e) {
    await handle.close().catch(() => undefined);
    if (e instanceof BitNetError) throw e;
    throw new BitNetError('IO_ERROR', `cannot stat '${path}': ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
      details: { path },
    });
  }
  const fh = handle;
  let closed = false;
  /**
   * Refuses bytes of a file that changed since it was opened: a file grown or rewritten in place still reads fine but
   * returns other data (a truncated one ends early, caught in `read`). Size and modification time, from the open handle.
   */
  const checkUnchanged = async (position: number, length: number): Promise<void> => {
    const st = await fh.stat({ bigint: true }).catch((e: unknown) => {
      throw new BitNetError('IO_ERROR', `cannot stat '${path}': ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { path } });
    });
    if (Number(st.size) !== size || st.mtimeNs !== mtimeNs) {
      throw new BitNetError(
        'FILE_CHANGED',
        `'${path}' changed on disk while open (size ${size} -> ${Number(st.size)} bytes${st.mtimeNs !== mtimeNs ? ', modified since it was opened' : ''}); the ${length} bytes read at offset ${position} cannot be trusted`,
        { details: { path, offset: position, length, size, newSize: Number(st.size) } },
      );
    }
  };
  return {
    size,
    name: path,
    async read(position: number, dst: Uint8Array): Promise<void> {
      checkRange(path, size, position, dst.length);
      if (closed) {
        throw new BitNetError('IO_ERROR', `'${path}': read after close`, { details: { path } });
      }
      let done = 0;
      while (done < dst.length) {
        const want = Math.min(dst.length - done, MAX_FILE_READ_BYTES);
        let bytesRead: number;
        try {
          ({ bytesRead } = await fh.read(dst, done, want, position + done));
        } catch (e) {
          throw new BitNetError(
            'IO_ERROR',
            `'${path}': reading ${want} bytes at offset ${position + done} failed: ${e instanceof Error ? e.message : String(e)}`,
            { cause: e, details: { path, offset: position + done, length: want } },
          );
        }
        if (bytesRead === 0) {
          throw new BitNetError(
            'FILE_CHANGED',
            `'${path}': unexpected end of file at offset ${position + done} (size was ${size} bytes when opened)`,
            { details: { path, offset: position + done, size } },
          );
        }
        done += bytesRead;
      }
      await checkUnchanged(position, dst.length);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}
