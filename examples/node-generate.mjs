// The README's library example, kept identical to it (test/readme-example.test.ts checks and runs it).
// Run after `npm run build`: node examples/node-generate.mjs model.gguf
// (no model at hand? `node bin/bitnet.js synth --shape tiny -o tiny.gguf` writes a small random-weight one).
import { BitNet } from 'bitnet-engine';

const model = await BitNet.load(process.argv[2] ?? 'model.gguf', { backend: 'auto' });
try {
  for await (const piece of model.generate('Hello', { maxTokens: 32, sampling: { kind: 'greedy' } })) {
    process.stdout.write(piece.text);
  }
} finally {
  await model.dispose();
}
