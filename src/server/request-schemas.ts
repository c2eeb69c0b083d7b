// zod schemas of the OpenAI request bodies the server accepts, and the translation of a zod failure into a 400.
//
// Fields follow the OpenAI API reference (openai-openapi `CreateChatCompletionRequest`,
// `CreateCompletionRequest`). Every optional field is `nullish`: many clients send `null` for
// "unset". Unknown fields are ignored (stripped), as OpenAI-compatible servers do; fields we
// understand but cannot honour are refused with a 400 later, in the handlers.

import { z } from 'zod';
import { ApiError } from './api-error.js';

/** OpenAI allows up to 4 stop sequences; local servers commonly allow more. We allow this many. */
export const MAX_STOP_SEQUENCES = 16;
/** OpenAI's limit for chat `top_logprobs`. */
export const MAX_CHAT_TOP_LOGPROBS = 20;
/** OpenAI's limit for the legacy completions `logprobs`. */
export const MAX_COMPLETION_LOGPROBS = 5;

const stopSchema = z.union([z.string(), z.array(z.string()).max(MAX_STOP_SEQUENCES)], {
  error: `expected a string or an array of at most ${MAX_STOP_SEQUENCES} strings`,
});

/** Fields shared by chat and legacy completions. */
const commonFields = {
  model: z.string().nullish(),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  /** Not in OpenAI's API; llama.cpp's extension. 0 = off. */
  top_k: z.number().int().min(0).nullish(),
  /** Not in OpenAI's API; llama.cpp's extension. 0 = off. */
  min_p: z.number().min(0).max(1).nullish(),
  seed: z.number().int().nullish(),
  stop: stopSchema.nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  n: z.number().int().min(1).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  user: z.string().nullish(),
};

/**
 * OpenAI's `response_format` (`ResponseFormatText | ResponseFormatJSONObject | ResponseFormatJSONSchema`). The
 * schema itself is checked by the engine's compiler (sampling/json-schema.ts), which names what it refuses.
 */
const responseFormatSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({
      name: z.string().max(64),
      description: z.string().nullish(),
      schema: z.union([z.record(z.string(), z.unknown()), z.boolean()]),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const contentPartSchema = z.object({ type: z.string(), text: z.string().nullish() });

export const chatMessageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(contentPartSchema)], {
    error: 'expected a string or an array of content parts',
  }).nullish(),
  name: z.string().nullish(),
  tool_calls: z.array(z.unknown()).nullish(),
});

export const chatCompletionRequestSchema = z.object({
  ...commonFields,
  messages: z.array(chatMessageSchema).min(1),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(MAX_CHAT_TOP_LOGPROBS).nullish(),
  response_format: responseFormatSchema.nullish(),
  tools: z.array(z.unknown()).nullish(),
  tool_choice: z.unknown().optional(),
  functions: z.array(z.unknown()).nullish(),
});

const tokenArraySchema = z.array(z.number().int().min(0)).min(1);

export const completionRequestSchema = z.object({
  ...commonFields,
  prompt: z.union(
    [z.string(), z.array(z.string()).min(1), tokenArraySchema, z.array(tokenArraySchema).min(1)],
    { error: 'expected a string, an array of one string, an array of token ids, or an array of one token array' },
  ),
  logprobs: z.number().int().min(0).max(MAX_COMPLETION_LOGPROBS).nullish(),
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
  best_of: z.number().int().min(1).nullish(),
  /** Not in OpenAI's legacy API (chat has it); accepted here in the chat shape, as llama.cpp's server does. */
  response_format: responseFormatSchema.nullish(),
});

/** OpenAI's limit on the inputs of one embeddings request. */
export const MAX_EMBEDDING_INPUTS = 2048;

/** OpenAI's `CreateEmbeddingRequest`: one text, many, one token list or many; float or base64 vectors. */
export const embeddingRequestSchema = z.object({
  model: z.string().nullish(),
  input: z.union(
    [z.string(), z.array(z.string()).min(1).max(MAX_EMBEDDING_INPUTS), tokenArraySchema, z.array(tokenArraySchema).min(1).max(MAX_EMBEDDING_INPUTS)],
    { error: `expected a string, an array of strings, an array of token ids, or an array of token-id arrays (at most ${MAX_EMBEDDING_INPUTS} inputs, none empty)` },
  ),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  dimensions: z.number().int().min(1).nullish(),
  user: z.string().nullish(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type CompletionRequest = z.infer<typeof completionRequestSchema>;
export type EmbeddingRequest = z.infer<typeof embeddingRequestSchema>;

/** Validates `body` against `schema`, throwing a 400 ApiError naming the first bad field. */
export function parseRequest<T>(schema: z.ZodType<T>, body: unknown): T {
  let r: ReturnType<typeof schema.safeParse>;
  try {
    r = schema.safeParse(body);
  } catch {
    // zod 4.6.7's array length checks throw a TypeError on objects like {"length": {"toString": null}}
    // instead of reporting an issue (fuzz finding, server-request target): the body is still just invalid.
    throw new ApiError(400, 'Invalid request body: a field has a value of the wrong shape.', { apiCode: 'invalid_request_body' });
  }
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const param = issue === undefined ? null : formatPath(issue.path);
  if (param === null || param === '') {
    throw new ApiError(400, `Invalid request body: ${issue?.message ?? 'expected a JSON object'}.`, {
      apiCode: 'invalid_request_body',
    });
  }
  const missing = issue !== undefined && issue.code === 'invalid_type' && issue.message.endsWith('received undefined');
  throw new ApiError(
    400,
    missing ? `Missing required parameter: '${param}'.` : `Invalid value for '${param}': ${issue?.message ?? 'invalid'}.`,
    { param, apiCode: missing ? 'missing_required_parameter' : 'invalid_value' },
  );
}

/** `["messages", 0, "content"]` -> `messages[0].content` (OpenAI's `param` spelling). */
function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s === '' ? String(p) : `.${String(p)}`;
  }
  return s;
}
