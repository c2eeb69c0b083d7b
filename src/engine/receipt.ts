// Receipts: a JSON record that a run executed real kernels on a real model, and the gates that check one.
// Schema documented in docs/receipts.md; bump RECEIPT_SCHEMA on any incompatible change.

import { BitNetError } from '../errors.js';

export const RECEIPT_SCHEMA = 'bitnet.receipt/v1';
export const ENGINE_NAME = 'bitnet';
/** The package version (src/package-info.test.ts keeps the two equal: this module runs in browsers, without package.json). */
export const ENGINE_VERSION = '0.1.0';

/** Kernel ids that would mean no real compute happened; a receipt naming one fails verification. */
export const FORBIDDEN_KERNEL_PATTERN = /(mock|fake|stub|dummy|fallback|noop)/i;

/** No CPU streams weights faster than this (bytes/s); a decode rate implying more is implausible. */
export const MAX_PLAUSIBLE_BYTES_PER_S = 2e12;

export interface Receipt {
  readonly schema: typeof RECEIPT_SCHEMA;
  readonly engine: { readonly name: string; readonly version: string };
  readonly created_at: string;
  readonly kind: 'generate' | 'bench';
  /**
   * 'real' when the kernel calls counted during the run account for every forward pass the tokens imply (one
   * embedding lookup per pass, one attention call per layer and pass); 'incomplete' otherwise.
   */
  readonly compute_path: 'real' | 'incomplete';
  readonly model: {
    readonly file: string;
    readonly bytes: number;
    /** SHA-256 of the GGUF header and tensor table (file bytes before the data section). */
    readonly header_sha256: string;
    readonly arch: string;
    readonly n_params: number;
    /** Bytes of weights read per generated token (all tensors but the embedding rows not used). */
    readonly weight_bytes: number;
    readonly hyper: Readonly<Record<string, number | string | boolean>>;
  };
  readonly backend: { readonly name: string; readonly kernel_set: string; readonly threads: number; readonly fallbacks: readonly string[] };
  /** Kernels executed during this run, with call counts. */
  readonly kernels: readonly { readonly id: string; readonly calls: number }[];
  readonly runtime: { readonly name: string; readonly version: string; readonly platform: string; readonly arch: string };
  readonly tokens: { readonly prompt_count: number; readonly generated_count: number; readonly prompt: readonly number[]; readonly generated: readonly number[] };
  readonly timings: { readonly load_ms: number; readonly prefill_ms: number; readonly decode_ms: number; readonly prefill_tok_s: number; readonly decode_tok_s: number };
  readonly sampling: unknown;
  readonly seed: number | null;
  readonly strict: boolean;
  /**
   * How the run's compute was accounted (absent in receipts made before per-sequence accounting). `kernels` lists
   * every call of the forward steps this generation's tokens ran in; a shared step served other sequences too.
   */
  readonly compute?: {
    readonly scope: 'sequence';
    /** Forward steps this generation's tokens ran in (= embedding lookups in `kernels`). */
    readonly steps: number;
    /** Of those, steps that also ran other sequences' tokens (their calls are listed whole here and in theirs). */
    readonly shared_steps: number;
    /** Positions of this generation run through the model: prompt tokens not reused, plus generated tokens fed back. */
    readonly own_positions: number;
    /** Positions of every sequence in those steps (equals own_positions when no step was shared). */
    readonly step_positions: number;
    /** Prompt tokens not computed: the sequence's cache from before and the prefix cache's blocks (reuse, not compute). */
    readonly reused_prompt_tokens: number;
    /**
     * Of own_positions, those computed again after a preemption (the KV cache was full: engine/scheduler.ts) freed their
     * K/V; absent when none.
     */
    readonly recomputed_positions?: number;
  };
}

