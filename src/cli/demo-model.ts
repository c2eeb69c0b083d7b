// The built-in demo model: a small synthetic BitNet b1.58 model generated on first use into the
// user's cache directory, so `bitnet run` works on a fresh machine with no download.

import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { synthesizeModel } from '../synth/synthesize.js';

/** Bump when the synthetic format changes so stale cached demos are regenerated. */
const DEMO_REVISION = 1;
const DEMO_SEED = 20260101;

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.BITNET_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'bitnet'));
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
  await mkdir(dir, { recursive: true });
  onStatus(`generating the built-in demo model into ${path} (one time) ...`);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await synthesizeModel({ shape: 'tiny', arch: 'bitnet-b1.58', weightType: 'i2_s', embedType: 'q8_0', seed: DEMO_SEED, path: tmp });
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  return path;
}
