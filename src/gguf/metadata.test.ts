// Tests of the typed metadata accessors and the value constructors.

import { describe, expect, it } from 'vitest';
import { BitNetError } from '../errors.js';
import {
  describeValueType,
  gv,
  metaBool,
  metaBoolOpt,
  metaNumber,
  metaNumberArray,
  metaNumberArrayOpt,
  metaNumberOpt,
  metaString,
  metaStringArray,
  metaStringArrayOpt,
  metaStringOpt,
} from './metadata.js';
import type { GgufValue } from './types.js';

const meta = new Map<string, GgufValue>([
  ['arch', gv.str('bitnet-b1.58')],
  ['ctx', gv.u32(4096)],
  ['eps', gv.f32(1e-5)],
  ['i8', gv.i8(-3)],
  ['f64', gv.f64(0.125)],
  ['u64.safe', gv.u64(2n ** 40n)],
  ['u64.huge', gv.u64(2n ** 60n)],
  ['i64.neg', gv.i64(-7n)],
  ['flag', gv.bool(true)],
  ['tokens', gv.arrStr(['a', 'b'])],
  ['scores', gv.arrF32([0.5, -1])],
  ['ids64', gv.arrI64([-1n, 5n])],
  ['ids64.huge', gv.arrU64([2n ** 63n])],
  ['nested', gv.arrNested([gv.arrU8([1])])],
  ['bools', gv.arrBool([true])],
]);

function errorOf(f: () => unknown): BitNetError {
  try {
    f();
  } catch (e) {
    if (e instanceof BitNetError) return e;
    throw e;
  }
  throw new Error('expected a BitNetError');
}

describe('metadata accessors', () => {
  it('return typed values', () => {
    expect(metaString(meta, 'arch')).toBe('bitnet-b1.58');
    expect(metaNumber(meta, 'ctx')).toBe(4096);
    expect(metaNumber(meta, 'eps')).toBeCloseTo(1e-5, 10);
    expect(metaNumber(meta, 'i8')).toBe(-3);
    expect(metaNumber(meta, 'f64')).toBe(0.125);
    expect(metaNumber(meta, 'u64.safe')).toBe(2 ** 40);
    expect(metaNumber(meta, 'i64.neg')).toBe(-7);
    expect(metaBool(meta, 'flag')).toBe(true);
    expect(metaStringArray(meta, 'tokens')).toEqual(['a', 'b']);
    expect(Array.from(metaNumberArray(meta, 'scores'))).toEqual([0.5, -1]);
    expect(Array.from(metaNumberArray(meta, 'ids64'))).toEqual([-1, 5]);
  });

  it('return undefined from the Opt variants when the key is absent', () => {
    expect(metaStringOpt(meta, 'nope')).toBeUndefined();
    expect(metaNumberOpt(meta, 'nope')).toBeUndefined();
    expect(metaBoolOpt(meta, 'nope')).toBeUndefined();
    expect(metaStringArrayOpt(meta, 'nope')).toBeUndefined();
    expect(metaNumberArrayOpt(meta, 'nope')).toBeUndefined();
    expect(metaNumberOpt(meta, 'ctx')).toBe(4096);
  });

  it('throw MISSING_METADATA naming the key and the expected type', () => {
    const e = errorOf(() => metaString(meta, 'general.name'));
    expect(e.code).toBe('MISSING_METADATA');
    expect(e.message).toContain('general.name');
    expect(e.message).toContain('STRING');
    for (const f of [metaNumber, metaBool, metaStringArray, metaNumberArray]) {
      expect(errorOf(() => f(meta, 'x.y')).code).toBe('MISSING_METADATA');
    }
  });

  it('throw BAD_METADATA naming the key, expected and actual type', () => {
    const e = errorOf(() => metaNumber(meta, 'arch'));
    expect(e.code).toBe('BAD_METADATA');
    expect(e.message).toContain("'arch'");
    expect(e.message).toContain('STRING');
    expect(e.details).toMatchObject({ key: 'arch', actual: 'STRING' });
    const cases: [() => unknown, string][] = [
      [() => metaString(meta, 'ctx'), 'UINT32'],
      [() => metaBool(meta, 'ctx'), 'UINT32'],
      [() => metaStringArray(meta, 'scores'), 'ARRAY[FLOAT32]'],
      [() => metaNumberArray(meta, 'tokens'), 'ARRAY[STRING]'],
      [() => metaNumberArray(meta, 'nested'), 'ARRAY[ARRAY]'],
      [() => metaNumberArray(meta, 'bools'), 'ARRAY[BOOL]'],
      [() => metaNumberArray(meta, 'ctx'), 'UINT32'],
      [() => metaNumber(meta, 'tokens'), 'ARRAY[STRING]'],
    ];
    for (const [f, actual] of cases) {
      const err = errorOf(f);
      expect(err.code).toBe('BAD_METADATA');
      expect(err.details.actual).toBe(actual);
    }
  });

  it('refuse 64-bit integers that a number cannot hold exactly', () => {
    expect(errorOf(() => metaNumber(meta, 'u64.huge')).code).toBe('BAD_METADATA');
    expect(errorOf(() => metaNumberArray(meta, 'ids64.huge')).code).toBe('BAD_METADATA');
  });

  it('describe value types', () => {
    expect(describeValueType(gv.u64(1n))).toBe('UINT64');
    expect(describeValueType(gv.arrNested([]))).toBe('ARRAY[ARRAY]');
  });
});

describe('gv constructors', () => {
  it('build values of the right type', () => {
    expect(gv.u16(7)).toEqual({ type: 2, value: 7 });
    expect(gv.f32(0.1)).toEqual({ type: 6, value: Math.fround(0.1) });
    expect(gv.i64(-1)).toEqual({ type: 11, value: -1n });
    expect(gv.arrU32([1, 2])).toEqual({ type: 9, elementType: 4, value: Uint32Array.from([1, 2]) });
    const reused = new Float32Array([1]);
    expect(gv.arrF32(reused).value).toBe(reused);
  });

  it('refuse out-of-range values with GGUF_WRITE_INVALID', () => {
    const bad: (() => unknown)[] = [
      () => gv.u8(256),
      () => gv.u8(-1),
      () => gv.i8(128),
      () => gv.u16(1.5),
      () => gv.i16(-40000),
      () => gv.u32(2 ** 32),
      () => gv.i32(2 ** 31),
      () => gv.u64(-1n),
      () => gv.u64(2n ** 64n),
      () => gv.i64(2n ** 63n),
      () => gv.u64(2 ** 60),
      () => gv.arrU8([1, 300]),
      () => gv.arrI32([0.5]),
      () => gv.arrU64([-1n]),
    ];
    for (const f of bad) expect(errorOf(f).code).toBe('GGUF_WRITE_INVALID');
  });
});
