// A ByteSource over a file of the origin private file system read through a FileSystemSyncAccessHandle (dedicated
// workers only): `read(view, { at })` fills the destination in place, also a view of the wasm memory's
// SharedArrayBuffer, so a cached model goes from disk to the weights without the Blob path's two copies (a fresh
// ArrayBuffer per slice, then a copy into wasm memory) and without its per-slice round trips to the browser process.

import { BitNetError } from '../errors.js';
import type { ByteSource } from '../gguf/types.js';

/** The part of FileSystemSyncAccessHandle this source uses (TypeScript's DOM lib has it only for worker targets). */
interface SyncAccessHandle {
  read(buffer: ArrayBufferView, options?: { at?: number }): number;
  getSize(): number;
  close(): void;
}

interface SyncCapableHandle {
  createSyncAccessHandle?: () => Promise<SyncAccessHandle>;
}

/** Bounce buffer for engines whose `read` refuses views of shared memory (older ones took only ArrayBuffer). */
const BOUNCE_BYTES = 16 * 1024 * 1024;

/** A source that holds the file's access handle until `release` (or `close`); reads after that are refused. */
export interface ReleasableSource extends ByteSource {
  /** Gives the exclusive access handle back (another tab or a cache delete may then open the file). Idempotent. */
  release(): void;
}

/**
 * Opens `handle` for synchronous reads, or answers undefined where that is not possible: outside a dedicated worker
 * (no createSyncAccessHandle), or when another context holds the file's access handle (NoModificationAllowedError).
 * The caller then reads the file as a Blob.
 */
export async function openOpfsSyncSource(handle: FileSystemFileHandle, name: string): Promise<ReleasableSource | undefined> {
  const h = handle as unknown as SyncCapableHandle;
  if (typeof h.createSyncAccessHandle !== 'function') return undefined;
  let access: SyncAccessHandle | undefined;
  try {
    access = await h.createSyncAccessHandle();
  } catch {
    return undefined;
  }
  const size = access.getSize();
  let bounce: Uint8Array | undefined;

  const readAt = (a: SyncAccessHandle, position: number, dst: Uint8Array): void => {
    for (let done = 0; done < dst.length; ) {
      const n = a.read(dst.subarray(done), { at: position + done });
      if (n <= 0) {
        throw new BitNetError('FILE_CHANGED', `${name}: the cached file ended at ${position + done} bytes, expected at least ${position + dst.length}`, {
          details: { source: name, offset: position + done, expected: dst.length, actual: done },
        });
      }
      done += n;
    }
  };

  const source: ReleasableSource = {
    size,
    name,
    async read(position: number, dst: Uint8Array): Promise<void> {
      if (access === undefined) throw new BitNetError('IO_ERROR', `${name}: read after the cached file was released`, { details: { source: name, offset: position } });
      if (!Number.isSafeInteger(position) || position < 0 || position + dst.length > size) {
        throw new BitNetError('IO_ERROR', `${name}: a read of ${dst.length} bytes at offset ${position} lies outside the file (${size} bytes)`, {
          details: { source: name, offset: position, length: dst.length, size },
        });
      }
      try {
        if (bounce === undefined) {
          try {
            readAt(access, position, dst);
            return;
          } catch (e) {
            // a TypeError on a shared view: this engine's read wants an ArrayBuffer; read through a bounce buffer
            if (!(e instanceof TypeError) || !(dst.buffer instanceof SharedArrayBuffer)) throw e;
            bounce = new Uint8Array(BOUNCE_BYTES);
          }
        }
        if (!(dst.buffer instanceof SharedArrayBuffer)) return readAt(access, position, dst);
        for (let done = 0; done < dst.length; done += BOUNCE_BYTES) {
          const piece = bounce.subarray(0, Math.min(BOUNCE_BYTES, dst.length - done));
          readAt(access, position + done, piece);
          dst.set(piece, done);
        }
      } catch (e) {
        if (e instanceof BitNetError) throw e;
        throw new BitNetError('IO_ERROR', `${name}: reading ${dst.length} bytes at offset ${position} from the model cache failed: ${String(e)}`, {
          cause: e,
          details: { source: name, offset: position, length: dst.length },
        });
      }
    },
    release(): void {
      const a = access;
      access = undefined;
      a?.close();
    },
    async close(): Promise<void> {
      source.release();
    },
  };
  return source;
}
