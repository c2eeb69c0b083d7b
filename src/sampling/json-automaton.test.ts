// Tests of the JSON automaton and schema compiler on text: what it accepts matches JSON.parse (escapes, unicode, numbers, nesting, whitespace), schemas are enforced, and the shortest-completion count is exact.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBitNetError } from '../errors.js';
import { JsonAutomaton, MAX_WHITESPACE_RUN, type AutomatonState } from './json-automaton.js';
import { compileResponseFormat, MAX_SCHEMA_DEPTH, type JsonSchema, type ResponseFormat } from './json-schema.js';

const utf8 = new TextEncoder();

function automaton(format: ResponseFormat): JsonAutomaton {
  return new JsonAutomaton(compileResponseFormat(format));
}
const OBJECT: ResponseFormat = { type: 'json_object' };
const schema = (s: JsonSchema): ResponseFormat => ({ type: 'json_schema', schema: s });

/** 'complete' | 'prefix' (alive, not complete) | 'dead'. */
function run(a: JsonAutomaton, text: string | Uint8Array): 'complete' | 'prefix' | 'dead' {
  const s = a.walk(a.start, typeof text === 'string' ? utf8.encode(text) : text);
  if (s === null) return 'dead';
  return a.accepting(s) ? 'complete' : 'prefix';
}

/** Shortest completion by breadth-first search over the interned state graph (every byte tried). */
function bfsDistance(a: JsonAutomaton, from: AutomatonState, limit: number): number {
  let frontier = [from];
  const seen = new Set<number>([from.id]);
  for (let d = 0; d <= limit; d++) {
    const next: AutomatonState[] = [];
    for (const s of frontier) {
      if (a.accepting(s)) return d;
      for (let b = 0; b < 256; b++) {
        const t = a.step(s, b);
        if (t !== null && !seen.has(t.id)) {
          seen.add(t.id);
          next.push(t);
        }
      }
    }
    frontier = next;
  }
  return Infinity;
}

describe('json_object automaton vs JSON.parse', () => {
  const valid = [
    '{}',
    '{"a":1}',
    ' {\n  "a" : [ 1 , 2 ] ,\t"b":{}\r\n}',
    '{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00"}',
    '{"n":[-0.5e+10,0,-0,1E-2,12.5E3,0.0,1e99,-123456789012345]}',
    '{"deep":[[[[[]]]],[{}],[{"x":[null,true,false]}]]}',
    '{"é😀":"日本語 ünïcödé 😀"}',
    '{"lone":"\\ud800"}',
    '{"a":1,"a":2}',
  ];
  const invalid = [
    '[1]',
    '"x"',
    '{"a":01}',
    '{"a":1.}',
    '{"a":.5}',
    '{"a":-}',
    '{"a":+1}',
    '{"a":1e}',
    '{"a":1e+}',
    '{"a":"\u0001"}',
    '{"a":"\\x"}',
    '{"a":"\\u12G4"}',
    '{"a":1,}',
    '{,}',
    '{"a" 1}',
    '{"a":tru}',
    '{"a":nul}',
    '{"a":[1,]}',
    '{"a":[1 2]}',
    "{'a':1}",
    '{a:1}',
  ];
  it('accepts valid objects and refuses invalid ones, as JSON.parse does', () => {
    const a = automaton(OBJECT);
    for (const t of valid) {
      expect(typeof JSON.parse(t)).toBe('object');
      expect([t, run(a, t)]).toEqual([t, 'complete']);
    }
    for (const t of invalid) {
      let parsed: unknown;
      let parses = true;
      try {
        parsed = JSON.parse(t);
      } catch {
        parses = false;
      }
      if (parses) expect(parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)).toBe(true); // valid JSON, but not an object
      expect([t, run(a, t)]).not.toEqual([t, 'complete']);
    }
  });

  it('every proper prefix of a valid text is alive and incomplete', () => {
    const a = automaton(OBJECT);
    for (const t of valid) {
      const bytes = utf8.encode(t.trimEnd());
      for (let i = 0; i < bytes.length; i++) expect([t, i, run(a, bytes.subarray(0, i))]).toEqual([t, i, 'prefix']);
    }
  });

  it('refuses ill-formed UTF-8 inside strings (overlong, surrogates, stray continuation, > U+10FFFF) and accepts split characters', () => {
    const a = automaton(OBJECT);
    const inString = (...bytes: number[]): Uint8Array => Uint8Array.from([...utf8.encode('{"a":"'), ...bytes, ...utf8.encode('"}')]);
    expect(run(a, inString(0xc3, 0xa9))).toBe('complete'); // é
    expect(run(a, inString(0xf0, 0x9f, 0x98, 0x80))).toBe('complete'); // 😀
    expect(run(a, inString(0xc0, 0x80))).toBe('dead'); // overlong NUL
    expect(run(a, inString(0xe0, 0x80, 0x80))).toBe('dead'); // overlong
    expect(run(a, inString(0xed, 0xa0, 0x80))).toBe('dead'); // UTF-8 encoded surrogate
    expect(run(a, inString(0x80))).toBe('dead');
    expect(run(a, inString(0xf4, 0x90, 0x80, 0x80))).toBe('dead'); // U+110000
    expect(run(a, inString(0xc3))).toBe('dead'); // '"' cannot complete a character
    const halfway = a.walk(a.start, Uint8Array.from([...utf8.encode('{"a":"'), 0xf0, 0x9f]));
    expect(halfway).not.toBeNull();
    if (halfway !== null) expect(a.minCompletion(halfway)).toBe(2 + 2); // two continuation bytes, then '"}'
  });

  it('caps whitespace runs', () => {
    const a = automaton(OBJECT);
    expect(run(a, `{${' '.repeat(MAX_WHITESPACE_RUN)}}`)).toBe('complete');
    expect(run(a, `{${' '.repeat(MAX_WHITESPACE_RUN + 1)}}`)).toBe('dead');
  });

  it('property: JSON.stringify of random objects (safe numbers) is accepted, with and without indentation', () => {
    const a = automaton(OBJECT);
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.string({ unit: 'binary' }),
        fc.integer({ min: -1e12, max: 1e12 }),
        fc.integer({ min: -99999, max: 99999 }).map((n) => n / 64),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(fc.string({ unit: 'binary' }), tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), value, { maxKeys: 5 }), fc.boolean(), (obj, pretty) => {
        expect(run(a, JSON.stringify(obj, null, pretty ? 1 : 0))).toBe('complete');
      }),
      { numRuns: 300, seed: 12 },
    );
  });
});

