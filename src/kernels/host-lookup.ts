// Lookup-only weights (WeightInfo.lookupOnly): an untied token embedding kept in host memory by the wasm and webgpu
// backends, outside the memory their kernels address, with embed done on the host by formats/index.ts dequantizeRows
// (what the reference's embed uses).
//
// Why: a model with its own output.weight reads token_embd only for the rows of the step's tokens, yet the table is
// as large as the output matrix: 1 GiB of F16 for Llama3-8B-1.58 (128256 x 4096), 768 MiB for Falcon3's 131072 x
// 3072. In a wasm32 memory (4 GiB for the weights, the KV cache and the activations together) that was room for
// ~7,000 positions of KV cache lost, or a model that did not load at all; on a GPU it was device memory.
// Exactness: embed of any backend equals the reference's exactly (the conformance suite compares embed bit for bit), so
// rows dequantized here are the ones the backend's own embed kernel gives.

import { BitNetError } from '../errors.js';
import { TYPE_TRAITS } from '../formats/ggml-type.js';
import { dequantizeRows } from '../formats/index.js';
import type { Weight, WeightInfo } from './backend.js';
import { createRefWeight, prepareRefWeight, type RefWeight } from './reference/weights.js';

export class HostLookupWeight implements Weight {
  readonly info: WeightInfo;
  readonly rows: number;
  readonly cols: number;
  /** The tensor bytes as stored in the file, in host memory. */
  private readonly table: RefWeight;
  /** The id a backend's kernelCalls() counts for embed on this weight (`<backend prefix>.embed.<type>.host`). */
  readonly embedId: string;

  /** Validates `info` as the reference backend does (BitNetError otherwise) and allocates its bytes on the host. */
  constructor(
    /** The backend that made it: others refuse it. */
    readonly owner: object,
    info: WeightInfo,
    idPrefix: string,
  ) {
    this.table = createRefWeight(info);
    this.info = info;
    this.rows = this.table.rows;
    this.cols = this.table.cols;
    this.embedId = `${idPrefix}.embed.${TYPE_TRAITS[info.type].name.toLowerCase()}.host`;
  }

  /** The bytes the loader fills (createWeight's target). */
  get bytes(): Uint8Array {
    return this.table.bytes;
  }

  /** Checks the block scales as the reference does (BAD_TENSOR_DATA). */
  prepare(): void {
    prepareRefWeight(this.table);
  }

  /** out[t * cols ..] = row tokenIds[t], dequantized; prepared and ids checked first (BAD_ARGUMENT, nothing written). */
  rowsInto(out: Float32Array, tokenIds: ArrayLike<number>): void {
    if (!this.table.prepared) {
      throw new BitNetError('BAD_ARGUMENT', `embed: weight '${this.info.name}' is used before prepareWeight()`, { details: { op: 'embed', tensor: this.info.name } });
    }
    for (let t = 0; t < tokenIds.length; t++) {
      const id = tokenIds[t];
      if (!Number.isInteger(id) || id < 0 || id >= this.rows) {
        throw new BitNetError('BAD_ARGUMENT', `embed: token ${t} has id ${id}, expected an integer in [0, ${this.rows}) for '${this.info.name}'`, {
          details: { op: 'embed', index: t, actual: id, expected: this.rows },
        });
      }
    }
    for (let t = 0; t < tokenIds.length; t++) dequantizeRows(this.info.type, this.table.bytes, tokenIds[t], 1, this.cols, out, t * this.cols);
  }
}
