// Tests of the GGUF writer: exact byte layout, write->read equality, read->write byte identity, validation.

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GgmlType } from '../formats/ggml-type.js';
import { bytesSource } from './byte-source.js';
import { allTypesMetadata, pattern, sampleTensors } from './gguf-fixtures.suite.js';
import { gv } from './metadata.js';
import { readGgufHeader } from './reader.js';
import type { GgufValue } from './types.js';
import { encodeGgufHeader, headerToSpec, writeGguf, writeGgufFile } from './writer.js';
import type { GgufWriteSpec } from './writer.js';

/** Little-endian bytes of an unsigned integer of `width` bytes. */
function le(value: number, width: number): number[] {
  const out: number[] = [];
  let v = BigInt(value);
  for (let i = 0; i < width; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

async function rewrite(bytes: Uint8Array): Promise<Uint8Array> {
  const header = await readGgufHeader(bytesSource(bytes));
  return writeGguf(headerToSpec(header, (t) => bytes.subarray(t.byteOffset, t.byteOffset + t.byteSize)));
}

describe('writeGguf layout', () => {
  it('writes the byte layout of ggml docs/gguf.md exactly', () => {
    const data = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const bytes = writeGguf({
      metadata: [['a', gv.u32(7)]],
      tensors: [{ name: 't', dims: [2], type: GgmlType.F32, data }],
    });
    const expected = [
      ...[0x47, 0x47, 0x55, 0x46], // "GGUF"
      ...le(3, 4), // version
      ...le(1, 8), // tensor count
      ...le(1, 8), // kv count
      ...le(1, 8), 0x61, // key "a"
      ...le(4, 4), // UINT32
      ...le(7, 4), // value
      ...le(1, 8), 0x74, // tensor name "t"
      ...le(1, 4), // n_dims
      ...le(2, 8), // ne[0]
      ...le(0, 4), // F32
      ...le(0, 8), // relative offset
    ];
    expect(expected.length).toBe(74);
    const padded = [...expected, ...new Array<number>(96 - 74).fill(0), ...data, ...new Array<number>(24).fill(0)];
    expect([...bytes]).toEqual(padded);
    expect([...encodeGgufHeader({ metadata: [['a', gv.u32(7)]], tensors: [{ name: 't', dims: [2], type: GgmlType.F32, data }] })]).toEqual(
      padded.slice(0, 96),
    );
  });

  it('encodes strings, bools, arrays and nested arrays as specified', () => {
    const bytes = writeGguf({
      version: 2,
      metadata: [
        ['s', gv.str('é')],
        ['b', gv.bool(true)],
        ['n', gv.arrNested([gv.arrU16([258])])],
      ],
      tensors: [],
    });
    const expected = [
      ...[0x47, 0x47, 0x55, 0x46],
      ...le(2, 4),
      ...le(0, 8),
      ...le(3, 8),
      ...le(1, 8), 0x73, ...le(8, 4), ...le(2, 8), 0xc3, 0xa9, // "s": STRING "é"
      ...le(1, 8), 0x62, ...le(7, 4), 1, // "b": BOOL true
      ...le(1, 8), 0x6e, ...le(9, 4), ...le(9, 4), ...le(1, 8), ...le(2, 4), ...le(1, 8), 2, 1, // "n": [[258 as u16]]
    ];
    expect([...bytes.subarray(0, expected.length)]).toEqual(expected);
    expect(bytes.length % 32).toBe(0);
    expect(bytes.subarray(expected.length).every((b) => b === 0)).toBe(true);
  });

  it('pads between tensors with zero bytes and aligns every offset', async () => {
    const bytes = writeGguf({ alignment: 64, metadata: allTypesMetadata(), tensors: sampleTensors() });
    const header = await readGgufHeader(bytesSource(bytes));
    const covered = new Uint8Array(bytes.length);
    covered.fill(1, 0, header.headerBytes);
    for (const t of header.tensors) {
      expect(t.byteOffset % 64).toBe(0);
      covered.fill(1, t.byteOffset, t.byteOffset + t.byteSize);
    }
    for (let i = 0; i < bytes.length; i++) if (covered[i] === 0) expect(bytes[i], `byte ${i}`).toBe(0);
    expect(bytes.length % 64).toBe(0);
  });
});

describe('general.alignment', () => {
  const keys = async (spec: GgufWriteSpec): Promise<[string, GgufValue][]> => [...(await readGgufHeader(bytesSource(writeGguf(spec)))).metadata];

  it('is not added for the default alignment', async () => {
    expect((await keys({ alignment: 32, metadata: [], tensors: [] })).map(([k]) => k)).toEqual([]);
  });
  it('is added (UINT32) when the alignment differs from 32 and the key is absent', async () => {
    expect(await keys({ alignment: 128, metadata: [['x', gv.u8(1)]], tensors: [] })).toEqual([
      ['x', gv.u8(1)],
      ['general.alignment', gv.u32(128)],
    ]);
  });
  it('is kept where the metadata puts it and sets the alignment', async () => {
    const spec: GgufWriteSpec = { metadata: [['general.alignment', gv.u32(16)], ['x', gv.u8(1)]], tensors: sampleTensors() };
    const header = await readGgufHeader(bytesSource(writeGguf(spec)));
    expect(header.alignment).toBe(16);
    expect([...header.metadata.keys()]).toEqual(['general.alignment', 'x']);
  });
  it('refuses a spec alignment that contradicts the metadata, or a bad one', () => {
    expect(() => writeGguf({ alignment: 64, metadata: [['general.alignment', gv.u32(16)]], tensors: [] })).toThrow(
      expect.objectContaining({ code: 'GGUF_WRITE_INVALID' }),
    );
    for (const alignment of [0, 3, 48, 2 ** 21]) {
      expect(() => writeGguf({ alignment, metadata: [], tensors: [] })).toThrow(expect.objectContaining({ code: 'GGUF_WRITE_INVALID' }));
    }
    expect(() => writeGguf({ metadata: [['general.alignment', gv.u64(32)]], tensors: [] })).toThrow(
      expect.objectContaining({ code: 'GGUF_WRITE_INVALID' }),
    );
  });
});

describe('round trips', () => {
  const specs: [string, GgufWriteSpec][] = [
    ['v3, every value type', { metadata: allTypesMetadata(), tensors: sampleTensors() }],
    ['v2', { version: 2, metadata: allTypesMetadata(), tensors: sampleTensors() }],
    ['alignment 1', { alignment: 1, metadata: allTypesMetadata(), tensors: sampleTensors() }],
    ['alignment 256', { alignment: 256, metadata: allTypesMetadata(), tensors: sampleTensors() }],
    ['empty', { metadata: [], tensors: [] }],
    [
      'TL1/TL2 tensors',
      {
        metadata: [['general.architecture', gv.str('bitnet')]],
        tensors: [
          { name: 'a', dims: [64, 2], type: GgmlType.TL2, data: pattern(40, 7) },
          { name: 'b', dims: [3], type: GgmlType.F32, data: pattern(12, 8) },
          { name: 'c', dims: [64], type: GgmlType.TL1, data: pattern(64, 9) },
        ],
      },
    ],
  ];

  for (const [label, spec] of specs) {
    it(`write -> read gives back the spec (${label})`, async () => {
      const bytes = writeGguf(spec);
      const header = await readGgufHeader(bytesSource(bytes));
      expect(header.version).toBe(spec.version ?? 3);
      const written = [...spec.metadata];
      for (const [k, v] of written) expect(header.metadata.get(k), k).toEqual(v);
      expect(header.tensors.length).toBe(spec.tensors.length);
      spec.tensors.forEach((t, i) => {
        const info = header.tensors[i];
        expect(info.name).toBe(t.name);
        expect(info.dims).toEqual(t.dims);
        expect(info.type).toBe(t.type);
        const data = t.data instanceof Uint8Array ? t.data : new Uint8Array(0);
        // TL sizes are inferred from the layout, so they include the padding up to the next tensor.
        expect(bytes.subarray(info.byteOffset, info.byteOffset + data.length)).toEqual(data);
      });
    });

    it(`read -> write is byte-identical (${label})`, async () => {
      const bytes = writeGguf(spec);
      const again = await rewrite(bytes);
      expect(again.length).toBe(bytes.length);
      expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
    });
  }
});

describe('writeGgufFile', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bitnet-gguf-w-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('streams the same bytes as writeGguf, producing lazy data one tensor at a time', async () => {
    const tensors = sampleTensors();
    const produced: string[] = [];
    const lazy = tensors.map((t) => ({
      ...t,
      data: async (): Promise<Uint8Array> => {
        produced.push(t.name);
        await new Promise((r) => setTimeout(r, 1));
        return t.data as Uint8Array;
      },
    }));
    const path = join(dir, 'lazy.gguf');
    await writeGgufFile(path, { metadata: allTypesMetadata(), tensors: lazy });
    expect(produced).toEqual(tensors.map((t) => t.name));
    const onDisk = await readFile(path);
    expect(onDisk.equals(Buffer.from(writeGguf({ metadata: allTypesMetadata(), tensors })))).toBe(true);
  });

  it('removes the partial file when a tensor has the wrong size', async () => {
    const path = join(dir, 'bad.gguf');
    const tensors = sampleTensors();
    const bad = [...tensors.slice(0, 2), { ...tensors[2], data: () => new Uint8Array(5) }];
    await expect(writeGgufFile(path, { metadata: [], tensors: bad })).rejects.toMatchObject({ code: 'GGUF_WRITE_INVALID' });
    await expect(stat(path)).rejects.toThrow();
  });
});

describe('writer validation', () => {
  const ok = sampleTensors();
  const cases: [string, () => unknown][] = [
    ['data length mismatch', () => writeGguf({ metadata: [], tensors: [{ ...ok[0], data: new Uint8Array(47) }] })],
    ['async data in writeGguf', () => writeGguf({ metadata: [], tensors: [{ ...ok[0], data: () => Promise.resolve(new Uint8Array(48)) as unknown as Uint8Array }] })],
    ['duplicate tensor', () => writeGguf({ metadata: [], tensors: [ok[0], ok[0]] })],
    ['duplicate key', () => writeGguf({ metadata: [['k', gv.u8(1)], ['k', gv.u8(2)]], tensors: [] })],
    ['empty key', () => writeGguf({ metadata: [['', gv.u8(1)]], tensors: [] })],
    ['no dims', () => writeGguf({ metadata: [], tensors: [{ ...ok[0], dims: [] }] })],
    ['5 dims', () => writeGguf({ metadata: [], tensors: [{ ...ok[0], dims: [1, 1, 1, 1, 48] }] })],
    ['zero dim', () => writeGguf({ metadata: [], tensors: [{ ...ok[0], dims: [0, 12] }] })],
    ['row not a multiple of the block', () => writeGguf({ metadata: [], tensors: [{ name: 'x', dims: [100], type: GgmlType.TQ2_0, data: new Uint8Array(66) }] })],
    ['unknown type', () => writeGguf({ metadata: [], tensors: [{ ...ok[0], type: 99 as GgmlType }] })],
    ['TL1 with lazy data and no byteSize', () => writeGguf({ metadata: [], tensors: [{ name: 'x', dims: [4], type: GgmlType.TL1, data: () => new Uint8Array(4) }] })],
    ['lone surrogate', () => writeGguf({ metadata: [['k', gv.str('a\uD800b')]], tensors: [] })],
    ['u8 out of range', () => writeGguf({ metadata: [['k', { type: 0, value: 256 }]], tensors: [] })],
    ['i32 not an integer', () => writeGguf({ metadata: [['k', { type: 5, value: 1.5 }]], tensors: [] })],
    ['u64 negative', () => writeGguf({ metadata: [['k', { type: 10, value: -1n }]], tensors: [] })],
    ['typed array of the wrong class', () => writeGguf({ metadata: [['k', { type: 9, elementType: 4, value: new Int32Array(1) as unknown as Uint32Array }]], tensors: [] })],
    ['version 1', () => writeGguf({ version: 1 as 3, metadata: [], tensors: [] })],
    ['array over the element limit', () => writeGguf({ metadata: [['k', { type: 9, elementType: 8, value: { length: 2 ** 27 } as unknown as string[] }]], tensors: [] })],
    ['nesting too deep', () => {
      let a = gv.arrU8([1]);
      for (let i = 0; i < 8; i++) a = gv.arrNested([a]);
      return writeGguf({ metadata: [['k', a]], tensors: [] });
    }],
  ];
  for (const [label, f] of cases) {
    it(`refuses ${label} with GGUF_WRITE_INVALID`, () => {
      expect(f).toThrow(expect.objectContaining({ code: 'GGUF_WRITE_INVALID' }));
    });
  }

  it('accepts the deepest allowed nesting and a lone-surrogate-free astral string', () => {
    let a = gv.arrU8([1]);
    for (let i = 0; i < 7; i++) a = gv.arrNested([a]);
    expect(() => writeGguf({ metadata: [['k', a], ['s', gv.str('\u{1F600}')]], tensors: [] })).not.toThrow();
  });
});
