// Keeps the root entry browser-safe: bundles src/index.ts with esbuild for platform 'browser' and fails on any
// Node built-in or Node-only package in its import graph (static or dynamic import, require).

import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const NODE_ONLY_PACKAGES = ['@hono/node-server', 'commander'];

interface BundleReport {
  nodeImports: string[];
  errors: string[];
  bytes: number;
}

/** Bundle `entry` for browsers; every import of a Node built-in or Node-only package is recorded (and left external). */
async function bundleForBrowser(entry: string): Promise<BundleReport> {
  const nodeImports: string[] = [];
  const builtins = new Set(builtinModules);
  const recorder: Plugin = {
    name: 'record-node-imports',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const bare = args.path.startsWith('node:') ? args.path.slice(5) : args.path;
        const pkg = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
        if (args.path.startsWith('node:') || builtins.has(bare) || NODE_ONLY_PACKAGES.includes(pkg)) {
          nodeImports.push(`${args.path} (from ${args.importer.replace(root + '/', '')})`);
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
  const result = await build({
    entryPoints: [join(root, entry)],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
    plugins: [recorder],
  }).catch((e: unknown) => {
    const errors = (e as { errors?: { text: string }[] }).errors ?? [{ text: String(e) }];
    return { errors, outputFiles: [] as { contents: Uint8Array }[] };
  });
  return { nodeImports, errors: result.errors.map((x) => x.text), bytes: result.outputFiles.reduce((s, f) => s + f.contents.length, 0) };
}

describe('browser bundle of the root entry', () => {
  it('bundles src/index.ts for platform browser with no Node import', async () => {
    const report = await bundleForBrowser('src/index.ts');
    expect(report.errors).toEqual([]);
    expect(report.nodeImports).toEqual([]);
    expect(report.bytes).toBeGreaterThan(100_000); // the engine, tokenizer and both wasm binaries are in it
  });

  it('bundles the browser entry (worker proxy) and the engine worker with no Node import', async () => {
    for (const entry of ['src/browser/index.ts', 'src/browser/engine-worker.ts']) {
      const report = await bundleForBrowser(entry);
      expect({ entry, errors: report.errors, nodeImports: report.nodeImports }).toEqual({ entry, errors: [], nodeImports: [] });
    }
  });

  it('the check sees Node imports where they are (the Node entry)', async () => {
    const report = await bundleForBrowser('src/node.ts');
    expect(report.nodeImports.some((s) => s.startsWith('node:'))).toBe(true);
    expect(report.nodeImports.some((s) => s.startsWith('@hono/node-server'))).toBe(true);
  });
});
