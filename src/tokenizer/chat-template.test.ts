// Tests of chat template rendering and choice: the BitNet 2B-4T format, GGUF templates, placeholders, errors.

import { beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../engine/types.js';
import { isBitNetError } from '../errors.js';
import type { GgufValue } from '../gguf/types.js';
import {
  BITNET_2B4T_TEMPLATE,
  FALLBACK_TEMPLATE,
  LLAMA3_INSTRUCT_TEMPLATE,
  chooseChatTemplate,
  isUsableChatTemplate,
  renderChatTemplate,
} from './chat-template.js';
import { llama3GgufMetadataEntries } from './llama3-vocab.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';

const LLAMA3 = { bosToken: '<|begin_of_text|>', eosToken: '<|end_of_text|>' };

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'What is 2+2?' },
  { role: 'assistant', content: '4.' },
  { role: 'user', content: 'And 3+3?' },
];

function expectTemplateError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(isBitNetError(e, 'CHAT_TEMPLATE_ERROR')).toBe(true);
    return;
  }
  throw new Error('expected CHAT_TEMPLATE_ERROR');
}

describe('BITNET_2B4T_TEMPLATE', () => {
  it('renders exactly the documented format (FORMATS.md)', () => {
    const text = renderChatTemplate(BITNET_2B4T_TEMPLATE, conversation, { ...LLAMA3, addGenerationPrompt: true });
    const expected =
      '<|begin_of_text|>' +
      'System: You are terse.<|eot_id|>' +
      'User: What is 2+2?<|eot_id|>' +
      'Assistant: 4.<|eot_id|>' +
      'User: And 3+3?<|eot_id|>' +
      'Assistant: ';
    expect(text).toBe(expected);
  });

  it('omits the generation prompt when not asked, and trims contents', () => {
    const text = renderChatTemplate(BITNET_2B4T_TEMPLATE, [{ role: 'user', content: '  Hi there \n' }], { ...LLAMA3, addGenerationPrompt: false });
    expect(text).toBe('<|begin_of_text|>User: Hi there<|eot_id|>');
  });

  it('tokenizes with the control tokens of the LLaMA-3 vocabulary', () => {
    const tk: Tokenizer = createTokenizer(new Map(llama3GgufMetadataEntries()));
    const text = renderChatTemplate(BITNET_2B4T_TEMPLATE, [{ role: 'user', content: 'Hi' }], { ...LLAMA3, addGenerationPrompt: true });
    const ids = tk.encode(text, { addBos: false });
    expect(ids[0]).toBe(tk.bosTokenId);
    expect(ids.filter((id) => id === tk.eotTokenId).length).toBe(1);
    expect(tk.decode(ids)).toBe(text);
  });
});

describe('LLAMA3_INSTRUCT_TEMPLATE', () => {
  it("renders Meta's LLaMA-3 instruct format", () => {
    const text = renderChatTemplate(LLAMA3_INSTRUCT_TEMPLATE, conversation.slice(0, 2), { ...LLAMA3, addGenerationPrompt: true });
    expect(text).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });
});

