// Seeded pseudo-random numbers for sampling: xoshiro128** seeded through splitmix64, bit-identical on every platform.
//
// Algorithms (public domain, by their authors): xoshiro128** — D. Blackman and S. Vigna,
// https://prng.di.unimi.it/xoshiro128starstar.c ; splitmix64 — G. Steele, D. Lea, C. Flood,
// as given in https://prng.di.unimi.it/splitmix64.c (the seeding Vigna recommends for xoshiro).
// Everything here is 32-bit integer arithmetic (Math.imul, >>>) or BigInt at seeding time,
// so results never depend on the engine's floating-point behaviour.

import { BitNetError } from '../errors.js';

export interface Rng {
  /** Uniform float in [0, 1), built from 53 random bits (two 32-bit outputs). */
  nextFloat(): number;
  /** Uniform integer in [0, 2^32). */
  nextUint32(): number;
}

const MASK_64 = (1n << 64n) - 1n;
const SPLITMIX_GAMMA = 0x9e3779b97f4a7c15n;
/** 2^-53: scales a 53-bit integer into [0, 1). */
const INV_2_POW_53 = 1 / 2 ** 53;

/** One splitmix64 step: returns [output, nextState]; both are unsigned 64-bit BigInts. */
export function splitmix64(state: bigint): [output: bigint, nextState: bigint] {
  const next = (state + SPLITMIX_GAMMA) & MASK_64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK_64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK_64;
  return [z ^ (z >> 31n), next];
}

function rotl32(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * A xoshiro128** generator from its raw 128-bit state (four uint32 words). Meant for tests against
 * the reference outputs and for restoring a saved state; `createRng` is the normal entry point.
 */
export function createRngFromState(s0: number, s1: number, s2: number, s3: number): Rng {
  const words = [s0, s1, s2, s3];
  for (let i = 0; i < 4; i++) {
    const w = words[i];
    if (w === undefined || !Number.isInteger(w) || w < 0 || w > 0xffffffff) {
      throw new BitNetError('BAD_ARGUMENT', `rng state word ${i} must be an integer in [0, 2^32); got ${String(w)}`, {
        details: { field: `state[${i}]`, expected: 'uint32', actual: String(w) },
      });
    }
  }
  if ((s0 | s1 | s2 | s3) === 0) {
    throw new BitNetError('BAD_ARGUMENT', 'rng state must not be all zero (xoshiro128** would only ever return 0)', {
      details: { field: 'state', expected: 'not all zero', actual: '0,0,0,0' },
    });
  }
  let a = s0 >>> 0;
  let b = s1 >>> 0;
  let c = s2 >>> 0;
  let d = s3 >>> 0;

  function nextUint32(): number {
    const result = Math.imul(rotl32(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c = (c ^ a) >>> 0;
    d = (d ^ b) >>> 0;
    b = (b ^ c) >>> 0;
    a = (a ^ d) >>> 0;
    c = (c ^ t) >>> 0;
    d = rotl32(d, 11);
    return result;
  }

  function nextFloat(): number {
    // High 27 bits of one output and high 26 of the next make a 53-bit integer.
    const hi = nextUint32() >>> 5;
    const lo = nextUint32() >>> 6;
    return (hi * 67108864 + lo) * INV_2_POW_53;
  }

  return { nextFloat, nextUint32 };
}

/**
 * A generator seeded from any safe integer (negative seeds are taken modulo 2^64, as int64 → uint64).
 * The 128-bit state is two consecutive splitmix64 outputs, so nearby seeds give unrelated streams.
 */
export function createRng(seed: number): Rng {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new BitNetError('BAD_ARGUMENT', `seed must be a safe integer; got ${String(seed)}`, {
      details: { field: 'seed', expected: 'safe integer', actual: String(seed) },
    });
  }
  let state = BigInt.asUintN(64, BigInt(seed));
  const [x, afterX] = splitmix64(state);
  state = afterX;
  const [y] = splitmix64(state);
  const s0 = Number(x & 0xffffffffn);
  const s1 = Number(x >> 32n);
  const s2 = Number(y & 0xffffffffn);
  const s3 = Number(y >> 32n);
  // Two splitmix64 outputs are never both zero in practice; guard anyway so the state is valid.
  return (s0 | s1 | s2 | s3) === 0 ? createRngFromState(1, 0, 0, 0) : createRngFromState(s0, s1, s2, s3);
}
