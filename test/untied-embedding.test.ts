// Untied token embeddings (a file with its own output.weight, as Llama3-8B-1.58 and Falcon3-1.58bit have): token_embd
// is read only for the step's tokens, so the backends keep it in host memory (WeightInfo.lookupOnly) instead of the
// wasm / GPU memory. The logits must not change: a tied model and the same model with output.weight = token_embd give
// the same bits, one through the backend's embed kernel, the other through the host rows.

import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import { verifyReceipt } from '../src/engine/receipt.js';
import { untiedSpecs } from './helpers/untied-model.js';
import { MINI, MINI_VOCAB_SIZE, miniBytes } from './hostile/mini-model.js';

const PROMPT = Array.from({ length: 11 }, (_, i) => (i * 37 + 5) % 258);

describe('an untied token embedding stays in host memory', () => {
  for (const backend of ['wasm', 'reference'] as const) {
    for (const type of ['F16', 'Q8_0', 'Q6_K'] as const) {
      it(`${backend}, ${type}: the same logits and tokens as the tied model, bit for bit; the receipt names the host lookups`, async () => {
        const { tied, untied } = untiedSpecs(type);
        const results = [];
        for (const spec of [tied, untied]) {
          const model = await BitNet.load(miniBytes(spec), { backend, threads: 2 });
          try {
            const logits = await model.evaluateLogits(PROMPT);
            const r = await model.complete(PROMPT, { maxTokens: 12, sampling: { kind: 'greedy' }, ignoreEos: true });
            const receipt = model.lastReceipt();
            if (receipt === undefined) throw new Error('no receipt');
            expect(verifyReceipt(JSON.parse(JSON.stringify(receipt))).filter((g) => !g.ok)).toEqual([]);
            results.push({ logits, tokens: r.tokenIds, embedIds: receipt.kernels.filter((k) => k.id.includes('.embed.')).map((k) => k.id) });
          } finally {
            await model.dispose();
          }
        }
        const [a, b] = results;
        expect(b.tokens).toEqual(a.tokens);
        expect(b.logits.length).toBe(a.logits.length);
        for (let i = 0; i < a.logits.length; i++) if (!Object.is(a.logits[i], b.logits[i])) expect.fail(`logit ${i}: tied ${a.logits[i]}, untied ${b.logits[i]}`);
        const name = type.toLowerCase();
        if (backend === 'wasm') {
          expect(a.embedIds).toEqual([expect.stringMatching(new RegExp(`^wasm\\.[a-z0-9-]+\\.embed\\.${name}$`))]);
          expect(b.embedIds).toEqual([expect.stringMatching(new RegExp(`^wasm\\.[a-z0-9-]+\\.embed\\.${name}\\.host$`))]);
        } else {
          expect(b.embedIds).toEqual([`ref.embed.${name}`]);
        }
      });
    }
  }

  it('the load plan counts the untied table as host memory, not as backend weights', async () => {
    const { tied, untied } = untiedSpecs('F16');
    const tableBytes = MINI.hidden * MINI_VOCAB_SIZE * 2;
    const pTied = await BitNet.plan(miniBytes(tied));
    const pUntied = await BitNet.plan(miniBytes(untied));
    expect(pTied.memory.hostBytes).toBe(0);
    expect(pUntied.memory.hostBytes).toBe(tableBytes);
    // untied: output.weight (the same size) in the backend, token_embd on the host
    expect(pUntied.memory.weightBytes).toBe(pTied.memory.weightBytes);
    expect(pUntied.memory.totalBytes).toBe(pTied.memory.totalBytes);
  });
});
