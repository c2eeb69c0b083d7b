// Seeded, platform-independent random numbers for synthetic weights (integer-only, so every engine gives the same bits).

/**
 * xoshiro128** (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c): 128-bit state,
 * 32-bit outputs, a handful of integer ops per call. Seeded through splitmix32 so nearby seeds
 * give unrelated streams.
 */
export class Rng {
  /**
   * State in a typed array: 32-bit values do not fit V8's small integers (31 bits), so plain fields
   * would be boxed as heap numbers on every update.
   */
  private readonly s = new Int32Array(4);

  /** `seed` is any 32-bit integer; `stream` picks an independent stream for the same seed (e.g. a tensor name hash). */
  constructor(seed: number, stream = 0) {
    let x = (seed ^ Math.imul(stream, 0x9e3779b9)) >>> 0;
    const next = (): number => {
      // splitmix32 (a 32-bit variant of Steele, Lea & Flood's SplitMix64 finalizer).
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s[0] = next();
    this.s[1] = next() ^ (stream >>> 0);
    this.s[2] = next();
    this.s[3] = next();
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[3] = 1; // the all-zero state is a fixed point
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const s0 = s[0];
    const s1 = s[1];
    const s2 = s[2] ^ s0;
    const s3 = s[3] ^ s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    s[0] = s0 ^ s3;
    s[1] = s1 ^ s2;
    s[2] = s2 ^ (s1 << 9);
    s[3] = rotl(s3, 11);
    return result;
  }

  /** A uniform float in [0, 1) with 32 random bits (exact in float64, so deterministic everywhere). */
  nextFloat(): number {
    return this.nextU32() / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** FNV-1a hash of a string's UTF-16 code units, as an unsigned 32-bit integer (names a per-tensor stream). */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The RNG for one named tensor of a model: independent of the order tensors are generated in and of their storage type. */
export function tensorRng(seed: number, tensorName: string): Rng {
  return new Rng(seed, hashString(tensorName));
}
