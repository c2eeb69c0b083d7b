// Placeholder until the wasm kernels land: the wasm build step is wired into `npm run build`.
// (Replaced by the AssemblyScript build in the wasm backend change.)
