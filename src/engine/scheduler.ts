// Builds and runs the forward steps of every sequence (docs/next-shape.md section 6): each step takes the next
// decode token of every sequence waiting with one, then prefill chunks of waiting prompts up to the step's token
// budget, so one step reads each weight once for all of them and a long prompt never stalls running streams.
// Works are queued by generations (engine/generation.ts); a step starts one macrotask turn after the previous
// step's logits were read, so every sequence that sampled in between joins it.
// Prompts that share a prefix are computed once even when they arrive together (in-flight prefix dedup, as vLLM's
// and llama.cpp's block-hash reuse of blocks being filled): a prefill at a block boundary first takes the full blocks
// the prefix cache has for its next tokens; if another queued work is filling the block it needs next (the same
// chain of blocks before it, the same tokens in it), it waits a step and takes that block once it is registered.
//
// When the KV cache is full (vLLM's recompute preemption, vllm/v1/core/sched/scheduler.py): a sequence is admitted when
// its first work runs, and keeps its admission order. A running sequence that needs a block none is free for takes the
// blocks of the latest admitted sequence whose work waits in the queue (not yet in this step): that one is preempted,
// its blocks freed (shared ones by reference count, full ones stay in the prefix cache) and its work put back at the
// front of the queue with its whole token history, to be computed again (from the prefix cache where it still holds
// them) once blocks are free. Its generation sees nothing but a slower step: the work resolves with the same logits row
// (the history is what the sequence held), its sampler state never left the generation. When no later sequence is
// there to preempt, the sequence preempts itself while another running one holds blocks (it goes on once that one
// frees them); alone, it fails with KV_CACHE_FULL, as does any work needing more blocks than the whole cache has.
// Waiting works (new, or preempted) never preempt running ones: they are admitted in order while the blocks their
// whole work needs are free, and none after one that does not fit (no new sequence overtakes a preempted one).
// With LoadOptions.kvAdmission 'reserve' (opt-in; 'eager', admission as soon as the work fits, is the default)
// admission keeps a reserve: past its work's blocks, the free blocks must also cover what every running generation
// still needs to reach its growTo (prompt plus maxTokens - 1, within the context), as vLLM's watermark keeps free
// blocks at admission (vllm/core/block_manager.py, can_allocate: 1% of the blocks there; here sized from what the
// running ones may still write, as TGI's token budget counts max_new_tokens, text-generation-inference
// router/src/queue.rs, next_batch). Admitting a sequence as soon as its prompt fits ('eager') lets new ones take the
// blocks the running ones grow into: with 16 blocks and 8 requests of 60 tokens, 340 preemptions and 32% of the
// positions computed again (15 and 5% with the reserve); but at 64 blocks, where eager admission preempted little, the
// reserve ran fewer at once (332 against 434 tok/s), hence eager by default. The new one's own growth is not reserved:
// it is the latest admitted, the first preempted if blocks run short. The reserve binds only when the budget cannot
// hold every running generation whole, and is waived while none of them progresses (none queued or in the last step:
// one whose consumer stopped pulling would hold the new one back forever), so a sequence alone is admitted as soon as
// its work fits, and the first waiting one always is once the running ones end (no starvation). Preemption stays for
// what the reserve does not cover: the new one's growth, eager admission, a waived reserve, copy-on-write of a shared
// block, work with no growTo (evaluateLogits), memory the runtime refuses.
// Before any running sequence, idle ones give their blocks (no generation on them: their K/V is a cache, as the prefix
// cache's; their tokens are dropped, and a later generation on them takes back what the prefix cache still holds).
// A sequence sampling between two works (its work not queued) is never preempted. One that was context-shifted is
// computed again from its shifted tokens (a fresh run of them, not its re-rotated keys: its continuation may differ).

