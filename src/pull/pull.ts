// `bitnet pull` as a library call: resolve 'owner/name[:file]' on a Hugging Face-compatible hub (or take a direct
// URL), pick the GGUF file, download it resumably into the model cache and record it in the cache's index.
//
// Hub API (https://huggingface.co/docs/hub/api, huggingface_hub `HfApi.model_info(files_metadata=True)`):
//   GET {hub}/api/models/{repo}[/revision/{rev}]?blobs=true -> { siblings: [{ rfilename, size?, lfs?: { sha256, size } }] }
//   GET {hub}/{repo}/resolve/{rev}/{file}                   -> 302 to the CDN (X-Linked-Etag: the LFS sha256,
//                                                              X-Linked-Size), Range requests served there.

import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { BitNetError } from '../errors.js';
import { ModelCache, type CachedModel } from './cache.js';
import { downloadFile, type DownloadProgress } from './download.js';
import { expectStatus, httpGet, readTextBounded, redactUrl } from './http.js';

export const DEFAULT_HUB_URL = 'https://huggingface.co';
/** Largest file-list response we read (a repo with thousands of files is well under this). */
const MAX_API_RESPONSE_BYTES = 32 << 20;

export interface PullOptions {
  /** Cache root (the CLI passes the demo model's cacheDir()). */
  readonly cacheRoot: string;
  /** Hub base URL (default https://huggingface.co). */
  readonly hubUrl?: string | undefined;
  /** Access token, sent as `Authorization: Bearer` to the hub's origin only; never logged. */
  readonly token?: string | undefined;
  /** Only the cache: no network at all (NOT_CACHED when absent). */
  readonly offline?: boolean | undefined;
  /** Hub revision (branch, tag or commit; default 'main'). */
  readonly revision?: string | undefined;
  readonly fetch?: typeof fetch | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((p: DownloadProgress) => void) | undefined;
  /** One line per step ('resolving ...', 'downloading ...'), for the CLI's stderr. */
  readonly onStatus?: ((line: string) => void) | undefined;
  readonly parallel?: number | undefined;
  readonly chunkBytes?: number | undefined;
  readonly retries?: number | undefined;
  readonly stallTimeoutMs?: number | undefined;
}

export interface PulledModel {
  readonly model: CachedModel;
  /** Absolute path of the file. */
  readonly path: string;
  /** True when the cache already had it and nothing was downloaded. */
  readonly fromCache: boolean;
  /** Bytes received by this call. */
  readonly receivedBytes: number;
  /** Bytes an interrupted earlier pull had left and this one kept. */
  readonly resumedBytes: number;
}

/** A parsed model reference. */
export type ModelRef =
  | { readonly kind: 'hub'; readonly repo: string; readonly file: string | undefined }
  | { readonly kind: 'url'; readonly url: string };

const NAME_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** True when `s` has the shape of 'owner/name[:file]' (it may still be a relative path; callers check the disk first). */
export function looksLikeHubRef(s: string): boolean {
  const [repo] = splitRef(s);
  const parts = repo.split('/');
  return parts.length === 2 && parts.every((p) => NAME_PART.test(p) && p !== '..' && !p.endsWith('.'));
}

function splitRef(s: string): [string, string | undefined] {
  const colon = s.indexOf(':');
  return colon < 0 ? [s, undefined] : [s.slice(0, colon), s.slice(colon + 1)];
}

/** Parses 'owner/name', 'owner/name:file.gguf' or an http(s) URL; anything else is BAD_ARGUMENT. */
export function parseModelRef(s: string): ModelRef {
  if (/^https?:\/\//i.test(s)) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new BitNetError('BAD_ARGUMENT', `not a valid URL: ${s}`, { details: { ref: s } });
    }
    return { kind: 'url', url: u.href };
  }
  if (!looksLikeHubRef(s)) {
    throw new BitNetError('BAD_ARGUMENT', `'${s}' is neither a hub reference (owner/name or owner/name:file.gguf) nor an http(s) URL`, { details: { ref: s } });
  }
  const [repo, file] = splitRef(s);
  if (file !== undefined) checkRepoFile(file);
  return { kind: 'hub', repo, file: file === '' ? undefined : file };
}

/** A file path inside a repo: relative, no '..' or empty segments, no backslashes. */
function checkRepoFile(file: string): void {
  const segments = file.split('/');
  if (file.startsWith('/') || file.includes('\\') || segments.some((p) => p === '' || p === '.' || p === '..') || file.includes('\0')) {
    throw new BitNetError('BAD_ARGUMENT', `'${file}' is not a file path inside a repository`, { details: { file } });
  }
}

