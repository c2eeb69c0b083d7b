// Node-side tests of the webgpu backend without a GPU (its kernels run in test/browser/webgpu.test.ts, in Chromium, and
// in node-webgpu.test.ts through Dawn): the bundled WGSL is not stale, and a runtime without WebGPU or without an
// adapter gets BACKEND_UNAVAILABLE naming what is missing.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tinyModel } from '../../../test/helpers/tiny-models.js';
import { BitNet } from '../../engine/bitnet.js';
import { isBitNetError } from '../../errors.js';
import { SHADERS } from './generated/shaders.js';
import { createWebGpuBackend } from './index.js';

async function codeAndMessage(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return isBitNetError(e) ? `${e.code}: ${e.message}` : `not a BitNetError: ${String(e)}`;
  }
}

describe('webgpu backend outside a browser', () => {
  it('generated/shaders.ts holds exactly the .wgsl files, unchanged (else: npm run build:wgsl)', () => {
    const dir = join(import.meta.dirname, 'shaders');
    const files = readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort();
    expect(Object.keys(SHADERS).sort()).toEqual(files.map((f) => f.slice(0, -5)));
    for (const f of files) expect(SHADERS[f.slice(0, -5) as keyof typeof SHADERS], `${f} is stale in generated/shaders.ts`).toBe(readFileSync(join(dir, f), 'utf8'));
  });

  it('without navigator.gpu or a given GPU: BACKEND_UNAVAILABLE from the backend; BitNet.load with a GPU that has no adapter too', async () => {
    // (BitNet.load with backend 'webgpu' and no GPU given goes through Node's `webgpu` package: node-webgpu.test.ts)
    expect(await codeAndMessage(createWebGpuBackend())).toMatch(/^BACKEND_UNAVAILABLE: .*no navigator\.gpu/);
    const gpu = { requestAdapter: () => Promise.resolve(null) };
    expect(await codeAndMessage(BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'webgpu', gpu }))).toMatch(/^BACKEND_UNAVAILABLE: .*no adapter/);
  });

  it('an adapter request that gives none, or a device request that fails: BACKEND_UNAVAILABLE', async () => {
    expect(await codeAndMessage(createWebGpuBackend({ gpu: { requestAdapter: () => Promise.resolve(null) } }))).toMatch(/^BACKEND_UNAVAILABLE: .*no adapter/);
    const limits = { maxStorageBufferBindingSize: 1 << 27, maxBufferSize: 1 << 28, maxComputeWorkgroupsPerDimension: 65535, maxStorageBuffersPerShaderStage: 8 };
    const adapter = { limits, features: { has: () => false }, requestDevice: () => Promise.reject(new Error('out of devices')) };
    expect(await codeAndMessage(createWebGpuBackend({ gpu: { requestAdapter: () => Promise.resolve(adapter) } }))).toMatch(/^BACKEND_UNAVAILABLE: .*requestDevice failed: out of devices/);
  });
});
