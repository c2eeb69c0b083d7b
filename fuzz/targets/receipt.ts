// Fuzz target: receipt verification (verifyReceipt / assertReceipt in src/engine/receipt.ts) on arbitrary JSON, either raw
// JSON text or a valid receipt with fields replaced by arbitrary JSON values (objects with keys like `toString`).
//
// Passes: gate results; assertReceipt passing or throwing RECEIPT_INVALID. Findings: verifyReceipt throwing at all,
// malformed gate results, assertReceipt throwing anything else, or passing a receipt with a failed gate.

import { BitNetError } from '../../src/errors.js';
import { RECEIPT_SCHEMA, assertReceipt, verifyReceipt } from '../../src/engine/receipt.js';
import { FuzzInput } from '../input.js';
import { jsonPaths, jsonValue, setPath } from '../json-edit.js';
import { invariant, type FuzzTarget } from '../target.js';

/** A receipt that passes every gate (the shape BitNet.lastReceipt writes). */
export function validReceipt(): Record<string, unknown> {
  return {
    schema: RECEIPT_SCHEMA,
    engine: { name: 'bitnet', version: '0.1.0' },
    created_at: '2025-01-01T00:00:00.000Z',
    kind: 'generate',
    compute_path: 'real',
    model: { file: 'tiny.gguf', bytes: 1234567, header_sha256: 'ab'.repeat(32), arch: 'bitnet-b1.58', n_params: 1000, weight_bytes: 500000, hyper: { dim: 256, layers: 2, rope: 'neox' } },
    backend: { name: 'reference', kernel_set: 'scalar', threads: 1, fallbacks: [] },
    kernels: [{ id: 'ref.embed.q8_0', calls: 1 }, { id: 'ref.attention', calls: 2 }, { id: 'ref.matmul.i2_s', calls: 14 }, { id: 'ref.rmsnorm', calls: 9 }],
    runtime: { name: 'node', version: '20.0.0', platform: 'linux', arch: 'x64' },
    tokens: { prompt_count: 2, generated_count: 1, prompt: [128000, 9906], generated: [11] },
    timings: { load_ms: 10, prefill_ms: 5, decode_ms: 1, prefill_tok_s: 400, decode_tok_s: 100 },
    sampling: { kind: 'greedy' },
    seed: 1,
    strict: true,
  };
}

/** Every path an edit may target: each field of the valid receipt, plus a few that are absent. */
const PATHS: readonly (readonly string[])[] = [
  ...jsonPaths(validReceipt()),
  ['kernels', '5'], ['backend', 'fallbacks', '0'], ['model', '__proto__'], ['extra'],
];

/** Strings worth putting in a receipt field. */
const STRINGS = ['', 'real', 'reference', 'ref.mock', 'wasm.x', RECEIPT_SCHEMA, 'ab'.repeat(32), 'AB'.repeat(32)];

function buildInput(data: Uint8Array): unknown {
  const inp = new FuzzInput(data);
  if (inp.u8() % 2 === 0) {
    try {
      return JSON.parse(new TextDecoder().decode(inp.rest())) as unknown;
    } catch {
      return undefined; // not JSON: nothing to verify (the CLI refuses it before verification)
    }
  }
  let receipt: unknown = validReceipt();
  const nEdits = inp.int(0, 4);
  for (let i = 0; i < nEdits; i++) {
    const path = inp.pick(PATHS);
    const value = inp.u8() % 8 === 0 ? undefined : jsonValue(inp, 3, STRINGS);
    receipt = setPath(receipt, path, value);
  }
  return receipt;
}

function run(data: Uint8Array): void {
  const receipt = buildInput(data);
  if (receipt === undefined && data.length > 0 && data[0] % 2 === 0) return;
  let gates: ReturnType<typeof verifyReceipt>;
  try {
    gates = verifyReceipt(receipt);
  } catch (e) {
    invariant(false, `verifyReceipt threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  invariant(Array.isArray(gates) && gates.length > 0, 'verifyReceipt returned no gates');
  for (const g of gates) invariant(typeof g.gate === 'string' && typeof g.ok === 'boolean' && typeof g.detail === 'string', `malformed gate ${JSON.stringify(g)}`);
  const allOk = gates.every((g) => g.ok);
  try {
    assertReceipt(receipt);
  } catch (e) {
    invariant(e instanceof BitNetError && e.code === 'RECEIPT_INVALID', `assertReceipt threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    invariant(!allOk, 'assertReceipt refused a receipt whose gates all pass');
    throw e;
  }
  invariant(allOk, 'assertReceipt accepted a receipt with a failed gate');
}

export const receiptTarget: FuzzTarget = {
  name: 'receipt',
  description: 'verifyReceipt / assertReceipt on raw JSON text or a valid receipt with fields replaced by arbitrary JSON',
  maxInputBytes: 2048,
  maxExecMs: 500,
  dictionary: ['{', '}', '[', ']', ':', ',', '"', 'null', 'true', '1e400', '-1', '"schema"', `"${RECEIPT_SCHEMA}"`, '"toString"', '"valueOf"', '"__proto__"', '"kernels"', '"model"', '"tokens"', '"timings"'],
  seeds: () => {
    const enc = new TextEncoder();
    const json = (v: unknown): Uint8Array => Uint8Array.from([0, ...enc.encode(JSON.stringify(v))]);
    return [json(validReceipt()), json({ schema: RECEIPT_SCHEMA }), json([]), Uint8Array.from([1, 0]), Uint8Array.from([1, 2, 40, 7, 2, 1, 3, 9])];
  },
  run,
};
