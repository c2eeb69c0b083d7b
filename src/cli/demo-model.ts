// The built-in demo model: a small synthetic BitNet b1.58 model generated on first use into the
// user's cache directory, so `bitnet run` works on a fresh machine with no download.

import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BitNetError } from '../errors.js';
import { synthesizeModel } from '../synth/synthesize.js';

/** Bump when the synthetic format changes so stale cached demos are regenerated. */
const DEMO_REVISION = 1;
const DEMO_SEED = 20260101;

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  // an empty variable counts as unset (the XDG base directory spec says so for XDG_CACHE_HOME)
  const own = env.BITNET_CACHE_DIR;
  const xdg = env.XDG_CACHE_HOME;
  return own !== undefined && own !== '' ? own : join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'bitnet');
}

/** Path of the demo model, generating it first when absent. */
export async function ensureDemoModel(onStatus: (line: string) => void): Promise<string> {
  const dir = cacheDir();
  const path = join(dir, `demo-tiny-bitnet-b1.58-i2_s-r${DEMO_REVISION}.gguf`);
  try {
    const st = await stat(path);
    if (st.isFile() && st.size > 0) return path;
  } catch {
    // absent: generate below
  }
  onStatus(`generating the built-in demo model into ${path} (one time) ...`);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(dir, { recursive: true });
    await synthesizeModel({ shape: 'tiny', arch: 'bitnet-b1.58', weightType: 'i2_s', embedType: 'q8_0', seed: DEMO_SEED, path: tmp });
    await rename(tmp, path);
  } catch (e) {
    if (e instanceof BitNetError && e.code !== 'IO_ERROR') throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new BitNetError('IO_ERROR', `cannot write the demo model into the cache directory ${dir} (${why}); set BITNET_CACHE_DIR to a writable directory, or pass -m FILE`, {
      cause: e,
      details: { path: dir },
    });
  } finally {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
  return path;
}
