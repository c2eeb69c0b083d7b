// Bearer-token middleware for the /v1 routes: the key is compared as a SHA-256 digest, in constant time.

import type { MiddlewareHandler } from 'hono';
import { ApiError } from './api-error.js';

/** Requires `Authorization: Bearer <apiKey>`; answers 401 in OpenAI's shape otherwise. */
export function apiKeyAuth(apiKey: string): MiddlewareHandler {
  // Digests, not the key, are compared: equal lengths, so the compare leaks nothing through its length either.
  const keyDigest = sha256(apiKey);
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match === null) {
      throw new ApiError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.", {
        apiCode: 'missing_api_key',
      });
    }
    const given = await sha256(match[1]);
    if (!constantTimeEqual(given, await keyDigest)) {
      throw new ApiError(401, 'Incorrect API key provided.', { apiCode: 'invalid_api_key' });
    }
    await next();
  };
}

/** SHA-256 of a UTF-8 string (Web Crypto, so the app runs outside Node too). */
async function sha256(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));
}

/** Compares two equal-length digests without an early exit. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
