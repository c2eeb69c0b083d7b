// Counts the GPU memory a WebGPU backend allocates: wraps a GPU object so that every device it gives counts the bytes
// of the buffers created on it (live now, and the peak). Runs in Node (Dawn) and in pages alike (no Node imports).
//
// What it measures: the sizes the engine asked for in createBuffer (weights, activations, KV cache, staging and
// read-back buffers), not the driver's own overhead or padding.

import type { Gpu, GpuAdapter, GpuBuffer, GpuDevice } from '../src/kernels/webgpu/gpu-api.js';

export interface GpuMemoryCounter {
  readonly gpu: Gpu;
  /** Bytes of buffers created and not destroyed. */
  liveBytes(): number;
  peakBytes(): number;
  /** The adapter's self-description, once one was requested. */
  adapter(): string;
}

/** Forwards every member to the native object (methods bound to it), except those in `members`. */
export function override<T extends object>(target: T, members: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(t, p) {
      if (Object.prototype.hasOwnProperty.call(members, p)) return (members as Record<string | symbol, unknown>)[p];
      const v: unknown = Reflect.get(t, p, t);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

export function countGpuMemory(gpu: Gpu): GpuMemoryCounter {
  let live = 0;
  let peak = 0;
  let name = '';
  const counted = (device: GpuDevice): GpuDevice =>
    override(device, {
      createBuffer: (d: Parameters<GpuDevice['createBuffer']>[0]): GpuBuffer => {
        const b = device.createBuffer(d);
        live += d.size;
        peak = Math.max(peak, live);
        // Buffers go back into native calls, so they cannot be proxies: shadow destroy on the object itself.
        const destroy = b.destroy.bind(b);
        let gone = false;
        (b as { destroy: () => void }).destroy = () => {
          if (!gone) live -= d.size;
          gone = true;
          destroy();
        };
        return b;
      },
    });
  return {
    gpu: {
      async requestAdapter(o) {
        const a = await gpu.requestAdapter(o);
        if (a === null) return null;
        const i = a.info;
        name = [i?.vendor, i?.architecture, i?.description].filter((s) => s !== undefined && s !== '').join(' ');
        return override<GpuAdapter>(a, { requestDevice: async (d?: Parameters<GpuAdapter['requestDevice']>[0]) => counted(await a.requestDevice(d)) });
      },
      // the backend picks its kernels by these (packed_4x8_integer_dot_product): measure the ones it would run
      wgslLanguageFeatures: gpu.wgslLanguageFeatures,
    },
    liveBytes: () => live,
    peakBytes: () => peak,
    adapter: () => name,
  };
}
