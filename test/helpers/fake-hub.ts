// A local stand-in for a Hugging Face-compatible hub on 127.0.0.1: the file-list API, `resolve` URLs that redirect
// to a CDN on a second origin, ETags, single Range requests with If-Range, 401/404, connections dropped or stalled
// mid-file on request, and counters of the body bytes each side served.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  readonly name: string;
  data: Uint8Array;
  /** Changes when `data` does (the CDN's ETag). */
  etag: string;
  /** The sha256 the API lists (default: the real one); a wrong value tests verification. */
  listedSha256?: string;
}

export interface FakeRepo {
  readonly files: FakeFile[];
  /** Bearer token required for the API and resolve (the CDN's signed URL needs none). */
  readonly token?: string;
}

export interface FakeHub {
  readonly hubUrl: string;
  readonly cdnUrl: string;
  readonly repos: Map<string, FakeRepo>;
  /** Body bytes the CDN served, in total. */
  cdnBytes: number;
  /** Range requests the CDN answered with 206 (the 1-byte probes included). */
  rangeRequests: string[];
  /** Requests the hub and CDN saw (method and path). */
  requests: string[];
  /** Authorization headers the CDN saw (must stay empty: credentials never leave the hub's origin). */
  cdnAuthorizations: string[];
  /** Largest number of CDN responses in flight at once. */
  maxConcurrent: number;
  /** The next CDN body with more than this many bytes is cut after them: 'drop' closes the socket, 'stall' goes silent. */
  failNext: { afterBytes: number; mode: 'drop' | 'stall' } | undefined;
  /** Serve without Range support (always 200, whole file). */
  noRanges: boolean;
  /** Wait this long before sending a CDN body (so parallel requests overlap in time). */
  bodyDelayMs: number;
  close(): Promise<void>;
}

export function fakeFile(name: string, data: Uint8Array): FakeFile {
  return { name, data, etag: `"${createHash('sha256').update(data).digest('hex').slice(0, 16)}"` };
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

export async function startFakeHub(repos: Record<string, FakeRepo>): Promise<FakeHub> {
  const stalled: ServerResponse[] = [];
  let inFlight = 0;
  const hub: FakeHub = {
    hubUrl: '',
    cdnUrl: '',
    repos: new Map(Object.entries(repos)),
    cdnBytes: 0,
    rangeRequests: [],
    requests: [],
    cdnAuthorizations: [],
    maxConcurrent: 0,
    failNext: undefined,
    noRanges: false,
    bodyDelayMs: 0,
    close: async () => {
      for (const r of stalled) r.destroy();
      hubServer.closeAllConnections();
      cdnServer.closeAllConnections();
      await Promise.all([new Promise((r) => hubServer.close(r)), new Promise((r) => cdnServer.close(r))]);
    },
  };
  const findBlob = (key: string): FakeFile | undefined => {
    for (const repo of hub.repos.values()) for (const f of repo.files) if (sha256Hex(f.data) === key) return f;
    return undefined;
  };

  const hubServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', hub.hubUrl);
    hub.requests.push(`hub ${req.method ?? ''} ${url.pathname}`);
    const api = /^\/api\/models\/([^/]+\/[^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const repoName = api?.[1] ?? resolve?.[1];
    const repo = repoName === undefined ? undefined : hub.repos.get(repoName);
    if (repo === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Repository not found"}');
      return;
    }
    if (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"Invalid credentials"}');
      return;
    }
    if (api !== null) {
      const siblings = repo.files.map((f) => ({ rfilename: f.name, size: f.data.byteLength, lfs: { sha256: f.listedSha256 ?? sha256Hex(f.data), size: f.data.byteLength, pointerSize: 134 } }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: repoName, siblings: [{ rfilename: 'README.md' }, ...siblings] }));
      return;
    }
    const file = repo.files.find((f) => f.name === decodeURIComponent(resolve?.[3] ?? ''));
    if (file === undefined) {
      res.writeHead(404).end('Entry not found');
      return;
    }
    const sha = sha256Hex(file.data);
    res.writeHead(302, { location: `${hub.cdnUrl}/blobs/${sha}?signature=secret-${sha.slice(0, 8)}`, 'x-linked-etag': `"${sha}"`, 'x-linked-size': String(file.data.byteLength) }).end();
  });

  const cdnServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', hub.cdnUrl);
    hub.requests.push(`cdn ${req.method ?? ''} ${url.pathname}`);
    if (req.headers.authorization !== undefined) hub.cdnAuthorizations.push(req.headers.authorization);
    const file = findBlob(url.pathname.replace('/blobs/', ''));
    if (file === undefined) {
      res.writeHead(404).end();
      return;
    }
    const size = file.data.byteLength;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (!hub.noRanges && range !== null && (ifRange === undefined || ifRange === file.etag)) {
      start = Number(range[1]);
      end = range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
      if (start >= size || start > end) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      status = 206;
      hub.rangeRequests.push(`${start}-${end}`);
    }
    const body = file.data.subarray(start, end + 1);
    const headers: Record<string, string> = { etag: file.etag, 'content-length': String(body.byteLength), 'content-type': 'application/octet-stream' };
    if (!hub.noRanges) headers['accept-ranges'] = 'bytes';
    if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(status, headers);
    inFlight++;
    hub.maxConcurrent = Math.max(hub.maxConcurrent, inFlight);
    res.on('close', () => inFlight--);
    const fail = hub.failNext !== undefined && body.byteLength > hub.failNext.afterBytes ? hub.failNext : undefined;
    if (fail !== undefined) hub.failNext = undefined;
    const limit = fail?.afterBytes ?? body.byteLength;
    // Send in 16 KiB pieces, waiting for drain, so "bytes served" means bytes written to the socket.
    let at = 0;
    const pump = (): void => {
      while (at < limit) {
        const piece = body.subarray(at, Math.min(limit, at + 16384));
        at += piece.byteLength;
        hub.cdnBytes += piece.byteLength;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      if (fail === undefined) res.end();
      else if (fail.mode === 'drop') setTimeout(() => res.destroy(), 20);
      else stalled.push(res);
    };
    if (hub.bodyDelayMs > 0) setTimeout(pump, hub.bodyDelayMs);
    else pump();
  });

  const [hubUrl, cdnUrl] = await Promise.all([listen(hubServer), listen(cdnServer)]);
  Object.assign(hub, { hubUrl, cdnUrl });
  return hub;
}
