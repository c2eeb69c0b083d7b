// A hang watchdog for long fuzz runs: a worker thread watches the main thread's current execution through shared memory
// and, when one runs past the limit (an endless loop, or an allocation storm on its way to out-of-memory, which no
// in-thread check can catch), saves the input to a file and kills the process. Each input is also written to a
// "last input" file before it runs, so a fatal V8 error (which ends the process at once) leaves its input behind.

import { closeSync, ftruncateSync, openSync, rmSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** The worker: plain JavaScript, polling the shared state every 100 ms. */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { state, input, hangMs, epochMs, outPath, target } = workerData;
const st = new Int32Array(state);
const bytes = new Uint8Array(input);
setInterval(() => {
  const started = Atomics.load(st, 0);
  if (started === 0) return;
  const elapsed = Date.now() - epochMs - started;
  if (elapsed < hangMs) return;
  const n = Atomics.load(st, 1);
  fs.writeFileSync(outPath, bytes.slice(0, n));
  process.stderr.write('\\nfuzz watchdog: ' + target + ': one execution has run for ' + elapsed + ' ms (limit ' + hangMs + ' ms); input saved to ' + outPath + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, 100);
`;

export class Watchdog {
  private readonly state: Int32Array;
  private readonly input: Uint8Array;
  private readonly epochMs = Date.now() - 1;
  private readonly worker: Worker;
  private readonly lastInputFd: number;

  /**
   * Watches executions of `target` (inputs up to `maxInputBytes`); a hang saves the input to `outPath`. Every input is
   * written to `lastInputPath` before it runs; `stop` removes that file, so it survives only a process that died.
   */
  constructor(target: string, maxInputBytes: number, hangMs: number, outPath: string, readonly lastInputPath: string) {
    this.lastInputFd = openSync(lastInputPath, 'w');
    const state = new SharedArrayBuffer(8);
    const input = new SharedArrayBuffer(maxInputBytes);
    this.state = new Int32Array(state);
    this.input = new Uint8Array(input);
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { state, input, hangMs, epochMs: this.epochMs, outPath, target } });
    this.worker.unref();
  }

  /** Marks the start of an execution of `input`. */
  begin(input: Uint8Array): void {
    writeSync(this.lastInputFd, input, 0, input.length, 0);
    ftruncateSync(this.lastInputFd, input.length);
    const n = Math.min(input.length, this.input.length);
    this.input.set(input.subarray(0, n));
    Atomics.store(this.state, 1, n);
    Atomics.store(this.state, 0, Math.max(1, Date.now() - this.epochMs));
  }

  /** Marks the end of the current execution. */
  end(): void {
    Atomics.store(this.state, 0, 0);
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
    closeSync(this.lastInputFd);
    rmSync(this.lastInputPath, { force: true });
  }
}
