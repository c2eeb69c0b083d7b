// The benchmark's data model and its pure logic: medians, the primary row, ratios to llama.cpp, the performance targets, baseline comparison.

import { BitNetError } from '../errors.js';

/** Schema id of the JSON document `npm run bench -- --json` writes; bump on incompatible changes. */
export const BENCH_SCHEMA = 'bitnet.bench/v1';

/** Default regression tolerance of `--compare`: a drop of more than 10% fails. */
export const DEFAULT_REGRESSION_TOLERANCE = 0.1;

/** Performance targets (2B-4T shape at pp128, CPU; bench/README.md). */
export const TARGETS = {
  /** Decode tokens per second with a quantized (Q8_0) output matrix: the primary configuration. */
  decodeTokS: 24,
  /** Decode tokens per second with the F16 output matrix of Microsoft's released 2B-4T file (656 MB per token). */
  decodeF16TokS: 20,
  /** Prefill tokens per second on a 128-token prompt. */
  prefillTokS: 80,
  /** Time to first token (128-token prompt) after loading a file that is already in the page cache. */
  ttftWarmMs: 1600,
  /** Peak resident memory may exceed the file size by at most this much (300 MB, decimal). */
  rssOverFileBytes: 300_000_000,
} as const;

/** One timed generation: a fresh prompt of `promptTokens`, then decode. */
export interface RunSample {
  readonly prefillTokS: number;
  readonly decodeTokS: number;
  /** From the call to the first generated token (includes prefill). */
  readonly ttftMs: number;
  readonly promptTokens: number;
  readonly generatedTokens: number;
}

export type RowStatus = 'ok' | 'unavailable' | 'error';
export type BenchEngine = 'bitnet' | 'llama.cpp';

/** One configuration (engine, backend, threads, file) and what it measured; null = not measured. */
export interface BenchRow {
  readonly engine: BenchEngine;
  /** Requested backend: 'wasm' | 'reference' for bitnet, 'cpu' for llama.cpp. */
  readonly backend: string;
  /** Kernel set the backend reported (bitnet), null otherwise. */
  readonly kernelSet: string | null;
  readonly threads: number;
  /** File base name. */
  readonly file: string;
  /** Storage type of the projection weights ('I2_S', 'TQ2_0', ...). */
  readonly weightType: string;
  /** Storage type of the output matrix (output.weight, else the tied embedding): 'Q8_0', 'F16', ... */
  readonly outputType: string;
  /** The named synthetic shape whose dimensions the file has ('2b-4t', ...), null for none: targets need '2b-4t'. */
  readonly shape: string | null;
  readonly fileBytes: number | null;
  /** Weight bytes read per generated token (receipt.model.weight_bytes). */
  readonly weightBytes: number | null;
  readonly status: RowStatus;
  /** Why the row is unavailable or failed; null when ok. */
  readonly error: string | null;
  /** First load of this configuration in this process (load + KV cache allocation). */
  readonly loadColdMs: number | null;
  /** Second load of the same file (its bytes are in the page cache). */
  readonly loadWarmMs: number | null;
  /** Medians over the timed runs. */
  readonly prefillTokS: number | null;
  readonly decodeTokS: number | null;
  readonly ttftMs: number | null;
  /** Time to first token of the first request after the warm load. */
  readonly ttftWarmMs: number | null;
  readonly runs: readonly RunSample[];
  /** Resident set size sampled just before the first load. */
  readonly rssBeforeBytes: number | null;
  /** Highest resident set size sampled from the first load to the end of the timed runs. */
  readonly rssPeakBytes: number | null;
  /** process.resourceUsage().maxRSS at the end of the row (process-wide peak so far). */
  readonly maxRssBytes: number | null;
  /** decode tok/s x weight bytes per token / measured memory bandwidth at the same thread count. */
  readonly bandwidthFraction: number | null;
}

export interface BandwidthResult {
  readonly threads: number;
  readonly bytesPerS: number;
  /** How it was measured (e.g. 'js-f64-sum'). */
  readonly method: string;
}

export interface PeerRatio {
  /** Our row, e.g. 'wasm x2 I2_S'. */
  readonly ours: string;
  /** llama.cpp row, e.g. 'llama.cpp x2 TQ2_0'. */
  readonly peer: string;
  readonly threads: number;
  /** ours / llama.cpp; > 1 means we are faster. */
  readonly prefill: number | null;
  readonly decode: number | null;
}

