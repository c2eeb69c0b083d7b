// Reads and writes the committed seed corpora: one folder per target under fuzz/corpus/, one raw input per file.

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** fuzz/corpus/ of this checkout. */
export const CORPUS_ROOT = fileURLToPath(new URL('./corpus/', import.meta.url));

/** The folder holding `target`'s seeds. */
export function corpusDir(target: string, root = CORPUS_ROOT): string {
  return join(root, target);
}

/** Every file of `target`'s corpus folder, in name order (empty when the folder is missing). */
export function loadCorpus(target: string, root = CORPUS_ROOT): Uint8Array[] {
  const dir = corpusDir(target, root);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  } catch {
    return [];
  }
  return names.map((n) => new Uint8Array(readFileSync(join(dir, n))));
}

/** Writes `inputs` as seed-NN.bin, replacing files of the same names. */
export function writeSeeds(target: string, inputs: readonly Uint8Array[], root = CORPUS_ROOT): string[] {
  const dir = corpusDir(target, root);
  mkdirSync(dir, { recursive: true });
  return inputs.map((input, i) => {
    const path = join(dir, `seed-${String(i).padStart(2, '0')}.bin`);
    writeFileSync(path, input);
    return path;
  });
}
