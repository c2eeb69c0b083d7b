import { describe, expect, it } from 'vitest';
import { seededRng } from '../../test/kernels/seeded-rng.js';
import { isBitNetError } from '../errors.js';
import type { KernelBackend } from '../kernels/backend.js';
import { createReferenceBackend } from '../kernels/reference/index.js';
import { createSampler } from '../sampling/sampler.js';
import type { SamplingConfig } from '../sampling/types.js';
import { logitsRead, nextToken } from './logits-read.js';

/** The reference backend as a deferred device would look: no live view, so reads go through read/argmax/topK. */
function withoutView(be: KernelBackend): KernelBackend {
  return new Proxy(be, {
    get(target, prop, receiver): unknown {
      if (prop === 'view') return undefined;
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('the engine reads only what sampling needs, and picks what sampler.sample on the whole row picks', () => {
  const vocab = 5000;
  const configs: [string, SamplingConfig, number, string][] = [
    ['greedy', { kind: 'greedy' }, 0, 'argmax'],
    ['greedy with a repetition penalty', { kind: 'greedy', penalties: { repetition: 1.3 } }, 0, 'row'],
    ['greedy with logprobs', { kind: 'greedy' }, 3, 'row'],
    ['top-k 40 then top-p 0.9', { kind: 'sample', temperature: 0.8, topK: 40, topP: 0.9 }, 0, 'row'],
    ['top-p only', { kind: 'sample', temperature: 1, topP: 0.5 }, 0, 'row'],
  ];
  for (const [label, sampling, topLogprobs, expectedRead] of configs) {
    it(label, async () => {
      const cpu = createReferenceBackend();
      const device = withoutView(createReferenceBackend());
      expect(logitsRead(sampling, topLogprobs)).toBe(expectedRead);
      const rng = seededRng(77);
      for (let step = 0; step < 20; step++) {
        const logits = rng.f32(vocab, -8, 8);
        logits[rng.int(0, vocab - 1)] = logits[rng.int(0, vocab - 1)]; // a tie somewhere
        const history = [rng.int(0, vocab - 1), rng.int(0, vocab - 1)];
        const want = createSampler(sampling, 1000 + step, vocab).sample(logits, history);
        for (const be of [cpu, device]) {
          const t = be.alloc(vocab);
          be.write(t, logits);
          const id = await nextToken(be, logitsRead(sampling, topLogprobs), createSampler(sampling, 1000 + step, vocab), t, history);
          expect(id, `${be === cpu ? 'cpu' : 'device'} step ${step}`).toBe(want);
        }
      }
    });
  }

  it('a NaN logit under greedy decoding is reported as the sampler reports it (argmax gives -1, the row is read)', async () => {
    const be = withoutView(createReferenceBackend());
    const logits = new Float32Array(10).fill(1);
    logits[4] = NaN;
    const t = be.alloc(10);
    be.write(t, logits);
    let err: unknown;
    try {
      await nextToken(be, 'argmax', createSampler({ kind: 'greedy' }, 1, 10), t, []);
    } catch (e) {
      err = e;
    }
    expect(isBitNetError(err, 'BAD_ARGUMENT') && /logits\[4\] is NaN/.test(err.message)).toBe(true);
  });
});
