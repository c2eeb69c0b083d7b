// Tests of the GGUF reader: every value type, versions, alignment, chunked header reads, tensor data reads.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BitNetError, isBitNetError } from '../errors.js';
import { GgmlType } from '../formats/ggml-type.js';
import { bytesSource } from './byte-source.js';
import { HEADER_CHUNK_BYTES } from './limits.js';
import { allTypesMetadata, pattern, sampleTensors } from './gguf-fixtures.suite.js';
import { gv } from './metadata.js';
import { openGguf, readGgufHeader, readTensorData } from './reader.js';
import type { ByteSource } from './types.js';
import { writeGguf, writeGgufFile } from './writer.js';
import type { GgufWriteSpec } from './writer.js';

function sampleSpec(extra: Partial<GgufWriteSpec> = {}): GgufWriteSpec {
  return { metadata: allTypesMetadata(), tensors: sampleTensors(), ...extra };
}

/** A ByteSource that records every read. */
function recordingSource(bytes: Uint8Array): ByteSource & { reads: { position: number; length: number }[] } {
  const inner = bytesSource(bytes);
  const reads: { position: number; length: number }[] = [];
  return {
    size: inner.size,
    name: 'recording',
    reads,
    read(position: number, dst: Uint8Array): Promise<void> {
      reads.push({ position, length: dst.length });
      return inner.read(position, dst);
    },
  };
}

