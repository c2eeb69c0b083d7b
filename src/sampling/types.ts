// Sampling configuration: a pipeline of logit transforms followed by a pick.

/** How to pick the next token. `greedy` ignores temperature and truncation. */
export interface SamplingConfig {
  /** 0 or absent with no truncation = greedy. */
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly minP?: number;
  /** Multiplicative penalty (llama.cpp style) over the last `penaltyLastN` tokens; 1 = off. */
  readonly repetitionPenalty?: number;
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
  /** Tokens looked back on for penalties (default 64). */
  readonly penaltyLastN?: number;
}
