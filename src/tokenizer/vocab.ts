// The vocabulary part every GGUF tokenizer shares: tokens, token types, scores, special ids, and special-token splitting.
//
// Keys and meanings: gguf-py gguf/constants.py (`Keys.Tokenizer`, `TokenType`); how llama.cpp reads them:
// src/llama-vocab.cpp `llama_vocab::impl::load` and `tokenizer_st_partition`.

import { BitNetError } from '../errors.js';
import type { GgufValue } from '../gguf/types.js';

/** gguf-py TokenType (the values stored in `tokenizer.ggml.token_type`). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

export type Metadata = ReadonlyMap<string, GgufValue>;

export interface Vocab {
  readonly tokens: readonly string[];
  /** One gguf-py TokenType per token (NORMAL where the file has no `token_type`). */
  readonly tokenTypes: Int32Array;
  /** Text -> id for every token. */
  readonly idByText: ReadonlyMap<string, number>;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly eotTokenId: number | undefined;
  readonly eomTokenId: number | undefined;
  readonly unkTokenId: number | undefined;
  /** Tokens split out of the text before the model's own algorithm runs, longest text first. */
  readonly specialIds: readonly number[];
  readonly warnings: string[];
}

export type Fragment = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'token'; readonly id: number };

function bad(field: string, message: string, details: Record<string, string | number | boolean | null> = {}): BitNetError {
  return new BitNetError('TOKENIZER_BAD_VOCAB', `${field}: ${message}`, { details: { field, ...details } });
}

/** A string metadata value, or undefined when absent; a value of another type is an error. */
export function metaString(meta: Metadata, key: string): string | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 8) throw bad(key, `expected a string, found GGUF value type ${v.type}`, { expected: 8, actual: v.type });
  return v.value;
}

/** A boolean metadata value, or undefined when absent. */
export function metaBool(meta: Metadata, key: string): boolean | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 7) throw bad(key, `expected a bool, found GGUF value type ${v.type}`, { expected: 7, actual: v.type });
  return v.value;
}

/** An integer metadata value of any integer type, or undefined when absent. */
export function metaInt(meta: Metadata, key: string): number | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type === 10 || v.type === 11) return Number(v.value);
  if (v.type <= 5 && typeof v.value === 'number') return v.value;
  throw bad(key, `expected an integer, found GGUF value type ${v.type}`, { actual: v.type });
}

/** A string array metadata value, or undefined when absent. */
export function metaStringArray(meta: Metadata, key: string): readonly string[] | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 9 || v.elementType !== 8) {
    throw bad(key, 'expected an array of strings', { actual: v.type === 9 ? `array of type ${v.elementType}` : `type ${v.type}` });
  }
  return v.value;
}

/** A numeric array (any fixed-width number type but 64-bit integers), or undefined when absent. */
export function metaNumberArray(meta: Metadata, key: string): ArrayLike<number> | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type === 9) {
    switch (v.elementType) {
      case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 12:
        return v.value;
      default:
        break;
    }
  }
  throw bad(key, 'expected an array of numbers', { actual: v.type === 9 ? `array of type ${v.elementType}` : `type ${v.type}` });
}

function specialIdFromMeta(meta: Metadata, key: string, nTokens: number, warnings: string[]): number | undefined {
  const id = metaInt(meta, key);
  if (id === undefined) return undefined;
  if (!Number.isInteger(id) || id < 0 || id >= nTokens) {
    // llama.cpp warns and ignores an out-of-range special id (files store -1 as 0xFFFFFFFF for "none"); so do we,
    // and the warning lets strict mode refuse the file.
    warnings.push(`${key} = ${id} is outside the vocabulary [0, ${nTokens}); ignored`);
    return undefined;
  }
  return id;
}

function firstPresent(idByText: ReadonlyMap<string, number>, texts: readonly string[]): number | undefined {
  for (const t of texts) {
    const id = idByText.get(t);
    if (id !== undefined) return id;
  }
  return undefined;
}

/** Texts of end-of-turn tokens by model family, looked up when the file has no `tokenizer.ggml.eot_token_id`. */
const EOT_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<EOT>'];

/**
 * Reads the shared vocabulary keys. `defaults` names texts to look up when a bos/eos/unk id key is absent
 * (SentencePiece '<s>', '</s>', '<unk>'; LLaMA-3 '<|begin_of_text|>' ...), never fixed ids.
 */
