// GET /health (200 once the model is ready), GET /livez (the process answers), GET /readyz (this replica would take
// a generation now) and GET /metrics (Prometheus text).
//
// For a load balancer or Kubernetes: /livez is the liveness probe (it fails only when the process cannot answer
// at all; a model that fails to load ends `bitnet serve` with its error), /readyz the readiness probe. /health is
// the older single check (model loaded and not shutting down) and keeps its answers.

import type { Hono } from 'hono';
import type { ServerContext } from '../server-context.js';

export function healthAndMetricsRoutes(app: Hono, ctx: ServerContext): void {
  app.get('/health', (c) => {
    const state = ctx.state();
    const status: 200 | 503 = state === 'ready' ? 200 : 503;
    return c.json({ status: state === 'ready' ? 'ok' : state }, status);
  });

  app.get('/livez', (c) => c.json({ status: 'alive', state: ctx.state() }, 200));

  // Ready = the model is loaded, the server is not draining, and a new generation would be admitted now (a slot
  // is free or the wait queue has room): a replica that would answer 429 or 503 says so before it is sent work.
  app.get('/readyz', (c) => {
    const state = ctx.state();
    const q = ctx.queue;
    const load = { running: q.running, waiting: q.waiting, max_running: q.maxRunning, max_waiting: q.maxWaiting };
    if (state !== 'ready') return c.json({ status: state, ...load }, 503, { 'cache-control': 'no-store' });
    const admits = q.running < q.maxRunning || q.waiting < q.maxWaiting;
    return c.json({ status: admits ? 'ready' : 'busy', ...load }, admits ? 200 : 503, { 'cache-control': 'no-store' });
  });

  app.get('/metrics', (c) => {
    let kv;
    try {
      kv = ctx.state() === 'ready' ? ctx.requireModel().kvStats?.() : undefined;
    } catch {
      kv = undefined; // the model went away between the two calls: no KV gauges this time
    }
    return c.body(ctx.metrics.render(ctx.queue, kv), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
}
