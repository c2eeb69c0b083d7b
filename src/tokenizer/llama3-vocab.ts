// The real LLaMA-3 vocabulary (from npm llama3-tokenizer-js) in exactly the form a LLaMA-3 GGUF stores it.
//
// GGUF layout of a LLaMA-3 vocabulary (llama.cpp convert_hf_to_gguf.py `_set_vocab_gpt2` /
// `get_vocab_base`; gguf-py gguf/constants.py `Keys.Tokenizer`, `TokenType`):
//   tokenizer.ggml.model       = 'gpt2'           (byte-level BPE)
//   tokenizer.ggml.pre         = 'llama-bpe'      (the LLaMA-3 pre-tokenizer regex)
//   tokenizer.ggml.tokens      = string[128256]   byte-level BPE strings (GPT-2 byte-to-unicode, 'Ġthe')
//   tokenizer.ggml.token_type  = int32[128256]    1 NORMAL, 3 CONTROL (the 256 added special tokens)
//   tokenizer.ggml.merges      = string[]         'a b' in rank order (280147 for LLaMA-3)
//   tokenizer.ggml.bos_token_id / eos_token_id (uint32), add_bos_token / add_eos_token (bool)
// llama3-tokenizer-js keeps the 128000 BPE strings in id order, appends the 256 special tokens
// (LLaMA-3.1 names) at 128000.., and keeps merges in a Map whose insertion order is rank order.

import llama3Tokenizer from 'llama3-tokenizer-js';
import { BitNetError } from '../errors.js';
import type { GgufValue } from '../gguf/types.js';

/** gguf-py TokenType values used here. */
const TOKEN_TYPE_NORMAL = 1;
const TOKEN_TYPE_CONTROL = 3;

/** Vocabulary size of LLaMA 3 / 3.1 (128000 BPE pieces + 256 special tokens). */
const LLAMA3_VOCAB_SIZE = 128256;

export interface Llama3TokenizerMetadata {
  /** `tokenizer.ggml.tokens`: byte-level BPE strings, index = token id. Shared: do not mutate. */
  readonly tokens: string[];
  /** `tokenizer.ggml.token_type`: 1 normal, 3 control. Shared: do not mutate. */
  readonly tokenTypes: Int32Array;
  /** `tokenizer.ggml.merges`: 'left right' pairs in rank order. Shared: do not mutate. */
  readonly merges: string[];
  readonly bosTokenId: 128000;
  readonly eosTokenId: 128001;
  readonly eotTokenId: 128009;
}

let cachedMetadata: Llama3TokenizerMetadata | undefined;
let cachedEntries: [string, GgufValue][] | undefined;

function expectId(vocab: ReadonlyMap<string, number>, piece: string, expected: number): void {
  const actual = vocab.get(piece);
  if (actual !== expected) {
    throw new BitNetError('INTERNAL', `llama3-tokenizer-js: expected '${piece}' at id ${expected}, found ${String(actual)}`, {
      details: { piece, expected, actual: actual ?? null },
    });
  }
}

/** The LLaMA-3 vocabulary as GGUF arrays; built once per process (~0.4 s for the package's data). */
export function llama3TokenizerMetadata(): Llama3TokenizerMetadata {
  if (cachedMetadata !== undefined) return cachedMetadata;
  const tokens = llama3Tokenizer.vocabById.slice();
  if (tokens.length !== LLAMA3_VOCAB_SIZE) {
    throw new BitNetError('INTERNAL', `llama3-tokenizer-js: expected ${LLAMA3_VOCAB_SIZE} tokens, found ${tokens.length}`, {
      details: { expected: LLAMA3_VOCAB_SIZE, actual: tokens.length },
    });
  }
  const vocab = llama3Tokenizer.vocabByString;
  expectId(vocab, '<|begin_of_text|>', 128000);
  expectId(vocab, '<|end_of_text|>', 128001);
  expectId(vocab, '<|start_header_id|>', 128006);
  expectId(vocab, '<|end_header_id|>', 128007);
  expectId(vocab, '<|eot_id|>', 128009);
  // The special tokens start at <|begin_of_text|>; every one of them is CONTROL in a LLaMA-3 GGUF
  // (all 256 are `special: true` added tokens in tokenizer.json).
  const firstSpecialId = 128000;
  const tokenTypes = new Int32Array(tokens.length);
  for (let id = 0; id < tokens.length; id++) {
    tokenTypes[id] = id >= firstSpecialId ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_NORMAL;
  }
  // Map iteration order is insertion order, which the package fills in rank order.
  const merges = Array.from(llama3Tokenizer.merges.keys());
  cachedMetadata = { tokens, tokenTypes, merges, bosTokenId: 128000, eosTokenId: 128001, eotTokenId: 128009 };
  return cachedMetadata;
}

/** The tokenizer keys a LLaMA-3 GGUF carries, as GGUF values, in the order llama.cpp writes them. Cached. */
export function llama3GgufMetadataEntries(): [string, GgufValue][] {
  if (cachedEntries !== undefined) return cachedEntries;
  const m = llama3TokenizerMetadata();
  cachedEntries = [
    ['tokenizer.ggml.model', { type: 8, value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 8, value: 'llama-bpe' }],
    ['tokenizer.ggml.tokens', { type: 9, elementType: 8, value: m.tokens }],
    ['tokenizer.ggml.token_type', { type: 9, elementType: 5, value: m.tokenTypes }],
    ['tokenizer.ggml.merges', { type: 9, elementType: 8, value: m.merges }],
    ['tokenizer.ggml.bos_token_id', { type: 4, value: m.bosTokenId }],
    ['tokenizer.ggml.eos_token_id', { type: 4, value: m.eosTokenId }],
    ['tokenizer.ggml.add_bos_token', { type: 7, value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 7, value: false }],
  ];
  return cachedEntries;
}
