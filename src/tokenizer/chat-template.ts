// Chat templates: render messages with a Jinja template (@huggingface/jinja) and choose which template a model uses.

import * as jinja from '@huggingface/jinja';
import { Template } from '@huggingface/jinja';
import { BitNetError } from '../errors.js';
import type { ChatMessage } from '../engine/types.js';
import type { GgufValue } from '../gguf/types.js';

export interface RenderOptions {
  /** Text of the BOS token ('<|begin_of_text|>'), exposed to templates as `bos_token`. */
  readonly bosToken: string;
  /** Text of the EOS token, exposed as `eos_token`. */
  readonly eosToken: string;
  /** Append the assistant's turn header so the model writes the reply. */
  readonly addGenerationPrompt: boolean;
}

/**
 * BitNet b1.58 2B-4T's chat format (FORMATS.md; the Hugging Face model card's example
 * `<|begin_of_text|>User: ...<|eot_id|>Assistant: `; llama.cpp/bitnet.cpp's 'bitnet' built-in template):
 * `<|begin_of_text|>System: {sys}<|eot_id|>User: {msg}<|eot_id|>Assistant: {reply}<|eot_id|>...`, then
 * `Assistant: ` when a reply is wanted. Roles are capitalised; contents are trimmed.
 */
export const BITNET_2B4T_TEMPLATE =
  "{{- bos_token -}}" +
  "{%- for message in messages -%}" +
  "{{- message['role'] | capitalize + ': ' + message['content'] | trim + '<|eot_id|>' -}}" +
  '{%- endfor -%}' +
  "{%- if add_generation_prompt -%}{{- 'Assistant: ' -}}{%- endif -%}";

/**
 * LLaMA-3 instruct format (Meta's Llama 3 model card, "Prompt format"): each turn is
 * `<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>`, the whole prefixed by BOS; the generation
 * prompt is the assistant header. Contents are trimmed.
 */
export const LLAMA3_INSTRUCT_TEMPLATE =
  "{{- bos_token -}}" +
  '{%- for message in messages -%}' +
  "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' -}}" +
  '{%- endfor -%}' +
  "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}";

/**
 * Used when a model brings no usable template and looks like no family we know: plain role labels, one turn per
 * line. A guess (strict mode refuses it).
 */
export const FALLBACK_TEMPLATE =
  "{{- bos_token -}}" +
  '{%- for message in messages -%}' +
  "{{- message['role'] | capitalize + ': ' + message['content'] | trim + '\\n' -}}" +
  '{%- endfor -%}' +
  "{%- if add_generation_prompt -%}{{- 'Assistant:' -}}{%- endif -%}";

export type ChatTemplateOrigin = 'override' | 'gguf' | 'builtin-bitnet-2b4t' | 'builtin-llama3' | 'builtin-fallback';

export interface ChosenChatTemplate {
  readonly source: string;
  readonly origin: ChatTemplateOrigin;
  /** True when nothing trustworthy named the format (strict mode refuses guesses). */
  readonly guessed: boolean;
}

/**
 * Most AST node evaluations one render may take. A chat template needs some twenty per message (1000 messages render
 * in ~40 ms); a hostile template (from an untrusted GGUF) with nested loops would otherwise hang the process. The
 * interpreter takes a few microseconds per step, so the limit is reached in well under a second (5000 messages fit).
 */
export const MAX_TEMPLATE_STEPS = 100_000;

/** Longest list `range()` may build in a template: real templates count messages; range(10**9) would exhaust memory. */
export const MAX_TEMPLATE_RANGE = 100_000;

/**
 * The parts of @huggingface/jinja's Environment and Interpreter used here. The package exports both classes, but its
 * declaration files import './runtime' without an extension, which NodeNext resolution cannot follow.
 */
interface JinjaEnvironment {
  set(name: string, value: unknown): unknown;
}
interface JinjaInterpreter {
  evaluate(node: unknown, environment: unknown): unknown;
  run(program: unknown): { value: unknown };
}
const { Environment, Interpreter } = jinja as unknown as {
  Environment: new () => JinjaEnvironment;
  Interpreter: new (env: JinjaEnvironment) => JinjaInterpreter;
};

