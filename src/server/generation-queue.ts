// A bounded FIFO of generations in front of the model: one runs, at most `maxWaiting` wait, the rest are refused.

import { BitNetError } from '../errors.js';

/** A place in the queue. `release()` is idempotent: it frees a waiting place or the running slot. */
export interface QueueTicket {
  /** Resolves when this ticket may run; rejects with BitNetError('ABORTED') if `signal` aborts first. */
  turn(signal?: AbortSignal): Promise<void>;
  release(): void;
}

interface Waiter {
  granted: boolean;
  released: boolean;
  wake: (() => void) | null;
}

export class GenerationQueue {
  readonly maxWaiting: number;
  readonly maxRunning: number;
  #running = 0;
  readonly #waiting: Waiter[] = [];

  constructor(maxWaiting: number, maxRunning = 1) {
    if (!Number.isInteger(maxWaiting) || maxWaiting < 0) {
      throw new BitNetError('BAD_ARGUMENT', `maxQueue must be an integer >= 0, got ${maxWaiting}`, {
        details: { field: 'maxQueue', actual: maxWaiting },
      });
    }
    if (!Number.isInteger(maxRunning) || maxRunning < 1) {
      throw new BitNetError('BAD_ARGUMENT', `maxRunning must be an integer >= 1, got ${maxRunning}`, {
        details: { field: 'maxRunning', actual: maxRunning },
      });
    }
    this.maxWaiting = maxWaiting;
    this.maxRunning = maxRunning;
  }

  /** Generations waiting for their turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Generations holding a slot. */
  get running(): number {
    return this.#running;
  }

  /** Takes a place, or returns null when every slot is busy and the wait list is full. */
  tryEnter(): QueueTicket | null {
    const w: Waiter = { granted: false, released: false, wake: null };
    if (this.#running < this.maxRunning) {
      this.#running++;
      w.granted = true;
    } else if (this.#waiting.length < this.maxWaiting) {
      this.#waiting.push(w);
    } else {
      return null;
    }
    return {
      turn: (signal) => this.#turn(w, signal),
      release: () => this.#release(w),
    };
  }

  #turn(w: Waiter, signal: AbortSignal | undefined): Promise<void> {
    if (w.released) return Promise.reject(aborted('the queue place was already released'));
    if (w.granted) return Promise.resolve();
    if (signal?.aborted === true) {
      this.#release(w);
      return Promise.reject(aborted('cancelled while waiting in the queue'));
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        w.wake = null;
        this.#release(w);
        reject(aborted('cancelled while waiting in the queue'));
      };
      w.wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #release(w: Waiter): void {
    if (w.released) return;
    w.released = true;
    if (!w.granted) {
      const i = this.#waiting.indexOf(w);
      if (i >= 0) this.#waiting.splice(i, 1);
      return;
    }
    this.#running--;
    const next = this.#waiting.shift();
    if (next !== undefined) {
      this.#running++;
      next.granted = true;
      next.wake?.();
    }
  }
}

function aborted(why: string): BitNetError {
  return new BitNetError('ABORTED', `Generation aborted: ${why}`);
}
