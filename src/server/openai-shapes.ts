// Builders for OpenAI's response bodies and stream chunks (chat.completion, chat.completion.chunk, text_completion).
//
// Shapes follow the OpenAI API reference and openai-node's types
// (`ChatCompletion`, `ChatCompletionChunk`, `Completion`, `ChatCompletionTokenLogprob`).

import type { FinishReason, GeneratedPiece, TokenLogprob, Usage } from '../engine/types.js';

export type PieceLogprobs = NonNullable<GeneratedPiece['logprobs']>;

export interface ResponseIdentity {
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
  readonly model: string;
  readonly systemFingerprint: string;
}

export interface UsageJson {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
}

export type OpenAIFinishReason = 'stop' | 'length';

export interface ChatTokenLogprobJson {
  readonly token: string;
  readonly logprob: number;
  readonly bytes: number[];
  readonly top_logprobs: { readonly token: string; readonly logprob: number; readonly bytes: number[] }[];
}

export interface LegacyLogprobsJson {
  readonly tokens: string[];
  readonly token_logprobs: number[];
  readonly top_logprobs: Record<string, number>[] | null;
  readonly text_offset: number[];
}

const utf8 = new TextEncoder();

export function usageJson(u: Usage): UsageJson {
  return { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens };
}

/** The engine's 'abort' never reaches a client that is still listening except on shutdown: report it as 'stop'. */
export function finishReasonJson(r: FinishReason): OpenAIFinishReason {
  return r === 'length' ? 'length' : 'stop';
}

function bytesOf(text: string): number[] {
  return Array.from(utf8.encode(text));
}

/** Chat logprobs entries for the tokens of one piece, keeping `nTop` alternatives each. */
export function chatLogprobs(lps: PieceLogprobs, nTop: number): ChatTokenLogprobJson[] {
  return lps.map(({ chosen, top }) => ({
    token: chosen.text,
    logprob: chosen.logprob,
    bytes: bytesOf(chosen.text),
    top_logprobs: top.slice(0, nTop).map((t: TokenLogprob) => ({ token: t.text, logprob: t.logprob, bytes: bytesOf(t.text) })),
  }));
}

/**
 * The legacy completions logprobs object for the tokens of one piece.
 * `textOffset` is the character offset of the first token in the whole completion text.
 */
export function legacyLogprobs(lps: PieceLogprobs, nTop: number, textOffset: number): LegacyLogprobsJson {
  const out: LegacyLogprobsJson = { tokens: [], token_logprobs: [], top_logprobs: nTop > 0 ? [] : null, text_offset: [] };
  let offset = textOffset;
  for (const { chosen, top } of lps) {
    out.tokens.push(chosen.text);
    out.token_logprobs.push(chosen.logprob);
    out.text_offset.push(offset);
    offset += chosen.text.length;
    if (out.top_logprobs !== null) {
      const entry: Record<string, number> = {};
      for (const t of top.slice(0, nTop)) entry[t.text] = t.logprob;
      out.top_logprobs.push(entry);
    }
  }
  return out;
}

export function mergeLegacyLogprobs(into: LegacyLogprobsJson, more: LegacyLogprobsJson): void {
  into.tokens.push(...more.tokens);
  into.token_logprobs.push(...more.token_logprobs);
  into.text_offset.push(...more.text_offset);
  if (into.top_logprobs !== null && more.top_logprobs !== null) into.top_logprobs.push(...more.top_logprobs);
}

export function chatCompletionJson(
  who: ResponseIdentity,
  content: string,
  finish: OpenAIFinishReason,
  usage: UsageJson,
  logprobs: ChatTokenLogprobJson[] | null,
): object {
  return {
    id: who.id,
    object: 'chat.completion',
    created: who.created,
    model: who.model,
    system_fingerprint: who.systemFingerprint,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null },
        logprobs: logprobs === null ? null : { content: logprobs, refusal: null },
        finish_reason: finish,
      },
    ],
    usage,
  };
}

/** One `chat.completion.chunk`. `usage` is `null` on every chunk but the last when include_usage is on. */
export function chatChunkJson(
  who: ResponseIdentity,
  delta: { role?: 'assistant'; content?: string },
  finish: OpenAIFinishReason | null,
  logprobs: ChatTokenLogprobJson[] | null,
  includeUsage: boolean,
): object {
  return {
    id: who.id,
    object: 'chat.completion.chunk',
    created: who.created,
    model: who.model,
    system_fingerprint: who.systemFingerprint,
    choices: [
      {
        index: 0,
        delta,
        logprobs: logprobs === null ? null : { content: logprobs, refusal: null },
        finish_reason: finish,
      },
    ],
    ...(includeUsage ? { usage: null } : {}),
  };
}

/** The last chunk of a stream with `stream_options.include_usage`: no choices, only usage. */
export function usageChunkJson(who: ResponseIdentity, object: 'chat.completion.chunk' | 'text_completion', usage: UsageJson): object {
  return {
    id: who.id,
    object,
    created: who.created,
    model: who.model,
    system_fingerprint: who.systemFingerprint,
    choices: [],
    usage,
  };
}

export function completionJson(
  who: ResponseIdentity,
  text: string,
  finish: OpenAIFinishReason,
  usage: UsageJson,
  logprobs: LegacyLogprobsJson | null,
): object {
  return {
    id: who.id,
    object: 'text_completion',
    created: who.created,
    model: who.model,
    system_fingerprint: who.systemFingerprint,
    choices: [{ text, index: 0, logprobs, finish_reason: finish }],
    usage,
  };
}

export function completionChunkJson(
  who: ResponseIdentity,
  text: string,
  finish: OpenAIFinishReason | null,
  logprobs: LegacyLogprobsJson | null,
  includeUsage: boolean,
): object {
  return {
    id: who.id,
    object: 'text_completion',
    created: who.created,
    model: who.model,
    system_fingerprint: who.systemFingerprint,
    choices: [{ text, index: 0, logprobs, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  };
}
