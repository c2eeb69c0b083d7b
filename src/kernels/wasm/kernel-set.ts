// Which kernel binary to run: baseline SIMD128, or relaxed SIMD where the runtime validates it and computes
// i32x4.relaxed_dot_i8x16_i7x16_add_s right (a start-up self-check; Node 20's V8 behind its flag does not).

import { BitNetError } from '../../errors.js';
import { decodeBase64 } from '../../platform/base64.js';
import { WASM_BASE64 as RELAXED_BASE64 } from './generated/relaxed-simd.js';
import { WASM_BASE64 as SIMD128_BASE64 } from './generated/simd128.js';

export type WasmKernelSet = 'simd128' | 'relaxed-simd';
export type KernelSetRequest = 'auto' | WasmKernelSet;

/** What a runtime offers. */
export interface KernelSetProbe {
  /** WebAssembly.validate accepts the SIMD128 binary. */
  readonly simd128: boolean;
  /** WebAssembly.validate accepts the relaxed-SIMD binary. */
  readonly relaxedValidates: boolean;
  /**
   * Result of the relaxed self-check when it could run: true = the relaxed instruction and a relaxed ternary
   * matmul equal the exact / SIMD128 results; false = they differ; undefined = not run (binary invalid).
   */
  readonly relaxedSelfCheck: boolean | undefined;
  /**
   * How the runtime lowers i32x4.relaxed_dot_i8x16_i7x16_add_s (assembly/self-check.ts relaxedDotLowering): 'vnni'
   * (one x86 vpdpbusd: V8 13.6+ on a CPU with AVX-VNNI), 'signed' (exact, the 7-bit operand read signed: Arm sdot,
   * x86 vpdpbssd, or an emulation), 'saturating' (V8's 5-instruction x86 lowering without AVX-VNNI), 'other';
   * undefined when the relaxed module did not run.
   */
  readonly relaxedDotLowering?: RelaxedDotLowering;
  /** The fused i32 ternary kernels (fusedDot) equal the SIMD128 results in the self-check; undefined when not run. */
  readonly fusedDotSelfCheck?: boolean;
}

export type RelaxedDotLowering = 'vnni' | 'signed' | 'saturating' | 'other';

/** relaxedDotLowering()'s codes (assembly/self-check.ts) by name. */
export const RELAXED_DOT_LOWERINGS: readonly RelaxedDotLowering[] = ['saturating', 'vnni', 'signed', 'other'];

/**
 * Whether a backend on `kernelSet` runs the fused i32 ternary kernels (assembly/common.ts dotAdd32): 'auto' takes
 * them where the relaxed dot lowers to AVX-VNNI and they pass the self-check (measured faster there: bench/README.md);
 * true requires them (BACKEND_UNAVAILABLE without relaxed SIMD, KERNEL_SELF_CHECK_FAILED when they compute wrong);
 * false never.
 */
export function chooseFusedDot(requested: 'auto' | boolean, kernelSet: WasmKernelSet, probe: KernelSetProbe): boolean {
  if (requested === false) return false;
  const ok = kernelSet === 'relaxed-simd' && probe.fusedDotSelfCheck === true;
  if (requested === 'auto') return ok && probe.relaxedDotLowering === 'vnni';
  if (kernelSet !== 'relaxed-simd') {
    throw new BitNetError('BACKEND_UNAVAILABLE', 'wasm backend: fusedDot needs the relaxed-SIMD kernel set', { details: { fusedDot: requested, kernelSet } });
  }
  if (!ok) {
    throw new BitNetError('KERNEL_SELF_CHECK_FAILED', 'wasm backend: the fused relaxed-dot kernels give wrong results on this runtime', { details: { fusedDot: requested } });
  }
  return true;
}


let simd128Bytes: Uint8Array<ArrayBuffer> | undefined;
let relaxedBytes: Uint8Array<ArrayBuffer> | undefined;

/** The binary of a kernel set (decoded once). */
export function kernelBytes(set: WasmKernelSet): Uint8Array<ArrayBuffer> {
  if (set === 'simd128') return (simd128Bytes ??= decodeBase64(SIMD128_BASE64));
  return (relaxedBytes ??= decodeBase64(RELAXED_BASE64));
}

/**
 * The kernel set to use for `requested` on a runtime described by `probe`. 'auto' picks relaxed SIMD only
 * when it validates and passes the self-check. Throws BACKEND_UNAVAILABLE when the requested set cannot
 * run, KERNEL_SELF_CHECK_FAILED when relaxed SIMD validates but computes wrong results.
 */
export function chooseKernelSet(requested: KernelSetRequest, probe: KernelSetProbe): WasmKernelSet {
  if (!probe.simd128) {
    throw new BitNetError('BACKEND_UNAVAILABLE', 'wasm backend: this runtime does not support WebAssembly SIMD128 (with threads and shared memory)', {
      details: { requested },
    });
  }
  if (requested === 'simd128') return 'simd128';
  const relaxedOk = probe.relaxedValidates && probe.relaxedSelfCheck === true;
  if (requested === 'auto') return relaxedOk ? 'relaxed-simd' : 'simd128';
  if (!probe.relaxedValidates) {
    throw new BitNetError('BACKEND_UNAVAILABLE', 'wasm backend: relaxed SIMD was requested but this runtime does not support it (Node >= 22 or a current browser does)', {
      details: { requested },
    });
  }
  if (probe.relaxedSelfCheck !== true) {
    throw new BitNetError('KERNEL_SELF_CHECK_FAILED', 'wasm backend: relaxed SIMD was requested but i32x4.relaxed_dot_i8x16_i7x16_add_s gives wrong results on this runtime', {
      details: { requested },
    });
  }
  return 'relaxed-simd';
}

/** WebAssembly.validate for a kernel set, false instead of throwing. */
export function validates(set: WasmKernelSet): boolean {
  try {
    return WebAssembly.validate(kernelBytes(set));
  } catch {
    return false;
  }
}
