// The demo's static server on 127.0.0.1: the chat page, the browser build, and model files with HTTP Range
// support. COOP same-origin + COEP require-corp make the page cross-origin isolated (SharedArrayBuffer, threads);
// `isolate: false` leaves them out (tests of the single-thread fallback).

import { open, readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join, resolve, sep } from 'node:path';
import { buildBrowserFiles, repoRoot } from './build-browser.js';

export interface DemoServerOptions {
  /** Model files served at /models/<file name>. */
  models?: readonly string[];
  port?: number;
  host?: string;
  /** Send COOP/COEP (default true). */
  isolate?: boolean;
  /** Honour Range requests for models (default true); false answers 200 with the whole file (tests). */
  ranges?: boolean;
  /** Extra directories served read-only under a URL prefix (e.g. '/wllama/' for the browser bench's peer engine). */
  staticDirs?: Readonly<Record<string, string>>;
}

export interface DemoServer {
  readonly url: string;
  /** Bytes of model files asked for so far (206 ranges and 200 bodies), for tests and the log. */
  readonly modelBytesRequested: number;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8', json: 'application/json' };

export async function startDemoServer(opts: DemoServerOptions = {}): Promise<DemoServer> {
  const root = await repoRoot();
  const files = await buildBrowserFiles();
  files.set('index.html', await readFile(join(root, 'src/demo/page/index.html')));
  files.set('app.css', await readFile(join(root, 'src/demo/page/app.css')));
  const models = new Map<string, string>();
  for (const m of opts.models ?? []) models.set(basename(m), m);
  const isolate = opts.isolate ?? true;
  const ranges = opts.ranges ?? true;
  let modelBytesRequested = 0;

  const headers = (type: string): Record<string, string> => ({
    'content-type': type,
    'cache-control': 'no-store',
    'cross-origin-resource-policy': 'same-origin',
    ...(isolate ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {}),
  });

  async function serveModel(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const size = (await stat(path)).size;
    const m = ranges ? /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '') : null;
    const h = { ...headers('application/octet-stream'), 'accept-ranges': ranges ? 'bytes' : 'none' };
    let start = 0;
    let end = size - 1;
    if (m !== null) {
      start = Number(m[1]);
      end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      if (start >= size || end < start) {
        res.writeHead(416, { ...h, 'content-range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { ...h, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': String(end - start + 1) });
    } else {
      res.writeHead(200, { ...h, 'content-length': String(size) });
    }
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    modelBytesRequested += end - start + 1;
    const fh = await open(path, 'r');
    try {
      const stream = fh.createReadStream({ start, end, autoClose: false });
      await new Promise<void>((resolve, reject) => {
        stream.on('error', reject);
        res.on('close', resolve);
        stream.pipe(res);
      });
    } finally {
      await fh.close();
    }
  }

  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const handle = async (): Promise<void> => {
      if (path === '/api/models') {
        const list = [...models.keys()].map((name) => ({ name, url: `/models/${encodeURIComponent(name)}` }));
        res.writeHead(200, headers(TYPES.json)).end(JSON.stringify(await Promise.all(list.map(async (x) => ({ ...x, bytes: (await stat(models.get(x.name) ?? '')).size })))));
        return;
      }
      if (path.startsWith('/models/')) {
        const file = models.get(path.slice('/models/'.length));
        if (file === undefined) {
          res.writeHead(404, headers('text/plain')).end('no such model');
          return;
        }
        await serveModel(req, res, file);
        return;
      }
      for (const [prefix, dir] of Object.entries(opts.staticDirs ?? {})) {
        if (!path.startsWith(prefix)) continue;
        const file = resolve(dir, path.slice(prefix.length));
        if (!file.startsWith(resolve(dir) + sep)) break; // no way out of the directory
        const body = await readFile(file).catch(() => undefined);
        if (body === undefined) break;
        const ext = file.split('.').pop() ?? '';
        res.writeHead(200, headers(ext === 'wasm' ? 'application/wasm' : (TYPES[ext] ?? 'application/octet-stream'))).end(body);
        return;
      }
      const name = path === '/' ? 'index.html' : path.slice(1);
      const body = files.get(name);
      if (body === undefined) {
        res.writeHead(404, headers('text/plain')).end('not found');
        return;
      }
      res.writeHead(200, headers(TYPES[name.split('.').pop() ?? ''] ?? 'application/octet-stream')).end(body);
    };
    handle().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, headers('text/plain'));
      res.end(String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve);
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address}:${addr.port}/`,
    get modelBytesRequested() {
      return modelBytesRequested;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
