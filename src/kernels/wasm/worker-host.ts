// Starts the thread pool's workers on the platform at hand: Node's worker_threads or a browser's Web Workers.
// Both run the same worker body (WORKER_SOURCE) over the same SharedArrayBuffer / Atomics protocol.

import { isNodeRuntime, nodeBuiltin } from '../../platform/node-builtin.js';

/** A started worker the pool can stop. */
export interface PoolWorker {
  terminate(): Promise<unknown> | void;
}

/** Data every worker gets (structured-cloned: the module and the shared memory are shared, not copied). */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  controlByteOffset: number;
  ctlWords: number;
  jobByteOffset: number;
  thread: number;
  generation: number;
  spins: number;
}

/** Starts one worker running `source` with `init`; resolves once the worker said 'ready'. */
export type WorkerStarter = (source: string, init: WorkerInit) => Promise<PoolWorker>;

/** Why this context cannot share memory with workers ('' when it can). */
export function threadsUnavailableReason(): string {
  if (isNodeRuntime()) return '';
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown };
  // A shared WebAssembly.Memory can be created without isolation in Chromium, but posting it to a worker throws.
  if (g.crossOriginIsolated === false || typeof SharedArrayBuffer === 'undefined') {
    return 'the page is not cross-origin isolated (no COOP/COEP headers), so SharedArrayBuffer cannot reach worker threads';
  }
  if (typeof g.Worker !== 'function') return 'this context has no Web Workers';
  return '';
}

async function startNodeWorker(source: string, init: WorkerInit): Promise<PoolWorker> {
  const { Worker } = await nodeBuiltin<typeof import('node:worker_threads')>('node:worker_threads');
  const worker = new Worker(source, { eval: true, workerData: init });
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if (m === 'ready') {
        worker.off('error', onError);
        resolve();
      }
    };
    const onError = (e: unknown): void => reject(e);
    worker.on('message', onMessage);
    worker.once('error', onError);
  });
  // A forgotten backend must not keep the process alive; dispose() still stops the thread.
  worker.unref();
  return { terminate: () => worker.terminate() };
}

/**
 * A classic Web Worker from a Blob URL of the source: no separate file to serve or bundle, and under COEP a
 * blob: worker inherits the page's isolation.
 */
async function startWebWorker(source: string, init: WorkerInit): Promise<PoolWorker> {
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  let worker: Worker;
  try {
    worker = new Worker(url);
  } finally {
    URL.revokeObjectURL(url);
  }
  try {
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent): void => {
        if (e.data === 'ready') resolve();
      };
      worker.onerror = (e: ErrorEvent): void => reject(new Error(e.message));
      worker.onmessageerror = (): void => reject(new Error('the worker could not receive the shared memory'));
      worker.postMessage(init);
    });
  } catch (e) {
    worker.terminate();
    throw e;
  }
  worker.onmessage = null;
  return { terminate: () => worker.terminate() };
}

/** Node's worker_threads in Node, Web Workers elsewhere. */
export function defaultWorkerStarter(): WorkerStarter {
  return isNodeRuntime() ? startNodeWorker : startWebWorker;
}
