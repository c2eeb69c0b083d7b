// The browser's persistent model cache: GGUF files downloaded once into the origin private file system (OPFS)
// and read from there on later visits, so a second load needs no network. Entries are listed in an index file and
// checked before use (size, GGUF magic); the engine's own header checks run when the model loads from the file.

import { BitNetError } from '../errors.js';
import { sha256Hex } from '../engine/receipt.js';

/** OPFS directory holding the cached files and their index. */
const CACHE_DIR = 'bitnet-models';
const INDEX_FILE = 'index.json';
/** The first bytes of every GGUF file. */
const GGUF_MAGIC = [0x47, 0x47, 0x55, 0x46];

/** One cached model file. */
export interface CachedModel {
  /** The absolute URL it was downloaded from (the cache key). */
  readonly url: string;
  readonly bytes: number;
  /** ISO-8601 time the download finished. */
  readonly storedAt: string;
  /** The server's ETag, when it sent one. */
  readonly etag?: string;
}

export interface StoreOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: { loadedBytes: number; totalBytes: number; percent: number }) => void;
  /** Injected fetch (tests); the global one by default. */
  readonly fetch?: typeof fetch;
}

export interface ModelCache {
  /** Every complete entry, oldest first. */
  list(): Promise<CachedModel[]>;
  /** The cached file for `url` when present and intact (size as recorded, GGUF magic); removes a damaged entry. */
  open(url: string): Promise<File | undefined>;
  /**
   * Downloads `url` into the cache, streaming to disk (never the whole file in memory), and returns the stored file.
   * HTTP_ERROR / NETWORK_ERROR / DOWNLOAD_TRUNCATED / ABORTED as for ranged loads; CACHE_FULL when storage runs out
   * (the caller may load without the cache). A failed download leaves no entry.
   */
  store(url: string, options?: StoreOptions): Promise<File>;
  /** The OPFS handle of the file cached for `url` (for synchronous reads in a worker), or undefined. No checks. */
  fileHandle(url: string): Promise<FileSystemFileHandle | undefined>;
  /** Removes the entry for `url`; false when there was none. */
  delete(url: string): Promise<boolean>;
  /** Removes every entry. */
  clear(): Promise<void>;
}

interface StorageLike {
  getDirectory?: () => Promise<FileSystemDirectoryHandle>;
  estimate?: () => Promise<{ usage?: number; quota?: number }>;
}

function storage(): StorageLike | undefined {
  return (globalThis as { navigator?: { storage?: StorageLike } }).navigator?.storage;
}

/** The cache of this origin, or undefined where the runtime has no origin private file system (Node, old browsers). */
export async function openModelCache(): Promise<ModelCache | undefined> {
  const s = storage();
  if (s?.getDirectory === undefined) return undefined;
  let dir: FileSystemDirectoryHandle;
  try {
    dir = await (await s.getDirectory()).getDirectoryHandle(CACHE_DIR, { create: true });
  } catch {
    return undefined; // storage disabled (private browsing, policy)
  }
  return createModelCache(dir, s);
}

function isEntry(v: unknown): v is CachedModel {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e.url === 'string' && Number.isSafeInteger(e.bytes) && typeof e.storedAt === 'string' && (e.etag === undefined || typeof e.etag === 'string');
}

async function fileNameOf(url: string): Promise<string> {
  return `${(await sha256Hex(new TextEncoder().encode(url))).slice(0, 40)}.gguf`;
}

/** Entry names of a directory (an async iterator every OPFS implementation has; TypeScript's DOM lib omits it). */
function namesIn(dir: FileSystemDirectoryHandle): AsyncIterable<string> {
  return (dir as unknown as { keys(): AsyncIterable<string> }).keys();
}

