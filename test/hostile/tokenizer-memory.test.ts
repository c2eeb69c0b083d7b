// The BPE word cache keeps only short words: long distinct words (a prompt of one 50k-letter "word", request after
// request) must not pile up in memory for the life of a loaded model.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { llama3GgufMetadataEntries } from '../../src/tokenizer/llama3-vocab.js';
import { createTokenizer } from '../../src/tokenizer/tokenizer.js';

/** A full garbage collection (V8's gc(), exposed at run time for this test). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A deterministic string of `n` lowercase letters: one pre-tokenizer word. */
function letters(n: number, seed: number): string {
  let s = seed >>> 0;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(String.fromCharCode(97 + (s >>> 24) % 26));
  }
  return out.join('');
}

describe('BPE word cache', () => {
  // Hostile-input finding: every distinct word was cached (up to 50k of them, of any length), so 200 prompts of one
  // 50k-letter word each kept ~60 MB alive; 50k such requests through the server would keep gigabytes.
  it('does not keep long words alive after encoding them', () => {
    const tk = createTokenizer(new Map(llama3GgufMetadataEntries()));
    tk.encode('warm up the tokenizer and its caches');
    collectGarbage();
    const before = heapBytes();
    let nTokens = 0;
    for (let i = 0; i < 100; i++) nTokens += tk.encode(letters(20_000, i), { addBos: false }).length;
    collectGarbage();
    const grown = heapBytes() - before;
    expect(nTokens).toBeGreaterThan(100 * 2000);
    expect(grown).toBeLessThan(4 * 1024 * 1024);
  });

  it('still gives the same ids for a word the second time (short words are cached)', () => {
    const tk = createTokenizer(new Map(llama3GgufMetadataEntries()));
    const text = `${letters(40, 1)} ${letters(300, 2)} ${letters(40, 1)}`;
    expect(tk.encode(text)).toEqual(tk.encode(text));
  });
});
