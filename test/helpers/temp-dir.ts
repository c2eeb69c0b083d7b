// Temp directories for tests, removed when the test file ends (test/setup-temp-dirs.ts), so repeated runs do not fill
// the disk: test files that wrote models into mkdtempSync dirs and never removed them left 20+ GB in /tmp over a day.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs: string[] = [];

/** A new directory under the OS temp dir (name starts with `prefix`), removed with its contents after this test file. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Removes every directory tempDir made in this test file (the setup file's afterAll). */
export function removeTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