export interface TargetResult {
  readonly id: 'decode_tok_s' | 'decode_f16_tok_s' | 'prefill_tok_s' | 'faster_than_llama_cpp' | 'ttft_warm' | 'peak_rss';
  readonly description: string;
  /** true met, false missed, null not measured. */
  readonly met: boolean | null;
  readonly detail: string;
}

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly totalMemoryBytes: number;
  readonly node: string;
  readonly platform: string;
  readonly arch: string;
  /** 1-minute load average when the bench started. */
  readonly loadAverage1m: number;
  /** Kernel set of the primary row (null when no bitnet row ran). */
  readonly kernelSet: string | null;
}

export interface BenchConfig {
  /** Shape name when the model was synthesized, null for a given file. */
  readonly shape: string | null;
  readonly model: string;
  /** More of our files run beside the model at each thread count (the F16-embedding twin), [] for none. */
  readonly extraModels: readonly string[];
  readonly peerModel: string | null;
  readonly pp: number;
  readonly tg: number;
  readonly runs: number;
  readonly threads: readonly number[];
  readonly backends: readonly string[];
}

export interface BenchReport {
  readonly schema: typeof BENCH_SCHEMA;
  readonly created_at: string;
  /** Prefill tok/s of the primary row (null when nothing ran). */
  readonly prefill_tok_s: number | null;
  readonly decode_tok_s: number | null;
  readonly primary: { readonly backend: string; readonly threads: number; readonly file: string } | null;
  readonly config: BenchConfig;
  readonly machine: MachineInfo;
  readonly bandwidth: readonly BandwidthResult[];
  readonly rows: readonly BenchRow[];
  readonly ratios: readonly PeerRatio[];
  readonly targets: readonly TargetResult[];
}

/** Median of finite values (mean of the middle two for an even count); null for none. */
export function median(values: readonly number[]): number | null {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  // + 0 turns -0 into 0: the sort keeps 0 and -0 in input order, and the median must not depend on it
  return (xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2) + 0;
}

/** a / b, or null when either is missing or b is not positive. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return a / b;
}

/** Fraction of the memory bandwidth a decode rate implies; null when anything is missing. */
export function bandwidthFraction(decodeTokS: number | null, weightBytes: number | null, bandwidthBytesPerS: number | null): number | null {
  if (decodeTokS === null || weightBytes === null) return null;
  return ratio(decodeTokS * weightBytes, bandwidthBytesPerS);
}

/** A short label for a row, as tables and ratios print it: engine, threads, projection and output matrix types. */
export function rowLabel(row: Pick<BenchRow, 'engine' | 'backend' | 'threads' | 'weightType' | 'outputType'>): string {
  return `${row.engine === 'llama.cpp' ? 'llama.cpp' : row.backend} x${row.threads} ${row.weightType} (${row.outputType} output)`;
}

/**
 * The row whose numbers are the headline: bitnet on the main model file, wasm at the most threads;
 * without a working wasm row, the bitnet row with the best decode rate. Undefined when none ran.
 */
export function primaryRow(rows: readonly BenchRow[], modelFile: string): BenchRow | undefined {
  const ok = rows.filter((r) => r.engine === 'bitnet' && r.status === 'ok' && r.file === modelFile);
  const byDecode = (a: BenchRow, b: BenchRow): number => (b.decodeTokS ?? -1) - (a.decodeTokS ?? -1);
  const wasm = ok.filter((r) => r.backend === 'wasm').sort((a, b) => b.threads - a.threads || byDecode(a, b));
  if (wasm.length > 0) return wasm[0];
  return [...ok].sort(byDecode)[0];
}

/**
 * ours / llama.cpp for every ok bitnet row that has an ok llama.cpp row on the same file at the same thread count:
 * engines are compared only on the same bytes (our I2_S file against llama.cpp's TQ2_0 twin would mix the engines
 * with the formats).
 */
export function peerRatios(rows: readonly BenchRow[]): PeerRatio[] {
  const out: PeerRatio[] = [];
  const peers = rows.filter((r) => r.engine === 'llama.cpp' && r.status === 'ok');
  for (const ours of rows) {
    if (ours.engine !== 'bitnet' || ours.status !== 'ok') continue;
    const peer = peers.find((p) => p.threads === ours.threads && p.file === ours.file);
    if (peer === undefined) continue;
    out.push({ ours: rowLabel(ours), peer: rowLabel(peer), threads: ours.threads, prefill: ratio(ours.prefillTokS, peer.prefillTokS), decode: ratio(ours.decodeTokS, peer.decodeTokS) });
  }
  return out;
}

const fmt = (x: number | null, digits = 1): string => (x === null ? 'n/a' : x.toFixed(digits));

