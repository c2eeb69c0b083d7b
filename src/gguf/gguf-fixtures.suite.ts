// Shared GGUF test fixtures: metadata covering every value type and a few tensors of different types.

import { GgmlType } from '../formats/ggml-type.js';
import { gv } from './metadata.js';
import type { GgufValue } from './types.js';
import type { GgufWriteTensor } from './writer.js';

/** Deterministic bytes so tensor data differs between tensors. */
export function pattern(nBytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(nBytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < nBytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Metadata covering every value type, empty arrays, empty strings, bigints and nested arrays. */
export function allTypesMetadata(): [string, GgufValue][] {
  return [
    ['general.architecture', gv.str('bitnet-b1.58')],
    ['t.u8', gv.u8(255)],
    ['t.i8', gv.i8(-128)],
    ['t.u16', gv.u16(65535)],
    ['t.i16', gv.i16(-32768)],
    ['t.u32', gv.u32(0xffffffff)],
    ['t.i32', gv.i32(-0x80000000)],
    ['t.f32', gv.f32(1.5)],
    ['t.f32.neg0', gv.f32(-0)],
    ['t.f64', gv.f64(Math.PI)],
    ['t.bool.true', gv.bool(true)],
    ['t.bool.false', gv.bool(false)],
    ['t.str', gv.str('héllo \u{1F600} 世界')],
    ['t.str.empty', gv.str('')],
    ['t.str.bom', gv.str('\uFEFFbom kept')],
    ['t.u64.max', gv.u64((1n << 64n) - 1n)],
    ['t.i64.min', gv.i64(-(1n << 63n))],
    ['t.i64.small', gv.i64(-5n)],
    ['a.u8', gv.arrU8([0, 1, 255])],
    ['a.i8', gv.arrI8([-128, 0, 127])],
    ['a.u16', gv.arrU16([0, 65535])],
    ['a.i16', gv.arrI16([-32768, 32767])],
    ['a.u32', gv.arrU32([0, 0xffffffff, 7])],
    ['a.i32', gv.arrI32([-1, 2, -0x80000000])],
    ['a.f32', gv.arrF32([0.25, -1e30, Infinity])],
    ['a.f64', gv.arrF64([1e-300, -0.5])],
    ['a.bool', gv.arrBool([true, false, true])],
    ['a.str', gv.arrStr(['a', '', 'ü', '<|eot_id|>'])],
    ['a.u64', gv.arrU64([0n, (1n << 64n) - 1n])],
    ['a.i64', gv.arrI64([-(1n << 63n), 42n])],
    ['a.empty.u8', gv.arrU8([])],
    ['a.empty.f32', gv.arrF32([])],
    ['a.empty.str', gv.arrStr([])],
    ['a.empty.bool', gv.arrBool([])],
    ['a.empty.u64', gv.arrU64([])],
    ['a.empty.nested', gv.arrNested([])],
    ['a.nested', gv.arrNested([gv.arrI32([1, 2]), gv.arrI32([]), gv.arrStr(['x'])])],
    ['a.nested.deep', gv.arrNested([gv.arrNested([gv.arrNested([gv.arrU8([9])])])])],
  ];
}

/** A few tensors of different types and shapes. */
export function sampleTensors(): GgufWriteTensor[] {
  return [
    { name: 'token_embd.weight', dims: [4, 3], type: GgmlType.F32, data: pattern(48, 1) },
    { name: 'blk.0.attn_q.weight', dims: [256, 2], type: GgmlType.TQ2_0, data: pattern(132, 2) },
    { name: 'blk.0.ffn_up.weight', dims: [128, 2], type: GgmlType.I2_S, data: pattern(64 + 32, 3) },
    { name: 'output_norm.weight', dims: [5], type: GgmlType.F16, data: pattern(10, 4) },
    { name: 'q8', dims: [64, 1, 1, 2], type: GgmlType.Q8_0, data: pattern(34 * 4, 5) },
  ];
}
