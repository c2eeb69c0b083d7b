// LLaMA-3 conformance: our GGUF BPE tokenizer against llama3-tokenizer-js (the reference) on thousands of strings.

import fc from 'fast-check';
import llama3Reference from 'llama3-tokenizer-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { llama3GgufMetadataEntries } from './llama3-vocab.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';

// ---- seeded generator of varied text: scripts, emoji, combining marks, whitespace runs, code, numbers ----
/** mulberry32: a tiny seeded PRNG (public domain); returns floats in [0, 1). */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'the', 'The', 'THE', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'tokenizer', 'BitNet', 'ternary',
  'inference', 'llama', 'Llama', 'a', 'I', 'hello', 'Hello', 'world', 'naïve', 'café', 'résumé', 'Straße', 'façade',
  'über', 'año', 'Ωmega', 'привет', 'мир', 'Γειά', 'σου', 'שלום', 'مرحبا', 'नमस्ते', 'สวัสดี', 'こんにちは', 'カタカナ',
  '東京', '你好', '世界', '镇', '안녕하세요', 'Ꙋ', 'ǅungla', 'ﬁne', 'Ⅻ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'grabbed', 'antidisestablishmentarianism',
  'pneumonoultramicroscopicsilicovolcanoconiosis', 'x', 'y2k', 'camelCaseWord', 'snake_case_word', 'SCREAMING_CASE',
];

const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D", "'", "''", "'x"];

const NUMBERS = ['0', '7', '42', '123', '1234', '12345', '123456789', '3.14159', '1,000,000', '-17', '+3', '1e-9', '0x1F', '٣٤٥', '१२३', '²', '½', '１２３'];

const WHITESPACE = [' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\r\n', ' \n', '\n ', '\t \n', '    ', '\u00a0', '\u3000', '\u2003', '\u2028', ' \t\n\r '];

const PUNCTUATION = ['.', ',', '!', '?', '...', '—', '–', '-', '(', ')', '[', ']', '{', '}', '"', '“', '”', '«', '»', ':', ';', '@', '#', '$', '%', '&', '*', '/', '\\', '|', '~', '`', '^', '<', '>', '=', '+', '_', '¿', '¡', '。', '、', '！', '…'];

const EMOJI = ['🦙', '😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇫🇷', '❤️', '✨', '🤖', '🧑🏿‍💻', '1️⃣', '🫠', '©', '™', '☃'];

const COMBINING = ['e\u0301', 'a\u0308', 'n\u0303', 'Z\u0335\u0338', 'o\u0302\u0323', '\u0301', 'q\u0307\u0323', 'ก\u0e34', 'क\u094d\u0937'];

const CODE = [
  'function f(x) { return x * 2; }', 'const a = [1, 2, 3];', 'if (a && b) {\n\treturn;\n}', 'for i in range(10):\n    print(i)',
  '#include <stdio.h>', 'x += 1; // comment', '<div class="a">text</div>', 'SELECT * FROM t WHERE id = 3;', '$ npm run build',
  'let s = "a\\nb";', '    indented()', 'a=>b', '!=', '===', '::', '->', '#!/bin/sh', '{"key": [true, null, 1.5]}',
];

const SPECIAL = ['<|begin_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<|end_header_id|>', '<|reserved_special_token_5|>', '<|python_tag|>', '<|', '|>', '<|not_special|>'];

const POOLS: readonly (readonly string[])[] = [WORDS, WORDS, WORDS, CONTRACTIONS, NUMBERS, WHITESPACE, WHITESPACE, PUNCTUATION, EMOJI, COMBINING, CODE];

function pick<T>(rand: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rand() * items.length)];
  if (item === undefined) throw new Error('empty pool');
  return item;
}

