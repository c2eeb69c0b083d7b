// Times the load-time repack of every non-x86 ternary layout (I2_S flavors, TL1, TL2) into x86 I2_S on the
// BitNet b1.58 2B-4T weight shapes, and, given a build of an older tree, the same repack there, alternately, with
// medians: the figures quoted for issues 14 and 10. Not a test (timings on shared machines vary too much).
//
//   npm run build && node dist/bench/repack.js [--runs 5] [--baseline base.mjs] [--layouts arm,TL2]
//
// --baseline names an ES module exporting repackI2sFlavor, unpackTl and packI2sFast as an older tree has them (e.g.
// esbuild of `export { repackI2sFlavor } from './src/formats/i2s-flavors.js'; ...` in a `git archive` of it); its
// output must equal ours byte for byte or the run stops.

import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { repackI2sFlavor } from '../src/formats/i2s-flavors.js';
import type { I2sFlavor } from '../src/formats/i2s-flavors.js';
import { writeF32 } from '../src/formats/f32.js';
import { repackTlToI2s, tlByteSize } from '../src/formats/tl.js';
import type { TlTiles, TlType } from '../src/formats/tl.js';

type Layout = I2sFlavor | TlType;
// x86 is the floor: what a load of an x86 file does (a copy of the codes into a fresh buffer).
const LAYOUTS: readonly Layout[] = ['x86', 'arm', 'x86-4row', 'bitnet32-f16', 'split32', 'qk256', 'TL1', 'TL2'];

/** The 2B-4T ternary weights (m rows x k columns) and how many of each a model holds (30 layers). */
const SHAPES: readonly { readonly m: number; readonly k: number; readonly perModel: number }[] = [
  { m: 2560, k: 2560, perModel: 60 }, // attn_q, attn_output
  { m: 640, k: 2560, perModel: 60 }, // attn_k, attn_v
  { m: 6912, k: 2560, perModel: 60 }, // ffn_gate, ffn_up
  { m: 2560, k: 6912, perModel: 30 }, // ffn_down
];

interface Impl {
  repackI2sFlavor(flavor: I2sFlavor, bytes: Uint8Array, n: number, rowLength: number, blockScales?: ArrayLike<number>): { bytes: Uint8Array };
  tl(type: TlType, bytes: Uint8Array, m: number, k: number, t: TlTiles): Uint8Array;
}

const current: Impl = {
  repackI2sFlavor,
  tl: (type, bytes, m, k, t) => {
    const out = repackTlToI2s(type, bytes, m, k, t);
    writeF32(out, (m * k) / 4, 0.5);
    return out;
  },
};

interface BaselineModule {
  repackI2sFlavor: Impl['repackI2sFlavor'];
  unpackTl(type: TlType, bytes: Uint8Array, m: number, k: number, t: TlTiles): Int8Array;
  packI2sFast(codes: Int8Array, scale: number, rowLength: number): Uint8Array;
}

async function loadBaseline(path: string): Promise<Impl> {
  const mod = (await import(pathToFileURL(path).href)) as BaselineModule;
  return { repackI2sFlavor: mod.repackI2sFlavor, tl: (type, bytes, m, k, t) => mod.packI2sFast(mod.unpackTl(type, bytes, m, k, t), 0.5, k) };
}

/** A small deterministic generator (xorshift32), so both trees see the same bytes. */
function randomBytes(n: number, seed: number, valid: Uint8Array): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = valid[(x >>> 0) % valid.length] ?? 0;
  }
  return out;
}

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const bytesWhere = (ok: (b: number) => boolean): Uint8Array => ALL_BYTES.filter(ok);
const NO_CODE_0 = bytesWhere((b) => [0, 2, 4, 6].every((s) => ((b >>> s) & 3) !== 0)); // bitnet32-f16, split32: codes 1..3
const PAIR_BYTES = bytesWhere((b) => b >>> 4 <= 8 && (b & 15) <= 8);
const TRIPLE_BYTES = bytesWhere((b) => b >>> 4 <= 13 && (b & 15) <= 13);

function tilesFor(type: TlType, m: number, k: number): TlTiles {
  // TL1: k % BK = 0, BK % (256 / bm) = 0; TL2: BK % 24 = 0, k % BK a multiple of 32 (2560 % 96 = 64: a pair tail)
  return { m, k, bm: 128, bk: type === 'TL1' ? 128 : 96, bmm: 32 };
}

interface Case {
  readonly run: (impl: Impl) => Uint8Array;
}

