// A ByteSource over a URL: every read is one HTTP Range request whose body streams into the caller's buffer
// (backend memory when weights load), so the file never sits whole in a JS ArrayBuffer. Browsers and Node (fetch).

import { BitNetError } from '../errors.js';
import type { ByteSource } from './types.js';

/** Bytes asked for by the first request (it learns the size from Content-Range; the header reader starts here). */
export const URL_PROBE_BYTES = 1 << 20;

export interface UrlSourceOptions {
  /** Injected fetch (tests, auth headers, caching layers); the global fetch by default. */
  fetch?: typeof fetch;
  /** Aborts the request in flight and every later read (BitNetError ABORTED). */
  signal?: AbortSignal;
  /** Bytes received so far over the file's size (several reads of one byte range count twice). */
  onProgress?: (p: { loadedBytes: number; totalBytes: number; percent: number }) => void;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
}

/** True for strings a browser or fetch would treat as a URL rather than a file path. */
export function looksLikeUrl(s: string): boolean {
  return /^(https?|blob|data):/i.test(s);
}

function resolveUrl(url: string): string {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return new URL(url, base).href;
  } catch (e) {
    throw new BitNetError('BAD_ARGUMENT', `'${url}' is not a valid URL`, { cause: e, details: { url } });
  }
}

/** Total size from a Content-Range header ('bytes 0-1023/4096'); undefined when absent or '*'. */
function parseContentRange(h: string | null): { start: number; end: number; total: number } | undefined {
  const m = h === null ? null : /^bytes (\d+)-(\d+)\/(\d+)$/i.exec(h.trim());
  if (m === null) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: Number(m[3]) };
}

/**
 * Opens `url` for ranged reads. The first request (bytes 0..1 MiB) checks the server: HTTP_ERROR for a status
 * other than 206 / 200, RANGE_UNSUPPORTED when the server answers 200 to a Range request or hides Content-Range
 * (a cross-origin server must list it in Access-Control-Expose-Headers), NETWORK_ERROR when fetch fails (offline,
 * DNS, or CORS, which browsers report the same way), DOWNLOAD_TRUNCATED when a body ends early, ABORTED on the signal.
 */
export async function openUrlSource(url: string, options: UrlSourceOptions = {}): Promise<ByteSource> {
  const href = resolveUrl(url);
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const signal = options.signal;
  const name = href;
  let loadedBytes = 0;
  let size = 0;
  let closed = false;

  // a function, so checks after an await are not narrowed away
  const isAborted = (): boolean => signal?.aborted === true;
  const aborted = (cause: unknown): BitNetError => new BitNetError('ABORTED', `download of ${name} was aborted`, { cause, details: { url: name } });

  async function request(position: number, length: number): Promise<Response> {
    if (isAborted()) throw aborted(signal?.reason);
    const init: RequestInit = { headers: { ...options.headers, Range: `bytes=${position}-${position + length - 1}` }, cache: 'no-store' };
    if (signal !== undefined) init.signal = signal;
    let res: Response;
    try {
      res = await doFetch(href, init);
    } catch (e) {
      if (isAborted()) throw aborted(signal?.reason);
      throw new BitNetError(
        'NETWORK_ERROR',
        `cannot fetch ${name}: ${e instanceof Error ? e.message : String(e)} (network failure, or a cross-origin server that does not allow this page: CORS)`,
        { cause: e, details: { url: name } },
      );
    }
    if (res.status === 200) {
      await res.body?.cancel().catch(() => undefined);
      throw new BitNetError('RANGE_UNSUPPORTED', `${name}: the server ignored the HTTP Range request (200 instead of 206); the engine streams models by byte ranges, so the server must support them`, {
        details: { url: name, status: res.status },
      });
    }
    if (res.status !== 206) {
      await res.body?.cancel().catch(() => undefined);
      const what = res.status === 404 ? 'not found' : res.status === 416 ? 'range not satisfiable (empty file?)' : res.statusText || 'error';
      throw new BitNetError('HTTP_ERROR', `${name}: HTTP ${res.status} ${what}`, { details: { url: name, status: res.status } });
    }
    return res;
  }

  /** Streams the body of `res` into `dst`; DOWNLOAD_TRUNCATED when it ends early. */
  async function drain(res: Response, position: number, dst: Uint8Array): Promise<void> {
    const body = res.body;
    if (body === null) throw new BitNetError('DOWNLOAD_TRUNCATED', `${name}: empty response body at offset ${position}`, { details: { url: name, offset: position } });
    const reader = body.getReader();
    let done = 0;
    try {
      while (done < dst.length) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (isAborted()) throw aborted(signal?.reason);
          throw new BitNetError('NETWORK_ERROR', `${name}: the download broke off at offset ${position + done}: ${e instanceof Error ? e.message : String(e)}`, {
            cause: e,
            details: { url: name, offset: position + done },
          });
        }
        if (chunk.done) break;
        const take = Math.min(chunk.value.length, dst.length - done);
        dst.set(chunk.value.subarray(0, take), done);
        done += take;
        loadedBytes += take;
        options.onProgress?.({ loadedBytes, totalBytes: size, percent: size > 0 ? Math.min(100, (100 * loadedBytes) / size) : 0 });
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    if (done < dst.length) {
      throw new BitNetError('DOWNLOAD_TRUNCATED', `${name}: the download ended after ${done} of ${dst.length} bytes at offset ${position} (file size ${size})`, {
        details: { url: name, offset: position, expected: dst.length, actual: done },
      });
    }
  }

  // The probe: learn the size, keep its bytes for the header reader's first reads.
  const first = await request(0, URL_PROBE_BYTES);
  const range = parseContentRange(first.headers.get('content-range'));
  if (range === undefined || range.start !== 0) {
    await first.body?.cancel().catch(() => undefined);
    throw new BitNetError('RANGE_UNSUPPORTED', `${name}: a 206 response without a readable Content-Range header (a cross-origin server must expose it: Access-Control-Expose-Headers: Content-Range)`, {
      details: { url: name },
    });
  }
  size = range.total;
  const head = new Uint8Array(Math.min(size, URL_PROBE_BYTES));
  await drain(first, 0, head);

  return {
    size,
    name,
    async read(position: number, dst: Uint8Array): Promise<void> {
      if (!Number.isSafeInteger(position) || position < 0) {
        throw new BitNetError('BAD_ARGUMENT', `${name}: read position must be a non-negative integer, got ${position}`, { details: { source: name, position } });
      }
      if (position + dst.length > size) {
        throw new BitNetError('GGUF_TRUNCATED', `${name}: read of ${dst.length} bytes at offset ${position} runs past the end (size ${size} bytes)`, {
          details: { source: name, offset: position, length: dst.length, size },
        });
      }
      if (closed) throw new BitNetError('IO_ERROR', `${name}: read after close`, { details: { source: name } });
      if (dst.length === 0) return;
      if (position + dst.length <= head.length) {
        dst.set(head.subarray(position, position + dst.length));
        return;
      }
      const res = await request(position, dst.length);
      const got = parseContentRange(res.headers.get('content-range'));
      if (got !== undefined && (got.start !== position || got.total !== size)) {
        await res.body?.cancel().catch(() => undefined);
        throw new BitNetError('FILE_CHANGED', `${name}: asked for bytes from ${position} of ${size}, the server sent ${got.start}.. of ${got.total}`, {
          details: { url: name, offset: position, size, newSize: got.total },
        });
      }
      await drain(res, position, dst);
    },
    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}
