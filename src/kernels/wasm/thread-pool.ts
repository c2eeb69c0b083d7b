// Worker threads that run the kernel module over the one shared WebAssembly.Memory. A job is handed off by
// publishing a new generation; workers spin on it with Atomics.load for a while, then sleep in Atomics.wait.
// The main thread takes part in every job (thread index 0) and then waits only for workers that joined it
// (the `active` count): a worker that wakes late, or is descheduled on a busy machine, never delays a job.

import { BitNetError } from '../../errors.js';
import { CTL, MEMORY_MAP } from './job-layout.js';
import { defaultWorkerStarter, type PoolWorker, type WorkerInit, type WorkerStarter } from './worker-host.js';

/** Spins of a worker waiting for the next job before it sleeps (~0.1-0.3 ms: covers the gaps between a token's ops). */
export const WORKER_SPINS = 100_000;
/** Spins of the main thread waiting for active workers to finish before it sleeps. */
export const MAIN_SPINS = 50_000;

/**
 * The worker body, as source so it runs without a bundler or a separate file (eval'd CommonJS in Node,
 * a Blob URL in browsers). Protocol: wait for an even generation not yet run; join (active + 1); if the
 * generation is still the same, run the job (claiming row chunks until none are left), else leave and retry;
 * then active - 1. The main thread writes a job block only after making the generation odd and seeing
 * active = 0, so a joined worker always reads a complete, unchanging job block.
 */
export const WORKER_SOURCE = `'use strict';
function start(d) {
  const instance = new WebAssembly.Instance(d.module, { env: { memory: d.memory } });
  const runJob = instance.exports.runJob;
  const ctl = new Int32Array(d.memory.buffer, d.controlByteOffset, d.ctlWords);
  const GEN = ${CTL.generation}, ACTIVE = ${CTL.active}, QUIT = ${CTL.quit}, SLEEPERS = ${CTL.sleepers}, MAIN_ASLEEP = ${CTL.mainAsleep}, ERR = ${CTL.error};
  let seen = d.generation;
  d.post('ready');
  for (;;) {
    let g = Atomics.load(ctl, GEN);
    let spins = 0;
    while (g === seen || (g & 1) === 1) {
      if (Atomics.load(ctl, QUIT) !== 0) return;
      if (++spins > d.spins) {
        Atomics.add(ctl, SLEEPERS, 1);
        Atomics.wait(ctl, GEN, g);
        Atomics.sub(ctl, SLEEPERS, 1);
        spins = 0;
      }
      g = Atomics.load(ctl, GEN);
    }
    if (Atomics.load(ctl, QUIT) !== 0) return;
    Atomics.add(ctl, ACTIVE, 1);
    if (Atomics.load(ctl, GEN) === g) {
      try {
        runJob(d.jobByteOffset, d.thread);
      } catch (e) {
        Atomics.store(ctl, ERR, 1);
        d.post('error: ' + String(e));
      }
      seen = g;
    }
    Atomics.sub(ctl, ACTIVE, 1);
    if (Atomics.load(ctl, MAIN_ASLEEP) !== 0) Atomics.notify(ctl, ACTIVE);
  }
}
if (typeof require === 'function') {
  const wt = require('node:worker_threads');
  start(Object.assign({}, wt.workerData, { post: (m) => wt.parentPort.postMessage(m) }));
} else {
  self.onmessage = (e) => start(Object.assign({}, e.data, { post: (m) => self.postMessage(m) }));
}
`;