/** What ran where, for the runtime field. */
export function runtimeInfo(): Receipt['runtime'] {
  const proc = (globalThis as { process?: { versions?: { node?: string }; platform?: string; arch?: string } }).process;
  if (proc?.versions?.node !== undefined) return { name: 'node', version: proc.versions.node, platform: proc.platform ?? 'unknown', arch: proc.arch ?? 'unknown' };
  const nav = (globalThis as { navigator?: { userAgent?: string } }).navigator;
  return { name: 'browser', version: nav?.userAgent ?? 'unknown', platform: 'web', arch: 'unknown' };
}

/** Hex SHA-256 via WebCrypto (Node >= 20 and browsers). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // Copy into a plain ArrayBuffer: WebCrypto refuses views over SharedArrayBuffer.
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const digest = await globalThis.crypto.subtle.digest('SHA-256', copy.buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Calls made between two snapshots of KernelBackend.kernelCalls(). */
export function kernelDelta(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): { id: string; calls: number }[] {
  const out: { id: string; calls: number }[] = [];
  for (const [id, n] of after) {
    const d = n - (before.get(id) ?? 0);
    if (d > 0) out.push({ id, calls: d });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** Sum of the calls of kernel ids that satisfy `match`. */
function callsOf(kernels: readonly unknown[], match: (id: string) => boolean): number {
  let n = 0;
  for (const k of kernels) if (isObj(k) && typeof k.id === 'string' && Number.isInteger(k.calls) && match(k.id)) n += k.calls as number;
  return n;
}

/**
 * Whether kernel calls, layers and tokens agree: forward passes (= embedding lookups) number between 1 + decode and
 * prompt + decode, where decode = generated - 1 (the last sampled token is never run), and attention ran once per
 * layer and pass. A list of kernels made up or copied from another run rarely satisfies all three.
 */
export function kernelCallsConsistent(kernels: readonly unknown[], layers: unknown, promptCount: unknown, generatedCount: unknown, recomputed = 0): { ok: boolean; detail: string } {
  if (!Number.isInteger(layers) || (layers as number) < 1 || !Number.isInteger(promptCount) || !Number.isInteger(generatedCount)) {
    return { ok: false, detail: 'model.hyper.layers or the token counts are missing' };
  }
  const passes = callsOf(kernels, (id) => id.includes('.embed.'));
  const attention = callsOf(kernels, (id) => id.endsWith('.attention'));
  const decode = Math.max((generatedCount as number) - 1, 0);
  const lo = 1 + decode;
  // a position computed again after a preemption may take a step of its own
  const hi = (promptCount as number) + decode + recomputed;
  const ok = passes >= lo && passes <= hi && attention === (layers as number) * passes;
  return { ok, detail: `${passes} forward passes (tokens allow ${lo}..${hi}), ${attention} attention calls for ${String(layers)} layers` };
}

/**
 * Whether a receipt's per-sequence `compute` section agrees with its kernels and tokens: one embedding lookup per step,
 * no more shared steps than steps, its own positions within the steps' and exactly the prompt tokens not reused plus
 * the generated tokens fed back (all but the last).
 */
export function computeAccounting(compute: unknown, kernels: readonly unknown[], promptCount: unknown, generatedCount: unknown): { ok: boolean; detail: string } {
  const c = isObj(compute) ? compute : {};
  const fields = ['steps', 'shared_steps', 'own_positions', 'step_positions', 'reused_prompt_tokens'] as const;
  if (c.scope !== 'sequence' || !fields.every((f) => Number.isInteger(c[f]) && (c[f] as number) >= 0) || !Number.isInteger(promptCount) || !Number.isInteger(generatedCount)) {
    return { ok: false, detail: `compute needs scope 'sequence' and non-negative integers ${fields.join(', ')}` };
  }
  const [steps, shared, own, all, reused] = fields.map((f) => c[f] as number);
  const recomputed = recomputedOf(c);
  if (recomputed === undefined) return { ok: false, detail: 'compute.recomputed_positions must be a non-negative integer when present' };
  const passes = callsOf(kernels, (id) => id.includes('.embed.'));
  const wantOwn = (promptCount as number) - reused + Math.max((generatedCount as number) - 1, 0) + recomputed;
  const problems: string[] = [];
  if (passes !== steps) problems.push(`${passes} embedding lookups for ${steps} steps`);
  if (shared > steps) problems.push(`${shared} shared of ${steps} steps`);
  if (own > all || (shared === 0 && own !== all)) problems.push(`${own} own of ${all} step positions with ${shared} shared steps`);
  if (steps > own) problems.push(`${steps} steps for ${own} positions`);
  if (reused >= (promptCount as number) && (promptCount as number) > 0) problems.push(`${reused} of ${String(promptCount)} prompt tokens reused (the last one always runs)`);
  if (own !== wantOwn) problems.push(`${own} own positions, the tokens imply ${wantOwn} (prompt ${String(promptCount)} - reused ${reused} + generated ${String(generatedCount)} - 1 + recomputed ${recomputed})`);
  return problems.length === 0
    ? { ok: true, detail: `${steps} steps (${shared} shared), ${own} of ${all} positions this sequence's, ${reused} prompt tokens reused` }
    : { ok: false, detail: problems.join('; ') };
}

export interface GateResult {
  readonly gate: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** compute.recomputed_positions (0 when absent); undefined when present but not a non-negative integer. */
function recomputedOf(c: Record<string, unknown>): number | undefined {
  const v = c.recomputed_positions;
  if (v === undefined) return 0;
  return Number.isInteger(v) && (v as number) >= 0 ? (v as number) : undefined;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function num(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
/** A JSON value for a gate's detail; never throws (String() of an object with a non-callable toString would). */
function show(v: unknown): string {
  if (v === null || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return String(v);
  return Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v;
}
function intArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x) && (x as number) >= 0);
}

/** Check a parsed receipt against every gate; returns one result per gate (never throws on bad input). */
export function verifyReceipt(r: unknown): GateResult[] {
  const gates: GateResult[] = [];
  const gate = (name: string, ok: boolean, detail: string): void => void gates.push({ gate: name, ok, detail });
  if (!isObj(r)) {
    gate('schema', false, 'receipt is not a JSON object');
    return gates;
  }
  const model = isObj(r.model) ? r.model : undefined;
  const backend = isObj(r.backend) ? r.backend : undefined;
  const tokens = isObj(r.tokens) ? r.tokens : undefined;
  const timings = isObj(r.timings) ? r.timings : undefined;
  const kernels = Array.isArray(r.kernels) ? r.kernels : undefined;
  const schemaOk = r.schema === RECEIPT_SCHEMA && model !== undefined && backend !== undefined && tokens !== undefined && timings !== undefined && kernels !== undefined && isObj(r.engine) && isObj(r.runtime);
  gate('schema', schemaOk, schemaOk ? RECEIPT_SCHEMA : `expected schema '${RECEIPT_SCHEMA}' with model, backend, kernels, tokens, timings, engine, runtime`);
  if (!schemaOk || model === undefined || backend === undefined || tokens === undefined || timings === undefined || kernels === undefined) return gates;

  gate('compute_path', r.compute_path === 'real', `compute_path is ${JSON.stringify(r.compute_path)}`);

  const kernelsOk = kernels.length > 0 && kernels.every((k) => isObj(k) && typeof k.id === 'string' && k.id !== '' && Number.isInteger(k.calls) && (k.calls as number) > 0);
  gate('kernels_present', kernelsOk, kernelsOk ? `${kernels.length} kernel ids` : 'kernel list empty or malformed');
  const bad = kernels.filter((k) => isObj(k) && typeof k.id === 'string' && FORBIDDEN_KERNEL_PATTERN.test(k.id)).map((k) => (isObj(k) ? String(k.id) : ''));
  gate('kernels_real', bad.length === 0, bad.length === 0 ? 'no mock or fallback kernel ids' : `forbidden kernel ids: ${bad.join(', ')}`);
  const backendName = typeof backend.name === 'string' ? backend.name : '';
  const prefix = backendName === 'reference' ? 'ref.' : `${backendName}.`;
  const foreign = kernels.filter((k) => isObj(k) && typeof k.id === 'string' && !k.id.startsWith(prefix));
  gate('kernels_match_backend', backendName !== '' && foreign.length === 0, foreign.length === 0 ? `all kernels from backend '${backendName}'` : `${foreign.length} kernel ids do not belong to backend '${backendName}'`);
  const hyper = isObj(model.hyper) ? model.hyper : {};
  const consistent = kernelCallsConsistent(kernels, hyper.layers, tokens.prompt_count, tokens.generated_count, (isObj(r.compute) ? recomputedOf(r.compute) : 0) ?? 0);
  gate('kernel_calls_consistent', consistent.ok, consistent.detail);
  if (r.compute !== undefined) {
    const acc = computeAccounting(r.compute, kernels, tokens.prompt_count, tokens.generated_count);
    gate('compute_accounting', acc.ok, acc.detail);
  }
  const fallbacks = Array.isArray(backend.fallbacks) ? backend.fallbacks : undefined;
  gate('strict_no_fallback', r.strict !== true || (fallbacks !== undefined && fallbacks.length === 0), r.strict === true ? `strict run with ${fallbacks?.length ?? '?'} fallbacks` : 'not a strict run');

  const hashOk = typeof model.header_sha256 === 'string' && /^[0-9a-f]{64}$/.test(model.header_sha256);
  gate('model_hash', hashOk, hashOk ? String(model.header_sha256) : 'header_sha256 missing or not 64 hex digits');
  gate('model_size', num(model.bytes) && model.bytes > 0 && num(model.weight_bytes) && model.weight_bytes > 0, `bytes ${show(model.bytes)}, weight_bytes ${show(model.weight_bytes)}`);

  const countsOk =
    intArray(tokens.prompt) && intArray(tokens.generated) && tokens.prompt_count === tokens.prompt.length && tokens.generated_count === tokens.generated.length && tokens.prompt.length > 0;
  gate('token_counts', countsOk, countsOk ? `${String(tokens.prompt_count)} prompt, ${String(tokens.generated_count)} generated` : 'token counts do not match the token lists (or the prompt is empty)');

  const tOk = num(timings.load_ms) && timings.load_ms > 0 && num(timings.prefill_ms) && timings.prefill_ms > 0 && num(timings.decode_ms) && timings.decode_ms >= 0 && num(timings.prefill_tok_s) && timings.prefill_tok_s > 0 && num(timings.decode_tok_s) && timings.decode_tok_s >= 0;
  gate('timings_positive', tOk, tOk ? 'all timings positive' : 'a timing is missing, zero or negative');
  if (tOk && num(model.weight_bytes)) {
    const fastest = Math.max(timings.decode_tok_s as number, timings.prefill_tok_s as number);
    const implied = (timings.decode_tok_s as number) * model.weight_bytes;
    gate('tok_s_plausible', implied <= MAX_PLAUSIBLE_BYTES_PER_S, `decode ${String(timings.decode_tok_s)} tok/s x ${model.weight_bytes} B = ${(implied / 1e9).toFixed(1)} GB/s (limit ${MAX_PLAUSIBLE_BYTES_PER_S / 1e9} GB/s); fastest ${fastest.toFixed(1)} tok/s`);
  }
  return gates;
}

/** Throws RECEIPT_INVALID naming the first failed gate. */
export function assertReceipt(r: unknown): void {
  const failed = verifyReceipt(r).filter((g) => !g.ok);
  if (failed.length > 0) {
    throw new BitNetError('RECEIPT_INVALID', `receipt failed gate '${failed[0].gate}': ${failed[0].detail}`, { details: { gate: failed[0].gate } });
  }
}
