// Fuzz target: every tensor format's decoders (dequantizeRows, the ternary and float row dots, unpack, the I2_S scale)
// on arbitrary bytes of the right or a wrong length, with arbitrary shapes, offsets and output buffers.
//
// Passes: a result, or a BitNetError. Findings: any other exception; a result that changes when the same bytes sit
// inside a larger buffer (a read past the view); a row dot that disagrees with the dequantized row; a dot that calls
// a row dequantizeRows just read out of range.

import { GgmlType, TYPE_TRAITS, tensorByteSize, type GgmlType as GgmlTypeId } from '../../src/formats/ggml-type.js';
import { i2sScale, unpackI2s } from '../../src/formats/i2s.js';
import { dequantizeRows, dotTernaryRow, floatRowDot, isFloatDotType, isTernary } from '../../src/formats/index.js';
import { unpackTq1_0 } from '../../src/formats/tq1_0.js';
import { unpackTq2_0 } from '../../src/formats/tq2_0.js';
import { BitNetError, type BitNetErrorCode } from '../../src/errors.js';
import { FuzzInput } from '../input.js';
import { invariant, type FuzzTarget } from '../target.js';

/** Types the decoders know, plus some they must refuse (Q4_K, TL1, an unknown id). */
const TYPES: readonly number[] = [
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q6_K,
  GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S, GgmlType.Q4_K, GgmlType.TL1, 99,
];

/** Largest decoded size one execution may ask for (keeps executions fast). */
const MAX_ELEMENTS = 1 << 16;

function blockOf(type: number): number {
  if (type === GgmlType.I2_S) return 128;
  return type in TYPE_TRAITS ? TYPE_TRAITS[type as GgmlTypeId].blockSize : 32;
}

/** Bytes a [cols x rows] tensor of `type` needs, or a guess when the shape is invalid for it. */
function rightSize(type: number, cols: number, rows: number): number {
  try {
    return tensorByteSize(type as GgmlTypeId, cols * rows, cols);
  } catch {
    return cols * rows;
  }
}

type Op = 'dequantize' | 'dot' | 'unpack' | 'scale';

interface Case {
  readonly type: number;
  readonly op: Op;
  readonly rowStart: number;
  readonly nRows: number;
  readonly cols: number;
  readonly bytes: Uint8Array;
  readonly outLength: number;
  readonly outOffset: number;
  readonly x: Float64Array;
  readonly xq: Int8Array;
}

function decodeCase(data: Uint8Array): Case {
  const inp = new FuzzInput(data);
  const type = inp.pick(TYPES);
  const op = inp.pick<Op>(['dequantize', 'dequantize', 'dot', 'unpack', 'scale']);
  const block = blockOf(type);
  const cols = inp.bool() ? block * inp.int(1, 4) : inp.edgyInt();
  const nRows = inp.bool() ? inp.int(0, 3) : inp.edgyInt();
  const rowStart = inp.bool() ? inp.int(0, 3) : inp.edgyInt();
  const sizeMode = inp.int(0, 3);
  const safeCols = Math.max(1, Math.min(Math.abs(cols), MAX_ELEMENTS));
  const safeRows = Math.max(1, Math.min(Math.abs(rowStart) + Math.abs(nRows), 8));
  const right = Math.min(rightSize(type, safeCols, safeRows), 4 * MAX_ELEMENTS);
  const nBytes = sizeMode === 0 ? right : sizeMode === 1 ? Math.max(0, right + inp.int(-40, 40)) : sizeMode === 2 ? right + (type === GgmlType.I2_S ? 0 : inp.int(0, 3)) : inp.int(0, 600);
  const fill = inp.rest();
  const bytes = new Uint8Array(nBytes);
  for (let i = 0; i < nBytes; i++) bytes[i] = fill.length === 0 ? (i * 37) & 0xff : fill[i % fill.length] ^ ((i / fill.length) & 0xff);
  const want = Math.abs(nRows) * Math.abs(cols);
  const outLength = Math.min(MAX_ELEMENTS, Number.isFinite(want) ? want + (fill.length > 0 ? fill[0] % 3 : 0) : 0);
  const outOffset = fill.length > 1 ? fill[1] % 3 : 0;
  const n = Math.min(safeCols, MAX_ELEMENTS);
  const x = new Float64Array(n);
  const xq = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const b = fill.length === 0 ? i : fill[(i * 7) % fill.length];
    xq[i] = (b << 24) >> 24;
    x[i] = ((b % 17) - 8) / 4;
  }
  return { type, op, rowStart, nRows, cols, bytes, outLength, outOffset, x, xq };
}

/** The same bytes, but as a view in the middle of a larger buffer full of junk. */
function embedded(bytes: Uint8Array): Uint8Array {
  const big = new Uint8Array(bytes.length + 96).fill(0xa5);
  big.set(bytes, 48);
  return big.subarray(48, 48 + bytes.length);
}

type Result = { kind: 'ok'; values: Float64Array } | { kind: 'refused'; code: BitNetErrorCode };

function attempt(f: () => ArrayLike<number>): Result {
  try {
    return { kind: 'ok', values: Float64Array.from(f()) };
  } catch (e) {
    if (e instanceof BitNetError && e.code !== 'INTERNAL') return { kind: 'refused', code: e.code };
    throw e;
  }
}