describe('schemas', () => {
  it('enforces properties in order, required, additionalProperties and value types', () => {
    const a = automaton(
      schema({
        type: 'object',
        properties: { id: { type: 'integer' }, name: { type: 'string' }, tags: { type: 'array', items: { enum: ['x', 'y'] }, minItems: 1, maxItems: 2 }, opt: { type: 'boolean' } },
        required: ['id', 'tags'],
        additionalProperties: false,
      }),
    );
    expect(run(a, '{"id":1,"tags":["x"]}')).toBe('complete');
    expect(run(a, '{"id":-7,"name":"n","tags":["y","x"],"opt":false}')).toBe('complete');
    expect(run(a, '{"tags":["x"]}')).toBe('dead'); // required id missing
    expect(run(a, '{"id":1}')).toBe('dead'); // required tags missing
    expect(run(a, '{"id":1.5,"tags":["x"]}')).toBe('dead'); // not an integer
    expect(run(a, '{"id":1,"tags":[]}')).toBe('dead'); // minItems
    expect(run(a, '{"id":1,"tags":["x","x","x"]}')).toBe('dead'); // maxItems
    expect(run(a, '{"id":1,"tags":["z"]}')).toBe('dead'); // enum
    expect(run(a, '{"id":1,"other":2,"tags":["x"]}')).toBe('dead'); // undeclared
    expect(run(a, '{"tags":["x"],"id":1}')).toBe('dead'); // declared order
    expect(run(a, '{"id":1,"id":2,"tags":["x"]}')).toBe('dead'); // no duplicates
  });

  it('enum and const literals, including ones that prefix each other, and unions of types', () => {
    const a = automaton(schema({ type: 'array', items: { enum: [1, 12, 'a"b', { k: [true] }, null] } }));
    expect(run(a, '[1,12,"a\\"b",{"k":[true]},null]')).toBe('complete');
    expect(run(a, '[123]')).toBe('dead');
    expect(run(a, '[{"k": [true]}]')).toBe('dead'); // literals are matched in JSON.stringify's form
    const u = automaton(schema({ type: ['string', 'null', 'integer'] }));
    expect(run(u, '"x"')).toBe('complete');
    expect(run(u, 'null')).toBe('complete');
    expect(run(u, '42')).toBe('complete');
    expect(run(u, '4.2')).toBe('dead');
    expect(run(u, 'true')).toBe('dead');
    const c = automaton(schema({ const: 'fixed' }));
    expect(run(c, '"fixed"')).toBe('complete');
    expect(run(c, '"fixe"')).toBe('dead');
  });

  it('numbers: the JSON grammar, integers without fraction or exponent, bounded digits', () => {
    const n = automaton(schema({ type: 'number' }));
    for (const t of ['0', '-0', '-0.5e+10', '1E-2', '3.25', '123456789012345.123456789012345e-99']) expect([t, run(n, t)]).toEqual([t, 'complete']);
    for (const t of ['01', '-', '1.', '.1', '1e', '+1', '1e+', '1234567890123456', '1e100']) expect([t, run(n, t)]).not.toEqual([t, 'complete']);
    const i = automaton(schema({ type: 'integer' }));
    expect(run(i, '-42')).toBe('complete');
    expect(run(i, '4.0')).toBe('dead');
    expect(run(i, '4e2')).toBe('dead');
  });

  it('minCompletion is the exact shortest completion (breadth-first search agrees) along valid texts', () => {
    const cases: [ResponseFormat, string][] = [
      [OBJECT, '{"a": [1, {"b": "x\\u00e9"}], "c": -0.5e+1'],
      [schema({ type: 'object', properties: { a: { type: 'string' }, b: { type: 'array', items: { type: 'integer' }, minItems: 2 }, c: { enum: ['long value', 'v'] } }, required: ['b', 'c'] }), '{"a":"q", "b":[1,2,3], "c":"v"}'],
      [schema({ type: 'array', items: { type: 'object', properties: { k: { const: 12 } }, required: ['k'] }, minItems: 3 }), '[{"k":12},{"k":12},{"k":12}]'],
      [schema({ type: ['number', 'null'] }), '-12.5e-3'],
    ];
    for (const [format, text] of cases) {
      const a = automaton(format);
      let s: AutomatonState | null = a.start;
      const bytes = utf8.encode(text);
      for (let i = 0; i <= bytes.length && s !== null; i++) {
        const want = bfsDistance(a, s, 80);
        expect([text, i, a.minCompletion(s)]).toEqual([text, i, want]);
        if (i < bytes.length) s = a.step(s, bytes[i]);
      }
      expect(s).not.toBeNull();
    }
  });
});

