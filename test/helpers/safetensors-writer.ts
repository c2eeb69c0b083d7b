// A small safetensors writer for tests and the conversion measurement: header JSON padded to 8 bytes, tensors
// contiguous in the given order (huggingface/safetensors format). Streams to disk one tensor at a time.

import { open } from 'node:fs/promises';

export interface StTensor {
  readonly name: string;
  /** safetensors dtype: 'F32' | 'F16' | 'BF16' | 'U8' ... */
  readonly dtype: string;
  /** PyTorch order (outermost first). */
  readonly shape: readonly number[];
  /** Exactly nElements * width bytes, little-endian; produced on demand for large files. */
  readonly data: Uint8Array | (() => Uint8Array);
  /** Needed when `data` is lazy. */
  readonly byteLength?: number;
}

const WIDTH: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2, U8: 1, I8: 1, F64: 8, I32: 4, I64: 8, U16: 2, I16: 2 };

function byteLengthOf(t: StTensor): number {
  if (t.data instanceof Uint8Array) return t.data.length;
  if (t.byteLength !== undefined) return t.byteLength;
  return t.shape.reduce((a, b) => a * b, 1) * (WIDTH[t.dtype] ?? 1);
}

/** The header bytes (length prefix + JSON padded with spaces to a multiple of 8). */
export function safetensorsHeader(tensors: readonly StTensor[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header['__metadata__'] = metadata;
  let offset = 0;
  for (const t of tensors) {
    const n = byteLengthOf(t);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const jsonBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + jsonBytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  return out;
}

/** The whole file in memory. */
export function encodeSafetensors(tensors: readonly StTensor[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const head = safetensorsHeader(tensors, metadata);
  const total = head.length + tensors.reduce((s, t) => s + byteLengthOf(t), 0);
  const out = new Uint8Array(total);
  out.set(head, 0);
  let at = head.length;
  for (const t of tensors) {
    const d = typeof t.data === 'function' ? t.data() : t.data;
    out.set(d, at);
    at += d.length;
  }
  return out;
}

/** Writes the file to `path`, producing lazy tensors one at a time. */
export async function writeSafetensorsFile(path: string, tensors: readonly StTensor[], metadata?: Readonly<Record<string, string>>): Promise<void> {
  const fh = await open(path, 'w');
  try {
    let pos = 0;
    const write = async (b: Uint8Array): Promise<void> => {
      let done = 0;
      while (done < b.length) {
        const { bytesWritten } = await fh.write(b, done, b.length - done, pos + done);
        done += bytesWritten;
      }
      pos += b.length;
    };
    await write(safetensorsHeader(tensors, metadata));
    for (const t of tensors) {
      const d = typeof t.data === 'function' ? t.data() : t.data;
      if (d.length !== byteLengthOf(t)) throw new Error(`tensor ${t.name}: ${d.length} bytes, declared ${byteLengthOf(t)}`);
      await write(d);
    }
  } finally {
    await fh.close();
  }
}

/** Little-endian bytes of float32 values. */
export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) dv.setFloat32(4 * i, values[i] ?? 0, true);
  return out;
}
