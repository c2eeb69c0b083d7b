// `bitnet inspect FILE [--json]`: reads only the GGUF header and prints the model summary, tensor table and warnings.

import type { Command } from 'commander';
import { openFileSource } from '../../gguf/byte-source.js';
import { readGgufHeader } from '../../gguf/reader.js';
import { formatInspectReport } from '../../inspect/format.js';
import { inspectGguf } from '../../inspect/inspect.js';
import { I2S_FLAVOR_FLAG_HELP, TL_CONFIG_FLAG_HELP, i2sFlavorFromFlag, preTokenizerFlagHelp, preTokenizerFromFlag, tlConfigFromFlag } from '../options.js';

interface InspectFlags {
  json?: boolean;
  all?: boolean;
  strict?: boolean;
  preTokenizer?: string;
  i2sFlavor?: string;
  tlConfig?: string;
}

/** Tensor rows shown in text mode without --all (a 2B model has 332). */
const DEFAULT_TENSOR_ROWS = 40;

export function register(program: Command): void {
  program
    .command('inspect')
    .description('summarize a GGUF model (reads the header only)')
    .argument('<file>', 'GGUF model file')
    .option('--json', 'print the report as JSON')
    .option('--all', 'list every tensor in text mode')
    .option('--strict', 'exit with status 2 when there are warnings')
    .option('--pre-tokenizer <name>', preTokenizerFlagHelp())
    .option('--i2s-flavor <name>', I2S_FLAVOR_FLAG_HELP)
    .option('--tl-config <kernel_config.ini>', TL_CONFIG_FLAG_HELP)
    .action(async (file: string, f: InspectFlags) => {
      const preTokenizer = preTokenizerFromFlag(f.preTokenizer);
      const i2sFlavor = i2sFlavorFromFlag(f.i2sFlavor);
      const tlTiles = await tlConfigFromFlag(f.tlConfig);
      const started = performance.now();
      const source = await openFileSource(file);
      let header;
      try {
        header = await readGgufHeader(source);
      } finally {
        await source.close?.();
      }
      const headerMs = performance.now() - started;
      const report = inspectGguf(header, { preTokenizer, layout: { i2sFlavor, tlTiles } });
      if (f.json === true) {
        process.stdout.write(`${JSON.stringify({ file, headerReadMs: Math.round(headerMs * 10) / 10, ...report }, null, 2)}\n`);
      } else {
        process.stdout.write(`${file}\n`);
        process.stdout.write(formatInspectReport(report, { maxTensorRows: f.all === true ? 0 : DEFAULT_TENSOR_ROWS }));
        process.stdout.write(`header read in ${headerMs.toFixed(1)} ms\n`);
      }
      if (f.strict === true && report.warnings.length > 0) process.exitCode = 2;
    });
}
