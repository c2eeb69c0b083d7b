// Tests of the bandwidth probe's correctness (not its speed): the hand-assembled wasm module and the workers' checksum.

import { describe, expect, it } from 'vitest';
import { bandwidthWasmModule, measureBandwidthBestAvailable, measureMemoryBandwidth, measureWasmBackendBandwidth } from './bandwidth.js';

describe('bandwidthWasmModule', () => {
  it('is a valid module whose sum counts every 16-byte vector of a slice', () => {
    const bytes = bandwidthWasmModule(1);
    expect(WebAssembly.validate(bytes)).toBe(true);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const words = new Int32Array(memory.buffer);
    for (let i = 0; i < words.length; i++) words[i] = i % 4 === 0 ? 3 : 1000; // lane 0 holds 3
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { m: memory } });
    const sum = inst.exports.sum as (begin: number, end: number) => number;
    expect(sum(0, 65536)).toBe(3 * (65536 / 16));
    expect(sum(64, 192)).toBe(3 * 8);
    expect(sum(128, 128)).toBe(0);
  });
});

describe('measureMemoryBandwidth', () => {
  it('returns a positive rate for each method on a small buffer (the checksum is verified inside)', async () => {
    for (const method of ['auto', 'js'] as const) {
      const r = await measureMemoryBandwidth({ threads: 2, bytes: 1 << 20, repeats: 1, method });
      expect(r.threads).toBe(2);
      expect(r.bytesPerS).toBeGreaterThan(0);
      expect(r.method).toBe(method === 'js' ? 'js-f64-sum' : 'wasm-simd128-sum');
    }
  });

  it('refuses bad sizes and counts', async () => {
    await expect(measureMemoryBandwidth({ threads: 0 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(measureMemoryBandwidth({ threads: 1, bytes: 10 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(measureMemoryBandwidth({ threads: 1, bytes: 2 ** 31 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(measureMemoryBandwidth({ threads: 1, repeats: 0 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });
});

describe('measureBandwidthBestAvailable', () => {
  it('returns a positive rate from the wasm backend, or from the worker probe when it cannot start', async () => {
    const r = await measureBandwidthBestAvailable(1);
    expect(r.bytesPerS).toBeGreaterThan(0);
    expect(r.method).toMatch(/^(wasm-backend-read|wasm-simd128-sum|js-f64-sum)/);
  });

  it('refuses bad arguments instead of falling back', async () => {
    await expect(measureWasmBackendBandwidth({ threads: 0 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(measureWasmBackendBandwidth({ threads: 1, bytes: 1000 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(measureBandwidthBestAvailable(0)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });
});
