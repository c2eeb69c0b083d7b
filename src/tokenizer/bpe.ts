// Byte-level BPE (GGUF `tokenizer.ggml.model` = 'gpt2'): pre-tokenizer regex, GPT-2 byte mapping, merges by rank.
//
// Behaviour follows llama.cpp src/llama-vocab.cpp (`llm_tokenizer_bpe`, `llm_tokenizer_bpe_session::tokenize`) and
// the Hugging Face `tokenizers` BPE model it mirrors: split the text with the pre-tokenizer regex(es), map each
// word's UTF-8 bytes to GPT-2's printable characters, then repeatedly merge the adjacent pair with the lowest merge
// rank (equal ranks left to right) until no pair has a merge. For LLaMA-3 (`ignore_merges`) a word that is itself a
// vocabulary entry becomes that token directly.

import { BitNetError } from '../errors.js';
import { BYTE_TO_CHAR, bytesToByteLevel } from './byte-level.js';
import { PairHeap } from './pair-heap.js';
import type { PreTokenizerRules } from './pre-tokenizer.js';
import { TokenType, type Vocab } from './vocab.js';

/** Splits `text` into the matches of `re` and the unmatched stretches between them, keeping every character. */
function splitKeepingAll(text: string, re: RegExp, out: string[]): void {
  let last = 0;
  for (const m of text.matchAll(re)) {
    const at = m.index;
    if (at > last) out.push(text.slice(last, at));
    if (m[0].length > 0) out.push(m[0]);
    last = at + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
}

/** Words are cached per encoder; the cache is dropped when it holds this many (bounds memory on huge inputs). */
const WORD_CACHE_LIMIT = 50_000;

/**
 * Longest word (UTF-16 units) the cache keeps: real words repeat and are short; caching every long one let prompts of
 * distinct long words keep up to 50k of them (any length) alive for the life of the model.
 */
const MAX_CACHED_WORD_LENGTH = 64;

const utf8Encoder = new TextEncoder();

/** Stable counting sort of `items` by `keyOf[item]` (keys in [0, nKeys)). */
function countingSort(items: Int32Array, keyOf: Int32Array, nKeys: number): Int32Array {
  const next = new Int32Array(nKeys + 1);
  const n = items.length;
  for (let i = 0; i < n; i++) next[keyOf[items[i]] + 1]++;
  for (let k = 0; k < nKeys; k++) next[k + 1] += next[k];
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const item = items[i];
    out[next[keyOf[item]]++] = item;
  }
  return out;
}

/** Multiplier of the piece hash (FNV-1's prime; any odd constant works, collisions are settled by comparing text). */
const HASH_MULTIPLIER = 0x01000193;

/** Bit-mixes a piece hash before it picks a slot (the low bits of a polynomial hash alone cluster). */
function slotHash(h: number): number {
  const x = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return x ^ (x >>> 13);
}

/**
 * Piece text -> id for the tokens BPE may produce, used while the merges are read: open addressing keyed by a
 * polynomial hash of the UTF-16 units, so that a merge 'left right' finds left, right and left + right from ranges of
 * its own string (hash(a + b) = hash(a) * M^|b| + hash(b)) without slicing or concatenating a string per merge,
 * which is what made the constructor slow (three Map lookups of new strings for each of LLaMA-3's 280k merges).
 */
class PieceTable {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(
    private readonly tokens: readonly string[],
    ids: readonly number[],
  ) {
    let size = 16;
    while (size < 2 * ids.length) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    for (const id of ids) {
      const text = tokens[id] ?? '';
      let at = slotHash(hashRange(text, 0, text.length)) & this.mask;
      while ((this.slots[at] ?? -1) >= 0) at = (at + 1) & this.mask; // texts are unique (readVocab refuses duplicates)
      this.slots[at] = id;
    }
  }

  /** Id of the token whose text is s[from, to) (h = hashRange of it), or -1. */
  find(h: number, s: string, from: number, to: number): number {
    for (let at = slotHash(h) & this.mask; ; at = (at + 1) & this.mask) {
      const id = this.slots[at] ?? -1;
      if (id < 0) return -1;
      const text = this.tokens[id] ?? '';
      if (text.length === to - from && s.startsWith(text, from)) return id;
    }
  }

  /** Id of the token whose text is the texts of tokens `left` and `right` joined (h = hash of that text), or -1. */
  findJoined(h: number, left: number, right: number): number {
    const a = this.tokens[left] ?? '';
    const b = this.tokens[right] ?? '';
    for (let at = slotHash(h) & this.mask; ; at = (at + 1) & this.mask) {
      const id = this.slots[at] ?? -1;
      if (id < 0) return -1;
      const text = this.tokens[id] ?? '';
      if (text.length === a.length + b.length && text.startsWith(a) && text.endsWith(b)) return id;
    }
  }
}

