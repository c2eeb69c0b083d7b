// The Node-only entry ('bitnet/node'): file byte source, the HTTP adapter for the server app, the demo-model cache.
export { openFileSource } from './gguf/byte-source.js';
export { listen, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_CLOSE_GRACE_MS } from './server/node.js';
export type { ListenOptions, RunningServer } from './server/node.js';
export { ensureDemoModel, cacheDir as demoModelCacheDir } from './cli/demo-model.js';
