// One sequence's place in the paged KV cache: its tokens, the pool block of each blockSize positions, and the chain
// ids of its full blocks in the prefix cache. The operations keep the reference counts of engine/kv-blocks.ts right:
// a block is written only when this sequence holds it alone and the prefix cache does not list it (copy-on-write).

import { BitNetError } from '../errors.js';
import { KvBlocks } from './kv-blocks.js';
import { Mutex } from './mutex.js';

export class SeqState {
  /** Tokens whose K/V sit in the cache at positions 0..length-1. */
  tokens: number[] = [];
  /** blocks[i] holds positions i * blockSize ..; blocks.length = ceil(positions reserved / blockSize). */
  blocks: number[] = [];
  /** chainIds[i]: the prefix cache id of full block i (its key's entry), for the next block's key. */
  chainIds: number[] = [];
  /** Blocks from this index on never enter the prefix cache (a context shift made their K differ from a fresh run). */
  cacheLimit = Number.POSITIVE_INFINITY;
  freed = false;
  /** One generation at a time on a sequence. */
  readonly lock = new Mutex();

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

  /** Records tokens appended at the end (their K/V were written) and lists the blocks they filled in the prefix cache. */
  appended(tokens: readonly number[]): void {
    const bs = this.kv.blockSize;
    for (const t of tokens) this.tokens.push(t);
    for (let i = this.chainIds.length; (i + 1) * bs <= this.tokens.length && i < this.cacheLimit; i++) {
      const parent = i === 0 ? 0 : this.chainIds[i - 1];
      this.chainIds.push(this.kv.register(this.blocks[i], KvBlocks.key(parent, this.tokens.slice(i * bs, (i + 1) * bs))));
    }
  }

  /**
   * Extends the cached tokens with full blocks of `prompt` found in the prefix cache (the sequence must end on a
   * block boundary with all its blocks listed); returns how many tokens were taken. At most `limit` tokens in all.
   */
  takeCachedPrefix(prompt: readonly number[], limit: number): number {
    const bs = this.kv.blockSize;
    let taken = 0;
    while (this.tokens.length % bs === 0 && this.chainIds.length * bs === this.tokens.length && this.tokens.length + bs <= limit) {
      const i = this.blocks.length;
      if (i !== this.chainIds.length || i >= this.cacheLimit) break;
      const chunk = prompt.slice(i * bs, (i + 1) * bs);
      if (chunk.length < bs) break;
      const hit = this.kv.lookup(KvBlocks.key(i === 0 ? 0 : this.chainIds[i - 1], chunk));
      if (hit === undefined) break;
      this.blocks.push(hit.block);
      this.chainIds.push(hit.id);
      for (const t of chunk) this.tokens.push(t);
      taken += bs;
    }
    return taken;
  }

  /** A new state in `slot` sharing every block of this one (reference counts up). */
  fork(slot: number): SeqState {
    const s = new SeqState(slot, this.kv);
    s.tokens = [...this.tokens];
    s.blocks = [...this.blocks];
    s.chainIds = [...this.chainIds];
    s.cacheLimit = this.cacheLimit;
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