/** A random code point from a few ranges (avoiding surrogates, U+0085 and U+FEFF; see bpe.ts on White_Space). */
function randomCodePoint(rand: () => number): string {
  const ranges: readonly [number, number][] = [
    [0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x52f], [0x590, 0x6ff], [0x900, 0x97f], [0x3040, 0x30ff], [0x4e00, 0x9fff],
    [0xac00, 0xd7a3], [0x1f300, 0x1faff], [0x1d400, 0x1d7ff], [0x0, 0x1f], [0x2000, 0x206f], [0xe000, 0xe0ff],
  ];
  const [lo, hi] = pick(rand, ranges);
  const cp = lo + Math.floor(rand() * (hi - lo + 1));
  return cp === 0x85 || cp === 0xfeff ? 'x' : String.fromCodePoint(cp);
}

/** One random test string of 0..~60 parts. `withSpecial` mixes in special-token texts. */
function randomText(rand: () => number, withSpecial: boolean): string {
  const nParts = Math.floor(rand() * rand() * 60);
  let s = '';
  for (let i = 0; i < nParts; i++) {
    const r = rand();
    if (withSpecial && r < 0.05) s += pick(rand, SPECIAL);
    else if (r < 0.15) s += randomCodePoint(rand);
    else if (r < 0.2) s += pick(rand, WORDS).repeat(1 + Math.floor(rand() * 4));
    else s += pick(rand, pick(rand, POOLS));
    if (rand() < 0.4) s += ' ';
  }
  return s;
}

// ---- tests ----

/** The reference encoder without its default BOS/EOS (it always parses its special tokens). */
function referenceIds(text: string): number[] {
  return llama3Reference.encode(text, { bos: false, eos: false });
}

/** fast-check strings of any code point but U+0085/U+FEFF (JavaScript's \s, which the reference uses, differs there). */
const anyUnicode = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/[\u0085\ufeff]/g, '_'));
const graphemes = fc.string({ unit: 'grapheme', maxLength: 30 });
const pieces = fc.array(fc.constantFrom(...WORDS, ...CONTRACTIONS, ...NUMBERS, ...WHITESPACE, ...PUNCTUATION, ...EMOJI, ...COMBINING, ...CODE, ...SPECIAL), { maxLength: 25 }).map((p) => p.join(''));

let tk: Tokenizer;

beforeAll(() => {
  tk = createTokenizer(new Map(llama3GgufMetadataEntries()));
});

