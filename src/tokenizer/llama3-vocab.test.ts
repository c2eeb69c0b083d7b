// Tests that the LLaMA-3 vocabulary fixture has the shape and content of a LLaMA-3 GGUF's tokenizer keys.

import { describe, expect, it } from 'vitest';
import llama3Tokenizer from 'llama3-tokenizer-js';
import { llama3GgufMetadataEntries, llama3TokenizerMetadata } from './llama3-vocab.js';

describe('llama3TokenizerMetadata', () => {
  it('has 128256 tokens with the specials at their LLaMA-3 ids', () => {
    const m = llama3TokenizerMetadata();
    expect(m.tokens.length).toBe(128256);
    expect(m.tokenTypes.length).toBe(128256);
    expect(m.tokens[m.bosTokenId]).toBe('<|begin_of_text|>');
    expect(m.tokens[m.eosTokenId]).toBe('<|end_of_text|>');
    expect(m.tokens[m.eotTokenId]).toBe('<|eot_id|>');
    expect(m.tokens[128006]).toBe('<|start_header_id|>');
    expect(m.tokens[128007]).toBe('<|end_header_id|>');
    expect(m.tokens[128002]).toBe('<|reserved_special_token_0|>');
    // byte-level strings: ' the' is stored as 'Ġthe', '\n' as 'Ċ'
    expect(m.tokens.indexOf('Ġthe')).toBe(279);
    expect(m.tokens[198]).toBe('Ċ');
  });

  it('marks exactly the 256 special tokens as control (3), the rest normal (1)', () => {
    const m = llama3TokenizerMetadata();
    let nControl = 0;
    const bad: number[] = [];
    for (let id = 0; id < m.tokenTypes.length; id++) {
      const t = m.tokenTypes[id];
      if (t !== 1 && t !== 3) bad.push(id);
      if (t === 3) {
        nControl++;
        if (!/^<\|.*\|>$/.test(m.tokens[id] ?? '')) bad.push(id);
      }
    }
    expect(bad).toEqual([]);
    expect(nControl).toBe(256);
  });

  it('has merges in rank order, each joining two vocab pieces into a vocab piece', () => {
    const m = llama3TokenizerMetadata();
    expect(m.merges.length).toBe(llama3Tokenizer.merges.size);
    expect(m.merges[0]).toBe('Ġ Ġ');
    const vocab = new Set(m.tokens);
    let previousRank = -1;
    for (const merge of m.merges) {
      const parts = merge.split(' ');
      const [a, b] = parts;
      if (parts.length !== 2 || a === undefined || b === undefined || !vocab.has(a) || !vocab.has(b) || !vocab.has(a + b)) {
        throw new Error(`bad merge '${merge}'`);
      }
      const rank = llama3Tokenizer.merges.get(merge);
      if (rank === undefined || rank <= previousRank) throw new Error(`merge '${merge}' out of rank order`);
      previousRank = rank;
    }
  });

  it('is cached (same object on every call)', () => {
    expect(llama3TokenizerMetadata()).toBe(llama3TokenizerMetadata());
    expect(llama3GgufMetadataEntries()).toBe(llama3GgufMetadataEntries());
  });
});

describe('llama3GgufMetadataEntries', () => {
  it('carries the keys and value types of a LLaMA-3 GGUF', () => {
    const entries = new Map(llama3GgufMetadataEntries());
    expect(entries.get('tokenizer.ggml.model')).toEqual({ type: 8, value: 'gpt2' });
    expect(entries.get('tokenizer.ggml.pre')).toEqual({ type: 8, value: 'llama-bpe' });
    expect(entries.get('tokenizer.ggml.bos_token_id')).toEqual({ type: 4, value: 128000 });
    expect(entries.get('tokenizer.ggml.eos_token_id')).toEqual({ type: 4, value: 128001 });
    expect(entries.get('tokenizer.ggml.add_bos_token')).toEqual({ type: 7, value: true });
    expect(entries.get('tokenizer.ggml.add_eos_token')).toEqual({ type: 7, value: false });
    const tokens = entries.get('tokenizer.ggml.tokens');
    expect(tokens?.type === 9 && tokens.elementType === 8 && tokens.value.length === 128256).toBe(true);
    const types = entries.get('tokenizer.ggml.token_type');
    expect(types?.type === 9 && types.elementType === 5 && types.value instanceof Int32Array).toBe(true);
    const merges = entries.get('tokenizer.ggml.merges');
    expect(merges?.type === 9 && merges.elementType === 8 && merges.value.length > 280000).toBe(true);
  });
});
