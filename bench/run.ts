// `npm run bench [-- options]`: end-to-end tok/s of our engine (prefill and decode apart) next to llama.cpp, on synthetic or given models.
//
// The measuring code lives in src/bench/ (shared with `bitnet bench`); this file parses options, finds or
// synthesizes the model files, prints the table and writes --json / --receipt / --compare results.
// Exit codes: 0 done (targets missed or not), 1 a regression against --compare, 2 bad options or a failure.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isBitNetError } from '../src/errors.js';
import { formatComparison, formatReport } from '../src/bench/format.js';
import { exposeGc } from '../src/bench/gc.js';
import { benchCacheDir, describeModelFile, ensureBenchModels } from '../src/bench/models.js';
import { acquireBenchLock, applyFusedDot, parseBackendList, parseFusedDot, parseIntList, parsePositiveInt, parseTolerance, readBaseline } from '../src/bench/options.js';
import { compareToBaseline, DEFAULT_REGRESSION_TOLERANCE } from '../src/bench/report.js';
import { defaultThreads, runBench } from '../src/bench/run-bench.js';
import { getShape } from '../src/synth/shapes.js';
import type { ShapeName } from '../src/synth/shapes.js';

const HELP = `usage: npm run bench -- [options]

  --model FILE         our model file (default: synthesize the --shape model, I2_S weights, Q8_0 embeddings,
                       into ${benchCacheDir()} and reuse it on later runs; BITNET_BENCH_CACHE moves it)
  --no-f16             skip the F16-embedding twin of the synthesized model (the layout of Microsoft's released
                       2B-4T file: same weights, its 128256 x 2560 output matrix read as F16 every token); it runs
                       right after the model at every thread count and the F16 decode target is judged on it
  --extra-model FILE   another file of ours to run beside --model at every thread count (repeatable)
  --peer-model FILE    the TQ2_0/TQ1_0 file llama.cpp runs (default: the synthesized same-seed TQ2_0 file, or
                       --model itself when llama.cpp can read it)
  --shape NAME         tiny | small | 2b-4t | 8b (default 2b-4t; 'small' for a quick run; '8b': Llama3-8B-1.58's
                       shape, llama arch with an untied output, 3.6 GiB per file)
  --threads LIST       thread counts, e.g. 1,2 (default: ${defaultThreads().join(',')})
  --backends LIST      wasm,reference (default wasm; reference is slow)
  --runs N             timed runs per configuration; medians are reported (default 3)
  --pp N               prompt tokens per run (default 128)
  --tg N               generated tokens per run (default 64)
  --no-peer            skip node-llama-cpp
  --fused-dot MODE     auto | on | off: the wasm backend's fused i32 ternary kernels (default auto: on where the
                       relaxed dot is one AVX-VNNI instruction; on / off to compare them)
  --json FILE          write the report as JSON (prefill_tok_s / decode_tok_s of the primary row, all rows, targets)
  --receipt FILE       write the receipt of the primary row's last run
  --compare FILE       compare with a saved --json report; exit 1 on a drop beyond --tolerance
  --tolerance X        regression tolerance, fraction or percent (default ${DEFAULT_REGRESSION_TOLERANCE})
  -h, --help`;

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      model: { type: 'string' },
      'peer-model': { type: 'string' },
      'no-f16': { type: 'boolean', default: false },
      'extra-model': { type: 'string', multiple: true },
      shape: { type: 'string', default: '2b-4t' },
      threads: { type: 'string' },
      backends: { type: 'string', default: 'wasm' },
      runs: { type: 'string', default: '3' },
      pp: { type: 'string', default: '128' },
      tg: { type: 'string', default: '64' },
      'no-peer': { type: 'boolean', default: false },
      'fused-dot': { type: 'string', default: 'auto' },
      json: { type: 'string' },
      receipt: { type: 'string' },
      compare: { type: 'string' },
      tolerance: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const shape = getShape(values.shape).name as ShapeName;
  const threads = values.threads === undefined ? defaultThreads() : parseIntList('--threads', values.threads);
  const backends = parseBackendList('--backends', values.backends);
  const runs = parsePositiveInt('--runs', values.runs);
  const pp = parsePositiveInt('--pp', values.pp);
  const tg = parsePositiveInt('--tg', values.tg, 2);
  const tolerance = values.tolerance === undefined ? DEFAULT_REGRESSION_TOLERANCE : parseTolerance('--tolerance', values.tolerance);
  const baseline = values.compare === undefined ? undefined : await readBaseline(values.compare);
  const fusedDot = parseFusedDot('--fused-dot', values['fused-dot']);

  const cache = benchCacheDir();
  await mkdir(cache, { recursive: true });
  const release = await acquireBenchLock(join(cache, 'bench.lock'), log);
  try {
    let model: string;
    let peerModel: string | null;
    const extraModels = [...(values['extra-model'] ?? [])];
    if (values.model !== undefined) {
      model = values.model;
      if (values['peer-model'] !== undefined) {
        peerModel = values['peer-model'];
      } else {
        const refusal = (await describeModelFile(model)).llamaCppRefusal;
        peerModel = refusal === '' ? model : null;
        if (peerModel === null && !values['no-peer']) log(`llama.cpp cannot read ${model} (${refusal}); give --peer-model FILE (TQ2_0) for the side-by-side comparison`);
      }
    } else {
      const files = await ensureBenchModels(shape, cache, log, { withPeer: !values['no-peer'] && values['peer-model'] === undefined, withF16: !values['no-f16'] });
      model = files.model;
      if (files.f16Model !== null) extraModels.unshift(files.f16Model);
      peerModel = values['peer-model'] ?? files.peerModel;
    }
    if (values['no-peer']) peerModel = null;

    if (backends.includes('wasm')) log(await applyFusedDot(fusedDot));
    const gc = exposeGc();
    const { report, receipt } = await runBench({
      model,
      peerModel,
      extraModels,
      shape: values.model === undefined ? shape : null,
      backends,
      threads,
      runs,
      pp,
      tg,
      log,
      ...(gc === undefined ? {} : { gc }),
    });
    process.stdout.write(`\n${formatReport(report).join('\n')}\n`);
    if (values.json !== undefined) {
      await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
      log(`report written to ${values.json}`);
    }
    let code = 0;
    if (values.receipt !== undefined) {
      if (receipt === undefined) {
        log('no receipt: no bitnet configuration finished');
        code = 2;
      } else {
        await writeFile(values.receipt, `${JSON.stringify(receipt, null, 2)}\n`);
        log(`receipt written to ${values.receipt}`);
      }
    }
    if (values.compare !== undefined) {
      const cmp = compareToBaseline(report, baseline, tolerance);
      process.stdout.write(`\n${formatComparison(cmp, values.compare).join('\n')}\n`);
      if (cmp.regressed) code = Math.max(code, 1);
    }
    return code;
  } finally {
    await release();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(isBitNetError(e) ? `bench: error [${e.code}]: ${e.message}\n` : `bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 2;
  },
);
