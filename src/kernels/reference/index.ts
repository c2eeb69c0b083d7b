// The scalar reference backend: slow, readable, exact TypeScript kernels behind KernelBackend (the oracle).

import { BitNetError } from '../../errors.js';
import { checkAttentionShape, checkKvPoolArgs, checkRopeArgs } from '../op-args.js';
import { checkCopyPairs, checkShift } from '../block-tables.js';
import { TYPE_TRAITS } from '../../formats/ggml-type.js';
import type { KernelBackend, KvBatch, KvPool, MatmulTarget, MemoryPlan, RopeStyle, Tensor, TopK, Weight, WeightInfo } from '../backend.js';
import { checkMatmulMany } from '../matmul-many.js';
import { argmaxRows, checkK, checkRows, topKRows } from '../row-select.js';
import { attentionRef, copyBlockRef, kvWriteRef, shiftKeysRef } from './attention.js';
import { requireFinite, requireInt, requireLength } from './checks.js';
import { addInPlaceRef, reluSqrMulRef, siluMulRef } from './elementwise.js';
import { embedRef } from './embed.js';
import { RefKvPool } from './kv-pool.js';
import { type MatmulScratch, matmulRef } from './matmul.js';
import { rmsnormRef } from './rmsnorm.js';
import { ropeRef } from './rope.js';
import { RefTensor } from './tensor.js';
import { RefWeight, createRefWeight, prepareRefWeight } from './weights.js';

export { quantizeActivations, ACTIVATION_ABSMAX_FLOOR } from './quantize-activations.js';

class ReferenceBackend implements KernelBackend {
  readonly name = 'reference' as const;
  readonly kernelSet = 'scalar' as const;
  readonly threads = 1;

  private disposed = false;
  private readonly calls = new Map<string, number>();
  private readonly weights = new WeakSet<RefWeight>();
  private readonly pools = new WeakSet<RefKvPool>();
  private readonly matmulScratch: MatmulScratch = { xq: new Int8Array(0), actScales: new Float64Array(0), block: new Float32Array(256) };
  private ropeCos = new Float64Array(0);
  private ropeSin = new Float64Array(0);
  private scores = new Float64Array(0);
  private acc = new Float64Array(0);

  private count(id: string): void {
    this.calls.set(id, (this.calls.get(id) ?? 0) + 1);
  }

  private live(op: string): void {
    if (this.disposed) throw new BitNetError('DISPOSED', `reference backend: ${op} after dispose()`, { details: { op } });
  }

  private own(op: string, w: Weight): RefWeight {
    if (!(w instanceof RefWeight) || !this.weights.has(w)) {
      throw new BitNetError('BAD_ARGUMENT', `${op}: weight '${w.info.name}' was not created by this backend`, { details: { op, tensor: w.info.name } });
    }
    if (!w.prepared) {
      throw new BitNetError('BAD_ARGUMENT', `${op}: weight '${w.info.name}' is used before prepareWeight()`, { details: { op, tensor: w.info.name } });
    }
    return w;
  }

  /** own(), for a matmul: a lookup-only weight (WeightInfo.lookupOnly) is refused. */
  private ownMatrix(op: string, w: Weight): RefWeight {
    const weight = this.own(op, w);
    if (weight.info.lookupOnly === true) {
      throw new BitNetError('BAD_ARGUMENT', `${op}: weight '${w.info.name}' is lookup-only (kept in host memory for embed)`, { details: { op, tensor: w.info.name } });
    }
    return weight;
  }

  /** The floats of a tensor this backend made (BAD_ARGUMENT otherwise). */
  private f32(op: string, what: string, t: Tensor): Float32Array {
    if (!(t instanceof RefTensor) || t.owner !== this) {
      throw new BitNetError('BAD_ARGUMENT', `${op}: ${what} is not a tensor of this backend (use alloc)`, { details: { op, field: what } });
    }
    return t.data;
  }

  private ownPool(op: string, pool: KvPool, layer = 0): RefKvPool {
    if (!(pool instanceof RefKvPool) || !this.pools.has(pool)) {
      throw new BitNetError('BAD_ARGUMENT', `${op}: KV pool was not created by this backend`, { details: { op } });
    }
    if (!Number.isInteger(layer) || layer < 0 || layer >= pool.nLayers) {
      throw new BitNetError('BAD_ARGUMENT', `${op}: layer ${layer} out of range [0, ${pool.nLayers})`, { details: { op, field: 'layer', actual: layer } });
    }
    return pool;
  }

