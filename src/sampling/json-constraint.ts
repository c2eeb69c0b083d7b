// Constrained decoding for JSON: per step, the set of tokens whose bytes keep the JSON automaton alive (a mask for the sampler), cached per automaton state, with a token budget that forces the value to close in time.
//
// Mask of a state: walk the vocabulary's byte trie (token-trie.ts) through the automaton, skipping a subtree as
// soon as a byte is refused and taking a subtree whole when the automaton sits in a free string and every token
// below is plain string text. Masks are cached per interned state (the same state recurs: inside a string, after
// each member of an object, ...), so most steps cost a Map lookup.
//
// Budget forcing: every state knows the fewest bytes that complete the value. Every byte is a token in byte-level
// BPE and in SentencePiece with byte fallback, so a token whose end state needs at most R - 1 more bytes leaves a
// completion that fits the R - 1 tokens still allowed. A cached mask records the largest such need among its
// tokens; while the budget covers it the cached mask is used as is, otherwise the step gets a mask filtered to
// tokens that fit (or, when even the shortest completion no longer fits, to tokens that bring it closer).
// Starting from a budget that covers the shortest value, generation therefore always ends with a complete value.

import { BitNetError } from '../errors.js';
import { JsonAutomaton, type AutomatonState } from './json-automaton.js';
import { compileResponseFormat, type ResponseFormat } from './json-schema.js';
import { tokenTrieFor, type TokenByteSource, type TokenTrie } from './token-trie.js';

/** Which tokens the sampler may pick: `allow` lists them, `deny` lists the others (whichever list is shorter). */
export interface TokenMask {
  readonly mode: 'allow' | 'deny';
  readonly ids: Int32Array;
}

/** The constraint of one generation. */
export interface JsonConstraint {
  /** Tokens allowed next, when `remainingTokens` (>= 1, this one included) may still be generated. */
  mask(remainingTokens: number): TokenMask;
  /** Advances past a chosen token; BAD_ARGUMENT if the token is not allowed here. */
  accept(token: number): void;
  /** The text so far is a complete value: generation may end (end-of-generation tokens are allowed). */
  readonly complete: boolean;
  /** The value is complete and nothing may follow it: generation should end now. */
  readonly done: boolean;
  /** Fewest bytes that would complete the value from here (0 when complete). */
  readonly bytesToComplete: number;
}

/** Options for `createJsonConstraint`. */
export interface JsonConstraintOptions {
  /** Tokens that end generation (EOS, EOT, caller's stop tokens): allowed only where the value is complete. */
  readonly endTokens?: readonly number[];
}

/** Most token ids held by cached masks of one generation (4 bytes each): beyond it the cache starts over. */
export const MAX_MASK_CACHE_IDS = 4_000_000;

interface CachedMask {
  readonly mask: TokenMask;
  /** Largest completion need (bytes) among the allowed tokens' end states. */
  readonly maxAfter: number;
  readonly count: number;
}

/** Compiles `format` and returns a constraint over `tokens`' vocabulary. Throws BAD_ARGUMENT for unsupported schemas. */
export function createJsonConstraint(format: ResponseFormat, tokens: TokenByteSource, options: JsonConstraintOptions = {}): JsonConstraint {
  const root = compileResponseFormat(format);
  return new JsonConstraintImpl(new JsonAutomaton(root), tokenTrieFor(tokens), tokens, options.endTokens ?? []);
}

class JsonConstraintImpl implements JsonConstraint {
  private state: AutomatonState;
  private ended = false;
  private readonly cache = new Map<AutomatonState, CachedMask>();
  private cachedIds = 0;
  private readonly list: Int32Array;
  private readonly flags: Uint8Array;
  private readonly walkStack: (AutomatonState | null)[];
  private readonly endTokens: readonly number[];
  private readonly endSet: Set<number>;
  /** End tokens that the trie holds (ordinary text tokens the caller made stops): removed from masks where the value is incomplete. */
  private readonly walkableEnds: boolean;

  constructor(
    private readonly automaton: JsonAutomaton,
    private readonly trie: TokenTrie,
    private readonly tokens: TokenByteSource,
    endTokens: readonly number[],
  ) {
    this.state = automaton.start;
    this.list = new Int32Array(trie.vocabSize);
    this.flags = new Uint8Array(trie.vocabSize);
    this.walkStack = new Array<AutomatonState | null>(trie.maxDepth + 1).fill(null);
    for (const t of endTokens) {
      if (!Number.isInteger(t) || t < 0 || t >= trie.vocabSize) {
        throw new BitNetError('BAD_ARGUMENT', `end token id ${t} is outside the vocabulary [0, ${trie.vocabSize})`, { details: { token: t } });
      }
    }
    this.endTokens = [...new Set(endTokens)];
    this.endSet = new Set(this.endTokens);
    this.walkableEnds = this.endTokens.some((t) => !tokens.isControl(t) && tokens.tokenBytes(t).length > 0);
  }

  get complete(): boolean {
    return this.ended || this.automaton.accepting(this.state);
  }

  get done(): boolean {
    return this.ended || this.automaton.isFinal(this.state);
  }

