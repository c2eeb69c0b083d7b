// NaN / Inf inside plain float weights (F16 projections, F16 embeddings) are refused at load on every backend.

import { copyFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BitNet } from '../../src/engine/bitnet.js';
import { isBitNetError } from '../../src/errors.js';
import { openGguf } from '../../src/gguf/reader.js';
import { tinyModel } from '../helpers/tiny-models.js';
import { tempDir } from '../helpers/temp-dir.js';

const dir = tempDir('bitnet-float-nan-');

async function poisoned(from: string, tensor: string, element: number, bits: number): Promise<string> {
  const { source, header } = await openGguf(from);
  await source.close?.();
  const t = header.tensors.find((x) => x.name === tensor);
  if (t === undefined) throw new Error(`no tensor ${tensor}`);
  const path = join(dir, `${tensor}-${element}-${bits}.gguf`);
  copyFileSync(from, path);
  const fd = openSync(path, 'r+');
  writeSync(fd, new Uint8Array([bits & 0xff, bits >> 8]), 0, 2, t.byteOffset + 2 * element);
  closeSync(fd);
  return path;
}

describe('non-finite float weights', () => {
  for (const backend of ['reference', 'wasm'] as const) {
    it(`a NaN in an F16 projection and an Inf in an F16 embedding are BAD_TENSOR_DATA (${backend})`, async () => {
      const model = await tinyModel('bitnet-b1.58', 'f16', 'f16');
      for (const [tensor, element, bits] of [
        ['blk.1.ffn_up.weight', 777, 0x7e00],
        ['token_embd.weight', 12345, 0xfc00],
      ] as const) {
        const path = await poisoned(model, tensor, element, bits);
        const err = await BitNet.load(path, { backend }).then(
          async (m) => {
            await m.dispose();
            return undefined;
          },
          (e: unknown) => e,
        );
        expect(isBitNetError(err, 'BAD_TENSOR_DATA'), String(err)).toBe(true);
        expect(String(err)).toContain(tensor);
        expect(String(err)).toContain(`element ${element}`);
      }
    });
  }
});
