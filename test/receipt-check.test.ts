// Receipts checked against the model: a receipt only passes when its model file, kernel counts and tokens agree
// with what the engine does when the run is replayed.

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import { verifyReceipt, type Receipt } from '../src/engine/receipt.js';
import { checkReceiptAgainstModel } from '../src/engine/receipt-check.js';
import { tinyModel } from './helpers/tiny-models.js';
import { tempDir } from './helpers/temp-dir.js';

const dir = tempDir('bitnet-receipt-');

async function receiptOf(path: string): Promise<Receipt> {
  const model = await BitNet.load(path, { backend: 'wasm', threads: 2 });
  try {
    await model.complete('Once upon', { maxTokens: 5, sampling: { kind: 'sample', temperature: 0.9, topK: 40 }, seed: 7, ignoreEos: true });
    const r = model.lastReceipt();
    if (r === undefined) throw new Error('no receipt');
    return JSON.parse(JSON.stringify(r)) as Receipt;
  } finally {
    await model.dispose();
  }
}

const failed = (gates: { gate: string; ok: boolean }[]): string[] => gates.filter((g) => !g.ok).map((g) => g.gate);

describe('receipts against the model', () => {
  it('a genuine receipt passes every gate, replay included', async () => {
    const path = await tinyModel('bitnet-b1.58', 'i2_s');
    const r = await receiptOf(path);
    expect(r.compute_path).toBe('real');
    expect(failed(verifyReceipt(r))).toEqual([]);
    const gates = await checkReceiptAgainstModel(r, path, { replay: true });
    expect(failed(gates)).toEqual([]);
    expect(gates.map((g) => g.gate)).toEqual(['model_file_size', 'model_hash_matches', 'model_arch_matches', 'replay_tokens']);
  });

  it('a receipt checked against another model of the same shape fails the hash and the replay', async () => {
    const r = await receiptOf(await tinyModel('bitnet-b1.58', 'i2_s'));
    const other = await tinyModel('bitnet-b1.58', 'i2_s', 'q8_0', 2);
    const gates = await checkReceiptAgainstModel(r, other, { replay: true });
    expect(failed(gates)).toContain('replay_tokens');
  });

  it('tampered tokens fail the replay; tampered kernel counts fail kernel_calls_consistent', async () => {
    const path = await tinyModel('bitnet-b1.58', 'i2_s');
    const r = await receiptOf(path);
    const tokens = { ...r.tokens, generated: [...r.tokens.generated.slice(0, 4), (r.tokens.generated[4] + 1) % 128256] };
    expect(failed(await checkReceiptAgainstModel({ ...r, tokens }, path, { replay: true }))).toEqual(['replay_tokens']);
    const kernels = r.kernels.map((k) => (k.id.endsWith('.attention') ? { ...k, calls: k.calls - 1 } : k));
    expect(failed(verifyReceipt({ ...r, kernels }))).toEqual(['kernel_calls_consistent']);
    const fewer = { ...r, tokens: { ...r.tokens, generated: r.tokens.generated.slice(0, 1), generated_count: 1 } };
    expect(failed(verifyReceipt(fewer))).toContain('kernel_calls_consistent');
    const hashed = { ...r, model: { ...r.model, header_sha256: 'ab'.repeat(32) } };
    expect(failed(await checkReceiptAgainstModel(hashed, path))).toEqual(['model_hash_matches']);
  });

  it('bitnet verify-receipt -m MODEL --replay passes a genuine receipt and refuses a tampered one', async () => {
    const path = await tinyModel('bitnet-b1.58', 'i2_s');
    const r = await receiptOf(path);
    const good = join(dir, 'good.json');
    const bad = join(dir, 'bad.json');
    writeFileSync(good, JSON.stringify(r));
    writeFileSync(bad, JSON.stringify({ ...r, tokens: { ...r.tokens, generated: [...r.tokens.generated].reverse() } }));
    const bin = join(import.meta.dirname, '..', 'bin', 'bitnet.js');
    const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      promisify(execFile)(process.execPath, [bin, ...args]).then(
        (o) => ({ code: 0, ...o }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const ok = await run(['verify-receipt', good, '-m', path, '--replay']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/pass {2}replay_tokens/);
    const no = await run(['verify-receipt', bad, '-m', path, '--replay']);
    expect(no.code).toBe(1);
    expect(no.stderr).toMatch(/failed gate 'replay_tokens'/);
  });
});
