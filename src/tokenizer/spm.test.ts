// Tests of the SentencePiece tokenizer on a small hand-made vocabulary with known splits and byte fallback.

import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import type { GgufValue } from '../gguf/types.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';

const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const BYTE = 6;

interface Piece {
  readonly text: string;
  readonly score: number;
  readonly type: number;
}

const hex = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/** <unk> <s> </s>, 256 byte tokens (unless `bytes` is false), then the normal pieces with their scores. */
function spmMeta(normal: readonly [string, number][], opts: { bytes?: boolean; unk?: boolean; extra?: Piece[]; keys?: [string, GgufValue][]; withTypes?: boolean } = {}): Map<string, GgufValue> {
  const pieces: Piece[] = [];
  if (opts.unk ?? true) pieces.push({ text: '<unk>', score: 0, type: UNKNOWN });
  pieces.push({ text: '<s>', score: 0, type: CONTROL }, { text: '</s>', score: 0, type: CONTROL });
  if (opts.bytes ?? true) for (let b = 0; b < 256; b++) pieces.push({ text: hex(b), score: 0, type: BYTE });
  for (const [text, score] of normal) pieces.push({ text, score, type: NORMAL });
  pieces.push(...(opts.extra ?? []));
  const meta = new Map<string, GgufValue>([
    ['tokenizer.ggml.model', { type: 8, value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 9, elementType: 8, value: pieces.map((p) => p.text) }],
    ['tokenizer.ggml.scores', { type: 9, elementType: 6, value: Float32Array.from(pieces, (p) => p.score) }],
  ]);
  if (opts.withTypes ?? true) meta.set('tokenizer.ggml.token_type', { type: 9, elementType: 5, value: Int32Array.from(pieces, (p) => p.type) });
  for (const [k, v] of opts.keys ?? []) meta.set(k, v);
  return meta;
}

// Scores chosen so the merge order matters (see the walk-through in the first test).
const VOCAB: [string, number][] = [
  ['▁', -1], ['H', -2], ['e', -2], ['l', -2], ['o', -2], ['w', -2], ['r', -2], ['d', -2], ['a', -2],
  ['▁H', -5], ['He', -3], ['ll', -1], ['llo', -0.5], ['Hello', -0.1], ['▁Hello', -0.05],
  ['▁w', -2], ['or', -1.5], ['wor', -2.5], ['▁wor', -1.2], ['ld', -4], ['▁world', -0.2], ['aa', -1],
];

function pieces(tk: Tokenizer, text: string, addBos = false): string[] {
  return tk.encode(text, { addBos }).map((id) => tk.tokenText(id));
}

