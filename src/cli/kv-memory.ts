// `bitnet serve --kv-memory SIZE` and its default: the paged KV cache that concurrent requests share.

import { freemem } from 'node:os';
import { BitNet } from '../engine/bitnet.js';
import type { LoadOptions } from '../engine/types.js';
import { BitNetError } from '../errors.js';
import { WASM_MEMORY_MAX_BYTES } from '../kernels/wasm/index.js';

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

/** Bytes of a size flag: an integer with an optional K/M/G (binary) suffix, e.g. 512M, 2G, 1048576. */
export function sizeFromFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(value.trim());
  const bytes = m === null ? NaN : Math.floor(Number(m[1]) * (UNITS[m[2].toLowerCase()] ?? NaN));
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new BitNetError('BAD_ARGUMENT', `--${flag}: expected a size such as 512M, 2G or a byte count, got '${value}'`, { details: { flag, value } });
  }
  return bytes;
}

export interface KvBudget {
  readonly bytes: number;
  /** How the budget was chosen, for the log. */
  readonly why: string;
}

/**
 * The default KV budget for `parallel` concurrent requests: one full context each, capped by half the free memory
 * and, on the wasm backend, by what a 4 GiB wasm memory leaves beside the weights and activations; never less than
 * one context (a load's default budget). A budget is the most the cache may take: on CPU it grows into it as requests
 * need blocks (kernels/kv-growth.ts), so a large default costs nothing until it is used.
 */
export async function defaultKvBudget(path: string, load: LoadOptions, parallel: number): Promise<KvBudget> {
  const plan = await BitNet.plan(path, load.contextLength === undefined ? {} : { contextLength: load.contextLength });
  const perContext = plan.memory.kvBytes;
  const wanted = parallel * perContext;
  const caps: [number, string][] = [[Math.floor(freemem() / 2), 'half the free memory']];
  if (load.backend !== 'reference' && load.backend !== 'webgpu') {
    caps.push([WASM_MEMORY_MAX_BYTES - plan.memory.weightBytes - plan.memory.activationBytes - 64 * 2 ** 20, 'the 4 GiB wasm memory beside the weights']);
  }
  let bytes = wanted;
  let why = `${parallel} x ${plan.contextLength}-token contexts`;
  for (const [cap, name] of caps) {
    if (cap < bytes) {
      bytes = cap;
      why = `capped by ${name}`;
    }
  }
  if (bytes < perContext) {
    bytes = perContext;
    why = 'one context (the least a load takes)';
  }
  return { bytes, why };
}
