// Every fuzz target, in the order `npm run fuzz` and the test suite run them.

import type { FuzzTarget } from '../target.js';
import { chatTemplateTarget } from './chat-template.js';
import { formatsTarget } from './formats.js';
import { ggufHeaderTarget } from './gguf-header.js';
import { receiptTarget } from './receipt.js';
import { serverRequestTarget } from './server-request.js';
import { llama3TokenizerTarget, spmTokenizerTarget } from './tokenizers.js';

export const TARGETS: readonly FuzzTarget[] = [
  ggufHeaderTarget,
  formatsTarget,
  llama3TokenizerTarget,
  spmTokenizerTarget,
  chatTemplateTarget,
  serverRequestTarget,
  receiptTarget,
];

/** The target called `name`, or undefined. */
export function findTarget(name: string): FuzzTarget | undefined {
  return TARGETS.find((t) => t.name === name);
}
