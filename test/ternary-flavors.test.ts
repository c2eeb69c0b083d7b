// Every I2_S flavor and TL1 / TL2 against the x86 I2_S file of the same weights: the loader repacks them into x86
// I2_S, so the logits must be bit-identical; and what goes wrong when the layout is guessed wrong or missing.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import type { LoadOptions } from '../src/engine/types.js';
import { isBitNetError } from '../src/errors.js';
import { openGguf } from '../src/gguf/reader.js';
import type { KernelBackend, Weight } from '../src/kernels/backend.js';
import { createReferenceBackend } from '../src/kernels/reference/index.js';
import { modelConfigFromGguf } from '../src/model/config.js';
import { loadWeights } from '../src/model/weights.js';
import { flavorDir, flavorFile, TL1_INI, TL1_TILES, TL2_TILES, type FlavorTarget } from './helpers/flavor-files.js';
import { tinyModel } from './helpers/tiny-models.js';

const PROMPT = 'The quick brown fox';

async function logits(path: string, options: LoadOptions = {}): Promise<Float32Array> {
  const model = await BitNet.load(path, { backend: 'reference', ...options });
  try {
    return await model.evaluateLogits(model.tokenize(PROMPT));
  } finally {
    await model.dispose();
  }
}

const referenceRuns = new Map<string, Promise<Float32Array>>();
/** Logits of the x86 I2_S file, computed once per backend. */
function referenceLogits(backend: 'reference' | 'wasm' = 'reference'): Promise<Float32Array> {
  let p = referenceRuns.get(backend);
  if (p === undefined) {
    p = tinyModel('bitnet-b1.58', 'i2_s').then((path) => logits(path, { backend }));
    referenceRuns.set(backend, p);
  }
  return p;
}

function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

