// Picks and creates the compute backend a load asked for; records any fallback so strict mode can refuse it.

import { BitNetError, isBitNetError } from '../errors.js';
import type { KernelBackend } from '../kernels/backend.js';
import { createReferenceBackend } from '../kernels/reference/index.js';
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

export async function selectBackend(choice: BackendChoice, threads: number | undefined, strict: boolean, create: WasmBackendFactory = createWasm): Promise<BackendSelection> {
  if (choice === 'reference') return { backend: createReferenceBackend(), fallback: '' };
  if (choice === 'webgpu') {
    // navigator.gpu (browsers); BACKEND_UNAVAILABLE naming what is missing elsewhere. 'auto' does not pick it yet:
    // that needs a start-up self-check against the reference.
    const webgpu = await import('../kernels/webgpu/index.js');
    return { backend: await webgpu.createWebGpuBackend(), fallback: '' };
  }
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
