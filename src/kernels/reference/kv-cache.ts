// The reference KV cache: per layer, K and V as F16 bit patterns [contextLength x kvDim], like llama.cpp's default F16 cache.

import type { KvCache } from '../backend.js';

export class RefKvCache implements KvCache {
  readonly nLayers: number;
  readonly contextLength: number;
  readonly kvDim: number;
  /** The head size attention must use, when the cache was created with one. */
  readonly headDim: number | undefined;
  /** keys[layer][pos * kvDim + i], F16 bits. */
  readonly keys: Uint16Array[];
  /** values[layer][pos * kvDim + i], F16 bits. */
  readonly values: Uint16Array[];

  constructor(nLayers: number, contextLength: number, kvDim: number, headDim?: number) {
    this.nLayers = nLayers;
    this.contextLength = contextLength;
    this.kvDim = kvDim;
    this.headDim = headDim;
    this.keys = [];
    this.values = [];
    for (let l = 0; l < nLayers; l++) {
      this.keys.push(new Uint16Array(contextLength * kvDim));
      this.values.push(new Uint16Array(contextLength * kvDim));
    }
  }
}
