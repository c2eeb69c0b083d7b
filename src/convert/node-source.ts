// A CheckpointSource over a directory on disk (Node only): positioned reads through one cached file handle per file.

import { open, readdir, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BitNetError } from '../errors.js';
import type { CheckpointSource } from './checkpoint-source.js';

function ioError(message: string, path: string, cause: unknown): BitNetError {
  return new BitNetError('IO_ERROR', `${message} '${path}': ${cause instanceof Error ? cause.message : String(cause)}`, { cause, details: { path } });
}

/** Opens the checkpoint directory `dir`; close() releases the file handles. */
export async function openCheckpointDir(dir: string): Promise<CheckpointSource> {
  let names: string[];
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    names = entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name);
  } catch (e) {
    throw ioError('cannot read the checkpoint directory', dir, e);
  }
  const handles = new Map<string, Promise<FileHandle>>();
  const handle = (name: string): Promise<FileHandle> => {
    let h = handles.get(name);
    if (h === undefined) {
      const path = join(dir, name);
      h = open(path, 'r').catch((e: unknown) => {
        throw ioError('cannot open', path, e);
      });
      handles.set(name, h);
    }
    return h;
  };
  return {
    label: dir,
    list: () => Promise.resolve(names),
    size: async (name) => {
      try {
        return (await stat(join(dir, name))).size;
      } catch (e) {
        throw ioError('cannot stat', join(dir, name), e);
      }
    },
    read: async (name, byteOffset, byteLength) => {
      const fh = await handle(name);
      const out = new Uint8Array(byteLength);
      let done = 0;
      try {
        while (done < byteLength) {
          const { bytesRead } = await fh.read(out, done, byteLength - done, byteOffset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
      } catch (e) {
        throw ioError(`read of ${byteLength} bytes at ${byteOffset} failed in`, join(dir, name), e);
      }
      if (done !== byteLength) {
        throw new BitNetError('IO_ERROR', `'${join(dir, name)}' ended after ${byteOffset + done} bytes; expected ${byteLength} bytes at ${byteOffset} (file changed or truncated?)`, {
          details: { path: join(dir, name), offset: byteOffset, expected: byteLength, actual: done },
        });
      }
      return out;
    },
    close: async () => {
      const all = [...handles.values()];
      handles.clear();
      for (const h of all) await h.then((fh) => fh.close()).catch(() => undefined);
    },
  };
}
