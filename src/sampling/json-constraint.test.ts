// Tests of token masks: the trie walk (with its plain-string shortcut and cache) equals a brute-force check of every token, multi-byte tokens split characters correctly, end tokens and budget forcing behave.

import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { llama3GgufMetadataEntries } from '../tokenizer/llama3-vocab.js';
import { createTokenizer } from '../tokenizer/tokenizer.js';
import { JsonAutomaton, type AutomatonState } from './json-automaton.js';
import { createJsonConstraint, type JsonConstraint, type TokenMask } from './json-constraint.js';
import { compileResponseFormat, type ResponseFormat } from './json-schema.js';
import { createRng } from './rng.js';
import { createSampler } from './sampler.js';
import { buildTokenTrie, type TokenByteSource } from './token-trie.js';

const utf8 = new TextEncoder();

/** A vocabulary from byte strings; ids in `control` are control tokens. */
function fakeVocab(pieces: readonly (string | number[])[], control: readonly number[] = []): TokenByteSource {
  const bytes = pieces.map((p) => (typeof p === 'string' ? utf8.encode(p) : Uint8Array.from(p)));
  return { vocabSize: bytes.length, tokenBytes: (id) => bytes[id], isControl: (id) => control.includes(id) };
}

function allowedSet(mask: TokenMask, vocabSize: number): Set<number> {
  if (mask.mode === 'allow') return new Set(mask.ids);
  const denied = new Set(mask.ids);
  const out = new Set<number>();
  for (let id = 0; id < vocabSize; id++) if (!denied.has(id)) out.add(id);
  return out;
}

/** Every token tried on its own: the mask the trie walk must reproduce. */
function bruteForce(a: JsonAutomaton, s: AutomatonState, vocab: TokenByteSource, endTokens: readonly number[], threshold = -1): Set<number> {
  const out = new Set<number>();
  for (let id = 0; id < vocab.vocabSize; id++) {
    if (endTokens.includes(id)) {
      if (a.accepting(s)) out.add(id);
      continue;
    }
    const bytes = vocab.tokenBytes(id);
    if (vocab.isControl(id) || bytes.length === 0) continue;
    const t = a.walk(s, bytes);
    if (t !== null && (threshold < 0 || a.minCompletion(t) <= threshold)) out.add(id);
  }
  return out;
}

/** Drives a constraint with a seeded random choice among allowed tokens; returns the tokens. */
function randomRun(
  c: JsonConstraint,
  vocabSize: number,
  seed: number,
  budget: number,
  onStep?: (remaining: number, mask: TokenMask) => void,
  onToken?: (token: number) => void,
): number[] {
  const rng = createRng(seed);
  const out: number[] = [];
  for (let remaining = budget; remaining > 0 && !c.done; remaining--) {
    const mask = c.mask(remaining);
    onStep?.(remaining, mask);
    const allowed = [...allowedSet(mask, vocabSize)].sort((x, y) => x - y);
    const token = allowed[Math.floor(rng.nextFloat() * allowed.length)];
    out.push(token);
    c.accept(token);
    onToken?.(token);
  }
  return out;
}

// A small vocabulary with the awkward cases: every single byte, multi-byte characters split across tokens,
// tokens that close strings and containers, escapes, whitespace runs, a control token and an end token.
const PIECES: (string | number[])[] = [
  ...Array.from({ length: 256 }, (_, b) => [b]),
  '{"', '"}', '":', '":"', '","', '"]', '"}]', '}]', ']}', '},{"', '[{"', '[[', ']]', 'true', 'false', 'null', 'nul', 'ab', 'hello world',
  '\\n', '\\"', '\\u00', '\\u00e9', '"\\', '  ', '\n  ', '\n\n\n\n', '-0.', '.5', 'e+10', '12', '123', '0,', ',"', ', "', '":[', '":{"',
  'é', 'é"', [0x22, 0xc3], [0xa9, 0x22], [0xf0, 0x9f], [0x98, 0x80], [0x98, 0x80, 0x22, 0x7d], [0xc3, 0x28], [0xed, 0xa0, 0x80],
  '日本', '"日本"', '<|eot|>', '<|ctl|>', 'name', '"name":', 'age', '"age":', '"tags":["', 'x"', 'y"',
];
const EOT = PIECES.indexOf('<|eot|>');
const CTL = PIECES.indexOf('<|ctl|>');
const VOCAB = fakeVocab(PIECES, [EOT, CTL]);

const FORMATS: ResponseFormat[] = [
  { type: 'json_object' },
  {
    type: 'json_schema',
    schema: {
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'integer' }, tags: { type: 'array', items: { enum: ['x', 'y', 'é'] }, minItems: 1 } },
      required: ['name', 'tags'],
      additionalProperties: false,
    },
  },
  { type: 'json_schema', schema: { type: 'array', items: { type: ['number', 'string', 'null'] }, maxItems: 4 } },
];

