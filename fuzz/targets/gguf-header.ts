// Fuzz target: readGgufHeader over arbitrary bytes, either as a small in-memory file or as the head of a huge
// sparse file (so only the named limits, not the file size, bound what a header may claim).
//
// Input: byte 0 picks the source (bit 0: sparse; bit 1: an 8 MiB instead of a 1 MiB header limit), byte 1 the sparse
// size (2^(20 + b % 20) bytes); the rest is the file.
// Passes: a header, or a BitNetError. Findings: anything else; an accepted header whose tensors overlap, leave the
// file or cannot be read; a read past the header limit; memory growth out of proportion to the header bytes.

import { GgmlType } from '../../src/formats/ggml-type.js';
import { bytesSource } from '../../src/gguf/byte-source.js';
import { gv } from '../../src/gguf/metadata.js';
import { readGgufHeader, readTensorData } from '../../src/gguf/reader.js';
import type { ByteSource, GgufHeader, GgufValue } from '../../src/gguf/types.js';
import { writeGguf, type GgufWriteTensor } from '../../src/gguf/writer.js';
import { invariant, type FuzzTarget } from '../target.js';

/** Header limits used for sparse sources: small, so an execution stays cheap while every limit is reachable. */
const SPARSE_MAX_HEADER_BYTES = [1 << 20, 8 << 20];

/**
 * Most bytes of JS heap plus ArrayBuffers a parse may leave behind per header byte it was allowed to read.
 * Typed arrays cost 1x, a chunk buffer 1x, string and bool arrays up to ~9x (one pointer per element).
 */
const ALLOC_PER_HEADER_BYTE = 12;
/** Fixed allowance on top (Map entries, small objects, V8 bookkeeping). */
const ALLOC_SLACK_BYTES = 8 * 1024 * 1024;

/** A source of `size` bytes: `head` followed by zeros; every read is checked against `maxReadBytes`. */
function sparseSource(head: Uint8Array, size: number, maxReadBytes: number): ByteSource {
  return {
    size,
    name: 'sparse',
    read(position: number, dst: Uint8Array): Promise<void> {
      invariant(Number.isSafeInteger(position) && position >= 0 && position + dst.length <= size, `read of ${dst.length} bytes at ${position} outside [0, ${size})`);
      invariant(dst.length <= maxReadBytes, `one read of ${dst.length} bytes exceeds the header limit ${maxReadBytes}`);
      dst.fill(0);
      if (position < head.length) dst.set(head.subarray(position, Math.min(head.length, position + dst.length)));
      return Promise.resolve();
    },
  };
}

function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** What an accepted header must satisfy. */
async function checkAccepted(src: ByteSource, header: GgufHeader, readData: boolean): Promise<void> {
  invariant(header.dataOffset >= header.headerBytes && header.dataOffset % header.alignment === 0, `data offset ${header.dataOffset} not aligned after header ${header.headerBytes}`);
  const spans: [number, number, string][] = [];
  for (const t of header.tensors) {
    invariant(Number.isSafeInteger(t.byteOffset) && Number.isSafeInteger(t.byteSize) && t.byteSize > 0, `tensor '${t.name}' has a bad offset/size ${t.byteOffset}/${t.byteSize}`);
    invariant(t.byteOffset >= header.dataOffset && t.byteOffset + t.byteSize <= src.size, `tensor '${t.name}' [${t.byteOffset}, +${t.byteSize}) leaves the data section`);
    // n_dims 0 is a scalar of one element (the reader takes it, as llama.cpp does: ac05823)
    invariant(t.dims.length <= 4 && t.dims.reduce((a, b) => a * b, 1) === t.nElements, `tensor '${t.name}' dims ${t.dims.join('x')} vs ${t.nElements} elements`);
    spans.push([t.byteOffset, t.byteOffset + t.byteSize, t.name]);
    if (readData && t.byteSize <= 1 << 20) await readTensorData(src, t, new Uint8Array(t.byteSize));
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) invariant(spans[i][0] >= spans[i - 1][1], `tensors '${spans[i - 1][2]}' and '${spans[i][2]}' overlap`);
}

