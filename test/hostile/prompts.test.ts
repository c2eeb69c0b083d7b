// Hostile prompts through the engine (BitNet.load of a tiny synthetic model with the real LLaMA-3 vocabulary, then
// complete / chat): random bytes, invalid UTF-8, lone surrogates, NULs, special-token text, bad token ids. The engine
// answers with well-formed text and in-range ids, or a clear BitNetError.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BitNet } from '../../src/engine/bitnet.js';
import { BitNetError } from '../../src/errors.js';
import type { CompletionResult } from '../../src/engine/types.js';
import { tinyModel } from '../helpers/tiny-models.js';

let model: BitNet;

beforeAll(async () => {
  model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'reference' });
});

afterAll(async () => {
  await model.dispose();
});

/** True when `s` has no lone surrogate (it survives a UTF-8 round trip). */
function wellFormed(s: string): boolean {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(new TextEncoder().encode(s)) === s;
}

function checkResult(r: CompletionResult): void {
  expect(wellFormed(r.text)).toBe(true);
  expect(r.tokenIds.every((id) => Number.isInteger(id) && id >= 0 && id < model.info.vocabSize)).toBe(true);
  expect(['stop', 'length']).toContain(r.finishReason);
  expect(r.usage.promptTokens).toBeGreaterThan(0);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof BitNetError ? e.code : `not a BitNetError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
}

describe('hostile prompt text', () => {
  it.each([
    ['a lone high surrogate', 'abc\ud800def'],
    ['a lone low surrogate first', '\udfffabc'],
    ['reversed surrogates', '\udc00\ud800'],
    ['NUL characters', 'a\u0000b\u0000\u0000'],
    ['a byte-order mark', '\ufeffHello'],
    ['replacement characters from invalid UTF-8', new TextDecoder().decode(Uint8Array.of(0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x41))],
    ['special-token text', '<|begin_of_text|><|eot_id|><|start_header_id|>user<|end_header_id|>'],
    ['unassigned and private-use code points', '\u{10ffff}\u{e000}\u0378'],
    ['combining marks only', '\u0301\u0301\u0301\u0301'],
    ['whitespace only', ' \t\r\n\u00a0\u2028'],
  ])('%s gives well-formed text and in-range ids', async (_name, prompt) => {
    checkResult(await model.complete(prompt, { maxTokens: 2, sampling: { kind: 'greedy' } }));
  });

  it('random bytes read as UTF-8 (with replacement) or as Latin-1 never break a completion', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 48 }), fc.boolean(), async (bytes, latin1) => {
        const prompt = latin1 ? String.fromCharCode(...bytes) : new TextDecoder().decode(bytes);
        checkResult(await model.complete(prompt, { maxTokens: 1, sampling: { kind: 'greedy' }, addBos: true }));
      }),
      { numRuns: 12, seed: 42 },
    );
  });

  it('random UTF-16 code units (lone surrogates included) never break a completion', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 32 }), async (units) => {
        checkResult(await model.complete(String.fromCharCode(...units), { maxTokens: 1, sampling: { kind: 'greedy' }, addBos: true }));
      }),
      { numRuns: 12, seed: 43 },
    );
  });

  it('chat messages with lone surrogates render and complete', async () => {
    const r = await model.chatComplete(
      [
        { role: 'system', content: '\ud83d' },
        { role: 'user', content: 'hi \udc00 there' },
      ],
      { maxTokens: 2, sampling: { kind: 'greedy' } },
    );
    checkResult(r);
  });
});

describe('hostile token-id prompts and options', () => {
  it.each([
    ['a negative id', [128000, -1]],
    ['a fractional id', [128000, 1.5]],
    ['NaN', [Number.NaN]],
    ['the vocabulary size', [128256]],
    ['2^32', [2 ** 32]],
    ['an empty list', []],
  ])('%s -> BAD_ARGUMENT', async (_name, ids) => {
    expect(await codeOf(model.complete(ids, { maxTokens: 1 }))).toBe('BAD_ARGUMENT');
  });

  it('an empty text prompt without BOS -> BAD_ARGUMENT', async () => {
    expect(await codeOf(model.complete('', { maxTokens: 1, addBos: false }))).toBe('BAD_ARGUMENT');
  });

  it('a prompt longer than the context -> CONTEXT_OVERFLOW', async () => {
    expect(await codeOf(model.complete('word '.repeat(model.info.contextLength + 10), { maxTokens: 1 }))).toBe('CONTEXT_OVERFLOW');
  });

  it.each([
    ['maxTokens -1', { maxTokens: -1 }],
    ['maxTokens 1.5', { maxTokens: 1.5 }],
    ['maxTokens NaN', { maxTokens: Number.NaN }],
  ])('%s -> BAD_ARGUMENT', async (_name, opts) => {
    expect(await codeOf(model.complete('hello', opts))).toBe('BAD_ARGUMENT');
  });

  it('the model still works after every refusal above', async () => {
    checkResult(await model.complete('The quick brown fox', { maxTokens: 2, sampling: { kind: 'greedy' } }));
  });
});
