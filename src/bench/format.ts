// Renders a bench report and a baseline comparison as plain-text tables for a terminal.

import { rowLabel, type BaselineComparison, type BenchReport, type BenchRow } from './report.js';

const MB = 1e6;
const GB = 1e9;

function n(x: number | null, digits = 1): string {
  return x === null ? '-' : x.toFixed(digits);
}

function pct(x: number | null): string {
  return x === null ? '-' : `${(100 * x).toFixed(1)}%`;
}

/** Left-aligned text columns, right-aligned numbers; every row has as many cells as the header. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number> = new Set()): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

function rowCells(r: BenchRow): string[] {
  const name = r.engine === 'llama.cpp' ? 'llama.cpp' : `bitnet/${r.backend}`;
  if (r.status !== 'ok') return [name, r.kernelSet ?? '-', String(r.threads), r.weightType, r.outputType, r.status, '-', '-', '-', '-', '-', '-'];
  return [
    name,
    r.kernelSet ?? '-',
    String(r.threads),
    r.weightType,
    r.outputType,
    `${n(r.loadColdMs, 0)} / ${n(r.loadWarmMs, 0)}`,
    n(r.prefillTokS),
    n(r.decodeTokS),
    n(r.ttftMs, 0),
    n(r.ttftWarmMs, 0),
    r.rssPeakBytes === null ? '-' : n(r.rssPeakBytes / MB, 0),
    pct(r.bandwidthFraction),
  ];
}

/** The whole report as lines: setup, bandwidth, one row per configuration, ratios to llama.cpp, targets. */
export function formatReport(report: BenchReport): string[] {
  const c = report.config;
  const m = report.machine;
  const out: string[] = [];
  out.push(`model ${c.model}${c.shape === null ? '' : ` (synthetic ${c.shape})`}; llama.cpp file ${c.peerModel ?? '-'}`);
  for (const e of c.extraModels) out.push(`also ${e}`);
  out.push(`pp ${c.pp}, tg ${c.tg}, median of ${c.runs} run(s); ${m.cpus} cpus (${m.cpuModel}), node ${m.node}, load average ${m.loadAverage1m.toFixed(2)} at start`);
  if (report.bandwidth.length > 0) {
    out.push(`memory bandwidth: ${report.bandwidth.map((b) => `${b.threads} thread(s) ${n(b.bytesPerS / GB)} GB/s`).join(', ')} (${report.bandwidth[0].method})`);
  }
  out.push('');
  const header = ['engine', 'kernels', 'thr', 'weights', 'output', 'load cold/warm ms', 'prefill tok/s', 'decode tok/s', 'TTFT ms', 'TTFT warm ms', 'peak RSS MB', 'BW used'];
  out.push(...renderTable(header, report.rows.map(rowCells), new Set([2, 5, 6, 7, 8, 9, 10, 11])));
  for (const r of report.rows) if (r.status !== 'ok') out.push(`${r.status}: ${rowLabel(r)}: ${r.error ?? ''}`);
  const short = report.rows.filter((r) => r.status === 'ok' && r.runs.some((s) => s.generatedTokens < c.tg));
  for (const r of short) out.push(`note: ${rowLabel(r)} generated fewer tokens than asked in some runs (decode rate is over the tokens generated)`);
  if (report.ratios.length > 0) {
    out.push('', 'ours / llama.cpp (same file, same threads; > 1 = faster):');
    out.push(...renderTable(['ours', 'llama.cpp', 'prefill', 'decode'], report.ratios.map((r) => [r.ours, r.peer, `${n(r.prefill, 2)}x`, `${n(r.decode, 2)}x`]), new Set([2, 3])));
  }
  out.push('', 'targets:');
  for (const t of report.targets) out.push(`  [${t.met === null ? 'n/a' : t.met ? 'met' : 'MISSED'}] ${t.description}: ${t.detail}`);
  return out;
}

/** A baseline comparison as lines (one per metric, then the verdict). */
export function formatComparison(cmp: BaselineComparison, baselinePath: string): string[] {
  const out = [`compared with ${baselinePath} (tolerance ${(cmp.tolerance * 100).toFixed(0)}%):`];
  for (const m of cmp.metrics) {
    const change = m.change === null ? 'n/a' : `${m.change >= 0 ? '+' : ''}${(100 * m.change).toFixed(1)}%`;
    out.push(`  ${m.metric.padEnd(14)} ${n(m.baseline).padStart(9)} -> ${n(m.current).padStart(9)}  ${change.padStart(8)}${m.regression ? '  REGRESSION' : ''}`);
  }
  out.push(cmp.regressed ? 'result: REGRESSION' : 'result: no regression');
  return out;
}