function makeCase(layout: Layout, m: number, k: number): Case {
  const n = m * k;
  if (layout === 'TL1' || layout === 'TL2') {
    const t = tilesFor(layout, m, k);
    const bytes = new Uint8Array(tlByteSize(layout, m, k));
    if (layout === 'TL1') bytes.set(randomBytes(bytes.length, n, PAIR_BYTES));
    else {
      const k3 = k - (k % t.bk);
      const index = (m * k3) / 6;
      const signs = (m * k3) / 24;
      bytes.set(randomBytes(index, n, TRIPLE_BYTES), 0);
      bytes.set(randomBytes(signs, n + 1, ALL_BYTES), index);
      bytes.set(randomBytes((m * (k - k3)) / 4, n + 2, PAIR_BYTES), index + signs);
    }
    return { run: (impl) => impl.tl(layout, bytes, m, k, t) };
  }
  switch (layout) {
    case 'x86':
    case 'arm':
    case 'x86-4row': {
      const bytes = new Uint8Array(n / 4 + 32);
      bytes.set(randomBytes(n / 4, n, ALL_BYTES));
      writeF32(bytes, n / 4, 0.5);
      return { run: (impl) => impl.repackI2sFlavor(layout, bytes, n, k).bytes };
    }
    case 'bitnet32-f16': {
      const bytes = randomBytes((n / 32) * 10, n, NO_CODE_0);
      for (let b = 0; b < n / 32; b++) {
        bytes[b * 10 + 8] = 0x00; // f16 0.5
        bytes[b * 10 + 9] = 0x38;
      }
      return { run: (impl) => impl.repackI2sFlavor(layout, bytes, n, k).bytes };
    }
    case 'split32':
    case 'qk256': {
      const bytes = randomBytes(n / 4, n, layout === 'split32' ? NO_CODE_0 : ALL_BYTES);
      const scales = new Float32Array(n / (layout === 'split32' ? 32 : 256)).fill(0.5);
      return { run: (impl) => impl.repackI2sFlavor(layout, bytes, n, k, scales).bytes };
    }
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

function line(layout: string, shape: string, r: { before: number; after: number; cpuBefore: number; cpuAfter: number }, both: boolean): string {
  const fmt = (ms: number): string => ms.toFixed(1).padStart(8);
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(1).padStart(7)}x`;
  return both
    ? `${layout.padEnd(13)}${shape.padEnd(12)}${fmt(r.before)}${fmt(r.after)}${ratio(r.before, r.after)}${fmt(r.cpuBefore)}${fmt(r.cpuAfter)}${ratio(r.cpuBefore, r.cpuAfter)}`
    : `${layout.padEnd(13)}${shape.padEnd(12)}${fmt(r.after)}${fmt(r.cpuAfter)}`;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, baseline: { type: 'string' }, layouts: { type: 'string' } } });
  const runs = Number(values.runs);
  const layouts = values.layouts === undefined ? LAYOUTS : (values.layouts.split(',') as Layout[]);
  const baseline = values.baseline === undefined ? undefined : await loadBaseline(values.baseline);
  console.log(`repack into x86 I2_S, ${runs} runs each, medians in ms (wall, and this process's CPU time, which other processes on the machine disturb less); ${availableParallelism()} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at start`);
  const both = baseline !== undefined;
  console.log(`${'layout'.padEnd(13)}${'shape'.padEnd(12)}${both ? ' before' : ''}   after${both ? '   ratio' : ''}${both ? ' cpu:bef' : ''}  cpu:aft${both ? '   ratio' : ''}`);
  for (const layout of layouts) {
    const model = { before: 0, after: 0, cpuBefore: 0, cpuAfter: 0 };
    for (const { m, k, perModel } of SHAPES) {
      const c = makeCase(layout, m, k);
      const t = { before: [] as number[], after: [] as number[], cpuBefore: [] as number[], cpuAfter: [] as number[] };
      const time = (impl: Impl, wall: number[], cpu: number[]): Uint8Array => {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const out = c.run(impl);
        wall.push(performance.now() - t0);
        const used = process.cpuUsage(c0);
        cpu.push((used.user + used.system) / 1000);
        return out;
      };
      for (let r = 0; r < runs; r++) {
        if (baseline !== undefined) {
          const old = time(baseline, t.before, t.cpuBefore);
          if (r === 0 && !equalBytes(old, c.run(current))) throw new Error(`${layout} ${m}x${k}: the baseline's bytes differ from ours`);
        }
        time(current, t.after, t.cpuAfter);
      }
      const row = { before: median(t.before), after: median(t.after), cpuBefore: median(t.cpuBefore), cpuAfter: median(t.cpuAfter) };
      for (const key of ['before', 'after', 'cpuBefore', 'cpuAfter'] as const) model[key] += row[key] * perModel;
      console.log(line(layout, `${m}x${k}`, row, both));
    }
    console.log(`${line(layout, '2B model', model, both)}   (sum of medians x weights per model)`);
  }
  console.log(`load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

await main();
