// `bitnet pull <owner/name[:file] | url>`, `bitnet ls` and `bitnet rm <ref>`: the pulled-model cache from the command line.

import type { Command } from 'commander';
import { BitNetError } from '../../errors.js';
import { formatBytes } from '../../inspect/format.js';
import { ModelCache } from '../../pull/cache.js';
import { pullModel } from '../../pull/pull.js';
import { cacheDir } from '../demo-model.js';
import { EXIT } from '../exit-codes.js';
import { interruptOnSigint } from '../interrupt.js';
import { pullOptionsFromFlags, type HubFlags } from '../model-ref.js';

function addHubFlags(cmd: Command): Command {
  return cmd
    .option('--hub <url>', 'hub base URL (also BITNET_HUB_URL or HF_ENDPOINT; default https://huggingface.co)')
    .option('--revision <rev>', 'branch, tag or commit on the hub', 'main')
    .option('--offline', 'use only the cache, never the network (also BITNET_OFFLINE=1)');
}

export function register(program: Command): void {
  addHubFlags(
    program
      .command('pull')
      .description('download a GGUF model from a Hugging Face-compatible hub (owner/name[:file]) or a URL into the model cache')
      .argument('<ref>', 'owner/name, owner/name:file.gguf, or an http(s) URL to a .gguf file'),
  ).action(async (ref: string, f: HubFlags) => {
    const log = (line: string): void => void process.stderr.write(`${line}\n`);
    // Ctrl-C stops the transfer cleanly: the progress file is written exactly, and the next pull continues from it.
    const interrupt = interruptOnSigint();
    let r;
    try {
      r = await pullModel(ref, { ...pullOptionsFromFlags(f, log), signal: interrupt.signal });
    } catch (e) {
      if (!(interrupt.signal.aborted && e instanceof BitNetError && e.code === 'ABORTED')) throw e;
      log('\n(interrupted: run the same pull again to continue where it stopped)');
      process.exitCode = EXIT.interrupted;
      return;
    } finally {
      interrupt.dispose();
    }
    if (r.fromCache) log(`${r.model.ref}: already in the cache`);
    else log(`${r.model.ref}: ${formatBytes(r.model.bytes)}, received ${r.receivedBytes} bytes${r.resumedBytes > 0 ? ` (resumed: ${r.resumedBytes} bytes were already on disk)` : ''}, sha256 ${r.model.sha256}${r.model.verified ? ' (verified against the hub)' : ' (not verified: no hash from the source)'}`);
    process.stdout.write(`${r.path}\n`);
  });

  program
    .command('ls')
    .description('list the models in the pull cache')
    .option('--json', 'print the index entries as JSON')
    .action(async (f: { json?: boolean }) => {
      const cache = new ModelCache(cacheDir());
      const models = await cache.list();
      if (f.json === true) {
        process.stdout.write(`${JSON.stringify(models.map((m) => ({ ...m, path: cache.pathOf(m) })), null, 2)}\n`);
        return;
      }
      if (models.length === 0) {
        process.stdout.write(`no pulled models in ${cache.modelsDir}\n`);
        return;
      }
      for (const m of models) {
        const present = await cache.isPresent(m);
        process.stdout.write(`${m.ref}  ${formatBytes(m.bytes)}  ${m.verified ? 'sha256 verified' : 'unverified'}  ${m.pulledAt}${present ? '' : '  (file missing)'}\n  ${cache.pathOf(m)}\n`);
      }
    });

  program
    .command('rm')
    .description('remove a pulled model (owner/name removes every file of the repo) from the cache')
    .argument('<ref>', 'owner/name, owner/name:file, or the URL it was pulled from')
    .action(async (ref: string) => {
      const gone = await new ModelCache(cacheDir()).remove(ref);
      if (gone.length === 0) throw new BitNetError('NOT_CACHED', `${ref} is not in the model cache (see 'bitnet ls')`, { details: { ref } });
      for (const m of gone) process.stdout.write(`removed ${m.ref}\n`);
    });
}
