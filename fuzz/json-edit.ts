// Structure-aware JSON inputs: arbitrary JSON values (as JSON.parse would return them) and edits of a valid document
// at a chosen path, so a fuzzer reaches the checks behind a schema instead of stopping at a parse error.

import type { FuzzInput } from './input.js';

/** Object keys that trip naive code: prototype names, coercion hooks, the empty key. */
const KEYS = ['toString', 'valueOf', '__proto__', 'constructor', 'length', 'id', 'calls', 'name', 'role', 'content', 'type', 'text', '', '0'];

function defineOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  // JSON.parse defines own properties, even for '__proto__'; plain assignment would set the prototype instead.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** An arbitrary JSON value nested at most `depth` levels; `strings` are likely string values. */
export function jsonValue(inp: FuzzInput, depth: number, strings: readonly string[] = []): unknown {
  switch (inp.u8() % 9) {
    case 0:
      return null;
    case 1:
      return inp.bool();
    case 2:
      return inp.pick([0, -0, 1, -1, 0.5, 1e308, -1e308, 2 ** 53, 2 ** 64, 1e-320, 2, 4, 16, 64, 255, 256, 128000]);
    case 3:
      return inp.edgyInt();
    case 4:
      return inp.utf16(24);
    case 5:
      return strings.length > 0 ? inp.pick(strings) : inp.utf16(8);
    case 6: {
      if (depth <= 0) return [];
      const n = inp.int(0, 4);
      return Array.from({ length: n }, () => jsonValue(inp, depth - 1, strings));
    }
    default: {
      if (depth <= 0) return {};
      const n = inp.int(0, 3);
      const obj: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) defineOwn(obj, inp.pick(KEYS), jsonValue(inp, depth - 1, strings));
      return obj;
    }
  }
}

/** Every path of `doc` (objects and arrays alike), the root [] first. */
export function jsonPaths(doc: unknown): string[][] {
  const out: string[][] = [[]];
  const walk = (v: unknown, path: string[]): void => {
    if (typeof v !== 'object' || v === null) return;
    for (const [k, child] of Object.entries(v)) {
      out.push([...path, k]);
      walk(child, [...path, k]);
    }
  };
  walk(doc, []);
  return out;
}

/**
 * `root` with the value at `path` replaced (deleted for undefined), containers created on the way; returns the new
 * root (the value itself for the empty path). `root` is modified in place.
 */
export function setPath(root: unknown, path: readonly string[], value: unknown): unknown {
  if (path.length === 0) return value;
  if (typeof root !== 'object' || root === null) root = {};
  let node = root as Record<string, unknown>;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) {
      const fresh: Record<string, unknown> = {};
      defineOwn(node, key, fresh);
      node = fresh;
    } else {
      node = next as Record<string, unknown>;
    }
  }
  const last = path[path.length - 1];
  if (value === undefined) Reflect.deleteProperty(node, last);
  else defineOwn(node, last, value);
  return root;
}
