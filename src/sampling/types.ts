// Sampling configuration: penalties, then either greedy argmax or temperature sampling with truncation.

export interface Penalties {
  /** Multiplicative penalty (llama.cpp style: positive logits divided, negative multiplied); 1 = off. */
  readonly repetition?: number;
  /** OpenAI-style: logit -= frequency * count(token). 0 = off. */
  readonly frequency?: number;
  /** OpenAI-style: logit -= presence if the token occurred. 0 = off. */
  readonly presence?: number;
  /** How many of the most recent tokens the penalties look at (default 64; -1 = all). */
  readonly lastN?: number;
}

export type SamplingConfig =
  | { readonly kind: 'greedy'; readonly penalties?: Penalties }
  | {
      readonly kind: 'sample';
      /** > 0. */
      readonly temperature: number;
      /** Keep the k most likely tokens (0 or absent = off). */
      readonly topK?: number;
      /** Keep the smallest set whose probability reaches p (1 or absent = off). */
      readonly topP?: number;
      /** Drop tokens whose probability is below minP * p(max) (0 or absent = off). */
      readonly minP?: number;
      readonly penalties?: Penalties;
    };
