// Bundles the browser build with esbuild, in memory: the demo page script (which carries the 'bitnet/browser'
// module and exposes it as window.bitnet) and the engine worker, both ES modules for current browsers.

import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The repository root (this file runs from src/demo or dist/src/demo). */
export async function repoRoot(): Promise<string> {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      await access(join(dir, 'src', 'browser', 'index.ts'));
      return dir;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new Error('cannot find the repository root (src/browser/index.ts) above ' + fileURLToPath(import.meta.url));
}

/** File name -> contents of the browser build (app.js, engine-worker.js). */
export async function buildBrowserFiles(): Promise<Map<string, Uint8Array>> {
  const root = await repoRoot();
  const result = await build({
    entryPoints: { app: join(root, 'src/demo/page/app.ts'), 'engine-worker': join(root, 'src/browser/engine-worker.ts') },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    outdir: '/out',
    write: false,
    minify: false,
    sourcemap: false,
    logLevel: 'silent',
  });
  const files = new Map<string, Uint8Array>();
  for (const f of result.outputFiles) files.set(f.path.slice('/out/'.length), f.contents);
  return files;
}
