#!/usr/bin/env node
// CLI launcher: runs the compiled CLI (npm run build produces dist/).
import { main } from '../dist/src/cli/main.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
