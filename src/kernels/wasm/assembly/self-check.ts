// Start-up self-check of i32x4.relaxed_dot_i8x16_i7x16_add_s: known inputs (negative int8 operands, 7-bit
// codes, a nonzero accumulator) against the exact sum computed lane by lane. Some runtimes (Node 20's V8
// behind --experimental-wasm-relaxed-simd) get it wrong; the glue never uses relaxed kernels then.

/**
 * Bit i (0..3) set when lane i of the relaxed dot differs from the exact result, bit 4 when relaxed_swizzle
 * with in-range indices differs from i8x16.swizzle; 0 when both are right (and always 0 in the SIMD128
 * build, which has no relaxed instruction to check).
 */
export function selfCheckRelaxedDot(): u32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  const a = i8x16(-128, -127, -100, -1, 0, 1, 50, 127, -77, 33, -5, 99, -128, 127, 64, -64);
  const b = i8x16(2, 1, 2, 3, 127, 64, 5, 2, 1, 0, 2, 1, 2, 2, 1, 0);
  const c = i32x4(1, -2, 3, 1000000);
  const got = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, c);
  let bad: u32 = 0;
  for (let lane = 0; lane < 4; lane++) {
    let want: i32 = 0;
    if (lane == 0) want = 1 + (-128 * 2) + (-127 * 1) + (-100 * 2) + (-1 * 3);
    if (lane == 1) want = -2 + 0 * 127 + 1 * 64 + 50 * 5 + 127 * 2;
    if (lane == 2) want = 3 + (-77 * 1) + 33 * 0 + (-5 * 2) + 99 * 1;
    if (lane == 3) want = 1000000 + (-128 * 2) + 127 * 2 + 64 * 1 + (-64 * 0);
    const have = lane == 0 ? i32x4.extract_lane(got, 0) : lane == 1 ? i32x4.extract_lane(got, 1) : lane == 2 ? i32x4.extract_lane(got, 2) : i32x4.extract_lane(got, 3);
    if (have != want) bad |= 1 << lane;
  }
  // i8x16.relaxed_swizzle with in-range indices (the tiled ternary kernel's lookup) must be a plain swizzle
  const table = i8x16(-7, 3, 120, -128, 5, 0, 1, 2, 99, -99, 64, -64, 17, -17, 127, -1);
  const idx = i8x16(15, 0, 3, 3, 8, 9, 1, 14, 2, 7, 6, 5, 4, 13, 12, 11);
  if (v128.any_true(v128.xor(i8x16.relaxed_swizzle(table, idx), i8x16.swizzle(table, idx)))) bad |= 16;
  return bad;
}

/**
 * How this runtime lowers i32x4.relaxed_dot_i8x16_i7x16_add_s, read from its result where the 7-bit operand is out
 * of range (0xff bytes against 127s; the instruction's result is then implementation-defined): 1 = exact, the
 * 7-bit operand read unsigned (4 x 255 x 127 = 129540: x86 vpdpbusd, V8 with AVX-VNNI), 2 = exact, read signed
 * (-508: vpdpbssd, Arm sdot or an emulation), 0 = two saturated pmaddubsw pairs added (2 x 32767: V8's x86 lowering
 * without AVX-VNNI, 5 instructions), 3 = anything else or lanes that disagree; 0 in the SIMD128 build. The glue runs
 * the fused i32 kernels (common.ts dotAdd32) by default only on 1, the one lowering measured to pay off.
 */
export function relaxedDotLowering(): u32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  const got = i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.splat(127), i8x16.splat(-1), i32x4.splat(0));
  const v = i32x4.extract_lane(got, 0);
  if (v128.any_true(v128.xor(got, i32x4.splat(v)))) return 3;
  if (v == 4 * 255 * 127) return 1;
  if (v == -4 * 127) return 2;
  if (v == 2 * 32767) return 0;
  return 3;
}
