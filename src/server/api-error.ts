// OpenAI-style error responses: `{ error: { message, type, param, code } }` with the matching HTTP status.

import { BitNetError, isBitNetError } from '../errors.js';

/** The `error.type` values OpenAI's API uses (openai-openapi `Error` schema; openai-node `APIError`). */
export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'service_unavailable_error';

export interface ApiErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: ApiErrorType;
    readonly param: string | null;
    readonly code: string | null;
  };
}

export interface ApiErrorInit {
  readonly type?: ApiErrorType;
  readonly param?: string | null;
  /** OpenAI's machine-readable code, e.g. `context_length_exceeded`, `invalid_api_key`. */
  readonly apiCode?: string | null;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * A request the server refuses. It is a BitNetError ('BAD_ARGUMENT' for 4xx, 'CONTEXT_OVERFLOW'
 * for an over-long prompt, 'INTERNAL' for 5xx) that also knows its HTTP status.
 */
export class ApiError extends BitNetError {
  readonly status: number;
  readonly type: ApiErrorType;
  readonly param: string | null;
  readonly apiCode: string | null;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, message: string, init: ApiErrorInit = {}) {
    const param = init.param ?? null;
    const apiCode = init.apiCode ?? null;
    const code =
      apiCode === 'context_length_exceeded' ? 'CONTEXT_OVERFLOW' : status >= 500 ? 'INTERNAL' : 'BAD_ARGUMENT';
    super(code, message, { details: { status, param, apiCode } });
    this.status = status;
    this.type = init.type ?? defaultType(status);
    this.param = param;
    this.apiCode = apiCode;
    this.headers = init.headers ?? {};
  }

  toBody(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.apiCode } };
  }

  toResponse(extraHeaders: Readonly<Record<string, string>> = {}): Response {
    return new Response(JSON.stringify(this.toBody()), {
      status: this.status,
      headers: { 'content-type': 'application/json', ...extraHeaders, ...this.headers },
    });
  }
}

function defaultType(status: number): ApiErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'service_unavailable_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/**
 * Turns anything thrown while serving into an ApiError. Engine errors caused by the request map
 * to 400; everything else becomes a generic 500 whose message never includes a stack trace.
 */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (isBitNetError(e)) {
    switch (e.code) {
      case 'CONTEXT_OVERFLOW':
        return new ApiError(400, e.message, { param: 'messages', apiCode: 'context_length_exceeded' });
      case 'BAD_ARGUMENT':
      case 'TOKENIZER_UNKNOWN_PIECE':
      case 'CHAT_TEMPLATE_ERROR':
        return new ApiError(400, e.message, { apiCode: e.code.toLowerCase() });
      case 'DISPOSED':
        return new ApiError(503, 'The server is shutting down.', { apiCode: 'shutting_down' });
      case 'KV_CACHE_FULL':
        // more than the whole KV cache (the routes refuse such prompts before streaming; a generation growing past it)
        if (e.details.reason === 'too_long') return new ApiError(400, e.message, { param: 'max_tokens', apiCode: 'context_length_exceeded' });
        // the engine makes requests wait for blocks (preempting later ones); this one's blocks are held by sequences that
        // do not run (or the runtime refused memory with nothing else running): retry
        return new ApiError(503, 'The KV cache is full with other requests; retry shortly.', { apiCode: 'kv_cache_full', headers: { 'retry-after': '1' } });
      case 'ABORTED':
        return new ApiError(499, 'The request was cancelled.', { type: 'invalid_request_error', apiCode: 'cancelled' });
      default:
        return new ApiError(500, `The server had an error while processing your request (${e.code}).`, {
          apiCode: 'internal_error',
        });
    }
  }
  return new ApiError(500, 'The server had an error while processing your request.', { apiCode: 'internal_error' });
}
