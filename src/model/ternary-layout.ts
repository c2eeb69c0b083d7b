// Decides how each ternary tensor's bytes are laid out (which I2_S flavor; which TL1/TL2 tiles and where the scale
// is) and repacks the layouts the backends do not run into x86 I2_S at load, so no kernel needs to know them.

import { BitNetError } from '../errors.js';
import { GgmlType } from '../formats/ggml-type.js';
import { dequantizeRows } from '../formats/index.js';
import { I2S_FLAVOR_OPTIONS, I2S_FLAVOR_SPECS, i2sFlavorByteSize, i2sStoredSizes, repackI2sFlavor } from '../formats/i2s-flavors.js';
import type { I2sFlavor, I2sFlavorOption } from '../formats/i2s-flavors.js';
import { I2S_BLOCK_ELEMENTS, i2sByteSize } from '../formats/i2s.js';
import { packI2sFast } from '../synth/fast-pack.js';
import { findTlTiles, parseKernelConfigIni, repackTlToI2s, TL_PRESET_TILES, tlByteSize, tlInlineScaleOffset, unpackTl } from '../formats/tl.js';
import type { TlTiles, TlType } from '../formats/tl.js';
import { readF32, writeF32 } from '../formats/f32.js';
import { readTensorData } from '../gguf/reader.js';
import type { ByteSource, GgufHeader, GgufTensorInfo } from '../gguf/types.js';

export interface TernaryLayoutOptions {
  /** Which I2_S flavor to assume where tensor sizes cannot tell (default 'auto': x86 there). */
  readonly i2sFlavor?: I2sFlavorOption | undefined;
  /** TL1/TL2 tiles per weight shape (kernel_config.ini sections); TL_PRESET_TILES covers shapes this lacks. */
  readonly tlTiles?: readonly TlTiles[] | undefined;
}

export type TensorLayout =
  | {
      readonly kind: 'i2s';
      readonly flavor: I2sFlavor;
      /** Why this flavor: what the file showed, or that the option set it, or what was assumed. */
      readonly reason: string;
      /** split32, qk256: the tensor holding one scale per block. */
      readonly scaleTensor?: GgufTensorInfo;
    }
  | {
      readonly kind: 'tl';
      readonly type: TlType;
      readonly tiles: TlTiles;
      readonly tilesFrom: 'option' | 'preset';
      /** The F32 '<name>_scale' tensor bitnet.cpp's converter writes, or undefined: then the scale follows the codes. */
      readonly scaleTensor: GgufTensorInfo | undefined;
    };

/**
 * The layout options of a load: LoadOptions.i2sFlavor (checked) and LoadOptions.tlConfig (kernel_config.ini text or
 * its sections, checked). Throws BAD_ARGUMENT on an unknown flavor or a malformed config.
 */
export function ternaryLayoutOptions(o: { readonly i2sFlavor?: string | undefined; readonly tlConfig?: string | readonly TlTiles[] | undefined }): TernaryLayoutOptions {
  const i2sFlavor = o.i2sFlavor === undefined ? undefined : checkI2sFlavorOption(o.i2sFlavor);
  let tlTiles: readonly TlTiles[] | undefined;
  if (typeof o.tlConfig === 'string') tlTiles = parseKernelConfigIni(o.tlConfig);
  else if (o.tlConfig !== undefined) {
    tlTiles = o.tlConfig;
    for (const t of tlTiles) {
      const ok = [t.m, t.k, t.bm, t.bk, t.bmm].every((v) => Number.isSafeInteger(v) && v > 0);
      if (!ok) throw new BitNetError('BAD_ARGUMENT', `tlConfig: every entry needs positive integers m, k, bm, bk, bmm; got ${JSON.stringify(t)}`, { details: { field: 'tlConfig' } });
    }
  }
  return { i2sFlavor, tlTiles };
}

