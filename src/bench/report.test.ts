// Tests of the bench's pure logic: medians, the primary row, ratios, the performance targets, baseline comparison, the JSON document.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isBitNetError } from '../errors.js';
import { summarizeRuns } from './measure.js';
import {
  BENCH_SCHEMA,
  bandwidthFraction,
  baseName,
  buildReport,
  compareToBaseline,
  evaluateTargets,
  median,
  parseBenchHeadline,
  peerRatios,
  primaryRow,
  ratio,
  TARGETS,
  type BenchRow,
  type TargetResult,
} from './report.js';

function row(over: Partial<BenchRow> = {}): BenchRow {
  return {
    engine: 'bitnet',
    backend: 'wasm',
    kernelSet: 'simd128',
    threads: 2,
    file: 'm.gguf',
    weightType: 'I2_S',
    outputType: 'Q8_0',
    shape: '2b-4t',
    fileBytes: 1_000_000_000,
    weightBytes: 800_000_000,
    status: 'ok',
    error: null,
    loadColdMs: 900,
    loadWarmMs: 500,
    prefillTokS: 50,
    decodeTokS: 25,
    ttftMs: 2500,
    ttftWarmMs: 1500,
    runs: [],
    rssBeforeBytes: 60_000_000,
    rssPeakBytes: 1_200_000_000,
    maxRssBytes: 1_200_000_000,
    bandwidthFraction: null,
    ...over,
  };
}

const peer = (over: Partial<BenchRow> = {}): BenchRow => row({ engine: 'llama.cpp', backend: 'cpu', kernelSet: null, file: 'm-tq2.gguf', weightType: 'TQ2_0', prefillTokS: 40, decodeTokS: 20, ...over });
/** Our engine on llama.cpp's file. */
const onPeerFile = (over: Partial<BenchRow> = {}): BenchRow => row({ file: 'm-tq2.gguf', weightType: 'TQ2_0', prefillTokS: 45, decodeTokS: 22, ...over });

function target(ts: readonly TargetResult[], id: TargetResult['id']): TargetResult {
  const t = ts.find((x) => x.id === id);
  if (t === undefined) throw new Error(`no target ${id}`);
  return t;
}

describe('median', () => {
  it('is the middle value (odd) or the mean of the middle two (even), order-independent', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNull();
    expect(median([NaN, Infinity, 5])).toBe(5);
  });

  it('does not depend on the order of 0 and -0 (fast-check counterexample [0, -0, 5e-324])', () => {
    expect(median([0, -0, 5e-324])).toBe(median([5e-324, -0, 0]));
    expect(Object.is(median([-0]), 0)).toBe(true);
  });

  it('lies between min and max and does not depend on order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }), { minLength: 1, maxLength: 30 }), (xs) => {
        const m = median(xs);
        expect(m).not.toBeNull();
        expect(m as number).toBeGreaterThanOrEqual(Math.min(...xs));
        expect(m as number).toBeLessThanOrEqual(Math.max(...xs));
        expect(median([...xs].reverse())).toBe(m);
        // at least half the values are <= the median and at least half >= it
        expect(xs.filter((x) => x <= (m as number)).length * 2).toBeGreaterThanOrEqual(xs.length);
        expect(xs.filter((x) => x >= (m as number)).length * 2).toBeGreaterThanOrEqual(xs.length);
      }),
    );
  });
});

describe('ratio and bandwidth fraction', () => {
  it('divides, and is null for missing or non-positive denominators', () => {
    expect(ratio(30, 20)).toBe(1.5);
    expect(ratio(null, 20)).toBeNull();
    expect(ratio(30, null)).toBeNull();
    expect(ratio(30, 0)).toBeNull();
    expect(ratio(30, -1)).toBeNull();
  });

  it('bandwidth fraction = tok/s x bytes per token / bytes per second', () => {
    expect(bandwidthFraction(20, 500e6, 20e9)).toBeCloseTo(0.5, 12);
    expect(bandwidthFraction(null, 500e6, 20e9)).toBeNull();
    expect(bandwidthFraction(20, null, 20e9)).toBeNull();
    expect(bandwidthFraction(20, 500e6, null)).toBeNull();
  });
});

describe('summarizeRuns', () => {
  it('takes medians; decode only over runs that generated at least two tokens', () => {
    const s = summarizeRuns([
      { prefillTokS: 10, decodeTokS: 5, ttftMs: 100, promptTokens: 8, generatedTokens: 4 },
      { prefillTokS: 30, decodeTokS: 0, ttftMs: 300, promptTokens: 8, generatedTokens: 1 },
      { prefillTokS: 20, decodeTokS: 7, ttftMs: 200, promptTokens: 8, generatedTokens: 4 },
    ]);
    expect(s).toEqual({ prefillTokS: 20, decodeTokS: 6, ttftMs: 200 });
    expect(summarizeRuns([])).toEqual({ prefillTokS: null, decodeTokS: null, ttftMs: null });
  });
});

