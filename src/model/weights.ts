// Binds a GGUF file's tensors to a backend: finds each tensor the arch needs, checks type and shape,
// and reads its bytes straight into backend memory (no intermediate copy for matrices).

import { BitNetError } from '../errors.js';
import { GgmlType, TYPE_TRAITS } from '../formats/ggml-type.js';
import { firstNonFinite, requireFiniteFloats } from '../formats/finite.js';
import { dequantizeRows } from '../formats/index.js';
import { readTensorData } from '../gguf/reader.js';
import type { ByteSource, GgufHeader, GgufTensorInfo } from '../gguf/types.js';
import type { ActivationQuant, KernelBackend, Tensor, Weight } from '../kernels/backend.js';
import type { ModelConfig } from './config.js';
import { backendByteSize, needsRepack, readRepacked, tensorLayout } from './ternary-layout.js';
import type { TernaryLayoutOptions } from './ternary-layout.js';

export interface LayerWeights {
  readonly attnNorm: Tensor; // [dim]
  readonly wq: Weight; // [dim -> dim]
  readonly wk: Weight; // [dim -> kvDim]
  readonly wv: Weight; // [dim -> kvDim]
  readonly wo: Weight; // [dim -> dim]
  readonly attnSubNorm: Tensor | undefined; // [dim]
  readonly ffnNorm: Tensor; // [dim]
  readonly wGate: Weight; // [dim -> ffnDim]
  readonly wUp: Weight; // [dim -> ffnDim]
  readonly wDown: Weight; // [ffnDim -> dim]
  readonly ffnSubNorm: Tensor | undefined; // [ffnDim]
  /** Optional per-projection output scales (llama.cpp `bitnet` arch: blk.N.attn_q.scale ...); 1 when absent. */
  readonly scales: { readonly q: number; readonly k: number; readonly v: number; readonly o: number; readonly gate: number; readonly up: number; readonly down: number };
}

export interface ModelWeights {
  readonly tokenEmbedding: Weight; // [dim, vocab]
  readonly outputNorm: Tensor; // [dim]
  /** lm_head: output.weight, or the tied token embedding. */
  readonly output: Weight;
  readonly tiedOutput: boolean;
  readonly layers: readonly LayerWeights[];
  /** Bytes of tensor data read from the file. */
  readonly bytesRead: number;
}

/** Types a matrix may have, per role. */
const TERNARY_TYPES: ReadonlySet<number> = new Set([GgmlType.I2_S, GgmlType.TL1, GgmlType.TL2, GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.F16, GgmlType.F32, GgmlType.BF16]);
const EMBED_TYPES: ReadonlySet<number> = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q6_K]);
const NORM_TYPES: ReadonlySet<number> = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);

export interface LoadWeightsOptions {
  readonly signal?: AbortSignal | undefined;
  /** Force one activation quantization for every ternary matrix (default: each format's native one). */
  readonly activationQuant?: ActivationQuant | undefined;
  readonly onProgress?: ((p: { loadedBytes: number; totalBytes: number }) => void) | undefined;
  /** I2_S flavor and TL1/TL2 tiles: layouts other than x86 I2_S are repacked into it (model/ternary-layout.ts). */
  readonly layout?: TernaryLayoutOptions | undefined;
}

/** Bytes per piece of a streamed weight upload (rounded down to whole blocks and to a multiple of 4). */
export const WEIGHT_PIECE_BYTES = 16 * 1024 * 1024;

/**
 * Reads tensor `t` in pieces of at most WEIGHT_PIECE_BYTES, each a whole number of blocks and of 4-byte words, into
 * one reused buffer, checks float types for NaN / Inf, and hands each piece to `put` (which must copy it).
 */
