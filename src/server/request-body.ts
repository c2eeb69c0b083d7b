// Reads a request's JSON body with the server's limits: a byte cap (413), a time limit (408), UTF-8 and JSON checks (400); a client that hangs up mid-body is a 499, not a server error.

import { ApiError } from './api-error.js';

/** `apiCode` of the error thrown when the body stream fails: the client went away before sending it all. */
export const BODY_ABORTED_API_CODE = 'client_closed_request';
/** `apiCode` of the 408 answered when the body takes longer than its time limit. */
export const BODY_TIMEOUT_API_CODE = 'request_timeout';

export interface BodyLimits {
  /** Bytes; more is a 413. */
  readonly maxBytes: number;
  /** Milliseconds from the call until the last byte; longer is a 408. */
  readonly timeoutMs: number;
}

/**
 * Reads the body as UTF-8 JSON, refusing more than `maxBytes` (413), a body still incomplete after
 * `timeoutMs` (408, with `connection: close`: the rest of the body is not worth waiting for) and
 * malformed JSON (400). A body stream that errors (the client closed the connection) throws a 499
 * with `apiCode` BODY_ABORTED_API_CODE: the request is over, nobody will read the answer.
 */
export async function readJsonBody(request: Request, limits: BodyLimits): Promise<unknown> {
  const { maxBytes } = limits;
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) throw bodyTooLarge(Number(declared), maxBytes);
  const chunks: Uint8Array[] = [];
  let nBytes = 0;
  if (request.body !== null) {
    const reader = request.body.getReader();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(bodyTimeout(nBytes, limits.timeoutMs)), limits.timeoutMs);
    });
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await Promise.race([reader.read(), timedOut]);
        } catch (e) {
          if (e instanceof ApiError) throw e;
          // Only the transport can fail a request body stream: a reset or a close before the last byte.
          throw new ApiError(499, 'The client closed the connection before sending the whole request body.', {
            apiCode: BODY_ABORTED_API_CODE,
          });
        }
        if (chunk.done) break;
        const value = chunk.value;
        nBytes += value.byteLength;
        if (nBytes > maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw bodyTooLarge(nBytes, maxBytes);
        }
        chunks.push(value);
      }
    } finally {
      clearTimeout(timer);
    }
  }
  const bytes = new Uint8Array(nBytes);
  let offset = 0;
  for (const ch of chunks) {
    bytes.set(ch, offset);
    offset += ch.byteLength;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, 'The request body is not valid UTF-8.', { apiCode: 'invalid_json' });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const why = e instanceof Error ? e.message : 'parse error';
    throw new ApiError(400, `We could not parse the JSON body of your request (${why}). Send a JSON object.`, {
      apiCode: 'invalid_json',
    });
  }
}

function bodyTooLarge(nBytes: number, maxBytes: number): ApiError {
  return new ApiError(413, `The request body is too large: at least ${nBytes} bytes, the limit is ${maxBytes} bytes.`, {
    apiCode: 'request_too_large',
  });
}

function bodyTimeout(nBytes: number, timeoutMs: number): ApiError {
  return new ApiError(408, `The request body did not arrive within ${timeoutMs} ms (${nBytes} bytes received).`, {
    apiCode: BODY_TIMEOUT_API_CODE,
    headers: { connection: 'close' },
  });
}