/** An interpreter that stops a render after MAX_TEMPLATE_STEPS evaluations (every node goes through `evaluate`). */
class BoundedInterpreter extends Interpreter {
  private steps = 0;

  override evaluate(node: unknown, environment: unknown): unknown {
    if (++this.steps > MAX_TEMPLATE_STEPS) {
      throw new Error(`the template ran for more than ${MAX_TEMPLATE_STEPS} steps (an endless or runaway loop?)`);
    }
    return super.evaluate(node, environment);
  }
}

/** Python's range() as the library has it, refusing lists longer than MAX_TEMPLATE_RANGE. */
function boundedRange(...args: unknown[]): number[] {
  if (args.length < 1 || args.length > 3 || !args.every((a) => typeof a === 'number')) {
    throw new Error('range() takes one to three numbers');
  }
  const nums = args as number[];
  const [start, stop, step] = nums.length === 1 ? [0, nums[0], 1] : [nums[0], nums[1], nums[2] ?? 1];
  if (step === 0) throw new Error('range() step must not be zero');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  if (!(n <= MAX_TEMPLATE_RANGE)) throw new Error(`range() of ${n} elements exceeds the limit of ${MAX_TEMPLATE_RANGE}`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(start + i * step);
  return out;
}

/** strftime_now(format) with the directives the library supports (%Y %m %d %b %B %H %M %%), English month names. */
function strftimeNow(format: unknown): string {
  const d = new Date();
  const pad2 = (n: number): string => String(n).padStart(2, '0');
  const month = (style: 'short' | 'long'): string => d.toLocaleString('en-US', { month: style });
  return String(format).replace(/%[YmdbBHM%]/g, (t) =>
    t === '%Y' ? String(d.getFullYear()) : t === '%m' ? pad2(d.getMonth() + 1) : t === '%d' ? pad2(d.getDate()) : t === '%b' ? month('short') : t === '%B' ? month('long') : t === '%H' ? pad2(d.getHours()) : t === '%M' ? pad2(d.getMinutes()) : '%',
  );
}

/**
 * Renders a parsed template as Template.render does (@huggingface/jinja src/index.ts, globals from src/runtime.ts
 * setupGlobals), but with a bounded range() and a step budget.
 */
function renderBounded(parsed: Template, context: Record<string, unknown>): string {
  const env = new Environment();
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    raise_exception: (message: unknown) => {
      throw new Error(String(message));
    },
    range: boundedRange,
    strftime_now: strftimeNow,
  };
  for (const [k, v] of Object.entries(globals)) env.set(k, v);
  for (const [k, v] of Object.entries(context)) env.set(k, v);
  const result = new BoundedInterpreter(env).run((parsed as unknown as { parsed: unknown }).parsed).value;
  if (typeof result !== 'string') throw new Error(`the template produced ${typeof result}, not text`);
  return result;
}

/** Parsed templates by source: a model renders the same template for every request. */
const parsedTemplates = new Map<string, Template>();
const PARSED_TEMPLATE_CACHE_LIMIT = 32;

function parse(template: string): Template {
  const cached = parsedTemplates.get(template);
  if (cached !== undefined) return cached;
  let parsed: Template;
  try {
    parsed = new Template(template);
  } catch (e) {
    throw new BitNetError('CHAT_TEMPLATE_ERROR', `chat template does not parse: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
      details: { templateChars: template.length },
    });
  }
  if (parsedTemplates.size >= PARSED_TEMPLATE_CACHE_LIMIT) parsedTemplates.clear();
  parsedTemplates.set(template, parsed);
  return parsed;
}

/** Renders `messages` with a Jinja chat template. Parse and render failures -> CHAT_TEMPLATE_ERROR. */
export function renderChatTemplate(template: string, messages: readonly ChatMessage[], opts: RenderOptions): string {
  const parsed = parse(template);
  try {
    return renderBounded(parsed, {
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      bos_token: opts.bosToken,
      eos_token: opts.eosToken,
      add_generation_prompt: opts.addGenerationPrompt,
    });
  } catch (e) {
    throw new BitNetError('CHAT_TEMPLATE_ERROR', `chat template failed to render: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
      details: { nMessages: messages.length },
    });
  }
}

