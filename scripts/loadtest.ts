// Load test of `bitnet serve`'s app: 32 concurrent streaming clients against a tiny synthetic model on loopback; checks every response, RSS and latency.
//
// Usage: npm run loadtest -- [--clients 32] [--requests 128] [--max-tokens 3] [--max-queue 16]
//                            [--model FILE] [--backend auto|wasm|reference] [--parallel 1] [--kv-mib M]
//                            [--kv-kib K] [--system-words 0] [--duration S]
// --parallel N serves N requests at once in shared forward steps (the server's continuous batching); --kv-mib sets
// the paged KV cache they share (default: a context per parallel request; --kv-kib in KiB, for a budget of a few blocks
// that binds before the slot count does: requests then wait, preempted, and 'preemptions' counts them); --system-words N puts a shared system
// prompt of N words in front of every request (the prefix cache should compute it once: see 'forward tokens');
// --duration S keeps the clients going for S seconds instead of stopping after --requests.
// Each client sends streaming chat requests (greedy, one of a few fixed prompts) until the shared
// request budget is spent. Every request must either complete as well-formed SSE (role chunk,
// content chunks, a finish chunk, a usage chunk, [DONE]) or be refused with 429 + Retry-After
// (the client then waits that long). Greedy outputs for the same prompt must all be identical.
// RSS is sampled every 250 ms and must stay flat. Run under `node --expose-gc` to also sample the JS heap after a full
// garbage collection every 5 s (RSS alone moves with the allocator and with KV pages first written; a leak of JS
// objects shows as live heap growing). The harness keeps per-request tallies, not the requests themselves, so its own
// memory does not grow with the number of requests. Exit code 0 = all checks passed, 1 = not.
// Only loopback addresses are used.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BitNet } from '../src/engine/bitnet.js';
import type { BackendChoice } from '../src/engine/types.js';
import { createServerApp } from '../src/server/app.js';
import { listen } from '../src/server/node.js';
import { synthesizeModel } from '../src/synth/synthesize.js';

interface Args {
  clients: number;
  requests: number;
  maxTokens: number;
  maxQueue: number;
  model: string | undefined;
  backend: BackendChoice;
  parallel: number;
  kvMib: number | undefined;
  kvKib: number | undefined;
  systemWords: number;
  durationS: number | undefined;
}

/** RSS may grow by at most this much between the early and the late part of the run. */
const RSS_GROWTH_LIMIT_BYTES = 48 * 1024 * 1024;
const RSS_SAMPLE_MS = 250;
/** With --expose-gc: live JS heap may grow by at most this much between the early and the late part of the run. */
const HEAP_GROWTH_LIMIT_BYTES = 8 * 1024 * 1024;
const HEAP_SAMPLE_MS = 5000;
const PROMPTS = ['Tell me a story.', 'What is a ternary weight?', 'Count to three.', 'Hello!'];

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { clients: 32, requests: 128, maxTokens: 3, maxQueue: 16, model: undefined, backend: 'auto', parallel: 1, kvMib: undefined, kvKib: undefined, systemWords: 0, durationS: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag}: missing value`);
    const int = (): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: expected a non-negative integer, got '${value}'`);
      return n;
    };
    if (flag === '--clients') args.clients = int();
    else if (flag === '--requests') args.requests = int();
    else if (flag === '--max-tokens') args.maxTokens = int();
    else if (flag === '--max-queue') args.maxQueue = int();
    else if (flag === '--model') args.model = value;
    else if (flag === '--backend') args.backend = value as BackendChoice;
    else if (flag === '--parallel') args.parallel = int();
    else if (flag === '--kv-mib') args.kvMib = int();
    else if (flag === '--kv-kib') args.kvKib = int();
    else if (flag === '--system-words') args.systemWords = int();
    else if (flag === '--duration') args.durationS = int();
    else throw new Error(`unknown flag ${flag}`);
    i++;
  }
  return args;
}

type Outcome =
  | { kind: 'completed'; text: string; ttftMs: number; totalMs: number; completionTokens: number }
  | { kind: 'rejected'; retryAfterS: number }
  | { kind: 'failed'; why: string };

interface ChatChunk {
  object?: unknown;
  id?: unknown;
  choices?: { index?: unknown; delta?: { role?: unknown; content?: unknown }; finish_reason?: unknown }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown } | null;
  error?: unknown;
}

