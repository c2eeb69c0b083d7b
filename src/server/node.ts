// The Node.js adapter: serves a ServerApp over HTTP/1.1 with @hono/node-server, on loopback unless told otherwise.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { BitNetError } from '../errors.js';
import type { DrainResult, ServerApp } from './app.js';

/** Loopback only by default: exposing a model to the network is an explicit choice (`--host 0.0.0.0`). */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;
/** After close() aborted the generations, connections still open this long are cut. */
export const DEFAULT_CLOSE_GRACE_MS = 2000;

export interface ListenOptions {
  /** Interface to bind (default 127.0.0.1). */
  readonly host?: string;
  /** TCP port (default 8080; 0 = any free port). */
  readonly port?: number;
  readonly closeGraceMs?: number;
}

export interface RunningServer {
  /** `http://host:port` as bound (the real port when 0 was asked for). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /**
   * Stops accepting connections, closes the app (aborting queued and running generations), lets
   * responses finish for up to `closeGraceMs`, then cuts what is left. Does not dispose the model.
   */
  close(): Promise<void>;
  /**
   * Graceful stop (SIGTERM): keeps listening while `app.drain(timeoutMs)` refuses new requests with 503 and lets
   * accepted generations finish (those left at the deadline are aborted, their streams end with an error event),
   * then closes as close() does.
   */
  drain(timeoutMs: number): Promise<DrainResult>;
}

/** Starts listening; rejects with BitNetError('IO_ERROR') if the address cannot be bound. */
export async function listen(app: ServerApp, opts: ListenOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? DEFAULT_HOST;
  const port = opts.port ?? DEFAULT_PORT;
  const graceMs = opts.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new BitNetError('BAD_ARGUMENT', `port must be an integer in 0..65535, got ${port}`, { details: { field: 'port', actual: port } });
  }
  const server = createAdaptorServer({
    fetch: (request: Request, env: HttpBindings | Http2Bindings) => withQuietStreamErrors(app, request, env),
    hostname: host,
    overrideGlobalObjects: false,
  }) as Server;

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => {
      reject(new BitNetError('IO_ERROR', `cannot listen on ${host}:${port}: ${e.message}`, { cause: e, details: { host, port } }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.address.includes(':') ? `[${address.address}]` : address.address;
  let closing: Promise<void> | null = null;

  const running: RunningServer = {
    url: `http://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await app.close();
        // Keep-alive connections go idle as their last responses end: close them as they do.
        server.closeIdleConnections();
        const sweep = setInterval(() => server.closeIdleConnections(), 25);
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        try {
          await closed;
        } finally {
          clearInterval(sweep);
          clearTimeout(timer);
        }
      })();
      return closing;
    },
    async drain(timeoutMs) {
      const result = await app.drain(timeoutMs);
      await running.close();
      return result;
    },
  };
  return running;
}

/**
 * The app ends a stream by erroring it when it must drop the connection (a stalled reader). Node's
 * adapter would log such an error, and would not notice it at all while it waits for a full socket
 * to drain; this wrapper destroys the socket as soon as the stream errors and ends the body
 * quietly. Bodies that are not event streams pass through untouched.
 */
async function withQuietStreamErrors(app: ServerApp, request: Request, env: HttpBindings | Http2Bindings): Promise<Response> {
  const res = await app.fetch(request);
  const source = res.body;
  if (source === null || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) return res;
  const reader = source.getReader();
  // An errored stream is seen here even while the socket is full and nobody is reading.
  reader.closed.catch(() => env.outgoing.destroy());
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        try {
          const { done, value } = await reader.read();
          if (done) c.close();
          else c.enqueue(value);
        } catch {
          env.outgoing.destroy();
          c.close();
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}