describe('primaryRow', () => {
  it('prefers wasm at the most threads on the main file', () => {
    const rows = [row({ threads: 1, decodeTokS: 99 }), row({ threads: 2, decodeTokS: 10 }), row({ threads: 4, file: 'other.gguf' }), row({ backend: 'reference', threads: 1, decodeTokS: 500 })];
    expect(primaryRow(rows, 'm.gguf')).toBe(rows[1]);
  });

  it('falls back to the best available backend when wasm did not run', () => {
    const rows = [row({ status: 'unavailable', prefillTokS: null, decodeTokS: null }), row({ backend: 'reference', threads: 1, decodeTokS: 2 }), peer({ decodeTokS: 100 })];
    expect(primaryRow(rows, 'm.gguf')).toBe(rows[1]);
    expect(primaryRow([rows[0], rows[2]], 'm.gguf')).toBeUndefined();
  });
});

describe('peerRatios', () => {
  it('pairs each ok bitnet row with the llama.cpp row on the same file at the same thread count', () => {
    const rows = [
      row({ threads: 2, prefillTokS: 60, decodeTokS: 30 }), // our I2_S file: never compared with llama.cpp's TQ2_0 file
      onPeerFile({ threads: 2, prefillTokS: 60, decodeTokS: 30 }),
      onPeerFile({ threads: 1, prefillTokS: 30, decodeTokS: 15 }),
      peer({ threads: 2, prefillTokS: 40, decodeTokS: 20 }),
      peer({ threads: 1, status: 'error', prefillTokS: null, decodeTokS: null }),
    ];
    const r = peerRatios(rows);
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ threads: 2, ours: 'wasm x2 TQ2_0 (Q8_0 output)', peer: 'llama.cpp x2 TQ2_0 (Q8_0 output)' });
    expect(r[0].prefill).toBeCloseTo(1.5, 12);
    expect(r[0].decode).toBeCloseTo(1.5, 12);
  });
});

