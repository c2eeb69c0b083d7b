// The README's library snippet is examples/node-generate.mjs, and it runs as plain .mjs on the Node that runs the
// tests (Node 20 in CI: no `await using`), importing the package by name through package.json's exports.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/index.js';
import { tinyModel } from './helpers/tiny-models.js';

const root = join(import.meta.dirname, '..');

/** The first ```js / ```ts block after the README's "## Library" heading. */
function readmeLibrarySnippet(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Library'));
  const m = /```(?:js|ts|javascript|typescript)\n([\s\S]*?)```/.exec(section);
  if (m === null) throw new Error('README has no js/ts code block under "## Library"');
  return m[1];
}

describe('README library snippet', () => {
  it('is examples/node-generate.mjs (past its leading comment lines) and uses no syntax Node 20 lacks', () => {
    const snippet = readmeLibrarySnippet();
    const example = readFileSync(join(root, 'examples', 'node-generate.mjs'), 'utf8');
    const code = example.split('\n').filter((line, i, lines) => !lines.slice(0, i + 1).every((l) => l.startsWith('//'))).join('\n');
    expect(code).toBe(snippet);
    expect(snippet).not.toMatch(/\bawait using\b/);
    expect(snippet).toContain(`from '${(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string }).name}'`);
  });

  it('runs: node examples/node-generate.mjs MODEL streams the same greedy text as the library in-process', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const r = await promisify(execFile)(process.execPath, [join(root, 'examples', 'node-generate.mjs'), model], { cwd: root });
    const m = await BitNet.load(model, { backend: 'auto' });
    try {
      const expected = await m.complete('Hello', { maxTokens: 32, sampling: { kind: 'greedy' } });
      expect(expected.text.length).toBeGreaterThan(0);
      expect(r.stdout).toBe(expected.text);
    } finally {
      await m.dispose();
    }
  });
});