/** Throws BAD_ARGUMENT unless `value` names an I2_S flavor option. */
export function checkI2sFlavorOption(value: unknown): I2sFlavorOption {
  if (typeof value !== 'string' || !(I2S_FLAVOR_OPTIONS as readonly string[]).includes(value)) {
    throw new BitNetError('BAD_ARGUMENT', `i2sFlavor: expected one of ${I2S_FLAVOR_OPTIONS.join(', ')}, got '${String(value)}'`, {
      details: { field: 'i2sFlavor', expected: I2S_FLAVOR_OPTIONS.join('|'), actual: String(value) },
    });
  }
  return value as I2sFlavorOption;
}

/** Names bitnet-rs's sibling search tries first for a tensor's separate scales (gguf_simple.rs find_sibling_scale). */
function scaleCandidates(name: string): string[] {
  const base = name.replace(/\.weight$/, '');
  return [`${base}.scale`, `${base}.scales`, `${base}_scale`, `${base}_scales`, `${name}.scale`, `${name}_scale`];
}

const SCALE_TYPES: ReadonlySet<number> = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);

function i2sLayout(header: GgufHeader, t: GgufTensorInfo, option: I2sFlavorOption): TensorLayout {
  const n = t.nElements;
  const sizes = i2sStoredSizes(n);
  const fit = sizes.find((s) => s.byteSize === t.byteSize);
  const sizeList = sizes.map((s) => `${s.flavors.join('/')} ${s.byteSize}`).join(', ');
  if (fit === undefined) {
    throw new BitNetError('BAD_TENSOR_DATA', `I2_S tensor '${t.name}' (${n} elements) holds ${t.byteSize} bytes; no I2_S flavor has that size (${sizeList})`, {
      details: { tensor: t.name, nElements: n, actual: t.byteSize },
    });
  }
  if (option !== 'auto' && !fit.flavors.includes(option)) {
    throw new BitNetError('BAD_TENSOR_DATA', `I2_S tensor '${t.name}' holds ${t.byteSize} bytes, the size of the ${fit.flavors.join(' / ')} layout, not of ${option} (${i2sFlavorSize(option, n)})`, {
      details: { tensor: t.name, flavor: option, actual: t.byteSize },
    });
  }
  if (fit.flavors.includes('split32')) return separateScalesLayout(header, t, option === 'auto' ? fit.flavors : [option]);
  const [only] = fit.flavors;
  if (fit.flavors.length === 1 && only !== undefined) {
    return { kind: 'i2s', flavor: only, reason: `its ${t.byteSize} bytes for ${n} elements are the ${I2S_FLAVOR_SPECS[only].description} size` };
  }
  if (option !== 'auto') return { kind: 'i2s', flavor: option, reason: `set by the i2sFlavor option (${I2S_FLAVOR_SPECS[option].description})` };
  if (n % 128 !== 0 && n % 64 === 0) {
    return { kind: 'i2s', flavor: 'arm', reason: `${n} elements is not a multiple of 128: of the layouts with this size only the ARM build's writes such a tensor whole` };
  }
  return {
    kind: 'i2s',
    flavor: 'x86',
    reason: `assumed: ${t.byteSize} bytes (n/4 + 32) fit the x86, ARM and x86-4row layouts alike and nothing in the file tells them apart; x86 is what Microsoft publishes (set i2sFlavor / --i2s-flavor for a file converted on ARM)`,
  };
}

/**
 * qk256 and split32 tensors take n/4 bytes each and keep their block scales in another tensor: the first candidate
 * name holding one F32/F16/BF16 scale per block of a flavor (256 or 32 elements) decides it, qk256 tried first.
 */
