// Fuzz target: chat-template rendering (src/tokenizer/chat-template.ts) with arbitrary Jinja sources and messages, as a
// hostile GGUF's `tokenizer.chat_template` or a caller's override would give them.
//
// Input: the template's UTF-8 text, a NUL, then choices for the messages (count, roles, UTF-16 contents).
// Passes: rendered text, or a BitNetError (CHAT_TEMPLATE_ERROR). Findings: any other exception, an
// isUsableChatTemplate / chooseChatTemplate that throws, a hang, or memory growth of more than MAX_GROWTH_BYTES.

import type { ChatMessage, ChatRole } from '../../src/engine/types.js';
import type { GgufValue } from '../../src/gguf/types.js';
import {
  BITNET_2B4T_TEMPLATE,
  FALLBACK_TEMPLATE,
  LLAMA3_INSTRUCT_TEMPLATE,
  chooseChatTemplate,
  isUsableChatTemplate,
  renderChatTemplate,
} from '../../src/tokenizer/chat-template.js';
import { FuzzInput, splitAtNul } from '../input.js';
import { invariant, type FuzzTarget } from '../target.js';

/** Most bytes one render may leave allocated: chat prompts are kilobytes; 256 MiB means a runaway template. */
const MAX_GROWTH_BYTES = 256 * 1024 * 1024;

const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const SYSTEM_REFUSING_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}" +
  "{% if loop.index0 % 2 == 0 %}[INST] {{ message['content'] | trim }} [/INST]{% else %}{{ message['content'] }}{{ eos_token }}{% endif %}{% endfor %}";

const NAMESPACE_TEMPLATE =
  "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ ns.n }}:{{ m.role | upper }}={{ m.content | tojson }}\n{% endfor %}" +
  "{% for i in range(3) %}{{ i }}{% endfor %}{{ messages | length }}";

const SEED_TEMPLATES = [BITNET_2B4T_TEMPLATE, LLAMA3_INSTRUCT_TEMPLATE, FALLBACK_TEMPLATE, CHATML_TEMPLATE, SYSTEM_REFUSING_TEMPLATE, NAMESPACE_TEMPLATE, 'plain text, no tags', '{{ messages[0].content[::-1] }}'];

const ROLES: readonly ChatRole[] = ['system', 'user', 'assistant'];

function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function run(data: Uint8Array): void {
  const [templateBytes, rest] = splitAtNul(data);
  const template = new TextDecoder().decode(templateBytes);
  const inp = new FuzzInput(rest);
  const messages: ChatMessage[] = [];
  const n = inp.int(0, 6);
  for (let i = 0; i < n; i++) messages.push({ role: inp.pick(ROLES), content: inp.utf16(200) });
  const addGenerationPrompt = inp.bool();
  const before = heapBytes();
  try {
    // Probing never throws, whatever the template.
    let usable: boolean;
    try {
      usable = isUsableChatTemplate(template);
    } catch (e) {
      invariant(false, `isUsableChatTemplate threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    }
    const meta = new Map<string, GgufValue>([['tokenizer.chat_template', { type: 8, value: template }]]);
    const chosen = chooseChatTemplate(meta, inp.pick(['bitnet-b1.58', 'llama', 'bitnet']));
    invariant(chosen.origin !== 'gguf' || usable || chosen.source === template, 'chose an unusable embedded template');
    const text = renderChatTemplate(template, messages, { bosToken: '<|begin_of_text|>', eosToken: '<|end_of_text|>', addGenerationPrompt });
    invariant(typeof text === 'string', `render returned ${typeof text}`);
  } finally {
    const grown = heapBytes() - before;
    invariant(grown <= MAX_GROWTH_BYTES, `one render grew memory by ${grown} bytes`);
  }
}

function seed(template: string, messageChoices: readonly number[]): Uint8Array {
  const t = new TextEncoder().encode(template);
  const out = new Uint8Array(t.length + 1 + messageChoices.length);
  out.set(t);
  out[t.length] = 0;
  out.set(messageChoices, t.length + 1);
  return out;
}

/** Three messages (system, user, assistant) with short ASCII contents, generation prompt on. */
const THREE_MESSAGES = [3, 0, 3, 40, 41, 42, 1, 3, 72, 73, 74, 2, 3, 80, 81, 82, 1];

export const chatTemplateTarget: FuzzTarget = {
  name: 'chat-template',
  description: 'renderChatTemplate / isUsableChatTemplate / chooseChatTemplate on arbitrary Jinja sources and messages',
  maxInputBytes: 2048,
  maxExecMs: 2000,
  coverageAlso: ['@huggingface/jinja'],
  dictionary: [
    '{{', '}}', '{%', '%}', '{%-', '-%}', '{#', '#}', ' for ', ' in ', ' if ', ' else ', ' endif ', ' endfor ', ' set ', ' macro ', ' endmacro ', ' call ',
    'range(', 'range(1000000000)', 'messages', 'message', "['role']", "['content']", '.content', '|', ' trim', ' tojson', ' indent(', ' join(',
    ' length', ' list', ' capitalize', 'namespace(', 'raise_exception(', 'loop.index', 'bos_token', 'add_generation_prompt', '*', '+', '~',
    '**', '999999999', '(', ')', '[', ']', "'", '"', ',', '=', '==', 'not ', 'true', 'none', 'x', 'selectattr(', 'map(', 'dictsort',
  ],
  seeds: () => SEED_TEMPLATES.map((t) => seed(t, THREE_MESSAGES)),
  run,
};
