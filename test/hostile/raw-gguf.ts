// A byte-level GGUF builder for hostile tests: writes any field with any value (no validation), so counts, lengths,
// types and offsets can lie about the bytes that follow.

/** Little-endian GGUF fields appended one after another. */
export class RawGguf {
  private readonly out: number[] = [];

  u8(...vs: number[]): this {
    for (const v of vs) this.out.push(v & 0xff);
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
  /** A u64-length-prefixed UTF-8 string. */
  str(s: string): this {
    const bytes = new TextEncoder().encode(s);
    return this.u64(bytes.length).u8(...bytes);
  }
  /** Magic, version 3, tensor count, metadata count. */
  head(nTensors: number | bigint, nKv: number | bigint): this {
    return this.u8(0x47, 0x47, 0x55, 0x46).u32(3).u64(nTensors).u64(nKv);
  }
  /** A metadata key with an array header (element type, count); the elements are up to the caller. */
  arrayKv(key: string, elementType: number, count: number | bigint): this {
    return this.str(key).u32(9).u32(elementType).u64(count);
  }
  /** A tensor info. */
  tensor(name: string, dims: readonly (number | bigint)[], type: number, offset: number | bigint): this {
    this.str(name).u32(dims.length);
    for (const d of dims) this.u64(d);
    return this.u32(type).u64(offset);
  }
  /** `n` zero bytes. */
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.out.push(0);
    return this;
  }
  get length(): number {
    return this.out.length;
  }
  /** The bytes, padded with zeros to a multiple of `alignment`, then `dataBytes` more zeros. */
  bytes(alignment = 32, dataBytes = 0): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.out.length / alignment) * alignment + dataBytes);
    out.set(this.out);
    return out;
  }
}
