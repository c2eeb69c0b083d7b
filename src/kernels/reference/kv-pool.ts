// The reference paged KV pool: per layer, K and V as F16 bit patterns in nBlocks blocks of blockSize positions,
// position-major within a block (a position's kvDim values together), like llama.cpp's default F16 cache.

import type { KvPool } from '../backend.js';
import { BlockTables } from '../block-tables.js';

export class RefKvPool implements KvPool {
  /** keys[layer][(block * blockSize + slot) * kvDim + i], F16 bits. */
  readonly keys: Uint16Array[] = [];
  /** values[layer][(block * blockSize + slot) * kvDim + i], F16 bits. */
  readonly values: Uint16Array[] = [];
  readonly tables: BlockTables;

  constructor(
    readonly nLayers: number,
    readonly kvDim: number,
    readonly headDim: number,
    readonly blockSize: number,
    readonly nBlocks: number,
  ) {
    for (let l = 0; l < nLayers; l++) {
      this.keys.push(new Uint16Array(nBlocks * blockSize * kvDim));
      this.values.push(new Uint16Array(nBlocks * blockSize * kvDim));
    }
    this.tables = new BlockTables(this);
  }

  /** Index of the first value of position `pos` of slot `seq` in a layer's plane (the tables checked it). */
  at(seq: number, pos: number): number {
    return (this.tables.block(seq, pos) * this.blockSize + (pos % this.blockSize)) * this.kvDim;
  }
}
