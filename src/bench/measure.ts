// Measures one configuration end to end (load cold and warm, timed generations, RSS): our engine, or llama.cpp through node-llama-cpp.
//
// Protocol, identical for both engines: load (the first load of this configuration in the process), run
// `runs` greedy generations of `tg` tokens after a fresh `pp`-token prompt each (the prompts differ from
// the first token on, so no KV-cache prefix is reused), dispose; load again (the file is now in the page
// cache: the warm load) and time the first token of --runs more fresh prompts (median). Peak RSS is sampled from just
// before the first load to the end of the timed runs.

import { BitNet } from '../engine/bitnet.js';
import type { Receipt } from '../engine/receipt.js';
import { BitNetError, isBitNetError } from '../errors.js';
import type { ModelFileInfo } from './models.js';
import { loadNodeLlamaCpp, type NodeLlamaCpp, type PeerContext, type PeerLlama, type PeerModel, type PeerToken } from './peer-llama.js';
import { benchPromptTokens } from './prompts.js';
import { median, baseName, type BenchRow, type RunSample } from './report.js';
import { maxRssBytes, rssBytes, RssSampler } from './rss.js';

export type BitnetBenchBackend = 'wasm' | 'reference';

export interface MeasureSpec {
  readonly file: ModelFileInfo;
  readonly threads: number;
  readonly runs: number;
  /** Prompt tokens per run. */
  readonly pp: number;
  /** Generated tokens per run (>= 2, so a decode rate exists). */
  readonly tg: number;
  readonly signal?: AbortSignal;
  /** Frees garbage (e.g. the previous configuration's wasm memory) before a load; optional. */
  readonly gc?: () => void;
  readonly log: (line: string) => void;
}

const now = (): number => performance.now();

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function emptyRow(engine: BenchRow['engine'], backend: string, spec: MeasureSpec, status: BenchRow['status'], error: string | null): BenchRow {
  return {
    engine,
    backend,
    kernelSet: null,
    threads: spec.threads,
    file: baseName(spec.file.path),
    weightType: spec.file.weightType,
    outputType: spec.file.outputType,
    shape: spec.file.shape,
    fileBytes: spec.file.fileBytes,
    weightBytes: spec.file.weightBytesPerToken,
    status,
    error,
    loadColdMs: null,
    loadWarmMs: null,
    prefillTokS: null,
    decodeTokS: null,
    ttftMs: null,
    ttftWarmMs: null,
    runs: [],
    rssBeforeBytes: null,
    rssPeakBytes: null,
    maxRssBytes: null,
    bandwidthFraction: null,
  };
}

/** Medians of a row's runs; decode only over runs that generated at least two tokens (an early end-of-generation leaves none). */
export function summarizeRuns(runs: readonly RunSample[]): { prefillTokS: number | null; decodeTokS: number | null; ttftMs: number | null } {
  return {
    prefillTokS: median(runs.map((r) => r.prefillTokS)),
    decodeTokS: median(runs.filter((r) => r.generatedTokens >= 2).map((r) => r.decodeTokS)),
    ttftMs: median(runs.map((r) => r.ttftMs)),
  };
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new BitNetError('ABORTED', 'the benchmark was aborted', { cause: signal.reason });
}

async function bitnetGeneration(model: BitNet, prompt: readonly number[], maxTokens: number, rss: RssSampler | undefined, signal: AbortSignal | undefined): Promise<RunSample> {
  for await (const piece of model.generate(prompt, { maxTokens, sampling: { kind: 'greedy' }, ignoreEos: true, seed: 0, ...(signal === undefined ? {} : { signal }) })) {
    rss?.sample();
    if (piece.finish !== undefined) {
      const t = piece.finish.timings;
      return { prefillTokS: t.prefillTokPerS, decodeTokS: t.decodeTokPerS, ttftMs: t.timeToFirstTokenMs, promptTokens: piece.finish.usage.promptTokens, generatedTokens: piece.finish.usage.completionTokens };
    }
  }
  throw new BitNetError('INTERNAL', 'generation ended without a finish piece');
}

