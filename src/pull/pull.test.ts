// pullModel / downloadFile against a local fake hub (test/helpers/fake-hub.ts): resolve, pick, redirect, Range resume,
// parallel chunks, sha256, auth, offline and the cache index. No real network.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeFile, sha256Hex, startFakeHub, type FakeHub } from '../../test/helpers/fake-hub.js';
import { isBitNetError, type BitNetErrorCode } from '../errors.js';
import { ModelCache } from './cache.js';
import { pullModel, parseModelRef, type PullOptions } from './pull.js';
import { tempDir } from '../../test/helpers/temp-dir.js';

/** Deterministic pseudo-random bytes (so a wrong offset shows up as wrong content). */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

let hub: FakeHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

function opts(h: FakeHub, extra: Partial<PullOptions> = {}): PullOptions {
  return { cacheRoot: tempDir('bitnet-pull-'), hubUrl: h.hubUrl, retries: 0, ...extra };
}

async function expectCode(p: Promise<unknown>, code: BitNetErrorCode): Promise<Error> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  if (!isBitNetError(e, code)) throw new Error(`expected ${code}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  return e;
}

describe('pullModel from a hub', () => {
  it('resolves owner/name to its only GGUF, follows the redirect to the CDN, verifies sha256 and records it in the index', async () => {
    const data = bytes(300_000, 1);
    hub = await startFakeHub({ 'acme/tiny': { files: [fakeFile('tiny-i2_s.gguf', data), fakeFile('config.json', bytes(10, 2))] } });
    const o = opts(hub);
    const r = await pullModel('acme/tiny', o);
    expect(r.fromCache).toBe(false);
    expect(r.model).toMatchObject({ ref: 'acme/tiny:tiny-i2_s.gguf', repo: 'acme/tiny', file: 'tiny-i2_s.gguf', revision: 'main', bytes: data.byteLength, sha256: sha256Hex(data), verified: true });
    expect(readFileSync(r.path)).toEqual(Buffer.from(data));
    expect(hub.requests).toContain('hub GET /acme/tiny/resolve/main/tiny-i2_s.gguf');
    expect(hub.requests.some((q) => q.startsWith('cdn GET /blobs/'))).toBe(true);
    expect(existsSync(`${r.path}.part`) || existsSync(`${r.path}.part.json`)).toBe(false);
    const listed = await new ModelCache(o.cacheRoot).list();
    expect(listed.map((m) => m.ref)).toEqual(['acme/tiny:tiny-i2_s.gguf']);
    // A second pull asks the API, finds the same sha256 in the cache and downloads nothing.
    const served = hub.cdnBytes;
    const again = await pullModel('acme/tiny', o);
    expect(again.fromCache).toBe(true);
    expect(hub.cdnBytes).toBe(served);
  });

  it('refuses to guess between several GGUF files, listing them; a named file is pulled', async () => {
    hub = await startFakeHub({ 'acme/multi': { files: [fakeFile('m-i2_s.gguf', bytes(1000, 3)), fakeFile('m-tq2_0.gguf', bytes(1200, 4))] } });
    const o = opts(hub);
    const e = await expectCode(pullModel('acme/multi', o), 'BAD_ARGUMENT');
    expect(e.message).toContain('acme/multi:m-i2_s.gguf');
    expect(e.message).toContain('acme/multi:m-tq2_0.gguf');
    expect(hub.cdnBytes).toBe(0);
    const r = await pullModel('acme/multi:m-tq2_0.gguf', o);
    expect(r.model.bytes).toBe(1200);
    const missing = await expectCode(pullModel('acme/multi:nope.gguf', o), 'BAD_ARGUMENT');
    expect(missing.message).toContain("has no file 'nope.gguf'");
  });

  it('404 and 401 are HTTP_ERRORs with a hint; a token is sent to the hub only and never appears in a message', async () => {
    const token = 'hf_secret_token_123';
    hub = await startFakeHub({ 'acme/private': { files: [fakeFile('p.gguf', bytes(5000, 5))], token } });
    const o = opts(hub);
    const notFound = await expectCode(pullModel('acme/absent', o), 'HTTP_ERROR');
    expect(notFound.message).toMatch(/HTTP 404.*not found/);
    const unauthorized = await expectCode(pullModel('acme/private', o), 'HTTP_ERROR');
    expect(unauthorized.message).toMatch(/HTTP 401.*set HF_TOKEN/);
    const wrong = await expectCode(pullModel('acme/private', { ...o, token: 'hf_wrong' }), 'HTTP_ERROR');
    expect(wrong.message).not.toContain('hf_wrong');
    const r = await pullModel('acme/private', { ...o, token });
    expect(r.model.verified).toBe(true);
    expect(hub.cdnAuthorizations).toEqual([]);
  });

  it('a connection dropped mid-file fails without a complete-looking file; the next pull fetches only the missing bytes', async () => {
    const size = 2_000_000;
    const data = bytes(size, 6);
    hub = await startFakeHub({ 'acme/big': { files: [fakeFile('big.gguf', data)] } });
    const o = opts(hub);
    hub.failNext = { afterBytes: 800_000, mode: 'drop' };
    await expectCode(pullModel('acme/big', o), 'NETWORK_ERROR');
    const dest = join(new ModelCache(o.cacheRoot).modelsDir, 'hub', 'acme', 'big', 'big.gguf');
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(true);
    const state = JSON.parse(readFileSync(`${dest}.part.json`, 'utf8')) as { chunks: { done: number }[] };
    const kept = state.chunks.reduce((s, c) => s + c.done, 0);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(800_000);
    expect(await new ModelCache(o.cacheRoot).list()).toEqual([]);

    const before = hub.cdnBytes;
    const r = await pullModel('acme/big', o);
    const second = hub.cdnBytes - before;
    // The 1-byte probe plus exactly the bytes not on disk.
    expect(second).toBe(1 + size - kept);
    expect(r.resumedBytes).toBe(kept);
    expect(r.receivedBytes).toBe(size - kept);
    expect(hub.rangeRequests.at(-1)).toBe(`${kept}-${size - 1}`);
    expect(sha256Hex(readFileSync(r.path))).toBe(sha256Hex(data));
  });

  it('retries a dropped connection within one pull, resuming where it stopped', async () => {
    const size = 1_000_000;
    const data = bytes(size, 7);
    hub = await startFakeHub({ 'acme/retry': { files: [fakeFile('r.gguf', data)] } });
    hub.failNext = { afterBytes: 300_000, mode: 'drop' };
    const r = await pullModel('acme/retry', opts(hub, { retries: 2 }));
    expect(sha256Hex(readFileSync(r.path))).toBe(sha256Hex(data));
    // Everything at most once, plus the probe byte and what was in flight when the socket closed.
    expect(hub.cdnBytes).toBeLessThanOrEqual(size + 1 + 300_000 - (r.receivedBytes - (size - 300_000)));
    expect(r.receivedBytes).toBe(size);
  });

  it('a stalled connection is dropped after the stall timeout instead of hanging', async () => {
    hub = await startFakeHub({ 'acme/stall': { files: [fakeFile('s.gguf', bytes(500_000, 8))] } });
    hub.failNext = { afterBytes: 100_000, mode: 'stall' };
    const t0 = performance.now();
    const e = await expectCode(pullModel('acme/stall', opts(hub, { stallTimeoutMs: 300 })), 'NETWORK_ERROR');
    const ms = performance.now() - t0;
    expect(e.message).toContain('no data for 300 ms');
    expect(ms).toBeGreaterThanOrEqual(300);
    expect(ms).toBeLessThan(3000);
  });

  it('large files come in parallel chunks, each a Range request, reassembled exactly', async () => {
    const size = 1_048_576 + 12_345;
    const data = bytes(size, 9);
    hub = await startFakeHub({ 'acme/par': { files: [fakeFile('p.gguf', data)] } });
    hub.bodyDelayMs = 20;
    const r = await pullModel('acme/par', opts(hub, { chunkBytes: 65_536, parallel: 4 }));
    expect(sha256Hex(readFileSync(r.path))).toBe(sha256Hex(data));
    expect(hub.rangeRequests.length).toBe(1 + Math.ceil(size / 65_536));
    expect(hub.maxConcurrent).toBeGreaterThan(1);
    expect(hub.cdnBytes).toBe(size + 1);
  });

  it('a file that changed on the server since the interrupted pull is downloaded again from the start', async () => {
    const file = fakeFile('c.gguf', bytes(600_000, 10));
    hub = await startFakeHub({ 'acme/change': { files: [file] } });
    const o = opts(hub);
    hub.failNext = { afterBytes: 200_000, mode: 'drop' };
    await expectCode(pullModel('acme/change', o), 'NETWORK_ERROR');
    const fresh = bytes(600_000, 11);
    Object.assign(file, fakeFile('c.gguf', fresh));
    const before = hub.cdnBytes;
    const r = await pullModel('acme/change', o);
    expect(hub.cdnBytes - before).toBe(1 + fresh.byteLength);
    expect(r.resumedBytes).toBe(0);
    expect(sha256Hex(readFileSync(r.path))).toBe(sha256Hex(fresh));
  });

  it('a sha256 mismatch deletes the download and records nothing', async () => {
    const file = fakeFile('bad.gguf', bytes(50_000, 12));
    file.listedSha256 = '0'.repeat(64);
    hub = await startFakeHub({ 'acme/bad': { files: [file] } });
    const o = opts(hub);
    await expectCode(pullModel('acme/bad', o), 'CHECKSUM_MISMATCH');
    const dest = join(new ModelCache(o.cacheRoot).modelsDir, 'hub', 'acme', 'bad', 'bad.gguf');
    expect([existsSync(dest), existsSync(`${dest}.part`), existsSync(`${dest}.part.json`)]).toEqual([false, false, false]);
    expect(await new ModelCache(o.cacheRoot).list()).toEqual([]);
  });

  it('offline mode answers from the cache and never touches the network', async () => {
    hub = await startFakeHub({ 'acme/off': { files: [fakeFile('o.gguf', bytes(4000, 13))] } });
    const o = opts(hub);
    await expectCode(pullModel('acme/off', { ...o, offline: true }), 'NOT_CACHED');
    expect(hub.requests).toEqual([]);
    const online = await pullModel('acme/off', o);
    const n = hub.requests.length;
    const offline = await pullModel('acme/off', { ...o, offline: true });
    expect(offline).toMatchObject({ fromCache: true, path: online.path });
    expect(hub.requests.length).toBe(n);
  });

  it('direct URLs: downloaded unverified (no hash to check), found again in the cache, removed by rm', async () => {
    const data = bytes(70_000, 14);
    hub = await startFakeHub({ 'acme/url': { files: [fakeFile('u.gguf', data)] } });
    const o = opts(hub);
    const url = `${hub.cdnUrl}/blobs/${sha256Hex(data)}`;
    const r = await pullModel(url, o);
    expect(r.model).toMatchObject({ source: 'url', file: sha256Hex(data), verified: false, sha256: sha256Hex(data) });
    expect((await pullModel(url, o)).fromCache).toBe(true);
    const cache = new ModelCache(o.cacheRoot);
    expect((await cache.remove(url)).map((m) => m.ref)).toEqual([url]);
    expect(existsSync(r.path)).toBe(false);
    expect(await cache.list()).toEqual([]);
  });

  it('a server without Range support still downloads (whole body), and a drop leaves nothing behind', async () => {
    const data = bytes(400_000, 15);
    hub = await startFakeHub({ 'acme/norange': { files: [fakeFile('n.gguf', data)] } });
    hub.noRanges = true;
    const o = opts(hub);
    hub.failNext = { afterBytes: 100_000, mode: 'drop' };
    await expectCode(pullModel('acme/norange', o), 'NETWORK_ERROR');
    const dest = join(new ModelCache(o.cacheRoot).modelsDir, 'hub', 'acme', 'norange', 'n.gguf');
    expect([existsSync(dest), existsSync(`${dest}.part`)]).toEqual([false, false]);
    const r = await pullModel('acme/norange', o);
    expect(sha256Hex(readFileSync(r.path))).toBe(sha256Hex(data));
  });
});

describe('parseModelRef', () => {
  it('accepts owner/name[:file] and http(s) URLs; refuses paths that escape', () => {
    expect(parseModelRef('microsoft/bitnet-b1.58-2B-4T-gguf')).toEqual({ kind: 'hub', repo: 'microsoft/bitnet-b1.58-2B-4T-gguf', file: undefined });
    expect(parseModelRef('a/b:sub/x.gguf')).toEqual({ kind: 'hub', repo: 'a/b', file: 'sub/x.gguf' });
    expect(parseModelRef('https://example.com/m.gguf')).toEqual({ kind: 'url', url: 'https://example.com/m.gguf' });
    for (const bad of ['a/b:../x.gguf', 'a/b:/etc/passwd', '../b', 'a/b/c', 'justname', 'a/b:x\\y.gguf']) {
      expect(() => parseModelRef(bad)).toThrow();
    }
  });
});
