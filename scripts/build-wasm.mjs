// Builds the WebAssembly kernels: compiles src/kernels/wasm/assembly/ with the AssemblyScript compiler API
// into src/kernels/wasm/generated/*.ts modules that embed the wasm bytes (base64) and a hash of the inputs; and the
// sampler's small module (src/sampling/assembly/ -> src/sampling/generated/exp-weights.ts: its own non-shared
// memory, exported, SIMD128 only; see src/sampling/exp-weights.ts).
//
// Usage: node scripts/build-wasm.mjs           build (rewrites a generated file only when its hash changed)
//        node scripts/build-wasm.mjs --check   exit 1 when a generated file is stale or missing (tests use this)
//        node scripts/build-wasm.mjs --force   rebuild even when hashes match
//
// Two binaries: 'simd128' (baseline SIMD) and 'relaxed-simd' (adds relaxed SIMD: i32x4.relaxed_dot_i8x16_i7x16_add_s,
// i8x16.relaxed_swizzle). Both import one shared memory (env.memory, max 65536 pages = 4 GiB) so worker
// threads run the same kernels over the same weights, use the stub runtime (no GC: kernels use raw pointers)
// and must contain no data segment (each thread's instantiation would rewrite it).

import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const KERNEL_FLAGS = [
  '-O3',
  '--noAssert',
  '--runtime', 'stub',
  '--use', 'abort=',
  '--importMemory',
  '--noExportMemory',
  '--sharedMemory',
  '--initialMemory', '1',
  '--maximumMemory', '65536',
];

/** The sampler's module: one instance per sampler, with its own memory (grown by the host to the vocabulary). */
const SAMPLING_FLAGS = ['-O3', '--noAssert', '--runtime', 'stub', '--use', 'abort=', '--initialMemory', '1'];

const kernels = { dir: 'src/kernels/wasm/assembly', out: 'src/kernels/wasm/generated', flags: KERNEL_FLAGS, what: 'kernel module' };
const sampling = { dir: 'src/sampling/assembly', out: 'src/sampling/generated', flags: SAMPLING_FLAGS, what: "sampler's exp module" };

/** The binaries to build: name, sources and flags, output module, features. */
export const VARIANTS = [
  { name: 'simd128', ...kernels, file: 'simd128.ts', features: 'simd,threads' },
  { name: 'relaxed-simd', ...kernels, file: 'relaxed-simd.ts', features: 'simd,threads,relaxed-simd' },
  { name: 'exp-weights', ...sampling, file: 'exp-weights.ts', features: 'simd' },
];

function ascVersion() {
  const require = createRequire(import.meta.url);
  return require('assemblyscript/package.json').version;
}

/** sha256 over the compiler version, the flags of `variant` and every assembly source (sorted by path). */
export async function sourceHash(variant) {
  const h = createHash('sha256');
  h.update(`asc ${ascVersion()}\n`);
  h.update(`flags ${[...variant.flags, '--enable', variant.features].join(' ')}\n`);
  const dir = join(root, variant.dir);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ts')).sort();
  for (const f of files) {
    const text = (await readFile(join(dir, f), 'utf8')).replace(/\r\n/g, '\n');
    h.update(`file ${f} ${text.length}\n${text}\n`);
  }
  return h.digest('hex');
}

async function compile(variant) {
  const { default: asc } = await import('assemblyscript/asc');
  let wasm;
  const stderr = asc.createMemoryStream();
  const stdout = asc.createMemoryStream();
  const entry = join(root, variant.dir, 'index.ts');
  const argv = [relative(process.cwd(), entry), '--outFile', 'out.wasm', ...variant.flags, '--enable', variant.features];
  const { error } = await asc.main(argv, {
    stdout,
    stderr,
    writeFile(name, contents) {
      if (name.endsWith('.wasm')) wasm = contents;
    },
  });
  const log = stderr.toString();
  if (error || wasm === undefined) throw new Error(`asc failed for ${variant.name}: ${error?.message ?? 'no output'}\n${log}`);
  if (/WARNING|ERROR/.test(log)) throw new Error(`asc reported problems for ${variant.name}:\n${log}`);
  checkNoDataSegments(wasm, variant.name);
  return wasm;
}

/** Walks the top-level sections of a wasm binary and refuses a data section with segments. */
function checkNoDataSegments(bytes, name) {
  let p = 8;
  const leb = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[p++];
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) return result;
    }
  };
  while (p < bytes.length) {
    const id = bytes[p++];
    const size = leb();
    const start = p;
    if (id === 11) {
      const count = leb();
      if (count > 0) throw new Error(`${name}: the module has ${count} data segment(s); kernels must not use static data`);
    }
    p = start + size;
  }
}

function render(variant, hash, wasm) {
  const b64 = Buffer.from(wasm).toString('base64');
  const lines = [];
  for (let i = 0; i < b64.length; i += 120) lines.push(`  '${b64.slice(i, i + 120)}' +`);
  return [
    `// generated — do not edit. The ${variant.name} ${variant.what}, built by scripts/build-wasm.mjs from`,
    `// ${variant.dir}/ (asc ${ascVersion()}, --enable ${variant.features}); rebuild with \`npm run build:wasm\`.`,
    '',
    `/** sha256 of the compiler version, flags and assembly sources this binary was built from. */`,
    `export const SOURCE_HASH = '${hash}';`,
    '',
    `/** The wasm binary (${wasm.length} bytes), base64. */`,
    'export const WASM_BASE64 =',
    ...lines,
    "  '';",
    '',
  ].join('\n');
}

async function generatedHash(variant) {
  try {
    const text = await readFile(join(root, variant.out, variant.file), 'utf8');
    return /export const SOURCE_HASH = '([0-9a-f]{64})'/.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

async function main() {
  const args = new Set(process.argv.slice(2));
  const stale = [];
  for (const variant of VARIANTS) {
    const hash = await sourceHash(variant);
    const have = await generatedHash(variant);
    if (args.has('--check')) {
      if (have !== hash) stale.push(`${variant.file}: generated from ${have ?? 'nothing'}, sources hash to ${hash}`);
      continue;
    }
    if (have === hash && !args.has('--force')) {
      console.log(`wasm ${variant.name}: up to date`);
      continue;
    }
    const wasm = await compile(variant);
    await mkdir(join(root, variant.out), { recursive: true });
    await writeFile(join(root, variant.out, variant.file), render(variant, hash, wasm));
    console.log(`wasm ${variant.name}: ${wasm.length} bytes -> ${variant.out}/${variant.file}`);
  }
  if (stale.length > 0) {
    console.error(`stale wasm modules (run npm run build:wasm):\n  ${stale.join('\n  ')}`);
    process.exit(1);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
