// Hostile GGUF files: absurd counts, dimensions and lengths, memory amplification, tensors overlapping or past the end.
// Each is refused with a clear BitNetError code before anything large is allocated or read.

import { describe, expect, it } from 'vitest';
import { BitNet } from '../../src/engine/bitnet.js';
import { BitNetError } from '../../src/errors.js';
import { GgmlType } from '../../src/formats/ggml-type.js';
import { bytesSource } from '../../src/gguf/byte-source.js';
import { DEFAULT_MAX_HEADER_BYTES, MAX_ARRAY_ELEMENTS, MAX_NESTED_ARRAYS, MAX_TENSOR_COUNT } from '../../src/gguf/limits.js';
import { readGgufHeader } from '../../src/gguf/reader.js';
import type { ByteSource } from '../../src/gguf/types.js';
import { RawGguf } from './raw-gguf.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof BitNetError ? e.code : `not a BitNetError: ${String(e)}`;
  }
}

const parse = (bytes: Uint8Array): Promise<string> => codeOf(readGgufHeader(bytesSource(bytes)));

/** A file of `size` bytes that starts with `head` and is zeros after it; records the largest single read. */
function sparse(head: Uint8Array, size: number): ByteSource & { largestRead: number; totalRead: number } {
  const src = {
    size,
    name: 'sparse',
    largestRead: 0,
    totalRead: 0,
    read(position: number, dst: Uint8Array): Promise<void> {
      src.largestRead = Math.max(src.largestRead, dst.length);
      src.totalRead += dst.length;
      dst.fill(0);
      if (position < head.length) dst.set(head.subarray(position, Math.min(head.length, position + dst.length)));
      return Promise.resolve();
    },
  };
  return src;
}

