// Tests of createTokenizer on small hand-made byte-level BPE vocabularies: merge order, pre-tokenizers, specials, errors.

import { describe, expect, it } from 'vitest';
import { isBitNetError, type BitNetErrorCode } from '../errors.js';
import type { GgufValue } from '../gguf/types.js';
import { BYTE_TO_CHAR } from './byte-level.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';

const str = (value: string): GgufValue => ({ type: 8, value });
const strs = (value: string[]): GgufValue => ({ type: 9, elementType: 8, value });
const u32 = (value: number): GgufValue => ({ type: 4, value });
const bool = (value: boolean): GgufValue => ({ type: 7, value });
const i32s = (value: number[]): GgufValue => ({ type: 9, elementType: 5, value: Int32Array.from(value) });

interface BpeSpec {
  /** Tokens after the 256 byte tokens. */
  extra?: string[];
  /** Types of the extra tokens (default 1, normal). */
  extraTypes?: number[];
  merges: string[];
  pre?: string | null;
  keys?: [string, GgufValue][];
}

/** A 'gpt2' GGUF tokenizer: the 256 byte-level characters as ids 0..255, then `extra`. */
function bpeMeta(spec: BpeSpec): Map<string, GgufValue> {
  const tokens = [...BYTE_TO_CHAR, ...(spec.extra ?? [])];
  const types = [...BYTE_TO_CHAR.map(() => 1), ...(spec.extraTypes ?? (spec.extra ?? []).map(() => 1))];
  const meta = new Map<string, GgufValue>([
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.tokens', strs(tokens)],
    ['tokenizer.ggml.token_type', i32s(types)],
    ['tokenizer.ggml.merges', strs(spec.merges)],
  ]);
  if (spec.pre !== null) meta.set('tokenizer.ggml.pre', str(spec.pre ?? 'gpt2'));
  for (const [k, v] of spec.keys ?? []) meta.set(k, v);
  return meta;
}

/** The pieces (vocabulary texts) of an encoding, for readable expectations. */
function pieces(tk: Tokenizer, text: string): string[] {
  return tk.encode(text, { addBos: false }).map((id) => tk.tokenText(id));
}

function expectCode(fn: () => unknown, code: BitNetErrorCode, messagePart?: string): void {
  try {
    fn();
  } catch (e) {
    if (!isBitNetError(e, code)) throw e;
    if (messagePart !== undefined) expect(e.message).toContain(messagePart);
    return;
  }
  throw new Error(`expected BitNetError ${code}, nothing was thrown`);
}

describe('BPE merging', () => {
  it('merges the lowest rank first, whatever the position', () => {
    // 'y z' outranks 'x y': "xyz" -> x | yz (merging left to right regardless of rank would give xy | z).
    const tk = createTokenizer(bpeMeta({ extra: ['yz', 'xy'], merges: ['y z', 'x y'] }));
    expect(pieces(tk, 'xyz')).toEqual(['x', 'yz']);
    expect(pieces(tk, 'xyx')).toEqual(['xy', 'x']);
  });

  it('applies equal-rank merges left to right', () => {
    const tk = createTokenizer(bpeMeta({ extra: ['aa'], merges: ['a a'] }));
    expect(pieces(tk, 'aaa')).toEqual(['aa', 'a']);
    expect(pieces(tk, 'aaaaa')).toEqual(['aa', 'aa', 'a']);
  });

  it('keeps merging merged symbols, and maps spaces through the byte-level alphabet', () => {
    const tk = createTokenizer(bpeMeta({ extra: ['bc', 'abc', 'Ġa', 'Ġabc'], merges: ['b c', 'a bc', 'Ġ a', 'Ġ abc'] }));
    expect(pieces(tk, 'abc abc')).toEqual(['abc', 'Ġabc']);
    expect(tk.decode(tk.encode('abc abc', { addBos: false }))).toBe('abc abc');
    // Without the 'Ġ abc' route a space-led word still merges as far as it can: Ġ + a -> Ġa, then bc.
    const tk2 = createTokenizer(bpeMeta({ extra: ['bc', 'Ġa'], merges: ['Ġ a', 'b c'] }));
    expect(pieces(tk2, ' abc')).toEqual(['Ġa', 'bc']);
  });

  it('encodes multi-byte characters byte by byte when no merge covers them', () => {
    const tk = createTokenizer(bpeMeta({ merges: [] }));
    const ids = tk.encode('é🦙', { addBos: false });
    expect(ids).toEqual([0xc3, 0xa9, 0xf0, 0x9f, 0xa6, 0x99].map((b) => [...BYTE_TO_CHAR].indexOf(BYTE_TO_CHAR[b] ?? '')));
    expect(tk.decode(ids)).toBe('é🦙');
  });
});

