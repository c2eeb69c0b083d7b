// WebGPU in Node: the optional `webgpu` npm package (Dawn's Node binding), imported only when a load asks for WebGPU
// outside a browser. It is not a dependency of this package: `npm install webgpu` adds it (docs/webgpu-node.md).

import { BitNetError } from '../../errors.js';
import type { Gpu } from './gpu-api.js';

/** The npm package that provides WebGPU in Node. */
export const NODE_WEBGPU_PACKAGE = 'webgpu';

/** What `import('webgpu')` gives: `create(dawnToggles)` returns a navigator.gpu-like object. */
interface DawnModule {
  create(flags: string[]): Gpu;
}

/** Imports a module by name; a parameter so tests can stand in a missing or broken package. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

// The specifier is computed so that browser bundlers leave this import alone (the root entry must bundle for browsers).
const importModule: ModuleImporter = (specifier) => import(/* @vite-ignore */ String(specifier));

/**
 * The GPU object of Node's `webgpu` package. BACKEND_UNAVAILABLE naming what is missing: the package (not installed),
 * or its native binding (no prebuilt Dawn for this platform, or a system library it needs).
 */
export async function loadNodeGpu(importer?: ModuleImporter): Promise<Gpu> {
  if (importer !== undefined) return createNodeGpu(importer);
  processGpu ??= createNodeGpu(importModule);
  // A failed start is not kept: a later call (after `npm install webgpu`, say) tries again.
  processGpu.catch(() => (processGpu = undefined));
  return processGpu;
}

/**
 * Dawn's instance for this process. Kept for the life of the process on purpose: Dawn's devices do not hold their
 * instance alive, and once the GPU object returned by create() is garbage-collected, a device still in use crashes
 * the process (a segmentation fault, seen with webgpu 0.6.2 when only the backend held the device).
 */
let processGpu: Promise<Gpu> | undefined;

async function createNodeGpu(importer: ModuleImporter): Promise<Gpu> {
  let mod: unknown;
  try {
    mod = await importer(NODE_WEBGPU_PACKAGE);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const why = e instanceof Error ? e.message : String(e);
    if (code === 'ERR_MODULE_NOT_FOUND' && why.includes(`'${NODE_WEBGPU_PACKAGE}'`)) {
      throw new BitNetError('BACKEND_UNAVAILABLE', `webgpu backend: WebGPU in Node needs the optional '${NODE_WEBGPU_PACKAGE}' package (Dawn), which is not installed: npm install ${NODE_WEBGPU_PACKAGE}`, {
        cause: e,
        details: { missing: NODE_WEBGPU_PACKAGE },
      });
    }
    throw new BitNetError('BACKEND_UNAVAILABLE', `webgpu backend: the '${NODE_WEBGPU_PACKAGE}' package is installed but its Dawn binding did not load: ${why}`, {
      cause: e,
      details: { missing: `${NODE_WEBGPU_PACKAGE} native binding` },
    });
  }
  const create = (mod as Partial<DawnModule> | null)?.create;
  if (typeof create !== 'function') {
    throw new BitNetError('BACKEND_UNAVAILABLE', `webgpu backend: the '${NODE_WEBGPU_PACKAGE}' package does not export create(): not the Dawn binding this engine expects`, {
      details: { missing: `${NODE_WEBGPU_PACKAGE}.create` },
    });
  }
  let gpu: Gpu;
  try {
    gpu = create([]);
  } catch (e) {
    throw new BitNetError('BACKEND_UNAVAILABLE', `webgpu backend: Dawn could not start: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return {
    // Dawn answers null when it finds no usable driver; say which one it needs instead of "no adapter".
    async requestAdapter(options) {
      const adapter = await gpu.requestAdapter(options);
      if (adapter === null) throw new BitNetError('BACKEND_UNAVAILABLE', NO_ADAPTER, { details: { missing: 'Vulkan driver' } });
      return adapter;
    },
    // the kernels choose by these (packed_4x8_integer_dot_product)
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
  };
}

/** What Dawn needs on Linux, and what worked on a machine without a GPU (docs/webgpu-node.md). */
export const NO_ADAPTER =
  "webgpu backend: Dawn (the 'webgpu' package) found no GPU adapter. On Linux it needs the Vulkan loader (libvulkan1) and a Vulkan " +
  'driver: a GPU driver, or a software one (Chromium ships SwiftShader: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json; ' +
  "Debian 12's lavapipe lacks a feature Dawn requires)";