  reserve(plan: MemoryPlan): void {
    this.live('reserve');
    requireInt('reserve', 'weightBytes', plan.weightBytes, 0);
    requireInt('reserve', 'activationFloats', plan.activationFloats, 0);
    requireInt('reserve', 'kvBytes', plan.kvBytes, 0);
  }

  createWeight(info: WeightInfo): { weight: Weight; target: Uint8Array } {
    this.live('createWeight');
    const weight = createRefWeight(info);
    this.weights.add(weight);
    return { weight, target: weight.bytes };
  }

  prepareWeight(weight: Weight): void {
    this.live('prepareWeight');
    if (!(weight instanceof RefWeight) || !this.weights.has(weight)) {
      throw new BitNetError('BAD_ARGUMENT', `prepareWeight: weight '${weight.info.name}' was not created by this backend`, { details: { tensor: weight.info.name } });
    }
    prepareRefWeight(weight);
  }

  alloc(nElements: number): Tensor {
    this.live('alloc');
    requireInt('alloc', 'nElements', nElements, 0);
    return new RefTensor(this, new Float32Array(nElements));
  }

  write(dst: Tensor, src: Float32Array, dstOffset = 0): void {
    this.live('write');
    const d = this.f32('write', 'dst', dst);
    requireInt('write', 'dstOffset', dstOffset, 0);
    if (!(src instanceof Float32Array)) throw new BitNetError('BAD_ARGUMENT', 'write: src must be a Float32Array', { details: { op: 'write', field: 'src' } });
    requireLength('write', 'dst', d, dstOffset + src.length);
    d.set(src, dstOffset);
  }

  read(src: Tensor, offset: number, nElements: number): Promise<Float32Array> {
    this.live('read');
    const d = this.f32('read', 'src', src);
    requireInt('read', 'offset', offset, 0);
    requireInt('read', 'nElements', nElements, 0);
    requireLength('read', 'src', d, offset + nElements);
    return Promise.resolve(d.slice(offset, offset + nElements));
  }

  readonly view = (t: Tensor): Float32Array => this.f32('view', 't', t);

  beginStep(): void {
    this.live('beginStep');
  }

  endStep(): Promise<void> {
    this.live('endStep');
    return Promise.resolve();
  }

  createKvPool(nLayers: number, kvDim: number, headDim: number, blockSize: number, nBlocks: number): KvPool {
    this.live('createKvPool');
    checkKvPoolArgs(nLayers, kvDim, headDim, blockSize, nBlocks);
    const pool = new RefKvPool(nLayers, kvDim, headDim, blockSize, nBlocks);
    this.pools.add(pool);
    return pool;
  }

  setBlockTables(pool: KvPool, tables: Int32Array, nSeqs: number, maxBlocks: number): void {
    this.live('setBlockTables');
    const p = this.ownPool('setBlockTables', pool);
    p.tables.set(tables, nSeqs, maxBlocks);
    p.homes.ensureAll(p.tables.tables); // blocks used for the first time get memory
  }

  copyBlocks(pool: KvPool, pairs: Int32Array): void {
    this.live('copyBlocks');
    const p = this.ownPool('copyBlocks', pool);
    checkCopyPairs(p, pairs);
    p.homes.ensureAll(pairs);
    for (let i = 0; i < pairs.length; i += 2) copyBlockRef(p, pairs[i], pairs[i + 1]);
    this.count('ref.copy_blocks');
  }

  shiftKeys(pool: KvPool, seq: number, from: number, to: number, delta: number, theta: number, style: RopeStyle): void {
    this.live('shiftKeys');
    const p = this.ownPool('shiftKeys', pool);
    checkShift(p.tables, seq, from, to, delta, theta, style);
    shiftKeysRef(p, seq, from, to, delta, theta, style);
    this.count('ref.shift_keys');
  }

