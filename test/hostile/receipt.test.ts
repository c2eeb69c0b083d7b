// Hostile receipts: JSON that trips naive string conversion must get failed gates (and RECEIPT_INVALID), never a crash.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../../src/errors.js';
import { assertReceipt, verifyReceipt } from '../../src/engine/receipt.js';
import { validReceipt } from '../../fuzz/targets/receipt.js';

/** The valid receipt with `model[field]` replaced by `value`, as JSON.parse would build it. */
function withModelField(field: string, valueJson: string): unknown {
  const r = JSON.parse(JSON.stringify(validReceipt())) as { model: Record<string, unknown> };
  r.model[field] = JSON.parse(valueJson) as unknown;
  return r;
}

function codeOf(f: () => void): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return isBitNetError(e) ? e.code : `not a BitNetError: ${String(e)}`;
  }
}

describe('receipt verification on hostile JSON', () => {
  it('the valid receipt passes every gate (the baseline the cases below break)', () => {
    expect(verifyReceipt(validReceipt()).filter((g) => !g.ok)).toEqual([]);
    expect(codeOf(() => assertReceipt(validReceipt()))).toBe('ok');
  });

  // Fuzz finding (target 'receipt'): model.bytes = {"toString": 0} made verifyReceipt throw
  // "TypeError: Cannot convert object to primitive value" while writing the model_size detail.
  it.each([
    ['bytes', '{"toString": 0}'],
    ['bytes', '{"toString": {}, "valueOf": []}'],
    ['weight_bytes', '{"valueOf": 1, "toString": null}'],
    ['bytes', '[]'],
    ['weight_bytes', '{"__proto__": null}'],
  ])('model.%s = %s fails the model_size gate instead of throwing', (field, json) => {
    const r = withModelField(field, json);
    const gates = verifyReceipt(r);
    const size = gates.find((g) => g.gate === 'model_size');
    expect(size?.ok).toBe(false);
    expect(size?.detail).toMatch(/an (object|array)/);
    expect(codeOf(() => assertReceipt(r))).toBe('RECEIPT_INVALID');
  });

  it('any JSON value in any field gives gate results, and assertReceipt only ever throws RECEIPT_INVALID', () => {
    const fields = ['schema', 'model', 'backend', 'kernels', 'tokens', 'timings', 'engine', 'runtime', 'compute_path', 'strict'];
    const hostileObject = fc.dictionary(fc.constantFrom('toString', 'valueOf', '__proto__', 'constructor', 'length', 'id', 'calls'), fc.jsonValue(), { maxKeys: 3 });
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.oneof(fc.jsonValue(), hostileObject), (field, value) => {
        const r = JSON.parse(JSON.stringify(validReceipt())) as Record<string, unknown>;
        Object.defineProperty(r, field, { value, enumerable: true });
        const gates = verifyReceipt(r);
        expect(gates.length).toBeGreaterThan(0);
        for (const g of gates) expect(typeof g.detail).toBe('string');
        expect(codeOf(() => assertReceipt(r))).toMatch(/^(ok|RECEIPT_INVALID)$/);
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
