// One generation on one sequence: reuse what its cache already holds (its own tokens, then full blocks of the prefix
// cache), prefill the rest, then sample, stream and feed back token by token. Every forward step goes through the
// scheduler, so generations on different sequences share steps; a context shift keeps a full sequence going.

import { BitNetError } from '../errors.js';
import type { KernelBackend } from '../kernels/backend.js';
import type { ModelConfig } from '../model/config.js';
import { argmaxRows } from '../kernels/row-select.js';
import { createJsonConstraint } from '../sampling/json-constraint.js';
import { createSampler, type Sampler } from '../sampling/sampler.js';
import type { SamplingConfig } from '../sampling/types.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { callsBetween, type RunRecord } from './compute-ledger.js';
import { logitsRead, type LogitsRead } from './logits-read.js';
import type { Scheduler, StepLogits } from './scheduler.js';
import type { SeqState } from './sequence-state.js';
import { createStopMatcher } from './stop-matcher.js';
import type { TokenMask } from '../sampling/json-constraint.js';
import type { FinishReason, GenerateOptions, GeneratedPiece, Timings, TokenLogprob } from './types.js';

/** Default number of new tokens. */
export const DEFAULT_MAX_TOKENS = 256;

const now = (): number => performance.now();

/** What a generation needs of the loaded model. */
export interface GenerationHost {
  readonly config: ModelConfig;
  readonly backend: KernelBackend;
  readonly tokenizer: Tokenizer;
  readonly contextLength: number;
  readonly loadMs: number;
  readonly scheduler: Scheduler;
  tokenize(text: string, options: { addBos?: boolean }): number[];
  /** Called when a generation on `seq` finished normally, before its finish piece is yielded (for the receipt). */
  finished(seq: SeqState, run: RunRecord): void;
}

/** Row `row` of the logits tensor: the live view on CPU backends, else a read back. */
function readRowAt(be: KernelBackend, r: StepLogits, vocab: number): Float32Array | Promise<Float32Array> {
  return be.view === undefined ? be.read(r.logits, r.row * vocab, vocab) : be.view(r.logits).subarray(r.row * vocab, (r.row + 1) * vocab);
}

/** The next token from the work's logits row, exactly as sampler.sample on the whole row picks it. */
async function sampleRow(be: KernelBackend, read: LogitsRead, sampler: Sampler, r: StepLogits, history: readonly number[], mask?: TokenMask): Promise<number> {
  const vocab = sampler.vocabSize;
  if (read === 'argmax' && mask === undefined) {
    // CPU: the shared row scan on the live row (the backends' argmax runs the same function); GPU: the backend's rows
    const id = be.view === undefined ? (await be.argmax(r.logits, r.row + 1, vocab))[r.row] : argmaxRows(be.view(r.logits).subarray(r.row * vocab, (r.row + 1) * vocab), 1, vocab)[0];
    // -1: NaN, +Infinity or no finite logit; the sampler reads the row and says which
    if (id >= 0) return id;
  }
  return sampler.sample(await readRowAt(be, r, vocab), history, mask);
}

function overflow(promptTokens: number, maxTokens: number, contextLength: number): BitNetError {
  return new BitNetError('CONTEXT_OVERFLOW', `the prompt has ${promptTokens} tokens; the context holds ${contextLength} (prompt plus at least one new token must fit)`, {
    details: { promptTokens, maxTokens, contextLength },
  });
}