  get bytesToComplete(): number {
    return this.ended ? 0 : this.automaton.minCompletion(this.state);
  }

  mask(remainingTokens: number): TokenMask {
    if (!Number.isInteger(remainingTokens) || remainingTokens < 1) {
      throw new BitNetError('BAD_ARGUMENT', `remainingTokens must be a positive integer, got ${remainingTokens}`, { details: { field: 'remainingTokens' } });
    }
    const s = this.state;
    let cached = this.cache.get(s);
    if (cached === undefined) {
      cached = this.compute(s, -1);
      if (this.cachedIds + cached.mask.ids.length > MAX_MASK_CACHE_IDS) {
        this.cache.clear();
        this.cachedIds = 0;
      }
      this.cache.set(s, cached);
      this.cachedIds += cached.mask.ids.length;
    }
    if (cached.count === 0) {
      throw new BitNetError('BAD_ARGUMENT', 'no token of this vocabulary continues the JSON text here (the vocabulary lacks a byte the format needs)', {
        details: { field: 'responseFormat' },
      });
    }
    if (remainingTokens - 1 >= cached.maxAfter) return cached.mask;
    const threshold = Math.max(remainingTokens - 1, this.automaton.minCompletion(s) - 1);
    const tight = this.compute(s, threshold);
    return tight.count > 0 ? tight.mask : cached.mask;
  }

  accept(token: number): void {
    if (this.ended) throw new BitNetError('BAD_ARGUMENT', `token ${token} after the end of the constrained value`, { details: { token } });
    if (this.endSet.has(token)) {
      if (!this.automaton.accepting(this.state)) {
        throw new BitNetError('BAD_ARGUMENT', `end token ${token} before the JSON value is complete`, { details: { token } });
      }
      this.ended = true;
      return;
    }
    if (this.tokens.isControl(token)) throw new BitNetError('BAD_ARGUMENT', `control token ${token} inside constrained JSON output`, { details: { token } });
    const next = this.automaton.walk(this.state, this.tokens.tokenBytes(token));
    if (next === null) throw new BitNetError('BAD_ARGUMENT', `token ${token} does not continue the JSON text`, { details: { token } });
    this.state = next;
  }

  /** The mask of `s`; with threshold >= 0, only tokens whose end state needs at most `threshold` more bytes. */
  private compute(s: AutomatonState, threshold: number): CachedMask {
    const { byte, depth, end, tokStart, tokEnd, ownEnd, plainFrom, ids, nodeCount } = this.trie;
    const automaton = this.automaton;
    const states = automaton.states;
    const list = this.list;
    const stack = this.walkStack;
    let count = 0;
    let maxAfter = 0;
    stack[0] = s;
    let i = 1;
    while (i < nodeCount) {
      const cur = stack[depth[i] - 1] as AutomatonState;
      if (cur.plainLoop && plainFrom[i] === 1) {
        // Every token below is plain string text: each ends in `cur` itself.
        const need = cur.minBytes >= 0 ? cur.minBytes : automaton.minCompletion(cur);
        if (threshold < 0 || need <= threshold) {
          for (let j = tokStart[i], e = tokEnd[i]; j < e; j++) list[count++] = ids[j];
          if (need > maxAfter) maxAfter = need;
        }
        i = end[i];
        continue;
      }
      // automaton.step, inlined: this loop runs once per trie node visited.
      let table = cur.next;
      if (table === undefined) table = cur.next = new Int32Array(256);
      const v = table[byte[i]];
      const nx = v > 0 ? states[v - 1] : v < 0 ? null : automaton.step(cur, byte[i]);
      if (nx === null) {
        i = end[i];
        continue;
      }
      stack[depth[i]] = nx;
      const own = ownEnd[i];
      if (own > 0) {
        const need = nx.minBytes >= 0 ? nx.minBytes : automaton.minCompletion(nx);
        if (threshold < 0 || need <= threshold) {
          for (let j = tokStart[i], e = j + own; j < e; j++) list[count++] = ids[j];
          if (need > maxAfter) maxAfter = need;
        }
      }
      i++;
    }
    if (this.walkableEnds) {
      let kept = 0;
      for (let j = 0; j < count; j++) if (!this.endSet.has(list[j])) list[kept++] = list[j];
      count = kept;
    }
    if (automaton.accepting(s)) for (const t of this.endTokens) list[count++] = t;
    return { mask: this.toMask(count), maxAfter, count };
  }

  /** list[0..count) (distinct ids) as the shorter of an allow list and a deny list. */
  private toMask(count: number): TokenMask {
    const vocabSize = this.trie.vocabSize;
    if (count <= vocabSize / 2) return { mode: 'allow', ids: this.list.slice(0, count) };
    const flags = this.flags;
    flags.fill(0);
    for (let j = 0; j < count; j++) flags[this.list[j]] = 1;
    const deny = new Int32Array(vocabSize - count);
    let k = 0;
    for (let id = 0; id < vocabSize; id++) if (flags[id] === 0) deny[k++] = id;
    return { mode: 'deny', ids: deny };
  }
}
