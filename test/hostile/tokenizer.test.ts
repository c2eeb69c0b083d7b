// Hostile vocabularies: missing tokens or merges, merges that name absent pieces, metadata arrays of mismatched lengths
// or wrong types, duplicate or empty tokens, out-of-range special ids. Each is a clear BitNetError (or a documented
// warning), through BitNet.load of a mini model and through createTokenizer directly.

import { describe, expect, it } from 'vitest';
import { BitNet } from '../../src/engine/bitnet.js';
import { BitNetError } from '../../src/errors.js';
import { gv } from '../../src/gguf/metadata.js';
import type { GgufValue } from '../../src/gguf/types.js';
import { createTokenizer } from '../../src/tokenizer/tokenizer.js';
import { smallSpmMetadata } from '../../fuzz/targets/tokenizers.js';
import { MINI_VOCAB_SIZE, type MiniSpec, miniBytes, miniSpec, miniVocab, setMeta } from './mini-model.js';

async function loadCode(spec: MiniSpec): Promise<string> {
  try {
    const model = await BitNet.load(miniBytes(spec), { backend: 'reference' });
    await model.dispose();
    return 'ok';
  } catch (e) {
    return e instanceof BitNetError ? e.code : `not a BitNetError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
}

function createCode(meta: Map<string, GgufValue>): string {
  try {
    createTokenizer(meta);
    return 'ok';
  } catch (e) {
    return e instanceof BitNetError ? e.code : `not a BitNetError: ${String(e)}`;
  }
}

const tokens = miniVocab().tokens;
const types = miniVocab().types;

describe('byte-level BPE vocabularies (through BitNet.load)', () => {
  it.each([
    ['no tokenizer.ggml.tokens', 'MISSING_METADATA', 'tokenizer.ggml.tokens', undefined],
    ['no tokenizer.ggml.merges', 'MISSING_METADATA', 'tokenizer.ggml.merges', undefined],
    ['no tokenizer.ggml.model', 'MISSING_METADATA', 'tokenizer.ggml.model', undefined],
    ["tokenizer.ggml.model 'bert'", 'TOKENIZER_UNSUPPORTED', 'tokenizer.ggml.model', gv.str('bert')],
    ['tokens as an array of UINT32', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.tokens', gv.arrU32(new Array<number>(MINI_VOCAB_SIZE).fill(1))],
    ['tokens as a string', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.tokens', gv.str('abc')],
    ['an empty token list (a vocabulary size of 0)', 'BAD_METADATA', 'tokenizer.ggml.tokens', gv.arrStr([])],
    ['an empty token', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.tokens', gv.arrStr(tokens.map((t, i) => (i === 100 ? '' : t)))],
    ['a duplicate token', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.tokens', gv.arrStr(tokens.map((t, i) => (i === 259 ? tokens[3] : t)))],
    ['one token fewer than the embedding has rows', 'BAD_TENSOR_FOR_ARCH', 'tokenizer.ggml.tokens', gv.arrStr(tokens.slice(0, -1))],
    ['token_type shorter than tokens', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.token_type', gv.arrI32(types.slice(0, 10))],
    ['token_type as strings', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.token_type', gv.arrStr(types.map(String))],
    ['merges as an array of INT32', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.merges', gv.arrI32([1])],
    ['a merge without a space', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.merges', gv.arrStr(['Ġt', 'h e'])],
    ['a merge of a piece not in the vocabulary', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.merges', gv.arrStr(['Ġ t', 'x yz'])],
    ['a merge whose result is not in the vocabulary', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.merges', gv.arrStr(['Ġ t', 'q u'])],
    ['add_bos_token true but no BOS', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.bos_token_id', gv.u32(0xffffffff)],
    ['bos_token_id as a string', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.bos_token_id', gv.str('258')],
    ['a vocab_size key that disagrees with the tokens', 'BAD_TENSOR_FOR_ARCH', 'bitnet-b1.58.vocab_size', gv.u32(MINI_VOCAB_SIZE + 1)],
  ] as [string, string, string, GgufValue | undefined][])('%s -> %s', async (_name, code, key, value) => {
    const spec = setMeta(miniSpec(), key, value);
    // The BOS case: without the id key the '<|begin_of_text|>' text is found, so rename that token too.
    if (_name.startsWith('add_bos_token')) {
      setMeta(spec, 'tokenizer.ggml.add_bos_token', gv.bool(true));
      setMeta(spec, 'tokenizer.ggml.tokens', gv.arrStr(tokens.map((t) => (t === '<|begin_of_text|>' ? '<|not_bos|>' : t))));
    }
    expect(await loadCode(spec)).toBe(code);
  });

  it('an out-of-range EOS id is ignored with a warning (as llama.cpp does), which strict mode refuses', async () => {
    const spec = setMeta(miniSpec(), 'tokenizer.ggml.eos_token_id', gv.u32(1_000_000));
    const model = await BitNet.load(miniBytes(spec), { backend: 'reference' });
    try {
      expect(model.fallbacks.join('\n')).toContain('tokenizer.ggml.eos_token_id');
    } finally {
      await model.dispose();
    }
    expect(await (async () => {
      try {
        await BitNet.load(miniBytes(spec), { backend: 'reference', strict: true });
        return 'ok';
      } catch (e) {
        return e instanceof BitNetError ? e.code : String(e);
      }
    })()).toBe('STRICT_VIOLATION');
  });

  it('a vocabulary without a token for some byte refuses text with that byte (TOKENIZER_UNKNOWN_PIECE), not other text', async () => {
    // Replace the byte-level token of 'z' by an unrelated piece: every other byte still has its token.
    const spec = setMeta(miniSpec(), 'tokenizer.ggml.tokens', gv.arrStr(tokens.map((t) => (t === 'z' ? 'not-z' : t))));
    const model = await BitNet.load(miniBytes(spec), { backend: 'reference' });
    try {
      expect(model.tokenize('the tea').length).toBeGreaterThan(0);
      let code = 'ok';
      try {
        await model.complete('zebra', { maxTokens: 1 });
      } catch (e) {
        code = e instanceof BitNetError ? e.code : String(e);
      }
      expect(code).toBe('TOKENIZER_UNKNOWN_PIECE');
    } finally {
      await model.dispose();
    }
  });
});

describe('SentencePiece vocabularies (createTokenizer)', () => {
  const base = smallSpmMetadata();
  const n = (base.get('tokenizer.ggml.tokens') as { value: string[] }).value.length;
  const withKey = (key: string, value: GgufValue | undefined): Map<string, GgufValue> => {
    const m = new Map(base);
    if (value === undefined) m.delete(key);
    else m.set(key, value);
    return m;
  };

  it('the small vocabulary itself is fine', () => {
    expect(createCode(base)).toBe('ok');
  });

  it.each([
    ['scores shorter than tokens', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.scores', gv.arrF32([0, 1])],
    ['scores as strings', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.scores', gv.arrStr(['0'])],
    ['token_type shorter than tokens', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.token_type', gv.arrI32(new Array<number>(n - 1).fill(1))],
    ['no tokens', 'MISSING_METADATA', 'tokenizer.ggml.tokens', undefined],
    ['add_space_prefix as a number', 'TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.add_space_prefix', gv.u8(1)],
  ] as [string, string, string, GgufValue | undefined][])('%s -> %s', (_name, code, key, value) => {
    expect(createCode(withKey(key, value))).toBe(code);
  });

  it('NaN and infinite scores still give a tokenizer whose ids are in range', () => {
    const scores = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? Number.NaN : i % 3 === 1 ? Number.POSITIVE_INFINITY : -1));
    const tk = createTokenizer(withKey('tokenizer.ggml.scores', gv.arrF32(scores)));
    const ids = tk.encode('Hello world, hello world');
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every((id) => id >= 0 && id < tk.vocabSize)).toBe(true);
  });
});
