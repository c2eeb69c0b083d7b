// The page side of bench/webgpu.ts, bundled by esbuild and run in headless Chromium: the engine on the page's
// navigator.gpu (counted by gpu-memory.ts), the model read from the bench's local server as a Blob.

import type { Gpu } from '../src/kernels/webgpu/gpu-api.js';
import { countGpuMemory } from './gpu-memory.js';
import { measure, type Measured } from './webgpu-measure.js';

export interface PageResult extends Measured {
  readonly adapter: string;
  readonly gpuPeakBytes: number;
}

const api = {
  async run(url: string, pp: number, tg: number): Promise<PageResult> {
    const native = (navigator as { gpu?: Gpu }).gpu;
    if (native === undefined) throw new Error('no navigator.gpu in this page');
    const counter = countGpuMemory(native);
    const blob = await (await fetch(url)).blob();
    const r = await measure(blob, { backend: 'webgpu', gpu: counter.gpu }, pp, tg);
    return { ...r, adapter: counter.adapter(), gpuPeakBytes: counter.peakBytes() };
  },
};

(globalThis as { webgpuBench?: typeof api }).webgpuBench = api;
