// The npm tarball as a user receives it (built dist/): only runtime files ship, everything bin/bitnet.js and the
// package's exports import is inside it or a declared dependency, and an unpacked copy runs (--version, CLI, library).

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { tinyModel } from './helpers/tiny-models.js';
import { tempDir } from './helpers/temp-dir.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

interface PackageJson {
  name: string;
  version: string;
  main?: string;
  types?: string;
  bin: Record<string, string>;
  /** Conditions per subpath, or one target (e.g. './package.json'). */
  exports: Record<string, string | Record<string, string>>;
  dependencies: Record<string, string>;
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;

/** npm itself: the npm that runs `npm test` when there is one, else the npm on PATH. */
function npm(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  const cli = process.env.npm_execpath;
  return cli !== undefined && cli.endsWith('.js') ? run(process.execPath, [cli, ...args], { cwd }) : run('npm', args, { cwd });
}

/** What `npm pack` put in the tarball (paths relative to the package root) and where the tarball is. */
let packed: { files: string[]; tarball: string };
/** An unpacked copy of the tarball at <app>/node_modules/bitnet-engine, its dependencies linked from ours. */
let app: string;

beforeAll(async () => {
  const dest = tempDir('bitnet-pack-');
  // --ignore-scripts: prepack would rebuild dist/ under the other tests' feet; `npm test` has just built it.
  const { stdout } = await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dest], root);
  const [info] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  packed = { files: info.files.map((f) => f.path).sort(), tarball: join(dest, info.filename) };

  app = join(dest, 'app');
  const installed = join(app, 'node_modules', pkg.name);
  mkdirSync(installed, { recursive: true });
  await run('tar', ['-xzf', packed.tarball, '-C', installed, '--strip-components=1']);
  for (const dep of Object.keys(pkg.dependencies)) {
    mkdirSync(dirname(join(app, 'node_modules', dep)), { recursive: true });
    symlinkSync(join(root, 'node_modules', dep), join(app, 'node_modules', dep), 'dir');
  }
}, 120_000);

/** Relative specifiers a compiled module imports or re-exports (static, dynamic with a literal, type-only `import("...")`). */
function relativeImports(source: string): string[] {
  const out: string[] = [];
  const patterns = [/\bfrom\s+['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /^\s*import\s+['"]([^'"]+)['"]/gm];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]);
  return out;
}

/** The package name of a bare specifier ('@scope/name/sub' -> '@scope/name'). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

describe('npm package', () => {
  it('ships only runtime files: no tests, suites, fixtures, fuzz targets, scripts, benches or source maps', () => {
    const allowed = (p: string): boolean => ['package.json', 'README.md', 'LICENSE', 'bin/bitnet.js'].includes(p) || /^dist\/src\/.+\.(js|d\.ts)$/.test(p);
    const forbidden = /(\.test\.|\.suite\.|\.map$|(^|\/)(test|tests|fuzz|scripts|helpers|fixtures)\/|^dist\/(?!src\/)|fake-model|\.ts$(?<!\.d\.ts))/;
    expect(packed.files.filter((p) => !allowed(p))).toEqual([]);
    expect(packed.files.filter((p) => forbidden.test(p))).toEqual([]);
    expect(packed.files).toContain('LICENSE');
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
  });

  it('holds every file bin/bitnet.js and the exports reach, and imports only declared dependencies at run time', () => {
    const files = new Set(packed.files);
    const entries = [...Object.values(pkg.bin), ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e))), pkg.main, pkg.types]
      .filter((p): p is string => p !== undefined)
      .map((p) => posix.normalize(p));
    for (const e of entries) expect(files, `entry point ${e}`).toContain(e);
    const seen = new Set<string>();
    const bare = new Set<string>();
    const queue = [...entries];
    for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
      if (seen.has(file)) continue;
      seen.add(file);
      for (const spec of relativeImports(readFileSync(join(root, file), 'utf8'))) {
        if (spec.startsWith('.')) {
          // a .d.ts refers to './x.js' for the declarations in './x.d.ts'
          const target = posix.join(posix.dirname(file), file.endsWith('.d.ts') ? spec.replace(/\.js$/, '.d.ts') : spec);
          expect(files, `${target} (imported by ${file})`).toContain(target);
          queue.push(target);
        } else if (!file.endsWith('.d.ts') && !spec.startsWith('node:') && !builtinModules.includes(spec)) {
          bare.add(packageOf(spec));
        }
      }
    }
    expect(seen.size).toBeGreaterThan(50); // the walk really followed the import graph
    expect([...bare].filter((d) => !(d in pkg.dependencies)), 'imported at run time but not in dependencies').toEqual([]);
  });

  it('bitnet --version and -V print the package version, from the repository and from an unpacked install', async () => {
    const repoBin = join(root, 'bin', 'bitnet.js');
    const installedBin = join(app, 'node_modules', pkg.name, pkg.bin.bitnet);
    expect(existsSync(installedBin)).toBe(true);
    for (const bin of [repoBin, installedBin]) {
      for (const flag of ['--version', '-V']) {
        const r = await run(process.execPath, [bin, flag]);
        expect(r.stdout.trim(), `${bin} ${flag}`).toBe(pkg.version);
      }
    }
  });

  it('an unpacked install runs: the CLI generates on the wasm backend and the library imports by name', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const installedBin = join(app, 'node_modules', pkg.name, pkg.bin.bitnet);
    const cli = await run(process.execPath, [installedBin, 'run', '-m', model, '-p', 'Hello', '-n', '3', '--temp', '0', '--backend', 'wasm']);
    expect(cli.stdout.startsWith('Hello')).toBe(true);
    expect(cli.stderr).toMatch(/3 generated/);
    const script = [
      `import { BitNet, inspectGguf, isBitNetError } from '${pkg.name}';`,
      `import { createServerApp } from '${pkg.name}/server';`,
      `import { synthesizeModel } from '${pkg.name}/synth';`,
      `const m = await BitNet.load(${JSON.stringify(model)}, { backend: 'reference' });`,
      `try { const r = await m.complete('Hello', { maxTokens: 2, sampling: { kind: 'greedy' } });`,
      `console.log(JSON.stringify({ n: r.usage.completionTokens, fns: [typeof inspectGguf, typeof createServerApp, typeof synthesizeModel, typeof isBitNetError] })); }`,
      `finally { await m.dispose(); }`,
    ].join('\n');
    const lib = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app });
    expect(JSON.parse(lib.stdout)).toEqual({ n: 2, fns: ['function', 'function', 'function', 'function'] });
  });
});
