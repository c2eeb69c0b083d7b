// Renders an InspectReport as the human-readable text `bitnet inspect` prints.

import type { InspectReport } from './inspect.js';

/** 1536 -> '1.5 KiB'; exact byte counts stay in the JSON report. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[unit] ?? ''}`;
}

/** 2_411_724_800 -> '2.41 G'. */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

function table(rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

function show(v: number | string | boolean | null): string {
  return v === null ? '-' : String(v);
}

/** The report as aligned text; `maxTensorRows` caps the tensor table (0 = all rows). */
export function formatInspectReport(report: InspectReport, options: { maxTensorRows?: number } = {}): string {
  const out: string[] = [];
  const hp = report.hyperParameters;
  out.push(`GGUF v${report.version}, ${formatBytes(report.fileBytes)} (${report.fileBytes} bytes), header ${formatBytes(report.headerBytes)}, data at ${report.dataOffset}, alignment ${report.alignment}`);
  out.push(`arch          ${show(report.arch)}${report.name === null ? '' : `  (name: ${report.name})`}`);
  out.push(`file type     ${report.fileType === null ? '-' : `${report.fileType.name} (${report.fileType.id})`}`);
  out.push(`params        ${formatCount(report.totalParams)} (${report.totalParams}), tensors ${report.tensors.length}, ${formatBytes(report.tensorBytes)}`);
  out.push('');
  out.push('hyper-parameters');
  out.push(
    ...table(
      [
        ['  context_length', show(hp.contextLength)],
        ['  embedding_length', show(hp.embeddingLength)],
        ['  feed_forward_length', show(hp.feedForwardLength)],
        ['  block_count', show(hp.blockCount)],
        ['  head_count / kv', `${show(hp.headCount)} / ${show(hp.headCountKv)}`],
        ['  head_dim', show(hp.headDim)],
        ['  rms_eps', show(hp.rmsEps)],
        ['  rope freq_base / dims', `${show(hp.ropeFreqBase)} / ${show(hp.ropeDimensionCount)}`],
        ['  vocab_size', show(hp.vocabSize)],
      ],
      new Set(),
    ),
  );
  out.push('');
  const tk = report.tokenizer;
  if (tk === null) {
    out.push('tokenizer     (none)');
  } else {
    out.push(`tokenizer     ${show(tk.model)} / pre ${show(tk.pre)}, ${tk.vocabSize} tokens, ${tk.mergesCount} merges`);
    if (tk.preTokenizer !== null) out.push(`              pre-tokenizer rules '${tk.preTokenizer.name}' (${tk.preTokenizer.origin}): ${tk.preTokenizer.reason}`);
    out.push(`              bos ${show(tk.bosTokenId)}, eos ${show(tk.eosTokenId)}, eot ${show(tk.eotTokenId)}, add_bos ${show(tk.addBos)}, chat template ${tk.hasChatTemplate ? 'yes' : 'no'}`);
  }
  out.push('');
  out.push('bytes per type');
  out.push(
    ...table(
      [['  type', 'tensors', 'elements', 'bytes', ''], ...report.bytesByType.map((t) => [`  ${t.type}`, String(t.nTensors), String(t.nElements), String(t.bytes), formatBytes(t.bytes)])],
      new Set([1, 2, 3, 4]),
    ),
  );
  if (report.ternaryLayouts.length > 0) {
    out.push('');
    out.push('ternary layout');
    for (const g of report.ternaryLayouts) {
      out.push(`  ${g.layout}, ${g.nTensors} tensor${g.nTensors === 1 ? '' : 's'}${g.repacked ? ' (repacked to I2_S x86 at load)' : ''}: ${g.detail.replace(/^I2_S [^:]*: /, '')}`);
    }
  }
  out.push('');
  const limit = options.maxTensorRows ?? 0;
  const shown = limit > 0 ? report.tensors.slice(0, limit) : report.tensors;
  out.push('tensors');
  out.push(
    ...table(
      [['  name', 'type', 'shape', 'bytes'], ...shown.map((t) => [`  ${t.name}`, t.type, `[${t.dims.join(', ')}]`, String(t.bytes)])],
      new Set([3]),
    ),
  );
  if (shown.length < report.tensors.length) out.push(`  ... ${report.tensors.length - shown.length} more (use --json or --all)`);
  out.push('');
  if (report.warnings.length === 0) {
    out.push('warnings      none');
  } else {
    out.push(`warnings (${report.warnings.length})`);
    for (const w of report.warnings) out.push(`  [${w.code}] ${w.message}`);
  }
  return out.join('\n') + '\n';
}