/** True where the calling thread may block in Atomics.wait (not a browser's main thread). */
function mainCanWait(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

export class ThreadPool {
  /** Threads taking part in a job, the main thread included. */
  readonly threads: number;
  private readonly ctl: Int32Array;
  private readonly canWait: boolean;
  private disposed = false;

  private constructor(
    private readonly workers: PoolWorker[],
    memory: WebAssembly.Memory,
    private readonly runJob: (job: number, thread: number) => void,
  ) {
    this.threads = workers.length + 1;
    this.ctl = new Int32Array(memory.buffer, MEMORY_MAP.controlByteOffset, CTL.words);
    this.canWait = mainCanWait();
  }

  /** Start `threads - 1` workers (none for threads = 1) on `module` over `memory`. */
  static async create(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    threads: number,
    runJob: (job: number, thread: number) => void,
    startWorker: WorkerStarter = defaultWorkerStarter(),
  ): Promise<ThreadPool> {
    const ctl = new Int32Array(memory.buffer, MEMORY_MAP.controlByteOffset, CTL.words);
    ctl.fill(0);
    const workers: PoolWorker[] = [];
    try {
      for (let thread = 1; thread < threads; thread++) {
        const init: WorkerInit = {
          module,
          memory,
          controlByteOffset: MEMORY_MAP.controlByteOffset,
          ctlWords: CTL.words,
          jobByteOffset: MEMORY_MAP.jobByteOffset,
          thread,
          generation: Atomics.load(ctl, CTL.generation),
          spins: WORKER_SPINS,
        };
        workers.push(await startWorker(WORKER_SOURCE, init));
      }
    } catch (e) {
      Atomics.store(ctl, CTL.quit, 1);
      Atomics.add(ctl, CTL.generation, 2);
      Atomics.notify(ctl, CTL.generation);
      await Promise.all(workers.map((w) => w.terminate()));
      throw new BitNetError('BACKEND_UNAVAILABLE', `wasm backend: could not start worker thread ${workers.length + 1} of ${threads - 1}: ${String(e)}`, {
        cause: e,
        details: { threads },
      });
    }
    return new ThreadPool(workers, memory, runJob);
  }

  /** Call before writing the job block: no worker reads it until run() publishes it. */
  begin(): void {
    if (this.workers.length === 0) return;
    const ctl = this.ctl;
    if ((Atomics.load(ctl, CTL.generation) & 1) === 0) Atomics.add(ctl, CTL.generation, 1);
    // A worker that joined the previous job late (and found no chunk left) is leaving; wait for it.
    this.waitIdle();
  }

  /** Publish the job written since begin(), run it on this thread too; returns when every joined worker is done. */
  run(): void {
    const ctl = this.ctl;
    if (this.workers.length === 0) {
      this.runJob(MEMORY_MAP.jobByteOffset, 0);
      return;
    }
    if ((Atomics.load(ctl, CTL.generation) & 1) === 0) {
      throw new BitNetError('INTERNAL', 'thread pool: run() without begin()');
    }
    Atomics.add(ctl, CTL.generation, 1);
    if (Atomics.load(ctl, CTL.sleepers) > 0) Atomics.notify(ctl, CTL.generation);
    let failure: unknown;
    try {
      this.runJob(MEMORY_MAP.jobByteOffset, 0);
    } catch (e) {
      failure = e;
    }
    // Every chunk is claimed now; wait for the workers still running theirs.
    this.waitIdle();
    if (failure !== undefined) {
      throw new BitNetError('INTERNAL', `wasm kernel failed on the main thread: ${String(failure)}`, { cause: failure });
    }
    if (Atomics.load(ctl, CTL.error) !== 0) {
      Atomics.store(ctl, CTL.error, 0);
      throw new BitNetError('INTERNAL', 'wasm kernel failed on a worker thread');
    }
  }

  private waitIdle(): void {
    const ctl = this.ctl;
    let spins = 0;
    for (let active = Atomics.load(ctl, CTL.active); active > 0; active = Atomics.load(ctl, CTL.active)) {
      if (++spins > MAIN_SPINS && this.canWait) {
        Atomics.store(ctl, CTL.mainAsleep, 1);
        Atomics.wait(ctl, CTL.active, active, 100);
        Atomics.store(ctl, CTL.mainAsleep, 0);
      }
    }
  }

  /** Stop the workers. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, CTL.quit, 1);
    Atomics.add(this.ctl, CTL.generation, 2);
    Atomics.notify(this.ctl, CTL.generation);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
