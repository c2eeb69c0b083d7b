// POST /v1/chat/completions: OpenAI chat messages -> the model's chat template -> one JSON answer or an SSE stream.

import type { Hono } from 'hono';
import type { ChatMessage } from '../../engine/types.js';
import { ApiError } from '../api-error.js';
import { checkCommonParams, ensurePromptFits, ensurePromptFitsKv, generateOptions, unsupported } from '../generation-params.js';
import { readJsonBody } from '../request-body.js';
import { chatCompletionRequestSchema, parseRequest, type ChatCompletionRequest } from '../request-schemas.js';
import type { ServerContext } from '../server-context.js';
import { postOnly } from './method-not-allowed.js';

export function chatCompletionsRoute(app: Hono, ctx: ServerContext): void {
  app.post('/v1/chat/completions', async (c) => {
    const startMs = ctx.options.now();
    const req = parseRequest(chatCompletionRequestSchema, await readJsonBody(c.req.raw, { maxBytes: ctx.options.maxBodyBytes, timeoutMs: ctx.options.bodyTimeoutMs }));
    const m = ctx.requireModel();
    checkCommonParams(req);
    checkChatParams(req);
    const messages = toChatMessages(req.messages);
    const promptTokens = m.tokenize(m.renderChat(messages), { addBos: false, parseSpecial: true }).length;
    const contextLength = m.info.contextLength;
    ensurePromptFits(promptTokens, contextLength, 'messages');
    const kvTokens = ensurePromptFitsKv(promptTokens, m.kvStats?.(), 'messages');
    const room = Math.min(contextLength, kvTokens) - promptTokens;
    const requested = req.max_completion_tokens ?? req.max_tokens ?? ctx.options.defaultMaxTokens ?? room;
    const topLogprobs = req.logprobs === true ? (req.top_logprobs ?? 0) : null;
    return ctx.generations.start(c.req.raw.signal, m, {
      kind: 'chat',
      messages,
      prompt: '',
      options: generateOptions(req, Math.min(requested, room), topLogprobs),
      promptTokens,
      stream: req.stream === true,
      includeUsage: req.stream_options?.include_usage === true,
      topLogprobs,
      startMs,
    });
  });
  postOnly(app, '/v1/chat/completions');
}

function checkChatParams(req: ChatCompletionRequest): void {
  if ((req.tools != null && req.tools.length > 0) || (req.functions != null && req.functions.length > 0)) {
    throw unsupported('tools', 'Tool and function calling are not supported by this server.');
  }
  if (req.top_logprobs != null && req.top_logprobs > 0 && req.logprobs !== true) {
    throw new ApiError(400, "'top_logprobs' needs 'logprobs' set to true.", { param: 'top_logprobs', apiCode: 'invalid_value' });
  }
}

function toChatMessages(messages: ChatCompletionRequest['messages']): ChatMessage[] {
  return messages.map((msg, i) => {
    if (msg.role === 'tool' || msg.role === 'function') {
      throw unsupported(`messages[${i}].role`, `Messages with role '${msg.role}' are not supported (no tool calling).`);
    }
    if (msg.tool_calls != null && msg.tool_calls.length > 0) {
      throw unsupported(`messages[${i}].tool_calls`, 'Tool calls are not supported by this server.');
    }
    const role = msg.role === 'developer' ? 'system' : msg.role;
    let content: string;
    if (typeof msg.content === 'string') {
      content = msg.content;
    } else if (Array.isArray(msg.content)) {
      content = msg.content
        .map((part, j) => {
          if (part.type !== 'text' || typeof part.text !== 'string') {
            throw unsupported(
              `messages[${i}].content[${j}].type`,
              `Content parts of type '${part.type}' are not supported: only 'text' (this is a text-only model).`,
            );
          }
          return part.text;
        })
        .join('');
    } else if (role === 'assistant') {
      content = '';
    } else {
      throw new ApiError(400, `Missing required parameter: 'messages[${i}].content'.`, {
        param: `messages[${i}].content`,
        apiCode: 'missing_required_parameter',
      });
    }
    return { role, content };
  });
}
