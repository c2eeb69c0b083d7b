// Where this package sits on disk and what its package.json says, for Node-only callers (the CLI's --version, the benchmarks' peer engine).

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BitNetError } from './errors.js';

/** The npm name in package.json (the CLI command stays `bitnet`). */
export const PACKAGE_NAME = 'bitnet-engine';

/** Directory levels walked up at most: src/ is 1 deep, dist/src/cli/ 3, node_modules/bitnet-engine/dist/src/bench/ 3 inside the package. */
const MAX_LEVELS_UP = 6;

export interface PackageInfo {
  /** Absolute path of the directory holding package.json. */
  readonly root: string;
  readonly name: string;
  readonly version: string;
}

let cached: PackageInfo | undefined;

/**
 * Walks up from `startDir` (default: this file's directory) to the first package.json named PACKAGE_NAME,
 * so the answer is the same from src/ (tests), dist/src/ (a build) and node_modules/bitnet-engine/ (an install).
 */
export function findPackage(startDir?: string): PackageInfo {
  if (startDir === undefined && cached !== undefined) return cached;
  let dir = startDir ?? dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level <= MAX_LEVELS_UP; level++) {
    const found = readPackageJson(join(dir, 'package.json'));
    if (found !== undefined && found.name === PACKAGE_NAME) {
      const info: PackageInfo = { root: dir, name: found.name, version: found.version };
      if (startDir === undefined) cached = info;
      return info;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new BitNetError('INTERNAL', `no package.json named ${PACKAGE_NAME} above ${startDir ?? dirname(fileURLToPath(import.meta.url))}`);
}

function readPackageJson(path: string): { name: string; version: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined; // absent or not JSON: not ours, keep walking up
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const name: unknown = Reflect.get(parsed, 'name');
  const version: unknown = Reflect.get(parsed, 'version');
  return typeof name === 'string' && typeof version === 'string' ? { name, version } : undefined;
}
