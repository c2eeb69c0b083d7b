// A Server-Sent Events body with backpressure: the producer waits while the reader is behind, and is cut off if it stalls.
//
// Policy for slow readers (documented in ServerOptions.streamStallTimeoutMs): the stream buffers at
// most `highWaterMarkBytes` of events beyond what the transport has taken. When that buffer is full,
// `send` waits for the reader; if the reader takes nothing for `stallTimeoutMs`, the stream is
// errored (the connection is dropped) and `onCancel('stall')` fires so the generation is aborted
// and its queue slot freed. A reader that goes away (`cancel`) fires `onCancel('client')`.

import { BitNetError } from '../errors.js';

export interface SseStreamOptions {
  /** Bytes of encoded events the stream may hold beyond what the reader took. */
  readonly highWaterMarkBytes: number;
  /** How long `send` waits on a full buffer before giving up on the reader. */
  readonly stallTimeoutMs: number;
  /** The reader cancelled (client gone) or stalled: abort the producer. Called at most once. */
  readonly onCancel: (reason: 'client' | 'stall') => void;
}

export interface SseSink {
  /**
   * Sends one event (`data: <data>\n\n`). Resolves when the buffer has room again; rejects with
   * BitNetError('ABORTED') once the reader cancelled or stalled.
   */
  send(data: string): Promise<void>;
  /** True once the reader is gone; later sends reject. */
  readonly closed: boolean;
}

/**
 * Returns a byte stream whose events come from `produce`. The stream closes when `produce`
 * settles (a rejection of `produce` is swallowed: producers report their own errors as events).
 */
export function createSseStream(
  produce: (sink: SseSink) => Promise<void>,
  options: SseStreamOptions,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let ended = false;
  let cancelled = false;
  let wakeProducer: (() => void) | null = null;

  const stopReader = (reason: 'client' | 'stall'): void => {
    if (cancelled) return;
    cancelled = true;
    options.onCancel(reason);
    const wake = wakeProducer;
    wakeProducer = null;
    wake?.();
  };

  const waitForRoom = async (c: ReadableStreamDefaultController<Uint8Array>): Promise<void> => {
    while (!cancelled && (c.desiredSize ?? 0) <= 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const woke = await new Promise<boolean>((resolve) => {
        wakeProducer = () => resolve(true);
        timer = setTimeout(() => resolve(false), options.stallTimeoutMs);
      });
      clearTimeout(timer);
      wakeProducer = null;
      if (!woke && !cancelled) {
        stopReader('stall');
        ended = true;
        c.error(new BitNetError('ABORTED', `SSE reader stalled for ${options.stallTimeoutMs} ms`));
      }
    }
    if (cancelled) throw new BitNetError('ABORTED', 'The client stopped reading the event stream.');
  };

  const sink: SseSink = {
    get closed() {
      return cancelled;
    },
    async send(data: string): Promise<void> {
      const c = controller;
      if (c === undefined || cancelled || ended) {
        throw new BitNetError('ABORTED', 'The client stopped reading the event stream.');
      }
      c.enqueue(encoder.encode(`data: ${data}\n\n`));
      await waitForRoom(c);
    },
  };

  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        // Run the producer after the stream exists; it ends the stream when it settles.
        void Promise.resolve()
          .then(() => produce(sink))
          .catch(() => undefined)
          .finally(() => {
            if (!ended && !cancelled) {
              ended = true;
              c.close();
            }
          });
      },
      pull() {
        const wake = wakeProducer;
        wakeProducer = null;
        wake?.();
      },
      cancel() {
        stopReader('client');
      },
    },
    { highWaterMark: options.highWaterMarkBytes, size: (chunk) => chunk.byteLength },
  );
}
