// The engine worker: hosts BitNet in a dedicated Web Worker (its wasm thread pool may block in Atomics.wait here,
// which a page's main thread may not) and answers the page proxy's messages (protocol.ts).

import { BitNet } from '../engine/bitnet.js';
import type { GeneratedPiece } from '../engine/types.js';
import { BitNetError, isBitNetError } from '../errors.js';
import { blobSource, bytesSource } from '../gguf/byte-source.js';
import type { ByteSource } from '../gguf/types.js';
import { openUrlSource } from '../gguf/url-source.js';
import { WASM_MEMORY_MAX_BYTES, wasmPlanBytes, wasmPlanFits } from '../kernels/wasm/index.js';
import { openModelCache, type ModelCache } from './model-cache.js';
import { openOpfsSyncSource } from './opfs-source.js';
import { toWireError, type CallRequest, type FromWorker, type LoadedReply, type ToWorker, type WireLoadOptions, type WireSource } from './protocol.js';

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

interface OpenedSource {
  readonly src: ByteSource;
  /** True when the source reported the bytes itself (a download); else progress follows the weights into memory. */
  readonly reportsProgress: boolean;
  readonly loadedFrom: LoadedReply['loadedFrom'];
  readonly cacheNote: string;
  /** Called once the load is over (either way): gives back a cached file's exclusive access handle. */
  readonly release?: () => void;
}

/**
 * A cached file as a source: read in place through a sync access handle where the worker can get one (no copies),
 * else as a Blob (another tab holds the handle, or an engine without sync access handles).
 */
async function cachedSource(cache: ModelCache, url: string, file: File, loadedFrom: 'cache' | 'network+cache', reportsProgress: boolean): Promise<OpenedSource> {
  const handle = await cache.fileHandle(url);
  const sync = handle === undefined ? undefined : await openOpfsSyncSource(handle, url);
  if (sync !== undefined && sync.size === file.size) return { src: sync, reportsProgress, loadedFrom, cacheNote: '', release: () => sync.release() };
  sync?.release();
  return { src: blobSource(file, url), reportsProgress, loadedFrom, cacheNote: '' };
}

/**
 * Reads the header over HTTP ranges (about a megabyte) and refuses, before the download, a model that is not a usable
 * GGUF file or that cannot fit a wasm32 memory, naming the sizes.
 */
async function checkFits(url: string, signal: AbortSignal, options: WireLoadOptions): Promise<void> {
  const planOptions = {
    ...(options.contextLength === undefined ? {} : { contextLength: options.contextLength }),
    ...(options.i2sFlavor === undefined ? {} : { i2sFlavor: options.i2sFlavor }),
    ...(options.tlConfig === undefined ? {} : { tlConfig: options.tlConfig }),
  };
  const plan = await BitNet.plan(await openUrlSource(url, { signal }), planOptions);
  // the reference backend keeps weights in JavaScript arrays, the webgpu backend in GPU buffers (whose limits it checks)
  if (options.backend === 'reference' || options.backend === 'webgpu') return;
  const m = plan.memory;
  const reserve = { weightBytes: m.weightBytes, activationFloats: m.activationBytes / 4, kvBytes: m.kvBytes };
  if (!wasmPlanFits(reserve)) {
    const gib = (n: number): string => `${(n / 2 ** 30).toFixed(2)} GiB`;
    throw new BitNetError(
      'MODEL_TOO_LARGE',
      `${url} needs ${gib(wasmPlanBytes(reserve))} of WebAssembly memory (weights ${gib(m.weightBytes)}, KV cache ${gib(m.kvBytes)} for ${plan.contextLength} positions, activations ${gib(m.activationBytes)}); a wasm32 memory holds at most ${gib(WASM_MEMORY_MAX_BYTES)}` +
        (m.kvBytes > 2 ** 28 ? '; a smaller contextLength needs less' : ''),
      { details: { url, neededBytes: wasmPlanBytes(reserve), limitBytes: WASM_MEMORY_MAX_BYTES, fileBytes: plan.fileBytes } },
    );
  }
}

