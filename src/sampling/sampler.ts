// Turns one step's logits into a token: penalties, then greedy argmax or top-k → top-p → min-p → temperature → seeded draw.
//
// Stage order and formulas follow llama.cpp's default sampler chain (common/common.h
// `common_params_sampling::samplers`: penalties, [dry, top-n-sigma], top_k, [typical], top_p,
// min_p, [xtc], temperature, then `dist`) and the stage bodies in src/llama-sampling.cpp
// (`llama_sampler_penalties_apply`, `llama_sampler_top_k_impl`, `llama_sampler_top_p_apply`,
// `llama_sampler_min_p_apply`, `llama_sampler_temp_impl`, `llama_sampler_dist_apply`).
// Consequences of that order, on purpose: top-p and min-p look at the softmax of the
// *unscaled* (penalized) logits; temperature only reshapes the distribution among survivors.
//
// Semantics chosen where upstream leaves room:
// - Ties are broken by the lower token id everywhere (greedy argmax, top-k, top-p order).
// - top-p is inclusive: keep the smallest prefix (by probability, descending) whose cumulative
//   probability is >= topP (llama.cpp keeps the token that makes `cum_sum >= p`).
// - min-p keeps tokens with p >= minP * p(max), compared in logit space in float32 like llama.cpp.
// - Logits containing NaN or +Infinity are rejected with BAD_ARGUMENT (they mean a broken forward
//   pass; sampling from them would hide the bug). -Infinity is allowed: it masks a token.
// - A 'sample' step always consumes exactly one `nextFloat()` from the RNG; 'greedy' never does.
// - Zero-probability tokens are never drawn: the draw picks the first candidate whose running
//   weight sum strictly exceeds u * total, u in [0, 1). Candidates are walked in a fixed order
//   (token id, or the selection order below), so a seed always gives the same token.
//
// Hot path: no vocab-sized allocation per call; all buffers are allocated once per sampler.
// Without truncation there is no candidate list at all (one max pass, one exp pass). Top-k and
// top-p use a 1024-bucket histogram over the logit range: ids in buckets above the boundary are
// selected as they are, and only the boundary bucket is sorted (llama.cpp sorts a partial top-k
// with a similar bucket scheme, `llama_token_data_array_partial_sort`). Measured on a 128256-entry
// vocabulary (Node 20, loaded 2-core VM, medians): greedy 0.3-0.45 ms; no truncation ~2.1 ms (one
// Math.exp per token dominates: 1.5 ms alone); top-k 40 (+ top-p + min-p) 1.6-2.2 ms; top-p alone
// ~3 ms (~5-7 ms in the pathological case of a 95k-token nucleus); logprobs with top 20 ~2.9 ms.

import { BitNetError } from '../errors.js';
import { createRng, type Rng } from './rng.js';
import type { TokenMask } from './json-constraint.js';
import type { Penalties, SamplingConfig } from './types.js';
import { softmaxBuckets, softmaxWeights } from './exp-weights.js';

/** One (token, log-probability) pair. */
export interface TokenLogprobEntry {
  readonly token: number;
  readonly logprob: number;
}

/** Log-probabilities of a chosen token and of the `topN` most likely tokens (descending). */
export interface TokenLogprobs {
  readonly chosen: TokenLogprobEntry;
  readonly top: readonly TokenLogprobEntry[];
}

/** One entry of the final distribution a draw is made from (after every truncation and temperature). */
export interface CandidateProb {
  readonly token: number;
  readonly prob: number;
}

