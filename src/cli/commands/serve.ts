// `bitnet serve`: the OpenAI-compatible HTTP server on one model (the built-in demo model without -m).

import { freemem } from 'node:os';
import type { Command } from 'commander';
import { BitNetError } from '../../errors.js';
import type { LoadedModel } from '../../engine/types.js';
import { createServerApp, DEFAULT_MAX_QUEUE } from '../../server/app.js';
import { MAX_PARALLEL } from '../../server/server-options.js';
import { DEFAULT_HOST, DEFAULT_PORT, listen } from '../../server/node.js';
import { clientAbortSummary } from '../client-abort-summary.js';
import { ensureDemoModel } from '../demo-model.js';
import { serveMemory, serveSizing, sizeFromFlag } from '../kv-memory.js';
import { loadModelFromFlags } from '../load-model.js';
import { addModelFlags, modelArgsFromFlags, num, type ModelFlags } from '../options.js';

export interface ServeFlags extends ModelFlags {
  host?: string;
  port?: string;
  apiKey?: string;
  cors?: string;
  maxQueue?: string;
  drainTimeout?: string;
  parallel?: string;
  kvMemory?: string;
  kvAdmission?: string;
  receipts?: boolean;
}

/**
 * Seconds a graceful stop (SIGTERM) lets accepted generations finish. Kubernetes sends SIGKILL 30 s after SIGTERM
 * by default (terminationGracePeriodSeconds); 25 s leaves time to close connections and dispose the model.
 */
export const DEFAULT_DRAIN_TIMEOUT_S = 25;
/** Longer than a day is a typo, and setTimeout cannot hold much more than 24 days anyway. */
const MAX_DRAIN_TIMEOUT_S = 86_400;