async function loadError(path: string, options: LoadOptions = {}): Promise<{ code: string; message: string }> {
  try {
    await logits(path, options);
  } catch (e) {
    if (isBitNetError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('the load succeeded');
}

const CASES: [string, FlavorTarget, LoadOptions][] = [
  ['arm (named by the option)', { kind: 'i2s', flavor: 'arm' }, { i2sFlavor: 'arm' }],
  ['x86-4row (named by the option)', { kind: 'i2s', flavor: 'x86-4row' }, { i2sFlavor: 'x86-4row' }],
  ['bitnet32-f16 (told by its size)', { kind: 'i2s', flavor: 'bitnet32-f16' }, {}],
  ['qk256 with blk.N.<proj>.scale block scales (told by its size)', { kind: 'i2s', flavor: 'qk256' }, {}],
  ['qk256 with <proj>_scales block scales', { kind: 'i2s', flavor: 'qk256', scaleSuffix: '_scales' }, { i2sFlavor: 'qk256' }],
  ['split32 with blk.N.<proj>.scale block scales (told by size and scale count)', { kind: 'i2s', flavor: 'split32' }, {}],
  ['TL1, tiles from kernel_config.ini text, 0-d <name>_scale tensors', { kind: 'tl', type: 'TL1', tiles: TL1_TILES, scale: 'tensor' }, { tlConfig: TL1_INI }],
  ['TL2, tiles as sections, scale after the codes', { kind: 'tl', type: 'TL2', tiles: TL2_TILES, scale: 'inline' }, { tlConfig: TL2_TILES }],
  ['TL2, 0-d <name>_scale tensors', { kind: 'tl', type: 'TL2', tiles: TL2_TILES, scale: 'tensor' }, { tlConfig: TL2_TILES }],
];

describe('I2_S flavors and TL1 / TL2 load as the x86 I2_S file of the same weights', () => {
  it.each(CASES)('%s: bit-identical logits', async (name, target, options) => {
    const reference = await referenceLogits();
    expect(reference.length).toBeGreaterThan(0);
    expect(reference.every((x) => Number.isFinite(x))).toBe(true);
    const other = await logits(await flavorFile(name, target), options);
    const at = firstDifference(reference, other);
    expect(at, at < 0 ? '' : `first difference at ${at}: ${reference[at]} vs ${other[at]}`).toBe(-1);
  });

  it('the wasm backend runs the repacked weights too (arm, TL2): bit-identical to the x86 file on wasm', async () => {
    const reference = await referenceLogits('wasm');
    for (const [name, target, options] of [CASES[0], CASES[7]]) {
      if (name === undefined || target === undefined || options === undefined) throw new Error('case missing');
      const other = await logits(await flavorFile(name, target), { ...options, backend: 'wasm' });
      expect(firstDifference(reference, other), name).toBe(-1);
    }
  });

  it('a wrong guess shows: an arm file read as x86 (the auto default) or TL1 bytes read with other tiles give other logits', async () => {
    const reference = await referenceLogits();
    const [armName, armTarget] = CASES[0] ?? [];
    if (armName === undefined || armTarget === undefined) throw new Error('case missing');
    const armAsX86 = await logits(await flavorFile(armName, armTarget));
    expect(firstDifference(reference, armAsX86)).toBeGreaterThanOrEqual(0);
    const [tlName, tlTarget] = CASES[6] ?? [];
    if (tlName === undefined || tlTarget === undefined) throw new Error('case missing');
    const otherTiles = TL1_TILES.map((t) => ({ ...t, bmm: t.bmm === 32 ? 64 : 32 }));
    const wrong = await logits(await flavorFile(tlName, tlTarget), { tlConfig: otherTiles });
    expect(firstDifference(reference, wrong)).toBeGreaterThanOrEqual(0);
  });
});

/** `be` with some members replaced (a Proxy: the backend's own methods keep their `this`). */
function withOverrides(be: KernelBackend, overrides: Partial<KernelBackend>): KernelBackend {
  return new Proxy(be, {
    get(target, key, receiver) {
      if (typeof key === 'string' && key in overrides) return overrides[key as keyof KernelBackend];
      const v: unknown = Reflect.get(target, key, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('a backend that takes weights in pieces (as WebGPU does) gets the repacked bytes', () => {
  it('streamed pieces of a qk256 file reassemble into the x86 I2_S bytes the reference backend gets', async () => {
    const [name, target] = CASES[3] ?? [];
    if (name === undefined || target === undefined) throw new Error('case missing');
    const { source, header } = await openGguf(await flavorFile(name, target));
    try {
      const config = modelConfigFromGguf(header);
      const direct = new Map<string, Uint8Array>();
      const plain = createReferenceBackend();
      const keep = withOverrides(plain, {
        createWeight: (info) => {
          const r = plain.createWeight(info);
          direct.set(info.name, r.target);
          return r;
        },
      });
      keep.reserve({ weightBytes: 64 << 20, activationFloats: 0, kvBytes: 0 });
      await loadWeights(keep, source, header, config, { layout: {} });
      const streamed = new Map<string, { info: { name: string; type: number; byteSize: number }; bytes: Uint8Array }>();
      const stub = withOverrides(plain, {
        createStreamedWeight: (info) => {
          streamed.set(info.name, { info, bytes: new Uint8Array(info.byteSize) });
          return { info } as unknown as Weight;
        },
        writeWeight: (w, at, bytes) => {
          const name = (w as unknown as { info: { name: string } }).info.name;
          streamed.get(name)?.bytes.set(bytes, at);
        },
        prepareWeight: () => undefined,
      });
      await loadWeights(stub, source, header, config, { layout: {} });
      const q = streamed.get('blk.0.attn_q.weight');
      expect(q?.info).toMatchObject({ type: 36, byteSize: (256 * 256) / 4 + 32 });
      for (const [tensor, bytes] of direct) {
        if (!tensor.startsWith('blk.')) continue;
        expect(streamed.get(tensor)?.bytes, tensor).toEqual(bytes);
      }
      expect([...direct.keys()].filter((k) => k.startsWith('blk.'))).toHaveLength(14);
    } finally {
      await source.close?.();
    }
  });
});

describe('layouts that cannot be read are BitNetErrors', () => {
  it('TL1 / TL2 with no tiles for their shapes (the tiny shapes have no preset): UNSUPPORTED_TENSOR_TYPE naming the flag', async () => {
    const [name, target] = CASES[6] ?? [];
    if (name === undefined || target === undefined) throw new Error('case missing');
    const e = await loadError(await flavorFile(name, target));
    expect(e.code).toBe('UNSUPPORTED_TENSOR_TYPE');
    expect(e.message).toMatch(/blk\.0\.attn_q\.weight.*--tl-config/);
  });

  it('a flavor the sizes rule out: BAD_TENSOR_DATA naming the tensor and both sizes', async () => {
    const e = await loadError(await tinyModel('bitnet-b1.58', 'i2_s'), { i2sFlavor: 'qk256' });
    expect(e.code).toBe('BAD_TENSOR_DATA');
    expect(e.message).toMatch(/blk\.0\.attn_q\.weight' holds 16416 bytes, the size of the x86 \/ arm \/ x86-4row layout, not of qk256 \(16384 bytes\)/);
    const b32 = await flavorFile(CASES[2]?.[0] ?? '', CASES[2]?.[1] ?? { kind: 'i2s', flavor: 'bitnet32-f16' });
    expect((await loadError(b32, { i2sFlavor: 'arm' })).code).toBe('BAD_TENSOR_DATA');
  });

  it('an unknown flavor or a malformed tile config: BAD_ARGUMENT before the file is read', async () => {
    const missing = join(flavorDir, 'no-such-file.gguf');
    expect((await loadError(missing, { i2sFlavor: 'arm64' as 'arm' })).code).toBe('BAD_ARGUMENT');
    expect((await loadError(missing, { tlConfig: '[Kernels_0]\nm = 256\nbm = big\n' })).code).toBe('BAD_ARGUMENT');
    expect((await loadError(missing, { tlConfig: [{ m: 256, k: 256, bm: 0, bk: 64, bmm: 32 }] })).code).toBe('BAD_ARGUMENT');
  });

  it('qk256 without its block-scale tensor: MISSING_TENSOR', async () => {
    const path = await flavorFile('qk256-no-scales', { kind: 'i2s', flavor: 'qk256', scaleSuffix: '.not_a_scale_name' });
    const e = await loadError(path);
    expect(e.code).toBe('MISSING_TENSOR');
    expect(e.message).toMatch(/split32 \/ qk256 size \(16384 bytes\) but no F32\/F16 tensor of its 256 \(qk256\) or 2048 \(split32\) block scales/);
  });

  it('TL tiles that do not fit the shape: BAD_ARGUMENT', async () => {
    const [name, target] = CASES[7] ?? [];
    if (name === undefined || target === undefined) throw new Error('case missing');
    const e = await loadError(await flavorFile(name, target), { tlConfig: TL2_TILES.map((t) => ({ ...t, bk: 48 })) });
    expect(e.code).toBe('BAD_ARGUMENT');
    expect(e.message).toMatch(/k % BK must be a multiple of 32/);
  });
});