describe('renderChatTemplate', () => {
  it('renders any valid Jinja chat template with the usual variables', () => {
    const chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    expect(renderChatTemplate(chatml, [{ role: 'user', content: 'x' }], { bosToken: '', eosToken: '', addGenerationPrompt: true })).toBe(
      '<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(renderChatTemplate('{{ bos_token }}|{{ eos_token }}', [], { bosToken: 'B', eosToken: 'E', addGenerationPrompt: false })).toBe('B|E');
  });

  it('turns Jinja syntax errors and runtime errors into CHAT_TEMPLATE_ERROR', () => {
    expectTemplateError(() => renderChatTemplate('{% for m in messages %}{{ m.content }', conversation, { ...LLAMA3, addGenerationPrompt: true }));
    expectTemplateError(() => renderChatTemplate('{% if %}{% endif %}', conversation, { ...LLAMA3, addGenerationPrompt: true }));
    expectTemplateError(() => renderChatTemplate("{{ raise_exception('roles must alternate') }}", conversation, { ...LLAMA3, addGenerationPrompt: true }));
  });
});

describe('isUsableChatTemplate', () => {
  it('accepts templates that write every message and rejects placeholders and broken ones', () => {
    expect(isUsableChatTemplate(BITNET_2B4T_TEMPLATE)).toBe(true);
    expect(isUsableChatTemplate(LLAMA3_INSTRUCT_TEMPLATE)).toBe(true);
    expect(isUsableChatTemplate(FALLBACK_TEMPLATE)).toBe(true);
    expect(isUsableChatTemplate('{{ bos_token }}')).toBe(false);
    expect(isUsableChatTemplate("{% for m in messages %}{{ m.role }}: {% endfor %}")).toBe(false);
    expect(isUsableChatTemplate('{% for m in messages %}')).toBe(false);
  });

  it('retries without the system turn for templates that refuse one', () => {
    const noSystem =
      "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system role') }}{% endif %}<{{ m.role }}>{{ m.content }}{% endfor %}";
    expect(isUsableChatTemplate(noSystem)).toBe(true);
  });
});

describe('chooseChatTemplate', () => {
  let llama3Vocab: [string, GgufValue][];
  beforeAll(() => {
    llama3Vocab = llama3GgufMetadataEntries();
  });
  const str = (value: string): GgufValue => ({ type: 8, value });
  const goodTemplate = "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}";

  it('uses the built-in BitNet format for bitnet-b1.58 / bitnet-25 when the file has no template or a placeholder', () => {
    for (const arch of ['bitnet-b1.58', 'bitnet-25']) {
      expect(chooseChatTemplate(new Map(llama3Vocab), arch)).toEqual({ source: BITNET_2B4T_TEMPLATE, origin: 'builtin-bitnet-2b4t', guessed: false });
      const placeholder = new Map([...llama3Vocab, ['tokenizer.chat_template', str('{{ bos_token }}')]]);
      expect(chooseChatTemplate(placeholder, arch).origin).toBe('builtin-bitnet-2b4t');
    }
  });

  it('uses a usable GGUF template for other architectures', () => {
    for (const arch of ['llama', 'bitnet']) {
      const meta = new Map([...llama3Vocab, ['tokenizer.chat_template', str(goodTemplate)]]);
      expect(chooseChatTemplate(meta, arch)).toEqual({ source: goodTemplate, origin: 'gguf', guessed: false });
    }
  });

  it('for bitnet-b1.58 uses an embedded template only when it renders exactly the official format', () => {
    const equivalent =
      "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}System: {% elif m.role == 'user' %}User: {% else %}Assistant: {% endif %}" +
      "{{ m.content | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}Assistant: {% endif %}";
    const withEquivalent = new Map([...llama3Vocab, ['tokenizer.chat_template', str(equivalent)]]);
    expect(chooseChatTemplate(withEquivalent, 'bitnet-b1.58')).toEqual({ source: equivalent, origin: 'gguf', guessed: false });
    // Renders every message, but not in the 2B-4T format (no 'Assistant: ' prompt): the built-in wins.
    for (const other of [goodTemplate, LLAMA3_INSTRUCT_TEMPLATE, BITNET_2B4T_TEMPLATE.replace("'Assistant: '", "'Assistant:'")]) {
      const meta = new Map([...llama3Vocab, ['tokenizer.chat_template', str(other)]]);
      expect(chooseChatTemplate(meta, 'bitnet-b1.58').origin).toBe('builtin-bitnet-2b4t');
    }
  });

  it('falls back to LLaMA-3 for a LLaMA-3 vocabulary and to a plain format otherwise, both as guesses', () => {
    const broken = new Map([...llama3Vocab, ['tokenizer.chat_template', str('{% for %}')]]);
    expect(chooseChatTemplate(broken, 'llama')).toEqual({ source: LLAMA3_INSTRUCT_TEMPLATE, origin: 'builtin-llama3', guessed: true });
    const spm = new Map<string, GgufValue>([['tokenizer.ggml.tokens', { type: 9, elementType: 8, value: ['<unk>', '<s>', '</s>', 'a'] }]]);
    expect(chooseChatTemplate(spm, 'bitnet')).toEqual({ source: FALLBACK_TEMPLATE, origin: 'builtin-fallback', guessed: true });
    expect(chooseChatTemplate(new Map(), 'llama').origin).toBe('builtin-fallback');
  });

  it('prefers an override, and reports a broken override at once', () => {
    const meta = new Map([...llama3Vocab, ['tokenizer.chat_template', str(goodTemplate)]]);
    expect(chooseChatTemplate(meta, 'bitnet-b1.58', LLAMA3_INSTRUCT_TEMPLATE)).toEqual({ source: LLAMA3_INSTRUCT_TEMPLATE, origin: 'override', guessed: false });
    expectTemplateError(() => chooseChatTemplate(meta, 'llama', '{% if x %}'));
  });
});
