// Hand-made malformed GGUF buffers, each of which must be refused with the right BitNetError code.

import { describe, expect, it } from 'vitest';
import { BitNetError } from '../errors.js';
import type { BitNetErrorCode } from '../errors.js';
import { GgmlType } from '../formats/ggml-type.js';
import { bytesSource } from './byte-source.js';
import { MAX_TENSOR_NAME_BYTES } from './limits.js';
import { gv } from './metadata.js';
import { readGgufHeader } from './reader.js';
import { writeGguf } from './writer.js';

/** Writes GGUF fields by hand, with no validation, so any field can hold a wrong value. */
class Raw {
  private readonly out: number[] = [];
  u8(...vs: number[]): this {
    this.out.push(...vs);
    return this;
  }
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.out.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: number | bigint): this {
    let b = BigInt.asUintN(64, BigInt(v));
    for (let i = 0; i < 8; i++) {
      this.out.push(Number(b & 0xffn));
      b >>= 8n;
    }
    return this;
  }
  /** A string from raw bytes (possibly invalid UTF-8) with its u64 length. */
  strBytes(bytes: readonly number[], claimedLength: number | bigint = bytes.length): this {
    return this.u64(claimedLength).u8(...bytes);
  }
  str(s: string): this {
    return this.strBytes([...new TextEncoder().encode(s)]);
  }
  kvU32(key: string, v: number): this {
    return this.str(key).u32(4).u32(v);
  }
  tensor(name: string, dims: readonly (number | bigint)[], type: number, offset: number | bigint, nDims = dims.length): this {
    this.str(name).u32(nDims);
    for (const d of dims) this.u64(d);
    return this.u32(type).u64(offset);
  }
  get length(): number {
    return this.out.length;
  }
  /** Pads with zeros to a multiple of `alignment`, then appends `dataBytes` zero bytes. */
  finish(alignment = 32, dataBytes = 0): Uint8Array {
    while (this.out.length % alignment !== 0) this.out.push(0);
    for (let i = 0; i < dataBytes; i++) this.out.push(0);
    return Uint8Array.from(this.out);
  }
}

/** Magic, version and counts. */
function head(nTensors: number | bigint, nKv: number | bigint, version = 3): Raw {
  return new Raw().u8(0x47, 0x47, 0x55, 0x46).u32(version).u64(nTensors).u64(nKv);
}

async function codeOf(bytes: Uint8Array): Promise<BitNetErrorCode | 'ok'> {
  try {
    await readGgufHeader(bytesSource(bytes));
    return 'ok';
  } catch (e) {
    if (e instanceof BitNetError) return e.code;
    throw e;
  }
}

async function errorOf(bytes: Uint8Array): Promise<BitNetError> {
  try {
    await readGgufHeader(bytesSource(bytes));
  } catch (e) {
    if (e instanceof BitNetError) return e;
    throw e;
  }
  throw new Error('expected the header to be refused');
}

/** A small valid file using arrays, strings and two tensors. */
function smallValidFile(): Uint8Array {
  return writeGguf({
    metadata: [
      ['general.architecture', gv.str('bitnet')],
      ['n', gv.u32(3)],
      ['toks', gv.arrStr(['a', 'bc'])],
      ['scores', gv.arrF32([1, 2])],
      ['nest', gv.arrNested([gv.arrU8([1])])],
      ['big', gv.u64(5n)],
    ],
    tensors: [
      { name: 'w', dims: [4], type: GgmlType.F32, data: new Uint8Array(16).fill(1) },
      { name: 'v', dims: [2, 2], type: GgmlType.F16, data: new Uint8Array(8).fill(2) },
    ],
  });
}

describe('truncation', () => {
  it('refuses every prefix that cuts the header or a tensor, and accepts those that cut only trailing padding', async () => {
    const full = smallValidFile();
    const header = await readGgufHeader(bytesSource(full));
    const dataEnd = Math.max(...header.tensors.map((t) => t.byteOffset + t.byteSize));
    for (let n = 0; n < full.length; n++) {
      const code = await codeOf(full.subarray(0, n));
      if (n < header.headerBytes) expect(code, `prefix of ${n} bytes`).toBe('GGUF_TRUNCATED');
      else if (n < dataEnd) expect(code, `prefix of ${n} bytes`).toBe('GGUF_TENSOR_OUT_OF_BOUNDS');
      else expect(code, `prefix of ${n} bytes`).toBe('ok');
    }
  });

  it('names the field, offset and sizes in the message', async () => {
    const e = await errorOf(head(0, 1).str('key').u32(8).u64(100).u8(1, 2, 3).finish(1));
    expect(e.code).toBe('GGUF_TRUNCATED');
    expect(e.message).toContain("'key'");
    expect(e.details).toMatchObject({ needed: 100 });
  });
});

