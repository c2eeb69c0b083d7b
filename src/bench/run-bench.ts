// Runs a whole end-to-end benchmark: memory bandwidth, then every configuration (ours and llama.cpp), then the report; shared by `npm run bench` and `bitnet bench`.

import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import type { Receipt } from '../engine/receipt.js';
import { BitNetError } from '../errors.js';
import { measureBandwidthBestAvailable } from './bandwidth.js';
import { measureBitnet, measureLlamaCpp, type BitnetBenchBackend, type MeasureSpec } from './measure.js';
import { describeModelFile, type ModelFileInfo } from './models.js';
import { bandwidthFraction, buildReport, rowLabel, type BandwidthResult, type BenchReport, type BenchRow } from './report.js';

export interface BenchOptions {
  /** Our model file (the headline numbers come from it). */
  readonly model: string;
  /** The file llama.cpp runs (TQ1_0/TQ2_0, arch `bitnet`); null: no llama.cpp rows. */
  readonly peerModel: string | null;
  /** More of our files, each run by the primary backend right after the model at every thread count (default none). */
  readonly extraModels?: readonly string[];
  /** Shape name when the files were synthesized (for the report), else null. */
  readonly shape: string | null;
  readonly backends: readonly BitnetBenchBackend[];
  readonly threads: readonly number[];
  readonly runs: number;
  readonly pp: number;
  readonly tg: number;
  /** Also run our primary backend on the llama.cpp file (a same-file comparison); default true. */
  readonly sameFileRows?: boolean;
  /** Measures read bandwidth at a thread count (default: the wasm backend's read loop, else a worker probe); null skips it. */
  readonly bandwidthProbe?: ((threads: number) => Promise<BandwidthResult>) | null;
  readonly gc?: () => void;
  readonly signal?: AbortSignal;
  readonly log: (line: string) => void;
  readonly now?: () => Date;
}

export interface BenchOutcome {
  readonly report: BenchReport;
  /** Receipt of the primary row's last timed run (undefined when no bitnet row ran). */
  readonly receipt: Receipt | undefined;
}

/** Default thread counts: 1 and every available core (deduplicated). */
export function defaultThreads(): number[] {
  return [...new Set([1, availableParallelism()])];
}

function positiveInt(field: string, v: number, min = 1): void {
  if (!Number.isInteger(v) || v < min) throw new BitNetError('BAD_ARGUMENT', `${field}: expected an integer >= ${min}, got ${v}`, { details: { field, actual: v } });
}

/** Checks the numeric options; throws BAD_ARGUMENT naming the field. */
export function validateBenchOptions(o: Pick<BenchOptions, 'backends' | 'threads' | 'runs' | 'pp' | 'tg'>): void {
  positiveInt('runs', o.runs);
  positiveInt('pp', o.pp);
  positiveInt('tg', o.tg, 2);
  if (o.threads.length === 0) throw new BitNetError('BAD_ARGUMENT', 'threads: expected at least one thread count', { details: { field: 'threads' } });
  for (const t of o.threads) positiveInt('threads', t);
  if (o.backends.length === 0) throw new BitNetError('BAD_ARGUMENT', 'backends: expected at least one of wasm, reference', { details: { field: 'backends' } });
  for (const b of o.backends) {
    if (b !== 'wasm' && b !== 'reference') throw new BitNetError('BAD_ARGUMENT', `backends: expected wasm or reference, got '${String(b)}'`, { details: { field: 'backends', actual: String(b) } });
  }
}

interface Planned {
  readonly kind: 'bitnet' | 'llama.cpp';
  readonly backend: BitnetBenchBackend | 'cpu';
  readonly threads: number;
  readonly file: ModelFileInfo;
}

/**
 * The order configurations run in: the primary one first (its RSS is then not inflated by memory a
 * previous configuration left for the garbage collector), each thread count's llama.cpp row right after
 * ours (so both see the same machine load), the slow reference backend last and once (it is single-threaded).
 */
