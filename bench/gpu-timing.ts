// GPU time of each submission, for the device check (bench/webgpu-device.ts): wraps a GPU object so that its devices
// ask for 'timestamp-query' (where the adapter has it) and every compute pass the backend begins writes a timestamp
// at its start and end; at each submit the pairs are resolved and read back, and the sum of the passes' durations is
// that submission's GPU time. The backend records each submission of a step into one compute pass (ended only for
// copies), so the sums over a step's submissions are its kernels. With perDispatch, each dispatch is timed alone and
// the times are summed by kernel. Where the adapter has no timestamp queries, nothing is timed (available() false).
// Browsers may round timestamps (Chrome to 100 us unless its developer features are on); Dawn in Node does not here.

import type { Gpu, GpuAdapter, GpuBindGroup, GpuBuffer, GpuCommandBuffer, GpuCommandEncoder, GpuComputePass, GpuComputePipeline, GpuDevice } from '../src/kernels/webgpu/gpu-api.js';
import { override } from './gpu-memory.js';

/** The parts of WebGPU's timestamp queries used here (not in the backend's gpu-api.ts subset). */
interface QuerySet {
  destroy(): void;
}
interface TimingDevice {
  createQuerySet(d: { type: 'timestamp'; count: number }): QuerySet;
  createBuffer(d: { size: number; usage: number }): GpuBuffer;
}
interface TimingEncoder {
  beginComputePass(d?: { timestampWrites?: { querySet: QuerySet; beginningOfPassWriteIndex: number; endOfPassWriteIndex: number } }): GpuComputePass;
  resolveQuerySet(q: QuerySet, first: number, count: number, dst: GpuBuffer, offset: number): void;
  copyBufferToBuffer(src: GpuBuffer, srcOffset: number, dst: GpuBuffer, dstOffset: number, size: number): void;
  finish(): GpuCommandBuffer;
}

/** Passes timed per submission (more are left untimed). */
const MAX_PASSES = 512;
const QUERY_RESOLVE = 0x200;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const MAP_READ = 0x1;

export interface GpuTimer {
  readonly gpu: Gpu;
  /** Whether the device got timestamp queries. */
  available(): boolean;
  /** GPU milliseconds of each submission since the last take(), oldest first (awaits the read-backs). */
  take(): Promise<number[]>;
  /**
   * perDispatch only: GPU milliseconds and dispatch counts by kernel (the compute pipeline's label) since the last
   * take() or takeKernels() (awaits the read-backs).
   */
  takeKernels(): Promise<Map<string, { ms: number; count: number }>>;
}

/** What a submission's timestamps hold: each timed pass's label (its kernel in per-dispatch mode; '' else). */
type PassTimes = { label: string; ms: number }[];

/**
 * Wraps `gpu` so that its devices time their compute passes. With `perDispatch`, every dispatch gets a pass of its
 * own (the proxy pass ends the real one after each dispatch and begins the next with the pipeline and bind group set
 * again), labelled with its pipeline's label, so the GPU time of each kernel can be summed (takeKernels). That adds a
 * pass boundary per dispatch, so its totals are a breakdown, not the step's time.
 */