function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('nested arrays (memory amplification)', () => {
  /** One metadata key holding `count` empty UINT8 arrays (12 bytes each in the file). */
  const nested = (count: number): Uint8Array => {
    const raw = new RawGguf().head(0, 1).arrayKv('nest', 9, count);
    for (let i = 0; i < count; i++) raw.u32(0).u64(0);
    return raw.bytes();
  };

  // Found with the gguf-header fuzz target's memory guard: each inner array costs ~250 bytes of JS objects for 12
  // bytes of file, so a 256 MB file of empty inner arrays (within the header limit) asked for ~5 GB and killed the process.
  it(`more than ${MAX_NESTED_ARRAYS} nested arrays are GGUF_LIMIT_EXCEEDED, before they are built`, async () => {
    const before = heapBytes();
    expect(await parse(nested(MAX_NESTED_ARRAYS + 1))).toBe('GGUF_LIMIT_EXCEEDED');
    expect(heapBytes() - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('the limit counts inner arrays over the whole file, not per array', async () => {
    const raw = new RawGguf().head(0, 2);
    for (const key of ['a', 'b']) {
      raw.arrayKv(key, 9, MAX_NESTED_ARRAYS / 2 + 1);
      for (let i = 0; i < MAX_NESTED_ARRAYS / 2 + 1; i++) raw.u32(0).u64(0);
    }
    expect(await parse(raw.bytes())).toBe('GGUF_LIMIT_EXCEEDED');
  });

  it(`${MAX_NESTED_ARRAYS} nested arrays still parse`, async () => {
    const header = await readGgufHeader(bytesSource(nested(MAX_NESTED_ARRAYS)));
    const v = header.metadata.get('nest');
    expect(v?.type === 9 && v.elementType === 9 ? v.value.length : -1).toBe(MAX_NESTED_ARRAYS);
  });
});

describe('absurd counts and lengths', () => {
  it.each([
    ['tensor count 2^64-1', 'GGUF_LIMIT_EXCEEDED', new RawGguf().head(2n ** 64n - 1n, 0).bytes()],
    [`tensor count ${MAX_TENSOR_COUNT + 1}`, 'GGUF_LIMIT_EXCEEDED', new RawGguf().head(MAX_TENSOR_COUNT + 1, 0).bytes()],
    ['metadata count 2^40', 'GGUF_LIMIT_EXCEEDED', new RawGguf().head(0, 2 ** 40).bytes()],
    ['metadata count 1000 in a 64-byte file', 'GGUF_TRUNCATED', new RawGguf().head(0, 1000).bytes()],
    [`array of ${MAX_ARRAY_ELEMENTS + 1} elements`, 'GGUF_LIMIT_EXCEEDED', new RawGguf().head(0, 1).arrayKv('a', 0, MAX_ARRAY_ELEMENTS + 1).bytes()],
    ['array of 2^63 UINT64', 'GGUF_LIMIT_EXCEEDED', new RawGguf().head(0, 1).arrayKv('a', 10, 2n ** 63n).bytes()],
    ['array of 10^6 UINT64 in a 64-byte file', 'GGUF_TRUNCATED', new RawGguf().head(0, 1).arrayKv('a', 10, 1_000_000).bytes()],
    ['array of 10^6 strings in a 64-byte file', 'GGUF_TRUNCATED', new RawGguf().head(0, 1).arrayKv('a', 8, 1_000_000).bytes()],
    ['key of length 2^62', 'GGUF_LIMIT_EXCEEDED', new RawGguf().head(0, 1).u64(2n ** 62n).bytes(32, 32)],
    ['string value of length 2^40', 'GGUF_LIMIT_EXCEEDED', new RawGguf().head(0, 1).str('k').u32(8).u64(2 ** 40).bytes()],
    ['array element type 13', 'GGUF_BAD_VALUE_TYPE', new RawGguf().head(0, 1).arrayKv('a', 13, 1).bytes()],
    ['arrays nested 9 deep', 'GGUF_LIMIT_EXCEEDED', (() => {
      const r = new RawGguf().head(0, 1).arrayKv('a', 9, 1);
      for (let d = 0; d < 8; d++) r.u32(9).u64(1);
      return r.u32(0).u64(0).bytes();
    })()],
  ])('%s -> %s', async (_name, code, bytes) => {
    expect(await parse(bytes)).toBe(code);
  });

  it('a header claiming 512 MiB of array in a 1 TiB file is refused at the header limit, reading no more than it', async () => {
    const head = new RawGguf().head(0, 1).arrayKv('a', 10, 2 ** 26).bytes(1);
    const src = sparse(head, 2 ** 40);
    expect(await codeOf(readGgufHeader(src))).toBe('GGUF_LIMIT_EXCEEDED');
    expect(src.totalRead).toBeLessThanOrEqual(DEFAULT_MAX_HEADER_BYTES);
  });

  it('a 1 TiB file of zeros after a valid start is refused without reading more than one chunk', async () => {
    const head = new RawGguf().head(0, 1).bytes(1);
    const src = sparse(head, 2 ** 40);
    expect(await codeOf(readGgufHeader(src))).toBe('GGUF_BAD_STRING'); // the empty key
    expect(src.largestRead).toBeLessThanOrEqual(1 << 20);
  });
});

describe('absurd tensor dimensions', () => {
  const oneTensor = (dims: readonly (number | bigint)[], type: number = GgmlType.F32, offset: number | bigint = 0, dataBytes = 64): Uint8Array =>
    new RawGguf().head(1, 0).tensor('t', dims, type, offset).bytes(32, dataBytes);

  it.each([
    ['ne[0] = 2^41', 'GGUF_LIMIT_EXCEEDED', oneTensor([2 ** 41])],
    ['2^32 x 2^32 (the product overflows 2^53)', 'GGUF_LIMIT_EXCEEDED', oneTensor([2 ** 32, 2 ** 32])],
    ['ne[1] = 2^64-1', 'GGUF_LIMIT_EXCEEDED', oneTensor([16, 2n ** 64n - 1n])],
    ['a zero dimension', 'GGUF_BAD_TENSOR', oneTensor([16, 0])],
    ['five dimensions', 'GGUF_BAD_TENSOR', oneTensor([1, 1, 1, 1, 1])],
    ['zero dimensions: a one-element scalar, as gguf-py writes 0-d arrays (bitnet.cpp\'s TL1/TL2 `_scale` tensors)', 'ok', oneTensor([])],
    ['2^20 x 2^20 F32 (4 TiB) in a small file', 'GGUF_TENSOR_OUT_OF_BOUNDS', oneTensor([2 ** 20, 2 ** 20])],
    ['unknown type id 99', 'UNKNOWN_TENSOR_TYPE', oneTensor([16], 99)],
    ['TQ2_0 rows of 100', 'BAD_TENSOR_SHAPE', oneTensor([100], GgmlType.TQ2_0)],
    ['I2_S with 6 elements', 'BAD_TENSOR_SHAPE', oneTensor([6], GgmlType.I2_S)],
    ['an offset of 2^63', 'GGUF_TENSOR_OUT_OF_BOUNDS', oneTensor([16], GgmlType.F32, 2n ** 63n)],
    ['a misaligned offset', 'GGUF_MISALIGNED_TENSOR', oneTensor([4], GgmlType.F32, 4)],
  ])('%s -> %s', async (_name, code, bytes) => {
    expect(await parse(bytes)).toBe(code);
  });
});

describe('tensors overlapping or past the end', () => {
  it('two tensors sharing bytes -> GGUF_TENSOR_OVERLAP', async () => {
    const bytes = new RawGguf().head(2, 0).tensor('a', [64], GgmlType.F32, 0).tensor('b', [16], GgmlType.F32, 128).bytes(32, 512);
    expect(await parse(bytes)).toBe('GGUF_TENSOR_OVERLAP');
  });

  it('the same offset twice -> GGUF_TENSOR_OVERLAP', async () => {
    const bytes = new RawGguf().head(2, 0).tensor('a', [8], GgmlType.F32, 0).tensor('b', [8], GgmlType.F32, 0).bytes(32, 64);
    expect(await parse(bytes)).toBe('GGUF_TENSOR_OVERLAP');
  });

  it('a tensor that ends one byte past the end -> GGUF_TENSOR_OUT_OF_BOUNDS', async () => {
    const bytes = new RawGguf().head(1, 0).tensor('a', [16], GgmlType.F32, 0).bytes(32, 63);
    expect(await parse(bytes)).toBe('GGUF_TENSOR_OUT_OF_BOUNDS');
  });

  it('the engine reports the same code for such a file (never a crash)', async () => {
    const bytes = new RawGguf().head(2, 0).tensor('a', [64], GgmlType.F32, 0).tensor('b', [16], GgmlType.F32, 128).bytes(32, 512);
    expect(await codeOf(BitNet.load(bytes, { backend: 'reference' }))).toBe('GGUF_TENSOR_OVERLAP');
  });
});
