// Whether a WebGPU adapter is a real GPU or a software rasterizer (SwiftShader, llvmpipe/lavapipe, WARP), from what
// the adapter says about itself.
//
// Why it matters: the engine's `auto` backend takes WebGPU only on hardware. A software adapter runs the WGSL kernels
// on the CPU through a shader JIT, without the wasm backend's SIMD dot products and with a dispatch per op: measured
// in bench/README.md ("WebGPU"), decode 85-290x slower than wasm on the same cores.

import type { GpuAdapter } from './gpu-api.js';

/** Names software adapters report in their vendor / architecture / device / description strings. */
const SOFTWARE_NAMES = /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render|warp/i;

/** Why the adapter counts as software ('' for a hardware adapter). */
export function softwareAdapterReason(adapter: GpuAdapter): string {
  const info = adapter.info;
  // GPUAdapterInfo.isFallbackAdapter (current spec), GPUAdapter.isFallbackAdapter (older browsers)
  if (info?.isFallbackAdapter === true || adapter.isFallbackAdapter === true) return 'a fallback (software) adapter';
  const names = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s): s is string => typeof s === 'string' && s !== '');
  const hit = names.find((s) => SOFTWARE_NAMES.test(s));
  return hit === undefined ? '' : `a software adapter (${hit})`;
}

/** One line naming the adapter, for messages. */
export function adapterName(adapter: GpuAdapter): string {
  const i = adapter.info;
  return [i?.vendor, i?.architecture, i?.description].filter((s) => s !== undefined && s !== '').join(' ') || 'unknown adapter';
}
