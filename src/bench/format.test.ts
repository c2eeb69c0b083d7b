// Tests of the bench's text output: aligned tables, the report's sections, the baseline verdict.

import { describe, expect, it } from 'vitest';
import { formatComparison, formatReport, renderTable } from './format.js';
import { buildReport, compareToBaseline, type BenchRow } from './report.js';

const okRow: BenchRow = {
  engine: 'bitnet',
  backend: 'wasm',
  kernelSet: 'relaxed-simd',
  threads: 2,
  file: 'm.gguf',
  weightType: 'I2_S',
  outputType: 'Q8_0',
  shape: 'small',
  fileBytes: 1e9,
  weightBytes: 5e8,
  status: 'ok',
  error: null,
  loadColdMs: 1234.4,
  loadWarmMs: 456.7,
  prefillTokS: 55.56,
  decodeTokS: 22.22,
  ttftMs: 2300,
  ttftWarmMs: 1900,
  runs: [{ prefillTokS: 55.56, decodeTokS: 22.22, ttftMs: 2300, promptTokens: 128, generatedTokens: 10 }],
  rssBeforeBytes: 5e7,
  rssPeakBytes: 1.2e9,
  maxRssBytes: 1.2e9,
  bandwidthFraction: 0.5,
};

describe('renderTable', () => {
  it('pads every column to its widest cell; right-aligns the chosen ones', () => {
    const lines = renderTable(['name', 'n'], [['a', '1'], ['bbb', '100']], new Set([1]));
    expect(lines).toEqual(['name    n', '----  ---', 'a       1', 'bbb   100']);
  });
});

describe('formatReport', () => {
  it('prints the rows, an unavailable backend with its reason, ratios and every target', () => {
    const rows: BenchRow[] = [
      okRow,
      { ...okRow, backend: 'reference', kernelSet: null, status: 'unavailable', error: 'backend missing', prefillTokS: null, decodeTokS: null },
      { ...okRow, file: 't.gguf', weightType: 'TQ2_0' },
      { ...okRow, engine: 'llama.cpp', backend: 'cpu', kernelSet: null, weightType: 'TQ2_0', file: 't.gguf', prefillTokS: 44.4, decodeTokS: 11.11 },
    ];
    const report = buildReport({
      rows,
      bandwidth: [{ threads: 2, bytesPerS: 1.5e10, method: 'wasm-simd128-sum' }],
      machine: { cpus: 2, cpuModel: 'cpu', totalMemoryBytes: 1, node: 'v20', platform: 'linux', arch: 'x64', loadAverage1m: 0.25 },
      config: { shape: 'small', model: '/c/m.gguf', extraModels: ['/c/m-f16.gguf'], peerModel: '/c/t.gguf', pp: 128, tg: 64, runs: 1, threads: [2], backends: ['wasm', 'reference'] },
      createdAt: new Date(0),
    });
    const text = formatReport(report).join('\n');
    expect(text).toContain('15.0 GB/s');
    expect(text).toContain('also /c/m-f16.gguf');
    expect(text).toMatch(/bitnet\/wasm\s+relaxed-simd\s+2\s+I2_S\s+Q8_0\s+1234 \/ 457\s+55\.6\s+22\.2\s+2300\s+1900\s+1200\s+50\.0%/);
    expect(text).toContain('unavailable: reference x2 I2_S (Q8_0 output): backend missing');
    expect(text).toMatch(/wasm x2 TQ2_0 \(Q8_0 output\)\s+llama\.cpp x2 TQ2_0 \(Q8_0 output\)\s+1\.25x\s+2\.00x/);
    expect(text).not.toMatch(/wasm x2 I2_S \(Q8_0 output\)\s+llama\.cpp/); // engines are compared on the same file only
    expect(text).toContain('this run: shape small');
    expect(text).toContain('generated fewer tokens than asked'); // 10 of 64 tokens generated
    for (const t of report.targets) expect(text).toContain(t.description);
    expect(text).not.toMatch(/issue #/i); // user-facing text names no internal tracker entries
  });
});

describe('formatComparison', () => {
  it('shows each metric’s change and the verdict', () => {
    const cmp = compareToBaseline({ prefill_tok_s: 50, decode_tok_s: 30 }, { prefill_tok_s: 100, decode_tok_s: 20 });
    const text = formatComparison(cmp, 'base.json').join('\n');
    expect(text).toContain('base.json');
    expect(text).toMatch(/prefill_tok_s\s+100\.0 ->\s+50\.0\s+-50\.0%\s+REGRESSION/);
    expect(text).toMatch(/decode_tok_s\s+20\.0 ->\s+30\.0\s+\+50\.0%$/m);
    expect(text).toContain('result: REGRESSION');
  });
});