async function streamTensorData(src: ByteSource, t: GgufTensorInfo, put: (byteOffset: number, piece: Uint8Array) => void): Promise<void> {
  if (t.byteOffset + t.byteSize > src.size) {
    throw new BitNetError('GGUF_TENSOR_OUT_OF_BOUNDS', `${src.name}: tensor '${t.name}' at offset ${t.byteOffset} with ${t.byteSize} bytes lies past the end (${src.size} bytes)`, {
      details: { tensor: t.name, offset: t.byteOffset, size: t.byteSize, fileSize: src.size },
    });
  }
  // I2_S: 32-byte code blocks; the others: their block size (F32/F16/BF16: one element)
  const block = t.type === GgmlType.I2_S ? 32 : TYPE_TRAITS[t.type].typeSize;
  let unit = block;
  while (unit % 4 !== 0) unit += block;
  const pieceBytes = Math.max(unit, Math.floor(WEIGHT_PIECE_BYTES / unit) * unit);
  const buffer = new Uint8Array(Math.min(pieceBytes, t.byteSize));
  const elementBytes = TYPE_TRAITS[t.type].typeSize;
  for (let done = 0; done < t.byteSize; done += pieceBytes) {
    const piece = buffer.subarray(0, Math.min(pieceBytes, t.byteSize - done));
    await src.read(t.byteOffset + done, piece);
    const bad = firstNonFinite(t.type, piece);
    if (bad >= 0) {
      const element = done / elementBytes + bad;
      throw new BitNetError('BAD_TENSOR_DATA', `tensor '${t.name}' (${TYPE_TRAITS[t.type].name}) holds a non-finite value at element ${element}`, { details: { tensor: t.name, element } });
    }
    put(done, piece);
  }
}

/** The tensors the config needs, in load order, each with the role it plays. */
export function requiredTensorNames(config: ModelConfig, header: GgufHeader): string[] {
  const names = ['token_embd.weight', 'output_norm.weight'];
  if (header.tensors.some((t) => t.name === 'output.weight')) names.push('output.weight');
  for (let l = 0; l < config.nLayers; l++) {
    const b = `blk.${l}.`;
    names.push(`${b}attn_norm.weight`, `${b}attn_q.weight`, `${b}attn_k.weight`, `${b}attn_v.weight`, `${b}attn_output.weight`, `${b}ffn_norm.weight`, `${b}ffn_gate.weight`, `${b}ffn_up.weight`, `${b}ffn_down.weight`);
    if (config.subNorms) names.push(`${b}attn_sub_norm.weight`, `${b}ffn_sub_norm.weight`);
  }
  return names;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new BitNetError('ABORTED', 'model load was aborted', { cause: signal.reason });
}