function separateScalesLayout(header: GgufHeader, t: GgufTensorInfo, flavors: readonly I2sFlavor[]): TensorLayout {
  const ordered = [...flavors].sort((a, b) => (a === 'qk256' ? -1 : b === 'qk256' ? 1 : 0));
  const names = scaleCandidates(t.name);
  for (const flavor of ordered) {
    const nBlocks = t.nElements / I2S_FLAVOR_SPECS[flavor].blockElements;
    const scaleTensor = names.map((c) => header.tensors.find((x) => x.name === c)).find((x) => x !== undefined && x.nElements === nBlocks && SCALE_TYPES.has(x.type));
    if (scaleTensor !== undefined) {
      const reason = `its ${t.byteSize} bytes for ${t.nElements} elements are the ${flavors.join(' / ')} size and '${scaleTensor.name}' holds ${nBlocks} scales, one per ${I2S_FLAVOR_SPECS[flavor].blockElements} elements: ${I2S_FLAVOR_SPECS[flavor].description}`;
      return { kind: 'i2s', flavor, reason, scaleTensor };
    }
  }
  const counts = ordered.map((f) => `${t.nElements / I2S_FLAVOR_SPECS[f].blockElements} (${f})`).join(' or ');
  throw new BitNetError('MISSING_TENSOR', `I2_S tensor '${t.name}' has the ${flavors.join(' / ')} size (${t.byteSize} bytes) but no F32/F16 tensor of its ${counts} block scales (looked for ${names.join(', ')})`, {
    details: { tensor: t.name, flavor: flavors.join('|') },
  });
}

function i2sFlavorSize(flavor: I2sFlavor, n: number): string {
  try {
    return `${i2sFlavorByteSize(flavor, n)} bytes`;
  } catch {
    return `not a multiple of ${I2S_FLAVOR_SPECS[flavor].blockElements} elements`;
  }
}

function tlLayout(header: GgufHeader, t: GgufTensorInfo, opts: TernaryLayoutOptions): TensorLayout {
  const type: TlType = t.type === GgmlType.TL1 ? 'TL1' : 'TL2';
  const [k = 0, m = 1] = t.dims;
  if (t.dims.length !== 2) {
    throw new BitNetError('BAD_TENSOR_SHAPE', `${type} tensor '${t.name}' has dims [${t.dims.join(', ')}]; a TL weight is a matrix`, { details: { tensor: t.name } });
  }
  const fromOption = findTlTiles(opts.tlTiles ?? [], m, k);
  const tiles = fromOption ?? findTlTiles(TL_PRESET_TILES[type], m, k);
  if (tiles === undefined) {
    throw new BitNetError(
      'UNSUPPORTED_TENSOR_TYPE',
      `${type} tensor '${t.name}' (${m} x ${k}): the file does not record the tiles (BM, BK, bm) it was packed with and none are known for this shape; pass the kernel_config.ini it was converted with (LoadOptions.tlConfig, --tl-config)`,
      { details: { tensor: t.name, type, m, k } },
    );
  }
  const need = tlByteSize(type, m, k);
  if (t.byteSize < need) {
    throw new BitNetError('BAD_TENSOR_DATA', `${type} tensor '${t.name}' (${m} x ${k}) holds ${t.byteSize} bytes; its layout needs ${need}`, {
      details: { tensor: t.name, expected: need, actual: t.byteSize },
    });
  }
  const scaleTensor = header.tensors.find((x) => x.name === `${t.name}_scale`);
  if (scaleTensor !== undefined && (scaleTensor.nElements !== 1 || scaleTensor.type !== GgmlType.F32)) {
    throw new BitNetError('BAD_TENSOR_FOR_ARCH', `scale tensor '${scaleTensor.name}' must be one F32 element`, { details: { tensor: scaleTensor.name } });
  }
  if (scaleTensor === undefined && t.byteSize < tlInlineScaleOffset(type, m, k) + 4) {
    throw new BitNetError('MISSING_TENSOR', `${type} tensor '${t.name}' has no '${t.name}_scale' tensor and no scale after its codes`, { details: { tensor: t.name } });
  }
  return { kind: 'tl', type, tiles, tilesFrom: fromOption !== undefined ? 'option' : 'preset', scaleTensor };
}