describe('schema compiler refuses what it cannot enforce (BAD_ARGUMENT)', () => {
  const refuse = (s: unknown, message: RegExp): void => {
    let caught: unknown;
    try {
      compileResponseFormat({ type: 'json_schema', schema: s as JsonSchema });
    } catch (e) {
      caught = e;
    }
    expect(isBitNetError(caught, 'BAD_ARGUMENT')).toBe(true);
    expect((caught as Error).message).toMatch(message);
  };
  it('unsupported keywords, contradictions, bad values and limits', () => {
    for (const k of ['pattern', 'minLength', 'format', 'minimum', 'multipleOf', 'anyOf', 'oneOf', 'allOf', 'not', '$ref', 'patternProperties', 'uniqueItems', 'prefixItems', 'minProperties']) {
      refuse({ type: 'string', [k]: 1 }, new RegExp(`'${k.replace('$', '\\$')}' is not supported`));
    }
    refuse(false, /admits no value/);
    refuse({ type: 'string', properties: {} }, /applies to objects/);
    refuse({ properties: {}, items: {} }, /without a 'type'/);
    refuse({ type: [] }, /empty type list/);
    refuse({ type: ['string', 'string'] }, /listed twice/);
    refuse({ type: 'array', items: [{}] }, /tuple form/);
    refuse({ type: 'array', minItems: -1 }, /non-negative integer/);
    refuse({ type: 'array', minItems: 100000 }, /over the limit/);
    refuse({ enum: [1], properties: {} }, /together with 'enum'/);
    refuse({ enum: [1], const: 2 }, /not in 'enum'/);
    refuse({ enum: [Infinity] }, /not a JSON number/);
    refuse({ type: 'object', required: 'a' }, /array of property names/);
    let deep: JsonSchema = { type: 'string' };
    for (let i = 0; i < MAX_SCHEMA_DEPTH + 2; i++) deep = { type: 'array', items: deep };
    refuse(deep, /deeper than/);
    const cyclic: Record<string, unknown> = { type: 'array' };
    cyclic.items = cyclic;
    refuse(cyclic, /deeper than/);
    const wide = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`p${i}`, {}]));
    refuse({ type: 'object', properties: wide }, /at most 256/);
    expect(() => compileResponseFormat({ type: 'xml' } as unknown as ResponseFormat)).toThrow(/json_object' or 'json_schema/);
  });
  it('accepts annotations and boolean true', () => {
    expect(() => compileResponseFormat(schema({ title: 't', description: 'd', $schema: 'x', type: 'object', properties: { a: true }, additionalProperties: true }))).not.toThrow();
  });
});
