// The public handle of one sequence (docs/next-shape.md section 6, docs/api.md "Sequences"): a KV cache of its own
// over the shared paged pool. Generations on different sequences run concurrently and share forward steps.

import { BitNetError } from '../errors.js';
import type { Receipt } from './receipt.js';
import type { SeqState } from './sequence-state.js';
import type { CompletionResult, GenerateOptions, GeneratedPiece } from './types.js';

/** What a sequence asks of its model (engine/bitnet.ts). */
export interface SequenceHost {
  generate(seq: SeqState, prompt: string | readonly number[], options: GenerateOptions): AsyncGenerator<GeneratedPiece>;
  fork(seq: SeqState): Sequence;
  free(seq: SeqState): void;
  receipt(seq: SeqState, kind: Receipt['kind']): Receipt | undefined;
}

let nextId = 1;

export class Sequence {
  readonly id = nextId++;

  constructor(
    private readonly state: SeqState,
    private readonly host: SequenceHost,
  ) {}

  /**
   * Tokens whose K/V the sequence holds, in order (the last sampled token is not among them until it runs). An idle
   * sequence (no generation on it) gives its blocks when the KV cache is full: its tokens are then empty, and its next
   * generation takes back from the prefix cache what it still holds (engine/scheduler.ts).
   */
  get tokens(): readonly number[] {
    return [...this.state.tokens];
  }

  /** Whether free() was called. */
  get freed(): boolean {
    return this.state.freed;
  }

  /**
   * Generates after `prompt`, the sequence's whole text: the longest prefix it shares with the tokens the sequence
   * holds is reused, then full blocks any sequence computed for the same prefix (the prefix cache), and only the rest
   * is computed. One generation at a time per sequence (later calls wait).
   */
  generate(prompt: string | readonly number[], options: GenerateOptions = {}): AsyncGenerator<GeneratedPiece> {
    this.state.checkLive();
    return this.host.generate(this.state, prompt, options);
  }

  /** generate, collected. */
  async complete(prompt: string | readonly number[], options: GenerateOptions = {}): Promise<CompletionResult> {
    return collectCompletion(this.generate(prompt, options), options);
  }

  /** A new sequence holding the same tokens, sharing this one's KV blocks until either writes (copy-on-write). */
  fork(): Sequence {
    this.state.checkLive();
    if (this.state.lock.pending > 0) throw new BitNetError('BAD_ARGUMENT', 'fork: the sequence has generations waiting');
    return this.host.fork(this.state);
  }

  /**
   * A receipt for the last generation that finished on this sequence (undefined before the first): its tokens, and the
   * kernel calls of the forward steps its tokens ran in, with how those steps were shared (docs/receipts.md
   * "Per-sequence accounting"). Still answers after free().
   */
  lastReceipt(kind: Receipt['kind'] = 'generate'): Receipt | undefined {
    return this.host.receipt(this.state, kind);
  }

  /** Returns the sequence's KV blocks (full blocks stay in the prefix cache until memory is needed). Idempotent. */
  free(): void {
    this.host.free(this.state);
  }
}

/** A generation's pieces collected into one result (log-probabilities kept when topLogprobs asked for them). */
export async function collectCompletion(pieces: AsyncIterable<GeneratedPiece>, options: GenerateOptions): Promise<CompletionResult> {
  let text = '';
  const tokenIds: number[] = [];
  const logprobs: NonNullable<GeneratedPiece['logprobs']>[number][] = [];
  for await (const piece of pieces) {
    text += piece.text;
    tokenIds.push(...piece.tokenIds);
    if (piece.logprobs !== undefined) logprobs.push(...piece.logprobs);
    if (piece.finish !== undefined) {
      const result: CompletionResult = { text, tokenIds, finishReason: piece.finish.reason, usage: piece.finish.usage, timings: piece.finish.timings };
      return (options.topLogprobs ?? 0) > 0 ? { ...result, logprobs } : result;
    }
  }
  throw new BitNetError('INTERNAL', 'generation ended without a finish piece');
}