describe('pre-tokenizers', () => {
  // Merges chosen so that splitting digits into runs of three changes the result:
  // '12345' as one word -> 12 | 34 | 5; as '123' | '45' -> 123 | 45.
  const digits = { extra: ['34', '12', '45', '123'], merges: ['3 4', '1 2', '4 5', '12 3'] };

  it("'llama-bpe' splits digits in runs of 1-3", () => {
    const tk = createTokenizer(bpeMeta({ ...digits, pre: 'llama-bpe' }));
    expect(pieces(tk, '12345')).toEqual(['123', '45']);
    expect(tk.warnings).toEqual([]);
  });

  it("'gpt2' keeps digit runs whole", () => {
    const tk = createTokenizer(bpeMeta({ ...digits, pre: 'gpt2' }));
    expect(pieces(tk, '12345')).toEqual(['12', '34', '5']);
  });

  it("'default' applies llama.cpp's four regexes in turn (three-digit groups last)", () => {
    const tk = createTokenizer(bpeMeta({ ...digits, pre: 'default' }));
    expect(pieces(tk, '12345')).toEqual(['123', '45']);
    expect(tk.warnings).toEqual([]);
  });

  it("a missing pre-tokenizer falls back to 'default' with a warning", () => {
    const tk = createTokenizer(bpeMeta({ ...digits, pre: null }));
    expect(pieces(tk, '12345')).toEqual(['123', '45']);
    expect(tk.warnings.join('\n')).toContain('tokenizer.ggml.pre is missing');
  });

  it('an unknown pre-tokenizer uses the LLaMA-3 regex and says so in warnings', () => {
    const tk = createTokenizer(bpeMeta({ ...digits, pre: 'mystery-7' }));
    expect(pieces(tk, '12345')).toEqual(['123', '45']);
    expect(tk.warnings.join('\n')).toContain("'mystery-7'");
  });

  it('LLaMA-3 pre-tokenizers look whole words up first (ignore_merges); others merge', () => {
    // 'zzz' is in the vocabulary but no merge builds it.
    expect(pieces(createTokenizer(bpeMeta({ extra: ['zzz'], merges: [], pre: 'llama-bpe' })), 'zzz')).toEqual(['zzz']);
    expect(pieces(createTokenizer(bpeMeta({ extra: ['zzz'], merges: [], pre: 'gpt2' })), 'zzz')).toEqual(['z', 'z', 'z']);
  });

  it('BOS is added by default for LLaMA-3 pre-tokenizers; the GGUF keys override', () => {
    const keys: [string, GgufValue][] = [['tokenizer.ggml.bos_token_id', u32(256)]];
    const extra = ['<|begin_of_text|>'];
    const extraTypes = [3];
    expect(createTokenizer(bpeMeta({ extra, extraTypes, merges: [], pre: 'llama-bpe', keys })).encode('a')).toEqual([256, 97]);
    expect(createTokenizer(bpeMeta({ extra, extraTypes, merges: [], pre: 'gpt2', keys })).encode('a')).toEqual([97]);
    const off = createTokenizer(bpeMeta({ extra, extraTypes, merges: [], pre: 'llama-bpe', keys: [...keys, ['tokenizer.ggml.add_bos_token', bool(false)]] }));
    expect(off.addBos).toBe(false);
    expect(off.encode('a')).toEqual([97]);
    expect(off.encode('a', { addBos: true })).toEqual([256, 97]);
  });
});

