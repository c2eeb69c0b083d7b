// Installs the peer engine (node-llama-cpp, pinned by tools/peer/package-lock.json) into tools/peer/node_modules,
// outside the package's own dependencies: only `npm run crossval` and the llama.cpp column of the benchmarks need it.
//
// Usage: npm run peer:install                          install (or refresh) it
//        node scripts/peer-install.mjs --if-missing    install only when absent (npm run crossval does this)

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const peerDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'tools', 'peer');
const installed = existsSync(join(peerDir, 'node_modules', 'node-llama-cpp', 'package.json'));

if (process.argv.includes('--if-missing') && installed) process.exit(0);

console.error(`${installed ? 'refreshing' : 'installing'} node-llama-cpp (llama.cpp, the peer for crossval and bench) into tools/peer/ -- about 700 MB, once`);
// Run npm the way this script was started when npm started it (npm_execpath), else the npm on PATH.
const npmCli = process.env.npm_execpath;
const [cmd, args] = npmCli !== undefined && npmCli.endsWith('.js') ? [process.execPath, [npmCli]] : [process.platform === 'win32' ? 'npm.cmd' : 'npm', []];
const r = spawnSync(cmd, [...args, 'ci', '--no-audit', '--no-fund'], { cwd: peerDir, stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status !== 0) {
  console.error(`peer install failed (exit ${r.status ?? r.signal}); the rest of the repository does not need it`);
  process.exit(1);
}