export interface Sampler {
  readonly config: SamplingConfig;
  readonly vocabSize: number;
  /**
   * Pick the next token. `logits` has `vocabSize` entries and is not modified. `history` is the
   * token sequence the penalties look at (the engine decides whether the prompt is part of it);
   * only its last `penalties.lastN` entries are read. `mask` (constrained decoding) restricts the choice to the
   * tokens it allows: the others count as -Infinity before every other stage, so greedy, penalties, top-k/p,
   * min-p and the seeded draw all work on the allowed tokens only.
   */
  sample(logits: Float32Array, history: readonly number[], mask?: TokenMask): number;
  /**
   * The distribution `sample` would draw from for these inputs, sorted by descending probability
   * (ties: lower id); masked (-Infinity) tokens are left out. Diagnostic: allocates, and does not
   * touch the RNG. For 'greedy' it is the single argmax with probability 1.
   */
  distribution(logits: Float32Array, history: readonly number[], mask?: TokenMask): CandidateProb[];
  /**
   * Log-softmax of the *raw* logits (no penalties, no temperature, no truncation): the model's own
   * distribution, which is what OpenAI-style `logprobs` report and what vLLM and llama.cpp's server
   * return by default. `top` lists up to `topN` tokens by descending logprob (ties: lower id) and
   * never includes tokens whose logit is -Infinity; `chosen.logprob` may be -Infinity.
   */
  logprobs(logits: Float32Array, token: number, topN: number): TokenLogprobs;
}

/** Penalty window when `penalties.lastN` is absent (llama.cpp's `penalty_last_n` default). */
export const DEFAULT_PENALTY_LAST_N = 64;
/** Histogram resolution for truncation; enough that the boundary bucket is small for real logits. */
const N_BUCKETS = 1024;
/** Largest vocabulary accepted: token ids must fit the Uint32Array candidate buffers with room to spare. */
const MAX_VOCAB_SIZE = 2 ** 30;
const EMPTY = new Float32Array(0);
/**
 * Up to this top-k (llama.cpp's default is 40) or this many `logprobs` entries (OpenAI allows 20) the best are kept by
 * insertion during the validation pass (scanTop) instead of listing every finite id and selecting by histogram: one
 * pass over the vocabulary instead of three.
 */
const ONE_PASS_TOP_K = 128;

/**
 * One pass over the logits: rejects NaN / +Infinity (BAD_ARGUMENT) and an all -Infinity row, finds the finite range
 * and count, and keeps the k best (k <= top.length; 0: none) sorted by (value desc, id asc) in top[0..nTop) by
 * insertion (ids ascend, so an equal value never displaces an earlier id).
 */
function scanTop(view: Float32Array, k: number, top: Uint32Array): { nTop: number; nFinite: number; maxValue: number; minValue: number } {
  let maxValue = -Infinity;
  let minValue = Infinity;
  let nTop = 0;
  let nFinite = 0;
  let worst = -Infinity; // the value of top[k - 1] once the list is full
  for (let i = 0; i < view.length; i++) {
    const v = view[i];
    if (v !== v || v === Infinity) throw badLogit(i, v);
    if (v === -Infinity) continue;
    nFinite++;
    if (v > maxValue) maxValue = v;
    if (v < minValue) minValue = v;
    if (k > 0 && (nTop < k || v > worst)) {
      let j = nTop < k ? nTop++ : nTop - 1;
      for (; j > 0 && view[top[j - 1]] < v; j--) top[j] = top[j - 1];
      top[j] = i;
      if (nTop === k) worst = view[top[k - 1]];
    }
  }
  if (nFinite === 0) throw noFiniteLogit();
  return { nTop, nFinite, maxValue, minValue };
}

/**
 * Candidates for top-k with a small k in one pass over the logits (scanTop, the k best in `top`), then writes to cand[0..n) the candidates listing every finite id and selecting with
 * TopSelector.selectTopK gives, in its order (orderAsBucketed), or every finite id in id order when there are at most
 * k. minValue is then the smallest candidate's value, as after selectTopK.
 */
export function topKOnePass(view: Float32Array, k: number, top: Uint32Array, cand: Uint32Array): { n: number; maxValue: number; minValue: number } {
  const { nFinite, maxValue, minValue } = scanTop(view, k, top);
  let n = 0;
  if (nFinite <= k) {
    for (let i = 0; i < view.length; i++) if (view[i] !== -Infinity) cand[n++] = i;
    return { n, maxValue, minValue };
  }
  n = orderAsBucketed(view, top, k, maxValue, minValue, cand);
  let least = Infinity;
  for (let j = 0; j < n; j++) least = Math.min(least, view[cand[j]]);
  return { n, maxValue, minValue: least };
}