describe('token masks equal a brute-force check of every token', () => {
  it('fake vocabulary, three formats, random walks (cached and budget-filtered masks)', () => {
    for (const [f, format] of FORMATS.entries()) {
      for (let seed = 0; seed < 12; seed++) {
        const c = createJsonConstraint(format, VOCAB, { endTokens: [EOT] });
        // A second automaton replays the same tokens for the brute force.
        const a = new JsonAutomaton(compileResponseFormat(format));
        let s: AutomatonState | null = a.start;
        randomRun(c, VOCAB.vocabSize, seed * 31 + f, 40 + seed * 3, (remaining, mask) => {
          if (s === null) throw new Error('replay died');
          const need = a.minCompletion(s);
          const full = bruteForce(a, s, VOCAB, [EOT]);
          const got = allowedSet(mask, VOCAB.vocabSize);
          const maxAfter = Math.max(0, ...[...full].map((id) => (id === EOT ? 0 : a.minCompletion(a.walk(s as AutomatonState, VOCAB.tokenBytes(id)) as AutomatonState))));
          const want = remaining - 1 >= maxAfter ? full : bruteForce(a, s, VOCAB, [EOT], Math.max(remaining - 1, need - 1));
          expect([f, seed, remaining, [...got].sort((x, y) => x - y)]).toEqual([f, seed, remaining, [...want].sort((x, y) => x - y)]);
          expect(got.has(CTL)).toBe(false);
        }, (token) => {
          if (s !== null && token !== EOT) s = a.walk(s, VOCAB.tokenBytes(token));
        });
      }
    }
  });

  it('the LLaMA-3 vocabulary (128256 tokens): masks along generated text match brute force', { timeout: 60_000 }, () => {
    const tk = createTokenizer(new Map(llama3GgufMetadataEntries()));
    const ends = [...tk.eogTokenIds];
    const format = FORMATS[1];
    const c = createJsonConstraint(format, tk, { endTokens: ends });
    const a = new JsonAutomaton(compileResponseFormat(format));
    let s: AutomatonState | null = a.start;
    let checked = 0;
    const tokens = randomRun(c, tk.vocabSize, 5, 30, (remaining, mask) => {
      if (s === null) throw new Error('replay died');
      if (checked++ % 3 === 0 && remaining > 20) {
        const got = allowedSet(mask, tk.vocabSize);
        const want = bruteForce(a, s, tk, ends);
        expect(got.size).toBe(want.size);
        for (const id of want) if (!got.has(id)) expect.unreachable(`token ${id} missing from the mask`);
      }
    }, (token) => {
      if (s !== null && !ends.includes(token)) s = a.walk(s, tk.tokenBytes(token));
    });
    expect(tokens.length).toBeGreaterThan(0);
  });
});

describe('multi-byte tokens', () => {
  it('a character split over tokens: only its continuation may follow, and the text decodes whole', () => {
    const c = createJsonConstraint({ type: 'json_schema', schema: { type: 'string' } }, VOCAB);
    c.accept(PIECES.findIndex((p) => Array.isArray(p) && p.length === 2 && p[0] === 0x22 && p[1] === 0xc3)); // '"' + first byte of é
    const allowed = allowedSet(c.mask(10), VOCAB.vocabSize);
    const second = PIECES.findIndex((p) => Array.isArray(p) && p[0] === 0xa9 && p[1] === 0x22);
    expect(allowed.has(second)).toBe(true);
    expect(allowed.has(0xa9)).toBe(true); // the lone continuation byte
    expect(allowed.has(0x61)).toBe(false); // 'a' would break the character
    expect(allowed.has(PIECES.findIndex((p) => Array.isArray(p) && p[0] === 0xc3 && p[1] === 0x28))).toBe(false);
    c.accept(second);
    expect(c.done).toBe(true);
  });

  it('a four-byte character over three tokens; ill-formed sequences are never allowed', () => {
    const c = createJsonConstraint({ type: 'json_object' }, VOCAB);
    for (const p of ['{"', 'ab', '":"']) c.accept(PIECES.indexOf(p));
    const bad = PIECES.findIndex((p) => Array.isArray(p) && p.length === 3 && p[0] === 0xed); // ED A0 80: a UTF-8 encoded surrogate
    expect(allowedSet(c.mask(50), VOCAB.vocabSize).has(bad)).toBe(false);
    c.accept(PIECES.findIndex((p) => Array.isArray(p) && p[0] === 0xf0 && p[1] === 0x9f));
    const mid = allowedSet(c.mask(50), VOCAB.vocabSize);
    expect(mid.has(PIECES.findIndex((p) => Array.isArray(p) && p.length === 4 && p[0] === 0x98))).toBe(true);
    expect(mid.has(0x22)).toBe(false); // the string cannot close mid-character
    c.accept(PIECES.findIndex((p) => Array.isArray(p) && p.length === 4 && p[0] === 0x98)); // 98 80 '"' '}'
    expect(c.done).toBe(true);
  });

  it('the trie marks plain-string subtrees only where every token is whole plain text', () => {
    const v = fakeVocab(['ab', 'a"', 'é', [0xc3], 'x\\', 'xy']);
    const trie = buildTokenTrie(v);
    const nodeOf = (prefix: number[]): number => {
      for (let i = 1; i < trie.nodeCount; i++) {
        const id = trie.ids[trie.tokStart[i]];
        const b = v.tokenBytes(id);
        if (trie.depth[i] === prefix.length && prefix.every((x, k) => b[k] === x)) return i;
      }
      return -1;
    };
    expect(trie.plainFrom[nodeOf([0x61])]).toBe(0); // under 'a': 'a"' has a quote
    expect(trie.plainFrom[nodeOf([0x61, 0x62])]).toBe(1); // 'ab' from 'b' on
    expect(trie.plainFrom[nodeOf([0xc3])]).toBe(0); // lone 0xc3 is not a whole character
    expect(trie.plainFrom[nodeOf([0x78, 0x79])]).toBe(1);
    expect(trie.plainFrom[nodeOf([0x78])]).toBe(0); // 'x\\'
  });
});