/** Context length for a bench load: the prompt, the generated tokens and a little slack. */
function benchContext(spec: MeasureSpec): number {
  return spec.pp + spec.tg + 8;
}

/** Our engine on one backend and thread count. Returns the row and the receipt of its last timed run. */
export async function measureBitnet(spec: MeasureSpec & { readonly backend: BitnetBenchBackend }): Promise<{ row: BenchRow; receipt: Receipt | undefined }> {
  const { backend, signal } = spec;
  const loadOptions = { backend, threads: spec.threads, contextLength: benchContext(spec), ...(signal === undefined ? {} : { signal }) };
  spec.gc?.();
  const rssBeforeBytes = rssBytes();
  const rss = new RssSampler();
  rss.start();
  let model: BitNet | undefined;
  try {
    let t0 = now();
    try {
      model = await BitNet.load(spec.file.path, loadOptions);
    } catch (e) {
      if (isBitNetError(e, 'BACKEND_UNAVAILABLE')) return { row: emptyRow('bitnet', backend, spec, 'unavailable', message(e)), receipt: undefined };
      throw e;
    }
    const loadColdMs = now() - t0;
    const info = model.info;
    if (info.backend !== backend) throw new BitNetError('INTERNAL', `asked for backend '${backend}', got '${info.backend}'`);
    if (info.threads !== spec.threads) spec.log(`note: ${backend} asked for ${spec.threads} thread(s), runs ${info.threads}`);
    const runs: RunSample[] = [];
    for (let r = 0; r < spec.runs; r++) {
      checkAborted(signal);
      runs.push(await bitnetGeneration(model, benchPromptTokens(r, spec.pp, spec.file.vocabSize), spec.tg, rss, signal));
    }
    const receipt = model.lastReceipt('bench');
    await model.dispose();
    model = undefined;
    const rssPeakBytes = rss.stop();
    const maxRss = maxRssBytes();

    spec.gc?.();
    t0 = now();
    model = await BitNet.load(spec.file.path, loadOptions);
    const loadWarmMs = now() - t0;
    // TTFT warm: the median over --runs fresh prompts (one request alone moves by ~100 ms on a shared machine)
    const warm: number[] = [];
    for (let r = 0; r < spec.runs; r++) {
      checkAborted(signal);
      warm.push((await bitnetGeneration(model, benchPromptTokens(spec.runs + r, spec.pp, spec.file.vocabSize), 1, undefined, signal)).ttftMs);
    }
    await model.dispose();
    model = undefined;

    return {
      row: {
        ...emptyRow('bitnet', backend, spec, 'ok', null),
        kernelSet: [info.kernelSet, ...info.kernelFeatures].join('+'),
        threads: info.threads,
        weightBytes: receipt?.model.weight_bytes ?? spec.file.weightBytesPerToken,
        loadColdMs,
        loadWarmMs,
        ...summarizeRuns(runs),
        ttftWarmMs: median(warm),
        runs,
        rssBeforeBytes,
        rssPeakBytes,
        maxRssBytes: maxRss,
      },
      receipt,
    };
  } catch (e) {
    if (isBitNetError(e, 'ABORTED')) throw e;
    return { row: emptyRow('bitnet', backend, spec, 'error', message(e)), receipt: undefined };
  } finally {
    rss.stop();
    await model?.dispose();
  }
}

// ---------------------------------------------------------------- llama.cpp (node-llama-cpp 3.21.1)

type Llama = PeerLlama;
type LlamaModel = PeerModel;
type LlamaContext = PeerContext;
type Token = PeerToken;

async function loadPeer(llama: Llama, spec: MeasureSpec): Promise<{ model: LlamaModel; context: LlamaContext }> {
  const model = await llama.loadModel({ modelPath: spec.file.path, gpuLayers: 0 });
  try {
    // batchSize >= pp: the prompt goes in one batch, as our engine's PREFILL_BATCH batches do.
    const context = await model.createContext({ contextSize: benchContext(spec), threads: { ideal: spec.threads, min: spec.threads }, batchSize: spec.pp });
    return { model, context };
  } catch (e) {
    await model.dispose();
    throw e;
  }
}