/**
 * The k best of the `top` list (ids sorted by value desc, id asc; the k best finite values of the vocabulary, whose
 * finite values span [minValue, maxValue]) into out[0..k), in the order TopSelector.selectTopK leaves them: the ids of
 * the histogram buckets above the boundary bucket in id order, then the boundary bucket's by (value desc, id asc). The
 * same order gives the same draw for the same random number. Returns k.
 */
export function orderAsBucketed(values: Float32Array, top: Uint32Array, k: number, maxValue: number, minValue: number, out: Uint32Array): number {
  if (!(maxValue > minValue)) {
    // all equal: selectTopK keeps the k lowest ids, which is the top list's order here
    out.set(top.subarray(0, k));
    return k;
  }
  const scale = N_BUCKETS / (maxValue - minValue);
  const bucket = (v: number): number => Math.min(N_BUCKETS - 1, Math.floor((maxValue - v) * scale));
  const boundary = bucket(values[top[k - 1]]);
  let above = 0;
  for (let j = 0; j < k; j++) if (bucket(values[top[j]]) < boundary) out[above++] = top[j];
  out.subarray(0, above).sort();
  let at = above;
  for (let j = 0; j < k; j++) if (bucket(values[top[j]]) === boundary) out[at++] = top[j];
  return k;
}

interface ResolvedConfig {
  readonly greedy: boolean;
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly repetition: number;
  readonly frequency: number;
  readonly presence: number;
  /** -1 = whole history, 0 = penalties off. */
  readonly lastN: number;
  readonly penaltiesActive: boolean;
}

function badArgument(field: string, expected: string, actual: unknown): BitNetError {
  const shown = typeof actual === 'string' ? JSON.stringify(actual) : String(actual);
  return new BitNetError('BAD_ARGUMENT', `${field} must be ${expected}; got ${shown}`, {
    details: { field, expected, actual: shown },
  });
}

function optionalNumber(
  value: unknown,
  field: string,
  expected: string,
  fallback: number,
  ok: (v: number) => boolean,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || !ok(value)) throw badArgument(field, expected, value);
  return value;
}

function resolvePenalties(p: Penalties | undefined): Pick<
  ResolvedConfig,
  'repetition' | 'frequency' | 'presence' | 'lastN' | 'penaltiesActive'
> {
  if (p !== undefined && (typeof p !== 'object' || p === null)) throw badArgument('sampling.penalties', 'an object', p);
  const repetition = optionalNumber(p?.repetition, 'sampling.penalties.repetition', 'a finite number > 0', 1, (v) => Number.isFinite(v) && v > 0);
  const frequency = optionalNumber(p?.frequency, 'sampling.penalties.frequency', 'a finite number', 0, Number.isFinite);
  const presence = optionalNumber(p?.presence, 'sampling.penalties.presence', 'a finite number', 0, Number.isFinite);
  const lastN = optionalNumber(p?.lastN, 'sampling.penalties.lastN', 'an integer >= -1', DEFAULT_PENALTY_LAST_N, (v) => Number.isInteger(v) && v >= -1);
  const penaltiesActive = lastN !== 0 && (repetition !== 1 || frequency !== 0 || presence !== 0);
  return { repetition, frequency, presence, lastN, penaltiesActive };
}

