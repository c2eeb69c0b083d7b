// GET /v1/models and GET /v1/models/{id}: the one loaded model, in OpenAI's model-card shape.

import type { Hono } from 'hono';
import { ApiError } from '../api-error.js';
import type { ServerContext } from '../server-context.js';

export function modelsRoutes(app: Hono, ctx: ServerContext): void {
  app.get('/v1/models', (c) => {
    const m = ctx.requireModel();
    return c.json({ object: 'list', data: [modelCard(ctx.options.modelId(m), ctx.startedAtS)] });
  });

  app.get('/v1/models/:id{.+}', (c) => {
    const m = ctx.requireModel();
    const id = c.req.param('id');
    if (id !== ctx.options.modelId(m)) {
      throw new ApiError(404, `The model '${id}' does not exist.`, { param: 'model', apiCode: 'model_not_found' });
    }
    return c.json(modelCard(id, ctx.startedAtS));
  });
}

function modelCard(id: string, createdS: number): object {
  return { id, object: 'model', created: createdS, owned_by: 'bitnet' };
}
