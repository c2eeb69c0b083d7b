// convertCheckpoint: a Hugging Face checkpoint directory -> a GGUF file (Node), streamed one tensor at a time.
// Node modules are imported when called, so this module (and the `bitnet/convert` entry) loads in browsers too.

import { BitNetError } from '../errors.js';
import { writeGgufFile } from '../gguf/writer.js';
import { CONVERT_ALIGNMENT, planConversion } from './plan.js';
import type { ConversionPlan, PlanOptions } from './plan.js';

export interface ConvertProgress {
  /** Tensors written so far (0 .. nTensors). */
  readonly tensorsDone: number;
  readonly nTensors: number;
  /** The tensor just written. */
  readonly tensorName: string;
  /** Output tensor bytes written so far and in all (the header is not counted). */
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

export interface ConvertOptions extends PlanOptions {
  /** Plan only: read the headers, check everything that can be checked without the data, write nothing. */
  readonly dryRun?: boolean | undefined;
  readonly onProgress?: ((p: ConvertProgress) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface ConvertResult {
  readonly plan: ConversionPlan;
  /** The file written (undefined for a dry run). */
  readonly path: string | undefined;
  readonly fileBytes: number;
}

/**
 * Converts the checkpoint in directory `dir` to the GGUF file `out` (overwritten; removed again if anything fails).
 * Peak memory is about one converted tensor plus its source: the largest is the token embedding, which is read a
 * chunk of rows at a time into a buffer of its final (quantized) size.
 */
export async function convertCheckpoint(dir: string, out: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const { openCheckpointDir } = await import('./node-source.js');
  const src = await openCheckpointDir(dir);
  try {
    const plan = await planConversion(src, options);
    const bytesTotal = plan.tensors.reduce((s, t) => s + t.byteSize, 0);
    if (options.dryRun === true) return { plan, path: undefined, fileBytes: 0 };
    const nTensors = plan.tensors.length;
    let tensorsDone = 0;
    let bytesDone = 0;
    // Read-ahead of one tensor: while the writer writes tensor i, tensor i + 1 is read and converted, so disk reads,
    // writes and conversion overlap. At most two converted tensors are alive at once.
    const pending = new Map<number, Promise<Uint8Array>>();
    const produce = (i: number): Promise<Uint8Array> => {
      let p = pending.get(i);
      if (p === undefined) {
        const t = plan.tensors[i];
        p = t === undefined ? Promise.resolve(new Uint8Array(0)) : t.data();
        p.catch(() => undefined); // a read-ahead that fails is reported when the writer asks for it
        pending.set(i, p);
      }
      return p;
    };
    await writeGgufFile(out, {
      alignment: CONVERT_ALIGNMENT,
      metadata: plan.metadata,
      tensors: plan.tensors.map((t, i) => ({
        name: t.ggufName,
        dims: t.dims,
        type: t.type,
        data: async () => {
          if (options.signal?.aborted === true) {
            throw new BitNetError('ABORTED', `conversion of '${dir}' was aborted`, { cause: options.signal.reason, details: { path: out } });
          }
          const bytes = await produce(i);
          pending.delete(i);
          if (i + 1 < nTensors) void produce(i + 1);
          tensorsDone++;
          bytesDone += bytes.length;
          options.onProgress?.({ tensorsDone, nTensors, tensorName: t.ggufName, bytesDone, bytesTotal });
          return bytes;
        },
      })),
    });
    const { stat } = await import('node:fs/promises');
    return { plan, path: out, fileBytes: (await stat(out)).size };
  } finally {
    await src.close?.();
  }
}
