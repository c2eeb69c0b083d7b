// Ctrl-C for long commands: the first SIGINT aborts the work in progress (the engine stops within one token and
// the command exits 130 after cleaning up); a second one exits at once, as users expect of a stuck program.

export interface Interrupt {
  readonly signal: AbortSignal;
  /** Removes the handler (Ctrl-C gets its default meaning back). */
  dispose(): void;
}

export function interruptOnSigint(onSecond: () => void = () => process.exit(130)): Interrupt {
  const ac = new AbortController();
  const handler = (): void => {
    if (!ac.signal.aborted) ac.abort(new Error('interrupted (SIGINT)'));
    else onSecond();
  };
  process.on('SIGINT', handler);
  return { signal: ac.signal, dispose: () => void process.off('SIGINT', handler) };
}
