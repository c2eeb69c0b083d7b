// Hostile chat templates (a GGUF's tokenizer.chat_template is untrusted): runaway loops, huge ranges, recursion and
// string blow-ups end in CHAT_TEMPLATE_ERROR quickly; probing such a template while choosing one never throws.

import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../../src/errors.js';
import type { ChatMessage } from '../../src/engine/types.js';
import type { GgufValue } from '../../src/gguf/types.js';
import { MAX_TEMPLATE_RANGE, chooseChatTemplate, isUsableChatTemplate, renderChatTemplate } from '../../src/tokenizer/chat-template.js';

const MESSAGES: ChatMessage[] = [{ role: 'user', content: 'Hi' }];
const OPTS = { bosToken: '<s>', eosToken: '</s>', addGenerationPrompt: true };

/** The error code of rendering `template`. */
function renderCode(template: string): { code: string } {
  try {
    renderChatTemplate(template, MESSAGES, OPTS);
    return { code: 'ok' };
  } catch (e) {
    return { code: isBitNetError(e) ? e.code : `not a BitNetError: ${String(e)}` };
  }
}

// No timing assertions (speed is for benchmarks): unbounded, these templates run for minutes or kill the
// process, so the test timeout is what catches a hang.

describe('hostile chat templates', () => {
  // Fuzz finding (target 'chat-template'): range(169220804) ended the process with V8's fatal "invalid size error";
  // range(1000000000) ran out of memory.
  it.each([
    ['{% for i in range(1000000000) %}{% endfor %}x'],
    ['{% set ns = namespace(range(169220804)n=0) %}{{ ns.n }}'],
    [`{{ range(${MAX_TEMPLATE_RANGE + 1}) | length }}`],
    ['{{ range(0, 10**12, 3) | length }}'],
    ['{{ range(-1, -1000000000, -1) | length }}'],
  ])('%s: a range beyond the limit is CHAT_TEMPLATE_ERROR', (template) => {
    const r = renderCode(template);
    expect(r.code).toBe('CHAT_TEMPLATE_ERROR');
  });

  it('small ranges still work as in Jinja (start, stop, step, negative step)', () => {
    expect(renderChatTemplate('{% for i in range(3) %}{{ i }}{% endfor %}|{{ range(2, 9, 3) | join(",") }}|{{ range(3, 0, -1) | join(",") }}', MESSAGES, OPTS)).toBe(
      '012|2,5,8|3,2,1',
    );
    expect(renderChatTemplate(`{{ range(${MAX_TEMPLATE_RANGE}) | length }}`, MESSAGES, OPTS)).toBe(String(MAX_TEMPLATE_RANGE));
  });

  it.each([
    ['nested loops', '{% for i in range(100000) %}{% for j in range(100000) %}{{ "" }}{% endfor %}{% endfor %}'],
    ['a loop over a long literal, nested', `{% for a in '${'x'.repeat(2000)}' %}{% for b in '${'y'.repeat(2000)}' %}{% endfor %}{% endfor %}`],
    ['endless recursion', '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}'],
    ['string doubling', "{% set ns = namespace(x='ab') %}{% for i in range(64) %}{% set ns.x = ns.x + ns.x %}{% endfor %}{{ ns.x | length }}"],
    ['raise_exception', "{{ raise_exception('no') }}"],
  ])('%s ends in CHAT_TEMPLATE_ERROR quickly', (_name, template) => {
    const r = renderCode(template);
    expect(r.code).toBe('CHAT_TEMPLATE_ERROR');
  });

  it('strftime_now and the Python-style constants are still defined', () => {
    const text = renderChatTemplate('{{ strftime_now("%Y") }}|{{ True }}{{ none is none }}|{{ strftime_now("%%") }}', MESSAGES, OPTS);
    expect(text).toBe(`${new Date().getFullYear()}|truetrue|%`);
  });

  it('a GGUF with a hostile embedded template falls back to a built-in one without throwing', () => {
    const meta = new Map<string, GgufValue>([['tokenizer.chat_template', { type: 8, value: '{% for i in range(1000000000) %}{% endfor %}{{ messages }}' }]]);
    expect(isUsableChatTemplate('{% for i in range(1000000000) %}{% endfor %}')).toBe(false);
    expect(chooseChatTemplate(meta, 'llama').origin).toBe('builtin-fallback');
    expect(chooseChatTemplate(meta, 'bitnet-b1.58').origin).toBe('builtin-bitnet-2b4t');
  });
});
