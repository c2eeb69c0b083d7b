// The peer engine's entry point: re-exports node-llama-cpp as installed in tools/peer/node_modules, so the
// repository's scripts (src/bench/peer-llama.ts) can import it by file path without it being a dependency.
export * from 'node-llama-cpp';
