// KvHomes (lazy KV memory): homes given on first use, a chunk at a time, and rollback of growths a device refused later.

import { describe, expect, it } from 'vitest';
import { KvHomes } from './kv-growth.js';

/** Homes as indices from the blocks' worth held (the webgpu pool's), recording each growth's size. */
function homes(nBlocks: number, chunkBlocks: number): { h: KvHomes; growths: number[] } {
  const growths: number[] = [];
  const h: KvHomes = new KvHomes(nBlocks, chunkBlocks, (count) => {
    growths.push(count);
    return Array.from({ length: count }, (_, i) => h.allocated + i);
  });
  return { h, growths };
}

describe('KvHomes', () => {
  it('grows one block, then doubling up to the chunk, never past nBlocks; a block keeps its home', () => {
    const { h, growths } = homes(10, 4);
    for (const b of [7, 2, 9, 0, 5, 1, 3, 4, 6, 8]) h.ensure(b);
    expect(growths).toEqual([1, 1, 2, 4, 2]);
    expect(h.allocated).toBe(10);
    expect(h.ensure(7)).toBe(0);
    expect(new Set(h.home).size).toBe(10);
  });

  it('rollback: the blocks homed by the growths undone lose their homes, spare ones go, older homes stay; the next use grows again', () => {
    const { h, growths } = homes(16, 8);
    h.ensure(4); // home 0 (growth of 1)
    h.ensure(9); // home 1 (growth of 1)
    h.ensure(2); // growth of 2: home 2 (3 spare)
    const before = h.allocated;
    expect(before).toBe(4);
    h.ensure(11); // home 3, the spare one: from a growth that stays
    h.ensure(6); // growth of 4: homes 4..7, 6 takes one
    h.ensure(1); // another of them
    h.rollback(before, (home) => home >= before);
    expect(h.allocated).toBe(4);
    expect([h.home[4], h.home[9], h.home[2], h.home[11]]).toEqual([0, 1, 2, 3]);
    expect([h.home[6], h.home[1]]).toEqual([-1, -1]);
    expect([...h.home].filter((x) => x >= 0).sort()).toEqual([0, 1, 2, 3]);
    // no spare home left from the undone growth: block 6's next use grows again (from 4, as before)
    expect(h.ensure(6)).toBe(4);
    expect(growths).toEqual([1, 1, 2, 4, 4]);
    expect(h.allocated).toBe(8);
  });
});
