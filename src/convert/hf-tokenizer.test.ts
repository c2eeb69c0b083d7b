// tokenizer.json -> GGUF tokenizer metadata, checked through the engine's own tokenizer: SentencePiece-style BPE with
// byte fallback, byte-level BPE with padding to vocab_size, special ids, add_bos, chat templates.

import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import type { GgufValue } from '../gguf/types.js';
import { createTokenizer } from '../tokenizer/tokenizer.js';
import { miniTokenizerJson } from '../../test/helpers/hf-checkpoint.js';
import { convertHfTokenizer } from './hf-tokenizer.js';

function metaOf(entries: [string, GgufValue][]): Map<string, GgufValue> {
  return new Map(entries);
}

/** A LLaMA-2-style tokenizer.json: <unk> <s> </s>, 256 byte tokens, pieces built by five ranked merges. */
function spmTokenizerJson(): unknown {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const pieces = ['▁', 'h', 'e', 'l', 'o', '▁h', 'el', 'lo', '▁hel', '▁hello', 'll'];
  pieces.forEach((p, i) => (vocab[p] = 259 + i));
  return {
    added_tokens: [
      { id: 0, content: '<unk>', special: true },
      { id: 1, content: '<s>', special: true },
      { id: 2, content: '</s>', special: true },
    ],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }] },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', unk_token: '<unk>', byte_fallback: true, vocab, merges: ['▁ h', 'e l', 'l o', '▁h el', '▁hel lo', 'l l'] },
  };
}

describe('convertHfTokenizer', () => {
  it('SentencePiece-style BPE: byte/unknown/control types, scores from merge ranks, space prefix, BOS from the template', () => {
    const r = convertHfTokenizer({ tokenizerJson: spmTokenizerJson(), tokenizerConfig: { bos_token: '<s>', eos_token: '</s>' }, vocabSize: 272 });
    expect(r.kind).toBe('llama');
    const meta = metaOf(r.entries);
    const types = meta.get('tokenizer.ggml.token_type')?.value as Int32Array;
    expect([types[0], types[1], types[3 + 0x41], types[259], types[271]]).toEqual([2, 3, 6, 1, 5]); // UNKNOWN, CONTROL, BYTE, NORMAL, UNUSED pad
    expect(meta.get('tokenizer.ggml.add_space_prefix')?.value).toBe(true);
    expect(meta.get('tokenizer.ggml.add_bos_token')?.value).toBe(true);
    expect(meta.get('tokenizer.ggml.unknown_token_id')?.value).toBe(0);
    const tok = createTokenizer(meta);
    const id = (p: string): number => 259 + ['▁', 'h', 'e', 'l', 'o', '▁h', 'el', 'lo', '▁hel', '▁hello', 'll'].indexOf(p);
    // transformers' BPE on '▁hello': ▁h, el, lo, ▁hel, ▁hello (ranks 0, 1, 2, 3, 4)
    expect(tok.encode('hello')).toEqual([1, id('▁hello')]);
    // '▁hell': ▁h, el, then ▁hel; 'l l' (rank 5) never gets a chance: ▁hel + l
    expect(tok.encode('hell', { addBos: false })).toEqual([id('▁hel'), id('l')]);
    // unknown characters fall back to bytes
    expect(tok.encode('é', { addBos: false })).toEqual([id('▁'), 3 + 0xc3, 3 + 0xa9]);
    expect(tok.decode(tok.encode('hello hell'), { renderSpecial: false })).toBe('hello hell');
  });

  it('byte-level BPE: pads to vocab_size with UNUSED [PAD<id>] tokens, gpt2 rules from ByteLevel, no BOS unless asked', () => {
    const r = convertHfTokenizer({ tokenizerJson: miniTokenizerJson(), tokenizerConfig: undefined, vocabSize: 264, configBosId: 258, configEosIds: [259] });
    expect(r.pre).toBe('gpt2');
    const meta = metaOf(r.entries);
    const tokens = meta.get('tokenizer.ggml.tokens')?.value as string[];
    expect(tokens.slice(258)).toEqual(['<|begin_of_text|>', '<|end_of_text|>', '[PAD260]', '[PAD261]', '[PAD262]', '[PAD263]']);
    expect(meta.get('tokenizer.ggml.merges')?.value).toEqual(['Ġ t', 'h e']); // [a, b] pairs become 'a b'
    expect(meta.get('tokenizer.ggml.bos_token_id')?.value).toBe(258);
    expect(meta.get('tokenizer.ggml.eos_token_id')?.value).toBe(259);
    expect(meta.get('tokenizer.ggml.add_bos_token')?.value).toBe(false);
    const tok = createTokenizer(meta);
    expect(tok.encode(' the')).toEqual([256, 257]);
    expect(tok.encode('<|end_of_text|>x')).toEqual([259, 120]);
    expect(r.notes.join('\n')).toMatch(/4 ids .* padding/);
  });

  it('chat templates: a string, a named list, or chat_template.jinja; tokenizer_config add_bos_token wins', () => {
    const base = { tokenizerJson: miniTokenizerJson(), vocabSize: 260 };
    const one = metaOf(convertHfTokenizer({ ...base, tokenizerConfig: { chat_template: 'T', add_bos_token: true, bos_token: { content: '<|begin_of_text|>' } } }).entries);
    expect(one.get('tokenizer.chat_template')?.value).toBe('T');
    expect(one.get('tokenizer.ggml.add_bos_token')?.value).toBe(true);
    expect(one.get('tokenizer.ggml.bos_token_id')?.value).toBe(258);
    const list = metaOf(convertHfTokenizer({ ...base, tokenizerConfig: { chat_template: [{ name: 'default', template: 'D' }, { name: 'tool_use', template: 'U' }] } }).entries);
    expect([list.get('tokenizer.chat_template')?.value, list.get('tokenizer.chat_template.tool_use')?.value, list.get('tokenizer.chat_templates')?.value]).toEqual(['D', 'U', ['tool_use']]);
    const file = metaOf(convertHfTokenizer({ ...base, tokenizerConfig: {}, chatTemplateFile: 'J' }).entries);
    expect(file.get('tokenizer.chat_template')?.value).toBe('J');
  });

  it('refuses ids beyond vocab_size, duplicate ids, unknown models, and an unknown --pre-tokenizer name', () => {
    const code = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        if (isBitNetError(e)) return `${e.code} ${e.message}`;
        throw e;
      }
      return 'none';
    };
    expect(code(() => convertHfTokenizer({ tokenizerJson: miniTokenizerJson(), tokenizerConfig: {}, vocabSize: 259 }))).toMatch(/^CHECKPOINT_BAD_CONFIG .*token id 259 .*vocab_size 259/);
    const dup = miniTokenizerJson() as { added_tokens: unknown[] };
    dup.added_tokens.push({ id: 257, content: '<x>', special: true });
    expect(code(() => convertHfTokenizer({ tokenizerJson: dup, tokenizerConfig: {}, vocabSize: 260 }))).toMatch(/^CHECKPOINT_BAD_CONFIG .*id 257 is both 'he' and '<x>'/);
    expect(code(() => convertHfTokenizer({ tokenizerJson: { model: { type: 'Unigram', vocab: [] } }, tokenizerConfig: {}, vocabSize: 10 }))).toMatch(/^CHECKPOINT_UNSUPPORTED .*Unigram/);
    expect(code(() => convertHfTokenizer({ tokenizerJson: miniTokenizerJson(), tokenizerConfig: {}, vocabSize: 260, preTokenizer: 'qwen9' }))).toMatch(/^BAD_ARGUMENT .*qwen9/);
  });
});