describe('end tokens, control tokens, budget', () => {
  it('end tokens are allowed only where the value is complete; control tokens never', () => {
    const c = createJsonConstraint({ type: 'json_schema', schema: { type: 'integer' } }, VOCAB, { endTokens: [EOT] });
    expect(allowedSet(c.mask(10), VOCAB.vocabSize).has(EOT)).toBe(false);
    c.accept(0x31); // '1': complete, and more digits may follow
    const m = allowedSet(c.mask(10), VOCAB.vocabSize);
    expect(m.has(EOT)).toBe(true);
    expect(m.has(0x32)).toBe(true);
    expect(m.has(CTL)).toBe(false);
    expect(c.done).toBe(false);
    expect(c.complete).toBe(true);
    c.accept(EOT);
    expect(c.done).toBe(true);
  });

  it('an end token that is ordinary text (a caller stop token) is masked until the value is complete', () => {
    const comma = 0x2c;
    const c = createJsonConstraint({ type: 'json_object' }, VOCAB, { endTokens: [comma] });
    for (const p of ['{"', 'ab', '":', '12']) {
      expect(allowedSet(c.mask(50), VOCAB.vocabSize).has(comma)).toBe(false);
      c.accept(PIECES.indexOf(p));
    }
    expect(allowedSet(c.mask(50), VOCAB.vocabSize).has(comma)).toBe(false);
  });

  it('refuses tokens the mask would not allow', () => {
    const c = createJsonConstraint({ type: 'json_object' }, VOCAB, { endTokens: [EOT] });
    const code = (f: () => void): string | undefined => {
      try {
        f();
      } catch (e) {
        return isBitNetError(e) ? e.code : 'other';
      }
      return undefined;
    };
    expect(code(() => c.accept(0x61))).toBe('BAD_ARGUMENT');
    expect(code(() => c.accept(EOT))).toBe('BAD_ARGUMENT');
    expect(code(() => c.accept(CTL))).toBe('BAD_ARGUMENT');
    expect(code(() => c.mask(0))).toBe('BAD_ARGUMENT');
  });

  it('budget forcing: a sampler that prefers endless strings still closes the value within maxTokens', () => {
    for (const format of FORMATS) {
      const need = compileResponseFormat(format).minBytes;
      for (const budget of [need, need + 1, need + 5, need + 20]) {
        const c = createJsonConstraint(format, VOCAB, { endTokens: [EOT] });
        const sampler = createSampler({ kind: 'greedy' }, 0, VOCAB.vocabSize);
        // Logits that love long plain text, whitespace and opening brackets: the worst case for closing.
        const logits = new Float32Array(VOCAB.vocabSize);
        for (const [id, p] of PIECES.entries()) logits[id] = p === 'hello world' ? 9 : p === '\n\n\n\n' ? 8 : p === '[[' ? 7 : p === ' ' || (Array.isArray(p) && p[0] === 0x20) ? 6 : 0;
        let text = '';
        const decoder = new TextDecoder();
        let n = 0;
        while (n < budget && !c.done) {
          const t = sampler.sample(logits, [], c.mask(budget - n));
          n++;
          if (t === EOT) break;
          c.accept(t);
          text += decoder.decode(VOCAB.tokenBytes(t), { stream: true });
        }
        expect([format.type, budget, c.complete]).toEqual([format.type, budget, true]);
        expect(() => JSON.parse(text)).not.toThrow();
      }
    }
  });

  it('with a budget below the shortest value the text stays as short as possible (and incomplete)', () => {
    const format = FORMATS[1];
    const need = compileResponseFormat(format).minBytes;
    const c = createJsonConstraint(format, VOCAB, { endTokens: [EOT] });
    randomRun(c, VOCAB.vocabSize, 3, 5);
    expect(c.complete).toBe(false);
    expect(c.bytesToComplete).toBeLessThanOrEqual(need - 5);
  });
});