describe('readGgufHeader', () => {
  for (const version of [2, 3] as const) {
    it(`reads back every value type written as v${version}`, async () => {
      const bytes = writeGguf(sampleSpec({ version }));
      const header = await readGgufHeader(bytesSource(bytes));
      expect(header.version).toBe(version);
      expect([...header.metadata.keys()]).toEqual(allTypesMetadata().map(([k]) => k));
      for (const [key, value] of allTypesMetadata()) {
        expect(header.metadata.get(key), key).toEqual(value);
      }
      // Typed arrays come back as the exact typed-array class, aligned.
      const a = header.metadata.get('a.u64');
      expect(a?.type === 9 && a.value instanceof BigUint64Array).toBe(true);
      const f = header.metadata.get('a.f32');
      expect(f?.type === 9 && f.value instanceof Float32Array && f.value.byteOffset % 4 === 0).toBe(true);
      expect(Object.is((header.metadata.get('t.f32.neg0') as { value: number }).value, -0)).toBe(true);
    });
  }

  it('lays out tensors in order with aligned offsets and the right sizes', async () => {
    const tensors = sampleTensors();
    const bytes = writeGguf(sampleSpec());
    const header = await readGgufHeader(bytesSource(bytes));
    expect(header.alignment).toBe(32);
    expect(header.fileSize).toBe(bytes.length);
    expect(header.dataOffset % 32).toBe(0);
    expect(header.dataOffset).toBeGreaterThanOrEqual(header.headerBytes);
    expect(header.dataOffset - header.headerBytes).toBeLessThan(32);
    expect(header.tensors.map((t) => t.name)).toEqual(tensors.map((t) => t.name));
    const expectedSizes = [48, 132, 96, 10, 136];
    header.tensors.forEach((t, i) => {
      expect(t.dims).toEqual(tensors[i].dims);
      expect(t.type).toBe(tensors[i].type);
      expect(t.byteSize).toBe(expectedSizes[i]);
      expect(t.relativeOffset % 32).toBe(0);
      expect(t.byteOffset).toBe(header.dataOffset + t.relativeOffset);
      expect(t.nElements).toBe(tensors[i].dims.reduce((a, b) => a * b, 1));
      expect(bytes.subarray(t.byteOffset, t.byteOffset + t.byteSize)).toEqual(tensors[i].data);
    });
  });

  for (const alignment of [1, 8, 64, 4096]) {
    it(`honours a custom alignment of ${alignment}`, async () => {
      const bytes = writeGguf(sampleSpec({ alignment }));
      const header = await readGgufHeader(bytesSource(bytes));
      expect(header.alignment).toBe(alignment);
      expect(header.dataOffset % alignment).toBe(0);
      for (const t of header.tensors) expect(t.relativeOffset % alignment).toBe(0);
      expect(header.metadata.get('general.alignment')).toEqual(gv.u32(alignment));
    });
  }

  it('reads a file with no metadata and no tensors', async () => {
    const header = await readGgufHeader(bytesSource(writeGguf({ metadata: [], tensors: [] })));
    expect(header.metadata.size).toBe(0);
    expect(header.tensors).toEqual([]);
    expect(header.headerBytes).toBe(24);
  });

  it('parses a 128k-entry vocabulary well under a second, across chunk boundaries, without reading tensor data', async () => {
    const nVocab = 128_256;
    const tokens = Array.from({ length: nVocab }, (_, i) => (i % 7 === 0 ? `Ġtok${i}é` : `tok_${i}`));
    const scores = Float32Array.from({ length: nVocab }, (_, i) => -i / 3);
    const bigTensor = pattern(8 * HEADER_CHUNK_BYTES, 9);
    const bytes = writeGguf({
      metadata: [
        ['tokenizer.ggml.tokens', gv.arrStr(tokens)],
        ['tokenizer.ggml.scores', gv.arrF32(scores)],
        ['tokenizer.ggml.token_type', gv.arrI32(new Int32Array(nVocab).fill(1))],
      ],
      tensors: [{ name: 'big', dims: [bigTensor.length], type: GgmlType.I8, data: bigTensor }],
    });
    const src = recordingSource(bytes);
    const header = await readGgufHeader(src);
    const tok = header.metadata.get('tokenizer.ggml.tokens');
    expect(tok?.type === 9 && tok.elementType === 8 ? tok.value : []).toEqual(tokens);
    expect(header.metadata.get('tokenizer.ggml.scores')).toEqual(gv.arrF32(scores));
    expect(header.headerBytes).toBeGreaterThan(HEADER_CHUNK_BYTES); // the header spans several chunks
    const bytesRead = src.reads.reduce((s, r) => s + r.length, 0);
    expect(bytesRead).toBeLessThan(header.headerBytes + HEADER_CHUNK_BYTES + 1);
    expect(bytesRead).toBeLessThan(bytes.length - bigTensor.length / 2);
  });

  it('sizes an I2_S tensor by the flavor size its gap holds: x86/ARM n/4 + 32, qk256 n/4, bitnet32-f16 10 per 32', async () => {
    const n = 4096; // below 16 * (alignment + 32) elements two sizes can fit one gap: then x86 is taken
    for (const [byteSize, alignment] of [
      [n / 4 + 32, 32],
      [n / 4, 32],
      [(n / 32) * 10, 32],
      [n / 4, 64],
      [(n / 32) * 10, 64],
    ] as const) {
      const bytes = writeGguf({
        alignment,
        metadata: [],
        tensors: [
          { name: 'w', dims: [256, 16], type: GgmlType.I2_S, data: pattern(byteSize, 1), byteSize },
          { name: 'after', dims: [8], type: GgmlType.F32, data: pattern(32, 2) },
          { name: 'last', dims: [256, 16], type: GgmlType.I2_S, data: pattern(byteSize, 3), byteSize },
        ],
      });
      const header = await readGgufHeader(bytesSource(bytes));
      expect(header.tensors.map((t) => t.byteSize), `${byteSize} bytes, alignment ${alignment}`).toEqual([byteSize, 32, byteSize]);
    }
    // a size no flavor has is refused by the writer
    expect(() => writeGguf({ metadata: [], tensors: [{ name: 'w', dims: [1024], type: GgmlType.I2_S, data: pattern(300, 1), byteSize: 300 }] })).toThrow(/byteSize 300/);
  });

  it('reads n_dims 0 as a one-element scalar (gguf-py writes it for 0-d arrays)', async () => {
    const bytes = writeGguf({ metadata: [], tensors: [{ name: 's', dims: [], type: GgmlType.F32, data: new Uint8Array(new Float32Array([0.5]).buffer) }] });
    const header = await readGgufHeader(bytesSource(bytes));
    expect(header.tensors[0]).toMatchObject({ name: 's', dims: [], nElements: 1, byteSize: 4 });
  });

  it('infers TL1/TL2 sizes from the gap to the next tensor or the end of the file', async () => {
    const bytes = writeGguf({
      metadata: [],
      tensors: [
        { name: 'tl1', dims: [64, 4], type: GgmlType.TL1, data: pattern(96, 1) },
        { name: 'f', dims: [8], type: GgmlType.F32, data: pattern(32, 2) },
        { name: 'tl2', dims: [64], type: GgmlType.TL2, data: pattern(64, 3) },
      ],
    });
    const header = await readGgufHeader(bytesSource(bytes));
    expect(header.tensors.map((t) => t.byteSize)).toEqual([96, 32, 64]);
  });

  it('refuses a header longer than maxHeaderBytes with GGUF_LIMIT_EXCEEDED', async () => {
    const bytes = writeGguf({ metadata: [['k', gv.str('x'.repeat(5000))]], tensors: [] });
    await expect(readGgufHeader(bytesSource(bytes), { maxHeaderBytes: 1000 })).rejects.toMatchObject({ code: 'GGUF_LIMIT_EXCEEDED' });
    await expect(readGgufHeader(bytesSource(bytes), { maxHeaderBytes: 10_000 })).resolves.toBeDefined();
  });
});

