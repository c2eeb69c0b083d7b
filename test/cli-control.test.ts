// The CLI as a user drives it: every flag is checked before a model loads, Ctrl-C stops a running command within
// a token, the chat survives a history longer than its context, and environment mistakes are errors, not traces.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tinyModel } from './helpers/tiny-models.js';
import { tempDir } from './helpers/temp-dir.js';

const bin = join(import.meta.dirname, '..', 'bin', 'bitnet.js');
const dir = tempDir('bitnet-cli-control-');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `onStdout` may act on the child (send a signal) as output arrives. */
function cli(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; onStdout?: (all: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (opts.input === undefined) child.stdin.end();
    else child.stdin.end(opts.input);
  });
}

describe('arguments are checked before anything loads', () => {
  const cases: [string, string[], RegExp][] = [
    ['negative -n below -1', ['-n', '-2'], /--n-predict/],
    ['a negative temperature', ['--temp', '-1'], /--temp/],
    ['zero threads', ['--threads', '0'], /--threads/],
    ['negative threads', ['--threads', '-2'], /--threads/],
    ['more threads than cores', ['--threads', '1000'], /--threads: expected 1\.\.\d+/],
    ['top-p above 1', ['--top-p', '2'], /--top-p/],
    ['min-p above 1', ['--min-p', '1.5'], /--min-p/],
    ['a zero repeat penalty', ['--repeat-penalty', '0'], /--repeat-penalty/],
    ['a negative seed', ['--seed', '-1'], /--seed/],
    ['an unknown backend', ['--backend', 'bogus'], /--backend/],
    ['a zero context', ['-c', '0'], /--ctx/],
    ['a missing chat template file', ['--chat-template', '/nonexistent/template.jinja'], /IO_ERROR.*--chat-template.*no such file/],
    ['a model that is a directory', ['-m', '/tmp'], /IO_ERROR.*not a file/],
    ['an output in a missing directory', ['--dump-logits', '/nonexistent/dir/out.bin'], /IO_ERROR.*--dump-logits/],
  ];
  it.each(cases)('run refuses %s with a typed error, exit 1, no model load, no stack trace', async (_name, flags, message) => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const hasModel = flags.includes('-m');
    const r = await cli(['run', ...(hasModel ? [] : ['-m', model]), '-p', 'Hello', ...flags]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^bitnet: error \[[A-Z_]+\]: /m);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/loaded |internal error|\n\s+at /);
    expect(r.stdout).toBe(''); // the prompt is not echoed either
  });

  it('chat and serve check their flags before loading too', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const c = await cli(['chat', '-m', model, '--temp', '-1'], { input: 'Hi\n' });
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/--temp/);
    expect(c.stderr).not.toMatch(/loaded /);
    const s = await cli(['serve', '-m', model, '--port', '0', '--threads', '0']);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/--threads/);
    expect(s.stdout).not.toMatch(/listening/);
  });

  it('a prompt longer than the context is refused before the weights load and before any echo', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const r = await cli(['run', '-m', model, '-p', 'word '.repeat(4000), '-n', '4']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CONTEXT_OVERFLOW.*the prompt has \d+ tokens; the context holds 256/);
    expect(r.stderr).not.toMatch(/loaded /);
    expect(r.stdout).toBe('');
  });

  it('-n -1 generates until the context is full', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const r = await cli(['run', '-m', model, '-p', 'Hello', '-n', '-1', '--temp', '0', '-c', '24']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\[length\] prompt (\d+) tok/);
    const [, prompt, generated] = /prompt (\d+) tok.* (\d+) generated/.exec(r.stderr) ?? [];
    expect(Number(prompt) + Number(generated)).toBe(25); // the last sampled token needs no cache slot
  });

  it('an unwritable cache directory for the demo model is an IO_ERROR naming the directory and the way out', async () => {
    const r = await cli(['run', '-n', '1'], { env: { XDG_CACHE_HOME: '/etc/hostname', BITNET_CACHE_DIR: '' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/IO_ERROR.*\/etc\/hostname\/bitnet.*BITNET_CACHE_DIR/);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  });
});

describe('Ctrl-C', () => {
  it('SIGINT during `run` stops the generation within a token and exits 130 with the text so far', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    let sentAt = 0;
    let tokensAtSignal = 0;
    // the scalar reference backend takes ~0.1 s a token: a 250-token run would last ~25 s without cancellation
    const r = await cli(['run', '-m', model, '-p', 'Once', '-n', '250', '--temp', '0', '--backend', 'reference'], {
      onStdout: (all, child) => {
        if (sentAt === 0 && all.length > 'Once'.length + 8) {
          sentAt = performance.now();
          tokensAtSignal = all.length;
          child.kill('SIGINT');
        }
      },
    });
    const afterSignalMs = performance.now() - sentAt;
    expect(sentAt).toBeGreaterThan(0);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/\(interrupted\)/);
    expect(r.stderr).not.toMatch(/\[length\]/);
    expect(r.stdout.length).toBeGreaterThanOrEqual(tokensAtSignal);
    expect(afterSignalMs).toBeLessThan(15_000);
  });

  it('SIGINT during a chat reply interrupts the reply and the chat goes on', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    let sent = false;
    const r = await cli(['chat', '-m', model, '-n', '250', '--temp', '0', '--backend', 'reference'], {
      input: 'Tell me a story\n',
      onStdout: (all, child) => {
        if (!sent && all.length > 20) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(0); // stdin ended after the interrupted reply: the chat exits normally
    expect(r.stderr).toMatch(/\(interrupted\)/);
  });
});

describe('chat history', () => {
  it('drops the oldest turns when the conversation outgrows the context, instead of dying', async () => {
    const model = await tinyModel('bitnet-b1.58', 'i2_s');
    const r = await cli(['chat', '-m', model, '-n', '100', '--temp', '0'], { input: 'Hi there how are you\nTell me a story\nAnd another one please\nmore\n/exit\n' });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/outgrew the context of 256 tokens: forgot the \d+ oldest messages/);
    expect(r.stderr).not.toMatch(/CONTEXT_OVERFLOW|error/);
    expect(r.stdout.split('> ').length).toBeGreaterThanOrEqual(5);
  });
});

void dir;
