// A 405 naming the allowed method, for every other method on a POST-only path.

import type { Hono } from 'hono';
import { ApiError } from '../api-error.js';

/** Registered after the path's POST handler, so it only answers the other methods. */
export function postOnly(app: Hono, path: string): void {
  app.all(path, (c) => {
    throw new ApiError(405, `Method ${c.req.method} is not allowed on ${path}; use POST.`, {
      apiCode: 'method_not_allowed',
      headers: { allow: 'POST' },
    });
  });
}
