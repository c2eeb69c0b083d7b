// The `bitnet` command line: one commander program, one file per subcommand under commands/.

import { Command, CommanderError } from 'commander';
import { isBitNetError } from '../errors.js';
import { findPackage } from '../package-info.js';
import { commands } from './commands/index.js';
import { EXIT } from './exit-codes.js';

export { EXIT };

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('bitnet')
    .description('Inference engine for ternary (BitNet b1.58) language models')
    .version(findPackage().version, '-V, --version', 'print the version and exit')
    .exitOverride()
    .showHelpAfterError();
  for (const register of commands) register(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.failure;
    if (isBitNetError(e)) {
      process.stderr.write(`bitnet: error [${e.code}]: ${e.message}\n`);
      if (e.code === 'STRICT_VIOLATION') return EXIT.strict;
      return e.code.startsWith('GGUF_') || e.code.startsWith('SAFETENSORS_') || e.code.startsWith('CHECKPOINT_') || e.code.includes('TENSOR') ? EXIT.badInput : EXIT.failure;
    }
    process.stderr.write(`bitnet: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT.failure;
  }
}
