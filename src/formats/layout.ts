// The shape of a block layout table (field, byte offset, byte length, meaning) shared by every formats/*.ts file.

import { BitNetError } from '../errors.js';

/** One field of a tensor block as stored on disk (little-endian). */
export interface LayoutField {
  readonly name: string;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly meaning: string;
}

/** The fields of one block in storage order. */
export type BlockLayout = readonly LayoutField[];

/**
 * Total bytes of a layout; throws INTERNAL when the fields leave a gap or overlap, so a test that
 * compares this with the format's block byte size checks the whole table (like ggml's static_asserts).
 */
export function layoutByteSize(layout: BlockLayout): number {
  let byteOffset = 0;
  for (const f of layout) {
    if (f.byteOffset !== byteOffset || f.byteLength <= 0) {
      throw new BitNetError('INTERNAL', `layout field '${f.name}': expected byte offset ${byteOffset} and a positive length, got offset ${f.byteOffset} length ${f.byteLength}`, {
        details: { field: f.name, expected: byteOffset, actual: f.byteOffset },
      });
    }
    byteOffset += f.byteLength;
  }
  return byteOffset;
}

/** Byte offset of the field called `name`; throws INTERNAL when the layout has no such field. */
export function fieldOffset(layout: BlockLayout, name: string): number {
  const field = layout.find((f) => f.name === name);
  if (field === undefined) throw new BitNetError('INTERNAL', `layout has no field '${name}'`, { details: { field: name } });
  return field.byteOffset;
}
