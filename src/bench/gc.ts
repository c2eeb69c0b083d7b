// Gives a bench a way to run V8's garbage collector between configurations, so memory a disposed model left behind does not count against the next one.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * The `gc` function: the global one when Node runs with --expose-gc, else one obtained by setting the
 * flag at run time (V8 installs `gc` on contexts created after that). Undefined when neither works.
 * Changes a process-wide V8 flag: for bench entry points only, never for library users.
 */
export function exposeGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return () => void (existing as () => void)();
  try {
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('gc');
    if (typeof fn === 'function') return () => void (fn as () => void)();
  } catch {
    // flag refused: run without explicit collections
  }
  return undefined;
}
