// Test double of LoadedModel for server tests: deterministic words, a byte-level "tokenizer", configurable speed, and a record of every call.

import { BitNetError } from '../../src/errors.js';
import type {
  ChatMessage,
  CompletionResult,
  EmbedOptions,
  EmbedResult,
  GeneratedPiece,
  GenerateOptions,
  LoadedModel,
  ModelInfo,
  TokenLogprob,
} from '../../src/engine/types.js';

/** Floats per fake embedding. */
export const FAKE_EMBEDDING_LENGTH = 8;

export interface FakeModelOptions {
  /** Words the model "generates", in order; generation stops ('stop') after the last one. */
  readonly reply?: readonly string[];
  readonly contextLength?: number;
  /** Delay before each generated token (ms); 0 = only a microtask yield. */
  readonly tokenDelayMs?: number;
  readonly name?: string;
}

export interface FakeCall {
  readonly kind: 'generate' | 'chat';
  readonly prompt: string | readonly number[];
  readonly options: GenerateOptions;
  /** Tokens produced (yielded) by this call. */
  producedTokens: number;
  /** Tokens produced when the abort event fired (null: no abort seen). */
  producedAtAbortEvent: number | null;
  /** Tokens produced when the generation loop noticed the abort and stopped (null: it did not). */
  producedAtAbortNoticed: number | null;
  done: boolean;
}

/**
 * FakeModel: the "tokenizer" maps each UTF-8 byte to one token id (vocab 256, no BOS); the chat
 * template is `role: content\n` per message plus `assistant:`. Generation yields one word of
 * `reply` per token, honours maxTokens, stop strings and the AbortSignal (checked before each
 * token, like the engine), and serializes calls like the real engine.
 */
export class FakeModel implements LoadedModel {
  readonly info: ModelInfo;
  readonly reply: readonly string[];
  readonly tokenDelayMs: number;
  readonly calls: FakeCall[] = [];
  /** Most generations ever running at the same time (the server must keep this at 1). */
  maxConcurrent = 0;
  disposed = false;
  #running = 0;
  #lock: Promise<void> = Promise.resolve();
  #pending = 0;

  constructor(opts: FakeModelOptions = {}) {
    this.reply = opts.reply ?? ['Hello', ' from', ' the', ' fake', ' model', '.'];
    this.tokenDelayMs = opts.tokenDelayMs ?? 0;
    this.info = {
      name: opts.name ?? 'fake-bitnet',
      arch: 'fake',
      fileName: 'fake.gguf',
      fileBytes: 0,
      contextLength: opts.contextLength ?? 256,
      vocabSize: 256,
      embeddingLength: FAKE_EMBEDDING_LENGTH,
      nParams: 0,
      backend: 'reference',
      kernelSet: 'fake',
      kernelFeatures: [],
      threads: 1,
    };
  }

  get pending(): number {
    return this.#pending;
  }

  tokenize(text: string): number[] {
    return Array.from(new TextEncoder().encode(text));
  }

  detokenize(ids: readonly number[]): string {
    return new TextDecoder().decode(new Uint8Array(ids));
  }

  /** Embedding j of a text: how many of its bytes are j mod FAKE_EMBEDDING_LENGTH (no pooling or normalizing). */
  async embed(inputs: string | readonly string[] | readonly (readonly number[])[], options: EmbedOptions = {}): Promise<EmbedResult> {
    if (options.signal?.aborted === true) throw new BitNetError('ABORTED', 'embedding was aborted');
    const list = typeof inputs === 'string' ? [inputs] : inputs;
    const ids = list.map((x) => (typeof x === 'string' ? this.tokenize(x) : [...x]));
    const embeddings = ids.map((seq) => {
      const v = new Float32Array(FAKE_EMBEDDING_LENGTH);
      for (const id of seq) v[id % FAKE_EMBEDDING_LENGTH]++;
      return v;
    });
    const promptTokens = ids.reduce((s, seq) => s + seq.length, 0);
    return { embeddings, usage: { promptTokens, totalTokens: promptTokens } };
  }

  renderChat(messages: readonly ChatMessage[]): string {
    return messages.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant:';
  }

  generate(prompt: string | readonly number[], options: GenerateOptions = {}): AsyncIterable<GeneratedPiece> {
    return this.#run('generate', prompt, options);
  }

  chat(messages: readonly ChatMessage[], options: GenerateOptions = {}): AsyncIterable<GeneratedPiece> {
    return this.#run('chat', this.renderChat(messages), options);
  }

