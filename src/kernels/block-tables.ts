// Block tables of a paged KV pool (docs/next-shape.md section 5), held and checked the same way by every backend:
// setBlockTables validates once per step, so kvWrite, attention and shiftKeys check an entry in O(1).

import { BitNetError } from '../errors.js';
import type { KvBatch, KvPool } from './backend.js';

function bad(op: string, message: string, details: Record<string, string | number>): BitNetError {
  return new BitNetError('BAD_ARGUMENT', `${op}: ${message}`, { details: { op, ...details } });
}

/** A pool's current block tables: a host copy, with the number of leading blocks present per sequence slot. */
export class BlockTables {
  /** tables[s * maxBlocks + i]: pool block of positions i * blockSize.. of slot s, -1 for none. */
  tables = new Int32Array(0);
  nSeqs = 0;
  maxBlocks = 0;
  /** Per slot: blocks 0..filled[s]-1 are present (the row ends at its first -1). */
  filled = new Int32Array(0);

  constructor(private readonly pool: KvPool) {}

  /** Validate and copy (setBlockTables). */
  set(tables: Int32Array, nSeqs: number, maxBlocks: number): void {
    const op = 'setBlockTables';
    if (!(tables instanceof Int32Array)) throw bad(op, 'tables must be an Int32Array', { field: 'tables' });
    if (!Number.isInteger(nSeqs) || nSeqs < 0) throw bad(op, `nSeqs must be an integer >= 0, got ${nSeqs}`, { field: 'nSeqs', actual: nSeqs });
    if (!Number.isInteger(maxBlocks) || maxBlocks < 0) throw bad(op, `maxBlocks must be an integer >= 0, got ${maxBlocks}`, { field: 'maxBlocks', actual: maxBlocks });
    if (tables.length < nSeqs * maxBlocks) throw bad(op, `tables needs ${nSeqs * maxBlocks} entries, has ${tables.length}`, { field: 'tables', expected: nSeqs * maxBlocks, actual: tables.length });
    const filled = new Int32Array(nSeqs);
    for (let s = 0; s < nSeqs; s++) {
      let n = 0;
      for (let i = 0; i < maxBlocks; i++) {
        const b = tables[s * maxBlocks + i];
        if (b === -1) break;
        if (!Number.isInteger(b) || b < 0 || b >= this.pool.nBlocks) {
          throw bad(op, `tables[${s * maxBlocks + i}] = ${b} is not a block of the pool (0..${this.pool.nBlocks - 1}, or -1)`, { index: s * maxBlocks + i, actual: b });
        }
        n++;
      }
      filled[s] = n;
    }
    this.tables = tables.slice(0, nSeqs * maxBlocks);
    this.nSeqs = nSeqs;
    this.maxBlocks = maxBlocks;
    this.filled = filled;
  }

  /** Throws unless `seq` is a slot and positions [0, end) of it lie in its present blocks. */
  checkRange(op: string, seq: number, end: number): void {
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.nSeqs) throw bad(op, `sequence slot ${seq} is not in the block tables (${this.nSeqs} slots)`, { field: 'seqs', actual: seq });
    if (!Number.isInteger(end) || end < 0) throw bad(op, `position ${end - 1} is not a non-negative integer`, { field: 'positions', actual: end - 1 });
    const have = this.filled[seq] * this.pool.blockSize;
    if (end > have) {
      throw new BitNetError('CONTEXT_OVERFLOW', `${op}: position ${end - 1} of sequence slot ${seq} has no block (its table holds ${have} positions)`, {
        details: { op, seq, position: end - 1, positions: have },
      });
    }
  }

  /** Every entry's slot and position are covered by the tables; the batch's arrays hold nTokens entries. */
  checkBatch(op: string, batch: KvBatch): void {
    const n = batch.nTokens;
    if (!Number.isInteger(n) || n < 0) throw bad(op, `nTokens must be an integer >= 0, got ${n}`, { field: 'nTokens', actual: n });
    if (batch.positions.length < n || batch.seqs.length < n) throw bad(op, `positions and seqs need ${n} entries`, { field: 'positions', expected: n });
    for (let t = 0; t < n; t++) this.checkRange(op, batch.seqs[t], batch.positions[t] + 1);
  }

  /** Pool block of position `pos` of slot `seq` (checked before). */
  block(seq: number, pos: number): number {
    return this.tables[seq * this.maxBlocks + Math.floor(pos / this.pool.blockSize)];
  }
}

/** Checks copyBlocks pairs: an even count of block ids of the pool, no block copied onto itself. */
export function checkCopyPairs(pool: KvPool, pairs: Int32Array): void {
  const op = 'copyBlocks';
  if (!(pairs instanceof Int32Array) || pairs.length % 2 !== 0) throw bad(op, 'pairs must be an Int32Array of (source, destination) pairs', { field: 'pairs' });
  for (let i = 0; i < pairs.length; i++) {
    const b = pairs[i];
    if (b < 0 || b >= pool.nBlocks) throw bad(op, `pairs[${i}] = ${b} is not a block of the pool (0..${pool.nBlocks - 1})`, { index: i, actual: b });
  }
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === pairs[i + 1]) throw bad(op, `pair ${i / 2} copies block ${pairs[i]} onto itself`, { index: i, actual: pairs[i] });
}

/** Checks shiftKeys arguments against the tables: integers, a range inside the slot's blocks before and after the move. */
export function checkShift(bt: BlockTables, seq: number, from: number, to: number, delta: number, theta: number, style: string): void {
  const op = 'shiftKeys';
  for (const [field, v] of [['from', from], ['to', to], ['delta', delta]] as const) if (!Number.isInteger(v)) throw bad(op, `${field} must be an integer, got ${v}`, { field, actual: v });
  if (from < 0 || to < from) throw bad(op, `range [${from}, ${to}) is empty-reversed or negative`, { field: 'from', actual: from });
  if (from + delta < 0) throw bad(op, `positions would move to ${from + delta} (< 0)`, { field: 'delta', actual: delta });
  if (style !== 'neox' && style !== 'normal') throw bad(op, `unknown style '${style}'`, { field: 'style' });
  if (!(theta > 0) || !Number.isFinite(theta)) throw bad(op, `theta must be a positive number, got ${theta}`, { field: 'theta' });
  bt.checkRange(op, seq, Math.max(to, to + delta));
}
