// Lint rules: typescript-eslint's recommended set plus the project's few hard rules (STYLE.md 7, 11).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/kernels/wasm/assembly/**', 'src/kernels/wasm/generated/**', 'src/sampling/assembly/**', 'src/sampling/generated/**', 'src/kernels/webgpu/generated/**', 'coverage/**'] },
  js.configs.recommended,
  { files: ['bin/**/*.js', 'scripts/**/*.mjs', 'examples/**/*.mjs', '*.js'], languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' } } },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests never block their process's event loop on a child process: vitest's worker RPC times out after 60 s of
    // blocking on a loaded machine and fails the run with every test passed. Use execFile/spawn and await them.
    files: ['src/**/*.test.ts', 'test/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'node:child_process', importNames: ['spawnSync', 'execSync', 'execFileSync'], message: 'blocks the event loop: use execFile/spawn and await' }] }],
    },
  },
  {
    // Library code never prints or exits (STYLE.md 7); the CLI, benches and scripts may.
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**', 'src/demo/main.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': ['error', { object: 'process', property: 'exit', message: 'library code never exits' }],
    },
  },
  {
    // The root entry bundles for browsers (ARCHITECTURE.md "Next shape"): no Node import outside the Node-only corners.
    // Node built-ins are reached at run time through src/platform/node-builtin.ts; test/browser-bundle.test.ts checks the graph.
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts', 'src/**/*.suite.ts', 'src/cli/**', 'src/bench/**', 'src/synth/**', 'src/server/node.ts', 'src/node.ts', 'src/demo/**', 'src/package-info.ts', 'src/convert/node-source.ts', 'src/pull/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { regex: '^node:', message: 'browser-safe code: no node:* import (use src/platform/node-builtin.ts at run time, or move the code behind bitnet/node)', allowTypeImports: true },
          { group: ['fs', 'fs/*', 'path', 'os', 'http', 'net', 'url', 'worker_threads', 'child_process', 'crypto', 'stream', 'module'], message: 'browser-safe code: no Node built-in', allowTypeImports: true },
          { group: ['@hono/node-server', '@hono/node-server/*', 'commander'], message: 'browser-safe code: Node-only dependency' },
        ],
      }],
    },
  },
);
