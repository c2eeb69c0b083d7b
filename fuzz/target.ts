// What a fuzz target is, and how one execution is judged: a clean return or a BitNetError refusal pass;
// any other exception, a violated invariant, or an execution slower than the target's limit is a finding.

import { BitNetError } from '../src/errors.js';

export interface FuzzTarget {
  /** Also the name of its seed corpus folder, fuzz/corpus/<name>/. */
  readonly name: string;
  /** One line: what the target feeds where. */
  readonly description: string;
  /** Longest input the mutator produces, in bytes. */
  readonly maxInputBytes: number;
  /** Slowest acceptable execution in milliseconds (the hang guard); generous for a busy 2-core machine. */
  readonly maxExecMs: number;
  /** Tokens the mutator inserts whole. */
  readonly dictionary?: readonly string[];
  /** Script path fragments whose coverage guides the fuzzer besides src/ (a library that does the parsing). */
  readonly coverageAlso?: readonly string[];
  /** Builds shared state (a vocabulary, a server app) once before the first execution. */
  setup?(): Promise<void>;
  /** Releases what setup built. */
  teardown?(): Promise<void>;
  /** Valid example inputs; `npm run fuzz -- --write-seeds` stores them as the committed corpus. */
  seeds(): Uint8Array[] | Promise<Uint8Array[]>;
  /**
   * Runs one input. Returning or throwing a BitNetError (other than INTERNAL) is a pass; a FuzzInvariantError
   * (thrown by the target's own checks) or any other exception is a finding.
   */
  run(data: Uint8Array): void | Promise<void>;
}

/** Thrown by a target when an invariant of a successful call does not hold. */
export class FuzzInvariantError extends Error {
  override readonly name = 'FuzzInvariantError';
}

/** Throws FuzzInvariantError with `message` unless `cond`. */
export function invariant(cond: boolean, message: string): asserts cond {
  if (!cond) throw new FuzzInvariantError(message);
}

export type FindingKind = 'crash' | 'invariant' | 'slow';

/** A input that made the target misbehave, with what happened. */
export class FuzzFinding extends Error {
  override readonly name = 'FuzzFinding';

  constructor(
    readonly target: string,
    readonly kind: FindingKind,
    readonly input: Uint8Array,
    message: string,
    cause?: unknown,
  ) {
    super(`${target}: ${kind}: ${message} (input ${input.length} bytes, base64 ${Buffer.from(input).toString('base64').slice(0, 400)})`, cause === undefined ? undefined : { cause });
  }
}

export type Outcome = 'ok' | 'refused';

export interface ExecResult {
  readonly outcome: Outcome;
  readonly ms: number;
  /** The BitNetError code of a refusal. */
  readonly code?: string;
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}${e.stack === undefined ? '' : `\n${e.stack.split('\n').slice(1, 6).join('\n')}`}`;
  return `non-Error thrown: ${String(e)}`;
}

/**
 * Runs `data` through `target` once; throws FuzzFinding for anything but a pass. `slowFactor` multiplies the
 * target's time limit (the test suite passes a large one: a shared CI machine is no place to judge speed,
 * only runaway executions).
 */
export async function execute(target: FuzzTarget, data: Uint8Array, slowFactor = 1): Promise<ExecResult> {
  const t0 = performance.now();
  let outcome: Outcome = 'ok';
  let code: string | undefined;
  try {
    await target.run(data);
  } catch (e) {
    if (e instanceof BitNetError && e.code !== 'INTERNAL') {
      outcome = 'refused';
      code = e.code;
    } else {
      throw new FuzzFinding(target.name, e instanceof FuzzInvariantError ? 'invariant' : 'crash', data, describe(e), e);
    }
  }
  const ms = performance.now() - t0;
  if (ms > target.maxExecMs * slowFactor) {
    throw new FuzzFinding(target.name, 'slow', data, `one execution took ${ms.toFixed(0)} ms (limit ${target.maxExecMs * slowFactor} ms, outcome ${outcome}${code === undefined ? '' : ` ${code}`})`);
  }
  return code === undefined ? { outcome, ms } : { outcome, ms, code };
}
