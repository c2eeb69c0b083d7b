// GET /health (200 once the model is ready, 503 with the state otherwise) and GET /metrics (Prometheus text).

import type { Hono } from 'hono';
import type { ServerContext } from '../server-context.js';

export function healthAndMetricsRoutes(app: Hono, ctx: ServerContext): void {
  app.get('/health', (c) => {
    const state = ctx.state();
    const status: 200 | 503 = state === 'ready' ? 200 : 503;
    return c.json({ status: state === 'ready' ? 'ok' : state }, status);
  });

  app.get('/metrics', (c) => {
    return c.body(ctx.metrics.render(ctx.queue), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
}
