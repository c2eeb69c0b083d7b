// Property tests: random bytes and random mutations of a valid file are either parsed consistently or refused
// with a BitNetError, never anything else, and always quickly.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitNetError } from '../errors.js';
import { GgmlType } from '../formats/ggml-type.js';
import { bytesSource } from './byte-source.js';
import { gv } from './metadata.js';
import { readGgufHeader, readTensorData } from './reader.js';
import type { GgufHeader } from './types.js';
import { headerToSpec, writeGguf } from './writer.js';


const base = writeGguf({
  metadata: [
    ['general.architecture', gv.str('bitnet-b1.58')],
    ['bitnet-b1.58.context_length', gv.u32(4096)],
    ['f', gv.f32(1e-5)],
    ['i', gv.i64(-3n)],
    ['b', gv.bool(true)],
    ['toks', gv.arrStr(['<s>', 'é', ''])],
    ['scores', gv.arrF32([0, -1.5])],
    ['types', gv.arrI32([1, 3])],
    ['nest', gv.arrNested([gv.arrU16([7]), gv.arrBool([false])])],
  ],
  tensors: [
    { name: 'a', dims: [8], type: GgmlType.F32, data: new Uint8Array(32).fill(3) },
    { name: 'q', dims: [256], type: GgmlType.TQ2_0, data: new Uint8Array(66).fill(5) },
    { name: 'i2', dims: [8], type: GgmlType.I2_S, data: new Uint8Array(34).fill(7) },
    { name: 'tl', dims: [16], type: GgmlType.TL1, data: new Uint8Array(8).fill(9) },
  ],
});

/** Parses `bytes`; returns the header, or undefined when refused with a BitNetError; rethrows anything else. */
async function parse(bytes: Uint8Array): Promise<GgufHeader | undefined> {
  // No timing assertion (speed is for benchmarks); a hang is caught by the test timeout.
  try {
    return await readGgufHeader(bytesSource(bytes));
  } catch (e) {
    if (!(e instanceof BitNetError)) throw new Error(`non-BitNetError thrown: ${String(e)}`, { cause: e });
    return undefined;
  }
}

/** When a header parses, its tensors are readable and it rewrites to a file that parses to the same header. */
async function checkAccepted(bytes: Uint8Array, header: GgufHeader): Promise<void> {
  const src = bytesSource(bytes);
  const ends: [number, number][] = [];
  for (const t of header.tensors) {
    expect(t.byteOffset + t.byteSize).toBeLessThanOrEqual(bytes.length);
    ends.push([t.byteOffset, t.byteOffset + t.byteSize]);
    await readTensorData(src, t, new Uint8Array(t.byteSize));
  }
  ends.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < ends.length; i++) expect(ends[i][0]).toBeGreaterThanOrEqual(ends[i - 1][1]);
  const again = writeGguf(headerToSpec(header, (t) => bytes.subarray(t.byteOffset, t.byteOffset + t.byteSize)));
  const reread = await readGgufHeader(bytesSource(again));
  expect([...reread.metadata]).toEqual([...header.metadata]);
  expect(reread.tensors.map((t) => [t.name, t.dims, t.type])).toEqual(header.tensors.map((t) => [t.name, t.dims, t.type]));
}

type Mutation =
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'u64'; at: number; value: bigint };

const interestingU64 = fc.oneof(
  fc.constantFrom(0n, 1n, 2n, 3n, 4n, 5n, 8n, 9n, 12n, 13n, 31n, 32n, 33n, 64n, 255n, 256n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('u64' as const), at: fc.nat(), value: interestingU64 }),
);

function applyMutation(bytes: Uint8Array, m: Mutation): Uint8Array {
  if (bytes.length === 0) return bytes;
  const at = m.at % bytes.length;
  switch (m.kind) {
    case 'flip': {
      const out = bytes.slice();
      out[at] = m.value;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, at);
    case 'insert': {
      const out = new Uint8Array(bytes.length + m.bytes.length);
      out.set(bytes.subarray(0, at));
      out.set(m.bytes, at);
      out.set(bytes.subarray(at), at + m.bytes.length);
      return out;
    }
    case 'delete': {
      const end = Math.min(bytes.length, at + m.n);
      const out = new Uint8Array(bytes.length - (end - at));
      out.set(bytes.subarray(0, at));
      out.set(bytes.subarray(end), at);
      return out;
    }
    case 'u64': {
      const out = bytes.slice();
      const view = new DataView(out.buffer);
      if (at + 8 <= out.length) view.setBigUint64(at, m.value, true);
      return out;
    }
  }
}

describe('fuzz: readGgufHeader', () => {
  it('the unmutated base file parses and rewrites', async () => {
    const header = await parse(base);
    expect(header).toBeDefined();
    if (header !== undefined) await checkAccepted(base, header);
  });

  it('random bytes are refused with BitNetError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (bytes) => {
        const header = await parse(bytes);
        if (header !== undefined) await checkAccepted(bytes, header);
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes after a valid magic and version never throw anything but BitNetError', async () => {
    const prefix = base.subarray(0, 8);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (tail) => {
        const bytes = new Uint8Array(8 + tail.length);
        bytes.set(prefix);
        bytes.set(tail, 8);
        const header = await parse(bytes);
        if (header !== undefined) await checkAccepted(bytes, header);
      }),
      { numRuns: 300 },
    );
  });

  it('mutations of a valid file are parsed consistently or refused with BitNetError', async () => {
    let accepted = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
        const bytes = mutations.reduce(applyMutation, base);
        const header = await parse(bytes);
        if (header === undefined) {
          refused++;
          return;
        }
        accepted++;
        await checkAccepted(bytes, header);
      }),
      { numRuns: 1500 },
    );
    // Both outcomes occur, so the property exercises the accepting path too.
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });
});
