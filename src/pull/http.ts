// HTTP for `bitnet pull`: one GET with redirects followed by hand (credentials never cross origins), statuses and
// network failures turned into BitNetErrors that never contain the token.

import { BitNetError } from '../errors.js';

/** Redirect hops followed before giving up (the hub answers a download with one hop to its CDN). */
const MAX_REDIRECTS = 10;

export interface HttpGetOptions {
  readonly fetch: typeof fetch;
  /** Request headers; `Authorization` is sent to the first URL's origin only. */
  readonly headers: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal | undefined;
  /** What the request is for, for error messages ('the file list of owner/name'). */
  readonly what: string;
}

export interface HttpResponse {
  readonly response: Response;
  /** The URL that answered (after redirects). */
  readonly url: string;
  /** Headers of every response on the way, first (the URL asked for) to last. */
  readonly hops: readonly Headers[];
}

/** True for a redirect status that carries a Location. */
function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** Strips query and fragment (signed CDN URLs carry credentials there) for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * GET `url`, following redirects itself: the fetch standard drops Authorization on a cross-origin redirect only in
 * recent implementations, so this does it explicitly. Resolves with the first non-redirect response (any status).
 */
export async function httpGet(url: string, opts: HttpGetOptions): Promise<HttpResponse> {
  const firstOrigin = new URL(url).origin;
  const hops: Headers[] = [];
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const sameOrigin = new URL(current).origin === firstOrigin;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers)) if (sameOrigin || k.toLowerCase() !== 'authorization') headers[k] = v;
    let response: Response;
    try {
      response = await opts.fetch(current, { headers, redirect: 'manual', ...(opts.signal === undefined ? {} : { signal: opts.signal }) });
    } catch (e) {
      if (opts.signal?.aborted === true) throw new BitNetError('ABORTED', `${opts.what}: aborted`, { cause: opts.signal.reason });
      throw new BitNetError('NETWORK_ERROR', `${opts.what}: cannot reach ${redactUrl(current)} (${e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)})`, {
        cause: e,
        details: { url: redactUrl(current) },
      });
    }
    hops.push(response.headers);
    const location = response.headers.get('location');
    if (!isRedirect(response.status) || location === null) return { response, url: current, hops };
    await response.body?.cancel().catch(() => undefined);
    current = new URL(location, current).href;
  }
  throw new BitNetError('HTTP_ERROR', `${opts.what}: more than ${MAX_REDIRECTS} redirects from ${redactUrl(url)}`, { details: { url: redactUrl(url) } });
}

/** Throws HTTP_ERROR for a status other than `ok`, with a hint for 401/403/404; cancels the body first. */
export async function expectStatus(r: HttpResponse, ok: readonly number[], what: string, hasToken: boolean): Promise<void> {
  const status = r.response.status;
  if (ok.includes(status)) return;
  await r.response.body?.cancel().catch(() => undefined);
  const hint =
    status === 401 || status === 403
      ? hasToken
        ? ' (the token in HF_TOKEN was refused, or it has no access to this repository)'
        : ' (this needs an access token: set HF_TOKEN)'
      : status === 404
        ? ' (not found: check the repository, file and revision names)'
        : '';
  throw new BitNetError('HTTP_ERROR', `${what}: HTTP ${status} from ${redactUrl(r.url)}${hint}`, { details: { status, url: redactUrl(r.url) } });
}

/** Reads a response body as text, refusing more than `maxBytes` (a hostile server cannot make us buffer gigabytes). */
export async function readTextBounded(response: Response, maxBytes: number, what: string): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      throw new BitNetError('NETWORK_ERROR', `${what}: the connection failed while reading the response`, { cause: e });
    }
    if (chunk.done) break;
    total += chunk.value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new BitNetError('HTTP_ERROR', `${what}: response larger than ${maxBytes} bytes`, { details: { maxBytes } });
    }
    parts.push(chunk.value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  return new TextDecoder().decode(all);
}