export function timeGpuPasses(gpu: Gpu, opts: { perDispatch?: boolean } = {}): GpuTimer {
  let enabled = false;
  const perDispatch = opts.perDispatch === true;
  const pending: Promise<PassTimes>[] = [];
  const instrument = (device: GpuDevice): GpuDevice => {
    const d = device as unknown as TimingDevice;
    const encoders = new Map<GpuCommandBuffer, () => Promise<PassTimes>>();
    const labels = new WeakMap<GpuComputePipeline, string>();
    const queue = override(device.queue, {
      submit: (buffers: GpuCommandBuffer[]) => {
        device.queue.submit(buffers);
        for (const b of buffers) {
          const read = encoders.get(b);
          encoders.delete(b);
          if (read !== undefined) pending.push(read());
        }
      },
    });
    return override<GpuDevice>(device, {
      queue,
      createComputePipeline: (desc: Parameters<GpuDevice['createComputePipeline']>[0]): GpuComputePipeline => {
        const p = device.createComputePipeline(desc);
        labels.set(p, desc.label ?? '');
        return p;
      },
      // the backend's warm-up compiles most pipelines this way
      createComputePipelineAsync:
        device.createComputePipelineAsync === undefined
          ? undefined
          : async (desc: Parameters<GpuDevice['createComputePipeline']>[0]): Promise<GpuComputePipeline> => {
              const p = await (device.createComputePipelineAsync as NonNullable<GpuDevice['createComputePipelineAsync']>).call(device, desc);
              labels.set(p, desc.label ?? '');
              return p;
            },
      createCommandEncoder: (): GpuCommandEncoder => {
        const enc = device.createCommandEncoder() as unknown as TimingEncoder;
        const querySet = d.createQuerySet({ type: 'timestamp', count: 2 * MAX_PASSES });
        const passLabels: string[] = [];
        const timed = (label: string): GpuComputePass => {
          if (passLabels.length >= MAX_PASSES) return enc.beginComputePass();
          const i = passLabels.length;
          passLabels.push(label);
          return enc.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
        };
        // per dispatch: a pass of its own, the state the backend set replayed on it
        const splitting = (): GpuComputePass => {
          let pipeline: GpuComputePipeline | undefined;
          let group: GpuBindGroup | undefined;
          return {
            setPipeline: (p) => void (pipeline = p),
            setBindGroup: (_index, g) => void (group = g),
            dispatchWorkgroups: (x, y, z) => {
              const real = timed(pipeline === undefined ? '' : (labels.get(pipeline) ?? ''));
              if (pipeline !== undefined) real.setPipeline(pipeline);
              if (group !== undefined) real.setBindGroup(0, group);
              real.dispatchWorkgroups(x, y, z);
              real.end();
            },
            end: () => undefined,
          };
        };
        return override<GpuCommandEncoder>(enc as unknown as GpuCommandEncoder, {
          beginComputePass: (): GpuComputePass => (perDispatch ? splitting() : timed('')),
          finish: (): GpuCommandBuffer => {
            const n = passLabels.length;
            let read: (() => Promise<PassTimes>) | undefined;
            if (n > 0) {
              const resolved = d.createBuffer({ size: 16 * n, usage: QUERY_RESOLVE | COPY_SRC });
              const back = d.createBuffer({ size: 16 * n, usage: MAP_READ | COPY_DST });
              enc.resolveQuerySet(querySet, 0, 2 * n, resolved, 0);
              enc.copyBufferToBuffer(resolved, 0, back, 0, 16 * n);
              read = async () => {
                await back.mapAsync(MAP_READ);
                const t = new BigUint64Array(back.getMappedRange().slice(0));
                back.destroy();
                resolved.destroy();
                querySet.destroy();
                return passLabels.map((label, k) => ({ label, ms: t[2 * k + 1] > t[2 * k] ? Number(t[2 * k + 1] - t[2 * k]) / 1e6 : 0 }));
              };
            } else querySet.destroy();
            const cb = enc.finish();
            if (read !== undefined) encoders.set(cb, read);
            return cb;
          },
        });
      },
    });
  };
  return {
    gpu: {
      wgslLanguageFeatures: gpu.wgslLanguageFeatures,
      async requestAdapter(o) {
        const a = await gpu.requestAdapter(o);
        if (a === null) return null;
        return override<GpuAdapter>(a, {
          requestDevice: async (desc?: Parameters<GpuAdapter['requestDevice']>[0]) => {
            enabled = a.features.has('timestamp-query');
            const device = await a.requestDevice(enabled ? { ...desc, requiredFeatures: [...(desc?.requiredFeatures ?? []), 'timestamp-query'] } : desc);
            return enabled ? instrument(device) : device;
          },
        });
      },
    },
    available: () => enabled,
    take: async () => (await Promise.all(pending.splice(0))).map((passes) => passes.reduce((a, p) => a + p.ms, 0)),
    takeKernels: async () => {
      const byKernel = new Map<string, { ms: number; count: number }>();
      for (const passes of await Promise.all(pending.splice(0))) {
        for (const { label, ms } of passes) {
          const k = byKernel.get(label) ?? { ms: 0, count: 0 };
          k.ms += ms;
          k.count++;
          byKernel.set(label, k);
        }
      }
      return byKernel;
    },
  };
}
