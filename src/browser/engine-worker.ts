// The engine worker: hosts BitNet in a dedicated Web Worker (its wasm thread pool may block in Atomics.wait here,
// which a page's main thread may not) and answers the page proxy's messages (protocol.ts).

import { BitNet } from '../engine/bitnet.js';
import type { GeneratedPiece } from '../engine/types.js';
import { BitNetError } from '../errors.js';
import { blobSource, bytesSource } from '../gguf/byte-source.js';
import type { ByteSource } from '../gguf/types.js';
import { openUrlSource } from '../gguf/url-source.js';
import { toWireError, type CallRequest, type FromWorker, type ToWorker, type WireSource } from './protocol.js';

/** Progress messages at most this often (a tiny model loads in a few ms; a big one reports thousands of chunks). */
const PROGRESS_INTERVAL_MS = 50;

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
}

const scope = globalThis as unknown as WorkerScope;
let model: BitNet | undefined;
/** Abort controllers of the load, generations and calls in flight, by request id. */
const inFlight = new Map<number, AbortController>();

function post(m: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(m, transfer);
}

function requireModel(): BitNet {
  if (model === undefined) throw new BitNetError('DISPOSED', 'no model is loaded in this worker (disposed, or the load failed)');
  return model;
}

async function openSource(source: WireSource, id: number, signal: AbortSignal): Promise<{ src: ByteSource; reportsProgress: boolean }> {
  let last = 0;
  const progress = (p: { loadedBytes: number; totalBytes: number }): void => {
    const t = performance.now();
    if (t - last < PROGRESS_INTERVAL_MS && p.loadedBytes < p.totalBytes) return;
    last = t;
    post({ type: 'progress', id, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes, percent: p.totalBytes > 0 ? Math.min(100, (100 * p.loadedBytes) / p.totalBytes) : 0 });
  };
  if (source.kind === 'url') return { src: await openUrlSource(source.url, { signal, onProgress: progress }), reportsProgress: true };
  if (source.kind === 'blob') return { src: blobSource(source.blob, source.name), reportsProgress: false };
  return { src: bytesSource(source.bytes), reportsProgress: false };
}

async function load(id: number, source: WireSource, options: ToWorker & { type: 'load' }): Promise<void> {
  if (model !== undefined) throw new BitNetError('BAD_ARGUMENT', 'this worker already holds a model; load another in a new worker');
  const ac = new AbortController();
  inFlight.set(id, ac);
  try {
    const { src, reportsProgress } = await openSource(source, id, ac.signal);
    let last = 0;
    model = await BitNet.load(src, {
      ...options.options,
      signal: ac.signal,
      // A URL source reports download bytes itself; Blob and byte sources report the weights as they reach the backend.
      onProgress: (p) => {
        if (reportsProgress) return;
        const t = performance.now();
        if (t - last < PROGRESS_INTERVAL_MS && p.loadedBytes < p.totalBytes) return;
        last = t;
        post({ type: 'progress', id, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes, percent: p.totalBytes > 0 ? (100 * p.loadedBytes) / p.totalBytes : 100 });
      },
    });
    post({ type: 'loaded', id, reply: { info: model.info, fallbacks: model.fallbacks, chatTemplateOrigin: model.chatTemplateOrigin } });
  } finally {
    inFlight.delete(id);
  }
}

async function stream(id: number, pieces: AsyncIterable<GeneratedPiece>): Promise<void> {
  for await (const piece of pieces) post({ type: 'piece', id, piece });
  post({ type: 'end', id });
}

async function call(id: number, c: CallRequest): Promise<void> {
  const ac = new AbortController();
  inFlight.set(id, ac);
  try {
    switch (c.method) {
      case 'complete':
        return post({ type: 'result', id, value: await requireModel().complete(c.prompt, { ...c.options, signal: ac.signal }) });
      case 'chatComplete':
        return post({ type: 'result', id, value: await requireModel().chatComplete(c.messages, { ...c.options, signal: ac.signal }) });
      case 'evaluateLogits': {
        const logits = await requireModel().evaluateLogits(c.tokens, ac.signal);
        return post({ type: 'result', id, value: logits }, [logits.buffer]);
      }
      case 'tokenize':
        return post({ type: 'result', id, value: requireModel().tokenize(c.text, c.options) });
      case 'detokenize':
        return post({ type: 'result', id, value: requireModel().detokenize(c.ids) });
      case 'renderChat':
        return post({ type: 'result', id, value: requireModel().renderChat(c.messages) });
      case 'lastReceipt':
        return post({ type: 'result', id, value: requireModel().lastReceipt() });
      case 'dispose': {
        const m = model;
        model = undefined;
        for (const other of inFlight.values()) other.abort(new BitNetError('DISPOSED', 'the model was disposed'));
        await m?.dispose();
        return post({ type: 'result', id, value: undefined });
      }
    }
  } finally {
    inFlight.delete(id);
  }
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'load':
      return load(m.id, m.source, m);
    case 'call':
      return call(m.id, m.call);
    case 'generate': {
      const ac = new AbortController();
      inFlight.set(m.id, ac);
      try {
        return await stream(m.id, requireModel().generate(m.prompt, { ...m.options, signal: ac.signal }));
      } finally {
        inFlight.delete(m.id);
      }
    }
    case 'chat': {
      const ac = new AbortController();
      inFlight.set(m.id, ac);
      try {
        return await stream(m.id, requireModel().chat(m.messages, { ...m.options, signal: ac.signal }));
      } finally {
        inFlight.delete(m.id);
      }
    }
    case 'abort':
      inFlight.get(m.id)?.abort(new BitNetError('ABORTED', 'aborted by the page'));
      return;
  }
}

scope.onmessage = (e: MessageEvent<ToWorker>): void => {
  const m = e.data;
  handle(m).catch((err: unknown) => post({ type: 'error', id: m.id, error: toWireError(err) }));
};
