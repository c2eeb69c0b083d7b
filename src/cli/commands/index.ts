// The list of subcommands; each file exports `register(program)`.
import type { Command } from 'commander';
import { register as bench } from './bench.js';
import { register as chat } from './chat.js';
import { register as convert } from './convert.js';
import { register as inspect } from './inspect.js';
import { register as pull } from './pull.js';
import { register as run } from './run.js';
import { register as serve } from './serve.js';
import { register as synth } from './synth.js';
import { register as verifyReceipt } from './verify-receipt.js';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [run, chat, verifyReceipt, synth, convert, inspect, serve, bench, pull];