export function readVocab(
  meta: Metadata,
  defaults: { readonly bos: readonly string[]; readonly eos: readonly string[]; readonly unk: readonly string[] },
): Vocab {
  const tokens = metaStringArray(meta, 'tokenizer.ggml.tokens');
  if (tokens === undefined) {
    throw new BitNetError('MISSING_METADATA', 'tokenizer.ggml.tokens: missing (the GGUF has no vocabulary)', {
      details: { field: 'tokenizer.ggml.tokens' },
    });
  }
  const nTokens = tokens.length;
  if (nTokens === 0) throw bad('tokenizer.ggml.tokens', 'the vocabulary is empty');
  const warnings: string[] = [];

  const tokenTypes = new Int32Array(nTokens).fill(TokenType.NORMAL);
  const types = metaNumberArray(meta, 'tokenizer.ggml.token_type');
  if (types !== undefined) {
    if (types.length < nTokens) {
      throw bad('tokenizer.ggml.token_type', `has ${types.length} entries for ${nTokens} tokens`, { expected: nTokens, actual: types.length });
    }
    for (let id = 0; id < nTokens; id++) tokenTypes[id] = types[id] ?? TokenType.NORMAL;
  }

  const idByText = new Map<string, number>();
  for (let id = 0; id < nTokens; id++) {
    const text = tokens[id] ?? '';
    if (text === '') throw bad('tokenizer.ggml.tokens', `token ${id} is empty`, { tokenId: id });
    idByText.set(text, id); // one lookup per token: a duplicate shows as a map that did not grow
    if (idByText.size !== id + 1) {
      const previous = tokens.indexOf(text);
      throw bad('tokenizer.ggml.tokens', `duplicate token '${text}' at ids ${previous} and ${id}`, { tokenId: id, previousId: previous });
    }
  }

  const bosTokenId = specialIdFromMeta(meta, 'tokenizer.ggml.bos_token_id', nTokens, warnings) ?? firstPresent(idByText, defaults.bos);
  const eosTokenId = specialIdFromMeta(meta, 'tokenizer.ggml.eos_token_id', nTokens, warnings) ?? firstPresent(idByText, defaults.eos);
  const unkTokenId = specialIdFromMeta(meta, 'tokenizer.ggml.unknown_token_id', nTokens, warnings) ?? firstPresent(idByText, defaults.unk);
  const eotTokenId = specialIdFromMeta(meta, 'tokenizer.ggml.eot_token_id', nTokens, warnings) ?? firstPresent(idByText, EOT_TEXTS);
  const eomTokenId = specialIdFromMeta(meta, 'tokenizer.ggml.eom_token_id', nTokens, warnings) ?? firstPresent(idByText, ['<|eom_id|>']);

  // llama.cpp `cache_special_tokens`: every control, user-defined and unknown token, longest text first.
  const specialIds: number[] = [];
  for (let id = 0; id < nTokens; id++) {
    const t = tokenTypes[id];
    if (t === TokenType.CONTROL || t === TokenType.USER_DEFINED || t === TokenType.UNKNOWN) specialIds.push(id);
  }
  specialIds.sort((a, b) => (tokens[b]?.length ?? 0) - (tokens[a]?.length ?? 0) || a - b);

  return { tokens, tokenTypes, idByText, bosTokenId, eosTokenId, eotTokenId, eomTokenId, unkTokenId, specialIds, warnings };
}

/**
 * Splits `text` at literal occurrences of special tokens, longest token first (llama.cpp `tokenizer_st_partition`).
 * User-defined tokens are always split out; control and unknown tokens only when `parseSpecial`.
 */
export function splitSpecialTokens(vocab: Vocab, text: string, parseSpecial: boolean): Fragment[] {
  let fragments: Fragment[] = text === '' ? [] : [{ kind: 'text', text }];
  for (const id of vocab.specialIds) {
    const type = vocab.tokenTypes[id];
    if (!parseSpecial && type !== TokenType.USER_DEFINED) continue;
    const special = vocab.tokens[id] ?? '';
    let touched = false;
    const next: Fragment[] = [];
    for (const fragment of fragments) {
      if (fragment.kind !== 'text' || !fragment.text.includes(special)) {
        next.push(fragment);
        continue;
      }
      touched = true;
      let start = 0;
      for (let at = fragment.text.indexOf(special); at >= 0; at = fragment.text.indexOf(special, start)) {
        if (at > start) next.push({ kind: 'text', text: fragment.text.slice(start, at) });
        next.push({ kind: 'token', id });
        start = at + special.length;
      }
      if (start < fragment.text.length) next.push({ kind: 'text', text: fragment.text.slice(start) });
    }
    if (touched) fragments = next;
  }
  return fragments;
}
