// `npm run demo -- [--model FILE] [--port P]`: serves the browser chat demo on 127.0.0.1 (without --model, the
// built-in synthetic demo model) and prints its address.

import { Command } from 'commander';
import { ensureDemoModel } from '../cli/demo-model.js';
import { startDemoServer } from './server.js';

const program = new Command('bitnet-demo')
  .option('--model <file>', 'GGUF model to serve at /models/<file name>')
  .option('--port <port>', 'port (default 8787)', '8787')
  .parse();
const opts = program.opts<{ model?: string; port: string }>();
const port = Number(opts.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be an integer 0..65535, got ${opts.port}`);
  process.exit(2);
}
try {
  const model = opts.model ?? (await ensureDemoModel((line) => console.error(line)));
  const server = await startDemoServer({ models: [model], port });
  console.log(`bitnet demo: ${server.url}  (model: ${model}; Ctrl-C to stop)`);
  process.once('SIGINT', () => void server.close().then(() => process.exit(0)));
} catch (e) {
  console.error(`bitnet demo: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
