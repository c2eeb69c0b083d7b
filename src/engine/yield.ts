// One macrotask turn for long-running loops (generation, prefill, evaluation), so that timers, signals,
// sockets and worker messages are served between tokens. Browser-safe: no Node import.

type Task = () => void;

interface ImmediateHost {
  setImmediate?: (cb: Task) => unknown;
}

let channel: { port: MessagePort; queue: Task[] } | undefined;

/** A macrotask (not a microtask): setImmediate in Node/Bun; a MessageChannel post in browsers and workers (no setTimeout clamp). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => {
    const g = globalThis as ImmediateHost;
    if (typeof g.setImmediate === 'function') {
      g.setImmediate(resolve);
      return;
    }
    if (typeof MessageChannel === 'function') {
      if (channel === undefined) {
        const mc = new MessageChannel();
        const queue: Task[] = [];
        mc.port1.onmessage = () => queue.shift()?.();
        channel = { port: mc.port2, queue };
      }
      channel.queue.push(resolve);
      channel.port.postMessage(null);
      return;
    }
    setTimeout(resolve, 0);
  });
}