/**
 * The performance targets (bench/README.md). They are judged only on the 2b-4t shape at pp128 (elsewhere each says
 * n/a with what was measured): decode on the primary row (quantized output) and on the row beside it with an F16 output
 * matrix, prefill / TTFT / RSS on the primary row, and llama.cpp on the same file as ours at the primary's threads.
 */
export function evaluateTargets(rows: readonly BenchRow[], primary: BenchRow | undefined, pp: number): TargetResult[] {
  const none = 'no bitnet configuration ran';
  const out: TargetResult[] = [];
  const outOfScope =
    primary === undefined ? null : primary.shape !== '2b-4t' ? `shape ${primary.shape ?? 'not a named one'}` : pp !== 128 ? `pp${pp}` : null;
  /** A target: met or missed where judged, n/a with the measured figure elsewhere. */
  const t = (id: TargetResult['id'], description: string, met: boolean | null, detail: string): void => {
    if (outOfScope !== null && met !== null) out.push({ id, description, met: null, detail: `n/a (targets are for the 2b-4t shape at pp128; this run: ${outOfScope}): ${detail}` });
    else out.push({ id, description, met, detail });
  };
  const ok = rows.filter((r) => r.engine === 'bitnet' && r.status === 'ok');
  /** The row of our engine at the primary's backend and threads whose output matrix is (or is not) F16. */
  const decodeRow = (f16: boolean): BenchRow | undefined =>
    primary === undefined
      ? undefined
      : (primary.outputType === 'F16') === f16
        ? primary
        : ok.find((r) => r.backend === primary.backend && r.threads === primary.threads && r.weightType === primary.weightType && (r.outputType === 'F16') === f16);
  for (const [id, f16, goal] of [['decode_tok_s', false, TARGETS.decodeTokS], ['decode_f16_tok_s', true, TARGETS.decodeF16TokS]] as const) {
    const r = decodeRow(f16);
    const d = r?.decodeTokS ?? null;
    const description = `decode >= ${goal} tok/s with ${f16 ? 'an F16' : 'a quantized'} output matrix`;
    if (primary === undefined) t(id, description, null, none);
    else if (r === undefined || d === null) t(id, description, null, `not measured: no ${primary.weightType} row ${f16 ? 'with' : 'without'} an F16 output matrix at x${primary.threads}${f16 ? ' (npm run bench runs one unless --no-f16)' : ''}`);
    else t(id, description, d >= goal, `${fmt(d)} tok/s (${rowLabel(r)})`);
  }
  const pf = primary?.prefillTokS ?? null;
  t('prefill_tok_s', `prefill pp128 >= ${TARGETS.prefillTokS} tok/s`, pf === null ? null : pf >= TARGETS.prefillTokS, pf === null ? none : `${fmt(pf)} tok/s at pp${pp}`);

  const faster = 'faster than node-llama-cpp on the same file (prefill and decode)';
  const peer = primary === undefined ? undefined : rows.find((r) => r.engine === 'llama.cpp' && r.status === 'ok' && r.threads === primary.threads);
  const ours = peer === undefined ? undefined : ok.find((r) => r.backend === primary?.backend && r.threads === peer.threads && r.file === peer.file);
  if (primary === undefined || peer === undefined) {
    const why = primary === undefined ? none : (rows.find((r) => r.engine === 'llama.cpp' && r.threads === primary.threads)?.error ?? 'llama.cpp was not run (no peer model: give --peer-model FILE with a TQ2_0 file)');
    t('faster_than_llama_cpp', faster, null, `not measured: ${why}`);
  } else if (ours === undefined) {
    t('faster_than_llama_cpp', faster, null, `not measured: no ${primary.backend} x${peer.threads} row of ours on llama.cpp's file ${peer.file}`);
  } else {
    const rp = ratio(ours.prefillTokS, peer.prefillTokS);
    const rd = ratio(ours.decodeTokS, peer.decodeTokS);
    t('faster_than_llama_cpp', faster, rp === null || rd === null ? null : rp > 1 && rd > 1, `${rowLabel(ours)} / ${rowLabel(peer)} on ${peer.file}: prefill ${fmt(rp, 2)}x, decode ${fmt(rd, 2)}x`);
  }

  const ttft = primary?.ttftWarmMs ?? null;
  t('ttft_warm', `time to first token on a warm file <= ${TARGETS.ttftWarmMs / 1000} s`, ttft === null ? null : ttft <= TARGETS.ttftWarmMs, ttft === null ? none : `${fmt(ttft, 0)} ms at pp${pp}`);

  const rss = primary?.rssPeakBytes ?? null;
  const fileBytes = primary?.fileBytes ?? null;
  const limit = fileBytes === null ? null : fileBytes + TARGETS.rssOverFileBytes;
  t(
    'peak_rss',
    'peak RSS <= file size + 300 MB',
    rss === null || limit === null ? null : rss <= limit,
    rss === null || limit === null ? none : `${fmt(rss / 1e6, 0)} MB peak vs ${fmt(limit / 1e6, 0)} MB allowed (file ${fmt((fileBytes ?? 0) / 1e6, 0)} MB)`,
  );
  return out;
}