describe('readTensorData', () => {
  it('fills exactly the caller-supplied subarray and leaves the bytes around it untouched', async () => {
    const tensors = sampleTensors();
    const bytes = writeGguf(sampleSpec());
    const src = bytesSource(bytes);
    const header = await readGgufHeader(src);
    for (const [i, t] of header.tensors.entries()) {
      const memory = new Uint8Array(t.byteSize + 200).fill(0xa5);
      const target = memory.subarray(77, 77 + t.byteSize);
      await readTensorData(src, t, target, { chunkBytes: 7 }); // small chunks exercise the chunk loop
      expect(target).toEqual(tensors[i].data);
      expect(memory.subarray(0, 77).every((b) => b === 0xa5)).toBe(true);
      expect(memory.subarray(77 + t.byteSize).every((b) => b === 0xa5)).toBe(true);
    }
  });

  it('reads big tensors in chunks straight into the target', async () => {
    const data = pattern(1000, 3);
    const bytes = writeGguf({ metadata: [], tensors: [{ name: 'x', dims: [1000], type: GgmlType.I8, data }] });
    const src = recordingSource(bytes);
    const header = await readGgufHeader(bytesSource(bytes));
    const target = new Uint8Array(1000);
    await readTensorData(src, header.tensors[0], target, { chunkBytes: 300 });
    expect(target).toEqual(data);
    expect(src.reads.map((r) => r.length)).toEqual([300, 300, 300, 100]);
  });

  it('refuses a target of the wrong size with BAD_ARGUMENT', async () => {
    const bytes = writeGguf(sampleSpec());
    const header = await readGgufHeader(bytesSource(bytes));
    const t = header.tensors[0];
    await expect(readTensorData(bytesSource(bytes), t, new Uint8Array(t.byteSize + 1))).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('refuses a tensor lying past the end of a (shorter) source', async () => {
    const bytes = writeGguf(sampleSpec());
    const header = await readGgufHeader(bytesSource(bytes));
    const last = header.tensors[header.tensors.length - 1];
    const short = bytesSource(bytes.subarray(0, last.byteOffset + 1));
    await expect(readTensorData(short, last, new Uint8Array(last.byteSize))).rejects.toMatchObject({ code: 'GGUF_TENSOR_OUT_OF_BOUNDS' });
  });
});

describe('openGguf', () => {
  let dir = '';
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('opens bytes, a Blob, a ByteSource and a file path alike', async () => {
    const bytes = writeGguf(sampleSpec());
    dir = await mkdtemp(join(tmpdir(), 'bitnet-gguf-'));
    const path = join(dir, 'm.gguf');
    await writeGgufFile(path, sampleSpec());
    const inputs = [bytes, new Blob([bytes]), bytesSource(bytes), path];
    for (const input of inputs) {
      const { source, header } = await openGguf(input);
      try {
        expect(header.tensors.length).toBe(5);
        const t = header.tensors[1];
        const target = new Uint8Array(t.byteSize);
        await readTensorData(source, t, target);
        expect(target).toEqual(sampleTensors()[1].data);
      } finally {
        await source.close?.();
      }
    }
  });

  it('answers a missing file with IO_ERROR and a non-GGUF file with GGUF_BAD_MAGIC', async () => {
    await expect(openGguf('/nonexistent/dir/model.gguf')).rejects.toMatchObject({ code: 'IO_ERROR' });
    const err = await openGguf(new TextEncoder().encode('{"not": "gguf"} padding padding')).catch((e: unknown) => e);
    expect(isBitNetError(err, 'GGUF_BAD_MAGIC')).toBe(true);
    expect((err as BitNetError).message).toContain('expected');
  });
});
