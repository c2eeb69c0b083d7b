// The Node-only entry ('bitnet/node'): file byte source, the HTTP adapter for the server app, the demo-model cache, pull.
export { openFileSource } from './gguf/byte-source.js';
export { listen, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_CLOSE_GRACE_MS } from './server/node.js';
export type { ListenOptions, RunningServer } from './server/node.js';
export { ensureDemoModel, cacheDir as demoModelCacheDir } from './cli/demo-model.js';
// bitnet pull: hub / URL downloads into the model cache (resumable, verified), and the cache itself.
export { pullModel, parseModelRef, looksLikeHubRef, listRepoFiles, pickGguf, findCachedModel, DEFAULT_HUB_URL } from './pull/pull.js';
export type { PullOptions, PulledModel, ModelRef } from './pull/pull.js';
export { ModelCache } from './pull/cache.js';
export type { CachedModel } from './pull/cache.js';
export { downloadFile, DEFAULT_CHUNK_BYTES, DEFAULT_PARALLEL } from './pull/download.js';
export type { DownloadOptions, DownloadProgress, DownloadResult } from './pull/download.js';
// WebGPU in Node through the optional `webgpu` package (Dawn): pass the result as LoadOptions.gpu.
export { loadNodeGpu, NODE_WEBGPU_PACKAGE } from './kernels/webgpu/node-gpu.js';
export type { Gpu, GpuAdapter } from './kernels/webgpu/gpu-api.js';
