// The kernel module's exported functions as TypeScript sees them (mirrors assembly/index.ts; everything else runs
// through runJob and the job block of job-layout.ts).

/** The kernel module's exports (assembly/index.ts). */
export interface KernelExports {
  runJob(job: number, thread: number): void;
  quantizeTernary(
    x: number, nTokens: number, cols: number, xq: number, xqStride: number, info: number,
    bsums: number, bsumsStride: number, tab: number, tabStride: number, q8k: number, ascales: number, ascalesStride: number,
  ): void;
  buildLutTables(xq: number, xqStride: number, nTokens: number, cols: number, tab: number, tabStride: number): void;
  repackTQ1ToTQ2(p: number, nBlocks: number, tmp: number): void;
  dotLayoutTQ2(w: number, cols: number, dotRows: number, tmp: number): void;
  embedRow(out: number, w: number, format: number, cols: number, row: number, scale: number, tiledRows: number, panelRows: number, dotRows: number): void;
  rmsnorm(out: number, x: number, weight: number, nTokens: number, dim: number, eps: number): void;
  rope(x: number, nTokens: number, nHeads: number, headDim: number, cs: number, neox: number): void;
  kvWrite(kPlane: number, vPlane: number, k: number, v: number, dst: number, nTokens: number, kvDim: number, headDim: number, blockSize: number): number;
  addInPlace(x: number, y: number, n: number): void;
  reluSqrMul(gate: number, up: number, n: number): void;
  siluMul(gate: number, up: number, n: number): void;
  selfCheckRelaxedDot(): number;
  relaxedDotLowering(): number;
  initConstants(): void;
  /** The softmax's f32 exponential over n f32 (the accuracy test's entry). */
  expF32Rows(src: number, dst: number, n: number): void;
  quantizeQ8_0Act(x: number, nTokens: number, cols: number, out: number, outStride: number, scales: number, scalesStride: number): void;
  biasQ8_0Act(x: number, nTokens: number, cols: number, xStride: number, out: number, outStride: number): void;
  quantizeQ8KAct(x: number, nTokens: number, cols: number, out: number, outStride: number, scales: number, scalesStride: number): void;
  roundActivationsF16(x: number, nTokens: number, cols: number, out: number, scaled: number): void;
  roundActivationsBF16(x: number, n: number, out: number): void;
  hasF16NonFinite(p: number, n: number): number;
  hasCode3(p: number, nBytes: number, blockBytes: number, codeBytes: number): number;
  f16SubnormalCount(p: number, n: number): number;
  f16ExtractSubnormals(p: number, rows: number, cols: number, rowStarts: number, colsOut: number, valuesOut: number): void;
}