/** Polynomial hash (mod 2^32) of the UTF-16 units s[from, to). */
function hashRange(s: string, from: number, to: number): number {
  let h = 0;
  for (let i = from; i < to; i++) h = (Math.imul(h, HASH_MULTIPLIER) + s.charCodeAt(i)) | 0;
  return h;
}

export class BpeEncoder {
  private readonly regexes: readonly RegExp[];
  private readonly ignoreMerges: boolean;
  /** Merge ranks by pair, compressed-row style: pairs with left token L sit at [pairStart[L], pairStart[L+1]). */
  private readonly pairStart: Int32Array;
  /** Right token of each pair, ascending within a row (binary-searched). */
  private readonly pairRight: Int32Array;
  /** Merge rank of each pair. */
  private readonly pairRank: Int32Array;
  /** Token made by the merge of each rank. */
  private readonly mergeResult: Int32Array;
  /** Token of each single byte-level character (-1 where the vocabulary lacks it). */
  private readonly byteTokenIds = new Int32Array(256).fill(-1);
  /** Text -> id of every token (readVocab's; texts are unique). */
  private readonly idByText: ReadonlyMap<string, number>;
  /** 1 for the tokens BPE may produce: everything but control/unknown/unused tokens. */
  private readonly isPiece: Uint8Array;
  private readonly nTokens: number;
  private readonly wordCache = new Map<string, readonly number[]>();
  private readonly heap = new PairHeap();

  constructor(vocab: Vocab, merges: readonly string[], rules: PreTokenizerRules) {
    this.nTokens = vocab.tokens.length;
    this.regexes = rules.patterns.map((p) => new RegExp(p, 'gu'));
    this.ignoreMerges = rules.ignoreMerges;
    this.idByText = vocab.idByText;

    this.isPiece = new Uint8Array(this.nTokens);
    const pieces: number[] = [];
    for (let id = 0; id < this.nTokens; id++) {
      const type = vocab.tokenTypes[id];
      if (type === TokenType.CONTROL || type === TokenType.UNKNOWN || type === TokenType.UNUSED) continue;
      this.isPiece[id] = 1;
      pieces.push(id);
    }
    for (let byte = 0; byte < 256; byte++) this.byteTokenIds[byte] = this.pieceId(BYTE_TO_CHAR[byte] ?? '') ?? -1;

    // Merges: 'left right', split at the first space after the first character (llama.cpp: `word.find(' ', 1)`).
    const table = new PieceTable(vocab.tokens, pieces);
    const nMerges = merges.length;
    this.mergeResult = new Int32Array(nMerges);
    const lefts = new Int32Array(nMerges);
    const rights = new Int32Array(nMerges);
    for (let rank = 0; rank < nMerges; rank++) {
      const merge = merges[rank] ?? '';
      const space = merge.indexOf(' ', 1);
      if (space < 0) {
        throw new BitNetError('TOKENIZER_BAD_VOCAB', `tokenizer.ggml.merges[${rank}]: '${merge}' is not two pieces separated by a space`, {
          details: { field: 'tokenizer.ggml.merges', index: rank, actual: merge },
        });
      }
      const leftHash = hashRange(merge, 0, space);
      let rightHash = 0;
      let rightPower = 1; // HASH_MULTIPLIER ** |right|
      for (let i = space + 1; i < merge.length; i++) {
        rightHash = (Math.imul(rightHash, HASH_MULTIPLIER) + merge.charCodeAt(i)) | 0;
        rightPower = Math.imul(rightPower, HASH_MULTIPLIER);
      }
      const leftId = table.find(leftHash, merge, 0, space);
      const rightId = table.find(rightHash, merge, space + 1, merge.length);
      const resultId = leftId < 0 || rightId < 0 ? -1 : table.findJoined((Math.imul(leftHash, rightPower) + rightHash) | 0, leftId, rightId);
      if (resultId < 0) {
        const left = merge.slice(0, space);
        const right = merge.slice(space + 1);
        const missing = leftId < 0 ? left : rightId < 0 ? right : left + right;
        throw new BitNetError('TOKENIZER_BAD_VOCAB', `tokenizer.ggml.merges[${rank}]: '${merge}' needs '${missing}', which is not in the vocabulary`, {
          details: { field: 'tokenizer.ggml.merges', index: rank, missing },
        });
      }
      lefts[rank] = leftId;
      rights[rank] = rightId;
      this.mergeResult[rank] = resultId;
    }
    // Rows by left token, each row ascending by right token, equal pairs by rank: two stable counting sorts
    // (by right, then by left), O(nMerges + nTokens).
    const ranks = new Int32Array(nMerges);
    for (let rank = 0; rank < nMerges; rank++) ranks[rank] = rank;
    const byRight = countingSort(ranks, rights, this.nTokens);
    const sorted = countingSort(byRight, lefts, this.nTokens);
    this.pairStart = new Int32Array(this.nTokens + 1);
    for (let rank = 0; rank < nMerges; rank++) this.pairStart[(lefts[rank] ?? 0) + 1]++;
    for (let id = 0; id < this.nTokens; id++) this.pairStart[id + 1] = (this.pairStart[id + 1] ?? 0) + (this.pairStart[id] ?? 0);
    this.pairRight = new Int32Array(nMerges);
    this.pairRank = new Int32Array(nMerges);
    for (let k = 0; k < nMerges; k++) {
      const rank = sorted[k] ?? 0;
      this.pairRight[k] = rights[rank] ?? 0;
      this.pairRank[k] = rank;
    }
  }