/** Check a SamplingConfig and fill in defaults; throws BAD_ARGUMENT naming the first bad field. */
export function validateSamplingConfig(config: SamplingConfig): ResolvedConfig {
  if (typeof config !== 'object' || config === null) throw badArgument('sampling', 'an object', config);
  if (config.kind === 'greedy') {
    return { greedy: true, temperature: 1, topK: 0, topP: 1, minP: 0, ...resolvePenalties(config.penalties) };
  }
  if (config.kind !== 'sample') throw badArgument('sampling.kind', "'greedy' or 'sample'", (config as { kind: unknown }).kind);
  const temperature: unknown = config.temperature;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    throw badArgument('sampling.temperature', "a finite number > 0 (use kind 'greedy' for temperature 0)", temperature);
  }
  const topK = optionalNumber(config.topK, 'sampling.topK', 'an integer >= 0', 0, (v) => Number.isInteger(v) && v >= 0);
  const topP = optionalNumber(config.topP, 'sampling.topP', 'a number in (0, 1]', 1, (v) => v > 0 && v <= 1);
  const minP = optionalNumber(config.minP, 'sampling.minP', 'a number in [0, 1]', 0, (v) => v >= 0 && v <= 1);
  return { greedy: false, temperature, topK, topP, minP, ...resolvePenalties(config.penalties) };
}

function checkLogits(logits: Float32Array, vocabSize: number): void {
  if (!(logits instanceof Float32Array)) throw badArgument('logits', 'a Float32Array', Object.prototype.toString.call(logits));
  if (logits.length !== vocabSize) {
    throw new BitNetError('BAD_ARGUMENT', `logits must have vocabSize = ${vocabSize} entries; got ${logits.length}`, {
      details: { field: 'logits.length', expected: vocabSize, actual: logits.length },
    });
  }
}

function badLogit(index: number, value: number): BitNetError {
  return new BitNetError('BAD_ARGUMENT', `logits[${index}] is ${String(value)}; logits must be finite or -Infinity`, {
    details: { field: 'logits', index, expected: 'finite or -Infinity', actual: String(value) },
  });
}

function noFiniteLogit(): BitNetError {
  return new BitNetError('BAD_ARGUMENT', 'every logit is -Infinity: there is no token to choose', {
    details: { field: 'logits', expected: 'at least one finite logit', actual: 'all -Infinity' },
  });
}

/**
 * Reusable scratch for top-selection. A histogram over the logit range finds the boundary bucket:
 * every id in a higher bucket is certainly selected and keeps its id order; only the ids of the
 * boundary bucket are sorted, by (value desc, id asc), to decide exactly where the cut falls.
 * Shared by top-k, top-p and `logprobs`' top list.
 *
 * Input contract for both selections: ids[0..n) are distinct and, when all their values are equal,
 * in ascending id order (then the sort is skipped).
 */
export class TopSelector {
  private readonly bucketCount = new Uint32Array(N_BUCKETS);
  private readonly bucketMass = new Float64Array(N_BUCKETS);
  private readonly boundaryIds: Uint32Array;
  /** How many ids the last `partition` kept above the boundary. */
  private lastAbove = 0;
  private values: Float32Array = EMPTY;
  /** (value desc, id asc): a strict total order, so every selection is deterministic. */
  private readonly compare = (a: number, b: number): number => {
    const d = this.values[b] - this.values[a];
    return d !== 0 ? d : a - b;
  };

  constructor(capacity: number) {
    this.boundaryIds = new Uint32Array(capacity);
  }

  /** Sort ids[0..n) by (value desc, id asc). */
  sort(values: Float32Array, ids: Uint32Array, n: number): void {
    if (n < 2) return;
    this.values = values;
    ids.subarray(0, n).sort(this.compare);
    this.values = EMPTY; // do not keep the caller's logits alive
  }

