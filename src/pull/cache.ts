// The pulled-model cache: `<root>/models/` holds the files and `index.json` says what each one is (ref, source URL,
// size, sha256, when), so `bitnet ls` lists, `bitnet rm` removes and `-m owner/name` finds a model with no network.

import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { BitNetError } from '../errors.js';

/** Largest index we read (a few hundred bytes per model). */
const MAX_INDEX_BYTES = 16 << 20;

export interface CachedModel {
  /** Canonical reference: 'owner/name:file' for the hub, the URL for direct downloads. */
  readonly ref: string;
  readonly source: 'hub' | 'url';
  /** Hub repository ('owner/name'); '' for URLs. */
  readonly repo: string;
  /** File name in the repository (hub) or the last path segment (URL). */
  readonly file: string;
  /** Hub revision asked for ('main' ...); '' for URLs. */
  readonly revision: string;
  /** Where it came from (the hub's resolve URL or the direct URL, without query). */
  readonly url: string;
  /** Path relative to the models directory. */
  readonly path: string;
  readonly bytes: number;
  /** sha256 of the file as downloaded (hex). */
  readonly sha256: string;
  /** True when the hub gave a sha256 and the file matched it. */
  readonly verified: boolean;
  /** ISO time of the pull. */
  readonly pulledAt: string;
}

interface IndexFile {
  readonly version: 1;
  readonly models: CachedModel[];
}

/** The cache of pulled models under `root` (the demo model's cache directory). */
export class ModelCache {
  readonly modelsDir: string;
  private readonly indexPath: string;

  constructor(root: string) {
    this.modelsDir = join(root, 'models');
    this.indexPath = join(this.modelsDir, 'index.json');
  }

  /** Absolute path of an entry's file. */
  pathOf(m: CachedModel): string {
    return join(this.modelsDir, m.path);
  }

  /** The directory a hub file or URL download lands in, checked to stay inside the cache. */
  destination(parts: readonly string[]): string {
    const dest = join(this.modelsDir, ...parts);
    const rel = relative(this.modelsDir, dest);
    if (rel === '' || rel.startsWith('..') || rel.split(sep).includes('..')) {
      throw new BitNetError('BAD_ARGUMENT', `refusing a cache path outside ${this.modelsDir}: ${parts.join('/')}`, { details: { path: parts.join('/') } });
    }
    return dest;
  }

  async list(): Promise<CachedModel[]> {
    let text: string;
    try {
      const st = await stat(this.indexPath);
      if (st.size > MAX_INDEX_BYTES) throw new BitNetError('IO_ERROR', `${this.indexPath}: ${st.size} bytes is not a model index (over ${MAX_INDEX_BYTES})`, { details: { path: this.indexPath } });
      text = await readFile(this.indexPath, 'utf8');
    } catch (e) {
      if ((e as { code?: unknown }).code === 'ENOENT') return [];
      if (e instanceof BitNetError) throw e;
      throw new BitNetError('IO_ERROR', `cannot read the model index ${this.indexPath}: ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { path: this.indexPath } });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      // Never overwrite what we cannot read: the user may want it back.
      throw new BitNetError('IO_ERROR', `the model index ${this.indexPath} is not valid JSON; move it away to start a new one`, { cause: e, details: { path: this.indexPath } });
    }
    const models = (parsed as { models?: unknown }).models;
    if ((parsed as { version?: unknown }).version !== 1 || !Array.isArray(models) || !models.every(isCachedModel)) {
      throw new BitNetError('IO_ERROR', `the model index ${this.indexPath} has an unknown layout; move it away to start a new one`, { details: { path: this.indexPath } });
    }
    return models;
  }

  /** Adds or replaces the entry with the same ref. */
  async put(m: CachedModel): Promise<void> {
    const models = (await this.list()).filter((x) => x.ref !== m.ref);
    models.push(m);
    await this.write(models);
  }

  /** Entries matching `ref` exactly, or every file of a repo when `ref` is 'owner/name'. */
  async find(ref: string): Promise<CachedModel[]> {
    const all = await this.list();
    const exact = all.filter((m) => m.ref === ref);
    return exact.length > 0 ? exact : all.filter((m) => m.source === 'hub' && m.repo === ref);
  }

  /** Removes the entries `ref` names (see find) and their files; returns what was removed. */
  async remove(ref: string): Promise<CachedModel[]> {
    const gone = await this.find(ref);
    if (gone.length === 0) return [];
    for (const m of gone) {
      const p = this.pathOf(m);
      await rm(p, { force: true });
      await rm(`${p}.part`, { force: true });
      await rm(`${p}.part.json`, { force: true });
    }
    const refs = new Set(gone.map((m) => m.ref));
    await this.write((await this.list()).filter((m) => !refs.has(m.ref)));
    return gone;
  }

  /** True when the entry's file is present with its recorded size. */
  async isPresent(m: CachedModel): Promise<boolean> {
    try {
      const st = await stat(this.pathOf(m));
      return st.isFile() && st.size === m.bytes;
    } catch {
      return false;
    }
  }

  private async write(models: CachedModel[]): Promise<void> {
    await mkdir(dirname(this.indexPath), { recursive: true });
    const tmp = `${this.indexPath}.${process.pid}.tmp`;
    const data: IndexFile = { version: 1, models: models.sort((a, b) => a.ref.localeCompare(b.ref)) };
    await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`);
    await rename(tmp, this.indexPath);
  }
}

function isCachedModel(m: unknown): m is CachedModel {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  return (
    typeof r.ref === 'string' && (r.source === 'hub' || r.source === 'url') && typeof r.repo === 'string' && typeof r.file === 'string' &&
    typeof r.revision === 'string' && typeof r.url === 'string' && typeof r.path === 'string' && typeof r.bytes === 'number' &&
    typeof r.sha256 === 'string' && typeof r.verified === 'boolean' && typeof r.pulledAt === 'string' &&
    !r.path.split(/[\\/]/).includes('..')
  );
}
