// Tests for streaming stop-string matching: hand cases plus a property test against a one-shot reference.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { createStopMatcher } from './stop-matcher.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Push every piece; returns what was emitted (plus the flush when no stop fired) and whether it stopped. */
function run(stops: readonly string[], pieces: readonly string[]): { text: string; stopped: boolean; emits: string[] } {
  const m = createStopMatcher(stops);
  const emits: string[] = [];
  let stopped = false;
  for (const p of pieces) {
    const r = m.push(p);
    emits.push(r.emit);
    stopped = r.stopped;
  }
  const text = emits.join('') + m.flush();
  return { text, stopped, emits };
}

/** The one-shot rule: cut before the stop occurrence that ends first (then starts first). */
function reference(stops: readonly string[], text: string): { text: string; stopped: boolean } {
  for (let end = 1; end <= text.length; end++) {
    let bestStart = -1;
    for (const s of stops) {
      const start = end - s.length;
      if (start >= 0 && text.slice(start, end) === s && (bestStart < 0 || start < bestStart)) bestStart = start;
    }
    if (bestStart >= 0) return { text: text.slice(0, bestStart), stopped: true };
  }
  return { text, stopped: false };
}

describe('createStopMatcher', () => {
  it('passes text straight through when there are no stops', () => {
    const r = run([], ['Hello', ', ', 'world']);
    expect(r.emits).toEqual(['Hello', ', ', 'world']);
    expect(r.stopped).toBe(false);
  });

  it('emits text that cannot start a stop at once', () => {
    const m = createStopMatcher(['END']);
    expect(m.push('abc')).toEqual({ emit: 'abc', stopped: false });
    expect(m.push('xyzE')).toEqual({ emit: 'xyz', stopped: false }); // 'E' may start 'END'
    expect(m.push('Nx')).toEqual({ emit: 'ENx', stopped: false }); // 'ENx' is not 'END'
    expect(m.flush()).toBe('');
  });

  it('stops at the very start, emitting nothing', () => {
    const m = createStopMatcher(['<|eot_id|>']);
    expect(m.push('<|eot_id|>more')).toEqual({ emit: '', stopped: true });
    expect(m.matched).toBe('<|eot_id|>');
  });

  it('stops on a string split across many pushes and never emits it', () => {
    const r = run(['<|eot_id|>'], ['Hi', ' there<', '|e', 'ot', '_', 'id|', '>', 'after']);
    expect(r.text).toBe('Hi there');
    expect(r.stopped).toBe(true);
    expect(r.emits).toEqual(['Hi', ' there', '', '', '', '', '', '']);
  });

  it('releases held text when the candidate fails, and on flush', () => {
    const r = run(['STOP'], ['a', 'ST', 'O', '!']);
    expect(r.text).toBe('aSTO!');
    expect(r.stopped).toBe(false);
    const m = createStopMatcher(['STOP']);
    expect(m.push('xSTO')).toEqual({ emit: 'x', stopped: false });
    expect(m.flush()).toBe('STO');
    expect(m.flush()).toBe('');
  });

  it('handles overlapping prefixes: stop "abab" in "ababab"', () => {
    expect(run(['abab'], ['ababab']).text).toBe('');
    expect(run(['abab'], ['x', 'a', 'b', 'a', 'b', 'a', 'b']).text).toBe('x');
    // 'aba' + 'ab' + 'ab': the stop starts at offset 2 of the text, after a failed start at 0.
    expect(run(['abab'], ['aba', 'c', 'abab']).text).toBe('abac');
    expect(run(['aab'], ['a', 'a', 'a', 'b']).text).toBe('a');
  });

  it('with several stops, the one completed first wins', () => {
    // 'bc' completes (at offset 3) before 'abcd' could (offset 4).
    expect(run(['abcd', 'bc'], ['abcd']).text).toBe('a');
    expect(run(['abcd', 'bc'], ['a', 'b', 'c', 'd']).text).toBe('a');
    // Both end at the same offset: the longer (earlier-starting) one wins.
    const m = createStopMatcher(['cd', 'abcd']);
    expect(m.push('xabcd')).toEqual({ emit: 'x', stopped: true });
    expect(m.matched).toBe('abcd');
    // Held text covers the longest possible prefix among all stops.
    const h = createStopMatcher(['XY', 'aXYZ']);
    expect(h.push('1aX')).toEqual({ emit: '1', stopped: false });
    expect(h.push('Y')).toEqual({ emit: 'a', stopped: true });
    expect(h.matched).toBe('XY');
  });

  it('emits nothing more after stopping', () => {
    const m = createStopMatcher(['.']);
    expect(m.push('one. two')).toEqual({ emit: 'one', stopped: true });
    expect(m.push('three')).toEqual({ emit: '', stopped: true });
    expect(m.flush()).toBe('');
  });

  it('matches non-ASCII stops and never splits a surrogate pair', () => {
    expect(run(['🛑'], ['go ', '🛑', ' no']).text).toBe('go ');
    expect(run(['終わり'], ['これで終', 'わり です']).text).toBe('これで');
    const m = createStopMatcher(['x😀y']);
    const first = m.push('😀x😀');
    expect(first).toEqual({ emit: '😀', stopped: false });
    expect(m.push('z')).toEqual({ emit: 'x😀z', stopped: false });
    // Emitted pieces are always well-formed UTF-16 when the input is.
    const r = run(['😀😀'], ['a😀', 'b😀', '😁😀']);
    expect(r.text).toBe('a😀b😀😁😀');
    for (const e of r.emits) expect(LONE_SURROGATE.test(e), JSON.stringify(e)).toBe(false);
    // No Unicode normalization: precomposed é does not match e + combining acute.
    expect(run(['\u00e9'], ['caf', 'e\u0301']).stopped).toBe(false);
  });

  it('agrees with the one-shot rule for any text, stops and chunking (property)', () => {
    const alphabet = fc.constantFrom('a', 'b', 'c', '😀');
    const str = (min: number, max: number) => fc.array(alphabet, { minLength: min, maxLength: max }).map((a) => a.join(''));
    fc.assert(
      fc.property(
        fc.array(str(1, 4), { minLength: 0, maxLength: 3 }),
        fc.array(str(0, 5), { minLength: 0, maxLength: 8 }),
        (stops, pieces) => {
          const got = run(stops, pieces);
          const want = reference(stops, pieces.join(''));
          expect(got.text).toBe(want.text);
          expect(got.stopped).toBe(want.stopped);
        },
      ),
      { numRuns: 3000, seed: 20261126 },
    );
  });

  it('rejects empty or non-string stops and non-string text', () => {
    for (const bad of [[''], ['ok', ''], [3 as unknown as string]]) {
      let caught: unknown;
      try {
        createStopMatcher(bad);
      } catch (e) {
        caught = e;
      }
      expect(isBitNetError(caught, 'BAD_ARGUMENT')).toBe(true);
      expect((caught as Error).message).toMatch(/stop\[\d\]/);
    }
    expect(() => createStopMatcher('END' as unknown as string[])).toThrow(/array/);
    expect(() => createStopMatcher(['x']).push(5 as unknown as string)).toThrow(/string/);
  });
});
