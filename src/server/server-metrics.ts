// Server counters and gauges, rendered in the Prometheus text exposition format (version 0.0.4).

import type { KvStats } from '../engine/types.js';

/** Upper bounds (seconds) of the time-to-first-token histogram buckets; +Inf is implied. */
export const TTFT_BUCKETS_S: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Why a started generation ended without finishing. */
export type CancelReason = 'client' | 'stall' | 'shutdown' | 'error';

/** When a client went away: while sending its request body, or while its generation was queued or running. */
export type ClientAbortPhase = 'body' | 'generation';

export interface MetricsSnapshot {
  /** `"<route> <status>"` -> count. */
  readonly requests: Readonly<Record<string, number>>;
  readonly promptTokensTotal: number;
  readonly completionTokensTotal: number;
  readonly lastPrefillTokPerS: number;
  readonly lastDecodeTokPerS: number;
  readonly ttftCount: number;
  readonly ttftSumS: number;
  readonly cancelled: Readonly<Record<CancelReason, number>>;
  readonly clientAborts: Readonly<Record<ClientAbortPhase, number>>;
  /** Requests answered 408 because their body did not arrive in time. */
  readonly bodyTimeouts: number;
}

export class ServerMetrics {
  readonly #requests = new Map<string, { route: string; status: number; count: number }>();
  #promptTokens = 0;
  #completionTokens = 0;
  #lastPrefillTokPerS = 0;
  #lastDecodeTokPerS = 0;
  readonly #ttftBucketCounts = new Array<number>(TTFT_BUCKETS_S.length).fill(0);
  #ttftCount = 0;
  #ttftSumS = 0;
  readonly #cancelled: Record<CancelReason, number> = { client: 0, stall: 0, shutdown: 0, error: 0 };
  readonly #clientAborts: Record<ClientAbortPhase, number> = { body: 0, generation: 0 };
  #bodyTimeouts = 0;

  recordRequest(route: string, status: number): void {
    const key = `${route} ${status}`;
    const entry = this.#requests.get(key);
    if (entry === undefined) this.#requests.set(key, { route, status, count: 1 });
    else entry.count++;
  }

  recordUsage(promptTokens: number, completionTokens: number): void {
    this.#promptTokens += promptTokens;
    this.#completionTokens += completionTokens;
  }

  recordSpeeds(prefillTokPerS: number, decodeTokPerS: number): void {
    this.#lastPrefillTokPerS = finiteOrZero(prefillTokPerS);
    this.#lastDecodeTokPerS = finiteOrZero(decodeTokPerS);
  }

  recordTimeToFirstToken(seconds: number): void {
    this.#ttftCount++;
    this.#ttftSumS += seconds;
    for (let i = 0; i < TTFT_BUCKETS_S.length; i++) {
      if (seconds <= TTFT_BUCKETS_S[i]) this.#ttftBucketCounts[i]++;
    }
  }

  recordCancel(reason: CancelReason): void {
    this.#cancelled[reason]++;
  }

  recordClientAbort(phase: ClientAbortPhase): void {
    this.#clientAborts[phase]++;
  }

  recordBodyTimeout(): void {
    this.#bodyTimeouts++;
  }

