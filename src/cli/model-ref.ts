// `-m owner/name[:file]` (or an http(s) URL) wherever a model path is: resolved from the pull cache, downloaded only
// with an explicit --pull; plus the hub settings every pull-aware command reads (flags first, then environment).

import { stat } from 'node:fs/promises';
import { BitNetError } from '../errors.js';
import { ModelCache } from '../pull/cache.js';
import { findCachedModel, looksLikeHubRef, pullModel, type PullOptions } from '../pull/pull.js';
import { cacheDir } from './demo-model.js';
import { createProgressBar } from './progress-bar.js';

export interface HubFlags {
  hub?: string;
  offline?: boolean;
  revision?: string;
}

/**
 * Pull settings from flags and environment: --hub / BITNET_HUB_URL / HF_ENDPOINT (huggingface_hub's name for it),
 * --offline / BITNET_OFFLINE=1 / HF_HUB_OFFLINE=1, HF_TOKEN (sent to the hub only, never printed).
 */
export function pullOptionsFromFlags(f: HubFlags, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): PullOptions {
  const on = (v: string | undefined): boolean => v === '1' || v === 'true';
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);
  const hubUrl = f.hub ?? nonEmpty(env.BITNET_HUB_URL) ?? nonEmpty(env.HF_ENDPOINT);
  const token = nonEmpty(env.HF_TOKEN);
  const bar = createProgressBar(process.stderr);
  return {
    cacheRoot: cacheDir(env),
    offline: f.offline === true || on(env.BITNET_OFFLINE) || on(env.HF_HUB_OFFLINE),
    onStatus: log,
    onProgress: (p) => {
      bar.update(p);
      if (p.doneBytes === p.totalBytes) bar.done();
    },
    ...(hubUrl === undefined ? {} : { hubUrl }),
    ...(token === undefined ? {} : { token }),
    ...(f.revision === undefined ? {} : { revision: f.revision }),
  };
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/**
 * The file `-m value` names: an existing file as is; otherwise a hub reference or URL looked up in the pull cache,
 * and pulled only when `pull` is set. Undefined when `value` is neither (the caller reports the missing file).
 */
export async function resolveModelRef(value: string, f: HubFlags & { pull?: boolean }, log: (line: string) => void): Promise<string | undefined> {
  if (await isFile(value)) return value;
  const isUrl = /^https?:\/\//i.test(value);
  if (!isUrl && !looksLikeHubRef(value)) return undefined;
  const opts = pullOptionsFromFlags(f, log);
  const hit = await findCachedModel(value, new ModelCache(opts.cacheRoot));
  if (hit !== undefined) {
    const path = new ModelCache(opts.cacheRoot).pathOf(hit);
    log(`-m ${value}: the cached ${hit.ref} (pulled ${hit.pulledAt}${hit.verified ? ', sha256 verified' : ''}) at ${path}`);
    return path;
  }
  if (f.pull === true && opts.offline !== true) {
    log(`-m ${value}: not in the model cache; pulling it (--pull)`);
    return (await pullModel(value, opts)).path;
  }
  const why = opts.offline === true ? ' (offline mode: nothing is downloaded)' : `; run 'bitnet pull ${value}' first, or add --pull to download it now`;
  throw new BitNetError('NOT_CACHED', `-m ${value}: ${isUrl ? '' : 'no such file, and '}not in the model cache (${new ModelCache(opts.cacheRoot).modelsDir})${why}`, {
    details: { flag: 'model', value },
  });
}