describe('SentencePiece encoding', () => {
  const tk = createTokenizer(spmMeta(VOCAB));

  it('merges the highest-scoring pair first and prefixes a space', () => {
    // ▁Hello▁world: ll(-1) -> llo(-0.5) -> or(-1.5) -> ▁w(-2) -> ▁wor(-1.2) -> He(-3) -> Hello(-0.1) -> ▁Hello
    // -> ld(-4) -> ▁world(-0.2). Merging by position or by length instead would stop at other pieces.
    expect(pieces(tk, 'Hello world')).toEqual(['▁Hello', '▁world']);
    expect(tk.warnings).toEqual([]);
    expect(tk.kind).toBe('spm');
  });

  it('merges equal scores leftmost first', () => {
    expect(pieces(tk, 'aaa')).toEqual(['▁', 'aa', 'a']);
  });

  it('falls back to <0xXX> byte tokens for characters outside the vocabulary', () => {
    expect(pieces(tk, 'Hé€')).toEqual(['▁H', '<0xC3>', '<0xA9>', '<0xE2>', '<0x82>', '<0xAC>']);
    expect(tk.decode(tk.encode('Hé€', { addBos: false }))).toBe('Hé€');
  });

  it('adds BOS by default (SentencePiece default) and reads the stop tokens from the vocabulary', () => {
    expect(tk.addBos).toBe(true);
    expect(tk.encode('Hello')).toEqual([1, ...tk.encode('Hello', { addBos: false })]);
    expect(tk.bosTokenId).toBe(1);
    expect(tk.eosTokenId).toBe(2);
    expect(tk.eogTokenIds).toEqual([2]);
  });

  it('prefixes the space again after a special token, and parses specials only when asked', () => {
    const ids = tk.encode('Hello</s>Hello', { addBos: false });
    expect(ids.map((id) => tk.tokenText(id))).toEqual(['▁Hello', '</s>', '▁Hello']);
    const plain = tk.encode('a</s>', { addBos: false, parseSpecial: false });
    expect(plain).not.toContain(2);
  });

  it('uses <unk> when neither the piece nor its bytes are in the vocabulary', () => {
    const noBytes = createTokenizer(spmMeta(VOCAB, { bytes: false }));
    expect(pieces(noBytes, 'Hé')).toEqual(['▁H', '<unk>']);
    expect(noBytes.encode('Hé', { addBos: false })).toContain(0);
    const noUnk = createTokenizer(spmMeta(VOCAB, { bytes: false, unk: false }));
    try {
      noUnk.encode('é');
      throw new Error('expected TOKENIZER_UNKNOWN_PIECE');
    } catch (e) {
      expect(isBitNetError(e, 'TOKENIZER_UNKNOWN_PIECE')).toBe(true);
    }
  });

  it('honours add_space_prefix = false', () => {
    const noPrefix = createTokenizer(spmMeta(VOCAB, { keys: [['tokenizer.ggml.add_space_prefix', { type: 7, value: false }]] }));
    expect(pieces(noPrefix, 'Hello world')).toEqual(['Hello', '▁world']);
    expect(noPrefix.decode(noPrefix.encode(' Hello', { addBos: false }))).toBe(' Hello');
  });

  it('always splits out user-defined tokens', () => {
    const withUser = createTokenizer(spmMeta(VOCAB, { extra: [{ text: '<tool>', score: 0, type: USER_DEFINED }] }));
    expect(pieces(withUser, 'Hello<tool>', false)).toEqual(['▁Hello', '<tool>']);
  });

  it('recognises <0xXX> byte tokens by their text when the file has no token types', () => {
    const untyped = createTokenizer(spmMeta(VOCAB, { withTypes: false }));
    const ids = untyped.encode('é', { addBos: false });
    expect(untyped.decode(ids)).toBe('é');
  });

  it('rejects a score table shorter than the vocabulary; warns when scores are missing', () => {
    const meta = spmMeta(VOCAB);
    meta.set('tokenizer.ggml.scores', { type: 9, elementType: 6, value: new Float32Array(3) });
    expect(() => createTokenizer(meta)).toThrow(/tokenizer\.ggml\.scores/);
    meta.delete('tokenizer.ggml.scores');
    expect(createTokenizer(meta).warnings.join('\n')).toContain('tokenizer.ggml.scores is missing');
  });
});

describe('SentencePiece decoding', () => {
  const tk = createTokenizer(spmMeta(VOCAB));

  it('turns ▁ back into spaces and strips the prefix space at the start, also after BOS', () => {
    expect(tk.decode(tk.encode('Hello world', { addBos: false }))).toBe('Hello world');
    expect(tk.decode(tk.encode('Hello world'), { renderSpecial: false })).toBe('Hello world');
    expect(tk.decode(tk.encode('Hello world'))).toBe('<s>Hello world');
  });

  it('keeps the leading space when streaming a continuation, strips it when told the stream starts the text', () => {
    const ids = tk.encode('Hello world', { addBos: false });
    const cont = tk.createStreamDecoder();
    expect(ids.map((id) => cont.push(id)).join('') + cont.flush()).toBe(' Hello world');
    const fresh = tk.createStreamDecoder({ atStart: true });
    expect(ids.map((id) => fresh.push(id)).join('') + fresh.flush()).toBe('Hello world');
  });

  it('reassembles byte tokens into UTF-8, holding back incomplete characters while streaming', () => {
    const ids = tk.encode('€', { addBos: false }); // ▁ <0xE2> <0x82> <0xAC>
    expect(ids.map((id) => tk.tokenText(id))).toEqual(['▁', '<0xE2>', '<0x82>', '<0xAC>']);
    const d = tk.createStreamDecoder();
    expect(ids.map((id) => d.push(id))).toEqual([' ', '', '', '€']);
    expect(tk.tokenBytes(ids[1] ?? -1)).toEqual(Uint8Array.of(0xe2));
  });
});
