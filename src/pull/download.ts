// Resumable download of one file: HTTP Range requests into `<dest>.part`, progress kept in `<dest>.part.json` (the
// server's validator and the bytes done per chunk), parallel chunks for large files, sha256 check, then one rename.
//
// Nothing at `dest` exists until every byte arrived and matched the expected size and hash, so a failed or
// interrupted download never leaves a file that looks complete. A restart with the same validator (ETag, else
// Last-Modified) asks only for the bytes not yet written; a changed validator starts over.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { BitNetError } from '../errors.js';
import { expectStatus, httpGet, redactUrl, type HttpResponse } from './http.js';

/** Chunk size for parallel downloads: big enough that request overhead is noise, small enough to spread work. */
export const DEFAULT_CHUNK_BYTES = 64 << 20;
/** Connections at once for one file (HF's CDN serves each connection at a fraction of a fast link). */
export const DEFAULT_PARALLEL = 4;
/** Retries of one chunk after a network failure, each resuming where it stopped. */
export const DEFAULT_RETRIES = 3;
/** A connection that delivers nothing for this long is dropped (and retried): a stalled server must not hang us. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
/**
 * The progress file is rewritten after this many new bytes or this long, whichever comes first (and always when a
 * chunk stops): a killed process (SIGKILL, power) re-fetches at most about this much per chunk in flight.
 */
const STATE_SAVE_INTERVAL_MS = 250;
const STATE_SAVE_INTERVAL_BYTES = 4 << 20;
/** Largest `.part.json` we read back (it holds one small record per chunk). */
const MAX_STATE_BYTES = 4 << 20;

export interface DownloadProgress {
  /** Bytes of the file on disk so far, including what an earlier run left. */
  readonly doneBytes: number;
  readonly totalBytes: number;
  /** Bytes received by this run (resumed bytes excluded). */
  readonly receivedBytes: number;
  /** Bytes per second received by this run so far. */
  readonly bytesPerSecond: number;
}

export interface DownloadOptions {
  readonly url: string;
  /** Final path; `<dest>.part` and `<dest>.part.json` sit beside it while the download runs. */
  readonly dest: string;
  readonly fetch?: typeof fetch | undefined;
  /** Request headers (Authorization goes to the URL's origin only). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Lower-case hex sha256 the file must have (HF: the LFS oid). */
  readonly sha256?: string | undefined;
  /** Size the file must have, when known in advance. */
  readonly expectedBytes?: number | undefined;
  readonly parallel?: number | undefined;
  readonly chunkBytes?: number | undefined;
  readonly retries?: number | undefined;
  readonly stallTimeoutMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((p: DownloadProgress) => void) | undefined;
  /** Clock (ms), injectable for tests. */
  readonly now?: (() => number) | undefined;
}

export interface DownloadResult {
  readonly path: string;
  readonly bytes: number;
  /** Lower-case hex sha256 of the file (always computed). */
  readonly sha256: string;
  /** Bytes received by this run. */
  readonly receivedBytes: number;
  /** Bytes an earlier run had left in `.part` and this run kept. */
  readonly resumedBytes: number;
  /** The validator the server gave (ETag or Last-Modified), '' when none. */
  readonly validator: string;
}

/** One byte range of the file and how much of it is on disk. */
interface Chunk {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  done: number;
}

/** What `<dest>.part.json` holds. */
interface PartState {
  readonly version: 1;
  /** The URL asked for (not the redirect target: that one is signed and expires). */
  readonly url: string;
  readonly validator: string;
  readonly size: number;
  readonly chunks: Chunk[];
}

function isChunk(c: unknown, size: number): c is Chunk {
  if (typeof c !== 'object' || c === null) return false;
  const { start, end, done } = c as Record<string, unknown>;
  return (
    typeof start === 'number' && typeof end === 'number' && typeof done === 'number' &&
    Number.isSafeInteger(start) && Number.isSafeInteger(end) && Number.isSafeInteger(done) &&
    start >= 0 && start < end && end <= size && done >= 0 && done <= end - start
  );
}