describe('evaluateTargets', () => {
  /** Our rows of a full default run at 2 threads: the Q8_0-output primary, its F16-output twin, ours on llama.cpp's file. */
  const full = (over: Partial<BenchRow> = {}, f16: Partial<BenchRow> = {}, same: Partial<BenchRow> = {}): BenchRow[] => [
    row(over),
    row({ file: 'm-f16.gguf', outputType: 'F16', fileBytes: 1_300_000_000, decodeTokS: 21, ...f16 }),
    onPeerFile(same),
  ];

  it('marks each performance target met or missed: decode on the quantized-output and the F16-output rows, llama.cpp on the same file', () => {
    const rows = full({ decodeTokS: 25, prefillTokS: 85, ttftWarmMs: 1500, rssPeakBytes: 1_250_000_000, fileBytes: 1_000_000_000 }, { decodeTokS: 21 }, { prefillTokS: 41, decodeTokS: 21 });
    const ts = evaluateTargets([...rows, peer({ prefillTokS: 40, decodeTokS: 20 })], rows[0], 128);
    expect(ts.map((t) => t.id)).toEqual(['decode_tok_s', 'decode_f16_tok_s', 'prefill_tok_s', 'faster_than_llama_cpp', 'ttft_warm', 'peak_rss']);
    expect(ts.filter((t) => t.met !== true)).toEqual([]);
    expect(target(ts, 'decode_f16_tok_s').detail).toContain('wasm x2 I2_S (F16 output)');
    expect(target(ts, 'faster_than_llama_cpp').detail).toContain('on m-tq2.gguf');

    const bad = full(
      { decodeTokS: 23.9, prefillTokS: 79, ttftWarmMs: 1601, rssPeakBytes: 1_000_000_000 + TARGETS.rssOverFileBytes + 1, fileBytes: 1_000_000_000 },
      { decodeTokS: 19.9 },
      { prefillTokS: 39, decodeTokS: 21 },
    );
    const tb = evaluateTargets([...bad, peer({ prefillTokS: 40, decodeTokS: 20 })], bad[0], 128);
    expect(tb.filter((t) => t.met !== false)).toEqual([]);
  });

  it('thresholds are inclusive', () => {
    const rows = full({ decodeTokS: TARGETS.decodeTokS, prefillTokS: TARGETS.prefillTokS, ttftWarmMs: TARGETS.ttftWarmMs, rssPeakBytes: 1e9 + TARGETS.rssOverFileBytes, fileBytes: 1e9 }, { decodeTokS: TARGETS.decodeF16TokS });
    const ts = evaluateTargets(rows, rows[0], 128);
    for (const id of ['decode_tok_s', 'decode_f16_tok_s', 'prefill_tok_s', 'ttft_warm', 'peak_rss'] as const) expect(target(ts, id).met).toBe(true);
  });

  it('with an F16-output file as the primary, the F16 decode target is judged on it and the quantized one is not measured', () => {
    const p = row({ outputType: 'F16', decodeTokS: 20.5 });
    const ts = evaluateTargets([p], p, 128);
    expect(target(ts, 'decode_f16_tok_s')).toMatchObject({ met: true });
    expect(target(ts, 'decode_tok_s').met).toBeNull();
    expect(target(ts, 'decode_tok_s').detail).toContain('not measured');
  });

  it('compares with llama.cpp only on the same file and thread count', () => {
    const p = row({ threads: 2, prefillTokS: 500, decodeTokS: 500 });
    // our I2_S row is far faster, but ours on llama.cpp's file is slower: that is the comparison
    expect(target(evaluateTargets([p, onPeerFile({ prefillTokS: 50, decodeTokS: 10 }), peer({ threads: 2, prefillTokS: 40, decodeTokS: 20 })], p, 128), 'faster_than_llama_cpp').met).toBe(false);
    // no row of ours on llama.cpp's file: not measured, whatever the I2_S row did
    const alone = target(evaluateTargets([p, peer({ threads: 2, prefillTokS: 1, decodeTokS: 1 })], p, 128), 'faster_than_llama_cpp');
    expect(alone.met).toBeNull();
    expect(alone.detail).toContain("llama.cpp's file m-tq2.gguf");
    // a llama.cpp row at another thread count is not the comparison
    expect(target(evaluateTargets([p, onPeerFile({ threads: 1 }), peer({ threads: 1, prefillTokS: 1, decodeTokS: 1 })], p, 128), 'faster_than_llama_cpp').met).toBeNull();
  });

  it('is not measured (null) without a primary row or a llama.cpp row, and says why', () => {
    const ts = evaluateTargets([], undefined, 128);
    expect(ts.every((t) => t.met === null)).toBe(true);
    const p = row();
    const noPeer = target(evaluateTargets([p, peer({ status: 'unavailable', error: 'node-llama-cpp is not installed', prefillTokS: null, decodeTokS: null })], p, 128), 'faster_than_llama_cpp');
    expect(noPeer.met).toBeNull();
    expect(noPeer.detail).toContain('node-llama-cpp is not installed');
    // no llama.cpp row at all: the reason names a flag both `bitnet bench` and `npm run bench` accept
    const noRow = target(evaluateTargets([p], p, 128), 'faster_than_llama_cpp');
    expect(noRow.met).toBeNull();
    expect(noRow.detail).toContain('--peer-model');
    expect(noRow.detail).not.toContain('--no-peer');
  });

  it('judges only the 2b-4t shape at pp128: elsewhere every target is n/a, with the figure measured', () => {
    for (const [rows, pp, why] of [
      [full({ shape: 'small', decodeTokS: 99 }, { shape: 'small' }, { shape: 'small' }), 128, 'shape small'],
      [full({ shape: null, decodeTokS: 99 }, { shape: null }, { shape: null }), 128, 'shape not a named one'],
      [full({ decodeTokS: 99 }), 64, 'pp64'],
    ] as const) {
      const ts = evaluateTargets([...rows, peer()], rows[0], pp);
      expect(ts.map((t) => t.met)).toEqual([null, null, null, null, null, null]);
      expect(target(ts, 'decode_tok_s').detail).toContain(`this run: ${why}`);
      expect(target(ts, 'decode_tok_s').detail).toContain('99.0 tok/s');
    }
  });
});

