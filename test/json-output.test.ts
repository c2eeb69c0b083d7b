// Structured output end to end: 100 seeded random schemas on the tiny random-weight model (wasm), greedy and seeded sampling, each output parsed and validated by an independent validator.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BitNet } from '../src/engine/bitnet.js';
import { isBitNetError } from '../src/errors.js';
import { compileResponseFormat, type JsonSchema } from '../src/sampling/json-schema.js';
import { createRng, type Rng } from '../src/sampling/rng.js';
import { tinyModel } from './helpers/tiny-models.js';

type Schema = { [k: string]: unknown };

/** The test's own validator for the supported subset (written apart from the automaton on purpose). */
function validate(schema: unknown, v: unknown, path = '$'): string | null {
  if (schema === true) return null;
  const s = schema as Schema;
  const eq = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  if ('const' in s && !eq(s.const, v)) return `${path}: not the const`;
  if (Array.isArray(s.enum) && !s.enum.some((e) => eq(e, v))) return `${path}: not in enum`;
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    const t = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
    const ok = types.some((ty) => (ty === 'integer' ? typeof v === 'number' && Number.isInteger(v) : ty === t));
    if (!ok) return `${path}: ${JSON.stringify(v)} is not ${types.join('|')}`;
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const props = (s.properties ?? {}) as Schema;
    for (const r of (s.required ?? []) as string[]) if (!(r in v)) return `${path}: missing required ${r}`;
    for (const [k, x] of Object.entries(v)) {
      if (k in props) {
        const e = validate(props[k], x, `${path}.${k}`);
        if (e !== null) return e;
      } else if (s.additionalProperties === false) return `${path}: extra property ${k}`;
    }
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems) return `${path}: fewer than ${s.minItems} items`;
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) return `${path}: more than ${s.maxItems} items`;
    if (s.items !== undefined) for (const [i, x] of v.entries()) {
      const e = validate(s.items, x, `${path}[${i}]`);
      if (e !== null) return e;
    }
  }
  return null;
}

const NAMES = ['id', 'name', 'a"b', 'é', 'key with space', 'x\\y', 'tags', 'n', '日本', 'emoji😀'];
const LITERALS: unknown[] = ['red', 'é', 'quo"te', '', 0, -0.5, 12, 1e3, true, false, null, [1, 'x'], { k: null }];

/** A seeded random schema of the supported subset. */
function randomSchema(rng: Rng, depth: number): Schema {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.nextFloat() * xs.length)];
  const kinds = depth < 2 ? ['object', 'object', 'array', 'string', 'number', 'integer', 'boolean', 'null', 'enum', 'const', 'union'] : ['string', 'number', 'integer', 'boolean', 'enum', 'union'];
  switch (pick(kinds)) {
    case 'object': {
      const n = 1 + Math.floor(rng.nextFloat() * 4);
      const names = [...NAMES].sort(() => rng.nextFloat() - 0.5).slice(0, n);
      const properties = Object.fromEntries(names.map((k) => [k, randomSchema(rng, depth + 1)]));
      const required = names.filter(() => rng.nextFloat() < 0.6);
      return { type: 'object', properties, required, ...(rng.nextFloat() < 0.7 ? { additionalProperties: false } : {}) };
    }
    case 'array': {
      const min = Math.floor(rng.nextFloat() * 3);
      return { type: 'array', items: randomSchema(rng, depth + 1), minItems: min, ...(rng.nextFloat() < 0.6 ? { maxItems: min + Math.floor(rng.nextFloat() * 3) } : {}) };
    }
    case 'enum':
      return { enum: [...LITERALS].sort(() => rng.nextFloat() - 0.5).slice(0, 1 + Math.floor(rng.nextFloat() * 4)) };
    case 'const':
      return { const: pick(LITERALS), description: 'fixed' };
    case 'union':
      return { type: pick([['string', 'null'], ['integer', 'boolean'], ['number', 'string', 'null'], ['array', 'null']]) };
    default:
      return { type: pick(['string', 'number', 'integer', 'boolean', 'null']) };
  }
}

