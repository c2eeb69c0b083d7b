// The start-up self-check `auto` runs before it trusts a GPU: it passes on correct backends and names the first wrong
// value (op, index, both values) on a broken one, without throwing.

import { describe, expect, it } from 'vitest';
import type { KernelBackend } from './backend.js';
import { selfCheckAgainstReference } from './backend-self-check.js';
import { createReferenceBackend } from './reference/index.js';
import { createWasmBackend } from './wasm/index.js';

/** The reference backend with one op replaced (every other member still called on the backend itself). */
function broken(patch: (be: KernelBackend) => Partial<KernelBackend>): KernelBackend {
  const be = createReferenceBackend();
  const members = patch(be);
  return new Proxy(be, {
    get(t, p) {
      if (Object.prototype.hasOwnProperty.call(members, p)) return (members as Record<string | symbol, unknown>)[p];
      const v: unknown = Reflect.get(t, p, t);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

describe('selfCheckAgainstReference', () => {
  it('passes on the reference and the wasm backend', async () => {
    expect(await selfCheckAgainstReference(createReferenceBackend())).toBe('');
    const wasm = await createWasmBackend({ threads: 1 });
    try {
      expect(await selfCheckAgainstReference(wasm)).toBe('');
    } finally {
      await wasm.dispose();
    }
  });

  it('names the first wrong matmul value', async () => {
    const be = broken((b) => ({
      matmul: (out, w, x, n, scale) => {
        b.matmul(out, w, x, n, scale);
        b.write(out, new Float32Array([1e6]), 5);
      },
    }));
    expect(await selfCheckAgainstReference(be)).toMatch(/^matmul i2_s differs at 5: reference -?[\d.e+-]+, backend 1000000$/);
  });

  it('catches an RMSNorm that is off by 0.1% (above its 1e-4 tolerance)', async () => {
    const be = broken((b) => ({
      rmsnorm: (out, x, w, n, dim, eps) => {
        b.rmsnorm(out, x, w, n, dim, eps);
        const view = b.view?.(out);
        if (view !== undefined) for (let i = 0; i < view.length; i++) view[i] *= 1.001;
      },
    }));
    expect(await selfCheckAgainstReference(be)).toMatch(/^rmsnorm differs at \d+/);
  });

  it('reports a backend that throws instead of throwing', async () => {
    const be = broken(() => ({
      endStep: () => Promise.reject(new Error('device lost')),
    }));
    expect(await selfCheckAgainstReference(be)).toBe('the check failed to run: device lost');
  });
});
