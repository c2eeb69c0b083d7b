// Checks a receipt against the model file it names: same file size, header hash and hyper-parameters, and (with
// replay) the same tokens when the recorded prompt, sampling and seed run again. Gates that read only the receipt
// live in receipt.ts; these need the model.

import { openGguf } from '../gguf/reader.js';
import { modelConfigFromGguf } from '../model/config.js';
import type { SamplingConfig } from '../sampling/types.js';
import { BitNet, type ModelSource } from './bitnet.js';
import { sha256Hex, type GateResult } from './receipt.js';
import type { BackendChoice } from './types.js';

export interface ReceiptModelCheckOptions {
  /** Run the recorded prompt again with the recorded sampling and seed, and compare the generated tokens. */
  readonly replay?: boolean;
  /** Backend for the replay (default: the one the receipt names). */
  readonly backend?: BackendChoice;
  readonly signal?: AbortSignal;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function intList(v: unknown): number[] | undefined {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x) && (x as number) >= 0) ? (v as number[]) : undefined;
}

/** Gates that compare a (parsed) receipt with a model file; never throws on a malformed receipt. */
export async function checkReceiptAgainstModel(receipt: unknown, model: ModelSource, options: ReceiptModelCheckOptions = {}): Promise<GateResult[]> {
  const gates: GateResult[] = [];
  const gate = (name: string, ok: boolean, detail: string): void => void gates.push({ gate: name, ok, detail });
  const r = isObj(receipt) ? receipt : {};
  const m = isObj(r.model) ? r.model : {};
  const hyper = isObj(m.hyper) ? m.hyper : {};

  const { source, header } = await openGguf(model);
  try {
    gate('model_file_size', m.bytes === header.fileSize, `receipt ${JSON.stringify(m.bytes) ?? 'none'} bytes, file ${header.fileSize}`);
    const headerBytes = new Uint8Array(header.dataOffset);
    await source.read(0, headerBytes);
    const sha = await sha256Hex(headerBytes);
    gate('model_hash_matches', m.header_sha256 === sha, m.header_sha256 === sha ? sha : `receipt ${JSON.stringify(m.header_sha256) ?? 'none'}, file ${sha}`);
    const c = modelConfigFromGguf(header);
    const expected: Record<string, number | string> = { vocab: c.vocabSize, dim: c.dim, ffn: c.ffnDim, layers: c.nLayers, heads: c.nHeads, kv_heads: c.nKvHeads, head_dim: c.headDim };
    const differ = Object.entries(expected).filter(([k, v]) => hyper[k] !== v).map(([k]) => k);
    gate('model_arch_matches', m.arch === c.arch && differ.length === 0, differ.length === 0 && m.arch === c.arch ? `${c.arch}, ${c.nLayers} layers, dim ${c.dim}` : `differs in ${[...(m.arch === c.arch ? [] : ['arch']), ...differ].join(', ')}`);
  } finally {
    await source.close?.();
  }
  if (options.replay !== true) return gates;

  // ---- replay: the same prompt, sampling and seed must give the same tokens ----
  const tokens = isObj(r.tokens) ? r.tokens : {};
  const prompt = intList(tokens.prompt);
  const generated = intList(tokens.generated);
  const seed = r.seed;
  const backendName = isObj(r.backend) ? r.backend.name : undefined;
  const backend: BackendChoice = options.backend ?? (backendName === 'reference' ? 'reference' : 'wasm');
  if (prompt === undefined || prompt.length === 0 || generated === undefined || !Number.isInteger(seed) || !isObj(r.sampling) || !Number.isInteger(hyper.context)) {
    gate('replay_tokens', false, 'the receipt lacks the prompt, generated tokens, seed, sampling or context needed to replay');
    return gates;
  }
  const loaded = await BitNet.load(model, { backend, contextLength: hyper.context as number, ...(options.signal === undefined ? {} : { signal: options.signal }) });
  try {
    // ignoreEos and no stop strings: the recorded run's stop token (if any) is the last id of `generated`, and
    // sampling is a function of the history, so the same prefix must come out.
    const result = await loaded.complete(prompt, { maxTokens: generated.length, sampling: r.sampling as SamplingConfig, seed: seed as number, ignoreEos: true, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    const got = result.tokenIds;
    const firstDiff = generated.findIndex((t, i) => got[i] !== t);
    const ok = firstDiff === -1 && got.length === generated.length;
    gate('replay_tokens', ok, ok ? `${generated.length} tokens reproduced on ${loaded.info.backend}/${loaded.info.kernelSet}` : `token ${firstDiff === -1 ? got.length : firstDiff} differs: receipt ${generated[firstDiff] ?? 'end'}, replay ${got[firstDiff === -1 ? got.length : firstDiff] ?? 'end'}`);
  } finally {
    await loaded.dispose();
  }
  return gates;
}
