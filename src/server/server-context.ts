// What every route module is handed: the resolved options, metrics, queue, generation runner and the model's state.

import type { LoadedModel } from '../engine/types.js';
import type { GenerationQueue } from './generation-queue.js';
import type { GenerationRunner } from './generation-runner.js';
import type { ResolvedServerOptions } from './server-options.js';
import type { ServerMetrics } from './server-metrics.js';

/** `draining`: no new work is admitted, accepted generations run on (SIGTERM); `closed` after that. */
export type ServerState = 'loading' | 'ready' | 'failed' | 'draining' | 'closed';

export interface ServerContext {
  readonly options: ResolvedServerOptions;
  readonly metrics: ServerMetrics;
  readonly queue: GenerationQueue;
  readonly generations: GenerationRunner;
  /** Unix seconds the server started (the model card's `created`). */
  readonly startedAtS: number;
  /** The server's state now (it changes as the model loads and the server closes). */
  state(): ServerState;
  /** The model, or a 503 ApiError saying why there is none (loading, failed, shutting down). */
  requireModel(): LoadedModel;
}