/** One streaming chat request; validates the whole event sequence. */
async function oneRequest(baseUrl: string, prompt: string, maxTokens: number, system: string): Promise<Outcome> {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'tiny',
      messages: [...(system === '' ? [] : [{ role: 'system', content: system }]), { role: 'user', content: prompt }],
      max_tokens: maxTokens,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (res.status === 429) {
    const retry = Number(res.headers.get('retry-after'));
    const body = (await res.json()) as { error?: { type?: unknown } };
    if (!Number.isFinite(retry) || retry <= 0) return { kind: 'failed', why: `429 without a valid Retry-After (${res.headers.get('retry-after')})` };
    if (body.error?.type !== 'rate_limit_error') return { kind: 'failed', why: `429 body is not an OpenAI rate_limit_error: ${JSON.stringify(body)}` };
    return { kind: 'rejected', retryAfterS: retry };
  }
  if (res.status !== 200) return { kind: 'failed', why: `status ${res.status}: ${await res.text()}` };
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) return { kind: 'failed', why: 'not an event stream' };
  if (res.body === null) return { kind: 'failed', why: 'no body' };

  const decoder = new TextDecoder();
  let buffered = '';
  const events: string[] = [];
  let ttftMs = -1;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, cut);
      buffered = buffered.slice(cut + 2);
      if (!block.startsWith('data: ')) return { kind: 'failed', why: `malformed SSE block: ${JSON.stringify(block.slice(0, 80))}` };
      const data = block.slice(6);
      if (ttftMs < 0 && data.includes('"content":"') && !data.includes('"content":""')) ttftMs = performance.now() - t0;
      events.push(data);
    }
  }
  if (buffered.trim() !== '') return { kind: 'failed', why: `trailing bytes after the last event: ${JSON.stringify(buffered.slice(0, 80))}` };
  if (events[events.length - 1] !== '[DONE]') return { kind: 'failed', why: `stream did not end with [DONE] (last: ${events[events.length - 1]?.slice(0, 120)})` };

  let chunks: ChatChunk[];
  try {
    chunks = events.slice(0, -1).map((e) => JSON.parse(e) as ChatChunk);
  } catch (e) {
    return { kind: 'failed', why: `an event is not JSON: ${String(e)}` };
  }
  if (chunks.length < 3) return { kind: 'failed', why: `only ${chunks.length} chunks` };
  const id = chunks[0].id;
  for (const c of chunks) {
    if (c.error !== undefined) return { kind: 'failed', why: `error event: ${JSON.stringify(c.error)}` };
    if (c.object !== 'chat.completion.chunk' || c.id !== id) return { kind: 'failed', why: `bad chunk header: ${JSON.stringify(c).slice(0, 120)}` };
  }
  const first = chunks[0].choices?.[0];
  if (first?.delta?.role !== 'assistant') return { kind: 'failed', why: 'first chunk has no assistant role' };
  const usageChunk = chunks[chunks.length - 1];
  if (usageChunk.choices?.length !== 0 || usageChunk.usage === null || usageChunk.usage === undefined) return { kind: 'failed', why: 'last chunk is not the usage chunk' };
  const finishChunk = chunks[chunks.length - 2].choices?.[0];
  if (finishChunk?.finish_reason !== 'stop' && finishChunk?.finish_reason !== 'length') return { kind: 'failed', why: `no finish_reason (got ${String(finishChunk?.finish_reason)})` };
  let text = '';
  for (const c of chunks.slice(1, -2)) {
    const choice = c.choices?.[0];
    if (choice === undefined || choice.finish_reason !== null || typeof choice.delta?.content !== 'string') {
      return { kind: 'failed', why: `bad content chunk: ${JSON.stringify(c).slice(0, 160)}` };
    }
    text += choice.delta.content;
  }
  const u = usageChunk.usage;
  const completionTokens = typeof u.completion_tokens === 'number' ? u.completion_tokens : -1;
  if (typeof u.prompt_tokens !== 'number' || completionTokens < 0 || u.total_tokens !== u.prompt_tokens + completionTokens) {
    return { kind: 'failed', why: `inconsistent usage ${JSON.stringify(u)}` };
  }
  if (completionTokens > maxTokens) return { kind: 'failed', why: `${completionTokens} tokens > max_tokens ${maxTokens}` };
  const totalMs = performance.now() - t0;
  return { kind: 'completed', text, ttftMs: ttftMs < 0 ? totalMs : ttftMs, totalMs, completionTokens };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function median(xs: readonly number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

const mib = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const tmp = mkdtempSync(join(tmpdir(), 'bitnet-loadtest-'));
  try {
    let path = args.model;
    if (path === undefined) {
      path = join(tmp, 'tiny.gguf');
      console.log(`synthesizing a tiny model into ${path} ...`);
      await synthesizeModel({ shape: 'tiny', arch: 'bitnet-b1.58', weightType: 'i2_s', embedType: 'q8_0', seed: 1, path });
    }
    const probe = await BitNet.plan(path);
    const kvMemory = args.kvKib !== undefined ? args.kvKib * 2 ** 10 : args.kvMib !== undefined ? args.kvMib * 2 ** 20 : args.parallel > 1 ? args.parallel * probe.memory.kvBytes : undefined;
    const model = await BitNet.load(path, { backend: args.backend, ...(kvMemory === undefined ? {} : { kvMemory }) });
    console.log(`model ${model.info.name}: backend ${model.info.backend}/${model.info.kernelSet} x${model.info.threads}, ctx ${model.info.contextLength}`);
    const app = createServerApp(model, { maxQueue: args.maxQueue, parallel: args.parallel });
    const system = Array.from({ length: args.systemWords }, (_, i) => ['alpha', 'beta', 'gamma', 'delta', 'epsilon'][i % 5]).join(' ');
    const kv0 = model.kvStats();
    const server = await listen(app, { host: '127.0.0.1', port: 0 });
    console.log(
      `server on ${server.url}; ${args.clients} clients, ${args.durationS === undefined ? `${args.requests} requests` : `${args.durationS} s`}, max_tokens ${args.maxTokens}, max queue ${args.maxQueue}, parallel ${args.parallel}, KV ${kv0.blocks.nBlocks} blocks of ${kv0.blockSize}${args.systemWords > 0 ? `, a shared ${args.systemWords}-word system prompt` : ''}`,
    );
    let maxUsedBlocks = 0;
    let maxTouchedBlocks = 0; // blocks the pool took memory for (it grows as used; first writes grow RSS, within the budget)

    const rss: { tMs: number; bytes: number }[] = [];
    const tStart = performance.now();
    const sampler = setInterval(() => {
      rss.push({ tMs: performance.now() - tStart, bytes: process.memoryUsage().rss });
      const b = model.kvStats().blocks;
      maxUsedBlocks = Math.max(maxUsedBlocks, b.used);
      maxTouchedBlocks = Math.max(maxTouchedBlocks, b.allocated);
    }, RSS_SAMPLE_MS);
    const gc = (globalThis as { gc?: () => void }).gc;
    const heap: number[] = [];
    const heapSampler =
      gc === undefined
        ? undefined
        : setInterval(() => {
            gc();
            heap.push(process.memoryUsage().heapUsed);
          }, HEAP_SAMPLE_MS);
    const budgetLeft = (): boolean => (args.durationS === undefined ? issued < args.requests : performance.now() - tStart < args.durationS * 1000);

    let issued = 0;
    // tallies, not the outcomes themselves (a 10-minute run makes ~20,000 requests)
    let accounted = 0;
    let tokens = 0;
    const ttftMs: number[] = [];
    const rejected = { count: 0 };
    const failures: string[] = [];
    let failedCount = 0;
    let failedServed = 0; // failures after a 200 (the server counted them as served)
    const textsByPrompt = new Map<string, Set<string>>();
    const tally = (outcome: Outcome, prompt: string): void => {
      accounted++;
      if (outcome.kind === 'completed') {
        tokens += outcome.completionTokens;
        ttftMs.push(outcome.ttftMs);
        let texts = textsByPrompt.get(prompt);
        if (texts === undefined) textsByPrompt.set(prompt, (texts = new Set()));
        if (texts.size < 4) texts.add(outcome.text); // greedy: one text per prompt; a few are enough to show a difference
      } else if (outcome.kind === 'rejected') rejected.count++;
      else {
        failedCount++;
        if (!outcome.why.startsWith('status')) failedServed++;
        if (failures.length < 10) failures.push(outcome.why);
      }
    };
    const client = async (clientIndex: number): Promise<void> => {
      for (;;) {
        if (!budgetLeft()) return;
        const n = issued++;
        const prompt = PROMPTS[(clientIndex + n) % PROMPTS.length];
        let outcome: Outcome;
        try {
          outcome = await oneRequest(server.url, prompt, args.maxTokens, system);
        } catch (e) {
          outcome = { kind: 'failed', why: `request threw: ${e instanceof Error ? e.message : String(e)}` };
        }
        tally(outcome, prompt);
        if (outcome.kind === 'rejected') await new Promise((r) => setTimeout(r, outcome.retryAfterS * 1000));
      }
    };
    await Promise.all(Array.from({ length: args.clients }, (_, i) => client(i)));
    const wallS = (performance.now() - tStart) / 1000;
    clearInterval(sampler);
    if (heapSampler !== undefined) clearInterval(heapSampler);
    const metricsText = await (await fetch(`${server.url}/metrics`)).text();
    const kv1 = model.kvStats();
    await server.close();
    await model.dispose();

    // ---- checks ----
    const problems: string[] = [];
    const completed = ttftMs.length;
    if (accounted !== issued) problems.push(`lost requests: ${issued} issued, ${accounted} accounted for`);
    if (maxUsedBlocks > kv1.blocks.nBlocks) problems.push(`KV blocks in use (${maxUsedBlocks}) beyond the budget (${kv1.blocks.nBlocks})`);
    for (const why of failures) problems.push(`failed: ${why}`);
    if (failedCount > failures.length) problems.push(`... and ${failedCount - failures.length} more failures`);
    if (completed === 0) problems.push('no request completed');
    for (const prompt of PROMPTS) {
      const texts = textsByPrompt.get(prompt) ?? new Set<string>();
      if (texts.size > 1) problems.push(`greedy outputs differ for '${prompt}': ${[...texts].map((t) => JSON.stringify(t)).join(' | ')}`);
    }
    const served = Number(/bitnet_http_requests_total\{route="\/v1\/chat\/completions",status="200"\} (\d+)/.exec(metricsText)?.[1] ?? 0);
    const refused = Number(/bitnet_http_requests_total\{route="\/v1\/chat\/completions",status="429"\} (\d+)/.exec(metricsText)?.[1] ?? 0);
    if (served !== completed + failedServed || refused !== rejected.count) {
      problems.push(`server metrics disagree: 200 x${served}, 429 x${refused}; clients saw ${completed} completed, ${rejected.count} rejected`);
    }
    // memory: compare the second quarter of the run (after warm-up) with the last quarter
    let growth = 0;
    if (rss.length >= 8) {
      const q = Math.floor(rss.length / 4);
      const early = median(rss.slice(q, 2 * q).map((s) => s.bytes));
      const late = median(rss.slice(3 * q).map((s) => s.bytes));
      growth = late - early;
      // KV blocks are wasm pages the OS maps on first write: the blocks the run filled may grow RSS, up to the budget
      const kvFirstTouch = maxTouchedBlocks * (probe.memory.kvBytes / probe.contextLength) * kv1.blockSize;
      const limit = RSS_GROWTH_LIMIT_BYTES + kvFirstTouch;
      if (growth > limit) problems.push(`RSS grew by ${mib(growth)} (limit ${mib(limit)}: ${mib(RSS_GROWTH_LIMIT_BYTES)} + ${mib(kvFirstTouch)} of KV blocks first written)`);
    }

    let heapGrowth: number | undefined;
    if (heap.length >= 8) {
      const q = Math.floor(heap.length / 4);
      heapGrowth = median(heap.slice(3 * q)) - median(heap.slice(q, 2 * q));
      if (heapGrowth > HEAP_GROWTH_LIMIT_BYTES) problems.push(`live JS heap grew by ${mib(heapGrowth)} (limit ${mib(HEAP_GROWTH_LIMIT_BYTES)})`);
    }

    // ---- report ----
    const ttft = ttftMs.sort((a, b) => a - b);
    const rssBytes = rss.map((s) => s.bytes);
    console.log(`requests: ${accounted} (${completed} completed, ${rejected.count} got 429, ${failedCount} failed) in ${wallS.toFixed(1)} s`);
    const promptTokens = Number(/^bitnet_prompt_tokens_total (\d+)$/m.exec(metricsText)?.[1] ?? NaN);
    console.log(
      `forward: ${kv1.forwardTokens - kv0.forwardTokens} token positions in ${kv1.steps - kv0.steps} steps for ${promptTokens} prompt + ${tokens} generated tokens (prefix cache: the rest was reused); KV blocks in use at most ${maxUsedBlocks} of ${kv1.blocks.nBlocks}; preemptions ${kv1.preemptions - kv0.preemptions}`,
    );
    console.log(`time to first token: p50 ${percentile(ttft, 50).toFixed(0)} ms, p99 ${percentile(ttft, 99).toFixed(0)} ms (queue wait included)`);
    console.log(`throughput: ${(tokens / wallS).toFixed(2)} generated tok/s, ${(completed / wallS).toFixed(2)} completed req/s`);
    if (rssBytes.length > 0) {
      console.log(`RSS: min ${mib(Math.min(...rssBytes))}, max ${mib(Math.max(...rssBytes))}, growth (2nd -> 4th quarter) ${mib(growth)} over ${rss.length} samples`);
    }
    if (heapGrowth !== undefined) {
      console.log(`live JS heap after full GC: min ${mib(Math.min(...heap))}, max ${mib(Math.max(...heap))}, growth (2nd -> 4th quarter) ${mib(heapGrowth)} over ${heap.length} samples`);
    } else if (gc === undefined) console.log('live JS heap: not sampled (run under node --expose-gc to sample it)');
    else console.log(`live JS heap: too few samples (${heap.length}; one per ${HEAP_SAMPLE_MS / 1000} s, 8 needed)`);
    if (problems.length > 0) {
      console.log(`FAIL:\n  ${problems.join('\n  ')}`);
      return 1;
    }
    console.log('OK: every request completed with well-formed SSE or got 429; none lost or garbled; memory flat');
    return 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
