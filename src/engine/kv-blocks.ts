// The block allocator of the paged KV pool (docs/next-shape.md sections 5-6): a free list, a reference count per
// block (sequences share blocks after a fork or a common prompt), and the prefix cache: full blocks registered under
// their token-content chain, so a later prompt with the same prefix reuses them instead of recomputing, and kept
// (unreferenced) in least-recently-used order until memory is needed. Backends only ever see block tables.

import { BitNetError } from '../errors.js';

/** One registered full block: its pool block and an id the next block's key chains on. */
interface CachedBlock {
  readonly key: string;
  readonly block: number;
  readonly id: number;
}

export interface KvBlockStats {
  readonly nBlocks: number;
  /** Blocks no sequence holds and no prefix cache entry keeps. */
  readonly free: number;
  /** Unreferenced blocks kept by the prefix cache (reclaimed least recently used first). */
  readonly cachedIdle: number;
  /** Blocks held by at least one sequence. */
  readonly used: number;
}

export class KvBlocks {
  private readonly refs: Int32Array;
  /** homed[b] = 1 once the backend gave block b memory (CPU pools take it on a block's first use: kv-growth.ts). */
  private readonly homed: Uint8Array;
  /**
   * While set, alloc hands out only blocks that have memory (free ones first, then idle cached ones): what the
   * scheduler retries with when the runtime refused to grow the pool.
   */
  homedOnly = false;
  private readonly freeList: number[] = [];
  /** Prefix cache: key -> entry; and block -> entry for the blocks registered. */
  private readonly byKey = new Map<string, CachedBlock>();
  private readonly byBlock = new Map<number, CachedBlock>();
  /** Registered blocks with no reference, oldest use first (Map keeps insertion order). */
  private readonly idle = new Map<number, CachedBlock>();
  private nextId = 1;
  private nextLineage = 1;

  constructor(
    readonly nBlocks: number,
    readonly blockSize: number,
  ) {
    this.refs = new Int32Array(nBlocks);
    this.homed = new Uint8Array(nBlocks);
    for (let b = nBlocks - 1; b >= 0; b--) this.freeList.push(b);
  }

  /**
   * The key of a full block of `tokens` following the block with chain id `parentId` (0: the first block). `lineage`
   * (0: none) marks a block whose K/V differ from a fresh run of its tokens (after a context shift: sequence-state.ts),
   * so it matches only blocks of the same lineage, never a fresh one.
   */
  static key(parentId: number, tokens: readonly number[], lineage = 0): string {
    return `${lineage === 0 ? '' : `L${lineage}/`}${parentId}:${tokens.join(',')}`;
  }

  /** A lineage id never given before (for KvBlocks.key). */
  newLineage(): number {
    return this.nextLineage++;
  }

  refCount(block: number): number {
    return this.refs[block];
  }

  stats(): KvBlockStats {
    let used = 0;
    for (let b = 0; b < this.nBlocks; b++) if (this.refs[b] > 0) used++;
    return { nBlocks: this.nBlocks, free: this.freeList.length, cachedIdle: this.idle.size, used };
  }

  /** Blocks an allocation could get now (free, or idle in the prefix cache). */
  available(): number {
    return this.freeList.length + this.idle.size;
  }

  /** Records that the blocks listed (entries < 0 skipped) have backend memory. */
  markHomed(blocks: ArrayLike<number>): void {
    for (let i = 0; i < blocks.length; i++) if (blocks[i] >= 0) this.homed[blocks[i]] = 1;
  }

  /** Records that the blocks listed lost their backend memory again (a growth the device refused later, undone). */
  unmarkHomed(blocks: ArrayLike<number>): void {
    for (let i = 0; i < blocks.length; i++) if (blocks[i] >= 0) this.homed[blocks[i]] = 0;
  }

  isHomed(block: number): boolean {
    return this.homed[block] === 1;
  }

  /** A block with reference count 1: a free one, else the least recently used idle cached one (evicted). */
  alloc(): number {
    if (this.homedOnly) {
      // the most recently freed blocks sit at the end of the free list: those are the ones with memory
      for (let i = this.freeList.length - 1; i >= 0; i--) {
        if (this.homed[this.freeList[i]] === 1) {
          const b = this.freeList.splice(i, 1)[0];
          this.refs[b] = 1;
          return b;
        }
      }
      const oldest = this.idle.values().next();
      if (oldest.done === true) {
        throw new BitNetError('KV_CACHE_FULL', `the runtime refused more KV memory and none of the ${this.nBlocks} blocks with memory is free (free sequences, or retry later)`, {
          details: { nBlocks: this.nBlocks, blockSize: this.blockSize, reason: 'memory' },
        });
      }
      this.unregister(oldest.value.block); // back on the free list, with its memory
      const b = this.freeList.pop() as number;
      this.refs[b] = 1;
      return b;
    }
    if (this.freeList.length === 0) {
      const oldest = this.idle.values().next();
      if (oldest.done === true) {
        throw new BitNetError('KV_CACHE_FULL', `the KV cache's ${this.nBlocks} blocks of ${this.blockSize} positions are all in use (raise kvMemory, or free sequences)`, {
          details: { nBlocks: this.nBlocks, blockSize: this.blockSize },
        });
      }
      this.unregister(oldest.value.block); // back on the free list
    }
    const b = this.freeList.pop() as number;
    this.refs[b] = 1;
    return b;
  }

  retain(block: number): void {
    if (this.refs[block] === 0) this.idle.delete(block);
    this.refs[block]++;
  }

  release(block: number): void {
    if (this.refs[block] <= 0) throw new BitNetError('INTERNAL', `KV block ${block} released more often than retained`);
    this.refs[block]--;
    if (this.refs[block] > 0) return;
    const entry = this.byBlock.get(block);
    if (entry === undefined) this.freeList.push(block);
    else this.idle.set(block, entry);
  }

  /** The cached block of `key`, retained for the caller, with its chain id; undefined on a miss. */
  lookup(key: string): { block: number; id: number } | undefined {
    const e = this.byKey.get(key);
    if (e === undefined) return undefined;
    this.retain(e.block);
    return { block: e.block, id: e.id };
  }

  /**
   * Registers a full block (held by the caller) under `key`; returns the chain id of the key's entry (an existing
   * entry keeps its block: the same content computed twice is cached once).
   */
  register(block: number, key: string): number {
    const existing = this.byKey.get(key);
    if (existing !== undefined) return existing.id;
    if (this.byBlock.has(block)) return (this.byBlock.get(block) as CachedBlock).id;
    const entry: CachedBlock = { key, block, id: this.nextId++ };
    this.byKey.set(key, entry);
    this.byBlock.set(block, entry);
    return entry.id;
  }

  /** Whether the block is in the prefix cache (its content must not change while it is). */
  isCached(block: number): boolean {
    return this.byBlock.has(block);
  }

  /** Drops the block's prefix cache entry (its content is about to change, or it is reclaimed). */
  unregister(block: number): void {
    const e = this.byBlock.get(block);
    if (e === undefined) return;
    this.byBlock.delete(block);
    this.byKey.delete(e.key);
    if (this.idle.delete(block)) this.freeList.push(block);
  }
}
