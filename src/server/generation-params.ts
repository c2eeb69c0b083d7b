// OpenAI request fields shared by chat and legacy completions -> the engine's GenerateOptions, with the checks both endpoints make.

import type { GenerateOptions, KvStats } from '../engine/types.js';
import { isBitNetError } from '../errors.js';
import { checkResponseFormat, type ResponseFormat } from '../sampling/json-schema.js';
import type { Penalties, SamplingConfig } from '../sampling/types.js';
import { ApiError } from './api-error.js';
import type { ChatCompletionRequest, CompletionRequest } from './request-schemas.js';

/** A 400 for a field the server understands but cannot honour. */
export function unsupported(param: string, message: string): ApiError {
  return new ApiError(400, message, { param, apiCode: 'unsupported_value' });
}

export function checkCommonParams(req: ChatCompletionRequest | CompletionRequest): void {
  if (req.n != null && req.n !== 1) {
    throw unsupported('n', `n = ${req.n} is not supported: this server returns exactly one choice (n = 1).`);
  }
  if (req.logit_bias != null && Object.keys(req.logit_bias).length > 0) {
    throw unsupported('logit_bias', 'logit_bias is not supported by this server.');
  }
}

export function ensurePromptFits(promptTokens: number, contextLength: number, param: 'messages' | 'prompt'): void {
  if (promptTokens < contextLength) return;
  throw new ApiError(
    400,
    `This model's maximum context length is ${contextLength} tokens. However, your ${param} resulted in ${promptTokens} tokens, which leaves no room for a completion. Please reduce the length of the ${param}.`,
    { param, apiCode: 'context_length_exceeded' },
  );
}

/**
 * The tokens one request may hold in the KV cache (the whole KV budget, --kv-memory; Infinity when the model does not
 * say): a prompt that leaves no room in it is refused before anything is streamed, and the completion is capped by it
 * as by the context. Requests that fit wait for blocks when others hold them (engine/scheduler.ts), never fail.
 */
export function ensurePromptFitsKv(promptTokens: number, kv: KvStats | undefined, param: 'messages' | 'prompt'): number {
  if (kv === undefined) return Number.POSITIVE_INFINITY;
  const capacity = kv.blocks.nBlocks * kv.blockSize;
  if (promptTokens < capacity) return capacity;
  throw new ApiError(
    400,
    `This server's KV cache holds ${capacity} tokens (${kv.blocks.nBlocks} blocks of ${kv.blockSize}; raise --kv-memory). However, your ${param} resulted in ${promptTokens} tokens, which leaves no room for a completion. Please reduce the length of the ${param}.`,
    { param, apiCode: 'context_length_exceeded' },
  );
}

export function generateOptions(
  req: ChatCompletionRequest | CompletionRequest,
  maxTokens: number,
  topLogprobs: number | null,
): GenerateOptions {
  const stop = req.stop == null ? [] : typeof req.stop === 'string' ? [req.stop] : req.stop;
  const options: GenerateOptions = {
    maxTokens,
    sampling: samplingConfig(req),
    ...(req.seed != null ? { seed: req.seed } : {}),
    ...(stop.length > 0 ? { stop } : {}),
    // The engine reports the chosen token's logprob only when asked for alternatives: ask for at least one.
    ...(topLogprobs !== null ? { topLogprobs: Math.max(1, topLogprobs) } : {}),
  };
  const responseFormat = responseFormatOption(req);
  return responseFormat === undefined ? options : { ...options, responseFormat };
}

/**
 * `response_format` -> the engine's ResponseFormat, checked now so an unsupported or invalid schema is a 400
 * naming the problem (before the request takes a queue place).
 */
export function responseFormatOption(req: ChatCompletionRequest | CompletionRequest): ResponseFormat | undefined {
  const rf = req.response_format;
  if (rf == null || rf.type === 'text') return undefined;
  const format: ResponseFormat =
    rf.type === 'json_object'
      ? { type: 'json_object' }
      : { type: 'json_schema', schema: rf.json_schema.schema, ...(rf.json_schema.strict != null ? { strict: rf.json_schema.strict } : {}) };
  try {
    checkResponseFormat(format);
  } catch (e) {
    if (!isBitNetError(e, 'BAD_ARGUMENT')) throw e;
    const where = rf.type === 'json_schema' ? `response_format.json_schema '${rf.json_schema.name}'` : 'response_format';
    throw new ApiError(400, `Invalid ${where}: ${e.message}`, {
      param: rf.type === 'json_schema' ? 'response_format.json_schema.schema' : 'response_format',
      apiCode: 'invalid_value',
    });
  }
  return format;
}

/** OpenAI's knobs -> the engine's sampling union. temperature 0 (or top_p 0) means greedy. */
export function samplingConfig(req: ChatCompletionRequest | CompletionRequest): SamplingConfig {
  const penalties: Penalties = {
    ...(req.frequency_penalty != null && req.frequency_penalty !== 0 ? { frequency: req.frequency_penalty } : {}),
    ...(req.presence_penalty != null && req.presence_penalty !== 0 ? { presence: req.presence_penalty } : {}),
  };
  const withPenalties = Object.keys(penalties).length > 0 ? { penalties } : {};
  const temperature = req.temperature ?? 1;
  if (temperature === 0 || req.top_p === 0) return { kind: 'greedy', ...withPenalties };
  return {
    kind: 'sample',
    temperature,
    ...(req.top_k != null && req.top_k > 0 ? { topK: req.top_k } : {}),
    ...(req.top_p != null && req.top_p < 1 ? { topP: req.top_p } : {}),
    ...(req.min_p != null && req.min_p > 0 ? { minP: req.min_p } : {}),
    ...withPenalties,
  };
}