/** Reads the progress file; anything unreadable or inconsistent counts as no progress (the download starts over). */
async function readState(path: string, partPath: string): Promise<PartState | undefined> {
  try {
    const [text, part] = await Promise.all([readFile(path, 'utf8'), stat(partPath)]);
    if (text.length > MAX_STATE_BYTES) return undefined;
    const s = JSON.parse(text) as Record<string, unknown>;
    const size = s.size;
    if (s.version !== 1 || typeof s.url !== 'string' || typeof s.validator !== 'string' || typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) return undefined;
    if (!Array.isArray(s.chunks) || !s.chunks.every((c) => isChunk(c, size)) || part.size !== size) return undefined;
    const chunks = s.chunks as Chunk[];
    // The chunks must tile [0, size) in order.
    for (let i = 0; i < chunks.length; i++) if (chunks[i].start !== (i === 0 ? 0 : chunks[i - 1].end)) return undefined;
    if (chunks.length === 0 || chunks[chunks.length - 1].end !== size) return undefined;
    return { version: 1, url: s.url, validator: s.validator, size, chunks };
  } catch {
    return undefined;
  }
}

async function writeState(path: string, state: PartState): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, path);
}

/** The total size from `Content-Range: bytes a-b/total`, or undefined. */
function rangeTotal(h: Headers): number | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(h.get('content-range') ?? '');
  if (m === null) return undefined;
  const total = Number(m[3]);
  return Number.isSafeInteger(total) ? total : undefined;
}

function rangeStart(h: Headers): number | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(h.get('content-range') ?? '');
  return m === null ? undefined : Number(m[1]);
}

/** A validator usable in If-Range: a strong ETag, else Last-Modified; '' when the server gave neither. */
function validatorOf(h: Headers): string {
  const etag = h.get('etag');
  if (etag !== null && !etag.startsWith('W/')) return etag;
  return h.get('last-modified') ?? '';
}

function positiveInt(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new BitNetError('BAD_ARGUMENT', `${name} must be a positive integer, got ${v}`, { details: { field: name } });
  return v;
}