async function run(data: Uint8Array): Promise<void> {
  const sparse = data.length > 0 && (data[0] & 1) === 1;
  const body = data.subarray(2);
  const before = heapBytes();
  let src: ByteSource;
  let budget: number;
  let header: GgufHeader;
  if (sparse) {
    const size = 2 ** (20 + ((data.length > 1 ? data[1] : 0) % 20));
    budget = SPARSE_MAX_HEADER_BYTES[(data[0] >> 1) & 1];
    src = sparseSource(body, Math.max(size, body.length), budget);
    header = await guard(readGgufHeader(src, { maxHeaderBytes: budget }), before, budget);
  } else {
    src = bytesSource(body);
    budget = body.length;
    header = await guard(readGgufHeader(src), before, budget);
  }
  checkGrowth(before, budget);
  await checkAccepted(src, header, !sparse);
}

function checkGrowth(before: number, headerBudget: number): void {
  const grown = heapBytes() - before;
  const allowed = ALLOC_PER_HEADER_BYTE * headerBudget + ALLOC_SLACK_BYTES;
  invariant(grown <= allowed, `parsing a header of at most ${headerBudget} bytes grew memory by ${grown} bytes (allowed ${allowed})`);
}

/** Awaits `p`; on a refusal, still checks the memory growth before passing the refusal on. */
async function guard<T>(p: Promise<T>, before: number, headerBudget: number): Promise<T> {
  try {
    return await p;
  } catch (e) {
    checkGrowth(before, headerBudget);
    throw e;
  }
}

function seedFile(variant: number): Uint8Array {
  if (variant === 4) {
    // Metadata only, a nested array last: in a sparse source its counts can claim the zeros that follow.
    return writeGguf({ metadata: [['general.architecture', gv.str('llama')], ['nest', gv.arrNested([gv.arrU8([1]), gv.arrBool([true])])]], tensors: [] });
  }
  const metadata: [string, GgufValue][] = [
    ['general.architecture', gv.str('bitnet-b1.58')],
    ['general.name', gv.str('fuzz seed')],
    ['bitnet-b1.58.context_length', gv.u32(4096)],
    ['f', gv.f32(1e-5)],
    ['d', gv.f64(-2.5)],
    ['i', gv.i64(-3n)],
    ['u', gv.u64(7n)],
    ['b', gv.bool(true)],
    ['toks', gv.arrStr(['<s>', 'é', '▁the', '<0x0A>'])],
    ['scores', gv.arrF32([0, -1.5, 2, 3])],
    ['types', gv.arrI32([1, 3, 6, 1])],
    ['flags', gv.arrBool([true, false])],
  ];
  if (variant === 1) metadata.push(['nest', gv.arrNested([gv.arrU16([7, 8]), gv.arrBool([false]), gv.arrNested([gv.arrStr(['x'])])])]);
  if (variant === 2) metadata.push(['general.alignment', gv.u32(64)]);
  const tensors: GgufWriteTensor[] = [
    { name: 'norm', dims: [8], type: GgmlType.F32, data: new Uint8Array(32).fill(3) },
    { name: 'tq2', dims: [256, 2], type: GgmlType.TQ2_0, data: new Uint8Array(132).fill(5) },
    { name: 'i2s', dims: [128, 2], type: GgmlType.I2_S, data: new Uint8Array(96).fill(7) },
  ];
  if (variant === 1) tensors.push({ name: 'tl', dims: [16], type: GgmlType.TL1, data: new Uint8Array(8).fill(9) });
  if (variant === 2) tensors.push({ name: 'q8', dims: [32, 3], type: GgmlType.Q8_0, data: new Uint8Array(102).fill(1) });
  return writeGguf({ version: variant === 3 ? 2 : 3, metadata, tensors });
}

function withMode(mode: number, sizeByte: number, file: Uint8Array): Uint8Array {
  const out = new Uint8Array(file.length + 2);
  out[0] = mode;
  out[1] = sizeByte;
  out.set(file, 2);
  return out;
}

export const ggufHeaderTarget: FuzzTarget = {
  name: 'gguf-header',
  description: 'readGgufHeader over bytesSource (small file) or a sparse multi-GiB source (limits only)',
  maxInputBytes: 16 * 1024,
  maxExecMs: 1500,
  dictionary: ['GGUF', 'general.alignment', 'general.architecture', 'tokenizer.ggml.tokens', '\x08\x00\x00\x00', '\x09\x00\x00\x00', '\x24\x00\x00\x00', '\x26\x00\x00\x00'],
  seeds: () => [
    withMode(0, 0, seedFile(0)),
    withMode(0, 0, seedFile(1)),
    withMode(0, 0, seedFile(2)),
    withMode(0, 0, seedFile(3)),
    withMode(1, 10, seedFile(0)),
    withMode(1, 19, seedFile(1)),
    withMode(3, 12, seedFile(1)),
    withMode(3, 12, seedFile(4)),
  ],
  run,
};
