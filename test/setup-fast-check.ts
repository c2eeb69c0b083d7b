// Property tests draw from one fixed seed in `npm test`, so CI judges the code and not the luck of the draw: a new
// counterexample is found by `npm run fuzz` or by FC_SEED=<n> / FC_SEED=random locally, never as a red CI run on an
// unrelated change. Tests that pass their own seed keep it.

import fc from 'fast-check';

const raw = process.env.FC_SEED;
const seed = raw === 'random' ? Date.now() ^ (Math.random() * 2 ** 31) : raw === undefined || raw === '' ? 20261206 : Number(raw);
if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer or 'random', got '${raw}'`);
fc.configureGlobal({ seed });
