// Vector constants kept in memory: V8 rematerializes an immediate v128 constant at every use inside a loop
// (3-4 instructions each, seen with --print-wasm-code), while a v128 loaded once before the loop stays in
// a register. initConstants() writes them (the glue calls it once per memory; the region is below the heap).

/** Byte offset of the constant block (assembly/../job-layout.ts MEMORY_MAP.constantsByteOffset). */
export const CONST_BASE: usize = 3072;

export const C_0F: u32 = 0; // i8x16.splat(0x0f)
export const C_03: u32 = 1; // i8x16.splat(0x03)
export const C_30: u32 = 2; // i8x16.splat(0x30)
export const C_20: u32 = 3; // i8x16.splat(32)
export const C_08: u32 = 4; // i8x16.splat(8)
export const C_ONES16: u32 = 5; // i16x8.splat(1)
export const C_F16_EM: u32 = 6; // i32x4.splat(0x7fff)
export const C_F16_INF: u32 = 7; // i32x4.splat(0x7bff)
export const C_F32_EXP: u32 = 8; // i32x4.splat(0x7f800000)
export const C_F16_SIGN: u32 = 9; // i32x4.splat(0x8000)
// slot 10: free (f32x4.splat(2^112), which f16x4ToF32x4 no longer uses)
export const C_F16_BITS: u32 = 11; // i32x4.splat(0x8fffe000): sign and em << 13 of a sign-extended F16 shifted left 13
export const C_F32_SIGN: u32 = 12; // i32x4.splat(0x80000000)
export const C_F16_ROUND: u32 = 13; // i32x4.splat(0xfff): half an F16 ulp less one, in f32 mantissa bits
export const C_F16_KEEP: u32 = 14; // i32x4.splat(0xffffe000): the f32 bits an F16 keeps
export const C_HALF: u32 = 15; // f32x4.splat(0.5)
export const C_F16_MIN_NORMAL: u32 = 16; // i32x4.splat(0x38800000): 2^-14 as f32
export const C_F16_OVERFLOW: u32 = 17; // i32x4.splat(0x477ff000): 65520, the least f32 that rounds to F16 inf
export const C_F32_QUIET: u32 = 18; // i32x4.splat(0x00400000): an f32 NaN's quiet bit
export const C_0C: u32 = 19; // i8x16.splat(0x0c)
export const C_F32_ONE: u32 = 20; // f32x4.splat(1.0)
export const C_F32_M128: u32 = 21; // f32x4.splat(-128.0)
export const C_F32_127: u32 = 22; // f32x4.splat(127.0)
export const C_F32_MAGIC: u32 = 23; // f32x4.splat(1.5 * 2^23), bits 0x4b400000: r + it holds integer r in the low mantissa bits
export const C_F16_REBIAS: u32 = 24; // i32x4.splat(112 << 23): binary16's exponent bias to f32's, in the exponent bits
export const C_F16_MANT: u32 = 25; // i32x4.splat(0x3ff): the largest binary16 exponent-and-mantissa of a subnormal
export const C_2M112: u32 = 26; // f32x4.splat(2^-112)

/** Write every constant (idempotent). */
export function initConstants(): void {
  v128.store(CONST_BASE + (<usize>C_0F << 4), i8x16.splat(0x0f));
  v128.store(CONST_BASE + (<usize>C_03 << 4), i8x16.splat(0x03));
  v128.store(CONST_BASE + (<usize>C_30 << 4), i8x16.splat(0x30));
  v128.store(CONST_BASE + (<usize>C_20 << 4), i8x16.splat(32));
  v128.store(CONST_BASE + (<usize>C_08 << 4), i8x16.splat(8));
  v128.store(CONST_BASE + (<usize>C_ONES16 << 4), i16x8.splat(1));
  v128.store(CONST_BASE + (<usize>C_F16_EM << 4), i32x4.splat(0x7fff));
  v128.store(CONST_BASE + (<usize>C_F16_INF << 4), i32x4.splat(0x7bff));
  v128.store(CONST_BASE + (<usize>C_F32_EXP << 4), i32x4.splat(0x7f800000));
  v128.store(CONST_BASE + (<usize>C_F16_SIGN << 4), i32x4.splat(0x8000));
  v128.store(CONST_BASE + (<usize>C_F16_BITS << 4), i32x4.splat(0x8fffe000));
  v128.store(CONST_BASE + (<usize>C_F32_SIGN << 4), i32x4.splat(0x80000000));
  v128.store(CONST_BASE + (<usize>C_F16_ROUND << 4), i32x4.splat(0xfff));
  v128.store(CONST_BASE + (<usize>C_F16_KEEP << 4), i32x4.splat(0xffffe000));
  v128.store(CONST_BASE + (<usize>C_HALF << 4), f32x4.splat(0.5));
  v128.store(CONST_BASE + (<usize>C_F16_MIN_NORMAL << 4), i32x4.splat(0x38800000));
  v128.store(CONST_BASE + (<usize>C_F16_OVERFLOW << 4), i32x4.splat(0x477ff000));
  v128.store(CONST_BASE + (<usize>C_F32_QUIET << 4), i32x4.splat(0x00400000));
  v128.store(CONST_BASE + (<usize>C_0C << 4), i8x16.splat(0x0c));
  v128.store(CONST_BASE + (<usize>C_F32_ONE << 4), f32x4.splat(1.0));
  v128.store(CONST_BASE + (<usize>C_F32_M128 << 4), f32x4.splat(-128.0));
  v128.store(CONST_BASE + (<usize>C_F32_127 << 4), f32x4.splat(127.0));
  v128.store(CONST_BASE + (<usize>C_F32_MAGIC << 4), f32x4.splat(12582912.0));
  v128.store(CONST_BASE + (<usize>C_F16_REBIAS << 4), i32x4.splat(112 << 23));
  v128.store(CONST_BASE + (<usize>C_F16_MANT << 4), i32x4.splat(0x3ff));
  v128.store(CONST_BASE + (<usize>C_2M112 << 4), f32x4.splat(reinterpret<f32>(0x07800000)));
}

/** The constant in `slot`, loaded from memory (keep the result in a local outside hot loops). */
// @ts-ignore: decorator
@inline export function vconst(slot: u32): v128 {
  return v128.load(CONST_BASE + (<usize>slot << 4));
}