describe('buildReport', () => {
  it('puts the primary row’s numbers at the top level next to rows, ratios, targets and machine info', () => {
    const rows = [row({ threads: 1, prefillTokS: 11, decodeTokS: 7 }), row({ threads: 2, prefillTokS: 21, decodeTokS: 13, kernelSet: 'relaxed-simd' }), onPeerFile({ threads: 2 }), onPeerFile({ threads: 1 }), peer({ threads: 2 })];
    const doc = buildReport({
      rows,
      bandwidth: [{ threads: 2, bytesPerS: 2e10, method: 'wasm-simd128-sum' }],
      machine: { cpus: 2, cpuModel: 'x', totalMemoryBytes: 8e9, node: 'v20', platform: 'linux', arch: 'x64', loadAverage1m: 0.5 },
      config: { shape: 'small', model: '/tmp/cache/m.gguf', extraModels: [], peerModel: '/tmp/cache/m-tq2.gguf', pp: 128, tg: 64, runs: 3, threads: [1, 2], backends: ['wasm'] },
      createdAt: new Date('2026-01-02T03:04:05Z'),
    });
    expect(doc.schema).toBe(BENCH_SCHEMA);
    expect(doc.created_at).toBe('2026-01-02T03:04:05.000Z');
    expect(doc.prefill_tok_s).toBe(21);
    expect(doc.decode_tok_s).toBe(13);
    expect(doc.primary).toEqual({ backend: 'wasm', threads: 2, file: 'm.gguf' });
    expect(doc.machine.kernelSet).toBe('relaxed-simd');
    expect(doc.rows).toHaveLength(5);
    expect(doc.ratios).toHaveLength(1); // llama.cpp ran at 2 threads only, and ours is compared on its file only
    expect(doc.targets).toHaveLength(6);
    // survives JSON and still reads as a baseline
    const round = JSON.parse(JSON.stringify(doc)) as unknown;
    expect(parseBenchHeadline(round)).toEqual({ prefill_tok_s: 21, decode_tok_s: 13 });
  });

  it('has null headline numbers when no bitnet row ran', () => {
    const doc = buildReport({
      rows: [row({ status: 'unavailable', prefillTokS: null, decodeTokS: null })],
      bandwidth: [],
      machine: { cpus: 1, cpuModel: 'x', totalMemoryBytes: 1, node: 'v20', platform: 'linux', arch: 'x64', loadAverage1m: 0 },
      config: { shape: null, model: 'm.gguf', extraModels: [], peerModel: null, pp: 128, tg: 64, runs: 1, threads: [1], backends: ['wasm'] },
      createdAt: new Date(0),
    });
    expect(doc.prefill_tok_s).toBeNull();
    expect(doc.decode_tok_s).toBeNull();
    expect(doc.primary).toBeNull();
    expect(doc.machine.kernelSet).toBeNull();
  });
});

describe('compareToBaseline', () => {
  const base = { prefill_tok_s: 100, decode_tok_s: 20, rows: [] };

  it('passes within the tolerance and reports the change', () => {
    const c = compareToBaseline({ prefill_tok_s: 91, decode_tok_s: 25 }, base);
    expect(c.regressed).toBe(false);
    expect(c.tolerance).toBe(0.1);
    expect(c.metrics[0]).toMatchObject({ metric: 'prefill_tok_s', baseline: 100, current: 91, regression: false });
    expect(c.metrics[0].change).toBeCloseTo(-0.09, 12);
    expect(c.metrics[1].change).toBeCloseTo(0.25, 12);
  });

  it('fails on a drop beyond the tolerance, per metric', () => {
    const c = compareToBaseline({ prefill_tok_s: 100, decode_tok_s: 17.9 }, base);
    expect(c.regressed).toBe(true);
    expect(c.metrics.map((m) => m.regression)).toEqual([false, true]);
    expect(compareToBaseline({ prefill_tok_s: 100, decode_tok_s: 17.9 }, base, 0.2).regressed).toBe(false);
  });

  it('counts a metric the baseline had and this run lacks as a regression; skips one the baseline lacks', () => {
    expect(compareToBaseline({ prefill_tok_s: null, decode_tok_s: 20 }, base).regressed).toBe(true);
    const c = compareToBaseline({ prefill_tok_s: 1, decode_tok_s: 20 }, { prefill_tok_s: null, decode_tok_s: 20 });
    expect(c.regressed).toBe(false);
    expect(c.metrics[0].change).toBeNull();
  });

  it('refuses a baseline that is not a bench document, naming the field', () => {
    const bad: unknown[] = [null, [], 'x', { decode_tok_s: 1 }, { prefill_tok_s: 1 }, { prefill_tok_s: '1', decode_tok_s: 1 }, { prefill_tok_s: 1, decode_tok_s: -2 }];
    for (const b of bad) {
      let err: unknown;
      try {
        compareToBaseline({ prefill_tok_s: 1, decode_tok_s: 1 }, b);
      } catch (e) {
        err = e;
      }
      expect(isBitNetError(err, 'BAD_ARGUMENT'), JSON.stringify(b)).toBe(true);
    }
    expect(() => parseBenchHeadline({ decode_tok_s: 1 })).toThrow(/prefill_tok_s/);
    expect(() => parseBenchHeadline({ prefill_tok_s: 1 })).toThrow(/decode_tok_s/);
  });

  it('refuses a tolerance outside [0, 1)', () => {
    expect(() => compareToBaseline({ prefill_tok_s: 1, decode_tok_s: 1 }, base, 1)).toThrow(/tolerance/);
    expect(() => compareToBaseline({ prefill_tok_s: 1, decode_tok_s: 1 }, base, -0.1)).toThrow(/tolerance/);
  });
});

describe('baseName', () => {
  it('takes the last component of either separator', () => {
    expect(baseName('/a/b/c.gguf')).toBe('c.gguf');
    expect(baseName('C:\\m\\d.gguf')).toBe('d.gguf');
    expect(baseName('e.gguf')).toBe('e.gguf');
  });
});
