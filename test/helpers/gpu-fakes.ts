// Wrapped WebGPU objects for tests, in Node (Dawn) and in the page (Chromium): an adapter relabelled as hardware, and
// devices that report running out of memory for chosen buffers. Browser-safe (no Node imports).

import type { Gpu, GpuAdapter, GpuDevice, GpuQueue } from '../../src/kernels/webgpu/gpu-api.js';

/** A proxy of a native WebGPU object with some members replaced (methods keep their native `this`). */
export function override<T extends object>(target: T, members: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(t, p) {
      if (Object.prototype.hasOwnProperty.call(members, p)) return (members as Record<string | symbol, unknown>)[p];
      const v: unknown = Reflect.get(t, p, t);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/**
 * A GPU whose adapter reports itself as hardware (the SwiftShader adapter underneath, so every kernel still really runs
 * in Dawn); `breakQueue` makes its devices drop every submitted command buffer, so results never come back computed.
 */
export function hardwareLabelled(gpu: Gpu, breakQueue = false): Gpu {
  return wrapAdapters(gpu, (a) =>
    override(a, {
      info: { vendor: 'test', architecture: 'hw-labelled', description: 'a CPU adapter relabelled as hardware', isFallbackAdapter: false },
      isFallbackAdapter: false,
      requestDevice: async (d?: Parameters<GpuAdapter['requestDevice']>[0]) => {
        const device = await a.requestDevice(d);
        if (!breakQueue) return device;
        const queue = override<GpuQueue>(device.queue, { submit: () => undefined });
        return override<GpuDevice>(device, { queue });
      },
    }),
  );
}

/** `gpu` with each adapter it gives replaced by wrap(adapter); the same WGSL features, so the backend picks the same kernels. */
function wrapAdapters(gpu: Gpu, wrap: (adapter: GpuAdapter) => GpuAdapter): Gpu {
  return {
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
    async requestAdapter(o) {
      const a = await gpu.requestAdapter(o);
      return a === null ? null : wrap(a);
    },
  };
}

/** `gpu` with each device it gives replaced by wrap(device) (the same WGSL features, so the backend picks the same kernels). */
function wrapDevices(gpu: Gpu, wrap: (device: GpuDevice) => GpuDevice): Gpu {
  return wrapAdapters(gpu, (a) => override(a, { requestDevice: async (d?: Parameters<GpuAdapter['requestDevice']>[0]) => wrap(await a.requestDevice(d)) }));
}

/**
 * A GPU whose devices report running out of memory for the buffers whose label matches `label` (or that `refuse` says
 * so of; the buffer is still made, as a real device makes an invalid one): 'scope' records an out-of-memory error in
 * the innermost 'out-of-memory' error scope, as WebGPU does; 'throw' throws the RangeError of a failed mappedAtCreation.
 * `refused` collects the buffers made invalid ('scope'), and whether they were destroyed since.
 */
export function outOfMemoryFor(
  gpu: Gpu,
  label: RegExp | ((desc: { readonly label: string; readonly size: number }) => boolean),
  how: 'scope' | 'throw',
  refused: { label: string; destroyed: boolean }[] = [],
): Gpu {
  const refuse = label instanceof RegExp ? (d: { readonly label: string }) => label.test(d.label) : label;
  return wrapDevices(gpu, (device) => {
    const scopes: { filter: string; injected: string | undefined }[] = [];
    return override<GpuDevice>(device, {
      pushErrorScope: (filter: 'validation' | 'out-of-memory' | 'internal') => {
        scopes.push({ filter, injected: undefined });
        device.pushErrorScope(filter);
      },
      popErrorScope: () => {
        const top = scopes.pop();
        return device.popErrorScope().then((real) => (top?.injected !== undefined ? { message: top.injected } : real));
      },
      createBuffer: (desc: Parameters<GpuDevice['createBuffer']>[0]) => {
        if (desc.label !== undefined && refuse({ label: desc.label, size: desc.size })) {
          if (how === 'throw') throw new RangeError(`injected: could not map ${desc.size} bytes at creation`);
          const oom = scopes.findLast((s) => s.filter === 'out-of-memory');
          if (oom !== undefined) oom.injected = `injected: out of memory for ${desc.label}`;
          const b = device.createBuffer(desc);
          const record = { label: desc.label, destroyed: false };
          refused.push(record);
          const destroy = b.destroy.bind(b);
          b.destroy = () => {
            record.destroyed = true;
            destroy();
          };
          return b;
        }
        return device.createBuffer(desc);
      },
    });
  });
}

/** A GPU whose devices count the compute dispatches recorded on them (`counter.dispatches`). */
export function dispatchCounting(gpu: Gpu, counter: { dispatches: number }): Gpu {
  return wrapDevices(gpu, (device) =>
    override<GpuDevice>(device, {
      createCommandEncoder: () => {
        const enc = device.createCommandEncoder();
        return override(enc, {
          beginComputePass: () => {
            const pass = enc.beginComputePass();
            return override(pass, {
              dispatchWorkgroups: (x: number, y?: number) => {
                counter.dispatches++;
                pass.dispatchWorkgroups(x, y);
              },
            });
          },
        });
      },
    }),
  );
}

/** `gpu` whose devices note the label of every pipeline they create, synchronously or in the background. */
export function pipelineCounting(gpu: Gpu): { gpu: Gpu; sync: string[]; async: string[] } {
  const sync: string[] = [];
  const async: string[] = [];
  const counted = wrapDevices(gpu, (device) =>
    override<GpuDevice>(device, {
      createComputePipeline: (d: Parameters<GpuDevice['createComputePipeline']>[0]) => {
        sync.push(d.label ?? '');
        return device.createComputePipeline(d);
      },
      createComputePipelineAsync:
        device.createComputePipelineAsync === undefined
          ? undefined
          : (d: Parameters<GpuDevice['createComputePipeline']>[0]) => {
              async.push(d.label ?? '');
              return (device.createComputePipelineAsync as NonNullable<GpuDevice['createComputePipelineAsync']>).call(device, d);
            },
    }),
  );
  return { gpu: counted, sync, async };
}

/**
 * `gpu` whose backends share devices: one per device descriptor, made on a fresh adapter once and never destroyed (a
 * backend's dispose still destroys its buffers), so a suite that makes a backend per test compiles each pipeline once
 * (the backend keeps pipelines per device; SwiftShader takes about a second to compile attention.wgsl).
 */
export function sharedDevices(gpu: Gpu): Gpu {
  const devices = new Map<string, Promise<GpuDevice>>();
  return wrapAdapters(gpu, (a) =>
    override(a, {
      requestDevice: (d?: Parameters<GpuAdapter['requestDevice']>[0]): Promise<GpuDevice> => {
        const key = JSON.stringify(d ?? {});
        let device = devices.get(key);
        if (device === undefined) {
          device = a.requestDevice(d).then((real) => override<GpuDevice>(real, { destroy: () => undefined }));
          devices.set(key, device);
        }
        return device;
      },
    }),
  );
}
