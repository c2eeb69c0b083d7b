// Pre-tokenizer choice for files without `tokenizer.ggml.pre`, and llama.cpp's 'default' rules against LLaMA-3's on the
// real LLaMA-3 vocabulary, with the expected ids derived by hand from the regexes and the vocabulary.

import { beforeAll, describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import type { GgufValue } from '../gguf/types.js';
import { BYTE_TO_CHAR } from './byte-level.js';
import { llama3GgufMetadataEntries } from './llama3-vocab.js';
import { PRE_TOKENIZER_NAMES, choosePreTokenizer } from './pre-tokenizer.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';

/** Microsoft's 2B-4T GGUF as far as the tokenizer goes: the LLaMA-3 vocabulary and no `tokenizer.ggml.pre`. */
function llama3WithoutPre(): Map<string, GgufValue> {
  const meta = new Map(llama3GgufMetadataEntries());
  meta.delete('tokenizer.ggml.pre');
  return meta;
}

let guessed: Tokenizer;
let llamaBpe: Tokenizer;
let llamaCppDefault: Tokenizer;

beforeAll(() => {
  guessed = createTokenizer(llama3WithoutPre());
  llamaBpe = createTokenizer(llama3WithoutPre(), { preTokenizer: 'llama-bpe' });
  llamaCppDefault = createTokenizer(llama3WithoutPre(), { preTokenizer: 'default' });
});

const ids = (tk: Tokenizer, text: string): number[] => tk.encode(text, { addBos: false });

describe('a LLaMA-3 vocabulary without tokenizer.ggml.pre', () => {
  it("keeps the LLaMA-3 rules but says so: a warning naming the missing key, the rules chosen, why, and llama.cpp's 'default'", () => {
    expect(guessed.preTokenizer).toMatchObject({ name: 'llama-bpe', origin: 'guessed', fileValue: undefined });
    expect(guessed.warnings).toHaveLength(1);
    const w = guessed.warnings[0] ?? '';
    expect(w).toContain('tokenizer.ggml.pre is missing');
    expect(w).toContain("'llama-bpe'");
    expect(w).toContain("the vocabulary is LLaMA-3's");
    expect(w).toContain("'default'");
    expect(w).toContain('--pre-tokenizer');
    // The guess encodes exactly as the named LLaMA-3 rules do.
    expect(ids(guessed, "don't you'll WE'RE")).toEqual(ids(llamaBpe, "don't you'll WE'RE"));
  });

  it('naming the rules removes the warning (strict mode then has nothing to refuse)', () => {
    expect(llamaBpe.warnings).toEqual([]);
    expect(llamaBpe.preTokenizer).toMatchObject({ name: 'llama-bpe', origin: 'option' });
    expect(llamaCppDefault.warnings).toEqual([]);
    expect(llamaCppDefault.preTokenizer).toMatchObject({ name: 'default', origin: 'option' });
  });

  it("BOS follows the rules as in llama.cpp: added for 'llama-bpe', not for 'default', unless the file's key says", () => {
    const noKey = llama3WithoutPre();
    noKey.delete('tokenizer.ggml.add_bos_token');
    expect(createTokenizer(noKey).addBos).toBe(true);
    expect(createTokenizer(noKey, { preTokenizer: 'default' }).addBos).toBe(false);
    expect(llamaCppDefault.addBos).toBe(true); // the fixture stores add_bos_token = true
  });

  it('an unknown name is BAD_ARGUMENT listing the names', () => {
    let err: unknown;
    try {
      createTokenizer(llama3WithoutPre(), { preTokenizer: 'llama-3' });
    } catch (e) {
      err = e;
    }
    expect(isBitNetError(err, 'BAD_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain("'llama-bpe', 'default'");
    expect(PRE_TOKENIZER_NAMES.slice(0, 2)).toEqual(['llama-bpe', 'default']);
  });

  it('a file that names its rules is not a guess; an unknown name in the file is', () => {
    expect(choosePreTokenizer({ filePre: 'llama-bpe', llama3Vocabulary: true })).toMatchObject({ name: 'llama-bpe', origin: 'file' });
    expect(choosePreTokenizer({ filePre: 'default', llama3Vocabulary: true })).toMatchObject({ name: 'default', origin: 'file' });
    expect(choosePreTokenizer({ filePre: 'mystery', llama3Vocabulary: true })).toMatchObject({ name: 'llama-bpe', origin: 'guessed' });
    expect(choosePreTokenizer({ filePre: undefined, llama3Vocabulary: false })).toMatchObject({ name: 'default', origin: 'guessed' });
    expect(choosePreTokenizer({ filePre: 'gpt2', llama3Vocabulary: true, requested: 'default' })).toMatchObject({ name: 'default', origin: 'option', fileValue: 'gpt2' });
  });
});

// Expected ids. Each piece below is a single entry of the LLaMA-3 vocabulary (tokenizer.json of Meta-Llama-3, byte-level
// text in brackets: 'Ġ' is a space, 'ĉ' a tab, 'Ċ' a newline): don 15357, 't 956, Ġyou 499, 'll 3358, ĠWE 20255,
// 'RE 95253, ' 6, t 83, ll 657, RE 793, a 64, b 65, c 66, d 67, x 87, ĉ 197, ĉb 2282, ĉc 1470, ĊĊ 271, ĠĊ 720,
// = 28, =a 25222, + 10, +b 36193, *( 6737, - 12, -d 1773, ) 8. 'llama-bpe' looks a whole piece up first
// (ignore_merges); 'default' merges, and for these short pieces the merges rebuild the same entry (every entry of a
// BPE vocabulary is the result of a merge of its two halves' tokens, and nothing in these pieces merges across them).
describe("'llama-bpe' vs llama.cpp's 'default' on the strings where they disagree", () => {
  it("contractions: \"don't you'll WE'RE\"", () => {
    const text = "don't you'll WE'RE";
    // LLaMA-3: the contraction alternative (?:'[sS]|'[tT]|'[rR][eE]|...) comes first and is case-insensitive; letters
    // take one optional leading non-letter (the space): don | 't | ' you' | 'll | ' WE' | 'RE.
    expect(ids(llamaBpe, text)).toEqual([15357, 956, 499, 3358, 20255, 95253]);
    // default: regex 1 [\p{P}$+<=>^~|]+ cuts every apostrophe out first (don | ' | t you | ' | ll WE | ' | RE), so the
    // GPT-2 rule's contractions never see one; it then splits ' you' and ' WE' from the letters before them.
    expect(ids(llamaCppDefault, text)).toEqual([15357, 6, 83, 499, 6, 657, 20255, 6, 793]);
  });

  it('tabs and newlines: "a\\t\\tb\\n\\n\\tc \\n"', () => {
    const text = 'a\t\tb\n\n\tc \n';
    // LLaMA-3: a | \t (\s+(?!\S) backs off one so the last tab can lead the word) | \tb ([^\r\n\p{L}\p{N}]?\p{L}+)
    // | \n\n (\s*[\r\n]+ ends at the last newline) | \tc | ' \n'.
    expect(ids(llamaBpe, text)).toEqual([64, 197, 2282, 271, 1470, 720]);
    // default: GPT-2's rule has no "one non-letter before letters" (only an optional space), so tabs stay apart:
    // a | \t | \t | b | \n\n (\s+(?!\S) leaves the tab) | \t | c | ' \n' (trailing whitespace run, whole).
    expect(ids(llamaCppDefault, text)).toEqual([64, 197, 197, 65, 271, 197, 66, 720]);
  });

  it('operators: "x=a+b*(c-d)"', () => {
    const text = 'x=a+b*(c-d)';
    // LLaMA-3: one leading non-letter joins the letters after it (=a, +b, -d); '*(' has no letter after its first
    // character, so ' ?[^\s\p{L}\p{N}]+' takes the run: x | =a | +b | *( | c | -d | ).
    expect(ids(llamaBpe, text)).toEqual([87, 25222, 36193, 6737, 66, 1773, 8]);
    // default: regex 1 cuts '=', '+', '*(', '-', ')' out as pieces of their own (= and + are in its ASCII symbol list,
    // * ( - ) are \p{P}): x | = | a | + | b | *( | c | - | d | ).
    expect(ids(llamaCppDefault, text)).toEqual([87, 28, 64, 10, 65, 6737, 66, 12, 67, 8]);
  });

  it('plain words and digits agree (as the issue observed on bitnet.cpp)', () => {
    const text = 'The year 2025 had 365 days';
    expect(ids(llamaCppDefault, text)).toEqual(ids(llamaBpe, text));
  });
});

describe("'default' follows llama.cpp's code-point walk, not just its regex", () => {
  it('unassigned code points are pieces of their own (unicode_regex_split_custom_gpt2 gives them no category)', () => {
    // U+0378 is unassigned; in UTF-8 it is CD B8. A merge 'B8 CD' joins the end of one to the start of the next, so it
    // applies only if both sit in one piece: llama.cpp's walk makes each its own piece; a plain GPT-2 regex would
    // take both with [^\s\p{L}\p{N}]+.
    const cd = BYTE_TO_CHAR[0xcd] ?? '';
    const b8 = BYTE_TO_CHAR[0xb8] ?? '';
    const meta = new Map<string, GgufValue>([
      ['tokenizer.ggml.model', { type: 8, value: 'gpt2' }],
      ['tokenizer.ggml.tokens', { type: 9, elementType: 8, value: [...BYTE_TO_CHAR, b8 + cd] }],
      ['tokenizer.ggml.token_type', { type: 9, elementType: 5, value: Int32Array.from({ length: 257 }, () => 1) }],
      ['tokenizer.ggml.merges', { type: 9, elementType: 8, value: [`${b8} ${cd}`] }],
    ]);
    const text = '\u0378\u0378';
    expect(createTokenizer(meta, { preTokenizer: 'default' }).encode(text, { addBos: false })).toEqual([0xcd, 0xb8, 0xcd, 0xb8]);
    // Token ids 0..255 are the bytes themselves here (the byte-level characters in byte order); 256 is the merge.
    expect(createTokenizer(meta, { preTokenizer: 'gpt2' }).encode(text, { addBos: false })).toEqual([0xcd, 256, 0xb8]);
  });
});
