// Tests of what the bench reads from a model file's header: the output matrix's type and the named shape it has.

import { describe, expect, it } from 'vitest';
import { tinyModel } from '../../test/helpers/tiny-models.js';
import { describeModelFile } from './models.js';

describe('describeModelFile', () => {
  it('names the output matrix type (the tied embedding here) and the synthetic shape the dimensions match', async () => {
    for (const [embedType, outputType] of [['q8_0', 'Q8_0'], ['f16', 'F16']] as const) {
      const info = await describeModelFile(await tinyModel('bitnet-b1.58', 'i2_s', embedType));
      expect(info).toMatchObject({ arch: 'bitnet-b1.58', weightType: 'I2_S', outputType, shape: 'tiny', vocabSize: 128256 });
    }
    expect(await describeModelFile(await tinyModel('bitnet', 'tq2_0'))).toMatchObject({ weightType: 'TQ2_0', outputType: 'Q8_0', shape: 'tiny' });
  });
});