  complete(prompt: string | readonly number[], options?: GenerateOptions): Promise<CompletionResult> {
    return collect(this.generate(prompt, options));
  }

  chatComplete(messages: readonly ChatMessage[], options?: GenerateOptions): Promise<CompletionResult> {
    return collect(this.chat(messages, options));
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  async *#run(kind: 'generate' | 'chat', prompt: string | readonly number[], options: GenerateOptions): AsyncGenerator<GeneratedPiece> {
    if (this.disposed) throw new BitNetError('DISPOSED', 'the fake model was disposed');
    const call: FakeCall = {
      kind,
      prompt,
      options,
      producedTokens: 0,
      producedAtAbortEvent: null,
      producedAtAbortNoticed: null,
      done: false,
    };
    this.calls.push(call);
    const signal = options.signal;
    const onAbort = (): void => {
      call.producedAtAbortEvent = call.producedTokens;
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    // Serialize like the engine: wait for the previous generation to finish.
    this.#pending++;
    const previous = this.#lock;
    let unlock: () => void = () => undefined;
    this.#lock = new Promise<void>((r) => (unlock = r));
    await previous;
    this.#pending--;
    this.#running++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.#running);
    const t0 = performance.now();
    try {
      const promptTokens = typeof prompt === 'string' ? this.tokenize(prompt).length : prompt.length;
      const maxTokens = options.maxTokens ?? 256;
      const stops = options.stop ?? [];
      let text = '';
      let reason: 'stop' | 'length' = 'stop';
      for (let i = 0; ; i++) {
        if (i >= this.reply.length) break;
        if (i >= maxTokens) {
          reason = 'length';
          break;
        }
        await (this.tokenDelayMs > 0 ? sleep(this.tokenDelayMs) : Promise.resolve());
        if (signal?.aborted === true) {
          call.producedAtAbortNoticed = call.producedTokens;
          throw new BitNetError('ABORTED', 'generation aborted');
        }
        const word = this.reply[i];
        const before = text;
        text += word;
        const stopAt = firstStop(text, stops);
        call.producedTokens++;
        if (stopAt >= 0) {
          const piece = text.slice(before.length, Math.max(before.length, stopAt));
          yield { text: piece, tokenIds: [i + 1] };
          break;
        }
        yield {
          text: word,
          tokenIds: [i + 1],
          ...(options.topLogprobs !== undefined && options.topLogprobs > 0
            ? { logprobs: [{ chosen: lp(i + 1, word, -0.25), top: topOf(i, word, options.topLogprobs) }] }
            : {}),
        };
      }
      const ms = performance.now() - t0;
      yield {
        text: '',
        tokenIds: [],
        finish: {
          reason,
          usage: {
            promptTokens,
            completionTokens: call.producedTokens,
            totalTokens: promptTokens + call.producedTokens,
          },
          timings: {
            loadMs: 0,
            prefillMs: 1,
            decodeMs: ms,
            prefillTokPerS: promptTokens * 1000,
            decodeTokPerS: ms > 0 ? (call.producedTokens * 1000) / ms : 0,
            timeToFirstTokenMs: 1,
          },
        },
      };
    } finally {
      call.done = true;
      signal?.removeEventListener('abort', onAbort);
      this.#running--;
      unlock();
    }
  }
}

function lp(token: number, text: string, logprob: number): TokenLogprob {
  return { token, text, logprob };
}

/** N alternatives: the chosen word first, then made-up ones with falling logprobs. */
function topOf(i: number, word: string, n: number): TokenLogprob[] {
  const out = [lp(i + 1, word, -0.25)];
  for (let k = 1; k < n; k++) out.push(lp(200 + k, `alt${k}`, -0.25 - k));
  return out;
}

function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    const at = text.indexOf(s);
    if (at >= 0 && (best < 0 || at < best)) best = at;
  }
  return best;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function collect(pieces: AsyncIterable<GeneratedPiece>): Promise<CompletionResult> {
  let text = '';
  const tokenIds: number[] = [];
  for await (const p of pieces) {
    text += p.text;
    tokenIds.push(...p.tokenIds);
    if (p.finish !== undefined) {
      return { text, tokenIds, finishReason: p.finish.reason, usage: p.finish.usage, timings: p.finish.timings };
    }
  }
  throw new BitNetError('INTERNAL', 'fake stream ended without finish');
}