import { BitNetError, isBitNetError } from '../errors.js';
import type { KernelBackend, StepBatch, Tensor } from '../kernels/backend.js';
import type { ModelConfig } from '../model/config.js';
import { forward, type ForwardState } from '../model/forward.js';
import { callsBetween } from './compute-ledger.js';
import type { ModelWeights } from '../model/weights.js';
import type { KvBlocks } from './kv-blocks.js';
import { Mutex } from './mutex.js';
import { SeqState } from './sequence-state.js';
import type { KvAdmission } from './types.js';
import { yieldToEventLoop } from './yield.js';

/** A step's logits row for one work; `done` must be called once the row was read (the next step reuses the tensor). */
export interface StepLogits {
  readonly logits: Tensor;
  readonly row: number;
  done(): void;
}

interface Work {
  readonly seq: SeqState;
  /** Tokens still to run, at positions seq.tokens.length.. */
  tokens: number[];
  /** Positions below this were computed before and dropped by a preemption: taking them from the prefix cache is no reuse. */
  recompute: number;
  readonly wantLogits: boolean;
  readonly signal: AbortSignal | undefined;
  resolve(r: StepLogits | undefined): void;
  reject(e: unknown): void;
}

export class Scheduler {
  private queue: Work[] = [];
  private running = false;
  /** Held for each step, and by exclusive work (embeddings, evaluation, context shifts). */
  private readonly stepLock = new Mutex();
  /** Entries run through forward so far (for tests and stats: prefix reuse shows as fewer). */
  forwardTokens = 0;
  steps = 0;
  /** Running sequences preempted (their blocks freed, their tokens to compute again) because the KV cache was full. */
  preemptions = 0;
  /** Sequences admitted (a work of theirs ran, and they were not preempted since). */
  private readonly admitted = new Set<SeqState>();
  /** Admission order of admitted and preempted sequences: the higher, the later (the first to be preempted). */
  private readonly order = new Map<SeqState, number>();
  private nextOrder = 0;
  /** Sequences of the last step that ran (empty after a step that ran nothing): they progress, even between two works. */
  private lastRan = new Set<SeqState>();
  /** Wakes the loop when it waits for blocks (a new work came). */
  private wake: (() => void) | undefined;

  constructor(
    private readonly be: KernelBackend,
    private readonly c: ModelConfig,
    private readonly w: ModelWeights,
    private readonly s: ForwardState,
    private readonly slots: () => readonly (SeqState | undefined)[],
    private readonly maxBlocks: number,
    private readonly kv: KvBlocks,
    /** 'reserve': a waiting sequence is admitted only while the running ones' growth stays covered (reserveFor); 'eager': as soon as its work fits. */
    private readonly admission: KvAdmission = 'eager',
  ) {
    // a pool that holds all its memory from the start (a backend without lazy growth) has every block's memory already
    if (s.pool.allocatedBlocks >= s.pool.nBlocks) kv.markHomed(Int32Array.from({ length: s.pool.nBlocks }, (_, b) => b));
  }

  /**
   * Runs `tokens` on `seq` (appended at its end) in one or more steps; resolves after the last with its logits row
   * when `wantLogits`, else undefined. Rejects with ABORTED when `signal` fires before the work's next chunk runs.
   */
  submit(seq: SeqState, tokens: readonly number[], wantLogits: boolean, signal?: AbortSignal): Promise<StepLogits | undefined> {
    return new Promise((resolve, reject) => {
      if (tokens.length === 0) throw new BitNetError('INTERNAL', 'scheduler: empty work');
      this.queue.push({ seq, tokens: [...tokens], recompute: 0, wantLogits, signal, resolve, reject });
      if (!this.running) void this.loop();
      this.wake?.();
    });
  }