/** One greedy generation on a cleared sequence: prefill rate = pp / time to first token, decode over the rest. */
async function peerGeneration(context: LlamaContext, prompt: readonly number[], maxTokens: number, rss: RssSampler | undefined): Promise<RunSample> {
  const seq = context.getSequence();
  try {
    const t0 = now();
    let tFirst = 0;
    let tLast = 0;
    let n = 0;
    for await (const _token of seq.evaluate(prompt as Token[], { temperature: 0 })) {
      const t = now();
      if (n === 0) tFirst = t;
      tLast = t;
      n++;
      rss?.sample();
      if (n >= maxTokens) break;
    }
    if (n === 0) throw new BitNetError('INTERNAL', 'llama.cpp generated no token');
    const ttftMs = tFirst - t0;
    return {
      prefillTokS: ttftMs > 0 ? (prompt.length * 1000) / ttftMs : 0,
      decodeTokS: n > 1 && tLast > tFirst ? ((n - 1) * 1000) / (tLast - tFirst) : 0,
      ttftMs,
      promptTokens: prompt.length,
      generatedTokens: n,
    };
  } finally {
    await seq.dispose();
  }
}

/** llama.cpp (CPU) through node-llama-cpp on one thread count; 'unavailable' when the package or the file's format is missing. */
export async function measureLlamaCpp(spec: MeasureSpec): Promise<BenchRow> {
  if (spec.file.llamaCppRefusal !== '') return emptyRow('llama.cpp', 'cpu', spec, 'unavailable', `llama.cpp cannot read ${baseName(spec.file.path)}: ${spec.file.llamaCppRefusal}`);
  let lib: NodeLlamaCpp;
  try {
    lib = await loadNodeLlamaCpp();
  } catch (e) {
    return emptyRow('llama.cpp', 'cpu', spec, 'unavailable', message(e));
  }
  let llama: Llama;
  try {
    llama = await lib.getLlama({ gpu: false, build: 'never', logLevel: lib.LlamaLogLevel.error });
  } catch (e) {
    return emptyRow('llama.cpp', 'cpu', spec, 'unavailable', `node-llama-cpp has no usable prebuilt binary (${message(e)})`);
  }
  spec.gc?.();
  const rssBeforeBytes = rssBytes();
  const rss = new RssSampler();
  rss.start();
  let loaded: { model: LlamaModel; context: LlamaContext } | undefined;
  try {
    let t0 = now();
    loaded = await loadPeer(llama, spec);
    const loadColdMs = now() - t0;
    const runs: RunSample[] = [];
    for (let r = 0; r < spec.runs; r++) {
      checkAborted(spec.signal);
      runs.push(await peerGeneration(loaded.context, benchPromptTokens(r, spec.pp, spec.file.vocabSize), spec.tg, rss));
    }
    await loaded.context.dispose();
    await loaded.model.dispose();
    loaded = undefined;
    const rssPeakBytes = rss.stop();
    const maxRss = maxRssBytes();

    t0 = now();
    loaded = await loadPeer(llama, spec);
    const loadWarmMs = now() - t0;
    const warm: number[] = [];
    for (let r = 0; r < spec.runs; r++) {
      checkAborted(spec.signal);
      warm.push((await peerGeneration(loaded.context, benchPromptTokens(spec.runs + r, spec.pp, spec.file.vocabSize), 1, undefined)).ttftMs);
    }
    return {
      ...emptyRow('llama.cpp', 'cpu', spec, 'ok', null),
      loadColdMs,
      loadWarmMs,
      ...summarizeRuns(runs),
      ttftWarmMs: median(warm),
      runs,
      rssBeforeBytes,
      rssPeakBytes,
      maxRssBytes: maxRss,
    };
  } catch (e) {
    if (isBitNetError(e, 'ABORTED')) throw e;
    return emptyRow('llama.cpp', 'cpu', spec, 'error', message(e));
  } finally {
    rss.stop();
    if (loaded !== undefined) {
      await loaded.context.dispose();
      await loaded.model.dispose();
    }
    await llama.dispose();
  }
}
