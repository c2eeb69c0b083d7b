// Picks and creates the compute backend a load asked for; records any fallback so strict mode can refuse it.

import { BitNetError, isBitNetError } from '../errors.js';
import type { KernelBackend } from '../kernels/backend.js';
import { createReferenceBackend } from '../kernels/reference/index.js';
import type { Gpu } from '../kernels/webgpu/gpu-api.js';
import { isNodeRuntime } from '../platform/node-builtin.js';
import type { BackendChoice } from './types.js';

export interface BackendSelection {
  readonly backend: KernelBackend;
  /** Why the backend differs from what was asked ('' when it does not). */
  readonly fallback: string;
}

/**
 * Most threads a backend may be asked for: each is a worker started at load with its own stack and module
 * instance, and threads beyond the cores only spin against each other (1000 took ~57 s to load).
 */
export const MAX_THREADS = 256;

/** Failures that mean "this runtime cannot run the wasm backend" (a fallback may follow); anything else is a bug. */
function isUnavailable(e: unknown): boolean {
  return isBitNetError(e, 'BACKEND_UNAVAILABLE') || isBitNetError(e, 'KERNEL_SELF_CHECK_FAILED');
}

/** Creates the wasm backend, with the fallback it took ('' for none); a parameter so tests can stand in a failing one. */
export type WasmBackendFactory = (opts: { threads?: number }) => Promise<BackendSelection>;

const createWasm: WasmBackendFactory = async (opts) => {
  const wasm = await import('../kernels/wasm/index.js');
  // A page without cross-origin isolation cannot share memory with workers: one thread, recorded as a fallback.
  const noThreads = wasm.threadsUnavailableReason();
  if (noThreads !== '' && opts.threads !== 1) return { backend: await wasm.createWasmBackend({ threads: 1 }), fallback: `wasm backend on one thread: ${noThreads}` };
  return { backend: await wasm.createWasmBackend(opts), fallback: '' };
};

/** Where WebGPU comes from: a GPU object the caller gave (LoadOptions.gpu), and how to reach Node's binding. */
export interface GpuSource {
  /** LoadOptions.gpu: used first, for 'webgpu' and for 'auto'. */
  readonly gpu?: Gpu;
  /** Node's `webgpu` package (default: kernels/webgpu/node-gpu.ts); a parameter so tests can stand in a missing one. */
  readonly loadNodeGpu?: () => Promise<Gpu>;
}

function browserGpu(): Gpu | undefined {
  return (globalThis as { navigator?: { gpu?: Gpu } }).navigator?.gpu;
}

/** The GPU object for an explicit 'webgpu' choice: given, navigator.gpu, or in Node the `webgpu` package. */
async function gpuForWebGpu(source: GpuSource): Promise<Gpu | undefined> {
  const gpu = source.gpu ?? browserGpu();
  if (gpu !== undefined || !isNodeRuntime()) return gpu;
  if (source.loadNodeGpu !== undefined) return source.loadNodeGpu();
  const { loadNodeGpu } = await import('../kernels/webgpu/node-gpu.js');
  return loadNodeGpu();
}

/**
 * 'auto' and WebGPU: take it only for a hardware adapter whose device passes the start-up self-check (a small matmul
 * and RMSNorm against the reference, on a throwaway backend). A software adapter (SwiftShader, lavapipe) is passed
 * over without a fallback: wasm is faster on the same CPU. A hardware adapter that fails to start or to compute
 * right is a fallback (strict mode refuses it). In Node, auto looks at WebGPU only when LoadOptions.gpu is given:
 * loading Dawn costs 20-90 ms and, on a machine without a Vulkan driver, writes driver warnings to stderr.
 */
async function autoWebGpu(gpu: Gpu): Promise<BackendSelection | { readonly fallback: string } | null> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (adapter === null) return null;
  const [{ softwareAdapterReason, adapterName }, webgpu, { selfCheckAgainstReference }] = await Promise.all([
    import('../kernels/webgpu/adapter-kind.js'),
    import('../kernels/webgpu/index.js'),
    import('../kernels/backend-self-check.js'),
  ]);
  if (softwareAdapterReason(adapter) !== '') return null;
  const name = adapterName(adapter);
  let problem: string;
  try {
    // the adapter already found, and the same WGSL features, so the probe runs the kernels the backend will
    const probe = await webgpu.createWebGpuBackend({ gpu: { requestAdapter: () => Promise.resolve(adapter), wgslLanguageFeatures: gpu.wgslLanguageFeatures } });
    try {
      problem = await selfCheckAgainstReference(probe);
    } finally {
      await probe.dispose();
    }
    if (problem === '') return { backend: await webgpu.createWebGpuBackend({ gpu }), fallback: '' };
  } catch (e) {
    if (!isUnavailable(e)) throw e;
    return { fallback: `webgpu adapter ${name} could not start (${e instanceof Error ? e.message : String(e)}); using the wasm backend` };
  }
  return { fallback: `webgpu adapter ${name} failed its start-up self-check (${problem}); using the wasm backend` };
}

export async function selectBackend(
  choice: BackendChoice,
  threads: number | undefined,
  strict: boolean,
  create: WasmBackendFactory = createWasm,
  gpuSource: GpuSource = {},
): Promise<BackendSelection> {
  if (choice === 'reference') return { backend: createReferenceBackend(), fallback: '' };
  if (choice === 'webgpu') {
    // LoadOptions.gpu, navigator.gpu, or Node's `webgpu` package; BACKEND_UNAVAILABLE naming what is missing.
    const gpu = await gpuForWebGpu(gpuSource);
    const webgpu = await import('../kernels/webgpu/index.js');
    return { backend: await webgpu.createWebGpuBackend(gpu === undefined ? {} : { gpu }), fallback: '' };
  }
  let gpuFallback = '';
  const autoGpu = choice === 'auto' ? (gpuSource.gpu ?? browserGpu()) : undefined;
  if (autoGpu !== undefined) {
    const r = await autoWebGpu(autoGpu);
    if (r !== null && 'backend' in r) return r;
    if (r !== null) {
      if (strict) throw new BitNetError('STRICT_VIOLATION', `strict mode: ${r.fallback}`, { details: { policy: 'no-fallback', backend: 'webgpu' } });
      gpuFallback = r.fallback;
    }
  }
  const sel = await selectCpu(choice, threads, strict, create);
  return gpuFallback === '' ? sel : { backend: sel.backend, fallback: sel.fallback === '' ? gpuFallback : `${gpuFallback}; ${sel.fallback}` };
}

async function selectCpu(choice: BackendChoice, threads: number | undefined, strict: boolean, create: WasmBackendFactory): Promise<BackendSelection> {
  try {
    return await create(threads === undefined ? {} : { threads });
  } catch (e) {
    if (!isUnavailable(e)) throw e;
    if (choice === 'wasm' || strict) {
      const code = strict && choice === 'auto' ? 'STRICT_VIOLATION' : 'BACKEND_UNAVAILABLE';
      throw new BitNetError(code, `the wasm backend could not start: ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { backend: 'wasm' } });
    }
    return { backend: createReferenceBackend(), fallback: `wasm backend unavailable (${e instanceof Error ? e.message : String(e)}); using the scalar reference` };
  }
}
