// The suite runs on the Node that runs npm (Node 20 in CI), not the node@22 devDependency that npm
// scripts put first on PATH (that one is only for the wasm relaxed-SIMD run in src/kernels/wasm).

import { describe, expect, it } from 'vitest';

describe('test runtime', () => {
  it('is the Node that runs npm', () => {
    const npmNode = process.env.npm_node_execpath;
    if (npmNode !== undefined) expect(process.execPath).toBe(npmNode);
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(20);
  });
});
