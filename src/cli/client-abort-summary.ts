// Summarises client aborts for `bitnet serve`'s log: a burst of hang-ups becomes one line per window, never one line (or stack trace) each.

import type { ClientAbortPhase } from '../server/server-metrics.js';

/** Aborts are normal traffic: one line per this window is enough to notice a pattern (exact counts are in /metrics). */
export const CLIENT_ABORT_LOG_WINDOW_MS = 10_000;

export interface ClientAbortSummary {
  /** Counts one abort; the first of a window schedules the window's one line. */
  record(phase: ClientAbortPhase): void;
  /** Logs what was counted and not yet logged (at shutdown), and stops the window's timer. */
  flush(): void;
}

export function clientAbortSummary(log: (line: string) => void, windowMs = CLIENT_ABORT_LOG_WINDOW_MS): ClientAbortSummary {
  const counts: Record<ClientAbortPhase, number> = { body: 0, generation: 0 };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    const total = counts.body + counts.generation;
    if (total === 0) return;
    log(
      `${total} client${total === 1 ? '' : 's'} closed the connection early (${counts.body} while sending the request body, ` +
        `${counts.generation} while queued or answered); counted in /metrics as bitnet_client_aborts_total`,
    );
    counts.body = 0;
    counts.generation = 0;
  };
  return {
    record(phase) {
      counts[phase]++;
      if (timer === undefined) {
        timer = setTimeout(flush, windowMs);
        // Never keeps the process alive on its own: shutdown flushes.
        if (typeof timer === 'object' && 'unref' in timer) timer.unref();
      }
    },
    flush,
  };
}
