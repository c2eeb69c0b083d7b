// The reference paged KV pool: per layer, K and V as F16 bit patterns, blockSize positions per block, position-major
// within a block (a position's kvDim values together), like llama.cpp's default F16 cache. Memory grows as blocks are
// first used (kernels/kv-growth.ts): block b lives at row home[b] of each layer's planes, which grow a chunk at a time.

import { BitNetError } from '../../errors.js';
import type { KvPool } from '../backend.js';
import { BlockTables } from '../block-tables.js';
import { KvHomes, kvBlockBytes } from '../kv-growth.js';

export class RefKvPool implements KvPool {
  /** keys[layer][(home[block] * blockSize + slot) * kvDim + i], F16 bits (re-allocated larger as the pool grows). */
  readonly keys: Uint16Array[] = [];
  /** values[layer][(home[block] * blockSize + slot) * kvDim + i], F16 bits. */
  readonly values: Uint16Array[] = [];
  readonly tables: BlockTables;
  /** Where each used block sits in the planes (a block row index). */
  readonly homes: KvHomes;

  constructor(
    readonly nLayers: number,
    readonly kvDim: number,
    readonly headDim: number,
    readonly blockSize: number,
    readonly nBlocks: number,
  ) {
    for (let l = 0; l < nLayers; l++) {
      this.keys.push(new Uint16Array(0));
      this.values.push(new Uint16Array(0));
    }
    this.tables = new BlockTables(this);
    this.homes = new KvHomes(nBlocks, KvHomes.chunkBlocks(kvBlockBytes(this)), (count) => this.grow(count));
  }

  get allocatedBlocks(): number {
    return this.homes.allocated;
  }

  /** Planes `count` block rows longer (a copy: the reference backend is the readable oracle, not the fast one). */
  private grow(count: number): number[] {
    const first = this.homes.allocated;
    const values = (first + count) * this.blockSize * this.kvDim;
    // all planes first, then swapped in: a refused allocation (RangeError) leaves the pool as it was
    const bigger: Uint16Array[][] = [];
    try {
      for (let l = 0; l < this.nLayers; l++) bigger.push([new Uint16Array(values), new Uint16Array(values)]);
    } catch (e) {
      throw new BitNetError('KV_CACHE_FULL', `the KV cache could not grow by ${count} blocks beyond its ${first} of ${this.nBlocks}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
        details: { nBlocks: this.nBlocks, allocatedBlocks: first },
      });
    }
    for (let l = 0; l < this.nLayers; l++) {
      bigger[l][0].set(this.keys[l]);
      bigger[l][1].set(this.values[l]);
      this.keys[l] = bigger[l][0];
      this.values[l] = bigger[l][1];
    }
    return Array.from({ length: count }, (_, i) => first + i);
  }

  /** Index of the first value of position `pos` of slot `seq` in a layer's plane (the tables checked it). */
  at(seq: number, pos: number): number {
    return this.rowOf(this.tables.block(seq, pos)) * this.kvDim + (pos % this.blockSize) * this.kvDim;
  }

  /** Index of the first value of `block` in a layer's plane (setBlockTables / copyBlocks gave it memory). */
  blockAt(block: number): number {
    return this.rowOf(block) * this.kvDim;
  }

  private rowOf(block: number): number {
    return this.homes.home[block] * this.blockSize;
  }
}
