// Resident-memory sampling for benchmarks: a timer for async phases (loads) plus explicit samples between tokens.

/** Resident set size of this process now, in bytes. */
export function rssBytes(): number {
  return process.memoryUsage.rss();
}

/** The process-wide peak resident set size so far (resourceUsage reports kilobytes). */
export function maxRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/**
 * Tracks the highest RSS seen between start() and stop(). The timer only fires while the event loop
 * is free (file reads during a load); synchronous compute is covered by calling sample() between tokens.
 */
export class RssSampler {
  private peakBytes = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly intervalMs = 20) {}

  start(): void {
    this.sample();
    this.timer ??= setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const rss = rssBytes();
    if (rss > this.peakBytes) this.peakBytes = rss;
  }

  /** Stops the timer and returns the peak in bytes. */
  stop(): number {
    this.sample();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    return this.peakBytes;
  }
}