export async function* generateOn(
  host: GenerationHost,
  seq: SeqState,
  prompt: string | readonly number[],
  options: GenerateOptions,
  withText: (lp: { chosen: { token: number; logprob: number }; top: readonly { token: number; logprob: number }[] }) => { chosen: TokenLogprob; top: TokenLogprob[] },
): AsyncGenerator<GeneratedPiece> {
  seq.checkLive();
  const tCall = now();
  const { config: c, backend, tokenizer, contextLength, scheduler } = host;
  const signal = options.signal;
  const promptTokens = typeof prompt === 'string' ? host.tokenize(prompt, options.addBos === undefined ? {} : { addBos: options.addBos }) : [...prompt];
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new BitNetError('BAD_ARGUMENT', `maxTokens must be a non-negative integer, got ${maxTokens}`, { details: { field: 'maxTokens' } });
  if (promptTokens.length === 0) throw new BitNetError('BAD_ARGUMENT', 'the prompt is empty (no tokens); give text or enable BOS');
  if (promptTokens.length >= contextLength) throw overflow(promptTokens.length, maxTokens, contextLength);
  for (const id of promptTokens) {
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new BitNetError('BAD_ARGUMENT', `prompt token id ${id} out of range [0, ${c.vocabSize})`, { details: { token: id } });
  }
  const contextShift = options.contextShift ?? true;
  if (typeof contextShift !== 'boolean') throw new BitNetError('BAD_ARGUMENT', `contextShift must be a boolean, got ${String(contextShift)}`, { details: { field: 'contextShift' } });
  const keepTokens = options.keepTokens ?? 0;
  if (!Number.isInteger(keepTokens) || keepTokens < 0) throw new BitNetError('BAD_ARGUMENT', `keepTokens must be a non-negative integer, got ${keepTokens}`, { details: { field: 'keepTokens' } });
  // llama.cpp's server keeps n_keep tokens plus the BOS token (tools/server/server.cpp, context shift: n_keep + add_bos_token)
  const nKeep = Math.min(keepTokens + (tokenizer.bosTokenId !== undefined && promptTokens[0] === tokenizer.bosTokenId ? 1 : 0), contextLength - 2);
  const sampling: SamplingConfig = options.sampling ?? { kind: 'greedy' };
  const seed = options.seed ?? Math.floor(Math.random() * 0x7fffffff);
  const sampler = createSampler(sampling, seed, c.vocabSize);
  const stopTokens = new Set<number>(options.stopTokens ?? []);
  if (options.ignoreEos !== true) for (const id of tokenizer.eogTokenIds) stopTokens.add(id);
  const stops = createStopMatcher(options.stop ?? []);
  const topLogprobs = options.topLogprobs ?? 0;
  // Built before queueing, so a bad schema fails at once (the vocabulary's byte trie is built on first use).
  const constraint = options.responseFormat === undefined ? undefined : createJsonConstraint(options.responseFormat, tokenizer, { endTokens: [...stopTokens] });
  // a constraint masks the whole row, so it always reads the row
  const read = constraint === undefined ? logitsRead(sampling, topLogprobs) : 'row';

  let release: (() => void) | undefined;
  let step: StepLogits | undefined;
  try {
    release = await seq.lock.acquire(signal).catch((e: unknown) => {
      throw new BitNetError('ABORTED', `generation (while queued: ${e instanceof Error ? e.message : String(e)}) was aborted`, { cause: signal?.reason });
    });
    seq.checkLive();
    // what the KV admission keeps blocks for: the last sampled token is never run; a context shift keeps it in the context
    seq.growTo = Math.min(promptTokens.length + Math.max(0, maxTokens - 1), contextLength);
    // ---- prefill: reuse the sequence's own prefix, then full blocks of the prefix cache; run the rest ----
    const computeBefore = seq.compute.snapshot();
    const tPrefill = now();
    let reuse = 0;
    while (reuse < seq.tokens.length && reuse < promptTokens.length && seq.tokens[reuse] === promptTokens[reuse]) reuse++;
    seq.truncate(reuse);
    reuse += seq.takeCachedPrefix(promptTokens.slice(reuse), promptTokens.length - reuse);
    if (reuse === promptTokens.length) seq.truncate(--reuse); // the last prompt token must run to give logits
    // the scheduler may take more from the prefix cache on the way: blocks another sequence computes meanwhile
    const takenBefore = seq.cacheTaken;
    step = await scheduler.submit(seq, promptTokens.slice(reuse), true, signal);
    if (step === undefined) throw new BitNetError('INTERNAL', 'prefill produced no logits');
    const prefillMs = now() - tPrefill;
    const evaluated = promptTokens.length - reuse - (seq.cacheTaken - takenBefore);

    // ---- decode: sample, stream, feed back ----
    const tDecode = now();
    let ttft = 0;
    const generated: number[] = [];
    const history = [...promptTokens];
    const decoder = tokenizer.createStreamDecoder();
    let reason: FinishReason = 'length';
    let stoppedByString = false;
    while (generated.length < maxTokens) {
      const current: StepLogits = step;
      let token: number;
      let lp: ReturnType<Sampler['logprobs']> | undefined;
      try {
        if (signal?.aborted === true) throw new BitNetError('ABORTED', 'generation was aborted', { cause: signal.reason });
        // Tokens still allowed, this one included: by maxTokens and, without a context shift, by the context.
        const remaining = contextShift ? maxTokens - generated.length : Math.min(maxTokens - generated.length, contextLength - seq.tokens.length + 1);
        // kernels the sampling dispatches (a GPU argmax) are this sequence's: counted around the synchronous dispatch
        const callsBefore = new Map(backend.kernelCalls());
        const sampled = sampleRow(backend, read, sampler, current, history, constraint?.mask(remaining));
        seq.compute.addCalls(callsBetween(callsBefore, backend.kernelCalls()));
        token = await sampled;
        lp = topLogprobs > 0 ? sampler.logprobs(await readRowAt(backend, current, c.vocabSize), token, topLogprobs) : undefined;
      } finally {
        current.done();
        step = undefined;
      }
      if (generated.length === 0) ttft = now() - tCall;
      generated.push(token);
      history.push(token);
      constraint?.accept(token);
      if (stopTokens.has(token)) {
        reason = 'stop';
        break;
      }
      const { emit, stopped } = stops.push(decoder.push(token));
      const piece: GeneratedPiece = { text: emit, tokenIds: [token] };
      yield lp === undefined ? piece : { ...piece, logprobs: [withText(lp)] };
      if (stopped) {
        reason = 'stop';
        stoppedByString = true;
        break;
      }
      if (constraint?.done === true) {
        reason = 'stop'; // the JSON value is complete and nothing may follow it
        break;
      }
      if (generated.length >= maxTokens) break; // done: no need to run the last token
      if (seq.tokens.length >= contextLength) {
        // the context is full: shift it (llama.cpp's context shift), or end here
        if (!contextShift || (await scheduler.shift(seq, nKeep, c.ropeTheta)) === 0) break;
      }
      step = await scheduler.submit(seq, [token], true, signal);
      if (step === undefined) throw new BitNetError('INTERNAL', 'decode produced no logits');
    }
    const decodeMs = now() - tDecode;
    // Text held back (an incomplete character, a possible stop-string prefix) is released unless a stop string ended the run.
    const tail = stoppedByString ? '' : stops.push(decoder.flush()).emit + stops.flush();
    const nDecoded = Math.max(generated.length - 1, 0);
    const timings: Timings = {
      loadMs: host.loadMs,
      prefillMs,
      decodeMs,
      prefillTokPerS: prefillMs > 0 ? (evaluated * 1000) / prefillMs : 0,
      decodeTokPerS: decodeMs > 0 && nDecoded > 0 ? (nDecoded * 1000) / decodeMs : 0,
      timeToFirstTokenMs: ttft,
    };
    host.finished(seq, { promptTokens, generated, timings, sampling, seed, compute: seq.compute.since(computeBefore), reusedPromptTokens: promptTokens.length - evaluated });
    yield {
      text: tail,
      tokenIds: [],
      finish: { reason, usage: { promptTokens: promptTokens.length, completionTokens: generated.length, totalTokens: promptTokens.length + generated.length }, timings },
    };
  } finally {
    step?.done();
    if (release !== undefined) seq.growTo = undefined;
    release?.();
  }
}