/** Architectures whose GGUFs (Microsoft's 2B-4T) embed a placeholder template: the built-in BitNet format is the truth. */
const BITNET_2B4T_ARCHS: ReadonlySet<string> = new Set(['bitnet-b1.58', 'bitnet-25']);

const PROBE_CONVERSATION: readonly ChatMessage[] = [
  { role: 'system', content: 'probe-system-5b01' },
  { role: 'user', content: 'probe-user-7f3a' },
  { role: 'assistant', content: 'probe-assistant-2c9d' },
  { role: 'user', content: 'probe-user-e41b' },
];
const PROBE_OPTIONS: RenderOptions = { bosToken: '<|begin_of_text|>', eosToken: '<|end_of_text|>', addGenerationPrompt: true };

/** The probe conversation rendered by `template`, or undefined when the template fails. */
function renderProbe(template: string, messages: readonly ChatMessage[]): string | undefined {
  try {
    return renderChatTemplate(template, messages, PROBE_OPTIONS);
  } catch {
    return undefined;
  }
}

/**
 * True when `template` parses and writes every message's content for a short conversation (a placeholder that
 * ignores `messages`, or a template that throws, is not usable). Templates that refuse a system turn are tried
 * without it.
 */
export function isUsableChatTemplate(template: string): boolean {
  for (const messages of [PROBE_CONVERSATION, PROBE_CONVERSATION.slice(1)]) {
    const text = renderProbe(template, messages);
    if (text !== undefined) return messages.every((m) => text.includes(m.content));
  }
  return false;
}

/** True when `template` renders the probe conversation exactly as the official BitNet 2B-4T format does. */
function rendersBitnet2b4tFormat(template: string): boolean {
  const text = renderProbe(template, PROBE_CONVERSATION);
  return text !== undefined && text === renderProbe(BITNET_2B4T_TEMPLATE, PROBE_CONVERSATION);
}

function vocabularyHas(meta: ReadonlyMap<string, GgufValue>, texts: readonly string[]): boolean {
  const tokens = meta.get('tokenizer.ggml.tokens');
  if (tokens === undefined || tokens.type !== 9 || tokens.elementType !== 8) return false;
  const present = new Set<string>();
  // Special tokens sit at the end of most vocabularies; scanning all is still a single pass.
  for (const t of tokens.value) if (texts.includes(t)) present.add(t);
  return texts.every((t) => present.has(t));
}

/**
 * Picks the chat template: an explicit override (validated), else the GGUF's `tokenizer.chat_template` when it is
 * usable, else a built-in. For BitNet b1.58 2B-4T ('bitnet-b1.58' / 'bitnet-25') the official format is known and
 * the template embedded in Microsoft's GGUF is a placeholder, so the embedded one is used only when it renders
 * exactly that format; otherwise the built-in (not a guess). Other architectures: a LLaMA-3 vocabulary gets the
 * LLaMA-3 instruct format and anything else a plain fallback, both marked `guessed`.
 */
export function chooseChatTemplate(meta: ReadonlyMap<string, GgufValue>, arch: string, override?: string): ChosenChatTemplate {
  if (override !== undefined) {
    parse(override); // a broken override is the caller's error: report it now, not on the first chat
    return { source: override, origin: 'override', guessed: false };
  }
  const entry = meta.get('tokenizer.chat_template');
  const embedded = entry !== undefined && entry.type === 8 ? entry.value : undefined;
  if (BITNET_2B4T_ARCHS.has(arch)) {
    if (embedded !== undefined && rendersBitnet2b4tFormat(embedded)) return { source: embedded, origin: 'gguf', guessed: false };
    return { source: BITNET_2B4T_TEMPLATE, origin: 'builtin-bitnet-2b4t', guessed: false };
  }
  if (embedded !== undefined && isUsableChatTemplate(embedded)) {
    return { source: embedded, origin: 'gguf', guessed: false };
  }
  if (vocabularyHas(meta, ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'])) {
    return { source: LLAMA3_INSTRUCT_TEMPLATE, origin: 'builtin-llama3', guessed: true };
  }
  return { source: FALLBACK_TEMPLATE, origin: 'builtin-fallback', guessed: true };
}