  embed(outT: Tensor, table: Weight, tokenIds: ArrayLike<number>): void {
    this.live('embed');
    const w = this.own('embed', table);
    const out = this.f32('embed', 'out', outT);
    requireLength('embed', 'out', out, tokenIds.length * w.cols);
    embedRef(out, w, tokenIds);
    this.count(`ref.embed.${TYPE_TRAITS[w.info.type].name.toLowerCase()}`);
  }

  rmsnorm(outT: Tensor, xT: Tensor, weightT: Tensor, nTokens: number, dim: number, eps: number): void {
    this.live('rmsnorm');
    const out = this.f32('rmsnorm', 'out', outT);
    const x = this.f32('rmsnorm', 'x', xT);
    const weight = this.f32('rmsnorm', 'weight', weightT);
    requireInt('rmsnorm', 'nTokens', nTokens, 0);
    requireInt('rmsnorm', 'dim', dim, 1);
    requireFinite('rmsnorm', 'eps', eps);
    requireLength('rmsnorm', 'x', x, nTokens * dim);
    requireLength('rmsnorm', 'out', out, nTokens * dim);
    requireLength('rmsnorm', 'weight', weight, dim);
    rmsnormRef(out, x, weight, nTokens, dim, eps);
    this.count('ref.rmsnorm');
  }

  matmulMany(x: Tensor, nTokens: number, targets: readonly MatmulTarget[]): void {
    this.live('matmulMany');
    checkMatmulMany(x, nTokens, targets, (t) => this.ownMatrix('matmulMany', t.w));
    this.f32('matmulMany', 'x', x);
    targets.forEach((t, i) => this.f32('matmulMany', `targets[${i}].out`, t.out));
    for (const t of targets) this.matmul(t.out, t.w, x, nTokens, t.scale ?? 1);
  }

  matmul(outT: Tensor, w: Weight, xT: Tensor, nTokens: number, scale = 1): void {
    this.live('matmul');
    const weight = this.ownMatrix('matmul', w);
    const out = this.f32('matmul', 'out', outT);
    const x = this.f32('matmul', 'x', xT);
    requireInt('matmul', 'nTokens', nTokens, 0);
    requireFinite('matmul', 'scale', scale);
    requireLength('matmul', 'x', x, nTokens * weight.cols);
    requireLength('matmul', 'out', out, nTokens * weight.rows);
    if (this.matmulScratch.xq.length < weight.cols) {
      this.matmulScratch.xq = new Int8Array(weight.cols);
      this.matmulScratch.actScales = new Float64Array(Math.ceil(weight.cols / 256));
    }
    matmulRef(out, weight, x, nTokens, scale, this.matmulScratch);
    this.count(`ref.matmul.${TYPE_TRAITS[weight.info.type].name.toLowerCase()}`);
  }

  rope(xT: Tensor, nTokens: number, nHeads: number, headDim: number, positions: ArrayLike<number>, theta: number, style: RopeStyle): void {
    this.live('rope');
    const x = this.f32('rope', 'x', xT);
    checkRopeArgs(nTokens, nHeads, headDim, positions, theta, style);
    requireLength('rope', 'x', x, nTokens * nHeads * headDim);
    if (this.ropeCos.length < headDim / 2) {
      this.ropeCos = new Float64Array(headDim / 2);
      this.ropeSin = new Float64Array(headDim / 2);
    }
    ropeRef(x, nTokens, nHeads, headDim, positions, theta, style, this.ropeCos, this.ropeSin);
    this.count(`ref.rope.${style}`);
  }

  kvWrite(pool: KvPool, layer: number, kT: Tensor, vT: Tensor, batch: KvBatch): void {
    this.live('kvWrite');
    const k = this.f32('kvWrite', 'k', kT);
    const v = this.f32('kvWrite', 'v', vT);
    const p = this.ownPool('kvWrite', pool, layer);
    p.tables.checkBatch('kvWrite', batch);
    requireLength('kvWrite', 'k', k, batch.nTokens * p.kvDim);
    requireLength('kvWrite', 'v', v, batch.nTokens * p.kvDim);
    kvWriteRef(p, layer, k, v, batch);
    this.count('ref.kv_write');
  }

