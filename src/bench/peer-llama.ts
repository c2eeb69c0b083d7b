// Finds and loads node-llama-cpp (llama.cpp, the benchmarks' and cross-validation's peer), which is not a dependency:
// it is installed on demand into tools/peer/ (`npm run peer:install`, ~700 MB of prebuilt binaries) or by the user.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BitNetError } from '../errors.js';
import { findPackage } from '../package-info.js';

/** The node-llama-cpp version tools/peer/package.json pins; the types below mirror its API. */
export const PEER_VERSION = '3.21.1';

/** How a user gets the peer (printed with every "not installed" message). */
export const PEER_INSTALL_HINT = `npm run peer:install (in a clone of the repository; node-llama-cpp ${PEER_VERSION}, about 700 MB) or npm i node-llama-cpp@${PEER_VERSION}`;

// ---- the part of node-llama-cpp 3.21.1's API we call (its own .d.ts is not available unless installed) ----

/** node-llama-cpp's branded token id (`number & {__token: never}`); plain numbers are cast at the call. */
export type PeerToken = number & { readonly __token: never };

export type PeerControlledInput = PeerToken | [PeerToken, { generateNext?: { probabilities?: boolean; options?: { temperature?: number; topK?: number; topP?: number; minP?: number } } }];

export interface PeerSequence {
  evaluate(tokens: PeerToken[], options?: { temperature?: number }): AsyncIterable<PeerToken>;
  controlledEvaluate(input: PeerControlledInput[]): Promise<({ next: { probabilities?: Map<PeerToken, number> } } | undefined)[]>;
  dispose(): Promise<void> | void;
}

export interface PeerContext {
  getSequence(): PeerSequence;
  dispose(): Promise<void>;
}

export interface PeerModel {
  createContext(options: { contextSize: number; threads: number | { ideal: number; min: number }; batchSize: number; flashAttention?: boolean }): Promise<PeerContext>;
  dispose(): Promise<void>;
}

export interface PeerLlama {
  loadModel(options: { modelPath: string; gpuLayers: number }): Promise<PeerModel>;
  dispose(): Promise<void>;
}

export interface NodeLlamaCpp {
  getLlama(options: { gpu: false; build: 'never'; logLevel: string }): Promise<PeerLlama>;
  readonly LlamaLogLevel: { readonly error: string };
}

/** Where `npm run peer:install` puts the peer: tools/peer/ beside package.json (a repository checkout only). */
export function peerDir(): string {
  return join(findPackage().root, 'tools', 'peer');
}

/** True when tools/peer/ holds an installed node-llama-cpp. */
export function peerInstalled(dir: string = peerDir()): boolean {
  return existsSync(join(dir, 'node_modules', 'node-llama-cpp', 'package.json'));
}

function isNodeLlamaCpp(m: unknown): m is NodeLlamaCpp {
  if (typeof m !== 'object' || m === null) return false;
  const level: unknown = Reflect.get(m, 'LlamaLogLevel');
  return typeof Reflect.get(m, 'getLlama') === 'function' && typeof level === 'object' && level !== null && typeof Reflect.get(level, 'error') === 'string';
}

/**
 * node-llama-cpp from tools/peer/ when installed there, else from wherever Node resolves it (a user's own install).
 * Throws BACKEND_UNAVAILABLE with the install hint when neither has it.
 */
export async function loadNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  const dir = peerDir();
  // A string held in a variable: TypeScript does not look for the module's types, and bundlers leave it alone.
  const specifier = peerInstalled(dir) ? pathToFileURL(join(dir, 'index.mjs')).href : 'node-llama-cpp';
  let mod: unknown;
  try {
    mod = await import(specifier);
  } catch (e) {
    throw new BitNetError('BACKEND_UNAVAILABLE', `node-llama-cpp is not installed (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); install it with: ${PEER_INSTALL_HINT}`, { cause: e });
  }
  if (!isNodeLlamaCpp(mod)) throw new BitNetError('BACKEND_UNAVAILABLE', `${specifier} does not look like node-llama-cpp ${PEER_VERSION} (no getLlama / LlamaLogLevel)`);
  return mod;
}
