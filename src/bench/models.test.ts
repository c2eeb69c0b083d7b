// Tests of what the bench reads from a model file's header: the output matrix's type and the named shape it has.

import { describe, expect, it } from 'vitest';
import { tinyModel } from '../../test/helpers/tiny-models.js';
import { benchLayoutOf, describeModelFile } from './models.js';

describe('describeModelFile', () => {
  it('names the output matrix type (the tied embedding here) and the synthetic shape the dimensions match', async () => {
    for (const [embedType, outputType] of [['q8_0', 'Q8_0'], ['f16', 'F16']] as const) {
      const info = await describeModelFile(await tinyModel('bitnet-b1.58', 'i2_s', embedType));
      expect(info).toMatchObject({ arch: 'bitnet-b1.58', weightType: 'I2_S', outputType, shape: 'tiny', vocabSize: 128256 });
    }
    expect(await describeModelFile(await tinyModel('bitnet', 'tq2_0'))).toMatchObject({ weightType: 'TQ2_0', outputType: 'Q8_0', shape: 'tiny' });
  });
});

describe('benchLayoutOf', () => {
  it('writes the BitNet b1.58 shapes tied (2B-4T as published) and 8b as Llama3-8B-1.58 is: llama arch, untied output', () => {
    expect(benchLayoutOf('2b-4t')).toEqual({ ours: 'bitnet-b1.58', peer: 'bitnet', untied: false });
    expect(benchLayoutOf('tiny')).toEqual({ ours: 'bitnet-b1.58', peer: 'bitnet', untied: false });
    expect(benchLayoutOf('8b')).toEqual({ ours: 'llama', peer: 'llama', untied: true });
  });
});
