// Bundles the WGSL kernels (src/kernels/webgpu/shaders/*.wgsl) into src/kernels/webgpu/generated/shaders.ts as
// strings, so the webgpu backend needs no file access at run time (browsers, bundlers).
// Usage: node scripts/build-wgsl.mjs           write the generated module when its content would change
//        node scripts/build-wgsl.mjs --check   exit 1 when it is stale or missing (tests use this)

import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'src/kernels/webgpu/shaders');
const out = join(root, 'src/kernels/webgpu/generated/shaders.ts');

function render() {
  const files = readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort();
  const lines = [
    '// generated — do not edit. The WGSL kernels of src/kernels/webgpu/shaders/, bundled as strings by',
    '// scripts/build-wgsl.mjs; rebuild with `npm run build:wgsl`.',
    '',
    '/** Kernel source by file name without .wgsl (common is prepended to every other kernel). */',
    'export const SHADERS = {',
  ];
  for (const f of files) lines.push(`  ${JSON.stringify(f.slice(0, -5))}: ${JSON.stringify(readFileSync(join(dir, f), 'utf8'))},`);
  lines.push('} as const;', '', 'export type ShaderName = keyof typeof SHADERS;', '');
  return lines.join('\n');
}

const want = render();
const have = existsSync(out) ? readFileSync(out, 'utf8') : undefined;
if (process.argv.includes('--check')) {
  if (have !== want) {
    console.error('stale WGSL bundle (run npm run build:wgsl): src/kernels/webgpu/generated/shaders.ts');
    process.exit(1);
  }
  console.log('wgsl: up to date');
} else if (have !== want) {
  writeFileSync(out, want);
  console.log('wgsl: written');
} else {
  console.log('wgsl: up to date');
}
