// `bitnet chat`: an interactive chat on the terminal with history, /clear and /exit.

import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { ChatMessage } from '../../engine/types.js';
import { isBitNetError } from '../../errors.js';
import { loadModelFromFlags } from '../load-model.js';
import { addModelFlags, addSamplingFlags, num, samplingFromFlags, type ModelFlags, type SamplingFlags } from '../options.js';

interface ChatFlags extends ModelFlags, SamplingFlags {
  system?: string;
  nPredict?: string;
}

export function register(program: Command): void {
  const cmd = program.command('chat').description('interactive chat (type /clear to forget, /exit to quit)');
  addModelFlags(cmd);
  addSamplingFlags(cmd);
  cmd
    .option('--system <text>', 'system prompt', 'You are a helpful assistant.')
    .option('-n, --n-predict <n>', 'max new tokens per reply', '256')
    .action(async (f: ChatFlags) => {
      const log = (line: string): void => void process.stderr.write(`${line}\n`);
      const model = await loadModelFromFlags(f, log);
      const { sampling, seed } = samplingFromFlags(f);
      const system: ChatMessage = { role: 'system', content: f.system ?? '' };
      let history: ChatMessage[] = [system];
      const rl = createInterface({ input: process.stdin, terminal: process.stdin.isTTY });
      log('chat ready: /clear forgets the conversation, /exit quits');
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
          history.push({ role: 'user', content: text });
          const ac = new AbortController();
          const onSigint = (): void => ac.abort();
          process.once('SIGINT', onSigint);
          let reply = '';
          try {
            for await (const piece of model.chat(history, { maxTokens: num('n-predict', f.nPredict, true) ?? 256, sampling, ...(seed === undefined ? {} : { seed }), signal: ac.signal })) {
              reply += piece.text;
              process.stdout.write(piece.text);
            }
          } catch (e) {
            if (!isBitNetError(e, 'ABORTED')) throw e;
            log('\n(interrupted)');
          } finally {
            process.off('SIGINT', onSigint);
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
