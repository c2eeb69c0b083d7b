// Where a Hugging Face checkpoint's files come from: a small read-only interface (directory on disk, in-memory files
// in a browser), plus bounded JSON and safetensors-header reads on top of it. Browser-safe: no node:* imports.

import { BitNetError } from '../errors.js';
import { SAFETENSORS_PREFIX_BYTES, parseSafetensorsHeader, safetensorsHeaderLength } from './safetensors.js';
import type { SafetensorsHeader } from './safetensors.js';

/** The files of one checkpoint directory (flat: names, not paths). */
export interface CheckpointSource {
  /** A label for messages (the directory path). */
  readonly label: string;
  /** Names of the regular files in the directory. */
  list(): Promise<readonly string[]>;
  /** Size in bytes of `name`. */
  size(name: string): Promise<number>;
  /** Exactly `byteLength` bytes of `name` from `byteOffset` (an error if the file is shorter). */
  read(name: string, byteOffset: number, byteLength: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/**
 * Largest JSON side file read (config.json, tokenizer.json ...): LLaMA-3's tokenizer.json is 9 MB and large
 * multilingual vocabularies reach ~35 MB; 128 MiB leaves room without reading a disguised weight file as text.
 */
export const MAX_JSON_FILE_BYTES = 128 * 1024 * 1024;

/** A checkpoint held in memory (tests, browsers with File objects read up front). */
export function memoryCheckpointSource(files: ReadonlyMap<string, Uint8Array>, label = 'memory'): CheckpointSource {
  const get = (name: string): Uint8Array => {
    const f = files.get(name);
    if (f === undefined) throw new BitNetError('IO_ERROR', `${label}: no file '${name}'`, { details: { file: name } });
    return f;
  };
  return {
    label,
    list: () => Promise.resolve([...files.keys()]),
    size: (name) => Promise.resolve(get(name).length),
    read: (name, byteOffset, byteLength) => {
      const f = get(name);
      if (byteOffset < 0 || byteLength < 0 || byteOffset + byteLength > f.length) {
        return Promise.reject(new BitNetError('IO_ERROR', `${label}/${name}: read of ${byteLength} bytes at ${byteOffset} is past the end (${f.length} bytes)`, { details: { file: name, offset: byteOffset } }));
      }
      return Promise.resolve(f.slice(byteOffset, byteOffset + byteLength));
    },
  };
}

/** The parsed JSON of `name`, or undefined when the file is absent; bad JSON is CHECKPOINT_BAD_CONFIG. */
export async function readJsonFile(src: CheckpointSource, name: string, present: ReadonlySet<string>): Promise<unknown> {
  if (!present.has(name)) return undefined;
  const size = await src.size(name);
  if (size > MAX_JSON_FILE_BYTES) {
    throw new BitNetError('CHECKPOINT_BAD_CONFIG', `${src.label}/${name}: ${size} bytes exceed the limit of ${MAX_JSON_FILE_BYTES} for a JSON file`, { details: { file: name, actual: size, limit: MAX_JSON_FILE_BYTES } });
  }
  const bytes = await src.read(name, 0, size);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch (e) {
    throw new BitNetError('CHECKPOINT_BAD_CONFIG', `${src.label}/${name}: not valid JSON: ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { file: name } });
  }
}

/** The text of `name`, or undefined when absent (chat_template.jinja). */
export async function readTextFile(src: CheckpointSource, name: string, present: ReadonlySet<string>): Promise<string | undefined> {
  if (!present.has(name)) return undefined;
  const size = await src.size(name);
  if (size > MAX_JSON_FILE_BYTES) {
    throw new BitNetError('CHECKPOINT_BAD_CONFIG', `${src.label}/${name}: ${size} bytes exceed the limit of ${MAX_JSON_FILE_BYTES}`, { details: { file: name, actual: size } });
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(await src.read(name, 0, size));
  } catch (e) {
    if (e instanceof BitNetError) throw e;
    throw new BitNetError('CHECKPOINT_BAD_CONFIG', `${src.label}/${name}: not valid UTF-8`, { cause: e, details: { file: name } });
  }
}

/** Reads and validates the header of the safetensors file `name` (two bounded reads). */
export async function readSafetensorsHeader(src: CheckpointSource, name: string): Promise<SafetensorsHeader> {
  const fileBytes = await src.size(name);
  const prefix = fileBytes >= SAFETENSORS_PREFIX_BYTES ? await src.read(name, 0, SAFETENSORS_PREFIX_BYTES) : new Uint8Array(0);
  const n = safetensorsHeaderLength(prefix, fileBytes, name);
  const json = await src.read(name, SAFETENSORS_PREFIX_BYTES, n);
  return parseSafetensorsHeader(json, fileBytes, name);
}
