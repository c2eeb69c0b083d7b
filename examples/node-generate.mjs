// Stream a completion with the library API. Run after `npm run build`:
//   node examples/node-generate.mjs [model.gguf] ["prompt"]
// With no model, a tiny synthetic model (random weights: gibberish text) is generated in a temp dir.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BitNet } from '../dist/src/index.js';
import { synthesizeModel } from '../dist/src/synth.js';

let path = process.argv[2];
if (path === undefined) {
  path = join(await mkdtemp(join(tmpdir(), 'bitnet-example-')), 'tiny.gguf');
  await synthesizeModel({ shape: 'tiny', arch: 'bitnet-b1.58', weightType: 'i2_s', embedType: 'q8_0', seed: 1, path });
}
const model = await BitNet.load(path, { backend: 'auto' });
try {
  console.error(`loaded ${model.info.name} on ${model.info.backend}/${model.info.kernelSet} x${model.info.threads}`);
  for await (const piece of model.generate(process.argv[3] ?? 'The meaning of life is', { maxTokens: 32, sampling: { kind: 'sample', temperature: 0.8, topP: 0.95 }, seed: 42 })) {
    process.stdout.write(piece.text);
    if (piece.finish) console.error(`\n[${piece.finish.reason}] ${piece.finish.timings.decodeTokPerS.toFixed(1)} tok/s decode`);
  }
} finally {
  await model.dispose();
}
