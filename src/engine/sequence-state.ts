// One sequence's place in the paged KV cache: its tokens, the pool block of each blockSize positions, and the chain
// ids of its full blocks in the prefix cache. The operations keep the reference counts of engine/kv-blocks.ts right:
// a block is written only when this sequence holds it alone and the prefix cache does not list it (copy-on-write).

import { BitNetError } from '../errors.js';
import { ComputeLedger, type RunRecord } from './compute-ledger.js';
import { KvBlocks } from './kv-blocks.js';
import { Mutex } from './mutex.js';

export class SeqState {
  /** Tokens whose K/V sit in the cache at positions 0..length-1. */
  tokens: number[] = [];
  /** blocks[i] holds positions i * blockSize ..; blocks.length = ceil(positions reserved / blockSize). */
  blocks: number[] = [];
  /** chainIds[i]: the prefix cache id of full block i (its key's entry), for the next block's key. */
  chainIds: number[] = [];
  /**
   * Positions below this hold the K/V a fresh run of their tokens computes; from it on (after a context shift: kept keys
   * re-rotated, and every later token computed over a context a fresh run lacks) they do not, and their full blocks
   * enter the prefix cache under `lineage` only, so no fresh sequence is ever handed one.
   */
  freshUpTo = Number.POSITIVE_INFINITY;
  /**
   * Lineage of the non-fresh blocks (0 while all are fresh): a context shift starts one; forks share it. Within a
   * lineage the K/V of positions >= lineageFrom are a function of the tokens alone (computed by forward over the same
   * state at lineageFrom), so same lineage, chain and tokens mean the same block content.
   */
  lineage = 0;
  /** Positions the lineage started from (its state then is shared by every sequence of the lineage). */
  lineageFrom = 0;
  freed = false;
  /**
   * The most positions the generation running on this sequence may come to hold (its prompt plus maxTokens - 1, within
   * the context), set while it runs: the scheduler keeps free blocks for its growth up to there before it admits another
   * sequence (engine/scheduler.ts). Undefined while no generation runs (nothing to keep).
   */
  growTo: number | undefined = undefined;
  /** Tokens taken from the prefix cache so far (takeCachedPrefix): a generation counts what it did not compute. */
  cacheTaken = 0;
  /** One generation at a time on a sequence. */
  readonly lock = new Mutex();
  /** The steps and kernel calls this sequence's tokens took (its receipts). */
  readonly compute = new ComputeLedger();
  /** What the last generation that finished on this sequence did (its receipt); set by the model. */
  lastRun: RunRecord | undefined = undefined;

  constructor(
    /** Row of the block tables. */
    readonly slot: number,
    private readonly kv: KvBlocks,
  ) {}

  get blockSize(): number {
    return this.kv.blockSize;
  }

  /** Keeps the first n tokens; blocks past them go back to the allocator. */
  truncate(n: number): void {
    const bs = this.kv.blockSize;
    this.tokens.length = Math.min(n, this.tokens.length);
    if (this.tokens.length <= this.freshUpTo) {
      // only fresh positions left: whatever is computed next is what a fresh run computes
      this.freshUpTo = Number.POSITIVE_INFINITY;
      this.lineage = 0;
      this.lineageFrom = 0;
    } else if (this.tokens.length < this.lineageFrom) {
      // positions the lineage shares unchanged will be computed again, differently: a lineage of its own from here
      this.lineage = this.kv.newLineage();
      this.lineageFrom = this.tokens.length;
    }
    const keepBlocks = Math.ceil(this.tokens.length / bs);
    for (const b of this.blocks.splice(keepBlocks)) this.kv.release(b);
    this.chainIds.length = Math.min(this.chainIds.length, Math.floor(this.tokens.length / bs));
  }

  /**
   * Makes block i writable: allocated when missing; copied when shared (the pair (old, new) goes to `copies` for the
   * backend's copyBlocks); taken out of the prefix cache when listed there.
   */
  private writable(i: number, copies: number[]): void {
    if (i === this.blocks.length) {
      this.blocks.push(this.kv.alloc());
      return;
    }
    const b = this.blocks[i];
    if (this.kv.refCount(b) > 1) {
      const copy = this.kv.alloc();
      copies.push(b, copy);
      this.kv.release(b);
      this.blocks[i] = copy;
    } else if (this.kv.isCached(b)) {
      this.kv.unregister(b);
    }
    if (i < this.chainIds.length) this.chainIds.length = i;
  }

  /** Makes positions [from, to) writable (see `writable`); on KV_CACHE_FULL nothing this call allocated stays. */
  reserve(from: number, to: number, copies: number[]): void {
    const bs = this.kv.blockSize;
    const before = this.blocks.length;
    try {
      for (let i = Math.floor(from / bs); i < Math.ceil(to / bs); i++) this.writable(i, copies);
    } catch (e) {
      // undo: new blocks back. Copies made stay (a private copy is as good as the shared block): the caller must run
      // the pairs in `copies` whatever happens to its work.
      for (const b of this.blocks.splice(Math.max(before, Math.ceil(this.tokens.length / bs)))) this.kv.release(b);
      throw e;
    }
  }

