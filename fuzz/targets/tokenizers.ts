// Fuzz targets: the LLaMA-3 byte-level BPE tokenizer (the real 128k vocabulary) and a small SentencePiece vocabulary
// with byte fallback, user-defined and control tokens: encode arbitrary strings (lone surrogates, NUL, special-token
// text) and decode arbitrary id lists (out-of-range, negative, fractional ids).
//
// Passes: a result, or a BitNetError. Findings: any other exception; an id outside the vocabulary; a BPE text that does
// not round-trip (SentencePiece: up to U+2581 read as a space, and texts without user-defined tokens only); a stream
// decode that differs from decode.

import type { GgufValue } from '../../src/gguf/types.js';
import { llama3GgufMetadataEntries } from '../../src/tokenizer/llama3-vocab.js';
import { createTokenizer, type Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { FuzzInput } from '../input.js';
import { invariant, type FuzzTarget } from '../target.js';

const utf8 = new TextEncoder();

/** The user-defined token of the small SentencePiece vocabulary. */
const SPM_USER_TOKEN = '<tool>';

/** `s` with each lone surrogate replaced by U+FFFD (what a UTF-8 encoder makes of it). */
function wellFormed(s: string): string {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(utf8.encode(s));
}

function checkIds(tk: Tokenizer, ids: readonly number[], what: string): void {
  for (const id of ids) invariant(Number.isInteger(id) && id >= 0 && id < tk.vocabSize, `${what}: id ${id} outside [0, ${tk.vocabSize})`);
}

/** Decoding token by token through a stream decoder must give exactly what decode gives. */
function checkStream(tk: Tokenizer, ids: readonly number[]): void {
  const whole = tk.decode(ids);
  const dec = tk.createStreamDecoder({ atStart: true });
  let streamed = '';
  for (const id of ids) streamed += dec.push(id);
  streamed += dec.flush();
  invariant(streamed === whole, `stream decode ${JSON.stringify(streamed.slice(0, 80))} != decode ${JSON.stringify(whole.slice(0, 80))}`);
}

/** One input: byte 0 picks encode of UTF-16 text, encode of UTF-8 text, or decode of ids; the rest feeds it. */
function runOn(tk: Tokenizer, data: Uint8Array): void {
  const inp = new FuzzInput(data);
  const mode = inp.u8() % 3;
  if (mode === 2) {
    const n = inp.int(0, 64);
    const ids: number[] = [];
    for (let i = 0; i < n && inp.remaining > 0; i++) {
      const sel = inp.u8();
      if (sel < 200) ids.push(inp.int(0, tk.vocabSize - 1));
      else if (sel < 240) ids.push(tk.vocabSize - 4 + inp.int(0, 7));
      else ids.push(inp.pick([-1, 0.5, Number.NaN, 2 ** 32, Number.MAX_SAFE_INTEGER, -0]));
    }
    const inRange = ids.every((id) => Number.isInteger(id) && id >= 0 && id < tk.vocabSize);
    let text: string;
    try {
      text = tk.decode(ids, { renderSpecial: inp.bool() });
    } catch (e) {
      invariant(!inRange, `decode refused valid ids: ${e instanceof Error ? e.message : String(e)}`);
      throw e;
    }
    invariant(inRange, `decode accepted an out-of-range id in [${ids.join(', ')}]`);
    invariant(wellFormed(text) === text, 'decode produced a string with lone surrogates');
    checkStream(tk, ids);
    return;
  }
  const parseSpecial = inp.bool();
  const addBos = inp.bool();
  const text = mode === 0 ? inp.utf16(2048) : inp.utf8(inp.remaining);
  const ids = tk.encode(text, { parseSpecial, addBos, addEos: false });
  checkIds(tk, ids, 'encode');
  const plain = tk.encode(text, { parseSpecial: false, addBos: false, addEos: false });
  checkIds(tk, plain, 'encode');
  const back = tk.decode(plain);
  // SentencePiece writes spaces as U+2581 and reads every U+2581 back as a space; like llama.cpp it also puts a space
  // before the text that follows a user-defined token, so only texts without one round-trip exactly.
  const expected = tk.kind === 'spm' ? wellFormed(text).replaceAll('\u2581', ' ') : wellFormed(text);
  if (tk.kind === 'bpe' || !text.includes(SPM_USER_TOKEN)) {
    invariant(back === expected, `round trip ${JSON.stringify(text.slice(0, 60))} -> ${JSON.stringify(back.slice(0, 60))}`);
  }
  checkStream(tk, ids);
}

function textSeed(mode: number, flags: [number, number], text: string): Uint8Array {
  const body = utf8.encode(text);
  return Uint8Array.from([mode, ...flags, ...body]);
}

/** UTF-16 seed: n as a little-endian u16 (int(0, 2048) reads two bytes), then one selector byte per unit. */
function utf16Seed(text: string): Uint8Array {
  const units = [...text].map((ch) => ch.charCodeAt(0));
  const out: number[] = [0, 1, 1, units.length & 0xff, units.length >> 8];
  for (const u of units) out.push(u >= 0x20 && u < 0x7f ? u - 0x20 : 0);
  return Uint8Array.from(out);
}

const TEXT_SEEDS = [
  'Hello world! How are you?',
  "<|begin_of_text|>System: be brief<|eot_id|>User: 1+1=?<|eot_id|>Assistant: ",
  '  leading spaces\n\n\ttabs and 12345 numbers, café, 日本語, emoji 🙂',
  "don't I'll we've they're",
  '<s>▁Hello</s> <unk> <tool>',
];

const DICTIONARY = ['<|begin_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<s>', '</s>', '<unk>', '<tool>', '▁', 'Ġ', ' ', '\n', "'s", '🙂', '\u00e9'];

let llama3: Tokenizer | undefined;

export const llama3TokenizerTarget: FuzzTarget = {
  name: 'tokenizer-llama3',
  description: 'LLaMA-3 BPE tokenizer (real 128k vocabulary): encode arbitrary UTF-16 / UTF-8 text, decode arbitrary ids',
  maxInputBytes: 4096,
  maxExecMs: 2000,
  dictionary: DICTIONARY,
  setup(): Promise<void> {
    llama3 ??= createTokenizer(new Map(llama3GgufMetadataEntries()));
    return Promise.resolve();
  },
  seeds: () => [...TEXT_SEEDS.map((t, i) => textSeed(1, [i & 1, 0], t)), utf16Seed('Hello world'), Uint8Array.from([2, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])],
  run(data: Uint8Array): void {
    if (llama3 === undefined) throw new Error('setup() was not called');
    runOn(llama3, data);
  },
};

const hex = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/** A small SentencePiece vocabulary: <unk> <s> </s>, 256 byte tokens, some scored pieces, a user-defined token. */
export function smallSpmMetadata(): Map<string, GgufValue> {
  const pieces: [string, number, number][] = [['<unk>', 0, 2], ['<s>', 0, 3], ['</s>', 0, 3]];
  for (let b = 0; b < 256; b++) pieces.push([hex(b), 0, 6]);
  const normal: [string, number][] = [
    ['▁', -1], ['H', -2], ['e', -2], ['l', -2], ['o', -2], ['w', -2], ['r', -2], ['d', -2], ['a', -2], ['▁H', -5], ['He', -3],
    ['ll', -1], ['llo', -0.5], ['Hello', -0.1], ['▁Hello', -0.05], ['▁w', -2], ['or', -1.5], ['wor', -2.5], ['▁wor', -1.2],
    ['ld', -4], ['▁world', -0.2], ['aa', -1], ['▁▁', -3], ['é', -2],
  ];
  for (const [text, score] of normal) pieces.push([text, score, 1]);
  pieces.push([SPM_USER_TOKEN, 0, 4]);
  return new Map<string, GgufValue>([
    ['tokenizer.ggml.model', { type: 8, value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 9, elementType: 8, value: pieces.map((p) => p[0]) }],
    ['tokenizer.ggml.scores', { type: 9, elementType: 6, value: Float32Array.from(pieces, (p) => p[1]) }],
    ['tokenizer.ggml.token_type', { type: 9, elementType: 5, value: Int32Array.from(pieces, (p) => p[2]) }],
  ]);
}

let spm: Tokenizer | undefined;

export const spmTokenizerTarget: FuzzTarget = {
  name: 'tokenizer-spm',
  description: 'SentencePiece tokenizer on a small vocabulary with byte fallback: encode arbitrary text, decode arbitrary ids',
  maxInputBytes: 4096,
  maxExecMs: 2000,
  dictionary: DICTIONARY,
  setup(): Promise<void> {
    spm ??= createTokenizer(smallSpmMetadata());
    return Promise.resolve();
  },
  seeds: () => [...TEXT_SEEDS.map((t, i) => textSeed(1, [i & 1, 0], t)), utf16Seed('Hello world'), Uint8Array.from([2, 8, 1, 2, 3, 4, 5, 200, 7, 250, 9, 10])],
  run(data: Uint8Array): void {
    if (spm === undefined) throw new Error('setup() was not called');
    runOn(spm, data);
  },
};
