// Times what a model load spends on the tokenizer: the GGUF header read (metadata included), createTokenizer, and
// the BPE encoder's constructor alone, and, given a build of an older tree, that constructor there, alternately, with
// medians (issue 10). Not a test.
//
//   npm run build && node bin/bitnet.js synth --shape tiny -o /tmp/x.gguf
//   node dist/bench/tokenizer-load.js /tmp/x.gguf [--runs 9] [--baseline base.mjs]
//
// --baseline names an ES module exporting the older tree's BpeEncoder; the encoders' tokens for a sample text must
// agree or the run stops.

import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { openFileSource } from '../src/gguf/byte-source.js';
import { readGgufHeader } from '../src/gguf/reader.js';
import { BpeEncoder } from '../src/tokenizer/bpe.js';
import { choosePreTokenizer } from '../src/tokenizer/pre-tokenizer.js';
import type { PreTokenizerRules } from '../src/tokenizer/pre-tokenizer.js';
import { createTokenizer } from '../src/tokenizer/tokenizer.js';
import { metaString, metaStringArray, readVocab } from '../src/tokenizer/vocab.js';
import type { Vocab } from '../src/tokenizer/vocab.js';

interface Encoder {
  encode(text: string, out: number[]): void;
}
type EncoderClass = new (vocab: Vocab, merges: readonly string[], rules: PreTokenizerRules) => Encoder;

const SAMPLE = 'Hello world! The quick brown fox jumps over the lazy dog. 12345 ünïcödé 日本語 🙂\n\tcode: x += 1;';

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

function timed<T>(f: () => T, into: number[]): T {
  const t0 = performance.now();
  const result = f();
  into.push(performance.now() - t0);
  return result;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string', default: '9' }, baseline: { type: 'string' } } });
  const [path] = positionals;
  if (path === undefined) throw new Error('usage: tokenizer-load.js FILE.gguf [--runs N] [--baseline base.mjs]');
  const runs = Number(values.runs);
  const Baseline = values.baseline === undefined ? undefined : ((await import(pathToFileURL(values.baseline).href)) as { BpeEncoder: EncoderClass }).BpeEncoder;
  const src = await openFileSource(path);
  const header = await readGgufHeader(src);
  const meta = header.metadata;
  const vocab = readVocab(meta, { bos: ['<|begin_of_text|>'], eos: ['<|end_of_text|>'], unk: [] });
  const merges = metaStringArray(meta, 'tokenizer.ggml.merges') ?? [];
  const rules = choosePreTokenizer({ filePre: metaString(meta, 'tokenizer.ggml.pre'), llama3Vocabulary: true, requested: undefined }).rules;
  const t = { header: [] as number[], create: [] as number[], before: [] as number[], after: [] as number[] };
  console.log(`${vocab.tokens.length} tokens, ${merges.length} merges; ${runs} runs, medians in ms; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at start`);
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await readGgufHeader(src);
    t.header.push(performance.now() - t0);
    timed(() => createTokenizer(meta), t.create);
    const ours = timed(() => new BpeEncoder(vocab, merges, rules), t.after);
    if (Baseline !== undefined) {
      const old = timed(() => new Baseline(vocab, merges, rules), t.before);
      if (r === 0) {
        const [a, b]: number[][] = [[], []];
        ours.encode(SAMPLE, a);
        old.encode(SAMPLE, b);
        if (a.join() !== b.join()) throw new Error(`the encoders disagree: ${a.join()} vs ${b.join()}`);
      }
    }
  }
  await src.close?.();
  console.log(`readGgufHeader (metadata included)     ${median(t.header).toFixed(1)}`);
  console.log(`createTokenizer                        ${median(t.create).toFixed(1)}`);
  if (Baseline !== undefined) console.log(`new BpeEncoder, before                 ${median(t.before).toFixed(1)}`);
  console.log(`new BpeEncoder${Baseline === undefined ? '' : ', after '}                 ${median(t.after).toFixed(1)}${Baseline === undefined ? '' : `  (${(median(t.before) / median(t.after)).toFixed(1)}x)`}`);
  console.log(`load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

await main();