function encodePath(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

function hubBase(opts: PullOptions): string {
  const base = opts.hubUrl ?? DEFAULT_HUB_URL;
  if (!/^https?:\/\//i.test(base)) throw new BitNetError('BAD_ARGUMENT', `hub URL must be http(s), got '${base}'`, { details: { field: 'hubUrl' } });
  return base.replace(/\/+$/, '');
}

interface Sibling {
  readonly file: string;
  readonly bytes: number | undefined;
  readonly sha256: string | undefined;
}

/** The repo's file list from the hub API, with sizes and LFS sha256 where the hub gives them. */
export async function listRepoFiles(repo: string, opts: PullOptions): Promise<Sibling[]> {
  const base = hubBase(opts);
  const revision = opts.revision ?? 'main';
  const path = revision === 'main' ? `/api/models/${repo}` : `/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
  const what = `the file list of ${repo}`;
  const r = await httpGet(`${base}${path}?blobs=true`, { fetch: opts.fetch ?? globalThis.fetch, headers: authHeaders(opts), signal: opts.signal, what });
  await expectStatus(r, [200], what, opts.token !== undefined);
  const text = await readTextBounded(r.response, MAX_API_RESPONSE_BYTES, what);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new BitNetError('HTTP_ERROR', `${what}: the hub's answer is not JSON`, { cause: e, details: { url: redactUrl(r.url) } });
  }
  const siblings = (body as { siblings?: unknown }).siblings;
  if (!Array.isArray(siblings)) throw new BitNetError('HTTP_ERROR', `${what}: the hub's answer has no 'siblings' list`, { details: { url: redactUrl(r.url) } });
  const out: Sibling[] = [];
  for (const s of siblings) {
    const rec = s as { rfilename?: unknown; size?: unknown; lfs?: { sha256?: unknown; size?: unknown } | null };
    if (typeof rec.rfilename !== 'string') continue;
    const sha = rec.lfs?.sha256;
    const size = typeof rec.lfs?.size === 'number' ? rec.lfs.size : rec.size;
    out.push({
      file: rec.rfilename,
      bytes: typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? size : undefined,
      sha256: typeof sha === 'string' && /^[0-9a-f]{64}$/i.test(sha) ? sha.toLowerCase() : undefined,
    });
  }
  return out;
}

/** The GGUF file to pull: the one named, else the only one; several without a name is BAD_ARGUMENT listing them. */
export function pickGguf(repo: string, files: readonly Sibling[], named: string | undefined): Sibling {
  if (named !== undefined) {
    const hit = files.find((f) => f.file === named);
    if (hit === undefined) {
      const ggufs = files.filter((f) => f.file.toLowerCase().endsWith('.gguf')).map((f) => f.file);
      throw new BitNetError('BAD_ARGUMENT', `${repo} has no file '${named}'${ggufs.length > 0 ? `; its GGUF files: ${ggufs.join(', ')}` : ''}`, { details: { repo, file: named } });
    }
    return hit;
  }
  const ggufs = files.filter((f) => f.file.toLowerCase().endsWith('.gguf'));
  if (ggufs.length === 1) return ggufs[0];
  if (ggufs.length === 0) {
    throw new BitNetError('BAD_ARGUMENT', `${repo} has no .gguf file (files: ${files.slice(0, 20).map((f) => f.file).join(', ')}${files.length > 20 ? ', ...' : ''}); convert a checkpoint with 'bitnet convert'`, { details: { repo } });
  }
  throw new BitNetError('BAD_ARGUMENT', `${repo} has ${ggufs.length} GGUF files; name one as ${repo}:FILE:\n${ggufs.map((f) => `  ${repo}:${f.file}${f.bytes === undefined ? '' : ` (${f.bytes} bytes)`}`).join('\n')}`, {
    details: { repo, candidates: ggufs.map((f) => f.file).join(', ') },
  });
}

function authHeaders(opts: PullOptions): Record<string, string> {
  return opts.token === undefined || opts.token === '' ? {} : { Authorization: `Bearer ${opts.token}` };
}

/** The cached entry for `ref`, or undefined; several files of one repo without a file name is BAD_ARGUMENT. */
export async function findCachedModel(refText: string, cache: ModelCache): Promise<CachedModel | undefined> {
  const ref = parseModelRef(refText);
  const key = ref.kind === 'url' ? ref.url : ref.file === undefined ? ref.repo : `${ref.repo}:${ref.file}`;
  const hits = [];
  for (const m of await cache.find(key)) if (await cache.isPresent(m)) hits.push(m);
  if (hits.length > 1) {
    throw new BitNetError('BAD_ARGUMENT', `the cache has ${hits.length} files of ${key}; name one:\n${hits.map((m) => `  ${m.ref}`).join('\n')}`, { details: { ref: key } });
  }
  return hits[0];
}

/** Pulls `refText` into the cache (or finds it there); see the file comment. */
export async function pullModel(refText: string, opts: PullOptions): Promise<PulledModel> {
  const ref = parseModelRef(refText);
  const cache = new ModelCache(opts.cacheRoot);
  const status = opts.onStatus ?? (() => undefined);
  if (opts.offline === true) {
    const hit = await findCachedModel(refText, cache);
    if (hit === undefined) {
      throw new BitNetError('NOT_CACHED', `${refText} is not in the model cache (${cache.modelsDir}) and offline mode forbids downloading it`, { details: { ref: refText } });
    }
    return { model: hit, path: cache.pathOf(hit), fromCache: true, receivedBytes: 0, resumedBytes: 0 };
  }
  const common = {
    fetch: opts.fetch,
    signal: opts.signal,
    onProgress: opts.onProgress,
    parallel: opts.parallel,
    chunkBytes: opts.chunkBytes,
    retries: opts.retries,
    stallTimeoutMs: opts.stallTimeoutMs,
  };

  if (ref.kind === 'url') {
    const u = new URL(ref.url);
    const file = decodeURIComponent(u.pathname.split('/').pop() ?? '') || 'model.gguf';
    const cleanUrl = `${u.origin}${u.pathname}`;
    const hit = (await cache.find(ref.url)).find((m) => m.source === 'url');
    if (hit !== undefined && (await cache.isPresent(hit))) return { model: hit, path: cache.pathOf(hit), fromCache: true, receivedBytes: 0, resumedBytes: 0 };
    // One directory per URL (its hash), so two URLs ending in the same name never share a file.
    const urlKey = createHash('sha256').update(ref.url).digest('hex').slice(0, 16);
    const safeName = file.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
    const dest = cache.destination(['url', u.hostname.replace(/[^A-Za-z0-9.-]/g, '_'), urlKey, safeName]);
    await mkdir(dirname(dest), { recursive: true });
    // Credentials go to the hub only, never to an arbitrary URL.
    const sameAsHub = new URL(hubBase(opts)).origin === u.origin;
    status(`downloading ${cleanUrl}`);
    const d = await downloadFile({ url: ref.url, dest, headers: sameAsHub ? authHeaders(opts) : {}, ...common });
    const model: CachedModel = { ref: ref.url, source: 'url', repo: '', file, revision: '', url: cleanUrl, path: relative(cache.modelsDir, dest), bytes: d.bytes, sha256: d.sha256, verified: false, pulledAt: new Date().toISOString() };
    await cache.put(model);
    return { model, path: dest, fromCache: false, receivedBytes: d.receivedBytes, resumedBytes: d.resumedBytes };
  }

  const revision = opts.revision ?? 'main';
  status(`resolving ${ref.repo} on ${hubBase(opts)}`);
  const files = await listRepoFiles(ref.repo, opts);
  const pick = pickGguf(ref.repo, files, ref.file);
  const canonical = `${ref.repo}:${pick.file}`;
  const cached = (await cache.find(canonical)).find((m) => m.revision === revision);
  if (cached !== undefined && (await cache.isPresent(cached)) && (pick.sha256 === undefined ? pick.bytes === cached.bytes : pick.sha256 === cached.sha256)) {
    status(`${canonical} is up to date in the cache`);
    return { model: cached, path: cache.pathOf(cached), fromCache: true, receivedBytes: 0, resumedBytes: 0 };
  }
  const [owner, name] = ref.repo.split('/');
  const dest = cache.destination(['hub', owner, name, ...pick.file.split('/')]);
  await mkdir(dirname(dest), { recursive: true });
  const url = `${hubBase(opts)}/${ref.repo}/resolve/${encodeURIComponent(revision)}/${encodePath(pick.file)}`;
  status(`downloading ${canonical}${pick.bytes === undefined ? '' : ` (${pick.bytes} bytes)`}${pick.sha256 === undefined ? ' (the hub gives no sha256: not verified)' : ''}`);
  const d = await downloadFile({ url, dest, headers: authHeaders(opts), sha256: pick.sha256, expectedBytes: pick.bytes, ...common });
  const model: CachedModel = {
    ref: canonical,
    source: 'hub',
    repo: ref.repo,
    file: pick.file,
    revision,
    url,
    path: relative(cache.modelsDir, dest),
    bytes: d.bytes,
    sha256: d.sha256,
    verified: pick.sha256 !== undefined,
    pulledAt: new Date().toISOString(),
  };
  await cache.put(model);
  return { model, path: dest, fromCache: false, receivedBytes: d.receivedBytes, resumedBytes: d.resumedBytes };
}
