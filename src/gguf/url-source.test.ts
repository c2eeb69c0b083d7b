// openUrlSource against an injected fetch (no network): ranged reads, and each download failure's error code.

import { describe, expect, it } from 'vitest';
import { openUrlSource, URL_PROBE_BYTES } from './url-source.js';

const FILE = new Uint8Array(URL_PROBE_BYTES + 5000).map((_, i) => (i * 7) & 0xff);

type Behaviour = { status?: number; truncateBy?: number; noContentRange?: boolean; throwError?: boolean };

/** A fetch serving FILE with Range support, or misbehaving as told; records the ranges asked for. */
function fakeFetch(b: Behaviour = {}, ranges: string[] = []): typeof fetch {
  return (async (_url: string | URL | Request, init?: RequestInit) => {
    if (b.throwError === true) throw new TypeError('Failed to fetch');
    const range = new Headers(init?.headers).get('range') ?? '';
    ranges.push(range);
    const m = /^bytes=(\d+)-(\d+)$/.exec(range);
    if (b.status !== undefined) return new Response(b.status === 200 ? FILE : 'nope', { status: b.status });
    if (m === null) return new Response(FILE, { status: 200 });
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), FILE.length - 1);
    const body = FILE.slice(start, end + 1 - (b.truncateBy ?? 0));
    const headers: Record<string, string> = b.noContentRange === true ? {} : { 'content-range': `bytes ${start}-${end}/${FILE.length}` };
    return new Response(body, { status: 206, headers });
  }) as typeof fetch;
}

describe('openUrlSource', () => {
  it('learns the size, serves the header from the probe and reads later ranges with one Range request each', async () => {
    const ranges: string[] = [];
    const progress: number[] = [];
    const src = await openUrlSource('https://example.test/m.gguf', { fetch: fakeFetch({}, ranges), onProgress: (p) => progress.push(p.loadedBytes) });
    expect(src.size).toBe(FILE.length);
    const head = new Uint8Array(100);
    await src.read(10, head);
    expect(head).toEqual(FILE.subarray(10, 110));
    const tail = new Uint8Array(3000);
    await src.read(URL_PROBE_BYTES + 1000, tail);
    expect(tail).toEqual(FILE.subarray(URL_PROBE_BYTES + 1000, URL_PROBE_BYTES + 4000));
    expect(ranges).toEqual([`bytes=0-${URL_PROBE_BYTES - 1}`, `bytes=${URL_PROBE_BYTES + 1000}-${URL_PROBE_BYTES + 3999}`]);
    expect(progress.at(-1)).toBe(URL_PROBE_BYTES + 3000);
    await expect(src.read(FILE.length - 10, new Uint8Array(20))).rejects.toMatchObject({ code: 'GGUF_TRUNCATED' });
  });

  it('names each failure: 404, no Range support, hidden Content-Range, network/CORS, truncated body, abort', async () => {
    const url = 'https://example.test/m.gguf';
    await expect(openUrlSource(url, { fetch: fakeFetch({ status: 404 }) })).rejects.toMatchObject({ code: 'HTTP_ERROR', details: { status: 404 } });
    await expect(openUrlSource(url, { fetch: fakeFetch({ status: 200 }) })).rejects.toMatchObject({ code: 'RANGE_UNSUPPORTED' });
    await expect(openUrlSource(url, { fetch: fakeFetch({ noContentRange: true }) })).rejects.toMatchObject({ code: 'RANGE_UNSUPPORTED' });
    await expect(openUrlSource(url, { fetch: fakeFetch({ throwError: true }) })).rejects.toMatchObject({ code: 'NETWORK_ERROR' });
    await expect(openUrlSource(url, { fetch: fakeFetch({ truncateBy: 10 }) })).rejects.toMatchObject({ code: 'DOWNLOAD_TRUNCATED' });
    const ac = new AbortController();
    const src = await openUrlSource(url, { fetch: fakeFetch(), signal: ac.signal });
    ac.abort();
    await expect(src.read(URL_PROBE_BYTES, new Uint8Array(10))).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(openUrlSource('http://[bad', {})).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });
});
