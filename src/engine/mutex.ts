// A FIFO lock: one generation runs on a model at a time, later ones wait in call order.

export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;
  private holding = false;

  /** Number of callers waiting (not counting the holder). */
  get pending(): number {
    return this.waiting;
  }

  /** Whether a caller holds the lock now. */
  get locked(): boolean {
    return this.holding;
  }

  /** Resolves with a release function once the lock is held; rejects if `signal` aborts while waiting. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const prev = this.tail;
    this.tail = prev.then(() => held);
    this.waiting++;
    return new Promise((resolve, reject) => {
      let done = false;
      const onAbort = (): void => {
        if (done) return;
        done = true;
        this.waiting--;
        // Keep the chain intact: pass the lock straight on once it reaches us.
        void prev.then(release);
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      void prev.then(() => {
        signal?.removeEventListener('abort', onAbort);
        if (done) return;
        done = true;
        this.waiting--;
        this.holding = true;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.holding = false;
          release();
        });
      });
      if (signal?.aborted === true) onAbort();
    });
  }
}
