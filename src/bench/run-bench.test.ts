// Tests of the bench plan (which configurations run, in which order) and of option validation.

import { describe, expect, it } from 'vitest';
import type { ModelFileInfo } from './models.js';
import { planConfigurations, validateBenchOptions } from './run-bench.js';

const file = (path: string, weightType: string): ModelFileInfo => ({ path, fileBytes: 1, arch: 'bitnet', weightType, vocabSize: 128256, outputType: 'Q8_0', shape: '2b-4t', weightBytesPerToken: 1, llamaCppRefusal: '' });
const model = file('/c/m-i2s.gguf', 'I2_S');
const peer = file('/c/m-tq2.gguf', 'TQ2_0');
const label = (p: { kind: string; backend: string; threads: number; file: ModelFileInfo }): string => `${p.kind}/${p.backend}/x${p.threads}/${p.file.weightType}`;

describe('planConfigurations', () => {
  it('runs the primary configuration (wasm, most threads) first, llama.cpp right after ours, reference last and once', () => {
    const plan = planConfigurations({ backends: ['reference', 'wasm'], threads: [1, 2], model, peer, sameFileRows: true });
    expect(plan.map(label)).toEqual([
      'bitnet/wasm/x2/I2_S',
      'bitnet/wasm/x2/TQ2_0',
      'llama.cpp/cpu/x2/TQ2_0',
      'bitnet/wasm/x1/I2_S',
      'bitnet/wasm/x1/TQ2_0',
      'llama.cpp/cpu/x1/TQ2_0',
      'bitnet/reference/x1/I2_S',
    ]);
  });

  it('without a peer file: only our rows; without same-file rows: no ours-on-TQ2_0', () => {
    expect(planConfigurations({ backends: ['wasm'], threads: [2, 1, 2], model, peer: null, sameFileRows: true }).map(label)).toEqual(['bitnet/wasm/x2/I2_S', 'bitnet/wasm/x1/I2_S']);
    expect(planConfigurations({ backends: ['wasm'], threads: [1], model, peer, sameFileRows: false }).map(label)).toEqual(['bitnet/wasm/x1/I2_S', 'llama.cpp/cpu/x1/TQ2_0']);
  });

  it('extra files of ours run right after the model at each thread count (by the reference backend only when it is the main one)', () => {
    const f16 = file('/c/m-f16.gguf', 'I2_S');
    const at = (p: { file: ModelFileInfo } & Parameters<typeof label>[0]): string => `${label(p)}${p.file === f16 ? '/f16' : ''}`;
    expect(planConfigurations({ backends: ['wasm', 'reference'], threads: [1, 2], model, extras: [f16, model, peer], peer, sameFileRows: true }).map(at)).toEqual([
      'bitnet/wasm/x2/I2_S',
      'bitnet/wasm/x2/I2_S/f16',
      'bitnet/wasm/x2/TQ2_0',
      'llama.cpp/cpu/x2/TQ2_0',
      'bitnet/wasm/x1/I2_S',
      'bitnet/wasm/x1/I2_S/f16',
      'bitnet/wasm/x1/TQ2_0',
      'llama.cpp/cpu/x1/TQ2_0',
      'bitnet/reference/x1/I2_S',
    ]);
    expect(planConfigurations({ backends: ['reference'], threads: [2], model, extras: [f16], peer: null, sameFileRows: true }).map(at)).toEqual(['bitnet/reference/x1/I2_S', 'bitnet/reference/x1/I2_S/f16']);
  });

  it('no duplicate row when the peer file is the model itself', () => {
    expect(planConfigurations({ backends: ['wasm'], threads: [1], model: peer, peer, sameFileRows: true }).map(label)).toEqual(['bitnet/wasm/x1/TQ2_0', 'llama.cpp/cpu/x1/TQ2_0']);
  });

  it('reference alone still gets llama.cpp rows and a same-file row', () => {
    expect(planConfigurations({ backends: ['reference'], threads: [2], model, peer, sameFileRows: true }).map(label)).toEqual(['llama.cpp/cpu/x2/TQ2_0', 'bitnet/reference/x1/I2_S', 'bitnet/reference/x1/TQ2_0']);
  });
});

describe('validateBenchOptions', () => {
  const ok = { backends: ['wasm'] as const, threads: [1, 2], runs: 3, pp: 128, tg: 64 };
  it('accepts sane options and names the bad field otherwise', () => {
    expect(() => validateBenchOptions(ok)).not.toThrow();
    expect(() => validateBenchOptions({ ...ok, runs: 0 })).toThrow(/runs/);
    expect(() => validateBenchOptions({ ...ok, pp: 1.5 })).toThrow(/pp/);
    expect(() => validateBenchOptions({ ...ok, tg: 1 })).toThrow(/tg: expected an integer >= 2/);
    expect(() => validateBenchOptions({ ...ok, threads: [] })).toThrow(/threads/);
    expect(() => validateBenchOptions({ ...ok, threads: [0] })).toThrow(/threads/);
    expect(() => validateBenchOptions({ ...ok, backends: [] })).toThrow(/backends/);
  });
});
