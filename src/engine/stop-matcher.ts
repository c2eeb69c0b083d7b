// Streaming stop-string matching: emits generated text as soon as it cannot be the start of a stop string.
//
// Semantics (what `GenerateOptions.stop` promises): generation ends at the first stop string to be
// *completed* as text arrives; everything before that occurrence is emitted, the stop text and
// anything after it never are. "First completed" = smallest end offset, then smallest start offset
// (the longer stop wins when two end together). This makes the result independent of how the text
// is cut into pushes: it equals running the same rule once over the concatenated text.
// Matching is exact on UTF-16 code units (no Unicode normalization, case-sensitive). Because held-back
// text always begins where a stop begins, a well-formed stop never makes us split a surrogate pair.

import { BitNetError } from '../errors.js';

export interface StopPushResult {
  /** Text that is now known not to be part of any stop string (may be empty). */
  readonly emit: string;
  /** True once a stop string has been seen; later pushes emit nothing. */
  readonly stopped: boolean;
}

export interface StopMatcher {
  /** Feed the next piece of generated text. */
  push(text: string): StopPushResult;
  /** End of generation without a stop: returns the held-back text (empty once stopped) and clears it. */
  flush(): string;
  /** The stop string that ended the text, or null while none has. */
  readonly matched: string | null;
}

/** Longest suffix of `text` that is a proper prefix of `stop` (0 if none). */
function heldSuffixLength(text: string, stop: string): number {
  const longest = Math.min(stop.length - 1, text.length);
  for (let len = longest; len > 0; len--) {
    if (text.startsWith(stop.slice(0, len), text.length - len)) return len;
  }
  return 0;
}

/**
 * A matcher for the given stop strings (duplicates allowed, order irrelevant). An empty list
 * never stops and never holds text back. Throws BAD_ARGUMENT for a non-string or empty stop.
 */
export function createStopMatcher(stops: readonly string[]): StopMatcher {
  if (!Array.isArray(stops)) {
    throw new BitNetError('BAD_ARGUMENT', `stop must be an array of strings; got ${typeof stops}`, {
      details: { field: 'stop', expected: 'array of non-empty strings', actual: typeof stops },
    });
  }
  const list: string[] = [];
  for (let i = 0; i < stops.length; i++) {
    const s: unknown = stops[i];
    if (typeof s !== 'string' || s.length === 0) {
      const shown = typeof s === 'string' ? '""' : String(s);
      throw new BitNetError('BAD_ARGUMENT', `stop[${i}] must be a non-empty string; got ${shown}`, {
        details: { field: `stop[${i}]`, expected: 'non-empty string', actual: shown },
      });
    }
    list.push(s);
  }

  let pending = '';
  let stopped = false;
  let matched: string | null = null;

  function push(text: string): StopPushResult {
    if (typeof text !== 'string') {
      throw new BitNetError('BAD_ARGUMENT', `push(text) needs a string; got ${typeof text}`, {
        details: { field: 'text', expected: 'string', actual: typeof text },
      });
    }
    if (stopped) return { emit: '', stopped: true };
    const buffer = pending + text;

    // The earliest-completed occurrence: smallest end, then smallest start.
    let bestStart = -1;
    let bestEnd = Infinity;
    for (const stop of list) {
      const start = buffer.indexOf(stop);
      if (start < 0) continue;
      const end = start + stop.length;
      if (end < bestEnd || (end === bestEnd && start < bestStart)) {
        bestStart = start;
        bestEnd = end;
        matched = stop;
      }
    }
    if (bestStart >= 0) {
      stopped = true;
      pending = '';
      return { emit: buffer.slice(0, bestStart), stopped: true };
    }

    // Hold back the longest tail that could still grow into a stop string.
    let hold = 0;
    for (const stop of list) hold = Math.max(hold, heldSuffixLength(buffer, stop));
    pending = buffer.slice(buffer.length - hold);
    return { emit: buffer.slice(0, buffer.length - hold), stopped: false };
  }

  function flush(): string {
    const rest = pending;
    pending = '';
    return rest;
  }

  return {
    push,
    flush,
    get matched() {
      return matched;
    },
  };
}