describe('special tokens', () => {
  // 256 '<|end|>' (control), 257 '<|end|>!' (control), 258 '<tool>' (user-defined), 259 '<|x|>' (control)
  const meta = bpeMeta({
    extra: ['<|end|>', '<|end|>!', '<tool>', '<|eot_id|>', '<|eom_id|>', '<|endoftext|>'],
    extraTypes: [3, 3, 4, 3, 3, 3],
    merges: [],
  });

  it('splits control tokens out of the text, longest first', () => {
    const tk = createTokenizer(meta);
    expect(tk.encode('a<|end|>!b<|end|>c', { addBos: false })).toEqual([97, 257, 98, 256, 99]);
  });

  it('splits user-defined tokens even when parseSpecial is false; control tokens only when true', () => {
    const tk = createTokenizer(meta);
    const ids = tk.encode('<tool><|end|>', { addBos: false, parseSpecial: false });
    expect(ids[0]).toBe(258);
    expect(ids.slice(1).every((id) => id < 256)).toBe(true);
    expect(tk.decode(ids)).toBe('<tool><|end|>');
  });

  it('finds stop tokens by text when the keys are absent, and prefers the keys', () => {
    const tk = createTokenizer(meta);
    expect(tk.eosTokenId).toBe(261); // '<|endoftext|>'
    expect(tk.eotTokenId).toBe(259); // '<|eot_id|>' comes before '<|end|>' in the lookup order
    expect([...tk.eogTokenIds].sort()).toEqual([259, 260, 261]);
    const keyed = createTokenizer(new Map([...meta, ['tokenizer.ggml.eot_token_id', u32(256)], ['tokenizer.ggml.eos_token_id', u32(257)]]));
    expect(keyed.eotTokenId).toBe(256);
    expect(keyed.eosTokenId).toBe(257);
  });

  it('ignores an out-of-range special id with a warning (files write -1 as 0xFFFFFFFF)', () => {
    const tk = createTokenizer(new Map([...meta, ['tokenizer.ggml.eos_token_id', u32(0xffffffff)]]));
    expect(tk.eosTokenId).toBe(261);
    expect(tk.warnings.join('\n')).toContain('tokenizer.ggml.eos_token_id');
  });

  it('renders control tokens unless renderSpecial is false; tokenBytes gives their text', () => {
    const tk = createTokenizer(meta);
    expect(tk.decode([104, 256, 105])).toBe('h<|end|>i');
    expect(tk.decode([104, 256, 105], { renderSpecial: false })).toBe('hi');
    expect(new TextDecoder().decode(tk.tokenBytes(258))).toBe('<tool>');
    expect(tk.isControl(256)).toBe(true);
    expect(tk.isControl(258)).toBe(false);
  });
});

