// Mini models with an untied token embedding (their own output.weight) and their tied twins: the same bytes in both
// roles, so the two give the same logits bit for bit when the untied table is read on the host (WeightInfo.lookupOnly).

import { GgmlType } from '../../src/formats/ggml-type.js';
import { quantizeF16 } from '../../src/formats/f16.js';
import { quantizeQ6_K } from '../../src/formats/q6_k.js';
import { quantizeQ8_0 } from '../../src/formats/q8_0.js';
import { MINI, MINI_VOCAB_SIZE, miniSpec, setTensor, values, type MiniSpec } from '../hostile/mini-model.js';

const QUANT = { F16: [GgmlType.F16, quantizeF16], Q8_0: [GgmlType.Q8_0, quantizeQ8_0], Q6_K: [GgmlType.Q6_K, quantizeQ6_K] } as const;
export type EmbedType = keyof typeof QUANT;

/** The mini model with its embedding in `type`: tied, or untied with output.weight holding the same bytes. */
export function untiedSpecs(type: EmbedType): { tied: MiniSpec; untied: MiniSpec } {
  const [ggml, quantize] = QUANT[type];
  const data = quantize(values(MINI.hidden * MINI_VOCAB_SIZE, 7));
  const withEmbedding = (): MiniSpec => setTensor(miniSpec(), 'token_embd.weight', (t) => ({ ...t, type: ggml, data }));
  const untied = withEmbedding();
  untied.tensors.push({ name: 'output.weight', dims: [MINI.hidden, MINI_VOCAB_SIZE], type: ggml, data: data.slice() });
  return { tied: withEmbedding(), untied };
}

