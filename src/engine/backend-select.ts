// Picks and creates the compute backend a load asked for; records any fallback so strict mode can refuse it.

import { BitNetError } from '../errors.js';
import type { KernelBackend } from '../kernels/backend.js';
import { createReferenceBackend } from '../kernels/reference/index.js';
import type { BackendChoice } from './types.js';

export interface BackendSelection {
  readonly backend: KernelBackend;
  /** Why the backend differs from what was asked ('' when it does not). */
  readonly fallback: string;
}

export async function selectBackend(choice: BackendChoice, threads: number | undefined, strict: boolean): Promise<BackendSelection> {
  if (choice === 'reference') return { backend: createReferenceBackend(), fallback: '' };
  if (choice === 'webgpu') {
    throw new BitNetError('BACKEND_UNAVAILABLE', "backend 'webgpu' is not available in this build yet; use 'wasm' or 'reference'", { details: { backend: choice } });
  }
  try {
    const wasm = await import('../kernels/wasm/index.js');
    // A page without cross-origin isolation cannot share memory with workers: one thread, recorded as a fallback.
    const noThreads = wasm.threadsUnavailableReason();
    if (noThreads !== '' && threads !== 1) {
      const backend = await wasm.createWasmBackend({ threads: 1 });
      return { backend, fallback: `wasm backend on one thread: ${noThreads}` };
    }
    const backend = await wasm.createWasmBackend(threads === undefined ? {} : { threads });
    return { backend, fallback: '' };
  } catch (e) {
    if (choice === 'wasm' || strict) {
      const code = strict && choice === 'auto' ? 'STRICT_VIOLATION' : 'BACKEND_UNAVAILABLE';
      throw new BitNetError(code, `the wasm backend could not start: ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { backend: 'wasm' } });
    }
    return { backend: createReferenceBackend(), fallback: `wasm backend unavailable (${e instanceof Error ? e.message : String(e)}); using the scalar reference` };
  }
}