function runOp(c: Case, bytes: Uint8Array): Result {
  switch (c.op) {
    case 'dequantize':
      return attempt(() => {
        const out = new Float32Array(c.outLength).fill(Number.NaN);
        dequantizeRows(c.type as GgmlTypeId, bytes, c.rowStart, c.nRows, c.cols, out, c.outOffset);
        return out.subarray(c.outOffset, c.outOffset + c.nRows * c.cols);
      });
    case 'dot':
      return attempt(() => {
        if (isTernary(c.type as GgmlTypeId)) return [dotTernaryRow(c.type as GgmlTypeId, bytes, c.rowStart, c.cols, c.xq)];
        return [floatRowDot(c.type as GgmlTypeId, bytes, c.rowStart, c.cols, c.x)];
      });
    case 'unpack':
      return attempt(() => {
        const n = c.nRows * c.cols;
        if (c.type === GgmlType.I2_S) return unpackI2s(bytes, n);
        if (c.type === GgmlType.TQ2_0) return unpackTq2_0(bytes, n);
        if (c.type === GgmlType.TQ1_0) return unpackTq1_0(bytes, n);
        return dequantizeRowsAll(c, bytes);
      });
    case 'scale':
      return attempt(() => [i2sScale(bytes, c.nRows * c.cols)]);
  }
}

function dequantizeRowsAll(c: Case, bytes: Uint8Array): Float32Array {
  const out = new Float32Array(Math.max(0, Math.min(MAX_ELEMENTS, c.nRows * c.cols)));
  dequantizeRows(c.type as GgmlTypeId, bytes, 0, c.nRows, c.cols, out);
  return out;
}

function sameResult(a: Result, b: Result): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'refused' || b.kind === 'refused') return a.kind === 'refused' && b.kind === 'refused' && a.code === b.code;
  if (a.values.length !== b.values.length) return false;
  for (let i = 0; i < a.values.length; i++) if (!Object.is(a.values[i], b.values[i])) return false;
  return true;
}

/** A row dot must agree with the dequantized row (when both are finite). */
function checkDotAgainstRows(c: Case, bytes: Uint8Array, rows: Float64Array): void {
  const type = c.type as GgmlTypeId;
  const ternary = isTernary(type);
  if (!ternary && !isFloatDotType(type)) return;
  for (let r = 0; r < Math.min(c.nRows, 2); r++) {
    const row = rows.subarray(r * c.cols, (r + 1) * c.cols);
    if (!row.every(Number.isFinite)) continue;
    let expected = 0;
    let magnitude = 0;
    for (let i = 0; i < c.cols; i++) {
      const term = row[i] * (ternary ? c.xq[i] : c.x[i]);
      expected += term;
      magnitude += Math.abs(term);
    }
    let got: number;
    try {
      got = ternary ? dotTernaryRow(type, bytes, c.rowStart + r, c.cols, c.xq) : floatRowDot(type, bytes, c.rowStart + r, c.cols, c.x);
    } catch (e) {
      // A dot may refuse a shape that element-wise decoding accepts (I2_S rows must be multiples of 128), but never a
      // row that dequantizeRows just read.
      const why = e instanceof Error ? e.message : String(e);
      invariant(e instanceof BitNetError && e.code !== 'BAD_ARGUMENT', `${TYPE_TRAITS[type].name}: dequantizeRows read row ${c.rowStart + r} of ${c.cols} columns but the row dot refused it: ${why}`);
      return;
    }
    invariant(Math.abs(got - expected) <= 1e-9 * magnitude + 1e-12, `${TYPE_TRAITS[type].name}: row ${c.rowStart + r} dot ${got} != dequantized dot ${expected}`);
  }
}

function run(data: Uint8Array): void {
  const c = decodeCase(data);
  const exact = runOp(c, c.bytes);
  const inside = runOp(c, embedded(c.bytes));
  invariant(sameResult(exact, inside), `${c.op} of type ${c.type}: result depends on bytes outside the view (${exact.kind} vs ${inside.kind})`);
  if (exact.kind === 'ok' && c.op === 'dequantize' && c.nRows > 0) checkDotAgainstRows(c, c.bytes, exact.values);
  // Report the refusal as such (the fuzz statistics count refusals apart from results).
  if (exact.kind === 'refused') throw new BitNetError(exact.code, `${c.op} of type ${c.type} refused`);
}

/** A seed: type index, op index, then choices that give a valid shape and the right byte count. */
function seed(typeIndex: number, opIndex: number, rows: number): Uint8Array {
  // pick(TYPES): 1 byte; pick(op): 1 byte; bool (1 = block multiple) + int(1,4) 1 byte; bool + int(0,3); bool + int(0,3); sizeMode
  return Uint8Array.from([typeIndex, opIndex, 1, 1, 1, rows, 1, 0, 0, 7, 1, 200, 13, 64, 250, 3, 99, 128]);
}

export const formatsTarget: FuzzTarget = {
  name: 'formats',
  description: 'dequantizeRows / dotTernaryRow / floatRowDot / unpack* / i2sScale on arbitrary bytes and shapes',
  maxInputBytes: 4096,
  maxExecMs: 1000,
  seeds: () => {
    const out: Uint8Array[] = [];
    for (let t = 0; t < 9; t++) for (const op of [0, 2, 3]) out.push(seed(t, op, 2));
    out.push(seed(8, 4, 1), seed(9, 0, 1), seed(10, 0, 1), seed(11, 2, 1));
    return out;
  },
  run,
};