  /**
   * After a context shift kept the first `keep` positions and moved the rest down (their keys re-rotated): positions from
   * `keep` on are no longer fresh, and the sequence starts a lineage of its own from its current length.
   */
  shifted(keep: number): void {
    this.freshUpTo = Math.min(this.freshUpTo, keep);
    this.lineage = this.kv.newLineage();
    this.lineageFrom = this.tokens.length;
  }

  /** The prefix cache key of full block i holding `tokens`, after the sequence's chain of blocks 0..i-1. */
  blockKey(i: number, tokens: readonly number[]): string {
    const bs = this.kv.blockSize;
    const parent = i === 0 ? 0 : this.chainIds[i - 1];
    return KvBlocks.key(parent, tokens, (i + 1) * bs <= this.freshUpTo ? 0 : this.lineage);
  }

  /** The block list before a reserve, for undoReserve. */
  blocksNow(): number[] {
    return [...this.blocks];
  }

  /**
   * Undoes a reserve made since `before` (blocksNow()): blocks allocated go back, copies made are dropped for the shared
   * blocks they replaced (the caller drops their pairs from its copy list, unrun). Blocks taken out of the prefix cache
   * stay out (their content is unchanged; only a cache entry is lost).
   */
  undoReserve(before: readonly number[]): void {
    for (let i = 0; i < this.blocks.length; i++) {
      if (i < before.length && this.blocks[i] === before[i]) continue;
      if (i < before.length) this.kv.retain(before[i]);
      this.kv.release(this.blocks[i]);
    }
    this.blocks = [...before];
  }

  /** Records tokens appended at the end (their K/V were written) and lists the blocks they filled in the prefix cache. */
  appended(tokens: readonly number[]): void {
    const bs = this.kv.blockSize;
    for (const t of tokens) this.tokens.push(t);
    for (let i = this.chainIds.length; (i + 1) * bs <= this.tokens.length; i++) {
      this.chainIds.push(this.kv.register(this.blocks[i], this.blockKey(i, this.tokens.slice(i * bs, (i + 1) * bs))));
    }
  }

  /**
   * Extends the cached tokens with full blocks of `following` (the tokens that come after this sequence's) found in
   * the prefix cache, at most `maxTake` tokens (the sequence must end on a block boundary with all its blocks listed);
   * returns how many tokens were taken.
   */
  takeCachedPrefix(following: readonly number[], maxTake: number): number {
    const bs = this.kv.blockSize;
    let taken = 0;
    while (this.tokens.length % bs === 0 && this.chainIds.length * bs === this.tokens.length && taken + bs <= Math.min(maxTake, following.length)) {
      const i = this.blocks.length;
      if (i !== this.chainIds.length) break;
      const chunk = following.slice(taken, taken + bs);
      const hit = this.kv.lookup(this.blockKey(i, chunk));
      if (hit === undefined) break;
      this.blocks.push(hit.block);
      this.chainIds.push(hit.id);
      for (const t of chunk) this.tokens.push(t);
      taken += bs;
    }
    this.cacheTaken += taken;
    return taken;
  }

  /**
   * Whether this sequence, at its current length, will register the full block `i` holding exactly `block` under
   * `key` once its work `pending` runs: it has not filled block i yet, its own tokens and `pending` cover block i with
   * the same tokens, and its key for them (its chain before i, its lineage) is `key`.
   */
  willFill(i: number, key: string, block: readonly number[], pending: readonly number[]): boolean {
    const bs = this.kv.blockSize;
    if (this.freed || this.chainIds.length !== i || this.blockKey(i, block) !== key) return false;
    const have = this.tokens.length;
    if (have + pending.length < (i + 1) * bs) return false;
    for (let j = 0; j < bs; j++) {
      const q = i * bs + j;
      if ((q < have ? this.tokens[q] : pending[q - have]) !== block[j]) return false;
    }
    return true;
  }

  /** A new state in `slot` sharing every block of this one (reference counts up). */
  fork(slot: number): SeqState {
    const s = new SeqState(slot, this.kv);
    s.tokens = [...this.tokens];
    s.blocks = [...this.blocks];
    s.chainIds = [...this.chainIds];
    s.freshUpTo = this.freshUpTo;
    s.lineage = this.lineage;
    s.lineageFrom = this.lineageFrom;
    for (const b of s.blocks) this.kv.retain(b);
    return s;
  }

  /** Returns every block; the state is unusable after. */
  free(): void {
    if (this.freed) return;
    this.truncate(0);
    this.freed = true;
  }

  checkLive(): void {
    if (this.freed) throw new BitNetError('DISPOSED', 'the sequence was freed');
  }
}