/** How tensor `t` is laid out, for I2_S and TL1/TL2 tensors; undefined for every other type. */
export function tensorLayout(header: GgufHeader, t: GgufTensorInfo, opts: TernaryLayoutOptions = {}): TensorLayout | undefined {
  if (t.type === GgmlType.I2_S) return i2sLayout(header, t, opts.i2sFlavor ?? 'auto');
  if (t.type === GgmlType.TL1 || t.type === GgmlType.TL2) return tlLayout(header, t, opts);
  return undefined;
}

/** True when the backends cannot take the stored bytes as they are. */
export function needsRepack(layout: TensorLayout | undefined): layout is TensorLayout {
  return layout !== undefined && !(layout.kind === 'i2s' && layout.flavor === 'x86');
}

/** Bytes a tensor takes in the backend: x86 I2_S for a repacked one, else its stored size. */
export function backendByteSize(t: GgufTensorInfo, layout: TensorLayout | undefined): number {
  return needsRepack(layout) ? i2sByteSize(t.nElements) : t.byteSize;
}

/** Tensors a layout reads as scales (split32 / qk256 block scales, TL '<name>_scale'): not model tensors of their own. */
export function scaleTensorOf(layout: TensorLayout | undefined): GgufTensorInfo | undefined {
  return layout?.scaleTensor;
}

async function readScales(src: ByteSource, t: GgufTensorInfo): Promise<Float32Array> {
  const bytes = new Uint8Array(t.byteSize);
  await readTensorData(src, t, bytes);
  const out = new Float32Array(t.nElements);
  dequantizeRows(t.type, bytes, 0, 1, t.nElements, out);
  return out;
}

/** Reads tensor `t` and returns its x86 I2_S bytes (n/4 codes, then the f32 scale padded to 32 bytes). */
export async function readRepacked(src: ByteSource, t: GgufTensorInfo, layout: TensorLayout): Promise<Uint8Array> {
  const stored = new Uint8Array(t.byteSize);
  await readTensorData(src, t, stored);
  const [k = 0, m = 1] = t.dims;
  if (layout.kind === 'i2s') {
    const scales = layout.scaleTensor === undefined ? undefined : await readScales(src, layout.scaleTensor);
    return repackI2sFlavor(layout.flavor, stored, t.nElements, k, scales, t.name).bytes;
  }
  // Rows of whole x86 blocks (every real model's) repack straight from the tiles (formats/tl.ts repackTlToI2s); other
  // shapes are unpacked first, so a bad nibble is still reported before the scale and the shape packI2sFast refuses.
  const decoded = k % I2S_BLOCK_ELEMENTS === 0 ? { x86: repackTlToI2s(layout.type, stored, m, k, layout.tiles, t.name) } : { codes: unpackTl(layout.type, stored, m, k, layout.tiles, t.name) };
  const scale = layout.scaleTensor === undefined ? readF32(stored, tlInlineScaleOffset(layout.type, m, k)) : ((await readScales(src, layout.scaleTensor))[0] ?? NaN);
  if (!Number.isFinite(scale)) {
    throw new BitNetError('BAD_TENSOR_DATA', `${layout.type} tensor '${t.name}' has a non-finite scale (${scale})`, { details: { tensor: t.name } });
  }
  if ('codes' in decoded) return packI2sFast(decoded.codes, scale, k, t.name); // refuses the shape (BAD_TENSOR_SHAPE)
  writeF32(decoded.x86, (m * k) / 4, scale);
  return decoded.x86;
}

/** One line on a layout for `inspect` and load receipts. */
export function describeLayout(layout: TensorLayout): string {
  if (layout.kind === 'i2s') return `I2_S ${layout.flavor}: ${layout.reason}`;
  const { bm, bk, bmm } = layout.tiles;
  const from = layout.tilesFrom === 'option' ? 'from the tile config given (the file does not record them)' : "from bitnet.cpp setup_env.py's codegen arguments for this shape (the file does not record them)";
  const scale = layout.scaleTensor === undefined ? 'the f32 after the codes' : `'${layout.scaleTensor.name}'`;
  return `${layout.type} tiles BM ${bm}, BK ${bk}, bm ${bmm} ${from}; scale ${scale}`;
}