export async function loadWeights(backend: KernelBackend, src: ByteSource, header: GgufHeader, config: ModelConfig, opts: LoadWeightsOptions = {}): Promise<ModelWeights> {
  const byName = new Map<string, GgufTensorInfo>(header.tensors.map((t) => [t.name, t]));
  const needed = requiredTensorNames(config, header);
  for (const name of needed) {
    if (!byName.has(name)) {
      throw new BitNetError('MISSING_TENSOR', `tensor '${name}' is required by arch '${config.arch}' but missing from the file`, { details: { tensor: name, arch: config.arch } });
    }
  }
  const totalBytes = needed.reduce((s, n) => s + (byName.get(n)?.byteSize ?? 0), 0);
  let loadedBytes = 0;
  const progress = (n: number): void => {
    loadedBytes += n;
    opts.onProgress?.({ loadedBytes, totalBytes });
  };

  const info = (name: string): GgufTensorInfo => {
    const t = byName.get(name);
    if (t === undefined) throw new BitNetError('MISSING_TENSOR', `tensor '${name}' is missing`, { details: { tensor: name } });
    return t;
  };

  const checkShape = (t: GgufTensorInfo, expected: readonly number[]): void => {
    const same = t.dims.length === expected.length && t.dims.every((d, i) => d === expected[i]);
    if (!same) {
      throw new BitNetError('BAD_TENSOR_FOR_ARCH', `tensor '${t.name}' has dims [${t.dims.join(', ')}], expected [${expected.join(', ')}]`, {
        details: { tensor: t.name, expected: expected.join(','), actual: t.dims.join(',') },
      });
    }
  };

  /** Scale tensors a projection's layout consumed (qk256 block scales): not output scales. */
  const scaleTensors = new Set<string>();
  const matrix = async (name: string, cols: number, rows: number, allowed: ReadonlySet<number>, lookupOnly = false): Promise<Weight> => {
    checkAborted(opts.signal);
    const t = info(name);
    checkShape(t, [cols, rows]);
    if (!allowed.has(t.type)) {
      throw new BitNetError('BAD_TENSOR_FOR_ARCH', `tensor '${name}' has type ${TYPE_TRAITS[t.type].name}, not usable for this role (allowed: ${[...allowed].map((x) => TYPE_TRAITS[x as GgmlType].name).join(', ')})`, {
        details: { tensor: name, type: TYPE_TRAITS[t.type].name },
      });
    }
    const layout = allowed === TERNARY_TYPES ? tensorLayout(header, t, opts.layout) : undefined;
    if (layout?.scaleTensor !== undefined) scaleTensors.add(layout.scaleTensor.name);
    const repacked = needsRepack(layout) ? await readRepacked(src, t, layout) : undefined;
    const base = repacked === undefined ? { name, type: t.type, dims: t.dims, byteSize: t.byteSize } : { name, type: GgmlType.I2_S, dims: t.dims, byteSize: repacked.length };
    const winfo = opts.activationQuant === undefined ? base : { ...base, activationQuant: opts.activationQuant };
    if (repacked !== undefined) {
      // stored as another I2_S flavor or as TL1/TL2: the backend gets the x86 I2_S bytes
      if (backend.createStreamedWeight !== undefined && backend.writeWeight !== undefined) {
        const weight = backend.createStreamedWeight(winfo);
        for (let at = 0; at < repacked.length; at += WEIGHT_PIECE_BYTES) backend.writeWeight(weight, at, repacked.subarray(at, Math.min(repacked.length, at + WEIGHT_PIECE_BYTES)));
        backend.prepareWeight(weight);
        progress(t.byteSize);
        return weight;
      }
      const { weight, target } = backend.createWeight(winfo);
      target.set(repacked);
      backend.prepareWeight(weight);
      progress(t.byteSize);
      return weight;
    }
    // a lookup-only weight (read by embed only) stays in host memory (WeightInfo.lookupOnly): read straight into it below
    if (!lookupOnly && backend.createStreamedWeight !== undefined && backend.writeWeight !== undefined) {
      // a device the host cannot write in place: the tensor goes over in pieces of whole blocks
      const weight = backend.createStreamedWeight(winfo);
      await streamTensorData(src, t, (byteOffset, piece) => backend.writeWeight?.(weight, byteOffset, piece));
      backend.prepareWeight(weight);
      progress(t.byteSize);
      return weight;
    }
    // the float types' NaN/Inf scan below runs before prepareWeight: the backend need not repeat it
    const { weight, target } = backend.createWeight({ ...winfo, checkedFinite: true, ...(lookupOnly ? { lookupOnly } : {}) });
    await readTensorData(src, t, target);
    requireFiniteFloats(t.type, target, name); // backends check the scales of quantized types in prepareWeight
    backend.prepareWeight(weight);
    progress(t.byteSize);
    return weight;
  };

  const vector = async (name: string, n: number): Promise<Tensor> => {
    checkAborted(opts.signal);
    const t = info(name);
    checkShape(t, [n]);
    if (!NORM_TYPES.has(t.type)) {
      throw new BitNetError('BAD_TENSOR_FOR_ARCH', `tensor '${name}' has type ${TYPE_TRAITS[t.type].name}; norms must be F32, F16 or BF16`, { details: { tensor: name } });
    }
    const bytes = new Uint8Array(t.byteSize);
    await readTensorData(src, t, bytes);
    const values = new Float32Array(n);
    dequantizeRows(t.type, bytes, 0, 1, n, values);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(values[i])) {
        throw new BitNetError('BAD_TENSOR_DATA', `tensor '${name}' holds a non-finite value at index ${i}`, { details: { tensor: name, index: i } });
      }
    }
    const out = backend.alloc(n);
    backend.write(out, values);
    progress(t.byteSize);
    return out;
  };

  /** One-element F32 scale tensors of the llama.cpp `bitnet` arch; 1 when absent. */
  const optionalScale = async (name: string): Promise<number> => {
    const t = byName.get(name);
    if (t === undefined || scaleTensors.has(name)) return 1;
    if (t.nElements !== 1 || t.type !== GgmlType.F32) {
      throw new BitNetError('BAD_TENSOR_FOR_ARCH', `scale tensor '${name}' must be one F32 element`, { details: { tensor: name } });
    }
    const bytes = new Uint8Array(4);
    await readTensorData(src, t, bytes);
    const s = new DataView(bytes.buffer).getFloat32(0, true);
    if (!Number.isFinite(s)) throw new BitNetError('BAD_TENSOR_DATA', `scale tensor '${name}' is not finite`, { details: { tensor: name } });
    return s;
  };

  const { dim, ffnDim, kvDim, vocabSize } = config;
  // with its own output.weight, token_embd is read only for the step's tokens: kept out of backend memory
  const hasOutput = byName.has('output.weight');
  const tokenEmbedding = await matrix('token_embd.weight', dim, vocabSize, EMBED_TYPES, hasOutput);
  const outputNorm = await vector('output_norm.weight', dim);
  const output = hasOutput ? await matrix('output.weight', dim, vocabSize, EMBED_TYPES) : tokenEmbedding;

  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const b = `blk.${l}.`;
    layers.push({
      attnNorm: await vector(`${b}attn_norm.weight`, dim),
      wq: await matrix(`${b}attn_q.weight`, dim, dim, TERNARY_TYPES),
      wk: await matrix(`${b}attn_k.weight`, dim, kvDim, TERNARY_TYPES),
      wv: await matrix(`${b}attn_v.weight`, dim, kvDim, TERNARY_TYPES),
      wo: await matrix(`${b}attn_output.weight`, dim, dim, TERNARY_TYPES),
      attnSubNorm: config.subNorms ? await vector(`${b}attn_sub_norm.weight`, dim) : undefined,
      ffnNorm: await vector(`${b}ffn_norm.weight`, dim),
      wGate: await matrix(`${b}ffn_gate.weight`, dim, ffnDim, TERNARY_TYPES),
      wUp: await matrix(`${b}ffn_up.weight`, dim, ffnDim, TERNARY_TYPES),
      wDown: await matrix(`${b}ffn_down.weight`, ffnDim, dim, TERNARY_TYPES),
      ffnSubNorm: config.subNorms ? await vector(`${b}ffn_sub_norm.weight`, ffnDim) : undefined,
      scales: {
        q: await optionalScale(`${b}attn_q.scale`),
        k: await optionalScale(`${b}attn_k.scale`),
        v: await optionalScale(`${b}attn_v.scale`),
        o: await optionalScale(`${b}attn_output.scale`),
        gate: await optionalScale(`${b}ffn_gate.scale`),
        up: await optionalScale(`${b}ffn_up.scale`),
        down: await optionalScale(`${b}ffn_down.scale`),
      },
    });
  }
  // an empty step: a GPU backend's uploads have run when it resolves, and a device that had no memory for a weight says
  // so here (MODEL_TOO_LARGE, naming it) rather than at the first token
  backend.beginStep();
  await backend.endStep();
  return { tokenEmbedding, outputNorm, output, tiedOutput: !hasOutput, layers, bytesRead: loadedBytes };
}

/**
 * Bytes of weights (as the backend holds them: repacked ones as x86 I2_S) and floats of norms the backend must reserve;
 * hostBytes: the untied token embedding, which the backend keeps in host memory instead (WeightInfo.lookupOnly).
 */
export function weightMemoryPlan(config: ModelConfig, header: GgufHeader, layout: TernaryLayoutOptions = {}): { weightBytes: number; normFloats: number; hostBytes: number } {
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const untied = byName.has('output.weight');
  let weightBytes = 0;
  let normFloats = 0;
  let hostBytes = 0;
  for (const name of requiredTensorNames(config, header)) {
    const t = byName.get(name);
    if (t === undefined) continue;
    if (t.dims.length === 1) normFloats += t.nElements;
    else if (untied && name === 'token_embd.weight') hostBytes += t.byteSize;
    else weightBytes += backendByteSize(t, TERNARY_TYPES.has(t.type) ? tensorLayout(header, t, layout) : undefined);
  }
  return { weightBytes, normFloats, hostBytes };
}