  /**
   * Reorder ids[0..n) so that ids[0..k) are the k best by (value desc, id asc); returns min(k, n).
   * Order within the result: ids above the boundary bucket in their input order, then the rest of
   * the selection by (value desc, id asc). `maxValue`/`minValue` bound the values of the listed ids.
   */
  selectTopK(values: Float32Array, ids: Uint32Array, n: number, k: number, maxValue: number, minValue: number): number {
    if (k >= n) return n;
    if (!(maxValue > minValue)) return k; // all equal: the k lowest ids come first already
    const scale = N_BUCKETS / (maxValue - minValue);
    const bucketCount = this.bucketCount;
    bucketCount.fill(0);
    for (let j = 0; j < n; j++) {
      bucketCount[Math.min(N_BUCKETS - 1, Math.floor((maxValue - values[ids[j]]) * scale))]++;
    }
    let boundary = 0;
    let above = 0;
    while (above + bucketCount[boundary] < k) above += bucketCount[boundary++];
    const inBoundary = this.partition(values, ids, n, maxValue, scale, boundary);
    this.sort(values, this.boundaryIds, inBoundary);
    ids.set(this.boundaryIds.subarray(0, k - above), above);
    return k;
  }

  /**
   * Top-p over ids[0..n): returns m such that ids[0..m) is the smallest set, taken in (value desc,
   * id asc) order, whose probability — softmax of `values` over the listed ids — reaches p.
   * Order within the result as for `selectTopK`.
   */
  selectTopP(values: Float32Array, ids: Uint32Array, n: number, p: number, maxValue: number, minValue: number, scratch: () => Float64Array): number {
    const range = maxValue - minValue;
    const scale = range > 0 ? N_BUCKETS / range : 0;
    // exp(v - max) of every listed id, summed in list order, and each bucket's share
    const { total, mass: bucketMass, partition } = softmaxBuckets(values, ids, n, maxValue, scale, N_BUCKETS, scratch, this.bucketMass);
    const target = p * total;
    let boundary = 0;
    let massAbove = 0;
    while (boundary < N_BUCKETS - 1 && massAbove + bucketMass[boundary] < target) massAbove += bucketMass[boundary++];
    let inBoundary: number;
    let nAbove: number;
    if (partition === null) {
      inBoundary = this.partition(values, ids, n, maxValue, scale, boundary);
      nAbove = this.lastAbove;
    } else {
      [nAbove, inBoundary] = partition(boundary, ids, this.boundaryIds);
    }
    if (range > 0) this.sort(values, this.boundaryIds, inBoundary);
    let cum = massAbove / total;
    let taken = inBoundary; // rounding may leave the exact sum a hair short: then take the whole bucket
    for (let j = 0; j < inBoundary; j++) {
      cum += Math.exp(values[this.boundaryIds[j]] - maxValue) / total;
      if (cum >= p) {
        taken = j + 1;
        break;
      }
    }
    ids.set(this.boundaryIds.subarray(0, taken), nAbove);
    return nAbove + taken;
  }

  /**
   * Move ids of buckets above `boundary` to the front of `ids` (order kept; count in `lastAbove`)
   * and copy ids of the boundary bucket into `boundaryIds`; returns the boundary count.
   */
  private partition(values: Float32Array, ids: Uint32Array, n: number, maxValue: number, scale: number, boundary: number): number {
    const boundaryIds = this.boundaryIds;
    let above = 0;
    let inBoundary = 0;
    for (let j = 0; j < n; j++) {
      const id = ids[j];
      const b = Math.min(N_BUCKETS - 1, Math.floor((maxValue - values[id]) * scale));
      if (b < boundary) ids[above++] = id;
      else if (b === boundary) boundaryIds[inBoundary++] = id;
    }
    this.lastAbove = above;
    return inBoundary;
  }

}

export interface SamplerOptions {
  /** Use this generator instead of one seeded from `seed` (tests, or resuming a saved stream). */
  readonly rng?: Rng;
}

/**
 * A sampler for one generation. `seed` seeds its own RNG (the engine passes a random seed when
 * the caller gave none); `vocabSize` fixes the logits length and sizes the reusable buffers.
 */