describe('the independent validator', () => {
  it('agrees with hand-written cases', () => {
    const s = { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'array', items: { enum: ['x', 1] }, minItems: 1, maxItems: 2 } }, required: ['b'], additionalProperties: false };
    expect(validate(s, { b: ['x'] })).toBeNull();
    expect(validate(s, { a: 3, b: [1, 'x'] })).toBeNull();
    expect(validate(s, { a: 3.5, b: ['x'] })).toMatch(/not integer/);
    expect(validate(s, { b: [] })).toMatch(/fewer/);
    expect(validate(s, { b: ['x', 1, 1] })).toMatch(/more/);
    expect(validate(s, { b: ['y'] })).toMatch(/enum/);
    expect(validate(s, { a: 1 })).toMatch(/missing required/);
    expect(validate(s, { b: ['x'], c: 1 })).toMatch(/extra/);
    expect(validate({ type: ['string', 'null'] }, null)).toBeNull();
    expect(validate({ const: { k: null } }, { k: null })).toBeNull();
    expect(validate({ const: { k: null } }, { k: 0 })).toMatch(/const/);
  });
});

describe('structured output on the tiny model', () => {
  let model: BitNet;
  beforeAll(async () => {
    model = await BitNet.load(await tinyModel('bitnet-b1.58', 'i2_s'), { backend: 'wasm', threads: 1 });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('100 random schemas: every output parses and validates (greedy and seeded sampling)', { timeout: 120_000 }, async () => {
    const rng = createRng(2024);
    const prompt = model.tokenize('JSON:');
    let stops = 0;
    for (let i = 0; i < 100; i++) {
      const schema = randomSchema(rng, 0) as JsonSchema;
      const minBytes = compileResponseFormat({ type: 'json_schema', schema }).minBytes;
      // A short budget, but one that covers the shortest value: budget forcing then guarantees a complete value.
      const maxTokens = minBytes + 6;
      const sampling = i % 2 === 0 ? ({ kind: 'greedy' } as const) : ({ kind: 'sample', temperature: 1, topK: i % 4 === 1 ? 40 : 0, penalties: { repetition: 1.1 } } as const);
      const r = await model.complete(prompt, { maxTokens, sampling, seed: i, responseFormat: { type: 'json_schema', schema, strict: true } });
      let value: unknown;
      try {
        value = JSON.parse(r.text);
      } catch (e) {
        expect.unreachable(`schema ${i} ${JSON.stringify(schema)}: output does not parse (${String(e)}): ${JSON.stringify(r.text)}`);
      }
      expect([i, validate(schema, value)]).toEqual([i, null]);
      expect(r.tokenIds.length).toBeLessThanOrEqual(maxTokens);
      if (r.finishReason === 'stop') stops++;
    }
    // Values that can always continue (a top-level number) may end by the budget; every other one ends 'stop'.
    expect(stops).toBeGreaterThanOrEqual(90);
  });

  it('json_object: an object, ending at its closing brace with finish "stop"', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await model.complete('Data:', { maxTokens: 40, sampling: { kind: 'sample', temperature: 1 }, seed, responseFormat: { type: 'json_object' } });
      const v: unknown = JSON.parse(r.text);
      expect(typeof v === 'object' && v !== null && !Array.isArray(v)).toBe(true);
      expect(r.finishReason).toBe('stop');
      expect(r.text.trimEnd().endsWith('}')).toBe(true);
    }
  });

  it('a budget below the shortest value ends "length" with incomplete text; bad schemas are BAD_ARGUMENT before any work', async () => {
    const schema = { type: 'object', properties: { first: { type: 'string' }, second: { type: 'string' } }, required: ['first', 'second'] };
    const r = await model.complete('x', { maxTokens: 5, responseFormat: { type: 'json_schema', schema } });
    expect(r.finishReason).toBe('length');
    expect(() => JSON.parse(r.text)).toThrow();
    let caught: unknown;
    try {
      await model.complete('x', { maxTokens: 5, responseFormat: { type: 'json_schema', schema: { type: 'string', minLength: 2 } } });
    } catch (e) {
      caught = e;
    }
    expect(isBitNetError(caught, 'BAD_ARGUMENT')).toBe(true);
  });
});
