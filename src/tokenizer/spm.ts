// SentencePiece BPE (GGUF `tokenizer.ggml.model` = 'llama'): '▁' for spaces, bigram merges by score, byte fallback.
//
// Behaviour follows llama.cpp src/llama-vocab.cpp (`llm_tokenizer_spm_session`, `llama_vocab::impl::tokenize` for
// LLAMA_VOCAB_TYPE_SPM): a fragment that starts the text or follows a special token gets a leading space when
// `add_space_prefix` (default true); spaces become U+2581 '▁'; the text is cut into characters; the adjacent pair
// whose concatenation is a vocabulary piece with the highest score merges first (ties: leftmost); a final symbol
// that is no piece is emitted as its UTF-8 bytes via the <0xXX> byte tokens.

import { BitNetError } from '../errors.js';
import { PairHeap } from './pair-heap.js';
import { TokenType, type Vocab } from './vocab.js';

/** U+2581 LOWER ONE EIGHTH BLOCK: SentencePiece's visible space. */
export const SPM_SPACE = '\u2581';

const utf8Encoder = new TextEncoder();

function hexByteName(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** True for a '<0xXX>' byte-token text; returns the byte or -1. */
export function parseByteToken(text: string): number {
  const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
  return m === null ? -1 : parseInt(m[1] ?? '', 16);
}

export class SpmEncoder {
  readonly warnings: string[] = [];
  readonly addSpacePrefix: boolean;
  private readonly scores: ArrayLike<number>;
  /** Text -> id for pieces merging may produce (normal, user-defined, unused, undefined types). */
  private readonly pieceIds = new Map<string, number>();
  /** Token of each byte for byte fallback (-1 where the vocabulary has neither <0xXX> nor the plain character). */
  private readonly byteTokenIds = new Int32Array(256).fill(-1);
  private readonly unkTokenId: number | undefined;
  private readonly heap = new PairHeap();

  constructor(vocab: Vocab, scores: ArrayLike<number> | undefined, addSpacePrefix: boolean) {
    const nTokens = vocab.tokens.length;
    if (scores === undefined) {
      this.warnings.push('tokenizer.ggml.scores is missing; all pieces score 0 (merges go left to right)');
      this.scores = new Float32Array(nTokens);
    } else if (scores.length < nTokens) {
      throw new BitNetError('TOKENIZER_BAD_VOCAB', `tokenizer.ggml.scores: has ${scores.length} entries for ${nTokens} tokens`, {
        details: { field: 'tokenizer.ggml.scores', expected: nTokens, actual: scores.length },
      });
    } else {
      this.scores = scores;
    }
    this.addSpacePrefix = addSpacePrefix;
    this.unkTokenId = vocab.unkTokenId;
    for (let id = 0; id < nTokens; id++) {
      const type = vocab.tokenTypes[id];
      if (type === TokenType.CONTROL || type === TokenType.UNKNOWN || type === TokenType.BYTE) continue;
      this.pieceIds.set(vocab.tokens[id] ?? '', id);
    }
    // llama.cpp `byte_to_token`: '<0xXX>' first, else the byte as a one-character piece.
    for (let byte = 0; byte < 256; byte++) {
      const id = vocab.idByText.get(hexByteName(byte)) ?? (byte < 0x80 ? this.pieceIds.get(String.fromCharCode(byte)) : undefined);
      this.byteTokenIds[byte] = id ?? -1;
    }
  }

  /**
   * Appends the tokens of `text` (a fragment with no special tokens) to `out`. `afterSpecial` is true at the start
   * of the text and right after a special token: that is where the space prefix goes.
   */
  encode(text: string, afterSpecial: boolean, out: number[]): void {
    const escaped = ((this.addSpacePrefix && afterSpecial ? ' ' : '') + text).replaceAll(' ', SPM_SPACE);
    if (escaped === '') return;

    // Symbols: one per code point, as [start, end) UTF-16 ranges in a linked list; merged-away symbols get length 0.
    const starts: number[] = [];
    for (let i = 0; i < escaped.length; ) {
      starts.push(i);
      const cp = escaped.codePointAt(i) ?? 0;
      i += cp > 0xffff ? 2 : 1;
    }
    const n = starts.length;
    const start = Int32Array.from(starts);
    const len = new Int32Array(n);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      len[i] = (i + 1 < n ? (starts[i + 1] ?? 0) : escaped.length) - (starts[i] ?? 0);
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }

    const heap = this.heap;
    heap.clear();
    const tryPair = (left: number, right: number): void => {
      if (left < 0 || right < 0) return;
      const s = start[left] ?? 0;
      const id = this.pieceIds.get(escaped.slice(s, s + (len[left] ?? 0) + (len[right] ?? 0)));
      if (id === undefined) return;
      // Highest score first: the heap pops the smallest priority, so push -score.
      heap.push(-(this.scores[id] ?? 0), left, right);
    };
    for (let i = 0; i + 1 < n; i++) tryPair(i, i + 1);

    const top: [number, number, number] = [0, 0, 0];
    while (heap.pop(top)) {
      const [negScore, left, right] = top;
      if (len[left] === 0 || len[right] === 0 || next[left] !== right) continue;
      // Stale when either side grew since the pair was queued: its text is then another piece, with another score.
      const s = start[left] ?? 0;
      const id = this.pieceIds.get(escaped.slice(s, s + (len[left] ?? 0) + (len[right] ?? 0)));
      if (id === undefined || -(this.scores[id] ?? 0) !== negScore) continue;
      len[left] = (len[left] ?? 0) + (len[right] ?? 0);
      len[right] = 0;
      const after = next[right] ?? -1;
      next[left] = after;
      if (after >= 0) prev[after] = left;
      tryPair(prev[left] ?? -1, left);
      tryPair(left, after);
    }

    for (let i = 0; i >= 0; i = next[i] ?? -1) {
      const s = start[i] ?? 0;
      const piece = escaped.slice(s, s + (len[i] ?? 0));
      const id = this.pieceIds.get(piece);
      if (id !== undefined) out.push(id);
      else this.byteFallback(piece, out);
    }
  }

  private byteFallback(piece: string, out: number[]): void {
    const bytes = utf8Encoder.encode(piece);
    const ids: number[] = [];
    for (const byte of bytes) {
      const id = this.byteTokenIds[byte] ?? -1;
      if (id < 0) break;
      ids.push(id);
    }
    if (ids.length === bytes.length) {
      for (const id of ids) out.push(id);
    } else if (this.unkTokenId !== undefined) {
      out.push(this.unkTokenId);
    } else {
      throw new BitNetError('TOKENIZER_UNKNOWN_PIECE', `'${piece}' is not in the vocabulary, which has no byte tokens for it and no unknown token`, {
        details: { piece },
      });
    }
  }
}
