// Lazy memory of a paged KV pool (CPU backends): a pool promises nBlocks blocks (the KV budget) but takes memory for
// them only as blocks are first used, a chunk at a time, so a load reserves no KV memory and a short conversation
// never pays for a 4096-position context. Block ids stay what the engine chose; each block used gets a place in the
// backend's memory (a "home") that never moves, so block tables, reference counts and the prefix cache are unaffected.

import type { KvPool } from './backend.js';

/**
 * The most KV memory a pool grows by at once. Growth doubles what the pool holds (one block first) until a chunk
 * reaches this size, then goes on in chunks of it: a short conversation holds at most about twice what it uses, and
 * a long one grows once per ~200 positions of a 2B-4T model (1.2 MB per 16-position block), few memory.grow calls.
 */
export const KV_GROW_CHUNK_BYTES = 16 * 1024 * 1024;

/** Bytes one block of a pool takes: K and V, every layer. */
export function kvBlockBytes(pool: Pick<KvPool, 'nLayers' | 'kvDim' | 'blockSize'>): number {
  return 2 * 2 * pool.nLayers * pool.blockSize * pool.kvDim;
}

/** Which blocks of a pool have memory, and where (a backend-defined number: an index, a byte offset). */
export class KvHomes {
  /** home[block]: where the block's K and V live, -1 until the block is first used. */
  readonly home: Int32Array;
  /** Homes taken from memory but not given to a block yet (the rest of the last chunk). */
  private readonly spare: number[] = [];
  /** Blocks' worth of memory taken so far (homes given out plus spare): never more than nBlocks. */
  allocated = 0;

  constructor(
    readonly nBlocks: number,
    /** The most blocks one growth takes (>= 1). */
    private readonly chunkBlocks: number,
    /** Takes memory for `count` more blocks; returns their homes. Throws (nothing taken) when it cannot. */
    private readonly grow: (count: number) => number[],
  ) {
    this.home = new Int32Array(nBlocks).fill(-1);
  }

  /** The most blocks per growth for blocks of `blockBytes`: KV_GROW_CHUNK_BYTES worth, at least one. */
  static chunkBlocks(blockBytes: number): number {
    return Math.max(1, Math.floor(KV_GROW_CHUNK_BYTES / blockBytes));
  }

  /** The home of `block` (a block id of the pool, checked by the caller), taking memory on its first use. */
  ensure(block: number): number {
    const h = this.home[block];
    if (h >= 0) return h;
    if (this.spare.length === 0) {
      // every block gets a home at most once, so while a block lacks one, allocated < nBlocks
      let count = Math.min(Math.max(1, this.allocated), this.chunkBlocks, this.nBlocks - this.allocated);
      let homes: number[];
      try {
        homes = this.grow(count);
      } catch (e) {
        // a refused chunk: the one block needed now may still fit (near a memory limit); if not, the refusal stands
        if (count === 1) throw e;
        count = 1;
        homes = this.grow(1);
      }
      this.allocated += count;
      for (let i = homes.length - 1; i >= 0; i--) this.spare.push(homes[i]);
    }
    const given = this.spare.pop() as number;
    this.home[block] = given;
    return given;
  }

  /**
   * Gives back the memory of the growths since `allocated` blocks were held (a GPU learns that its device refused them
   * only later: kernels/webgpu/index.ts): `allocated` goes back to that count, and the blocks whose home `isNew` says
   * came from those growths lose it (they take memory again on their next use), as do the spare ones. Homes given
   * before stay.
   */
  rollback(allocated: number, isNew: (home: number) => boolean): void {
    for (let b = 0; b < this.nBlocks; b++) if (this.home[b] >= 0 && isNew(this.home[b])) this.home[b] = -1;
    const kept = this.spare.filter((h) => !isNew(h));
    this.spare.length = 0;
    this.spare.push(...kept);
    this.allocated = allocated;
  }

  /** ensure() for each block id in `blocks` (entries < 0, "no block", are skipped). */
  ensureAll(blocks: ArrayLike<number>): void {
    for (let i = 0; i < blocks.length; i++) if (blocks[i] >= 0) this.ensure(blocks[i]);
  }
}