  /** Runs fn between steps, alone (nothing else records ops meanwhile). */
  async exclusive<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.stepLock.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** The block tables of every live slot (rows of maxBlocks, -1 past a sequence's blocks). */
  setTables(): void {
    const slots = this.slots();
    const tables = new Int32Array(Math.max(1, slots.length) * this.maxBlocks).fill(-1);
    slots.forEach((seq, slot) => {
      if (seq === undefined) return;
      for (let i = 0; i < seq.blocks.length && i < this.maxBlocks; i++) tables[slot * this.maxBlocks + i] = seq.blocks[i];
    });
    this.be.setBlockTables(this.s.pool, tables, Math.max(1, slots.length), this.maxBlocks);
    this.kv.markHomed(tables); // setBlockTables gave every block in the tables memory
  }

  /**
   * seq.reserve(from, to) with backend memory behind every block it hands the sequence, before the step: pools take
   * memory on a block's first use (kernels/kv-growth.ts), and a growth the runtime refuses inside the step would fail
   * every sequence in it. Here it fails only this one: its blocks without memory are tried one at a time; on a refusal
   * the reserve is undone and retried with blocks that have memory (free ones, else idle prefix-cache blocks, evicted);
   * if none is left it throws KV_CACHE_FULL with nothing of this call left behind (no blocks, no copy pairs).
   * A backend that learns of a refusal only later (WebGPU) is asked after each growth (settleKvGrowth: a refused one is
   * undone, the block it was for has no memory again) before the next block is tried; then the call returns a promise
   * of the same outcome. Otherwise, and whenever nothing grew, it returns undefined, done, with no await.
   * (A first version settled once per reserve, after all its blocks: a refusal then undid the good growths before it
   * too, and the sequence fell back on less memory than the device had given. Replaced, not measured.)
   */
  private reserveWithMemory(seq: SeqState, from: number, to: number, copies: number[]): Promise<void> | undefined {
    const blocksBefore = seq.blocksNow();
    const copiesBefore = copies.length;
    const undo = (): void => {
      seq.undoReserve(blocksBefore);
      copies.length = copiesBefore;
    };
    const reserve = (homedOnly: boolean): void => {
      this.kv.homedOnly = homedOnly;
      try {
        seq.reserve(from, to, copies);
      } catch (e) {
        undo();
        throw e;
      } finally {
        this.kv.homedOnly = false;
      }
    };
    const settles = this.be.settleKvGrowth !== undefined;
    // gives seq.blocks[start..] memory; with a backend that settles growths, stops after a block the pool grew for and
    // returns the index after it; -1 once every block has memory. Throws when the backend refuses at once.
    const homeFrom = (start: number): number => {
      for (let i = start; i < seq.blocks.length; i++) {
        const b = seq.blocks[i];
        if (this.kv.isHomed(b)) continue;
        // a one-block table: the backend gives the block memory (or refuses) and nothing else changes
        const allocated = this.s.pool.allocatedBlocks;
        this.be.setBlockTables(this.s.pool, Int32Array.of(b), 1, 1);
        this.kv.markHomed([b]);
        if (settles && this.s.pool.allocatedBlocks !== allocated) return i + 1;
      }
      return -1;
    };
    // after a refusal: the reserve undone and made again with blocks that have memory (nothing grows); when none is
    // left, KV_CACHE_FULL (the device's refusal when `deviceSaid`: it names what the device could not hold)
    const fallback = (refusal: unknown, deviceSaid: boolean): void => {
      undo();
      if (!isBitNetError(refusal, 'KV_CACHE_FULL')) throw refusal;
      try {
        reserve(true);
        homeFrom(0);
      } catch (again) {
        undo();
        throw deviceSaid && isBitNetError(again, 'KV_CACHE_FULL') ? refusal : again;
      }
    };
    reserve(false);
    let next: number;
    try {
      next = homeFrom(0);
    } catch (e) {
      fallback(e, false);
      return undefined;
    }
    if (next < 0) return undefined;
    const settleEach = async (): Promise<void> => {
      for (;;) {
        const grownFor = seq.blocks[next - 1];
        let refusal: unknown;
        try {
          await this.be.settleKvGrowth?.(this.s.pool);
        } catch (e) {
          refusal = e ?? new BitNetError('INTERNAL', 'settleKvGrowth rejected without a reason');
          this.kv.unmarkHomed([grownFor]); // the growth was undone: the block has no memory again
        }
        // freed while the device answered: its blocks went back then
        if (seq.freed) throw disposed(copies, copiesBefore);
        if (refusal !== undefined) {
          fallback(refusal, true);
          return;
        }
        try {
          next = homeFrom(next);
        } catch (e) {
          fallback(e, false);
          return;
        }
        if (next < 0) return;
      }
    };
    return settleEach();
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        // a macrotask turn per step: sequences that just sampled queue their next token; timers and sockets are served
        await yieldToEventLoop();
        const release = await this.stepLock.acquire();
        let reads: Promise<void>[] | undefined = [];
        try {
          reads = await this.step();
        } finally {
          release();
        }
        if (reads === undefined) {
          // every queued work waits for blocks that running sequences not in the queue now hold: wait for a new work, or
          // a little (a sequence freed, a signal aborted)
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => resolve(), 2);
            this.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wake = undefined;
          continue;
        }
        await Promise.all(reads);
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * One step: choose entries, reserve blocks (preempting when full), run forward, hand out logits rows. Returns the
   * rows' read promises; undefined when nothing could run because every queued work waits for blocks.
   */
  private async step(): Promise<Promise<void>[] | undefined> {
    const { maxBatch, maxLogitRows } = this.s;
    const picked: { work: Work; n: number }[] = [];
    const pickedSet = new Set<Work>();
    const copies: number[] = [];
    let budget = maxBatch;
    let logitRows = 0;
    for (const seq of this.order.keys()) {
      if (seq.freed) {
        this.order.delete(seq);
        this.admitted.delete(seq);
      }
    }
    // preempted works waiting: no new sequence is admitted before them; a work that does not fit closes the gate
    let preemptedWaiting = this.queue.filter((w) => this.isPreempted(w.seq)).length;
    let gateClosed = false;
    // running sequences' decode tokens first (one entry each), then prefill chunks and waiting works in arrival order
    // (preempted works at the front): a waiting work of one token (its prompt's blocks but the last taken from the prefix
    // cache) does not overtake the waiting ones before it
    const decoding = (x: Work): boolean => x.tokens.length === 1 && this.admitted.has(x.seq);
    const order = [...this.queue.filter(decoding), ...this.queue.filter((x) => !decoding(x))];
    for (const work of order) {
      if (budget === 0) break;
      if (work.signal?.aborted === true) {
        this.drop(work, new BitNetError('ABORTED', 'generation was aborted', { cause: work.signal.reason }));
        continue;
      }
      if (work.seq.freed) {
        this.drop(work, new BitNetError('DISPOSED', 'the sequence was freed'));
        continue;
      }
      const seq = work.seq;
      const admitted = this.admitted.has(seq);
      const preempted = this.isPreempted(seq);
      if (!admitted && (gateClosed || (!preempted && preemptedWaiting > 0))) continue;
      this.takeCached(work);
      if (this.waitsForBlock(work, admitted)) continue;
      const n = Math.min(work.tokens.length, budget);
      const last = n === work.tokens.length;
      if (last && work.wantLogits && logitRows === maxLogitRows) continue;
      const start = seq.tokens.length;
      const bs = seq.blockSize;
      const total = Math.ceil((start + work.tokens.length) / bs);
      if (total > this.kv.nBlocks) {
        // more than the whole cache: no preemption or wait makes it fit
        this.drop(work, tooLong(start + work.tokens.length, this.kv.nBlocks, bs));
        continue;
      }
      if (!admitted) {
        // admitted only while the blocks its whole work needs are there, and past them the reserve for the growth of the
        // running sequences (idle cached blocks count; other waiting works' blocks are taken back); else it waits, and so
        // does every waiting work after it
        const need = (): number => total - seq.blocks.length;
        const reserve = this.reserveFor(seq);
        for (let v = this.victim(work, pickedSet, false); need() + reserve > this.kv.available() && v !== undefined; v = this.victim(work, pickedSet, false)) this.evict(v);
        if (need() + reserve > this.kv.available() && this.othersRunning(seq)) {
          this.preempt(work);
          gateClosed = true;
          continue;
        }
      }
      let full: unknown;
      for (;;) {
        try {
          const settling = this.reserveWithMemory(seq, start, start + n, copies);
          if (settling !== undefined) await settling;
          full = undefined;
          break;
        } catch (e) {
          full = e;
          if (!isBitNetError(e, 'KV_CACHE_FULL')) break;
          const v = this.victim(work, pickedSet, admitted);
          if (v === undefined) break;
          this.evict(v);
          gateClosed = true; // nothing new is admitted in a step that preempted
        }
      }
      if (full !== undefined) {
        if (isBitNetError(full, 'KV_CACHE_FULL') && this.othersRunning(seq)) {
          // no later sequence to take blocks from: this one waits (preempted) until running ones free theirs
          this.preempt(work);
          gateClosed = true;
          continue;
        }
        // alone (or another failure): this work fails; its owner frees its blocks
        this.drop(work, full);
        continue;
      }
      if (!admitted) {
        this.admitted.add(seq);
        if (!this.order.has(seq)) this.order.set(seq, this.nextOrder++);
        if (preempted) preemptedWaiting--;
      }
      picked.push({ work, n });
      pickedSet.add(work);
      budget -= n;
      if (last && work.wantLogits) logitRows++;
    }
    // a sequence freed while a reserve after its own waited for the device (settleKvGrowth): its blocks went back then
    for (let i = picked.length - 1; i >= 0; i--) {
      if (!picked[i].work.seq.freed) continue;
      this.drop(picked[i].work, new BitNetError('DISPOSED', 'the sequence was freed'));
      picked.splice(i, 1);
    }
    this.lastRan = new Set(picked.map((p) => p.work.seq));
    if (picked.length === 0) {
      if (copies.length > 0) await this.runCopies(copies);
      return this.queue.length > 0 ? undefined : [];
    }

    const nTokens = picked.reduce((sum, p) => sum + p.n, 0);
    const batch: StepBatch = { nTokens, tokens: new Int32Array(nTokens), positions: new Int32Array(nTokens), seqs: new Int32Array(nTokens), logitRows: new Int32Array(logitRows) };
    const rowOf = new Map<Work, number>();
    let t = 0;
    let r = 0;
    for (const { work, n } of picked) {
      const start = work.seq.tokens.length;
      for (let j = 0; j < n; j++, t++) {
        batch.tokens[t] = work.tokens[j];
        batch.positions[t] = start + j;
        batch.seqs[t] = work.seq.slot;
      }
      if (n === work.tokens.length && work.wantLogits) {
        rowOf.set(work, r);
        batch.logitRows[r++] = t - 1;
      }
    }

    let logits: Tensor;
    // the step's kernel calls go to the ledger of every sequence in it (compute-ledger.ts): its receipts
    const callsBefore = new Map(this.be.kernelCalls());
    try {
      this.be.beginStep();
      if (copies.length > 0) this.be.copyBlocks(this.s.pool, Int32Array.from(copies));
      this.setTables();
      logits = forward(this.be, this.c, this.w, this.s, batch, logitRows > 0 ? 'logits' : 'none');
      await this.be.endStep();
    } catch (e) {
      for (const { work } of picked) this.drop(work, e);
      return [];
    }
    this.forwardTokens += nTokens;
    this.steps++;
    const stepCalls = callsBetween(callsBefore, this.be.kernelCalls());
    for (const { work, n } of picked) {
      const start = work.seq.tokens.length;
      work.seq.compute.addStep(stepCalls, n, nTokens, Math.max(0, Math.min(start + n, work.recompute) - start));
    }

    const reads: Promise<void>[] = [];
    for (const { work, n } of picked) {
      if (work.seq.freed) {
        // freed while the step ran: its blocks are gone, so is its work
        this.drop(work, new BitNetError('DISPOSED', 'the sequence was freed'));
        continue;
      }
      work.seq.appended(work.tokens.slice(0, n));
      work.tokens = work.tokens.slice(n);
      if (work.tokens.length > 0) continue;
      this.queue.splice(this.queue.indexOf(work), 1);
      const row = rowOf.get(work);
      if (row === undefined) {
        work.resolve(undefined);
        continue;
      }
      reads.push(
        new Promise<void>((done) => {
          work.resolve({ logits, row, done });
        }),
      );
    }
    return reads;
  }

  /** Tokens of `work` that may come from the prefix cache: all but the last when the work wants its logits. */
  private static shareable(work: Work): number {
    return work.tokens.length - (work.wantLogits ? 1 : 0);
  }

  /** At a block boundary: the full blocks the prefix cache holds for the work's next tokens, taken instead of computed. */
  private takeCached(work: Work): void {
    const seq = work.seq;
    const max = Scheduler.shareable(work);
    if (max < seq.blockSize || seq.tokens.length % seq.blockSize !== 0) return;
    const from = seq.tokens.length;
    const taken = seq.takeCachedPrefix(work.tokens, max);
    if (taken > 0) work.tokens = work.tokens.slice(taken);
    // positions computed before a preemption and taken back are not reuse (the generation counted them once)
    seq.cacheTaken -= Math.max(0, Math.min(from + taken, work.recompute) - from);
  }

  /** Preempted: admitted once, not now (its work waits at the front of the queue with its whole history). */
  private isPreempted(seq: SeqState): boolean {
    return this.order.has(seq) && !this.admitted.has(seq);
  }

  /**
   * Whose blocks go to `work`'s: a queued work not in this step of a waiting sequence holding blocks (only cache hits
   * it took) first; then an idle sequence (no generation on it: its blocks are a cache, as the prefix cache's); then, for
   * an admitted `work`, the queued work (not in this step) of the latest sequence admitted after it. Sequences sampling
   * between two works are never taken (their generation reads their tokens).
   */
  private victim(work: Work, picked: ReadonlySet<Work>, admitted: boolean): Work | SeqState | undefined {
    const mine = this.order.get(work.seq) ?? Number.POSITIVE_INFINITY;
    let best: Work | undefined;
    let bestOrder = -1;
    const queued = new Set<SeqState>();
    for (const v of this.queue) {
      queued.add(v.seq);
      if (v === work || v.seq === work.seq || picked.has(v) || v.seq.freed || v.seq.blocks.length === 0 || v.signal?.aborted === true) continue;
      if (!this.admitted.has(v.seq)) return v;
      const o = this.order.get(v.seq) ?? -1;
      if (admitted && o > mine && o > bestOrder) {
        best = v;
        bestOrder = o;
      }
    }
    for (const seq of this.slots()) {
      if (seq !== undefined && seq !== work.seq && !seq.freed && seq.blocks.length > 0 && !seq.lock.locked && !queued.has(seq)) return seq;
    }
    return best;
  }

  /** Takes the blocks of a victim (see `victim`): a queued work is preempted; an idle sequence just drops its cache. */
  private evict(v: Work | SeqState): void {
    if (!(v instanceof SeqState)) {
      this.preempt(v);
      return;
    }
    // the tokens a later generation on it asks for again come from the prefix cache while their blocks are there
    v.truncate(0);
    this.admitted.delete(v);
    this.order.delete(v);
  }

  /**
   * Frees the blocks of `work`'s sequence (shared ones by reference count; its full blocks stay in the prefix cache
   * while nothing needs them) and puts the work back at the front of the queue with the sequence's whole history, so
   * that its next run computes (or takes from the prefix cache) what the sequence held. A preemption when the sequence
   * was admitted; else the blocks a waiting work took (cache hits, a reused prefix) given back, and a work never
   * admitted keeps its place in the queue.
   */
  private preempt(work: Work): void {
    const seq = work.seq;
    const history = seq.tokens.slice();
    if (history.length > 0) {
      work.tokens = [...history, ...work.tokens];
      work.recompute = Math.max(work.recompute, history.length);
      // the tokens go back to the work: the next takes count again only past `recompute`
    }
    seq.truncate(0);
    if (this.admitted.delete(seq)) this.preemptions++;
    // never admitted (the blocks it took back): it keeps its place, so it overtakes no work that came before it
    if (!this.order.has(seq) && this.queue.includes(work)) return;
    const i = this.queue.indexOf(work);
    if (i >= 0) this.queue.splice(i, 1);
    // waiting preempted works first, earliest admitted first
    let at = 0;
    while (at < this.queue.length && this.isPreempted(this.queue[at].seq) && (this.order.get(this.queue[at].seq) ?? 0) < (this.order.get(seq) ?? 0)) at++;
    this.queue.splice(at, 0, work);
  }

  /**
   * The free blocks `seq`'s admission must leave past the blocks of its work: those the running sequences (admitted, a
   * generation on them) still need to reach their growTo (each at most the whole cache). Not `seq`'s own growth: it is
   * the latest admitted, so when blocks run short it is the one preempted, not one that ran before it. 0 unless one of
   * the running ones progresses (its work queued, or it ran in the last step and samples its next token now), so it
   * will end and free its blocks: waiting for ones that do not (a generation whose consumer stopped pulling) could wait
   * forever. So a sequence alone is admitted as soon as its work fits.
   * Tried and dropped (loadtest --parallel 8 --kv-kib 256, tiny model, Node 20; this rule: 15 preemptions, 9,448
   * positions, 2,015 steps, CPU median 29.5 s against eager's 28.0): reserving the new one's own growth too: 0
   * preemptions, 9,024 positions but 2,581 steps (fewer at once), CPU median 31.0 s against eager's 29.1 (6 runs each);
   * counting only the peak of the growth (each one position a step, its blocks freed at its growTo): mispredicted (a
   * server stream may skip a step), 25 preemptions, 3,348 steps.
   */
  private reserveFor(seq: SeqState): number {
    if (this.admission === 'eager') return 0;
    const bs = seq.blockSize;
    const queued = new Set(this.queue.map((w) => w.seq));
    let blocks = 0;
    let progressing = false;
    for (const r of this.admitted) {
      if (r === seq || r.freed || r.growTo === undefined) continue;
      if (queued.has(r) || this.lastRan.has(r)) progressing = true;
      blocks += Math.max(0, Math.min(this.kv.nBlocks, Math.ceil(r.growTo / bs)) - r.blocks.length);
    }
    return progressing ? blocks : 0;
  }

  /** Whether another admitted sequence holds blocks and runs (its work queued, or a generation on it), so blocks will free. */
  private othersRunning(seq: SeqState): boolean {
    for (const s of this.admitted) {
      if (s === seq || s.freed || s.blocks.length === 0) continue;
      if (s.lock.locked || this.queue.some((w) => w.seq === s)) return true;
    }
    return false;
  }

  /**
   * Whether another queued work is filling the full block `work` needs next (see the file comment): then `work` waits
   * for it rather than computing it too. Of works at the same position the first queued fills, so one always runs.
   */
  private waitsForBlock(work: Work, admitted: boolean): boolean {
    const seq = work.seq;
    const bs = seq.blockSize;
    const p = seq.tokens.length;
    if (Scheduler.shareable(work) < bs || p % bs !== 0) return false;
    const i = p / bs;
    if (seq.chainIds.length !== i) return false;
    const block = work.tokens.slice(0, bs);
    const key = seq.blockKey(i, block);
    const mine = this.queue.indexOf(work);
    return this.queue.some((other, j) => {
      if (other === work || other.seq === seq) return false;
      // an admitted work never waits for a waiting one (that one may wait for the blocks this one holds)
      if (admitted && !this.admitted.has(other.seq)) return false;
      // equal positions: only a work queued earlier leads (no two works wait on each other)
      if (other.seq.tokens.length === p && j > mine) return false;
      return other.signal?.aborted !== true && other.seq.willFill(i, key, block, other.tokens);
    });
  }

  /**
   * Context shift of `seq` (llama.cpp's: keep the first nKeep tokens, drop the oldest half of the rest, move the kept
   * ones down and re-rotate their keys). Returns the number of tokens dropped (0 when nothing can be dropped).
   */
  shift(seq: SeqState, nKeep: number, theta: number): Promise<number> {
    return this.exclusive(async () => {
      const n = seq.tokens.length;
      const keep = Math.min(Math.max(0, nKeep), n);
      const nDiscard = Math.floor((n - keep) / 2);
      if (nDiscard < 1) return 0;
      const copies: number[] = [];
      // every block the move writes is this sequence's own, out of the prefix cache and with memory (or nothing changed)
      const settling = this.reserveWithMemory(seq, keep, n, copies);
      if (settling !== undefined) await settling;
      const callsBefore = new Map(this.be.kernelCalls());
      this.be.beginStep();
      if (copies.length > 0) this.be.copyBlocks(this.s.pool, Int32Array.from(copies));
      this.setTables();
      this.be.shiftKeys(this.s.pool, seq.slot, keep + nDiscard, n, -nDiscard, theta, this.c.ropeStyle);
      await this.be.endStep();
      seq.compute.addCalls(callsBetween(callsBefore, this.be.kernelCalls()));
      seq.tokens.splice(keep, nDiscard);
      seq.truncate(seq.tokens.length);
      // positions from keep on now differ from a fresh run: their blocks are cached under a lineage of their own
      seq.shifted(keep);
      return nDiscard;
    });
  }

  private async runCopies(copies: number[]): Promise<void> {
    this.be.beginStep();
    this.be.copyBlocks(this.s.pool, Int32Array.from(copies));
    await this.be.endStep();
  }

  private drop(work: Work, e: unknown): void {
    if (isBitNetError(e, 'ABORTED') || isBitNetError(e, 'DISPOSED') || this.isPreempted(work.seq)) {
      // a waiting sequence's history is gone with its work: it holds nothing now
      this.admitted.delete(work.seq);
      this.order.delete(work.seq);
    }
    const i = this.queue.indexOf(work);
    if (i >= 0) this.queue.splice(i, 1);
    work.reject(e);
  }

  /** The forward state the steps run on (exclusive work records its own steps on it). */
  get state(): ForwardState {
    return this.s;
  }

  get pool(): ForwardState['pool'] {
    return this.s.pool;
  }
}

/** DISPOSED for a sequence freed while its reserve waited for the device (free() released its blocks); its copy pairs go. */
function disposed(copies: number[], copiesBefore: number): BitNetError {
  copies.length = copiesBefore;
  return new BitNetError('DISPOSED', 'the sequence was freed');
}

/** KV_CACHE_FULL for a work needing more blocks than the whole cache has: it can never run, whatever frees. */
function tooLong(positions: number, nBlocks: number, blockSize: number): BitNetError {
  return new BitNetError(
    'KV_CACHE_FULL',
    `the sequence needs ${positions} KV positions (${Math.ceil(positions / blockSize)} blocks of ${blockSize}); the whole KV cache holds ${nBlocks * blockSize} (${nBlocks} blocks): raise kvMemory, or shorten the prompt`,
    { details: { nBlocks, blockSize, positions, reason: 'too_long' } },
  );
}