describe('malformed headers', () => {
  const cases: [string, () => Uint8Array, BitNetErrorCode][] = [
    ['bad magic', () => new Raw().u8(0x47, 0x47, 0x4d, 0x4c).u32(3).u64(0).u64(0).finish(), 'GGUF_BAD_MAGIC'],
    ['empty file', () => new Uint8Array(0), 'GGUF_TRUNCATED'],
    ['version 1', () => head(0, 0, 1).finish(), 'GGUF_UNSUPPORTED_VERSION'],
    ['version 99', () => head(0, 0, 99).finish(), 'GGUF_UNSUPPORTED_VERSION'],
    ['version 0', () => head(0, 0, 0).finish(), 'GGUF_UNSUPPORTED_VERSION'],
    ['big-endian version', () => head(0, 0, 0x03000000).finish(), 'GGUF_UNSUPPORTED_VERSION'],
    ['kv count 2^63', () => head(0, 2n ** 63n).finish(), 'GGUF_LIMIT_EXCEEDED'],
    ['kv count 2^64-1', () => head(0, -1n).finish(), 'GGUF_LIMIT_EXCEEDED'],
    ['tensor count 2^63', () => head(2n ** 63n, 0).finish(), 'GGUF_LIMIT_EXCEEDED'],
    ['kv count within limit but beyond the file', () => head(0, 1000).finish(), 'GGUF_TRUNCATED'],
    ['tensor count within limit but beyond the file', () => head(5000, 0).finish(), 'GGUF_TRUNCATED'],
    ['key length 2^63', () => head(0, 1).strBytes([0x61], 2n ** 63n).u32(4).u32(1).finish(), 'GGUF_LIMIT_EXCEEDED'],
    ['string value length 2^40', () => head(0, 1).str('k').u32(8).u64(2n ** 40n).finish(), 'GGUF_LIMIT_EXCEEDED'],
    ['string value longer than the file', () => head(0, 1).str('k').u32(8).u64(1000).u8(0x61).finish(), 'GGUF_TRUNCATED'],
    ['array count 2^62', () => head(0, 1).str('k').u32(9).u32(4).u64(2n ** 62n).finish(), 'GGUF_LIMIT_EXCEEDED'],
    ['array count within limit but beyond the file', () => head(0, 1).str('k').u32(9).u32(4).u64(10_000_000).finish(), 'GGUF_TRUNCATED'],
    ['string array count beyond the file', () => head(0, 1).str('k').u32(9).u32(8).u64(1_000_000).finish(), 'GGUF_TRUNCATED'],
    ['nested array count 2^60', () => head(0, 1).str('k').u32(9).u32(9).u64(1).u32(4).u64(2n ** 60n).finish(), 'GGUF_LIMIT_EXCEEDED'],
    [
      'arrays nested 9 deep',
      () => {
        const r = head(0, 1).str('k').u32(9);
        for (let i = 0; i < 8; i++) r.u32(9).u64(1);
        return r.u32(0).u64(1).u8(7).finish();
      },
      'GGUF_LIMIT_EXCEEDED',
    ],
    ['bad UTF-8 in a key (overlong)', () => head(0, 1).strBytes([0xc0, 0x80]).u32(4).u32(1).finish(), 'GGUF_BAD_STRING'],
    ['bad UTF-8 in a value (surrogate)', () => head(0, 1).str('k').u32(8).strBytes([0xed, 0xa0, 0x80]).finish(), 'GGUF_BAD_STRING'],
    ['bad UTF-8 in a string array (cut sequence)', () => head(0, 1).str('k').u32(9).u32(8).u64(2).str('ok').strBytes([0x61, 0xe4, 0xb8]).finish(), 'GGUF_BAD_STRING'],
    ['bad UTF-8 in a long value', () => head(0, 1).str('k').u32(8).strBytes([...new Array<number>(40).fill(0x61), 0xff]).finish(), 'GGUF_BAD_STRING'],
    ['bad UTF-8 in a tensor name', () => head(1, 0).strBytes([0xff]).u32(1).u64(8).u32(0).u64(0).finish(32, 32), 'GGUF_BAD_STRING'],
    ['empty key', () => head(0, 1).str('').u32(4).u32(1).finish(), 'GGUF_BAD_STRING'],
    ['unknown value type 13', () => head(0, 1).str('k').u32(13).u32(0).finish(), 'GGUF_BAD_VALUE_TYPE'],
    ['unknown value type 2^32-1', () => head(0, 1).str('k').u32(0xffffffff).u32(0).finish(), 'GGUF_BAD_VALUE_TYPE'],
    ['unknown array element type', () => head(0, 1).str('k').u32(9).u32(13).u64(1).u32(0).finish(), 'GGUF_BAD_VALUE_TYPE'],
    ['bool byte 2', () => head(0, 1).str('k').u32(7).u8(2).finish(), 'GGUF_BAD_VALUE_TYPE'],
    ['bool array byte 255', () => head(0, 1).str('k').u32(9).u32(7).u64(2).u8(1, 255).finish(), 'GGUF_BAD_VALUE_TYPE'],
    ['duplicate key', () => head(0, 2).kvU32('k', 1).kvU32('k', 2).finish(), 'GGUF_DUPLICATE_KEY'],
    ['alignment 0', () => head(0, 1).kvU32('general.alignment', 0).finish(), 'GGUF_BAD_ALIGNMENT'],
    ['alignment 3', () => head(0, 1).kvU32('general.alignment', 3).finish(), 'GGUF_BAD_ALIGNMENT'],
    ['alignment 2^31', () => head(0, 1).kvU32('general.alignment', 2 ** 31).finish(), 'GGUF_BAD_ALIGNMENT'],
    ['alignment as UINT64', () => head(0, 1).str('general.alignment').u32(10).u64(32).finish(), 'GGUF_BAD_ALIGNMENT'],
    ['alignment as INT32', () => head(0, 1).str('general.alignment').u32(5).u32(32).finish(), 'GGUF_BAD_ALIGNMENT'],
    ['alignment as STRING', () => head(0, 1).str('general.alignment').u32(8).str('32').finish(), 'GGUF_BAD_ALIGNMENT'],
    ['unknown tensor type 37', () => head(1, 0).tensor('t', [8], 37, 0).finish(32, 32), 'UNKNOWN_TENSOR_TYPE'],
    ['unknown tensor type 2^32-1', () => head(1, 0).tensor('t', [8], 0xffffffff, 0).finish(32, 32), 'UNKNOWN_TENSOR_TYPE'],
    ['n_dims 5', () => head(1, 0).tensor('t', [1, 1, 1, 1, 8], 0, 0).finish(32, 32), 'GGUF_BAD_TENSOR'],
    ['n_dims 2^32-1', () => head(1, 0).tensor('t', [8], 0, 0, 0xffffffff).finish(32, 32), 'GGUF_BAD_TENSOR'],
    ['zero dimension', () => head(1, 0).tensor('t', [8, 0], 0, 0).finish(32, 32), 'GGUF_BAD_TENSOR'],
    ['element count 2^64', () => head(1, 0).tensor('t', [2n ** 32n, 2n ** 32n], 0, 0).finish(32, 32), 'GGUF_LIMIT_EXCEEDED'],
    ['dimension 2^64-1', () => head(1, 0).tensor('t', [-1n], 0, 0).finish(32, 32), 'GGUF_LIMIT_EXCEEDED'],
    ['element count just over the limit', () => head(1, 0).tensor('t', [2 ** 20, 2 ** 20, 2], 24, 0).finish(32, 32), 'GGUF_LIMIT_EXCEEDED'],
    ['I2_S elements not a multiple of 4', () => head(1, 0).tensor('t', [6], GgmlType.I2_S, 0).finish(32, 64), 'BAD_TENSOR_SHAPE'],
    ['TQ2_0 row not a multiple of 256', () => head(1, 0).tensor('t', [100], GgmlType.TQ2_0, 0).finish(32, 96), 'BAD_TENSOR_SHAPE'],
    ['tensor name over the limit', () => head(1, 0).tensor('x'.repeat(MAX_TENSOR_NAME_BYTES + 1), [8], 0, 0).finish(32, 32), 'GGUF_LIMIT_EXCEEDED'],
    ['duplicate tensor', () => head(2, 0).tensor('t', [8], 0, 0).tensor('t', [8], 0, 32).finish(32, 64), 'GGUF_DUPLICATE_TENSOR'],
    ['misaligned offset', () => head(1, 0).tensor('t', [8], 0, 4).finish(32, 64), 'GGUF_MISALIGNED_TENSOR'],
    [
      'offset misaligned for a custom alignment',
      () => head(1, 1).kvU32('general.alignment', 64).tensor('t', [8], 0, 32).finish(64, 128),
      'GGUF_MISALIGNED_TENSOR',
    ],
    ['offset 2^40', () => head(1, 0).tensor('t', [8], 0, 2n ** 40n).finish(32, 32), 'GGUF_TENSOR_OUT_OF_BOUNDS'],
    ['offset 2^64-32', () => head(1, 0).tensor('t', [8], 0, -32n).finish(32, 32), 'GGUF_TENSOR_OUT_OF_BOUNDS'],
    ['data one byte short', () => head(1, 0).tensor('t', [8], 0, 0).finish(32, 31), 'GGUF_TENSOR_OUT_OF_BOUNDS'],
    ['second tensor past the end', () => head(2, 0).tensor('a', [8], 0, 0).tensor('b', [8], 0, 64).finish(32, 64), 'GGUF_TENSOR_OUT_OF_BOUNDS'],
    ['tensors at the same offset', () => head(2, 0).tensor('a', [8], 0, 0).tensor('b', [8], 0, 0).finish(32, 32), 'GGUF_TENSOR_OVERLAP'],
    ['tensor inside another', () => head(2, 0).tensor('a', [32], 0, 0).tensor('b', [8], 0, 32).finish(32, 128), 'GGUF_TENSOR_OVERLAP'],
    ['overlap out of order', () => head(2, 0).tensor('b', [8], 0, 64).tensor('a', [24], 0, 0).finish(32, 96), 'GGUF_TENSOR_OVERLAP'],
    ['I2_S tensor whose gap fits no flavor size', () => head(2, 0).tensor('a', [256], GgmlType.I2_S, 0).tensor('b', [8], 0, 32).finish(32, 128), 'GGUF_TENSOR_OVERLAP'],
    ['TL1 tensor sharing an offset', () => head(2, 0).tensor('a', [8], GgmlType.TL1, 0).tensor('b', [8], 0, 0).finish(32, 32), 'GGUF_TENSOR_OVERLAP'],
    ['TL1 tensor at the end of the file', () => head(1, 0).tensor('a', [8], GgmlType.TL1, 0).finish(32, 0), 'GGUF_TENSOR_OUT_OF_BOUNDS'],
  ];

  for (const [label, build, code] of cases) {
    it(`${label} -> ${code}`, async () => {
      expect(await codeOf(build())).toBe(code);
    });
  }

  it('accepts arrays nested 8 deep and a one-tensor file that fits exactly', async () => {
    const r = head(0, 1).str('k').u32(9);
    for (let i = 0; i < 7; i++) r.u32(9).u64(1);
    expect(await codeOf(r.u32(0).u64(1).u8(7).finish())).toBe('ok');
    expect(await codeOf(head(1, 0).tensor('t', [8], 0, 0).finish(32, 32))).toBe('ok');
    expect(await codeOf(head(2, 0).tensor('a', [8], 0, 32).tensor('b', [8], 0, 0).finish(32, 64))).toBe('ok');
  });

  it('messages name the tensors, offsets and sizes involved', async () => {
    const oob = await errorOf(head(1, 0).tensor('blk.0.ffn_up.weight', [8], 0, 0).finish(32, 31));
    expect(oob.message).toContain('blk.0.ffn_up.weight');
    expect(oob.details).toMatchObject({ tensor: 'blk.0.ffn_up.weight', size: 32, fileSize: oob.details.fileSize });
    expect(oob.message).toContain(String(oob.details.fileSize));
    const overlap = await errorOf(head(2, 0).tensor('first', [32], 0, 0).tensor('second', [8], 0, 32).finish(32, 128));
    expect(overlap.message).toContain('first');
    expect(overlap.message).toContain('second');
    const mis = await errorOf(head(1, 0).tensor('t', [8], 0, 4).finish(32, 64));
    expect(mis.details).toMatchObject({ tensor: 't', offset: 4, alignment: 32 });
    const dup = await errorOf(head(0, 2).kvU32('general.x', 1).kvU32('general.x', 2).finish());
    expect(dup.message).toContain('general.x');
  });

  it('refuses absurd array counts before allocating for them', async () => {
    // 50 x two arrays claiming 60M elements would need ~30 GB if allocated; heap and array buffers stay small.
    const before = process.memoryUsage();
    for (let i = 0; i < 50; i++) {
      expect(await codeOf(head(0, 1).str('k').u32(9).u32(8).u64(60_000_000).finish())).toMatch(/^GGUF_/);
      expect(await codeOf(head(0, 1).str('k').u32(9).u32(12).u64(60_000_000).finish())).toMatch(/^GGUF_/);
    }
    const after = process.memoryUsage();
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * 1024 * 1024);
  });
});