/** sha256 of a file, streamed. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const stream = createReadStream(path, { highWaterMark: 1 << 20, ...(signal === undefined ? {} : { signal }) });
  for await (const buf of stream) hash.update(buf as Buffer);
  return hash.digest('hex');
}

/** Downloads `opts.url` to `opts.dest`, resuming what an earlier run left. See the file comment for the guarantees. */
export async function downloadFile(opts: DownloadOptions): Promise<DownloadResult> {
  const fetchFn = opts.fetch ?? globalThis.fetch;
  const headers = opts.headers ?? {};
  const hasToken = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
  const parallel = positiveInt('parallel', opts.parallel, DEFAULT_PARALLEL);
  const chunkBytes = positiveInt('chunkBytes', opts.chunkBytes, DEFAULT_CHUNK_BYTES);
  const retries = opts.retries ?? DEFAULT_RETRIES;
  if (!Number.isSafeInteger(retries) || retries < 0) throw new BitNetError('BAD_ARGUMENT', `retries must be an integer >= 0, got ${retries}`, { details: { field: 'retries' } });
  const stallMs = positiveInt('stallTimeoutMs', opts.stallTimeoutMs, DEFAULT_STALL_TIMEOUT_MS);
  const now = opts.now ?? (() => performance.now());
  const partPath = `${opts.dest}.part`;
  const statePath = `${opts.dest}.part.json`;
  const what = `download of ${redactUrl(opts.url)}`;

  // ---- probe: one byte, to learn the size, the validator and whether ranges work ----
  const probe = await httpGet(opts.url, { fetch: fetchFn, headers: { ...headers, Range: 'bytes=0-0' }, signal: opts.signal, what });
  await expectStatus(probe, [200, 206], what, hasToken);
  const finalUrl = probe.url;
  const validator = validatorOf(probe.response.headers);
  const total = probe.response.status === 206 ? rangeTotal(probe.response.headers) : undefined;
  if (probe.response.status === 206 && total !== undefined) {
    await probe.response.body?.cancel().catch(() => undefined);
  } else {
    // No usable ranges: this response is the whole file; stream it (no resume is possible with such a server).
    return streamWhole(probe, opts, partPath, statePath, what, now);
  }
  if (opts.expectedBytes !== undefined && opts.expectedBytes !== total) {
    throw new BitNetError('HTTP_ERROR', `${what}: the server says ${total} bytes, the hub listed ${opts.expectedBytes}`, { details: { expected: opts.expectedBytes, actual: total } });
  }
  if (total === 0) throw new BitNetError('HTTP_ERROR', `${what}: the file is empty`, { details: { url: redactUrl(opts.url) } });

  // ---- resume or start over ----
  let state = await readState(statePath, partPath);
  let resumedBytes = 0;
  if (state !== undefined && (validator === '' || state.validator !== validator || state.size !== total)) state = undefined;
  if (state === undefined) {
    await rm(partPath, { force: true });
    const chunks: Chunk[] = [];
    for (let start = 0; start < total; start += chunkBytes) chunks.push({ start, end: Math.min(total, start + chunkBytes), done: 0 });
    state = { version: 1, url: opts.url, validator, size: total, chunks };
    const fh = await open(partPath, 'w');
    try {
      await fh.truncate(total);
    } finally {
      await fh.close();
    }
    // Without a validator a later run cannot know the bytes are still the same file: keep no progress file.
    if (validator !== '') await writeState(statePath, state);
  } else {
    resumedBytes = state.chunks.reduce((s, c) => s + c.done, 0);
  }

  // ---- fetch the missing ranges, `parallel` at a time ----
  const fh = await open(partPath, 'r+');
  const started = now();
  let received = 0;
  let lastSave = started;
  let lastSaveBytes = received;
  const current = state;
  const done = (): number => current.chunks.reduce((s, c) => s + c.done, 0);
  const report = (): void => {
    const seconds = Math.max((now() - started) / 1000, 1e-3);
    opts.onProgress?.({ doneBytes: done(), totalBytes: total, receivedBytes: received, bytesPerSecond: received / seconds });
  };
  // One write of the progress file at a time (workers share it); a forced save waits for the one in flight.
  let saving: Promise<void> = Promise.resolve();
  let inFlight = false;
  const save = async (force: boolean): Promise<void> => {
    if (validator === '') return;
    if (!force && (inFlight || (now() - lastSave < STATE_SAVE_INTERVAL_MS && received - lastSaveBytes < STATE_SAVE_INTERVAL_BYTES))) return;
    lastSave = now();
    lastSaveBytes = received;
    const next = saving.then(async () => {
      inFlight = true;
      try {
        await writeState(statePath, current);
      } finally {
        inFlight = false;
      }
    });
    saving = next.catch(() => undefined);
    await next;
  };
  const pending = current.chunks.filter((c) => c.done < c.end - c.start);
  let failure: unknown;
  const worker = async (): Promise<void> => {
    for (let c = pending.shift(); c !== undefined && failure === undefined; c = pending.shift()) {
      const chunk = c;
      for (let attempt = 0; ; attempt++) {
        try {
          await fetchChunk(chunk);
          break;
        } catch (e) {
          await save(true);
          const retriable = e instanceof BitNetError && e.code === 'NETWORK_ERROR' && opts.signal?.aborted !== true;
          if (!retriable || attempt >= retries || failure !== undefined) throw e;
          await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
        }
      }
    }
  };
  const fetchChunk = async (chunk: Chunk): Promise<void> => {
    const from = chunk.start + chunk.done;
    const to = chunk.end - 1;
    const stall = new AbortController();
    const signal = opts.signal === undefined ? stall.signal : AbortSignal.any([opts.signal, stall.signal]);
    let timer = setTimeout(() => stall.abort(), stallMs);
    try {
      const rangeHeaders: Record<string, string> = { ...headers, Range: `bytes=${from}-${to}` };
      if (validator !== '') rangeHeaders['If-Range'] = validator;
      // The signed CDN URL from the probe serves the chunks; Authorization stays with the first origin.
      const sameOrigin = new URL(finalUrl).origin === new URL(opts.url).origin;
      const r = await httpGet(finalUrl, { fetch: fetchFn, headers: sameOrigin ? rangeHeaders : withoutAuth(rangeHeaders), signal, what });
      if (r.response.status === 200) {
        await r.response.body?.cancel().catch(() => undefined);
        throw new BitNetError('FILE_CHANGED', `${what}: the file changed on the server while downloading; run the pull again to start over`, { details: { url: redactUrl(opts.url) } });
      }
      await expectStatus(r, [206], what, hasToken);
      if (rangeStart(r.response.headers) !== from) {
        await r.response.body?.cancel().catch(() => undefined);
        throw new BitNetError('HTTP_ERROR', `${what}: asked for bytes from ${from}, the server sent '${r.response.headers.get('content-range') ?? ''}'`, { details: { from } });
      }
      const reader = r.response.body?.getReader();
      if (reader === undefined) throw new BitNetError('NETWORK_ERROR', `${what}: empty response body`);
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (e) {
          if (opts.signal?.aborted === true) throw new BitNetError('ABORTED', `${what}: aborted`, { cause: opts.signal.reason });
          const why = stall.signal.aborted ? `no data for ${stallMs} ms` : 'the connection dropped';
          throw new BitNetError('NETWORK_ERROR', `${what}: ${why} at byte ${chunk.start + chunk.done} of ${total}`, { cause: e, details: { at: chunk.start + chunk.done } });
        }
        if (next.done) break;
        const room = chunk.end - chunk.start - chunk.done;
        if (next.value.byteLength > room) {
          await reader.cancel().catch(() => undefined);
          throw new BitNetError('HTTP_ERROR', `${what}: the server sent more than the ${room} bytes asked for`, { details: { from } });
        }
        await fh.write(next.value, 0, next.value.byteLength, chunk.start + chunk.done);
        chunk.done += next.value.byteLength;
        received += next.value.byteLength;
        clearTimeout(timer);
        timer = setTimeout(() => stall.abort(), stallMs);
        report();
        await save(false);
      }
      if (chunk.done !== chunk.end - chunk.start) {
        throw new BitNetError('NETWORK_ERROR', `${what}: the connection closed at byte ${chunk.start + chunk.done} of ${total}`, { details: { at: chunk.start + chunk.done } });
      }
    } finally {
      clearTimeout(timer);
    }
  };

  try {
    const workers = Array.from({ length: Math.min(parallel, Math.max(pending.length, 1)) }, () =>
      worker().catch((e: unknown) => {
        failure ??= e;
      }),
    );
    await Promise.all(workers);
  } finally {
    await fh.close();
    await save(true).catch(() => undefined);
  }
  if (failure !== undefined) throw failure;
  report();
  return finish(opts, partPath, statePath, total, validator, received, resumedBytes, what);
}