async function openSource(source: WireSource, id: number, signal: AbortSignal, fresh: boolean, options: WireLoadOptions): Promise<OpenedSource> {
  let last = 0;
  const progress = (p: { loadedBytes: number; totalBytes: number; percent: number }): void => {
    const t = performance.now();
    if (t - last < PROGRESS_INTERVAL_MS && p.percent < 100) return;
    last = t;
    post({ type: 'progress', id, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes, percent: p.percent });
  };
  if (source.kind === 'blob') return { src: blobSource(source.blob, source.name), reportsProgress: false, loadedFrom: 'file', cacheNote: '' };
  if (source.kind === 'bytes') return { src: bytesSource(source.bytes), reportsProgress: false, loadedFrom: 'file', cacheNote: '' };
  let cacheNote = 'caching is off for this load';
  let checked = false;
  if (source.cache) {
    const cache = await openModelCache();
    if (cache === undefined) cacheNote = 'this browser context has no origin private file system';
    else {
      const hit = fresh ? undefined : await cache.open(source.url);
      if (hit !== undefined) return cachedSource(cache, source.url, hit, 'cache', false);
      // The whole file is about to be downloaded: first check from its header that it can be used at all. A server
      // without Range requests cannot be checked this way; the load from the stored file checks it then.
      checked = await checkFits(source.url, signal, options).then(
        () => true,
        (e: unknown) => {
          if (isBitNetError(e, 'RANGE_UNSUPPORTED')) return false;
          throw e;
        },
      );
      try {
        const file = await cache.store(source.url, { signal, onProgress: progress });
        return await cachedSource(cache, source.url, file, 'network+cache', true);
      } catch (e) {
        // Storage trouble is not the model's: load over the network without the cache, and say why.
        if (!isBitNetError(e, 'CACHE_FULL') && !isBitNetError(e, 'IO_ERROR')) throw e;
        cacheNote = e.message;
      }
    }
  }
  if (!checked) await checkFits(source.url, signal, options);
  return { src: await openUrlSource(source.url, { signal, onProgress: progress }), reportsProgress: true, loadedFrom: 'network', cacheNote };
}

async function load(id: number, source: WireSource, options: ToWorker & { type: 'load' }): Promise<void> {
  if (model !== undefined) throw new BitNetError('BAD_ARGUMENT', 'this worker already holds a model; load another in a new worker');
  const ac = new AbortController();
  inFlight.set(id, ac);
  try {
    let opened = await openSource(source, id, ac.signal, false, options.options);
    try {
      model = await loadFrom(opened, id, options, ac.signal);
    } catch (e) {
      opened.release?.();
      // A cached copy that fails the engine's header checks is dropped and fetched again, once.
      if (opened.loadedFrom !== 'cache' || !isBitNetError(e) || !(e.code.startsWith('GGUF_') || e.code === 'FILE_CHANGED') || source.kind !== 'url') throw e;
      await (await openModelCache())?.delete(source.url);
      opened = await openSource(source, id, ac.signal, true, options.options);
      try {
        model = await loadFrom(opened, id, options, ac.signal);
      } finally {
        opened.release?.();
      }
    }
    // the weights are in memory: the cached file need not stay locked (other tabs, cache deletes)
    opened.release?.();
    post({ type: 'loaded', id, reply: { info: model.info, fallbacks: model.fallbacks, chatTemplateOrigin: model.chatTemplateOrigin, loadedFrom: opened.loadedFrom, cacheNote: opened.cacheNote } });
  } finally {
    inFlight.delete(id);
  }
}

function loadFrom(opened: OpenedSource, id: number, options: ToWorker & { type: 'load' }, signal: AbortSignal): Promise<BitNet> {
  let last = 0;
  return BitNet.load(opened.src, {
    ...options.options,
    signal,
    // A download reported its bytes already; files (and cache hits) report the weights as they reach the backend.
    onProgress: (p) => {
      if (opened.reportsProgress) return;
      const t = performance.now();
      if (t - last < PROGRESS_INTERVAL_MS && p.loadedBytes < p.totalBytes) return;
      last = t;
      post({ type: 'progress', id, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes, percent: p.totalBytes > 0 ? (100 * p.loadedBytes) / p.totalBytes : 100 });
    },
  });
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
      case 'embed': {
        const r = await requireModel().embed(c.inputs, { ...c.options, signal: ac.signal });
        // each vector owns its buffer; transfer each plain ArrayBuffer once (a shared one would be copied instead)
        const buffers = [...new Set(r.embeddings.map((e) => e.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
        return post({ type: 'result', id, value: r }, buffers);
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