export function createSampler(config: SamplingConfig, seed: number, vocabSize: number, options: SamplerOptions = {}): Sampler {
  const cfg = validateSamplingConfig(config);
  if (typeof vocabSize !== 'number' || !Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > MAX_VOCAB_SIZE) {
    throw badArgument('vocabSize', `an integer in [1, ${MAX_VOCAB_SIZE}]`, vocabSize);
  }
  const seeded = createRng(seed); // validates the seed even when an rng is injected
  const rng = options.rng ?? seeded;

  // Buffers, allocated once. `work` holds penalized logits; `counts` is all-zero between calls.
  const work = cfg.penaltiesActive ? new Float32Array(vocabSize) : null;
  const counts = cfg.penaltiesActive ? new Uint32Array(vocabSize) : null;
  let ids: Uint32Array | null = null; // candidate token ids (sampling, and logprobs' top list)
  let weights: Float64Array | null = null; // unnormalized temperature-scaled probabilities of ids[j]
  const idBuffer = (): Uint32Array => (ids ??= new Uint32Array(vocabSize));
  const weightBuffer = (): Float64Array => (weights ??= new Float64Array(vocabSize));
  let topIds: Uint32Array | null = null; // the one-pass top list (scanTop)
  const topBuffer = (): Uint32Array => (topIds ??= new Uint32Array(ONE_PASS_TOP_K));
  let masked: Float32Array | null = null; // the logits with disallowed tokens at -Infinity

  /** Logits with the tokens `mask` disallows set to -Infinity (a copy; `logits` is never written). */
  function applyMask(logits: Float32Array, mask: TokenMask): Float32Array {
    const ids = mask.ids;
    if (!(ids instanceof Int32Array) || (mask.mode !== 'allow' && mask.mode !== 'deny')) throw badArgument('mask', "{ mode: 'allow' | 'deny', ids: Int32Array }", mask.mode);
    const out = (masked ??= new Float32Array(vocabSize));
    for (let j = 0; j < ids.length; j++) {
      const id = ids[j];
      if (!(id >= 0 && id < vocabSize)) throw badArgument(`mask.ids[${j}]`, `a token id in [0, ${vocabSize})`, id);
    }
    if (mask.mode === 'allow') {
      out.fill(-Infinity);
      for (let j = 0; j < ids.length; j++) out[ids[j]] = logits[ids[j]];
    } else {
      out.set(logits);
      for (let j = 0; j < ids.length; j++) out[ids[j]] = -Infinity;
    }
    return out;
  }

  /** Greedy over a short allow list with no penalties: the argmax among the listed ids (ties: lower id). */
  function argmaxAllowed(logits: Float32Array, ids: Int32Array): number {
    let best = -Infinity;
    let bestId = -1;
    for (let j = 0; j < ids.length; j++) {
      const id = ids[j];
      if (!(id >= 0 && id < vocabSize)) throw badArgument(`mask.ids[${j}]`, `a token id in [0, ${vocabSize})`, id);
      const v = logits[id];
      if (v !== v || v === Infinity) throw badLogit(id, v);
      if (v > best || (v === best && v !== -Infinity && id < bestId)) {
        best = v;
        bestId = id;
      }
    }
    if (bestId < 0) throw noFiniteLogit();
    return bestId;
  }
  let topSelector: TopSelector | null = null;
  const selector = (): TopSelector => (topSelector ??= new TopSelector(vocabSize));

  /** Penalized view of the logits: `logits` itself when no penalty applies (it is never written). */
  function applyPenalties(logits: Float32Array, history: readonly number[]): Float32Array {
    if (work === null || counts === null) return logits;
    if (!Array.isArray(history)) throw badArgument('history', 'an array of token ids', history);
    const start = cfg.lastN < 0 ? 0 : Math.max(0, history.length - cfg.lastN);
    if (start >= history.length) return logits;
    for (let i = start; i < history.length; i++) {
      const t: unknown = history[i];
      if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= vocabSize) {
        throw badArgument(`history[${i}]`, `a token id in [0, ${vocabSize})`, t);
      }
    }
    work.set(logits);
    for (let i = start; i < history.length; i++) {
      const t = history[i];
      counts[t]++;
    }
    // Each distinct token once (llama.cpp keeps a token -> count map over the last N tokens).
    for (let i = start; i < history.length; i++) {
      const t = history[i];
      const count = counts[t];
      if (count === 0) continue; // already applied
      counts[t] = 0;
      let logit = work[t];
      logit = logit <= 0 ? logit * cfg.repetition : logit / cfg.repetition;
      logit -= count * cfg.frequency + cfg.presence;
      work[t] = logit;
    }
    return work;
  }

  function argmax(view: Float32Array): number {
    let best = -Infinity;
    let bestId = -1;
    for (let i = 0; i < view.length; i++) {
      const v = view[i];
      if (v > best) {
        if (v === Infinity) throw badLogit(i, v);
        best = v;
        bestId = i;
      } else if (v !== v) {
        throw badLogit(i, v);
      }
    }
    if (bestId < 0) throw noFiniteLogit();
    return bestId;
  }

  /** Where `prepare` leaves its result: candidates j < n are ids[j] (or token j when `identity`), their weights w[j]. */
  interface Prepared {
    readonly view: Float32Array;
    readonly n: number;
    readonly identity: boolean;
    /** Valid until the next softmaxWeights call: read before returning. */
    readonly w: Float64Array;
    readonly total: number;
  }

  /**
   * Run penalties and truncation, then fill weights[0..n) with the unnormalized temperature-scaled
   * probabilities of the candidates.
   */
  function prepare(logits: Float32Array, history: readonly number[]): Prepared {
    checkLogits(logits, vocabSize);
    const view = applyPenalties(logits, history);
    const invTemperature = 1 / cfg.temperature;
    const truncating = (cfg.topK > 0 && cfg.topK < vocabSize) || cfg.topP < 1 || cfg.minP > 0;

    if (!truncating) {
      // Every token is a candidate: no id list, just the max, then the weights in id order.
      let maxValue = -Infinity;
      for (let i = 0; i < vocabSize; i++) {
        const v = view[i];
        if (v > maxValue) {
          if (v === Infinity) throw badLogit(i, v);
          maxValue = v;
        } else if (v !== v) {
          throw badLogit(i, v);
        }
      }
      if (maxValue === -Infinity) throw noFiniteLogit();
      const { w, total } = softmaxWeights(view, null, vocabSize, maxValue, invTemperature, weightBuffer);
      return { view, n: vocabSize, identity: true, w, total };
    }

    const cand = idBuffer();
    let maxValue = -Infinity;
    let minValue = Infinity;
    let n = 0;
    const k = cfg.topK;
    if (k > 0 && k <= ONE_PASS_TOP_K && k < vocabSize) {
      const r = topKOnePass(view, k, topBuffer(), cand);
      n = r.n;
      maxValue = r.maxValue;
      minValue = r.minValue;
    } else {
      // One pass: reject NaN/+Inf, find the finite range, list the finite ids (in id order).
      for (let i = 0; i < vocabSize; i++) {
        const v = view[i];
        if (v !== v || v === Infinity) throw badLogit(i, v);
        if (v === -Infinity) continue;
        if (v > maxValue) maxValue = v;
        if (v < minValue) minValue = v;
        cand[n++] = i;
      }
      if (n === 0) throw noFiniteLogit();
      // top-k, then top-p over the softmax of the unscaled logits of the survivors; both keep the max.
      if (k > 0 && k < n) {
        n = selector().selectTopK(view, cand, n, k, maxValue, minValue);
        minValue = Infinity;
        for (let j = 0; j < n; j++) minValue = Math.min(minValue, view[cand[j]]);
      }
    }
    if (cfg.topP < 1) n = selector().selectTopP(view, cand, n, cfg.topP, maxValue, minValue, weightBuffer);
    // min-p: p_i >= minP * p_max  <=>  logit_i >= max + ln(minP), in float32 as llama.cpp does.
    if (cfg.minP > 0) {
      const threshold = Math.fround(maxValue + Math.log(cfg.minP));
      let kept = 0;
      for (let j = 0; j < n; j++) {
        const id = cand[j];
        if (view[id] >= threshold) cand[kept++] = id;
      }
      n = kept;
    }
    // Temperature, then the unnormalized softmax weights the draw uses.
    const { w, total } = softmaxWeights(view, cand, n, maxValue, invTemperature, weightBuffer);
    return { view, n, identity: false, w, total };
  }

  function sample(logits: Float32Array, history: readonly number[], mask?: TokenMask): number {
    if (cfg.greedy) {
      checkLogits(logits, vocabSize);
      if (mask !== undefined && mask.mode === 'allow' && !cfg.penaltiesActive && mask.ids instanceof Int32Array) return argmaxAllowed(logits, mask.ids);
      return argmax(applyPenalties(mask === undefined ? logits : applyMask(logits, mask), history));
    }
    checkLogits(logits, vocabSize);
    const { n, identity, w, total } = prepare(mask === undefined ? logits : applyMask(logits, mask), history);
    const cand = identity ? null : idBuffer();
    const target = rng.nextFloat() * total;
    let cum = 0;
    let j = 0;
    for (; j < n; j++) {
      cum += w[j];
      if (cum > target) break;
    }
    // j === n only through rounding in the running sum: take the last candidate with weight.
    if (j === n) for (j = n - 1; j > 0 && !(w[j] > 0); j--);
    return cand === null ? j : cand[j];
  }

  function distribution(logits: Float32Array, history: readonly number[], mask?: TokenMask): CandidateProb[] {
    checkLogits(logits, vocabSize);
    const view0 = mask === undefined ? logits : applyMask(logits, mask);
    if (cfg.greedy) return [{ token: argmax(applyPenalties(view0, history)), prob: 1 }];
    const { view, n, identity, w, total } = prepare(view0, history);
    const cand = identity ? null : idBuffer();
    const out: { token: number; prob: number; logit: number }[] = [];
    for (let j = 0; j < n; j++) {
      const token = cand === null ? j : cand[j];
      if (view[token] !== -Infinity) out.push({ token, prob: w[j] / total, logit: view[token] });
    }
    out.sort((a, b) => b.logit - a.logit || a.token - b.token);
    return out.map(({ token, prob }) => ({ token, prob }));
  }

  function logprobs(logits: Float32Array, token: number, topN: number): TokenLogprobs {
    checkLogits(logits, vocabSize);
    if (typeof token !== 'number' || !Number.isInteger(token) || token < 0 || token >= vocabSize) {
      throw badArgument('token', `a token id in [0, ${vocabSize})`, token);
    }
    if (typeof topN !== 'number' || !Number.isInteger(topN) || topN < 0) throw badArgument('topN', 'an integer >= 0', topN);
    // One pass: validate, find the range, and (for small topN) keep a sorted top list by insertion.
    const small = topN <= ONE_PASS_TOP_K;
    const topIds = topBuffer();
    const scan = scanTop(logits, small ? topN : 0, topIds);
    const { maxValue, minValue } = scan;
    let nTop = scan.nTop;
    const sum = softmaxWeights(logits, null, vocabSize, maxValue, 1, weightBuffer).total;
    const logSumExp = maxValue + Math.log(sum);
    const chosen = { token, logprob: logits[token] - logSumExp };
    let ranked: Uint32Array = topIds;
    if (!small) {
      ranked = idBuffer();
      let n = 0;
      for (let i = 0; i < vocabSize; i++) if (logits[i] !== -Infinity) ranked[n++] = i;
      nTop = selector().selectTopK(logits, ranked, n, topN, maxValue, minValue);
      selector().sort(logits, ranked, nTop);
    }
    const top: TokenLogprobEntry[] = [];
    for (let j = 0; j < nTop; j++) top.push({ token: ranked[j], logprob: logits[ranked[j]] - logSumExp });
    return { chosen, top };
  }

  return { config, vocabSize, sample, distribution, logprobs };
}
