// Turns a fuzzer's raw bytes into typed choices (ints, strings, picks), like Jazzer's FuzzedDataProvider, deterministically.
//
// Every consumer is total: when the bytes run out it returns the smallest choice (0, '', the first
// option), so any byte string is a valid input and a mutation of a few bytes changes few choices.

/** Reads typed values from the front of a byte string; never throws, whatever the bytes. */
export class FuzzInput {
  private pos = 0;

  constructor(readonly bytes: Uint8Array) {}

  /** Bytes not consumed yet. */
  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  /** One byte (0 once the input is exhausted). */
  u8(): number {
    return this.pos < this.bytes.length ? this.bytes[this.pos++] : 0;
  }

  /** A little-endian unsigned integer of `nBytes` bytes (at most 6, so it stays exact). */
  uint(nBytes: number): number {
    let v = 0;
    for (let i = 0; i < nBytes; i++) v += this.u8() * 2 ** (8 * i);
    return v;
  }

  /** An integer in [min, max] (inclusive), from as few bytes as the range needs. */
  int(min: number, max: number): number {
    const span = max - min + 1;
    if (span <= 1) return min;
    const nBytes = Math.min(6, Math.ceil(Math.log2(span) / 8));
    return min + (this.uint(nBytes) % span);
  }

  bool(): boolean {
    return (this.u8() & 1) === 1;
  }

  /** One of `options` (the first when the input is exhausted). */
  pick<T>(options: readonly T[]): T {
    return options[this.int(0, options.length - 1)];
  }

  /**
   * An integer biased towards the values that break size arithmetic: 0, 1, -1, powers of two and their
   * neighbours, 2^31, 2^32, 2^53, NaN-free but possibly negative or huge.
   */
  edgyInt(): number {
    const mode = this.u8() % 4;
    if (mode === 0) return this.int(0, 16);
    if (mode === 1) {
      const p = 2 ** this.int(0, 53);
      return p + this.int(-2, 2);
    }
    if (mode === 2) return -this.int(0, 300);
    return this.int(0, 70000);
  }

  /** `n` bytes (fewer when the input runs out), as a copy. */
  take(n: number): Uint8Array {
    const end = Math.min(this.bytes.length, this.pos + Math.max(0, n));
    const out = this.bytes.slice(this.pos, end);
    this.pos = end;
    return out;
  }

  /** Everything not consumed yet, as a copy. */
  rest(): Uint8Array {
    return this.take(this.remaining);
  }

  /**
   * A string of at most `maxUnits` UTF-16 code units built from two-byte units, so it can hold any code
   * unit: lone surrogates, NUL, U+FFFD, BOMs. One selector byte per unit keeps most of them ASCII.
   */
  utf16(maxUnits: number): string {
    const n = this.int(0, maxUnits);
    const units: number[] = [];
    for (let i = 0; i < n && this.remaining > 0; i++) {
      const sel = this.u8();
      if (sel < 160) units.push(0x20 + (sel % 0x5f)); // printable ASCII
      else if (sel < 176) units.push(this.pick([0x0a, 0x09, 0x0d, 0x00, 0x20, 0x20]));
      else if (sel < 200) units.push(this.pick([0xd800, 0xdbff, 0xdc00, 0xdfff, 0xfeff, 0xfffd, 0xffff, 0x2581, 0x0120, 0x010a]));
      else units.push(this.uint(2));
    }
    return String.fromCharCode(...units);
  }

  /** `n` raw bytes decoded as UTF-8 with replacement (what a client's text turns into). */
  utf8(n: number): string {
    return new TextDecoder('utf-8').decode(this.take(n));
  }
}

/** The UTF-8 text of `bytes` up to (not including) the first NUL, and the rest after it. */
export function splitAtNul(bytes: Uint8Array): [Uint8Array, Uint8Array] {
  const at = bytes.indexOf(0);
  return at < 0 ? [bytes, new Uint8Array(0)] : [bytes.subarray(0, at), bytes.subarray(at + 1)];
}
