// `bitnet serve --kv-memory SIZE` and `--parallel N`, and their defaults: the paged KV cache that concurrent requests
// share, and how many requests generate at once within it.

import { freemem } from 'node:os';
import { BitNet, DEFAULT_BATCH_SEQUENCES } from '../engine/bitnet.js';
import type { LoadOptions, LoadPlan } from '../engine/types.js';
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

/** Bytes the wasm runtime keeps beside weights, activations and KV (stacks, worker scratch, the allocator's slack). */
const WASM_RESERVE_BYTES = 64 * 2 ** 20;

export interface KvBudget {
  readonly bytes: number;
  /** How the budget was chosen, for the log. */
  readonly why: string;
}

/** The memory figures a serve sizing depends on (all in bytes): what the model's header says, and what the machine has. */
export interface ServeMemory {
  /** KV bytes of one full context (LoadPlan.memory.kvBytes for the load's context length). */
  readonly perContextBytes: number;
  readonly contextLength: number;
  readonly weightBytes: number;
  /** Host memory beside the backend's (LoadMemory.hostBytes: an untied token embedding). */
  readonly hostBytes: number;
  readonly activationBytes: number;
  /** Free memory now (os.freemem()). */
  readonly freeBytes: number;
  /** Whether the backend keeps everything in one 4 GiB wasm memory (wasm, or auto that resolves to it). */
  readonly wasm: boolean;
  /** Logits rows one forward step computes (LoadOptions.maxBatchSequences). */
  readonly maxBatchSequences: number;
}

/**
 * The most KV memory the machine allows: half the free memory that the weights and activations leave, and on the
 * wasm backend what a 4 GiB wasm memory holds beside them; with the name of the cap that binds.
 */
function kvCap(m: ServeMemory): { bytes: number; name: string } {
  let cap = { bytes: Math.floor(Math.max(0, m.freeBytes - m.weightBytes - m.hostBytes - m.activationBytes) / 2), name: 'half the free memory beside the weights' };
  if (m.wasm) {
    const wasmCap = WASM_MEMORY_MAX_BYTES - m.weightBytes - m.activationBytes - WASM_RESERVE_BYTES;
    if (wasmCap < cap.bytes) cap = { bytes: wasmCap, name: 'the 4 GiB wasm memory beside the weights' };
  }
  return cap;
}

/**
 * The KV budget for `parallel` concurrent requests: one full context each, capped by kvCap; never less than one
 * context (a load's default budget). A budget is the most the cache may take: on CPU it grows into it as requests
 * need blocks (kernels/kv-growth.ts), so a large default costs nothing until it is used.
 */
export function kvBudgetFor(m: ServeMemory, parallel: number): KvBudget {
  const cap = kvCap(m);
  let bytes = parallel * m.perContextBytes;
  let why = `${parallel} x ${m.contextLength}-token contexts`;
  if (cap.bytes < bytes) {
    bytes = cap.bytes;
    why = `capped by ${cap.name}`;
  }
  if (bytes < m.perContextBytes) {
    bytes = m.perContextBytes;
    why = 'one context (the least a load takes)';
  }
  return { bytes, why };
}

/** What `bitnet serve` runs with: requests at once, the KV budget they share, and why (for the start-up log). */
export interface ServeSizing {
  readonly parallel: number;
  readonly parallelWhy: string;
  readonly kv: KvBudget;
}

/**
 * `--parallel` and `--kv-memory` with their defaults (flags given win):
 * - parallel, when not given: the full contexts the KV budget holds (--kv-memory, else kvCap: half the free memory
 *   beside the weights, and the 4 GiB wasm memory), at least 1, at most the logits rows of a forward step
 *   (maxBatchSequences, 8 by default). Why that cap: a decode step reads every weight once for all its sequences, so
 *   up to that many sequences share one step's weight reads; past it, decode tokens wait for a second step, so more
 *   sequences add per-token latency and KV memory but no throughput. Cores do not enter: the threads split each matmul
 *   of a step, however many sequences it holds. A full context per request is what vLLM's "maximum concurrency" and
 *   llama-server's per-slot context count on; shorter requests leave room that the prefix cache uses.
 * - kv budget, when not given: kvBudgetFor(parallel).
 */
export function serveSizing(m: ServeMemory, flags: { readonly parallel?: number; readonly kvMemory?: number }): ServeSizing {
  let parallel = flags.parallel;
  let parallelWhy = '--parallel';
  if (parallel === undefined) {
    const cap = kvCap(m);
    const budget = flags.kvMemory ?? cap.bytes;
    const fits = Math.floor(budget / m.perContextBytes);
    const where = flags.kvMemory === undefined ? cap.name : '--kv-memory';
    parallel = Math.min(Math.max(1, fits), m.maxBatchSequences);
    parallelWhy =
      fits > m.maxBatchSequences
        ? `${where} holds ${fits} ${m.contextLength}-token contexts; capped at ${m.maxBatchSequences}, the sequences one forward step batches`
        : fits < 1
          ? `${where} holds less than one ${m.contextLength}-token context`
          : `${where} holds ${fits} ${m.contextLength}-token context${fits === 1 ? '' : 's'}`;
  }
  const kv = flags.kvMemory === undefined ? kvBudgetFor(m, parallel) : { bytes: flags.kvMemory, why: '--kv-memory' };
  return { parallel, parallelWhy, kv };
}

/** The figures of ServeMemory for the model at `path` (its header only) and this machine. */
export async function serveMemory(path: string, load: LoadOptions, freeBytes: number = freemem()): Promise<ServeMemory> {
  const plan: LoadPlan = await BitNet.plan(path, {
    ...(load.contextLength === undefined ? {} : { contextLength: load.contextLength }),
    ...(load.maxBatchSequences === undefined ? {} : { maxBatchSequences: load.maxBatchSequences }),
  });
  return {
    perContextBytes: plan.memory.kvBytes,
    contextLength: plan.contextLength,
    weightBytes: plan.memory.weightBytes,
    hostBytes: plan.memory.hostBytes,
    activationBytes: plan.memory.activationBytes,
    freeBytes,
    wasm: load.backend !== 'reference' && load.backend !== 'webgpu',
    maxBatchSequences: load.maxBatchSequences ?? DEFAULT_BATCH_SEQUENCES,
  };
}

/** The default KV budget for `parallel` concurrent requests on the model at `path` (kvBudgetFor on this machine). */
export async function defaultKvBudget(path: string, load: LoadOptions, parallel: number, freeBytes?: number): Promise<KvBudget> {
  return kvBudgetFor(await serveMemory(path, load, freeBytes), parallel);
}