export interface ServeDeps {
  /** Loads the model the flags name (default: the engine, or the built-in demo model without -m). */
  readonly loadModel?: (flags: ModelFlags, log: (line: string) => void) => Promise<LoadedModel>;
  /** Aborting it shuts the server down at once, cancelling generations (the command wires SIGINT to it). */
  readonly signal: AbortSignal;
  /**
   * Aborting it starts a graceful drain (the command wires SIGTERM to it): new requests get 503, readiness fails,
   * accepted generations finish within --drain-timeout, then the server stops. `signal` aborting meanwhile cuts
   * the drain short.
   */
  readonly drainSignal?: AbortSignal;
  /** Progress and warnings (stderr). */
  readonly log: (line: string) => void;
  /** The listening URL line (stdout), so scripts can read it. */
  readonly print: (line: string) => void;
  /** Environment for BITNET_API_KEY (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Free memory in bytes, for the default --parallel and --kv-memory (default os.freemem). */
  readonly freeMemoryBytes?: () => number;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Serves until `deps.signal` aborts, then shuts down cleanly: stops accepting, cancels queued and
 * running generations, disposes the model. Until `deps.drainSignal` aborts, then drains first (see
 * ServeDeps.drainSignal). Either way it resolves (exit code 0) once the model is disposed. The server
 * listens (and answers /health with 503) while the model loads.
 */
export async function runServe(f: ServeFlags, deps: ServeDeps): Promise<void> {
  const host = f.host ?? DEFAULT_HOST;
  const port = num('port', f.port, true) ?? DEFAULT_PORT;
  if (port < 0 || port > 65535) throw new BitNetError('BAD_ARGUMENT', `--port: expected 0..65535, got ${port}`, { details: { flag: 'port', value: port } });
  const maxQueue = num('max-queue', f.maxQueue, true) ?? DEFAULT_MAX_QUEUE;
  if (maxQueue < 0) throw new BitNetError('BAD_ARGUMENT', `--max-queue: expected an integer >= 0, got ${maxQueue}`, { details: { flag: 'max-queue', value: maxQueue } });
  const drainS = num('drain-timeout', f.drainTimeout) ?? DEFAULT_DRAIN_TIMEOUT_S;
  if (drainS < 0 || drainS > MAX_DRAIN_TIMEOUT_S) {
    throw new BitNetError('BAD_ARGUMENT', `--drain-timeout: expected seconds in 0..${MAX_DRAIN_TIMEOUT_S}, got ${drainS}`, { details: { flag: 'drain-timeout', value: drainS } });
  }
  const parallelFlag = num('parallel', f.parallel, true);
  if (parallelFlag !== undefined && (parallelFlag < 1 || parallelFlag > MAX_PARALLEL)) {
    throw new BitNetError('BAD_ARGUMENT', `--parallel: expected 1..${MAX_PARALLEL}, got ${parallelFlag}`, { details: { flag: 'parallel', value: parallelFlag } });
  }
  const apiKey = f.apiKey ?? (deps.env ?? process.env).BITNET_API_KEY;
  if (apiKey === '') throw new BitNetError('BAD_ARGUMENT', '--api-key: the key is empty');
  const kvMemory = sizeFromFlag('kv-memory', f.kvMemory);
  const kvAdmission = f.kvAdmission;
  if (kvAdmission !== undefined && kvAdmission !== 'eager' && kvAdmission !== 'reserve') {
    throw new BitNetError('BAD_ARGUMENT', `--kv-admission: expected eager or reserve, got ${JSON.stringify(kvAdmission)}`, {
      details: { flag: 'kv-admission', value: kvAdmission },
    });
  }
  const args = await modelArgsFromFlags(f); // model flags are checked before the port opens
  const log = deps.log;
  if (deps.signal.aborted) return;

  // Requests at once and the KV cache they share: the flags, else derived from the model's header and the free memory
  // (kv-memory.ts serveSizing). The header is read (and the demo model written) before the port opens; the weights
  // load after, while /health answers 503.
  let parallel = parallelFlag ?? 1;
  let parallelWhy = parallelFlag === undefined ? 'the default with an injected model loader' : '--parallel';
  let kvBytes = kvMemory;
  if (deps.loadModel === undefined) {
    const path = args.path ?? (await ensureDemoModel(log));
    const sizing = serveSizing(await serveMemory(path, args.load, (deps.freeMemoryBytes ?? freemem)()), {
      ...(parallelFlag === undefined ? {} : { parallel: parallelFlag }),
      ...(kvMemory === undefined ? {} : { kvMemory }),
    });
    parallel = sizing.parallel;
    parallelWhy = sizing.parallelWhy;
    kvBytes = sizing.kv.bytes;
    log(`serving ${parallel} request(s) at once (${parallelWhy}${parallelFlag === undefined ? '; --parallel sets it' : ''}); KV cache ${kvBytes >= 2 ** 30 ? `${(kvBytes / 2 ** 30).toFixed(1)} GiB` : kvBytes >= 2 ** 20 ? `${(kvBytes / 2 ** 20).toFixed(kvBytes < 10 * 2 ** 20 ? 1 : 0)} MiB` : `${(kvBytes / 2 ** 10).toFixed(0)} KiB`} (${sizing.kv.why}${kvMemory === undefined ? '; --kv-memory sets it' : ''})${kvAdmission === 'reserve' ? '; admission keeps room for running requests to reach max_tokens (--kv-admission reserve)' : ''}`);
  }
  const loadWithBudget = async (_flags: ModelFlags, l: (line: string) => void): Promise<LoadedModel> =>
    loadModelFromFlags(
      { path: args.path, load: { ...args.load, ...(kvBytes === undefined ? {} : { kvMemory: kvBytes }), ...(kvAdmission === undefined ? {} : { kvAdmission }) } },
      l,
    );
  const loadModel = deps.loadModel ?? loadWithBudget;
  const loading = loadModel(f, log);
  loading.catch(() => undefined); // reported below, after the listener is up
  // Hang-ups are normal traffic: summarised, at most one line per window, never a stack trace.
  const aborts = clientAbortSummary(log);
  const app = createServerApp(loading, {
    maxQueue,
    parallel,
    receipts: f.receipts === true,
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(f.cors === undefined ? {} : { corsOrigin: f.cors }),
    onInternalError: (e) => log(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
    onClientAbort: (phase) => aborts.record(phase),
  });
  let server;
  try {
    server = await listen(app, { host, port });
  } catch (e) {
    aborts.flush();
    await app.close();
    await loading.then((m) => m.dispose(), () => undefined);
    throw e;
  }
  deps.print(`bitnet serve: listening on ${server.url} (OpenAI API at ${server.url}/v1)`);
  if (!LOOPBACK.has(host)) {
    log(`warning: listening on ${host}, reachable from other machines${apiKey === undefined ? ', with no --api-key' : ''}`);
  }

  const stop = new Promise<'now' | 'drain'>((resolve) => {
    const on = (how: 'now' | 'drain', signal: AbortSignal | undefined): void => {
      if (signal === undefined) return;
      if (signal.aborted) resolve(how);
      else signal.addEventListener('abort', () => resolve(how), { once: true });
    };
    on('now', deps.signal);
    on('drain', deps.drainSignal);
  });
  let model: LoadedModel | undefined;
  try {
    model = await Promise.race([app.ready, stop.then(() => undefined)]);
    if (model !== undefined) {
      log(`model ready: ${model.info.name} (ctx ${model.info.contextLength}); parallel ${parallel} (${parallelWhy}); max queue ${maxQueue}; Ctrl-C stops, SIGTERM drains (${drainS} s)`);
    }
    if ((await stop) === 'drain' && !deps.signal.aborted) {
      const accepted = app.queue.running + app.queue.waiting;
      log(`draining: new requests get 503, /readyz is not ready; ${accepted} accepted generation(s) may run for up to ${drainS} s ...`);
      // A second signal while draining cuts it short: the generations are aborted and the drain ends at once.
      let cutShort = false;
      const cut = (): void => {
        cutShort = true;
        void app.close();
      };
      deps.signal.addEventListener('abort', cut, { once: true });
      try {
        const r = await server.drain(drainS * 1000);
        log(
          cutShort
            ? `drain cut short by a second signal after ${(r.elapsedMs / 1000).toFixed(1)} s (running generations cancelled)`
            : r.cut === 0
              ? `drained in ${(r.elapsedMs / 1000).toFixed(1)} s`
              : `drain deadline of ${drainS} s reached: ${r.cut} generation(s) cut (their streams ended with a shutting_down error event)`,
        );
      } finally {
        deps.signal.removeEventListener('abort', cut);
      }
    } else {
      log('shutting down: refusing new requests, cancelling generations ...');
    }
  } finally {
    await server.close();
    aborts.flush();
    const m = model ?? (await loading.catch(() => undefined));
    await m?.dispose();
  }
  log('stopped');
}

export function register(program: Command): void {
  const cmd = program.command('serve').description('OpenAI-compatible HTTP server (chat/completions, completions, models, health, metrics)');
  addModelFlags(cmd);
  cmd
    .option('--host <addr>', 'interface to bind (loopback by default)', DEFAULT_HOST)
    .option('--port <n>', 'TCP port (0 = any free port)', String(DEFAULT_PORT))
    .option('--api-key <key>', 'require "Authorization: Bearer <key>" on /v1 routes (also BITNET_API_KEY)')
    .option('--cors <origin>', 'allow cross-origin requests from this origin (* for any); off by default')
    .option('--max-queue <n>', 'requests that may wait for the model; more get 429', String(DEFAULT_MAX_QUEUE))
    .option('--drain-timeout <s>', 'on SIGTERM: seconds running generations may finish while new requests get 503', String(DEFAULT_DRAIN_TIMEOUT_S))
    .option('--parallel <n>', 'requests generating at once, their tokens batched into shared steps (default: the full contexts the KV budget holds, 1..8)')
    .option('--kv-memory <size>', 'KV cache the requests share, e.g. 512M or 2G (default: a context per --parallel request, within half the free memory beside the weights)')
    .option('--kv-admission <mode>', 'when a request starts while the KV budget binds: eager (as soon as its prompt fits; preemption when blocks run short) or reserve (only while the running requests keep room to reach their max_tokens)', 'eager')
    .option('--receipts', "add each generation's receipt (its own compute, docs/receipts.md) to its response: a `receipt` field")
    .action(async (f: ServeFlags) => {
      // SIGTERM (a container stop, a rolling update) drains; Ctrl-C (SIGINT) cancels at once; a signal during a
      // drain cuts it short; one more exits at once (130).
      const ac = new AbortController();
      const drain = new AbortController();
      const onSignal = (sig: NodeJS.Signals): void => {
        if (sig === 'SIGTERM' && !drain.signal.aborted && !ac.signal.aborted) drain.abort();
        else if (!ac.signal.aborted) ac.abort();
        else {
          process.stderr.write('bitnet serve: forced exit\n');
          process.exit(130);
        }
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await runServe(f, {
          signal: ac.signal,
          drainSignal: drain.signal,
          log: (line) => void process.stderr.write(`${line}\n`),
          print: (line) => void process.stdout.write(`${line}\n`),
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