  /** Id of the token BPE may produce whose text is `text`, or undefined. */
  private pieceId(text: string): number | undefined {
    const id = this.idByText.get(text);
    return id !== undefined && this.isPiece[id] === 1 ? id : undefined;
  }

  /** Rank of the merge of tokens `left` and `right`, or -1 when they do not merge. */
  private rankOf(left: number, right: number): number {
    let lo = this.pairStart[left] ?? 0;
    let hi = (this.pairStart[left + 1] ?? 0) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.pairRight[mid] ?? 0;
      if (r < right) lo = mid + 1;
      else if (r > right) hi = mid - 1;
      else {
        // The first of equal pairs has the lowest rank.
        let first = mid;
        while (first > lo && this.pairRight[first - 1] === right) first--;
        return this.pairRank[first] ?? -1;
      }
    }
    return -1;
  }

  /** Appends the tokens of `text` (a fragment with no special tokens in it) to `out`. */
  encode(text: string, out: number[]): void {
    for (const word of this.preTokenize(text)) {
      for (const id of this.encodeWord(word)) out.push(id);
    }
  }

  /** The pre-tokenizer's words (before byte mapping), in order; their concatenation is `text`. */
  preTokenize(text: string): string[] {
    let pieces = [text];
    for (const re of this.regexes) {
      const next: string[] = [];
      for (const piece of pieces) splitKeepingAll(piece, re, next);
      pieces = next;
    }
    return pieces;
  }

  private encodeWord(word: string): readonly number[] {
    const cached = this.wordCache.get(word);
    if (cached !== undefined) return cached;
    const result = this.mergeWord(word);
    if (word.length > MAX_CACHED_WORD_LENGTH) return result;
    if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
    this.wordCache.set(word, result);
    return result;
  }

  private mergeWord(word: string): number[] {
    const bytes = utf8Encoder.encode(word);
    if (this.ignoreMerges) {
      const whole = this.pieceId(bytesToByteLevel(bytes));
      if (whole !== undefined) return [whole];
    }
    const n = bytes.length;
    // Symbols as a doubly linked list over byte positions; a merged-away symbol has id -1.
    const ids = new Int32Array(n);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const byte = bytes[i] ?? 0;
      const id = this.byteTokenIds[byte] ?? -1;
      if (id < 0) {
        throw new BitNetError('TOKENIZER_UNKNOWN_PIECE', `byte 0x${byte.toString(16).padStart(2, '0')} of '${word}' has no token ('${BYTE_TO_CHAR[byte] ?? ''}' is not in the vocabulary)`, {
          details: { byte, word },
        });
      }
      ids[i] = id;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const heap = this.heap;
    heap.clear();
    for (let i = 0; i + 1 < n; i++) this.pushPair(ids, i, i + 1);

    const top: [number, number, number] = [0, 0, 0];
    while (heap.pop(top)) {
      const [rank, left, right] = top;
      // Stale when either side was merged since: the pair no longer sits there or no longer has this rank.
      if (ids[left] === -1 || ids[right] === -1 || next[left] !== right) continue;
      if (this.rankOf(ids[left] ?? 0, ids[right] ?? 0) !== rank) continue;
      ids[left] = this.mergeResult[rank] ?? 0;
      ids[right] = -1;
      const after = next[right] ?? -1;
      next[left] = after;
      if (after >= 0) prev[after] = left;
      const before = prev[left] ?? -1;
      if (before >= 0) this.pushPair(ids, before, left);
      if (after >= 0) this.pushPair(ids, left, after);
    }
    const result: number[] = [];
    for (let i = 0; i >= 0 && i < n; i = next[i] ?? -1) result.push(ids[i] ?? 0);
    return result;
  }

  private pushPair(ids: Int32Array, left: number, right: number): void {
    const rank = this.rankOf(ids[left] ?? 0, ids[right] ?? 0);
    if (rank >= 0) this.heap.push(rank, left, right);
  }
}