  snapshot(): MetricsSnapshot {
    const requests: Record<string, number> = {};
    for (const [key, e] of this.#requests) requests[key] = e.count;
    return {
      requests,
      promptTokensTotal: this.#promptTokens,
      completionTokensTotal: this.#completionTokens,
      lastPrefillTokPerS: this.#lastPrefillTokPerS,
      lastDecodeTokPerS: this.#lastDecodeTokPerS,
      ttftCount: this.#ttftCount,
      ttftSumS: this.#ttftSumS,
      cancelled: { ...this.#cancelled },
      clientAborts: { ...this.#clientAborts },
      bodyTimeouts: this.#bodyTimeouts,
    };
  }

  /** Prometheus text; the queue gauges are read at render time. */
  render(queue: { readonly waiting: number; readonly running: number }, kv?: KvStats): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    family('bitnet_http_requests_total', 'counter', 'HTTP requests by route and response status.');
    for (const e of this.#requests.values()) {
      out.push(`bitnet_http_requests_total{route="${label(e.route)}",status="${e.status}"} ${e.count}`);
    }
    family('bitnet_prompt_tokens_total', 'counter', 'Prompt tokens processed.');
    out.push(`bitnet_prompt_tokens_total ${this.#promptTokens}`);
    family('bitnet_completion_tokens_total', 'counter', 'Tokens generated.');
    out.push(`bitnet_completion_tokens_total ${this.#completionTokens}`);
    family('bitnet_queue_depth', 'gauge', 'Generations waiting for the model.');
    out.push(`bitnet_queue_depth ${queue.waiting}`);
    family('bitnet_generations_running', 'gauge', 'Generations holding the model.');
    out.push(`bitnet_generations_running ${queue.running}`);
    family('bitnet_last_prefill_tokens_per_second', 'gauge', 'Prefill speed of the last finished request.');
    out.push(`bitnet_last_prefill_tokens_per_second ${num(this.#lastPrefillTokPerS)}`);
    family('bitnet_last_decode_tokens_per_second', 'gauge', 'Decode speed of the last finished request.');
    out.push(`bitnet_last_decode_tokens_per_second ${num(this.#lastDecodeTokPerS)}`);
    family(
      'bitnet_time_to_first_token_seconds',
      'histogram',
      'Time from request arrival (queue wait included) to the first generated token.',
    );
    for (let i = 0; i < TTFT_BUCKETS_S.length; i++) {
      out.push(`bitnet_time_to_first_token_seconds_bucket{le="${num(TTFT_BUCKETS_S[i])}"} ${this.#ttftBucketCounts[i]}`);
    }
    out.push(`bitnet_time_to_first_token_seconds_bucket{le="+Inf"} ${this.#ttftCount}`);
    out.push(`bitnet_time_to_first_token_seconds_sum ${num(this.#ttftSumS)}`);
    out.push(`bitnet_time_to_first_token_seconds_count ${this.#ttftCount}`);
    family('bitnet_generations_cancelled_total', 'counter', 'Generations cancelled before they finished, by reason.');
    for (const [reason, count] of Object.entries(this.#cancelled)) {
      out.push(`bitnet_generations_cancelled_total{reason="${reason}"} ${count}`);
    }
    family('bitnet_client_aborts_total', 'counter', 'Clients that closed the connection before their answer was complete, by phase (body: while sending the request body; generation: while queued or answered).');
    for (const [phase, count] of Object.entries(this.#clientAborts)) {
      out.push(`bitnet_client_aborts_total{phase="${phase}"} ${count}`);
    }
    family('bitnet_request_body_timeouts_total', 'counter', 'Requests answered 408 because their body did not arrive within the body timeout.');
    out.push(`bitnet_request_body_timeouts_total ${this.#bodyTimeouts}`);
    if (kv !== undefined) {
      family('bitnet_kv_blocks', 'gauge', `Blocks of the paged KV cache (${kv.blockSize} positions each) by state: used by a sequence, cached (an idle prefix kept for reuse, reclaimed first), free.`);
      out.push(`bitnet_kv_blocks{state="used"} ${kv.blocks.used}`, `bitnet_kv_blocks{state="cached"} ${kv.blocks.cachedIdle}`, `bitnet_kv_blocks{state="free"} ${kv.blocks.free}`);
      family('bitnet_kv_blocks_capacity', 'gauge', 'Blocks the KV memory budget holds.');
      out.push(`bitnet_kv_blocks_capacity ${kv.blocks.nBlocks}`);
      family('bitnet_kv_blocks_allocated', 'gauge', 'Blocks with memory behind them: the cache takes memory as it is used, up to the capacity.');
      out.push(`bitnet_kv_blocks_allocated ${kv.blocks.allocated}`);
      family('bitnet_forward_tokens_total', 'counter', 'Token positions run through the model (prompt positions reused from the prefix cache are not).');
      out.push(`bitnet_forward_tokens_total ${kv.forwardTokens}`);
      family('bitnet_forward_steps_total', 'counter', 'Forward steps; one step serves every running sequence.');
      out.push(`bitnet_forward_steps_total ${kv.steps}`);
      family('bitnet_kv_preemptions_total', 'counter', 'Running generations preempted because the KV cache was full: their blocks freed, their tokens computed again once blocks were free (the stream pauses, its tokens do not change).');
      out.push(`bitnet_kv_preemptions_total ${kv.preemptions}`);
    }
    return out.join('\n') + '\n';
  }
}

function finiteOrZero(x: number): number {
  return Number.isFinite(x) ? x : 0;
}

function num(x: number): string {
  return Number.isFinite(x) ? String(x) : 'NaN';
}

/** Escapes a label value (backslash, double quote, newline), as the exposition format requires. */
function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
