// What one sequence's tokens cost, for its receipts (docs/receipts.md "Per-sequence accounting"): the forward steps its
// tokens ran in, every kernel call of those steps, and how many positions of each step were its own. Steps are shared
// (one step reads each weight once for every sequence in it), so a shared step's calls are listed whole in the ledger of
// each sequence that took part, and the positions say how the step was shared: nothing is split or estimated.

import type { SamplingConfig } from '../sampling/types.js';
import type { Timings } from './types.js';

/** Calls made between two snapshots of KernelBackend.kernelCalls(): only ids whose count grew. */
export function callsBetween(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, n] of after) {
    const d = n - (before.get(id) ?? 0);
    if (d > 0) out.set(id, d);
  }
  return out;
}

/** A ledger's counters at one moment (ComputeLedger.snapshot), for the difference a generation made. */
export interface ComputeSnapshot {
  readonly kernels: ReadonlyMap<string, number>;
  readonly steps: number;
  readonly sharedSteps: number;
  readonly ownPositions: number;
  readonly stepPositions: number;
  readonly recomputedPositions: number;
}

/** What a run cost between two snapshots. */
export interface ComputeUsage {
  /** Kernel calls, by id, sorted by id. */
  readonly kernels: { id: string; calls: number }[];
  /** Forward steps the sequence's tokens ran in. */
  readonly steps: number;
  /** Of those, steps that also ran other sequences' tokens. */
  readonly sharedSteps: number;
  /** Positions (tokens) of this sequence run through the model. */
  readonly ownPositions: number;
  /** Positions of every sequence in those steps (ownPositions when no step was shared). */
  readonly stepPositions: number;
  /** Of ownPositions, those computed again after a preemption freed their K/V (engine/scheduler.ts). */
  readonly recomputedPositions: number;
}

export class ComputeLedger {
  private readonly kernels = new Map<string, number>();
  private steps = 0;
  private sharedSteps = 0;
  private ownPositions = 0;
  private stepPositions = 0;
  private recomputedPositions = 0;

  /** Adds kernel calls made for this sequence alone outside a forward step (a context shift's key rotation, sampling). */
  addCalls(calls: ReadonlyMap<string, number>): void {
    for (const [id, n] of calls) this.kernels.set(id, (this.kernels.get(id) ?? 0) + n);
  }

  /**
   * Adds a forward step this sequence took part in: the step's calls, its own positions and the step's, and how many of
   * its own were computed again after a preemption.
   */
  addStep(calls: ReadonlyMap<string, number>, ownPositions: number, stepPositions: number, recomputed = 0): void {
    this.addCalls(calls);
    this.steps++;
    if (stepPositions > ownPositions) this.sharedSteps++;
    this.ownPositions += ownPositions;
    this.stepPositions += stepPositions;
    this.recomputedPositions += recomputed;
  }

  snapshot(): ComputeSnapshot {
    return { kernels: new Map(this.kernels), steps: this.steps, sharedSteps: this.sharedSteps, ownPositions: this.ownPositions, stepPositions: this.stepPositions, recomputedPositions: this.recomputedPositions };
  }

  /** What was added since `s`. */
  since(s: ComputeSnapshot): ComputeUsage {
    const kernels = [...callsBetween(s.kernels, this.kernels)].map(([id, calls]) => ({ id, calls })).sort((a, b) => a.id.localeCompare(b.id));
    return { kernels, steps: this.steps - s.steps, sharedSteps: this.sharedSteps - s.sharedSteps, ownPositions: this.ownPositions - s.ownPositions, stepPositions: this.stepPositions - s.stepPositions, recomputedPositions: this.recomputedPositions - s.recomputedPositions };
  }
}

/** What one finished generation did, for its receipt (BitNet.lastReceipt, Sequence.lastReceipt). */
export interface RunRecord {
  readonly promptTokens: readonly number[];
  readonly generated: readonly number[];
  readonly timings: Timings;
  readonly sampling: SamplingConfig;
  readonly seed: number;
  /** The steps and kernel calls of this generation's tokens. */
  readonly compute: ComputeUsage;
  /** Prompt tokens not computed: the sequence's own cache from before, and full blocks of the prefix cache. */
  readonly reusedPromptTokens: number;
}