/** Assemble the JSON document: headline numbers of the primary row, all rows, ratios and targets. */
export function buildReport(input: {
  readonly rows: readonly BenchRow[];
  readonly bandwidth: readonly BandwidthResult[];
  readonly machine: Omit<MachineInfo, 'kernelSet'>;
  readonly config: BenchConfig;
  readonly createdAt: Date;
}): BenchReport {
  const modelFile = baseName(input.config.model);
  const primary = primaryRow(input.rows, modelFile);
  return {
    schema: BENCH_SCHEMA,
    created_at: input.createdAt.toISOString(),
    prefill_tok_s: primary?.prefillTokS ?? null,
    decode_tok_s: primary?.decodeTokS ?? null,
    primary: primary === undefined ? null : { backend: primary.backend, threads: primary.threads, file: primary.file },
    config: input.config,
    machine: { ...input.machine, kernelSet: primary?.kernelSet ?? null },
    bandwidth: input.bandwidth,
    rows: input.rows,
    ratios: peerRatios(input.rows),
    targets: evaluateTargets(input.rows, primary, input.config.pp),
  };
}

/** The last path component (either separator). */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] ?? path;
}

export interface MetricChange {
  readonly metric: 'prefill_tok_s' | 'decode_tok_s';
  readonly baseline: number | null;
  readonly current: number | null;
  /** (current - baseline) / baseline; null when either is missing. */
  readonly change: number | null;
  readonly regression: boolean;
}

export interface BaselineComparison {
  readonly tolerance: number;
  readonly metrics: readonly MetricChange[];
  /** True when some metric dropped by more than the tolerance or is missing now but was measured before. */
  readonly regressed: boolean;
}

function metricOf(doc: Record<string, unknown>, key: 'prefill_tok_s' | 'decode_tok_s', what: string): number | null {
  const v = doc[key];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new BitNetError('BAD_ARGUMENT', `${what}: field '${key}' must be a non-negative number or null, got ${JSON.stringify(v)}`, { details: { field: key } });
  }
  return v;
}

/** The headline numbers of a parsed bench JSON document; throws BAD_ARGUMENT naming the bad field. */
export function parseBenchHeadline(doc: unknown, what = 'baseline'): { prefill_tok_s: number | null; decode_tok_s: number | null } {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new BitNetError('BAD_ARGUMENT', `${what}: expected a JSON object with prefill_tok_s and decode_tok_s`, { details: { field: '(root)' } });
  }
  const rec = doc as Record<string, unknown>;
  if (!('prefill_tok_s' in rec) || !('decode_tok_s' in rec)) {
    throw new BitNetError('BAD_ARGUMENT', `${what}: missing field '${'prefill_tok_s' in rec ? 'decode_tok_s' : 'prefill_tok_s'}' (is it a bench --json document?)`, {
      details: { field: 'prefill_tok_s' in rec ? 'decode_tok_s' : 'prefill_tok_s' },
    });
  }
  return { prefill_tok_s: metricOf(rec, 'prefill_tok_s', what), decode_tok_s: metricOf(rec, 'decode_tok_s', what) };
}

/**
 * Compare headline numbers with a saved baseline document. A metric regresses when it fell by more
 * than `tolerance` (a fraction) or when the baseline measured it and the current run did not.
 */
export function compareToBaseline(
  current: { readonly prefill_tok_s: number | null; readonly decode_tok_s: number | null },
  baselineDoc: unknown,
  tolerance: number = DEFAULT_REGRESSION_TOLERANCE,
): BaselineComparison {
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance >= 1) {
    throw new BitNetError('BAD_ARGUMENT', `tolerance must be a fraction in [0, 1), got ${tolerance}`, { details: { field: 'tolerance', actual: tolerance } });
  }
  const base = parseBenchHeadline(baselineDoc);
  const metrics: MetricChange[] = (['prefill_tok_s', 'decode_tok_s'] as const).map((metric) => {
    const b = base[metric];
    const c = current[metric];
    const change = b === null || c === null || b <= 0 ? null : (c - b) / b;
    const regression = b !== null && b > 0 && (c === null || c < b * (1 - tolerance));
    return { metric, baseline: b, current: c, change, regression };
  });
  return { tolerance, metrics, regressed: metrics.some((m) => m.regression) };
}