describe('bad input', () => {
  it('rejects unknown tokenizer models and a missing model key', () => {
    expectCode(() => createTokenizer(new Map([...bpeMeta({ merges: [] }), ['tokenizer.ggml.model', str('bert')]])), 'TOKENIZER_UNSUPPORTED', "'bert'");
    const noModel = bpeMeta({ merges: [] });
    noModel.delete('tokenizer.ggml.model');
    expectCode(() => createTokenizer(noModel), 'MISSING_METADATA', 'tokenizer.ggml.model');
  });

  it('rejects missing or mistyped vocabularies and merges', () => {
    const noTokens = bpeMeta({ merges: [] });
    noTokens.delete('tokenizer.ggml.tokens');
    expectCode(() => createTokenizer(noTokens), 'MISSING_METADATA', 'tokenizer.ggml.tokens');
    const noMerges = bpeMeta({ merges: [] });
    noMerges.delete('tokenizer.ggml.merges');
    expectCode(() => createTokenizer(noMerges), 'MISSING_METADATA', 'tokenizer.ggml.merges');
    expectCode(() => createTokenizer(new Map([...bpeMeta({ merges: [] }), ['tokenizer.ggml.tokens', u32(3)]])), 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.tokens');
  });

  it('rejects merges that name pieces outside the vocabulary or are not two pieces', () => {
    expectCode(() => createTokenizer(bpeMeta({ extra: ['ab'], merges: ['a b', 'q r'] })), 'TOKENIZER_BAD_VOCAB', "merges[1]: 'q r' needs 'qr'");
    expectCode(() => createTokenizer(bpeMeta({ merges: ['ab'] })), 'TOKENIZER_BAD_VOCAB', 'merges[0]');
    // each missing piece is named, left first; pieces are whole tokens (not prefixes or suffixes of one)
    expectCode(() => createTokenizer(bpeMeta({ extra: ['abc', 'xyz'], merges: ['ab c'] })), 'TOKENIZER_BAD_VOCAB', "needs 'ab'");
    expectCode(() => createTokenizer(bpeMeta({ extra: ['abc', 'bc', 'xy'], merges: ['a bc', 'x yz'] })), 'TOKENIZER_BAD_VOCAB', "merges[1]: 'x yz' needs 'yz'");
    expectCode(() => createTokenizer(bpeMeta({ extra: ['bc', 'abcd'], merges: ['a bc'] })), 'TOKENIZER_BAD_VOCAB', "needs 'abc'");
    expectCode(() => createTokenizer(bpeMeta({ extra: ['ab'], merges: ['a '] })), 'TOKENIZER_BAD_VOCAB', "needs ''");
    // a control token is no piece: a merge producing one, or made of one, is refused as before
    expectCode(() => createTokenizer(bpeMeta({ extra: ['ab', 'cd'], extraTypes: [3, 1], merges: ['a b'] })), 'TOKENIZER_BAD_VOCAB', "needs 'ab'");
    expectCode(() => createTokenizer(bpeMeta({ extra: ['ab', 'abc'], extraTypes: [3, 1], merges: ['ab c'] })), 'TOKENIZER_BAD_VOCAB', "needs 'ab'");
  });

  it('rejects duplicate tokens, short token_type arrays and add_bos without a BOS', () => {
    expectCode(() => createTokenizer(bpeMeta({ extra: ['ab', 'ab'], merges: [] })), 'TOKENIZER_BAD_VOCAB', 'duplicate');
    expectCode(() => createTokenizer(new Map([...bpeMeta({ merges: [] }), ['tokenizer.ggml.token_type', i32s([1, 1])]])), 'TOKENIZER_BAD_VOCAB', 'token_type');
    expectCode(() => createTokenizer(bpeMeta({ merges: [], keys: [['tokenizer.ggml.add_bos_token', bool(true)]] })), 'TOKENIZER_BAD_VOCAB', 'BOS');
  });

  it('reports a byte with no token when encoding, and token ids outside the vocabulary', () => {
    const meta = bpeMeta({ merges: [] });
    const tokens = [...BYTE_TO_CHAR];
    tokens[0x7a] = 'zz'; // no 'z' any more
    meta.set('tokenizer.ggml.tokens', strs(tokens));
    const tk = createTokenizer(meta);
    expect(tk.encode('abc', { addBos: false })).toEqual([97, 98, 99]);
    expectCode(() => tk.encode('xyz'), 'TOKENIZER_UNKNOWN_PIECE', '0x7a');
    expectCode(() => tk.decode([256]), 'BAD_ARGUMENT', 'outside the vocabulary');
    expectCode(() => tk.tokenText(-1), 'BAD_ARGUMENT');
    expectCode(() => tk.encode('a', { addBos: true }), 'BAD_ARGUMENT', 'BOS');
  });
});