export function planConfigurations(o: {
  backends: readonly BitnetBenchBackend[];
  threads: readonly number[];
  model: ModelFileInfo;
  extras?: readonly ModelFileInfo[];
  peer: ModelFileInfo | null;
  sameFileRows: boolean;
}): Planned[] {
  const threads = [...new Set(o.threads)].sort((a, b) => b - a);
  const main: BitnetBenchBackend | undefined = o.backends.includes('wasm') ? 'wasm' : o.backends[0];
  const extras = (o.extras ?? []).filter((e) => e.path !== o.model.path && e.path !== o.peer?.path);
  const out: Planned[] = [];
  for (const t of threads) {
    if (main === 'wasm') {
      out.push({ kind: 'bitnet', backend: 'wasm', threads: t, file: o.model });
      for (const e of extras) out.push({ kind: 'bitnet', backend: 'wasm', threads: t, file: e });
    }
    if (o.peer !== null) {
      if (main === 'wasm' && o.sameFileRows && o.peer.path !== o.model.path) out.push({ kind: 'bitnet', backend: 'wasm', threads: t, file: o.peer });
      out.push({ kind: 'llama.cpp', backend: 'cpu', threads: t, file: o.peer });
    }
  }
  if (o.backends.includes('reference')) {
    out.push({ kind: 'bitnet', backend: 'reference', threads: 1, file: o.model });
    if (main === 'reference') for (const e of extras) out.push({ kind: 'bitnet', backend: 'reference', threads: 1, file: e });
    if (main === 'reference' && o.peer !== null && o.sameFileRows && o.peer.path !== o.model.path) out.push({ kind: 'bitnet', backend: 'reference', threads: 1, file: o.peer });
  }
  return out;
}

export async function runBench(o: BenchOptions): Promise<BenchOutcome> {
  validateBenchOptions(o);
  const startedAt = (o.now ?? (() => new Date()))();
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    totalMemoryBytes: totalmem(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    loadAverage1m: loadavg()[0] ?? 0,
  };
  const model = await describeModelFile(o.model);
  const peer = o.peerModel === null ? null : await describeModelFile(o.peerModel);
  const extras: ModelFileInfo[] = [];
  for (const path of o.extraModels ?? []) extras.push(await describeModelFile(path));
  const plan = planConfigurations({ backends: o.backends, threads: o.threads, model, extras, peer, sameFileRows: o.sameFileRows ?? true });

  const rows: BenchRow[] = [];
  /** receipts[i] belongs to rows[i]. */
  const receipts: (Receipt | undefined)[] = [];
  for (const p of plan) {
    const spec: MeasureSpec = {
      file: p.file,
      threads: p.threads,
      runs: o.runs,
      pp: o.pp,
      tg: o.tg,
      log: o.log,
      ...(o.gc === undefined ? {} : { gc: o.gc }),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
    };
    o.log(`measuring ${p.kind === 'llama.cpp' ? `llama.cpp x${p.threads}` : `${p.backend} x${p.threads}`} on ${p.file.weightType} (${p.file.path}) ...`);
    const m = p.kind === 'llama.cpp' ? { row: await measureLlamaCpp(spec), receipt: undefined } : await measureBitnet({ ...spec, backend: p.backend === 'reference' ? 'reference' : 'wasm' });
    const row = m.row;
    rows.push(row);
    receipts.push(m.receipt);
    o.log(row.status === 'ok' ? `  ${rowLabel(row)}: prefill ${row.prefillTokS?.toFixed(1) ?? '-'} tok/s, decode ${row.decodeTokS?.toFixed(1) ?? '-'} tok/s` : `  ${rowLabel(row)}: ${row.status} (${row.error ?? ''})`);
  }

  // Bandwidth after the configurations, so its 256 MiB buffer is not in any configuration's RSS; one figure per thread count that ran.
  const bandwidth: BandwidthResult[] = [];
  const probe = o.bandwidthProbe === undefined ? measureBandwidthBestAvailable : o.bandwidthProbe;
  if (probe !== null) {
    for (const t of [...new Set(rows.map((r) => r.threads))].sort((a, b) => a - b)) {
      try {
        const bw = await probe(t);
        bandwidth.push(bw);
        o.log(`memory bandwidth, ${t} thread(s): ${(bw.bytesPerS / 1e9).toFixed(1)} GB/s (${bw.method})`);
      } catch (e) {
        o.log(`memory bandwidth, ${t} thread(s): not measured (${e instanceof Error ? e.message : String(e)})`);
      }
    }
  }
  const bwAt = (threads: number): number | null => bandwidth.find((b) => b.threads === threads)?.bytesPerS ?? null;
  const withBw = rows.map((row) => ({ ...row, bandwidthFraction: bandwidthFraction(row.decodeTokS, row.weightBytes, bwAt(row.threads)) }));

  const report = buildReport({
    rows: withBw,
    bandwidth,
    machine,
    config: { shape: o.shape, model: o.model, extraModels: [...(o.extraModels ?? [])], peerModel: o.peerModel, pp: o.pp, tg: o.tg, runs: o.runs, threads: [...o.threads], backends: [...o.backends] },
    createdAt: startedAt,
  });
  const primary = report.primary;
  const at = primary === null ? -1 : rows.findIndex((r) => r.engine === 'bitnet' && r.status === 'ok' && r.backend === primary.backend && r.threads === primary.threads && r.file === primary.file);
  return { report, receipt: at < 0 ? undefined : receipts[at] };
}
