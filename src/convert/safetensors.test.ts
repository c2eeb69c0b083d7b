// Safetensors header parsing: well-formed files round-trip; hostile headers (truncated, overlapping, huge, malformed)
// give BitNetErrors with codes naming the tensor and offsets, never a crash or a huge allocation.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { encodeSafetensors, f32Bytes } from '../../test/helpers/safetensors-writer.js';
import { memoryCheckpointSource, readSafetensorsHeader } from './checkpoint-source.js';
import { MAX_SAFETENSORS_HEADER_BYTES, parseSafetensorsHeader, safetensorsHeaderLength } from './safetensors.js';

/** A file from a literal header object and `dataBytes` bytes of data. */
function rawFile(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function parse(file: Uint8Array): ReturnType<typeof parseSafetensorsHeader> {
  const n = safetensorsHeaderLength(file.subarray(0, 8), file.length, 'x.safetensors');
  return parseSafetensorsHeader(file.subarray(8, 8 + n), file.length, 'x.safetensors');
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isBitNetError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'no error';
}

describe('safetensors headers', () => {
  it('reads dtype, shape, absolute offsets and __metadata__', async () => {
    const file = encodeSafetensors(
      [
        { name: 'a', dtype: 'F32', shape: [2, 3], data: f32Bytes([1, 2, 3, 4, 5, 6]) },
        { name: 'b', dtype: 'U8', shape: [5], data: Uint8Array.of(1, 2, 3, 4, 5) },
      ],
      { format: 'pt' },
    );
    const h = await readSafetensorsHeader(memoryCheckpointSource(new Map([['m.safetensors', file]])), 'm.safetensors');
    expect(h.dataOffset % 8).toBe(0);
    expect(h.metadata.get('format')).toBe('pt');
    expect(h.tensors.get('a')).toMatchObject({ dtype: 'F32', shape: [2, 3], nElements: 6, byteOffset: h.dataOffset, byteLength: 24 });
    expect(h.tensors.get('b')).toMatchObject({ byteOffset: h.dataOffset + 24, byteLength: 5 });
  });

  it('refuses a file shorter than the length prefix, and a header running past the end', () => {
    expect(codeOf(() => safetensorsHeaderLength(new Uint8Array(3), 3, 'x'))).toMatch(/^SAFETENSORS_TRUNCATED/);
    const file = rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4);
    expect(codeOf(() => parse(file.subarray(0, 20)))).toMatch(/^SAFETENSORS_TRUNCATED: x.safetensors: header of \d+ bytes runs past the end of the 20-byte file/);
  });

  it('refuses a header length over the limit without allocating it', () => {
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, 2n ** 63n, true);
    expect(codeOf(() => safetensorsHeaderLength(prefix, 2 ** 40, 'x'))).toMatch(/^SAFETENSORS_LIMIT_EXCEEDED.*exceeds the limit of 100000000/);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(MAX_SAFETENSORS_HEADER_BYTES + 1), true);
    expect(codeOf(() => safetensorsHeaderLength(prefix, 2 ** 40, 'x'))).toMatch(/^SAFETENSORS_LIMIT_EXCEEDED/);
  });

  it('refuses data past the end of the file (a truncated download) naming the tensor and offsets', () => {
    const file = rawFile({ w: { dtype: 'BF16', shape: [4, 4], data_offsets: [0, 32] } }, 16);
    expect(codeOf(() => parse(file))).toBe("SAFETENSORS_TENSOR_OUT_OF_BOUNDS: x.safetensors: tensor 'w': data_offsets [0, 32] run past the end of the 16-byte data buffer (file truncated?)");
  });

  it('refuses overlapping tensors', () => {
    const file = rawFile({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, 16);
    expect(codeOf(() => parse(file))).toMatch(/^SAFETENSORS_TENSOR_OVERLAP: .*tensor 'b' \(data bytes 8\.\.16\) overlaps 'a' \(data bytes 0\.\.16\)/);
  });

  it('refuses huge shapes, offsets that disagree with the shape, reversed offsets, unknown dtypes, bad JSON', () => {
    const cases: [unknown, RegExp][] = [
      [{ w: { dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2], data_offsets: [0, 4] } }, /^SAFETENSORS_LIMIT_EXCEEDED.*'w'/],
      [{ w: { dtype: 'F32', shape: [1, 2, 3, 4, 5, 6, 7, 8, 9], data_offsets: [0, 4] } }, /^SAFETENSORS_LIMIT_EXCEEDED.*9 dimensions/],
      [{ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, /^SAFETENSORS_BAD_HEADER.*'w'.*hold 8 bytes; F32 \[3\] needs 12/],
      [{ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, /^SAFETENSORS_TENSOR_OUT_OF_BOUNDS.*end 4 is before begin 8/],
      [{ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, /^SAFETENSORS_BAD_HEADER.*unknown dtype "Q4"/],
      [{ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, /^SAFETENSORS_BAD_HEADER.*shape entry -1/],
      [{ w: { dtype: 'F32', shape: [1], data_offsets: [0, 1e300] } }, /^SAFETENSORS_BAD_HEADER.*not non-negative integers/],
      [{ w: { dtype: 'F32', shape: [1] } }, /^SAFETENSORS_BAD_HEADER.*data_offsets/],
      [{ __metadata__: { a: 1 } }, /^SAFETENSORS_BAD_HEADER.*__metadata__/],
      [[1, 2], /^SAFETENSORS_BAD_HEADER: .*"?header (does not start|is not a JSON object)/],
    ];
    for (const [header, re] of cases) expect(codeOf(() => parse(rawFile(header, 64))), JSON.stringify(header)).toMatch(re);
    const junk = new Uint8Array(8 + 5 + 4);
    new DataView(junk.buffer).setBigUint64(0, 5n, true);
    junk.set(new TextEncoder().encode('{"a":'), 8);
    expect(codeOf(() => parse(junk))).toMatch(/^SAFETENSORS_BAD_HEADER.*not valid JSON/);
  });

  it('any bytes give a parsed header or a BitNetError (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(300), (body, declared) => {
        const file = new Uint8Array(8 + body.length);
        new DataView(file.buffer).setBigUint64(0, BigInt(declared), true);
        file.set(body, 8);
        try {
          parse(file);
        } catch (e) {
          if (!isBitNetError(e)) throw e;
        }
      }),
      { numRuns: 500 },
    );
  });
});
