// Rewrites a GGUF model with changed metadata (tests of strict mode and hostile inputs).

import { openGguf, readTensorData } from '../../src/gguf/reader.js';
import type { GgufValue } from '../../src/gguf/types.js';
import { headerToSpec, writeGgufFile } from '../../src/gguf/writer.js';

/** Copy `from` to `to`, applying `edit` to the metadata (return the new entries in order). */
export async function rewriteModel(from: string, to: string, edit: (meta: [string, GgufValue][]) => [string, GgufValue][]): Promise<void> {
  const { source, header } = await openGguf(from);
  try {
    const spec = headerToSpec(header, async (t) => {
      const bytes = new Uint8Array(t.byteSize);
      await readTensorData(source, t, bytes);
      return bytes;
    });
    await writeGgufFile(to, { ...spec, metadata: edit([...header.metadata]) });
  } finally {
    await source.close?.();
  }
}
