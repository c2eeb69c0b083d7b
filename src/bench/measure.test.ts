// Tests of how a measurement reports a backend that cannot start or fails (the engine is mocked: no benchmark runs here).

import { describe, expect, it, vi } from 'vitest';
import { BitNetError } from '../errors.js';
import type { ModelFileInfo } from './models.js';

const loadError = vi.hoisted(() => ({ current: undefined as unknown }));
vi.mock('../engine/bitnet.js', () => ({
  BitNet: {
    load: () => Promise.reject(loadError.current),
  },
}));

const { measureBitnet, measureLlamaCpp } = await import('./measure.js');

const file: ModelFileInfo = { path: '/nowhere/m.gguf', fileBytes: 123, arch: 'bitnet-b1.58', weightType: 'I2_S', vocabSize: 128256, outputType: 'Q8_0', shape: null, weightBytesPerToken: 100, llamaCppRefusal: '' };
const spec = { file, threads: 2, runs: 1, pp: 8, tg: 2, log: () => undefined };

describe('measureBitnet failure rows', () => {
  it('reports an unavailable backend as such, with the reason, and no numbers', async () => {
    loadError.current = new BitNetError('BACKEND_UNAVAILABLE', 'the wasm backend could not start: not built');
    const { row, receipt } = await measureBitnet({ ...spec, backend: 'wasm' });
    expect(receipt).toBeUndefined();
    expect(row).toMatchObject({ engine: 'bitnet', backend: 'wasm', threads: 2, file: 'm.gguf', weightType: 'I2_S', fileBytes: 123, status: 'unavailable', prefillTokS: null, decodeTokS: null });
    expect(row.error).toContain('not built');
  });

  it('reports any other failure as an error row', async () => {
    loadError.current = new BitNetError('GGUF_TRUNCATED', 'file ends early');
    const { row } = await measureBitnet({ ...spec, backend: 'reference' });
    expect(row.status).toBe('error');
    expect(row.error).toBe('file ends early');
  });

  it('lets an abort through', async () => {
    loadError.current = new BitNetError('ABORTED', 'model load was aborted');
    await expect(measureBitnet({ ...spec, backend: 'wasm' })).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('measureLlamaCpp', () => {
  it('does not try a file llama.cpp cannot read, and says why', async () => {
    const row = await measureLlamaCpp({ ...spec, file: { ...file, llamaCppRefusal: "arch 'bitnet-b1.58' exists only in bitnet.cpp" } });
    expect(row).toMatchObject({ engine: 'llama.cpp', status: 'unavailable', prefillTokS: null });
    expect(row.error).toContain("arch 'bitnet-b1.58' exists only in bitnet.cpp");
  });
});
