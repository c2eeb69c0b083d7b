// The library's public surface as a user meets it: wrong option names and ranges are errors, a GGUF header can be
// read and inspected without loading, and a bug in the wasm backend is never hidden behind a reference fallback.

import { describe, expect, it } from 'vitest';
import { BitNet, BitNetError, formatInspectReport, inspectGguf, isBitNetError, openGguf } from '../src/index.js';
import { selectBackend } from '../src/engine/backend-select.js';
import type { LoadOptions } from '../src/index.js';
import { tinyModel } from './helpers/tiny-models.js';

async function loadError(options: LoadOptions): Promise<unknown> {
  const path = await tinyModel('bitnet-b1.58', 'i2_s');
  return BitNet.load(path, options).then(
    async (m) => {
      await m.dispose();
      return undefined;
    },
    (e: unknown) => e,
  );
}

describe('BitNet.load options', () => {
  it.each([
    ['an unknown backend', { backend: 'bogus' } as unknown as LoadOptions, /backend/],
    ['zero threads', { threads: 0 }, /threads/],
    ['fractional threads', { threads: 1.5 }, /threads/],
    ['absurd threads', { threads: 1000 }, /threads.*1\.\.256/],
    ['a zero context', { contextLength: 0 }, /contextLength/],
    ['an unknown activation scheme', { activationQuant: 'int4' } as unknown as LoadOptions, /activationQuant/],
  ])('refuses %s with BAD_ARGUMENT instead of a silent default or a fallback', async (_name, options, message) => {
    const e = await loadError(options);
    expect(isBitNetError(e, 'BAD_ARGUMENT'), String(e)).toBe(true);
    expect((e as Error).message).toMatch(message);
  });

  it('preflight sees the tokenizer and context before weights load, and its error cancels the load', async () => {
    let seen: { contextLength: number; n: number } | undefined;
    const e = await loadError({
      contextLength: 64,
      preflight: (m) => {
        seen = { contextLength: m.contextLength, n: m.tokenize('Hello world').length };
        throw new BitNetError('CONTEXT_OVERFLOW', 'no room');
      },
    });
    expect(seen).toEqual({ contextLength: 64, n: 3 }); // BOS + 2 words
    expect(isBitNetError(e, 'CONTEXT_OVERFLOW')).toBe(true);
  });
});

describe('BitNet.plan', () => {
  it('tells from the header what a load would reserve, the same plan the load then uses', async () => {
    const path = await tinyModel('bitnet-b1.58', 'i2_s');
    const plan = await BitNet.plan(path, { contextLength: 64 });
    const short = await BitNet.plan(path, { contextLength: 32 });
    expect(plan).toMatchObject({ arch: 'bitnet-b1.58', contextLength: 64 });
    expect(plan.memory.kvBytes).toBe(2 * short.memory.kvBytes); // K and V per position
    expect(plan.memory.weightBytes).toBe(short.memory.weightBytes);
    expect(plan.memory.totalBytes).toBe(plan.memory.weightBytes + plan.memory.kvBytes + plan.memory.activationBytes);
    let seen: unknown;
    const e = await loadError({ contextLength: 64, preflight: (m) => { seen = m.memory; throw new BitNetError('ABORTED', 'stop'); } });
    expect(isBitNetError(e, 'ABORTED')).toBe(true);
    expect(seen).toEqual(plan.memory);
  });
});

describe('backend selection', () => {
  it('falls back to the reference only when the wasm backend is unavailable, recording why', async () => {
    const sel = await selectBackend('auto', undefined, false, () => Promise.reject(new BitNetError('BACKEND_UNAVAILABLE', 'no SIMD here')));
    expect(sel.backend.name).toBe('reference');
    expect(sel.fallback).toMatch(/no SIMD here/);
  });

  it('a bug inside the wasm backend surfaces as itself, not as a (recorded) reference run', async () => {
    const bug = new TypeError('x is undefined');
    await expect(selectBackend('auto', undefined, false, () => Promise.reject(bug))).rejects.toBe(bug);
    const internal = new BitNetError('INTERNAL', 'wasm kernel failed');
    await expect(selectBackend('auto', undefined, false, () => Promise.reject(internal))).rejects.toBe(internal);
  });
});

describe('GGUF headers from the root export', () => {
  it('openGguf + inspectGguf describe a model without loading its weights', async () => {
    const { source, header } = await openGguf(await tinyModel('bitnet-b1.58', 'i2_s'));
    try {
      const report = inspectGguf(header);
      expect(report.arch).toBe('bitnet-b1.58');
      expect(report.tensors.length).toBe(header.tensors.length);
      expect(formatInspectReport(report)).toMatch(/bitnet-b1\.58/);
    } finally {
      await source.close?.();
    }
  });
});
