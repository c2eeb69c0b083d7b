// Reaches a Node built-in module at run time without an import, so modules that browsers load may still
// use the file system, worker threads or the CPU count when they run in Node.

import { BitNetError } from '../errors.js';

interface NodeProcess {
  versions?: { node?: string };
  getBuiltinModule?: (id: string) => unknown;
}

function nodeProcess(): NodeProcess | undefined {
  const p = (globalThis as { process?: NodeProcess }).process;
  return typeof p === 'object' && typeof p.versions?.node === 'string' ? p : undefined;
}

/** True in Node (and runtimes that pose as Node: Bun, Deno with process). */
export function isNodeRuntime(): boolean {
  return nodeProcess() !== undefined;
}

/**
 * The built-in module `id` (e.g. 'node:fs/promises'). process.getBuiltinModule (Node >= 20.16) first; older Node
 * gets a dynamic import whose specifier is computed, because the root entry must bundle for browsers and an import
 * expression naming 'node:…' makes a browser bundler fail even where the code never runs. The caller states the
 * module's type (`import type` is erased, so it costs a browser nothing). BACKEND_UNAVAILABLE outside Node.
 */
export async function nodeBuiltin<T>(id: `node:${string}`): Promise<T> {
  const p = nodeProcess();
  if (p === undefined) {
    throw new BitNetError('BACKEND_UNAVAILABLE', `${id} is only available in Node; this runtime is not Node`, { details: { module: id } });
  }
  if (typeof p.getBuiltinModule === 'function') return p.getBuiltinModule(id) as T;
  const specifier = String(id);
  return (await import(/* @vite-ignore */ specifier)) as T;
}
