// The attention job's cost model: how the (token, KV head) units of one attention call are cut into rows for the
// thread pool, so that few units (decode: 5 KV heads on 2 threads) still finish together.

/** From this many (token, KV head) units per thread on, attention rows of whole units spread evenly enough. */
const ATT_SPLIT_MAX_UNITS_PER_THREAD = 4;

/**
 * Cost of an attention job row beyond its heads' own work, in units of one head's share (its K and V row loads and
 * conversions: measured ~1.2 at 160 positions, headDim 128; a row of 4 heads ~2x a row of 1).
 */
const ATT_ROW_COST_HEADS = 1;

/** How an attention job cuts its (token, KV head) units into rows (assembly/attention.ts ATT_WHOLE_ROWS, ATT_SPLIT_HEADS). */
export interface AttentionRows {
  rows: number;
  /** Leading rows that take a whole unit (all `group` query heads of one KV head). */
  wholeRows: number;
  /** Heads of each later row: the remaining units are cut into group / splitHeads rows each. */
  splitHeads: number;
}

/** Finish time of rows claimed in order by the first free of `threads` threads (the pool's chunks of one row). */
function makespan(costs: readonly number[], threads: number): number {
  const free = new Array<number>(threads).fill(0);
  for (const c of costs) {
    let k = 0;
    for (let i = 1; i < threads; i++) if (free[i] < free[k]) k = i;
    free[k] += c;
  }
  return Math.max(...free);
}

/**
 * Rows for nUnits (token, KV head) units of `group` heads: whole units share each K / V row load among all their
 * heads, but few units spread unevenly over the threads (decode, 5 KV heads on 2 threads: 3 + 2). Then the last
 * units are cut in parts, whichever cut the cost model (ATT_ROW_COST_HEADS) finishes first. `maxRows`: the most rows
 * before a thread pool chunk would hold several (the pool's chunks per thread x threads).
 */
export function attentionRows(nUnits: number, group: number, threads: number, maxRows: number): AttentionRows {
  let best: AttentionRows = { rows: nUnits, wholeRows: nUnits, splitHeads: group };
  if (threads === 1 || nUnits % threads === 0 || nUnits >= ATT_SPLIT_MAX_UNITS_PER_THREAD * threads) return best;
  const cost = (heads: number): number => ATT_ROW_COST_HEADS + heads;
  let bestTime = makespan(new Array<number>(nUnits).fill(cost(group)), threads);
  for (let parts = 2; parts <= group; parts++) {
    if (group % parts !== 0) continue;
    for (let split = 1; split <= nUnits; split++) {
      const rows = nUnits - split + split * parts;
      if (rows > maxRows) break; // beyond this a pool chunk holds several rows
      const costs = [...new Array<number>(nUnits - split).fill(cost(group)), ...new Array<number>(split * parts).fill(cost(group / parts))];
      const time = makespan(costs, threads);
      if (time < bestTime) {
        bestTime = time;
        best = { rows, wholeRows: nUnits - split, splitHeads: group / parts };
      }
    }
  }
  return best;
}