  attention(outT: Tensor, qT: Tensor, pool: KvPool, layer: number, batch: KvBatch, nHeads: number, nKvHeads: number): void {
    this.live('attention');
    const out = this.f32('attention', 'out', outT);
    const q = this.f32('attention', 'q', qT);
    const p = this.ownPool('attention', pool, layer);
    const headDim = p.headDim;
    p.tables.checkBatch('attention', batch);
    checkAttentionShape(nHeads, nKvHeads, headDim, p);
    requireLength('attention', 'q', q, batch.nTokens * nHeads * headDim);
    requireLength('attention', 'out', out, batch.nTokens * nHeads * headDim);
    let maxPos = 0;
    for (let t = 0; t < batch.nTokens; t++) maxPos = Math.max(maxPos, batch.positions[t] + 1);
    if (this.scores.length < maxPos) this.scores = new Float64Array(maxPos);
    if (this.acc.length < headDim) this.acc = new Float64Array(headDim);
    attentionRef(out, q, p, layer, batch, nHeads, nKvHeads, this.scores, this.acc);
    this.count('ref.attention');
  }

  /** The checks and bookkeeping every two-input element-wise op shares. */
  private elementwise(op: string, id: string, aName: string, aT: Tensor, bName: string, bT: Tensor, n: number, kernel: (a: Float32Array, b: Float32Array, n: number) => void): void {
    this.live(op);
    const a = this.f32(op, aName, aT);
    const b = this.f32(op, bName, bT);
    requireInt(op, 'n', n, 0);
    requireLength(op, aName, a, n);
    requireLength(op, bName, b, n);
    kernel(a, b, n);
    this.count(id);
  }

  addInPlace(x: Tensor, y: Tensor, n: number): void {
    this.elementwise('addInPlace', 'ref.add', 'x', x, 'y', y, n, addInPlaceRef);
  }

  reluSqrMul(gate: Tensor, up: Tensor, n: number): void {
    this.elementwise('reluSqrMul', 'ref.relu_sqr_mul', 'gate', gate, 'up', up, n, reluSqrMulRef);
  }

  siluMul(gate: Tensor, up: Tensor, n: number): void {
    this.elementwise('siluMul', 'ref.silu_mul', 'gate', gate, 'up', up, n, siluMulRef);
  }

  gatherRows(outT: Tensor, xT: Tensor, rows: ArrayLike<number>, dim: number): void {
    this.live('gatherRows');
    const out = this.f32('gatherRows', 'out', outT);
    const x = this.f32('gatherRows', 'x', xT);
    requireInt('gatherRows', 'dim', dim, 1);
    requireLength('gatherRows', 'out', out, rows.length * dim);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (!Number.isInteger(r) || r < 0 || (r + 1) * dim > x.length) {
        throw new BitNetError('BAD_ARGUMENT', `gatherRows: rows[${i}] = ${r} is not a row of x (${Math.floor(x.length / dim)} rows of ${dim})`, { details: { op: 'gatherRows', index: i, actual: r } });
      }
    }
    if (out === x) throw new BitNetError('BAD_ARGUMENT', 'gatherRows: out must not be x', { details: { op: 'gatherRows', field: 'out' } });
    for (let i = 0; i < rows.length; i++) out.set(x.subarray(rows[i] * dim, (rows[i] + 1) * dim), i * dim);
    this.count('ref.gather_rows');
  }

  argmax(logits: Tensor, nRows: number, vocab: number): Promise<Int32Array> {
    this.live('argmax');
    const d = this.f32('argmax', 'logits', logits);
    checkRows('argmax', d.length, nRows, vocab);
    return Promise.resolve(argmaxRows(d, nRows, vocab));
  }

  topK(logits: Tensor, nRows: number, vocab: number, k: number): Promise<TopK> {
    this.live('topK');
    const d = this.f32('topK', 'logits', logits);
    checkRows('topK', d.length, nRows, vocab);
    checkK('topK', k, vocab);
    return Promise.resolve(topKRows(d, nRows, vocab, k));
  }

  kernelCalls(): ReadonlyMap<string, number> {
    return new Map(this.calls);
  }

  dispose(): Promise<void> {
    this.disposed = true;
    return Promise.resolve();
  }
}

/** A new scalar reference backend (no shared state between instances). */
export function createReferenceBackend(): KernelBackend {
  return new ReferenceBackend();
}
