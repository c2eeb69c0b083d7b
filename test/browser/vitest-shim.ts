// Stands in for vitest inside the browser page of the webgpu tests: `describe` / `it` register tests, `expect` has the
// matchers the shared conformance suite uses, and runRegistered runs them in order and reports each one.
// Node-side vitest (test/browser/webgpu.test.ts) turns the report into its own pass or fail.

type Body = () => unknown;

interface Registered {
  readonly name: string;
  readonly body: Body;
}

const registered: Registered[] = [];
const path: string[] = [];

export function describe(name: string, body: () => void): void {
  path.push(name);
  try {
    body();
  } finally {
    path.pop();
  }
}

export function it(name: string, body: Body): void {
  registered.push({ name: [...path, name].join(' > '), body });
}

class AssertionError extends Error {}

function show(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

interface Matchers {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toBeGreaterThan(n: number): void;
  toBeGreaterThanOrEqual(n: number): void;
  toBeUndefined(): void;
  readonly not: { toBe(expected: unknown): void };
}

function check(ok: boolean, message: string | undefined, detail: string): void {
  if (!ok) throw new AssertionError(message === undefined ? detail : `${message}: ${detail}`);
}

export const expect = Object.assign(
  (actual: unknown, message?: string): Matchers => ({
    toBe: (e) => check(Object.is(actual, e), message, `expected ${show(actual)} to be ${show(e)}`),
    toEqual: (e) => check(deepEqual(actual, e), message, `expected ${show(actual)} to equal ${show(e)}`),
    toBeGreaterThan: (n) => check(typeof actual === 'number' && actual > n, message, `expected ${show(actual)} > ${n}`),
    toBeGreaterThanOrEqual: (n) => check(typeof actual === 'number' && actual >= n, message, `expected ${show(actual)} >= ${n}`),
    toBeUndefined: () => check(actual === undefined, message, `expected ${show(actual)} to be undefined`),
    not: { toBe: (e) => check(!Object.is(actual, e), message, `expected ${show(actual)} not to be ${show(e)}`) },
  }),
  {
    fail(message: string): never {
      throw new AssertionError(message);
    },
  },
);

export interface TestReport {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly ms: number;
}

/** Runs (and forgets) every registered test whose name contains `filter`. */
export async function runRegistered(filter = ''): Promise<TestReport[]> {
  const tests = registered.splice(0, registered.length).filter((t) => t.name.includes(filter));
  const out: TestReport[] = [];
  for (const t of tests) {
    const t0 = performance.now();
    try {
      await t.body();
      out.push({ name: t.name, ok: true, ms: performance.now() - t0 });
    } catch (e) {
      out.push({ name: t.name, ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e), ms: performance.now() - t0 });
    }
  }
  return out;
}