function createModelCache(dir: FileSystemDirectoryHandle, s: StorageLike): ModelCache {
  async function readIndex(): Promise<CachedModel[]> {
    try {
      const text = await (await (await dir.getFileHandle(INDEX_FILE)).getFile()).text();
      const parsed: unknown = JSON.parse(text);
      return Array.isArray(parsed) ? parsed.filter(isEntry) : [];
    } catch {
      return []; // absent or damaged: an empty cache (files without an entry are removed on the next store)
    }
  }

  async function writeIndex(entries: readonly CachedModel[]): Promise<void> {
    const w = await (await dir.getFileHandle(INDEX_FILE, { create: true })).createWritable();
    await w.write(JSON.stringify(entries));
    await w.close();
  }

  async function removeFile(name: string): Promise<void> {
    await dir.removeEntry(name).catch(() => undefined);
  }

  async function remove(url: string): Promise<boolean> {
    const entries = await readIndex();
    const kept = entries.filter((e) => e.url !== url);
    await removeFile(await fileNameOf(url));
    if (kept.length === entries.length) return false;
    await writeIndex(kept);
    return true;
  }

  return {
    list: readIndex,

    async open(url) {
      const entry = (await readIndex()).find((e) => e.url === url);
      if (entry === undefined) return undefined;
      try {
        const file = await (await dir.getFileHandle(await fileNameOf(url))).getFile();
        const magic = new Uint8Array(await file.slice(0, 4).arrayBuffer());
        if (file.size === entry.bytes && GGUF_MAGIC.every((b, i) => magic[i] === b)) return file;
      } catch {
        // the file is gone: drop the entry below
      }
      await remove(url);
      return undefined;
    },

    async store(url, options = {}) {
      const { signal, onProgress } = options;
      const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
      const aborted = (): BitNetError => new BitNetError('ABORTED', `download of ${url} was aborted`, { cause: signal?.reason, details: { url } });
      let res: Response;
      try {
        res = await doFetch(url, { cache: 'no-store', ...(signal === undefined ? {} : { signal }) });
      } catch (e) {
        if (signal?.aborted === true) throw aborted();
        throw new BitNetError('NETWORK_ERROR', `cannot fetch ${url}: ${e instanceof Error ? e.message : String(e)} (network failure, or a cross-origin server that does not allow this page: CORS)`, {
          cause: e,
          details: { url },
        });
      }
      if (!res.ok || res.body === null) {
        await res.body?.cancel().catch(() => undefined);
        throw new BitNetError('HTTP_ERROR', `${url}: HTTP ${res.status} ${res.status === 404 ? 'not found' : res.statusText || 'error'}`, { details: { url, status: res.status } });
      }
      const declared = Number(res.headers.get('content-length') ?? NaN);
      const total = Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
      if (total > 0 && s.estimate !== undefined) {
        const { usage = 0, quota = Infinity } = await s.estimate().catch(() => ({ usage: 0, quota: Infinity }));
        if (quota - usage < total) {
          await res.body.cancel().catch(() => undefined);
          throw new BitNetError('CACHE_FULL', `not enough storage to cache ${url}: ${total} bytes needed, ${Math.max(0, quota - usage)} free`, { details: { url, needed: total, free: Math.max(0, quota - usage) } });
        }
      }
      // Files without an index entry are leftovers of interrupted downloads: clear them before writing.
      const known = new Set(await Promise.all((await readIndex()).map((e) => fileNameOf(e.url))));
      for await (const name of namesIn(dir)) if (name !== INDEX_FILE && !known.has(name)) await removeFile(name);

      const name = await fileNameOf(url);
      const handle = await dir.getFileHandle(name, { create: true });
      const w = await handle.createWritable();
      const reader = res.body.getReader();
      let loadedBytes = 0;
      try {
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (e) {
            if (signal?.aborted === true) throw aborted();
            throw new BitNetError('NETWORK_ERROR', `${url}: the download broke off after ${loadedBytes} bytes: ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { url, offset: loadedBytes } });
          }
          if (chunk.done) break;
          try {
            await w.write(chunk.value as Uint8Array<ArrayBuffer>); // fetch bodies are never shared memory
          } catch (e) {
            const full = e instanceof Error && e.name === 'QuotaExceededError';
            throw new BitNetError(full ? 'CACHE_FULL' : 'IO_ERROR', `cannot write ${url} into the model cache after ${loadedBytes} bytes: ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { url } });
          }
          loadedBytes += chunk.value.length;
          onProgress?.({ loadedBytes, totalBytes: total, percent: total > 0 ? Math.min(100, (100 * loadedBytes) / total) : 0 });
        }
        if (total > 0 && loadedBytes !== total) {
          throw new BitNetError('DOWNLOAD_TRUNCATED', `${url}: the download ended after ${loadedBytes} of ${total} bytes`, { details: { url, expected: total, actual: loadedBytes } });
        }
        await w.close();
      } catch (e) {
        await reader.cancel().catch(() => undefined);
        await w.abort().catch(() => undefined);
        await removeFile(name);
        throw e;
      }
      const etag = res.headers.get('etag');
      const entry: CachedModel = { url, bytes: loadedBytes, storedAt: new Date().toISOString(), ...(etag === null ? {} : { etag }) };
      await writeIndex([...(await readIndex()).filter((e) => e.url !== url), entry]);
      const file = await handle.getFile();
      const magic = new Uint8Array(await file.slice(0, 4).arrayBuffer());
      if (!GGUF_MAGIC.every((b, i) => magic[i] === b)) {
        await remove(url);
        throw new BitNetError('GGUF_BAD_MAGIC', `${url} is not a GGUF file (it starts with ${[...magic].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`, { details: { url } });
      }
      return file;
    },

    async fileHandle(url) {
      return dir.getFileHandle(await fileNameOf(url)).catch(() => undefined);
    },

    delete: remove,

    async clear() {
      for await (const name of namesIn(dir)) await removeFile(name);
    },
  };
}
