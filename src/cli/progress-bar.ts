// A download progress line for stderr: bar, percent, bytes, speed and ETA; redrawn in place on a terminal,
// printed every 10% otherwise (logs and pipes get a few lines, not thousands).

import { formatBytes } from '../inspect/format.js';

export interface ProgressSample {
  readonly doneBytes: number;
  readonly totalBytes: number;
  readonly bytesPerSecond: number;
}

const BAR_WIDTH = 24;
/** Redraws per second at most on a terminal. */
const REDRAW_INTERVAL_MS = 100;

function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One line: `[#####-----]  42.0%  420.0 MB / 1.0 GB  85.2 MB/s  ETA 7s`. */
export function formatProgress(p: ProgressSample): string {
  const fraction = p.totalBytes > 0 ? Math.min(1, p.doneBytes / p.totalBytes) : 0;
  const filled = Math.round(fraction * BAR_WIDTH);
  const eta = p.bytesPerSecond > 0 ? (p.totalBytes - p.doneBytes) / p.bytesPerSecond : Number.NaN;
  const size = p.totalBytes > 0 ? `${formatBytes(p.doneBytes)} / ${formatBytes(p.totalBytes)}` : formatBytes(p.doneBytes);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${(fraction * 100).toFixed(1).padStart(5)}%  ${size}  ${formatBytes(Math.round(p.bytesPerSecond))}/s  ETA ${formatSeconds(eta)}`;
}

/** A progress reporter writing to `out` (stderr); `done()` ends the line. */
export function createProgressBar(out: { write(s: string): unknown; isTTY?: boolean }, now: () => number = () => performance.now()): { update(p: ProgressSample): void; done(): void } {
  const tty = out.isTTY === true;
  let lastDraw = -Infinity;
  let lastDecile = -1;
  let drawn = false;
  let last: ProgressSample | undefined;
  return {
    update(p) {
      last = p;
      if (tty) {
        if (now() - lastDraw < REDRAW_INTERVAL_MS) return;
        lastDraw = now();
        out.write(`\r${formatProgress(p)}\x1b[K`);
        drawn = true;
        return;
      }
      const decile = p.totalBytes > 0 ? Math.floor((10 * p.doneBytes) / p.totalBytes) : 0;
      if (decile > lastDecile) {
        lastDecile = decile;
        out.write(`${formatProgress(p)}\n`);
      }
    },
    done() {
      if (tty && last !== undefined) out.write(`\r${formatProgress(last)}\x1b[K\n`);
      else if (tty && drawn) out.write('\n');
    },
  };
}
