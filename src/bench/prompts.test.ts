// Tests of the bench prompts: deterministic, in range, and different per run from the first token on.

import { describe, expect, it } from 'vitest';
import { benchPromptTokens } from './prompts.js';

describe('benchPromptTokens', () => {
  it('is deterministic and has the requested length', () => {
    expect(benchPromptTokens(3, 128, 128256)).toEqual(benchPromptTokens(3, 128, 128256));
    expect(benchPromptTokens(0, 1, 128256)).toHaveLength(1);
    expect(benchPromptTokens(0, 300, 128256)).toHaveLength(300);
  });

  it('differs between runs at position 0, so no KV-cache prefix is reused', () => {
    const firsts = Array.from({ length: 50 }, (_, r) => benchPromptTokens(r, 16, 128256)[0]);
    expect(new Set(firsts).size).toBe(50);
  });

  it('stays in [1, vocab) and below the LLaMA-3 special tokens', () => {
    for (const vocab of [100, 32000, 128256]) {
      for (let r = 0; r < 5; r++) {
        for (const id of benchPromptTokens(r, 200, vocab)) {
          expect(Number.isInteger(id)).toBe(true);
          expect(id).toBeGreaterThanOrEqual(1);
          expect(id).toBeLessThan(Math.min(vocab, 128000));
        }
      }
    }
  });

  it('is not a constant sequence', () => {
    expect(new Set(benchPromptTokens(0, 128, 128256)).size).toBeGreaterThan(100);
  });

  it('refuses bad arguments', () => {
    expect(() => benchPromptTokens(0, 0, 128256)).toThrow(/prompt length/);
    expect(() => benchPromptTokens(-1, 8, 128256)).toThrow(/run index/);
    expect(() => benchPromptTokens(0, 8, 2)).toThrow(/too small/);
  });
});
