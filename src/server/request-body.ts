// Reads a request's JSON body with the server's limits: a byte cap (413), UTF-8 and JSON checks (400).

import { ApiError } from './api-error.js';

/** Reads the body as UTF-8 JSON, refusing more than `maxBytes` (413) and malformed JSON (400). */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) throw bodyTooLarge(Number(declared), maxBytes);
  const chunks: Uint8Array[] = [];
  let nBytes = 0;
  if (request.body !== null) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      nBytes += value.byteLength;
      if (nBytes > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw bodyTooLarge(nBytes, maxBytes);
      }
      chunks.push(value);
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
