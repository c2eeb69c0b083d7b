// Every ```js example in docs/api.md runs (each written to a temp directory beside a tiny model named model.gguf and run
// as plain .mjs, `bitnet-engine` resolving to this repository's build as an installed package would); doc links resolve.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tinyModel } from './helpers/tiny-models.js';
import { tempDir } from './helpers/temp-dir.js';

const root = join(import.meta.dirname, '..');
const doc = readFileSync(join(root, 'docs', 'api.md'), 'utf8');
const examples = [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m, i) => ({ n: i + 1, code: m[1], heading: [...doc.slice(0, m.index).matchAll(/^##+ (.+)$/gm)].pop()?.[1] ?? '' }));

const dir = tempDir('bitnet-doc-examples-');
mkdirSync(join(dir, 'node_modules'));
symlinkSync(root, join(dir, 'node_modules', 'bitnet-engine'), 'dir');
let modelReady: Promise<void> | undefined;
function ensureModel(): Promise<void> {
  modelReady ??= tinyModel('bitnet-b1.58', 'i2_s').then((path) => symlinkSync(path, join(dir, 'model.gguf')));
  return modelReady;
}

describe('docs/api.md examples', () => {
  it('has examples for the API it documents', () => {
    expect(examples.length).toBeGreaterThanOrEqual(12);
    for (const name of ['BitNet.load', 'generate', 'complete', 'chatComplete', 'renderChat', 'evaluateLogits', 'embed(', 'lastReceipt', 'createServerApp', 'synthesizeModel', 'inspectGguf', 'isBitNetError', 'signal']) {
      expect(examples.some((e) => e.code.includes(name)), name).toBe(true);
    }
  });

  it.each(examples)('example $n ($heading) runs and exits 0', async ({ n, code }) => {
    await ensureModel();
    const file = join(dir, `example-${n}.mjs`);
    writeFileSync(file, code);
    const r = await promisify(execFile)(process.execPath, [file], { cwd: dir, timeout: 60_000 }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect(r.stderr, `stderr of example ${n}`).not.toMatch(/Error|error/);
    expect('code' in r ? r.code : 0).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });
});

describe('documentation links', () => {
  const pages = ['README.md', 'bench/README.md', 'src/server/README.md', 'fuzz/README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  it.each(pages)('%s links only to files that exist', (page) => {
    const text = readFileSync(join(root, page), 'utf8');
    const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:/.test(t) && !t.startsWith('#'));
    const missing = targets.map((t) => t.split('#')[0]).filter((t) => !existsSync(join(root, dirname(page), t)));
    expect(missing).toEqual([]);
  });

  it('README names no team-internal document (ARCHITECTURE.md, FORMATS.md, STYLE.md live outside the repository)', () => {
    expect(readFileSync(join(root, 'README.md'), 'utf8')).not.toMatch(/ARCHITECTURE\.md|FORMATS\.md|STYLE\.md/);
  });
});
