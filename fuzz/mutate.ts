// Byte-string mutations for the fuzz loop (libFuzzer's classic set): bit flips, interesting integers,
// dictionary tokens, inserts, deletes, copies and crossover with another corpus entry, from a seeded PRNG.

/** A small, fast, seeded PRNG (mulberry32): the fuzz loop must be reproducible from its seed. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uint32. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n) (0 when n <= 0). */
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }
}

/** Integers that break size and offset arithmetic, written little-endian as 1, 2, 4 or 8 bytes. */
const INTERESTING: readonly bigint[] = [
  0n, 1n, 2n, 3n, 4n, 7n, 8n, 9n, 12n, 16n, 31n, 32n, 33n, 64n, 127n, 128n, 255n, 256n, 1024n, 4096n, 65535n, 65536n,
  2n ** 20n, 2n ** 24n, 2n ** 26n, 2n ** 26n + 1n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 40n, 2n ** 40n + 1n,
  2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n,
];

export interface MutateOptions {
  /** Longest output in bytes. */
  readonly maxLength: number;
  /** Tokens worth inserting whole (format keywords, template syntax, JSON punctuation). */
  readonly dictionary?: readonly Uint8Array[];
  /** Other inputs to splice with. */
  readonly corpus?: readonly Uint8Array[];
}

function writeLe(out: Uint8Array, at: number, value: bigint, nBytes: number): void {
  let v = BigInt.asUintN(64, value);
  for (let i = 0; i < nBytes && at + i < out.length; i++) {
    out[at + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function insert(data: Uint8Array, at: number, chunk: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + chunk.length);
  out.set(data.subarray(0, at));
  out.set(chunk, at);
  out.set(data.subarray(at), at + chunk.length);
  return out;
}

function randomBytes(rng: Prng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.below(256);
  return out;
}

/** One mutation of `data` (a new array; `data` is never modified). */
export function mutateOnce(data: Uint8Array, rng: Prng, opts: MutateOptions): Uint8Array {
  const len = data.length;
  const op = rng.below(14);
  switch (op) {
    case 0: {
      // flip one bit
      if (len === 0) return randomBytes(rng, 1 + rng.below(8));
      const out = data.slice();
      out[rng.below(len)] ^= 1 << rng.below(8);
      return out;
    }
    case 1: {
      // set a random byte
      if (len === 0) return randomBytes(rng, 1);
      const out = data.slice();
      out[rng.below(len)] = rng.below(256);
      return out;
    }
    case 2:
    case 3: {
      // an interesting integer, 1/2/4/8 bytes little-endian
      if (len === 0) return randomBytes(rng, 8);
      const out = data.slice();
      writeLe(out, rng.below(len), rng.pick(INTERESTING) - BigInt(rng.below(2)), rng.pick([1, 2, 4, 8]));
      return out;
    }
    case 4: {
      // add or subtract a small delta to a u32 / u64 field
      if (len < 4) return data.slice();
      const out = data.slice();
      const at = rng.below(len - 3);
      const view = new DataView(out.buffer, out.byteOffset, out.length);
      const delta = rng.below(33) - 16;
      if (at + 8 <= len && rng.below(2) === 0) view.setBigUint64(at, BigInt.asUintN(64, view.getBigUint64(at, true) + BigInt(delta)), true);
      else view.setUint32(at, (view.getUint32(at, true) + delta) >>> 0, true);
      return out;
    }
    case 5: {
      // insert random bytes
      return insert(data, rng.below(len + 1), randomBytes(rng, 1 + rng.below(16)));
    }
    case 6: {
      // delete a range
      if (len === 0) return data.slice();
      const at = rng.below(len);
      const n = 1 + rng.below(Math.min(64, len - at));
      const out = new Uint8Array(len - n);
      out.set(data.subarray(0, at));
      out.set(data.subarray(at + n), at);
      return out;
    }
    case 7: {
      // duplicate a range in place
      if (len === 0) return data.slice();
      const at = rng.below(len);
      const n = 1 + rng.below(Math.min(64, len - at));
      return insert(data, at, data.slice(at, at + n));
    }
    case 8: {
      // copy a range over another place
      if (len < 2) return data.slice();
      const from = rng.below(len);
      const n = 1 + rng.below(Math.min(32, len - from));
      const to = rng.below(len);
      const out = data.slice();
      out.set(data.subarray(from, from + Math.min(n, len - to)), to);
      return out;
    }
    case 9:
    case 10: {
      // insert or overwrite a dictionary token
      const dict = opts.dictionary ?? [];
      if (dict.length === 0) return insert(data, rng.below(len + 1), randomBytes(rng, 1 + rng.below(4)));
      const token = rng.pick(dict);
      const at = rng.below(len + 1);
      if (op === 9 || at + token.length > len) return insert(data, at, token);
      const out = data.slice();
      out.set(token, at);
      return out;
    }
    case 11: {
      // crossover: our head + another entry's tail
      const corpus = opts.corpus ?? [];
      if (corpus.length === 0) return data.slice();
      const other = rng.pick(corpus);
      const cut = rng.below(len + 1);
      const otherCut = rng.below(other.length + 1);
      const out = new Uint8Array(cut + other.length - otherCut);
      out.set(data.subarray(0, cut));
      out.set(other.subarray(otherCut), cut);
      return out;
    }
    case 12:
      // truncate
      return data.slice(0, rng.below(len + 1));
    default:
      // append random bytes
      return insert(data, len, randomBytes(rng, 1 + rng.below(32)));
  }
}

/** 1 to `maxStack` stacked mutations of `data`, cut to `opts.maxLength`. */
export function mutate(data: Uint8Array, rng: Prng, opts: MutateOptions, maxStack = 6): Uint8Array {
  let out = data;
  const n = 1 + rng.below(maxStack);
  for (let i = 0; i < n; i++) out = mutateOnce(out, rng, opts);
  return out.length > opts.maxLength ? out.slice(0, opts.maxLength) : out;
}

/** UTF-8 bytes of each string (dictionaries are written as text). */
export function utf8Tokens(tokens: readonly string[]): Uint8Array[] {
  const enc = new TextEncoder();
  return tokens.map((t) => enc.encode(t));
}
