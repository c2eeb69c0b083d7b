// A byte trie over a tokenizer's vocabulary, built once per tokenizer, that constrained sampling walks to find the tokens an automaton accepts.
//
// Nodes are laid out in depth-first order from the tokens sorted by their bytes, so a node's subtree is the
// node range [i, end[i]) and the tokens under it are the contiguous slice ids[tokStart[i], tokEnd[i]): a walk
// that rejects a byte skips the whole subtree in one step, and one that accepts a subtree wholesale takes its
// token slice without visiting it. (The prefix-tree walk over the vocabulary is the approach of llama.cpp's
// grammar sampler and of XGrammar's token mask cache; ideas only, no code.)

/** What the trie needs from a tokenizer (src/tokenizer's Tokenizer satisfies it). */
export interface TokenByteSource {
  readonly vocabSize: number;
  /** The bytes the token decodes to. */
  tokenBytes(id: number): Uint8Array;
  /** Control tokens (BOS, EOS, ...) never stand for text in constrained output. */
  isControl(id: number): boolean;
}

export interface TokenTrie {
  readonly vocabSize: number;
  /** Number of nodes; node 0 is the root (the empty prefix). */
  readonly nodeCount: number;
  /** byte[i]: the byte that leads from the parent to node i. */
  readonly byte: Uint8Array;
  /** depth[i]: length of the prefix node i stands for. */
  readonly depth: Uint16Array;
  /** end[i]: first node after i's subtree. */
  readonly end: Int32Array;
  /** Tokens under node i: ids[tokStart[i] .. tokEnd[i]); those ending exactly at i come first, ownEnd[i] of them. */
  readonly tokStart: Int32Array;
  readonly tokEnd: Int32Array;
  readonly ownEnd: Int32Array;
  /**
   * plainFrom[i]: 1 when, for every token under node i, the bytes from node i's own byte to the token's end are
   * whole UTF-8 characters none of which is '"', '\\' or a control character (< 0x20) — text a JSON string can
   * take as it is, whatever came before.
   */
  readonly plainFrom: Uint8Array;
  /** Token ids (control and empty tokens left out), sorted by their bytes. */
  readonly ids: Int32Array;
  /** Longest token in bytes. */
  readonly maxDepth: number;
}

/** Largest vocabulary the trie accepts (matches the sampler's). */
const MAX_TRIE_VOCAB = 2 ** 30;
/** Longest token (bytes) the trie accepts: depth is a Uint16. */
const MAX_TOKEN_BYTES = 0xffff;

const cache = new WeakMap<TokenByteSource, TokenTrie>();

/** The trie of a tokenizer, built on first use and kept as long as the tokenizer lives. */
export function tokenTrieFor(source: TokenByteSource): TokenTrie {
  let trie = cache.get(source);
  if (trie === undefined) {
    trie = buildTokenTrie(source);
    cache.set(source, trie);
  }
  return trie;
}

/** Length of the UTF-8 character starting at bytes[k] if it is whole, well formed and plain JSON string text; 0 if not. */
function plainCharLength(bytes: Uint8Array, k: number): number {
  const b = bytes[k];
  if (b < 0x80) return b < 0x20 || b === 0x22 || b === 0x5c ? 0 : 1;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) n = 1;
  else if (b >= 0xe0 && b <= 0xef) {
    n = 2;
    if (b === 0xe0) lo = 0xa0;
    else if (b === 0xed) hi = 0x9f; // no UTF-16 surrogates
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 3;
    if (b === 0xf0) lo = 0x90;
    else if (b === 0xf4) hi = 0x8f; // nothing above U+10FFFF
  } else return 0;
  // n continuation bytes must follow: the first within [lo, hi], the rest within [0x80, 0xbf].
  if (k + n >= bytes.length) return 0;
  const c1 = bytes[k + 1];
  if (c1 < lo || c1 > hi) return 0;
  for (let j = 2; j <= n; j++) {
    const c = bytes[k + j];
    if (c < 0x80 || c > 0xbf) return 0;
  }
  return n + 1;
}

