// GPU time of each submission, for the device check (bench/webgpu-device.ts): wraps a GPU object so that its devices
// ask for 'timestamp-query' (where the adapter has it) and every compute pass the backend begins writes a timestamp
// at its start and end; at each submit the pairs are resolved and read back, and the sum of the passes' durations is
// that submission's GPU time. The backend records a step into one compute pass (ended only for copies), so the sum
// is the step's kernels. Where the adapter has no timestamp queries, nothing is timed (available() is false).
// Browsers may round timestamps (Chrome to 100 us unless its developer features are on); Dawn in Node does not here.

import type { Gpu, GpuAdapter, GpuBuffer, GpuCommandBuffer, GpuCommandEncoder, GpuComputePass, GpuDevice } from '../src/kernels/webgpu/gpu-api.js';
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
}

export function timeGpuPasses(gpu: Gpu): GpuTimer {
  let enabled = false;
  const pending: Promise<number>[] = [];
  const instrument = (device: GpuDevice): GpuDevice => {
    const d = device as unknown as TimingDevice;
    const encoders = new Map<GpuCommandBuffer, () => Promise<number>>();
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
      createCommandEncoder: (): GpuCommandEncoder => {
        const enc = device.createCommandEncoder() as unknown as TimingEncoder;
        const querySet = d.createQuerySet({ type: 'timestamp', count: 2 * MAX_PASSES });
        let passes = 0;
        return override<GpuCommandEncoder>(enc as unknown as GpuCommandEncoder, {
          beginComputePass: (): GpuComputePass => {
            if (passes >= MAX_PASSES) return enc.beginComputePass();
            const i = passes++;
            return enc.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
          },
          finish: (): GpuCommandBuffer => {
            const n = passes;
            let read: (() => Promise<number>) | undefined;
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
                let ns = 0n;
                for (let k = 0; k < n; k++) if (t[2 * k + 1] > t[2 * k]) ns += t[2 * k + 1] - t[2 * k];
                return Number(ns) / 1e6;
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
    take: async () => Promise.all(pending.splice(0)),
  };
}
