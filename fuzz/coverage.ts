// Coverage feedback for the fuzz loop from V8's own block coverage (node:inspector Profiler.takePreciseCoverage):
// each executed block of the code under test is one feature. Taking coverage costs milliseconds (V8 reports every
// function of every script), so the loop takes it once per batch of executions (see loop.ts).

import { Session } from 'node:inspector/promises';

/** Block coverage of the scripts whose URL `include` accepts; call `collect` after each execution. */
export class BlockCoverage {
  private readonly scriptIds = new Map<string, number>();

  private constructor(
    private readonly session: Session,
    /** Which scripts count; may be changed between targets. */
    public include: (url: string) => boolean,
  ) {}

  /** Starts precise block coverage; load the code under test after this, so it is compiled with counters. */
  static async start(include: (url: string) => boolean): Promise<BlockCoverage> {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    return new BlockCoverage(session, include);
  }

  /** Features (numbers) hit since the previous call; resets V8's counters. */
  async collect(): Promise<number[]> {
    const { result } = await this.session.post('Profiler.takePreciseCoverage');
    const features: number[] = [];
    for (const script of result) {
      if (!this.include(script.url)) continue;
      let id = this.scriptIds.get(script.url);
      if (id === undefined) {
        id = this.scriptIds.size + 1;
        this.scriptIds.set(script.url, id);
      }
      for (const fn of script.functions) {
        for (const range of fn.ranges) {
          if (range.count === 0) continue;
          // script x start offset x end offset: exact in a double for scripts under 2^20 characters.
          features.push((id * 2 ** 20 + (range.startOffset % 2 ** 20)) * 2 ** 20 + (range.endOffset % 2 ** 20));
        }
      }
    }
    return features;
  }

  async stop(): Promise<void> {
    await this.session.post('Profiler.stopPreciseCoverage');
    await this.session.post('Profiler.disable');
    this.session.disconnect();
  }
}