/** Smallest k such that bytes[k'..] is plain JSON string text for every k' >= k (bytes.length if none). */
function firstPlain(bytes: Uint8Array): number {
  // valid[k]: a plain character starts at k and everything after it is plain. The answer is one past the last k
  // where that fails, so that any position the automaton may reach from a plain string state is covered.
  const valid = new Uint8Array(bytes.length + 1);
  valid[bytes.length] = 1;
  let first = bytes.length;
  for (let k = bytes.length - 1; k >= 0; k--) {
    const n = plainCharLength(bytes, k);
    valid[k] = n > 0 && valid[k + n] === 1 ? 1 : 0;
  }
  for (let k = bytes.length - 1; k >= 0; k--) {
    if (valid[k] === 0) break;
    first = k;
  }
  return first;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i] - b[i];
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Builds the trie of every non-control, non-empty token. */
export function buildTokenTrie(source: TokenByteSource): TokenTrie {
  const vocabSize = source.vocabSize;
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > MAX_TRIE_VOCAB) throw new RangeError(`vocabSize ${vocabSize} out of range`);
  const bytesOf: Uint8Array[] = new Array<Uint8Array>(vocabSize);
  const kept: number[] = [];
  for (let id = 0; id < vocabSize; id++) {
    const b = source.tokenBytes(id);
    bytesOf[id] = b;
    if (b.length > 0 && b.length <= MAX_TOKEN_BYTES && !source.isControl(id)) kept.push(id);
  }
  kept.sort((x, y) => compareBytes(bytesOf[x], bytesOf[y]) || x - y);
  const ids = Int32Array.from(kept);
  const firstPlainOf = new Int32Array(ids.length);
  for (let j = 0; j < ids.length; j++) firstPlainOf[j] = firstPlain(bytesOf[ids[j]]);

  const byte: number[] = [0];
  const depth: number[] = [0];
  const end: number[] = [0];
  const tokStart: number[] = [0];
  const tokEnd: number[] = [ids.length];
  const ownEnd: number[] = [0];
  let maxDepth = 0;
  // Depth-first construction over sorted slices; an explicit stack keeps long tokens from deepening the JS stack.
  interface Frame { node: number; lo: number; hi: number; d: number; k: number }
  const stack: Frame[] = [{ node: 0, lo: 0, hi: ids.length, d: 0, k: -1 }];
  while (stack.length > 0) {
    const f = stack[stack.length - 1];
    if (f.k < 0) {
      let k = f.lo;
      while (k < f.hi && bytesOf[ids[k]].length === f.d) k++;
      ownEnd[f.node] = k - f.lo;
      f.k = k;
      if (f.d > maxDepth) maxDepth = f.d;
    }
    if (f.k >= f.hi) {
      end[f.node] = byte.length;
      stack.pop();
      continue;
    }
    const b = bytesOf[ids[f.k]][f.d];
    let j = f.k;
    while (j < f.hi && bytesOf[ids[j]][f.d] === b) j++;
    const child = byte.length;
    byte.push(b);
    depth.push(f.d + 1);
    end.push(0);
    tokStart.push(f.k);
    tokEnd.push(j);
    ownEnd.push(0);
    const lo = f.k;
    f.k = j;
    stack.push({ node: child, lo, hi: j, d: f.d + 1, k: -1 });
  }
  const nodeCount = byte.length;
  // plainFrom[i]: every token under i is plain from byte index depth[i] - 1 on.
  const plainFrom = new Uint8Array(nodeCount);
  for (let i = 1; i < nodeCount; i++) {
    const from = depth[i] - 1;
    let ok = 1;
    for (let j = tokStart[i]; j < tokEnd[i]; j++) {
      if (firstPlainOf[j] > from) {
        ok = 0;
        break;
      }
    }
    plainFrom[i] = ok;
  }
  return {
    vocabSize,
    nodeCount,
    byte: Uint8Array.from(byte),
    depth: Uint16Array.from(depth),
    end: Int32Array.from(end),
    tokStart: Int32Array.from(tokStart),
    tokEnd: Int32Array.from(tokEnd),
    ownEnd: Int32Array.from(ownEnd),
    plainFrom,
    ids,
    maxDepth,
  };
}
