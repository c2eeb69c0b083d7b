// Finds non-finite values (NaN, +-Inf) in plain float tensors by their exponent bits, without decoding.

import { BitNetError } from '../errors.js';
import { GgmlType, TYPE_TRAITS } from './ggml-type.js';

/**
 * Index of the first NaN or infinite element of an F32, F16 or BF16 tensor's bytes, or -1 (also for
 * other types, whose scales the backends check when a weight is prepared). All-ones exponent = non-finite:
 * F32 0x7f800000, F16 0x7c00, BF16 0x7f80 (IEEE 754 binary32 / binary16 / bfloat16 layouts).
 */
export function firstNonFinite(type: GgmlType, bytes: Uint8Array): number {
  switch (type) {
    case GgmlType.F32:
      for (let i = 0, o = 0; o + 3 < bytes.length; i++, o += 4) if (((bytes[o + 3] & 0x7f) === 0x7f) && (bytes[o + 2] & 0x80) !== 0) return i;
      return -1;
    case GgmlType.F16: {
      // two values per aligned 32-bit word (little endian), then the exact element from the bytes
      let o = 0;
      if (bytes.byteOffset % 4 === 0) {
        const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
        // An all-ones exponent plus 0x0400 carries into the half's sign bit, and no half can carry into the other,
        // so one add and one mask test both halves; eight words per step with the test or'ed.
        const n = words.length;
        let w = 0;
        for (; w + 8 <= n; w += 8) {
          const hit =
            ((words[w] & 0x7c007c00) + 0x04000400) |
            ((words[w + 1] & 0x7c007c00) + 0x04000400) |
            ((words[w + 2] & 0x7c007c00) + 0x04000400) |
            ((words[w + 3] & 0x7c007c00) + 0x04000400) |
            ((words[w + 4] & 0x7c007c00) + 0x04000400) |
            ((words[w + 5] & 0x7c007c00) + 0x04000400) |
            ((words[w + 6] & 0x7c007c00) + 0x04000400) |
            ((words[w + 7] & 0x7c007c00) + 0x04000400);
          if ((hit & 0x80008000) !== 0) break; // the exact element is found bytewise below
        }
        o = w * 4;
      }
      for (; o + 1 < bytes.length; o += 2) if ((bytes[o + 1] & 0x7c) === 0x7c) return o / 2;
      return -1;
    }
    case GgmlType.BF16:
      for (let i = 0, o = 0; o + 1 < bytes.length; i++, o += 2) if ((bytes[o + 1] & 0x7f) === 0x7f && (bytes[o] & 0x80) !== 0) return i;
      return -1;
    default:
      return -1;
  }
}

/** Throws BAD_TENSOR_DATA naming the tensor and element when a float tensor holds NaN or Inf. */
export function requireFiniteFloats(type: GgmlType, bytes: Uint8Array, tensorName: string): void {
  const i = firstNonFinite(type, bytes);
  if (i >= 0) {
    throw new BitNetError('BAD_TENSOR_DATA', `tensor '${tensorName}' (${TYPE_TRAITS[type].name}) holds a non-finite value at element ${i}`, {
      details: { tensor: tensorName, element: i },
    });
  }
}
