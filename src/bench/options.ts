// Option parsing and process-level helpers shared by `npm run bench` and `bitnet bench`: lists, tolerance, the baseline file, a one-bench-at-a-time lock.

import { open, readFile, rm } from 'node:fs/promises';
import { BitNetError } from '../errors.js';
import type { BitnetBenchBackend } from './measure.js';

/** A comma-separated list of positive integers ('1,2'); throws BAD_ARGUMENT naming the flag. */
export function parseIntList(flag: string, s: string): number[] {
  const parts = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const values = parts.map(Number);
  if (parts.length === 0 || values.some((v, i) => !/^\d+$/.test(parts[i]) || !Number.isSafeInteger(v) || v < 1)) {
    throw new BitNetError('BAD_ARGUMENT', `${flag}: expected comma-separated positive integers, got '${s}'`, { details: { field: flag, actual: s } });
  }
  return [...new Set(values)];
}

/** One positive integer. */
export function parsePositiveInt(flag: string, s: string, min = 1): number {
  const v = Number(s);
  if (!/^\d+$/.test(s.trim()) || !Number.isSafeInteger(v) || v < min) {
    throw new BitNetError('BAD_ARGUMENT', `${flag}: expected an integer >= ${min}, got '${s}'`, { details: { field: flag, actual: s } });
  }
  return v;
}

/** 'wasm,reference' -> ['wasm', 'reference']. */
export function parseBackendList(flag: string, s: string): BitnetBenchBackend[] {
  const parts = [...new Set(s.split(',').map((x) => x.trim()).filter((x) => x !== ''))];
  if (parts.length === 0) throw new BitNetError('BAD_ARGUMENT', `${flag}: expected wasm and/or reference, got '${s}'`, { details: { field: flag, actual: s } });
  for (const p of parts) {
    if (p !== 'wasm' && p !== 'reference') throw new BitNetError('BAD_ARGUMENT', `${flag}: expected wasm or reference, got '${p}'`, { details: { field: flag, actual: p } });
  }
  return parts as BitnetBenchBackend[];
}

/** --fused-dot: 'auto' | 'on' | 'off' -> the wasm backend's fusedDot choice ('auto', true, false). */
export function parseFusedDot(flag: string, s: string): 'auto' | boolean {
  const t = s.trim();
  if (t === 'auto') return 'auto';
  if (t === 'on') return true;
  if (t === 'off') return false;
  throw new BitNetError('BAD_ARGUMENT', `${flag}: expected auto, on or off, got '${s}'`, { details: { field: flag, actual: s } });
}

/**
 * Applies --fused-dot to every wasm backend this process creates and says what the runtime offers: e.g. "wasm
 * fused i32 dot kernels: on (relaxed dot lowering: vnni; --fused-dot auto)".
 */
export async function applyFusedDot(choice: 'auto' | boolean): Promise<string> {
  const wasm = await import('../kernels/wasm/index.js');
  wasm.setFusedDotDefault(choice);
  const probe = await wasm.probeKernelSets();
  const set = wasm.chooseKernelSet('auto', probe);
  let on: boolean;
  try {
    on = wasm.chooseFusedDot(choice, set, probe);
  } catch (e) {
    on = false;
    if (choice === true) throw e;
  }
  const name = choice === 'auto' ? 'auto' : choice ? 'on' : 'off';
  return `wasm fused i32 dot kernels: ${on ? 'on' : 'off'} (kernel set ${set}, relaxed dot lowering: ${probe.relaxedDotLowering ?? 'n/a'}; --fused-dot ${name})`;
}

/** A regression tolerance given as a fraction ('0.1') or a percentage ('10%'). */
export function parseTolerance(flag: string, s: string): number {
  const t = s.trim();
  const v = t.endsWith('%') ? Number(t.slice(0, -1)) / 100 : Number(t);
  if (t === '' || t === '%' || !Number.isFinite(v) || v < 0 || v >= 1) {
    throw new BitNetError('BAD_ARGUMENT', `${flag}: expected a fraction in [0, 1) or a percentage below 100%, got '${s}'`, { details: { field: flag, actual: s } });
  }
  return v;
}

/** Parsed JSON of a saved bench document (its shape is checked by compareToBaseline). */
export async function readBaseline(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new BitNetError('IO_ERROR', `cannot read baseline ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { path } });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new BitNetError('BAD_ARGUMENT', `baseline ${path} is not JSON: ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { path } });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One benchmark at a time on this machine: takes `lockPath` (holding our pid), waiting while a live
 * process holds it and taking over a lock whose process is gone. Returns the release function.
 */
export async function acquireBenchLock(lockPath: string, log: (line: string) => void, options: { pollMs?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<() => Promise<void>> {
  const pollMs = options.pollMs ?? 2000;
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  let announced = false;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => {
        await rm(lockPath, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new BitNetError('IO_ERROR', `cannot create bench lock ${lockPath}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    const holder = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      await rm(lockPath, { force: true }); // stale: its process is gone
      continue;
    }
    if (options.signal?.aborted === true) throw new BitNetError('ABORTED', 'waiting for the bench lock was aborted');
    if (Date.now() > deadline) throw new BitNetError('IO_ERROR', `another benchmark (pid ${holder}) still holds ${lockPath}`, { details: { pid: holder, path: lockPath } });
    if (!announced) log(`another benchmark (pid ${holder}) is running; waiting for it to finish (lock ${lockPath}) ...`);
    announced = true;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
