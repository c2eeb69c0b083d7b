// `bitnet chat`: an interactive chat on the terminal with history, /clear and /exit. When the history outgrows the
// context, the oldest turns are dropped (the system prompt stays); Ctrl-C interrupts a reply, not the chat.

import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { ChatMessage } from '../../engine/types.js';
import type { BitNet } from '../../engine/bitnet.js';
import { isBitNetError } from '../../errors.js';
import { loadModelFromFlags } from '../load-model.js';
import { interruptOnSigint } from '../interrupt.js';
import { addModelFlags, addSamplingFlags, modelArgsFromFlags, nPredictFromFlag, samplingFromFlags, type ModelFlags, type SamplingFlags } from '../options.js';

interface ChatFlags extends ModelFlags, SamplingFlags {
  system?: string;
  nPredict?: string;
}

/**
 * The history to send: the system message and the latest turns whose rendered prompt leaves `reserve` tokens of
 * the context for the reply. Drops whole user/assistant pairs from the oldest; `dropped` counts the messages removed.
 * Returns undefined when even the last user message alone does not fit.
 */
export function fitHistory(model: Pick<BitNet, 'chatTokens'>, history: readonly ChatMessage[], contextLength: number, reserve: number): { messages: ChatMessage[]; dropped: number } | undefined {
  const system = history[0]?.role === 'system' ? [history[0]] : [];
  let turns = history.slice(system.length);
  let dropped = 0;
  for (;;) {
    const messages = [...system, ...turns];
    if (model.chatTokens(messages).length + reserve <= contextLength) return { messages, dropped };
    if (turns.length <= 1) return undefined;
    // drop the oldest message, and its reply with it, so the history still starts with a user turn
    const n = turns.length >= 2 && turns[1].role === 'assistant' ? 2 : 1;
    turns = turns.slice(n);
    dropped += n;
  }
}

export function register(program: Command): void {
  const cmd = program.command('chat').description('interactive chat (type /clear to forget, /exit to quit)');
  addModelFlags(cmd);
  addSamplingFlags(cmd);
  cmd
    .option('--system <text>', 'system prompt', 'You are a helpful assistant.')
    .option('-n, --n-predict <n>', 'max new tokens per reply (-1 = until the context is full)', '256')
    .action(async (f: ChatFlags) => {
      const log = (line: string): void => void process.stderr.write(`${line}\n`);
      const { sampling, seed } = samplingFromFlags(f);
      const nPredict = nPredictFromFlag(f.nPredict, 256);
      const modelArgs = await modelArgsFromFlags(f);
      const model = await loadModelFromFlags(modelArgs, log);
      const ctx = model.info.contextLength;
      const maxTokens = nPredict === -1 ? ctx : nPredict;
      // room kept for each reply when old turns must go: the reply's budget, but never more than half the context
      const reserve = Math.max(1, Math.min(maxTokens, Math.floor(ctx / 2)));
      const system: ChatMessage = { role: 'system', content: f.system ?? '' };
      let history: ChatMessage[] = [system];
      const rl = createInterface({ input: process.stdin, terminal: process.stdin.isTTY });
      log('chat ready: /clear forgets the conversation, /exit quits, Ctrl-C interrupts a reply');
      try {
        // Iterating the interface buffers lines that arrive while a reply is being generated (piped input).
        process.stdout.write('> ');
        for await (const line of rl) {
          const text = line.trim();
          if (text === '/exit' || text === '/quit') break;
          if (text === '/clear') {
            history = [system];
            log('(conversation cleared)');
            process.stdout.write('> ');
            continue;
          }
          if (text === '') {
            process.stdout.write('> ');
            continue;
          }
          const fitted = fitHistory(model, [...history, { role: 'user', content: text }], ctx, reserve);
          if (fitted === undefined) {
            log(`(that message is too long for the context of ${ctx} tokens; not sent)`);
            process.stdout.write('> ');
            continue;
          }
          if (fitted.dropped > 0) log(`(the conversation outgrew the context of ${ctx} tokens: forgot the ${fitted.dropped} oldest messages)`);
          history = fitted.messages;
          const interrupt = interruptOnSigint();
          let reply = '';
          try {
            for await (const piece of model.chat(history, { maxTokens, sampling, ...(seed === undefined ? {} : { seed }), signal: interrupt.signal })) {
              reply += piece.text;
              process.stdout.write(piece.text);
            }
          } catch (e) {
            if (!isBitNetError(e, 'ABORTED')) throw e;
            log('\n(interrupted)');
          } finally {
            interrupt.dispose();
          }
          process.stdout.write('\n> ');
          history.push({ role: 'assistant', content: reply });
        }
      } finally {
        rl.close();
        await model.dispose();
      }
    });
}
