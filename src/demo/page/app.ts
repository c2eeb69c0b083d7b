// The demo chat page: picks a model (served file, URL or local File), loads it into the engine worker with a
// progress bar, streams chat answers with a stop button, and shows tok/s, TTFT, threads and kernels.
// The library module is window.bitnet, so scripts (and the browser tests) can drive it as in Node.

import * as bitnet from '../../browser/index.js';
import type { BitNetProxy, ChatMessage, GeneratedPiece } from '../../browser/index.js';

declare global {
  interface Window {
    bitnet: typeof bitnet;
    /** The model the page loaded (for scripts). */
    demoModel?: BitNetProxy;
  }
}
window.bitnet = bitnet;

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`missing #${id}`);
  return el as T;
};

let model: BitNetProxy | undefined;
let running: AbortController | undefined;
let loading: AbortController | undefined;
const history: ChatMessage[] = [];
let tab = 'served';
let file: File | undefined;

function notice(kind: 'warn' | 'error' | '', text: string): void {
  const n = $('notice');
  n.className = `notice ${kind}`;
  n.textContent = text;
  n.classList.toggle('hidden', text === '');
}

function mib(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

function describeError(e: unknown): string {
  if (bitnet.isBitNetError(e)) return `${e.message} [${e.code}]`;
  return e instanceof Error ? e.message : String(e);
}

async function listServed(): Promise<void> {
  const select = $<HTMLSelectElement>('served-model');
  try {
    const res = await fetch('/api/models');
    const models = (await res.json()) as { name: string; url: string; bytes: number }[];
    for (const m of models) select.add(new Option(`${m.name} (${mib(m.bytes)})`, m.url));
    if (models.length === 0) select.add(new Option('no model served (use URL or File)', ''));
  } catch {
    select.add(new Option('no model list (use URL or File)', ''));
  }
}

function chosenSource(): string | File | undefined {
  if (tab === 'served') return $<HTMLSelectElement>('served-model').value || undefined;
  if (tab === 'url') return $<HTMLInputElement>('model-url').value.trim() || undefined;
  return file;
}

async function loadModel(): Promise<void> {
  const source = chosenSource();
  if (source === undefined) {
    notice('error', tab === 'file' ? 'Choose a .gguf file first.' : 'Enter or pick a model first.');
    return;
  }
  loading?.abort();
  loading = new AbortController();
  await model?.dispose();
  model = undefined;
  setReady(false);
  notice('', '');
  const fill = $('progress-fill');
  $('progress').classList.remove('hidden');
  fill.style.width = '0%';
  $('progress-text').textContent = 'Starting…';
  $<HTMLButtonElement>('load').disabled = true;
  const threads = Number($<HTMLInputElement>('threads').value);
  // auto: WebGPU where a hardware adapter passes the start-up self-check, else wasm
  const backend = $<HTMLSelectElement>('backend').value as 'auto' | 'wasm' | 'webgpu';
  const warnings: string[] = [];
  const t0 = performance.now();
  try {
    model = await bitnet.BitNet.load(source, {
      signal: loading.signal,
      backend,
      ...(threads > 0 ? { threads } : {}),
      onProgress: (p) => {
        fill.style.width = `${p.percent.toFixed(1)}%`;
        $('progress-text').textContent = `${mib(p.loadedBytes)} of ${mib(p.totalBytes)} · ${p.percent.toFixed(0)}%`;
      },
      onWarning: (w) => warnings.push(w),
    });
    window.demoModel = model;
    fill.style.width = '100%';
    const info = model.info;
    const from = model.loadedFrom === 'cache' ? ' from the browser cache' : model.loadedFrom === 'network+cache' ? ', downloaded and cached' : '';
    $('progress-text').textContent = `Loaded ${info.name} (${mib(info.fileBytes)})${from} in ${((performance.now() - t0) / 1000).toFixed(2)} s`;
    void listCached();
    const kernels = [info.kernelSet, ...info.kernelFeatures].join('+');
    $('engine-line').textContent = `${info.name} · ${info.backend}/${kernels} · ${info.threads} thread${info.threads === 1 ? '' : 's'}`;
    $('stat-threads').textContent = String(info.threads);
    $('stat-kernels').textContent = `${info.backend} · ${kernels}`;
    if (warnings.length > 0) notice('warn', warnings.join('\n'));
    setReady(true);
  } catch (e) {
    $('progress').classList.add('hidden');
    $('progress-text').textContent = '';
    notice('error', describeError(e));
  } finally {
    $<HTMLButtonElement>('load').disabled = false;
  }
}

/** The persistent cache's entries, each with a remove button. */
async function listCached(): Promise<void> {
  const list = $('cache-list');
  const entries = await bitnet.BitNet.cachedModels();
  list.replaceChildren();
  if (entries.length === 0) {
    const empty = document.createElement('li');
    empty.className = 'muted';
    empty.textContent = 'None yet: a model loaded from a URL is kept here for the next visit.';
    list.append(empty);
    return;
  }
  for (const e of entries) {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = `${decodeURIComponent(e.url.split('/').pop() ?? e.url)} · ${mib(e.bytes)}`;
    name.title = `${e.url}\nstored ${e.storedAt}`;
    const remove = document.createElement('button');
    remove.className = 'link';
    remove.textContent = 'Remove';
    remove.addEventListener('click', () => void bitnet.BitNet.deleteCachedModel(e.url).then(listCached));
    li.append(name, remove);
    list.append(li);
  }
}

function setReady(ready: boolean): void {
  $<HTMLTextAreaElement>('prompt').disabled = !ready;
  $<HTMLButtonElement>('send').disabled = !ready;
}

function bubble(role: 'user' | 'assistant', text: string): HTMLDivElement {
  $('empty').classList.add('hidden');
  const div = document.createElement('div');
  div.className = `msg ${role}`;
  div.textContent = text;
  $('messages').append(div);
  $('messages').scrollTop = $('messages').scrollHeight;
  return div;
}

async function send(): Promise<void> {
  const input = $<HTMLTextAreaElement>('prompt');
  const text = input.value.trim();
  if (model === undefined || text === '' || running !== undefined) return;
  input.value = '';
  history.push({ role: 'user', content: text });
  bubble('user', text);
  const out = bubble('assistant', '');
  out.classList.add('streaming');
  const temperature = Number($<HTMLInputElement>('temperature').value);
  const topP = Number($<HTMLInputElement>('top-p').value);
  running = new AbortController();
  $('send').classList.add('hidden');
  $('stop').classList.remove('hidden');
  let answer = '';
  let finish: GeneratedPiece['finish'];
  let tokens = 0;
  const t0 = performance.now();
  let tFirst = 0;
  try {
    const pieces = model.chat(history, {
      maxTokens: Number($<HTMLInputElement>('max-tokens').value) || 128,
      seed: Number($<HTMLInputElement>('seed').value) || 0,
      sampling: temperature > 0 ? { kind: 'sample', temperature, topP: topP > 0 ? topP : 1 } : { kind: 'greedy' },
      signal: running.signal,
    });
    for await (const p of pieces) {
      if (p.tokenIds.length > 0) {
        tokens += p.tokenIds.length;
        if (tFirst === 0) {
          tFirst = performance.now();
          $('stat-ttft').textContent = `${(tFirst - t0).toFixed(0)} ms`;
        } else {
          $('stat-tps').textContent = `${((tokens - 1) / ((performance.now() - tFirst) / 1000)).toFixed(1)} tok/s`;
        }
      }
      answer += p.text;
      out.textContent = answer;
      $('messages').scrollTop = $('messages').scrollHeight;
      if (p.finish !== undefined) finish = p.finish;
    }
  } catch (e) {
    if (!bitnet.isBitNetError(e, 'ABORTED')) notice('error', describeError(e));
  } finally {
    out.classList.remove('streaming');
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent =
      finish === undefined
        ? `stopped · ${tokens} tokens`
        : `${finish.usage.completionTokens} tokens · ${finish.timings.decodeTokPerS.toFixed(1)} tok/s · TTFT ${finish.timings.timeToFirstTokenMs.toFixed(0)} ms`;
    if (finish !== undefined) {
      $('stat-tps').textContent = `${finish.timings.decodeTokPerS.toFixed(1)} tok/s`;
      $('stat-ttft').textContent = `${finish.timings.timeToFirstTokenMs.toFixed(0)} ms`;
    }
    out.append(meta);
    out.dataset.done = finish === undefined ? 'stopped' : finish.reason;
    history.push({ role: 'assistant', content: answer });
    running = undefined;
    $('send').classList.remove('hidden');
    $('stop').classList.add('hidden');
  }
}

function wire(): void {
  for (const b of Array.from(document.querySelectorAll<HTMLButtonElement>('.tab'))) {
    b.addEventListener('click', () => {
      tab = b.dataset.tab ?? 'served';
      for (const o of Array.from(document.querySelectorAll<HTMLElement>('.tab'))) o.classList.toggle('active', o === b);
      for (const body of Array.from(document.querySelectorAll<HTMLElement>('.tab-body'))) body.classList.toggle('hidden', body.dataset.body !== tab);
    });
  }
  const pick = (f: File | undefined): void => {
    file = f;
    $('drop-text').textContent = f === undefined ? 'Drop a .gguf file or click to choose' : `${f.name} (${mib(f.size)})`;
  };
  $<HTMLInputElement>('model-file').addEventListener('change', (e) => pick((e.target as HTMLInputElement).files?.[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    pick(e.dataTransfer?.files[0]);
  });
  $('load').addEventListener('click', () => void loadModel());
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    void send();
  });
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      void send();
    }
  });
  $('stop').addEventListener('click', () => running?.abort());
  if (!crossOriginIsolated) notice('warn', 'This page is not cross-origin isolated (no COOP/COEP headers): the engine runs on one thread.');
}

wire();
void listServed();
void listCached();