function withoutAuth(h: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() !== 'authorization') out[k] = v;
  return out;
}

/** Checks size and hash of the complete `.part`, then renames it to `dest`; on a mismatch nothing is kept. */
async function finish(opts: DownloadOptions, partPath: string, statePath: string, total: number, validator: string, received: number, resumedBytes: number, what: string): Promise<DownloadResult> {
  const size = (await stat(partPath)).size;
  if (size !== total) throw new BitNetError('DOWNLOAD_TRUNCATED', `${what}: ${size} of ${total} bytes on disk`, { details: { expected: total, actual: size } });
  const sha256 = await sha256File(partPath, opts.signal);
  if (opts.sha256 !== undefined && sha256 !== opts.sha256.toLowerCase()) {
    await rm(partPath, { force: true });
    await rm(statePath, { force: true });
    throw new BitNetError('CHECKSUM_MISMATCH', `${what}: sha256 ${sha256} differs from the hub's ${opts.sha256}; the download was deleted`, {
      details: { expected: opts.sha256, actual: sha256 },
    });
  }
  await rename(partPath, opts.dest);
  await rm(statePath, { force: true });
  return { path: opts.dest, bytes: total, sha256, receivedBytes: received, resumedBytes, validator };
}

/** A server without ranges: one response is the whole file; nothing survives a failure. */
async function streamWhole(probe: HttpResponse, opts: DownloadOptions, partPath: string, statePath: string, what: string, now: () => number): Promise<DownloadResult> {
  const lengthHeader = probe.response.headers.get('content-length');
  const total = lengthHeader === null ? undefined : Number(lengthHeader);
  const expected = opts.expectedBytes ?? total;
  await rm(statePath, { force: true });
  const fh: FileHandle = await open(partPath, 'w');
  const started = now();
  let received = 0;
  let ok = false;
  try {
    const reader = probe.response.body?.getReader();
    if (reader === undefined) throw new BitNetError('NETWORK_ERROR', `${what}: empty response body`);
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (e) {
        throw new BitNetError('NETWORK_ERROR', `${what}: the connection dropped at byte ${received} (this server does not support resuming)`, { cause: e, details: { at: received } });
      }
      if (next.done) break;
      if (expected !== undefined && received + next.value.byteLength > expected) {
        await reader.cancel().catch(() => undefined);
        throw new BitNetError('HTTP_ERROR', `${what}: the server sent more than ${expected} bytes`, { details: { expected } });
      }
      await fh.write(next.value, 0, next.value.byteLength, received);
      received += next.value.byteLength;
      const seconds = Math.max((now() - started) / 1000, 1e-3);
      opts.onProgress?.({ doneBytes: received, totalBytes: expected ?? 0, receivedBytes: received, bytesPerSecond: received / seconds });
    }
    if (expected !== undefined && received !== expected) {
      throw new BitNetError('DOWNLOAD_TRUNCATED', `${what}: ${received} of ${expected} bytes arrived`, { details: { expected, actual: received } });
    }
    if (received === 0) throw new BitNetError('HTTP_ERROR', `${what}: the file is empty`);
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await rm(partPath, { force: true });
  }
  return finish(opts, partPath, statePath, received, validatorOf(probe.response.headers), received, 0, what);
}