describe('LLaMA-3 BPE vs llama3-tokenizer-js', () => {
  it('builds from the GGUF keys without warnings, with LLaMA-3 defaults', () => {
    expect(tk.kind).toBe('bpe');
    expect(tk.vocabSize).toBe(128256);
    expect(tk.warnings).toEqual([]);
    expect(tk.addBos).toBe(true);
    expect(tk.addEos).toBe(false);
    expect(tk.bosTokenId).toBe(llama3Reference.getSpecialTokenId('<|begin_of_text|>'));
    expect(tk.eosTokenId).toBe(llama3Reference.getSpecialTokenId('<|end_of_text|>'));
    expect(tk.eotTokenId).toBe(llama3Reference.getSpecialTokenId('<|eot_id|>'));
  });

  it("recognises the LLaMA-3 vocabulary when tokenizer.ggml.pre is missing (Microsoft's 2B-4T GGUF has none)", () => {
    const noPre = new Map(llama3GgufMetadataEntries());
    noPre.delete('tokenizer.ggml.pre');
    const tk2 = createTokenizer(noPre);
    // The LLaMA-3 rules are kept (what the model was trained with) but the guess is a warning (pre-tokenizer.test.ts).
    expect(tk2.warnings.join('\n')).toContain("tokenizer.ggml.pre is missing; using the LLaMA-3 rules ('llama-bpe')");
    const text = "It's 12345 o'clock\n\n  x";
    expect(tk2.encode(text, { addBos: false })).toEqual(referenceIds(text));
    // A vocabulary that is not LLaMA-3's gets llama.cpp's 'default' and a warning.
    const tokens = noPre.get('tokenizer.ggml.tokens');
    if (tokens?.type !== 9 || tokens.elementType !== 8) throw new Error('fixture');
    const altered = tokens.value.slice();
    altered[128001] = '<|my_eos|>';
    noPre.set('tokenizer.ggml.tokens', { type: 9, elementType: 8, value: altered });
    expect(createTokenizer(noPre).warnings.join('\n')).toContain('tokenizer.ggml.pre is missing');
  });

  it('matches the reference on its own published cases', () => {
    const cases: [string, number[]][] = [
      ['grabbed', [59312, 2788]],
      [' grabbed', [30418]],
      ['           grabbed', [1881, 30418]],
      ['\n', [198]],
      [' \n', [720]],
      ['\ttabs\t\t\t\tout here', [3324, 3518, 573, 14294, 1618]],
      ['ax\n####\nboo', [710, 198, 71050, 34093]],
      ['镇', [104643]],
      ['🦙', [9468, 99, 247]],
      ['🦙Ꙋ', [9468, 99, 247, 166, 247, 232]],
      ['Ꙋ🦙', [166, 247, 232, 9468, 99, 247]],
      ['This is a test sentence.', [2028, 374, 264, 1296, 11914, 13]],
    ];
    for (const [text, ids] of cases) expect(tk.encode(text, { addBos: false }), JSON.stringify(text)).toEqual(ids);
  });

  it('adds BOS by default and EOS only when asked', () => {
    expect(tk.encode('I')).toEqual(llama3Reference.encode('I', { bos: true, eos: false }));
    expect(tk.encode('I', { addEos: true })).toEqual(llama3Reference.encode('I', { bos: true, eos: true }));
    expect(tk.encode('', { addBos: false })).toEqual([]);
  });

  it('splits digits in groups of 1-3 and contractions in any case', () => {
    expect(tk.encode('1234567', { addBos: false }).map((id) => tk.decode([id]))).toEqual(['123', '456', '7']);
    for (const s of ["I'm", "I'M", "you'RE", "we'Ve", "it's", "IT'S", "they'LL", "he'D", "don't", "DON'T"]) {
      expect(tk.encode(s, { addBos: false }), s).toEqual(referenceIds(s));
    }
  });

  it('gives identical ids for 2000 seeded varied strings, and decode(encode(s)) == s', () => {
    const rand = seededRandom(0xb17e7);
    const mismatches: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const text = randomText(rand, i % 2 === 0);
      const ids = tk.encode(text, { addBos: false });
      if (JSON.stringify(ids) !== JSON.stringify(referenceIds(text))) mismatches.push(text);
      if (tk.decode(ids) !== text) mismatches.push(`roundtrip: ${text}`);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it('gives identical ids for fast-check strings (any code point, graphemes, mixed pieces)', () => {
    for (const [arb, numRuns] of [[anyUnicode, 600], [graphemes, 300], [pieces, 600]] as const) {
      fc.assert(
        fc.property(arb, (text) => {
          const ids = tk.encode(text, { addBos: false });
          expect(ids).toEqual(referenceIds(text));
          expect(tk.decode(ids)).toBe(text);
        }),
        { seed: 20240501, numRuns },
      );
    }
  });

  it('uses Unicode White_Space (as llama.cpp does), not JavaScript\'s \\s, so U+0085 and U+FEFF differ from the reference', () => {
    const enc = (s: string): number[] => tk.encode(s, { addBos: false });
    // U+0085 is White_Space: ' \u0085?' pre-tokenizes as ' ' | '\u0085' | '?' (JS \s: one word ' \u0085?').
    expect(enc(' \u0085?')).toEqual([...enc(' '), ...enc('\u0085'), ...enc('?')]);
    expect(enc(' \u0085?')).not.toEqual(referenceIds(' \u0085?'));
    // U+FEFF is not White_Space: ' \ufeffb' is ' \ufeff' | 'b' (JS \s: ' ' | '\ufeffb').
    expect(enc(' \ufeffb')).toEqual([...enc(' \ufeff'), ...enc('b')]);
    expect(enc(' \ufeffb')).not.toEqual(referenceIds(' \ufeffb'));
    expect(tk.decode(enc('x\u0085 y\ufeffz'))).toBe('x\u0085 y\ufeffz');
  });

  it('encodes 10 KB of text and a 10 KB single word like the reference (speed is measured by benchmarks)', () => {
    const rand = seededRandom(7);
    let text = '';
    while (text.length < 10_000) text += randomText(rand, false);
    const ids = tk.encode(text + ' tail');
    expect(ids.length).toBeGreaterThan(1000);
    expect(ids).toEqual(tk.encode(text + ' tail')); // cached words give the same ids

    let word = '';
    for (let i = 0; i < 10_000; i++) word += String.fromCharCode(97 + Math.floor(rand() * 26));
    expect(tk.encode(word, { addBos: false })).toEqual(referenceIds(word));
  });
});

describe('LLaMA-3 special tokens', () => {
  it('matches control tokens literally when parseSpecial (the default), as text otherwise', () => {
    const text = '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>';
    const ids = tk.encode(text, { addBos: false });
    expect(ids).toEqual(referenceIds(text));
    expect(ids[0]).toBe(128006);
    expect(ids.at(-1)).toBe(128009);
    const plain = tk.encode(text, { addBos: false, parseSpecial: false });
    expect(plain.some((id) => tk.isControl(id))).toBe(false);
    expect(tk.decode(plain)).toBe(text);
  });

  it('renders control tokens on decode unless renderSpecial is false', () => {
    const ids = tk.encode('<|begin_of_text|>Hi<|eot_id|>', { addBos: false });
    expect(tk.decode(ids)).toBe('<|begin_of_text|>Hi<|eot_id|>');
    expect(tk.decode(ids, { renderSpecial: false })).toBe('Hi');
  });

  it('exposes the stored vocabulary text and bytes of tokens', () => {
    const the = tk.encode(' the', { addBos: false });
    expect(the.length).toBe(1);
    const id = the[0] ?? -1;
    expect(tk.tokenText(id)).toBe('Ġthe');
    expect(Array.from(tk.tokenBytes(id))).toEqual([0x20, 0x74, 0x68, 0x65]);
    expect(tk.tokenText(128009)).toBe('<|eot_id|>');
    expect(tk.isControl(128009)).toBe(true);
    expect(tk.isControl(id)).toBe(false);
    expect(tk.isControl(-1)).toBe(false);
    expect(tk.eogTokenIds).toEqual(expect.arrayContaining([128001, 128009]));
  });
});

describe('stream decoding', () => {
  it('holds back an emoji split across tokens and yields it whole', () => {
    const ids = tk.encode('🦙', { addBos: false });
    expect(ids.length).toBe(3);
    const decoder = tk.createStreamDecoder();
    expect(ids.map((id) => decoder.push(id))).toEqual(['', '', '🦙']);
    expect(decoder.flush()).toBe('');
  });

  it('yields valid UTF-8 incrementally with the same total text as decode, for varied strings', () => {
    const rand = seededRandom(99);
    for (let i = 0; i < 300; i++) {
      const text = randomText(rand, false) + '🦙👨‍👩‍👧‍👦𝔘';
      const ids = tk.encode(text, { addBos: false });
      const decoder = tk.createStreamDecoder();
      const pieces = ids.map((id) => decoder.push(id));
      pieces.push(decoder.flush());
      for (const piece of pieces) expect(piece.includes('\ufffd'), JSON.stringify(text)).toBe(false);
      expect(pieces.join('')).toBe(text);
      expect(pieces.join('')).toBe(tk.decode(ids));
    }
  });

  it('turns bytes that are definitely invalid into U+FFFD at once, and an incomplete tail at flush', () => {
    const byteToken = (byte: number): number => {
      const ids = tk.encode(String.fromCharCode(byte), { addBos: false });
      return ids[0] ?? -1;
    };
    // Token for the single byte 0xF0 (a 4-byte lead): the byte-level vocabulary has one per byte.
    const leadF0 = tk.encode('🦙', { addBos: false })[0] ?? -1;
    expect(Array.from(tk.tokenBytes(leadF0))).toEqual([0xf0, 0x9f]);
    const d = tk.createStreamDecoder();
    expect(d.push(leadF0)).toBe('');
    expect(d.push(byteToken(0x61))).toBe('\ufffda');
    expect(d.push(leadF0)).toBe('');
    expect(d.flush()).toBe('\ufffd');
    expect(d.push(byteToken(0x62))).toBe('b');
  });
});
