// The reference backend's Tensor: a handle around a plain Float32Array, tagged with the backend that made it.

import type { Tensor } from '../backend.js';

export class RefTensor implements Tensor {
  readonly nElements: number;

  constructor(
    readonly owner: object,
    /** The floats themselves (ops read and write them in place). */
    readonly data: Float32Array,
  ) {
    this.nElements = data.length;
  }
}
