// Compiles a response format (any JSON object, or a JSON Schema subset) into the node tree the JSON automaton follows, refusing every keyword it does not enforce.
//
// Supported: `type` (a name or an array of names), `properties`, `required`, `additionalProperties` (true or
// false), `items` (one schema), `enum`, `const`, `minItems`, `maxItems`, and annotations that constrain
// nothing (`title`, `description`, `$schema`, `$id`, `$comment`, `examples`, `default`, ...). Any other
// keyword is a BAD_ARGUMENT naming it and its path: a schema we cannot enforce must not be silently widened.
//
// Narrowings (every value generated still validates against the schema): objects with `properties` only ever
// get declared properties, in declared order (llama.cpp's json-schema-to-grammar also fixes the order:
// common/json-schema-to-grammar.cpp, idea only); integers are written without fraction or exponent and with at
// most 15 digits (safe integers); numbers with at most 15 integer and 15 fraction digits and a 2-digit exponent
// (so JSON.parse never yields Infinity); enum and const values are written in JSON.stringify's form.

import { BitNetError } from '../errors.js';

/** A JSON Schema as a plain object (or `true`, meaning any value). */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

/** What `GenerateOptions.responseFormat` accepts. */
export type ResponseFormat =
  /** Any JSON object (OpenAI's `json_object`: the top-level value is an object). */
  | { readonly type: 'json_object' }
  /** A value that validates against `schema` (the subset listed in docs/api.md). `strict` is accepted; the schema is always enforced. */
  | { readonly type: 'json_schema'; readonly schema: JsonSchema; readonly strict?: boolean };

/** Deepest schema nesting accepted (each `properties`/`items` level is one): bounds recursion on hostile input. */
export const MAX_SCHEMA_DEPTH = 32;
/** Most schema nodes in one schema: bounds compile time and automaton size. */
export const MAX_SCHEMA_NODES = 2048;
/** Most properties one object schema may declare. */
export const MAX_SCHEMA_PROPERTIES = 256;
/** Most values in one `enum`. */
export const MAX_ENUM_VALUES = 512;
/** Largest JSON encoding (bytes) of one enum/const value or property name. */
export const MAX_LITERAL_BYTES = 4096;
/** Largest total of literal bytes (property names, enum and const values) in one schema: bounds the literal tries. */
export const MAX_SCHEMA_LITERAL_BYTES = 256 * 1024;
/** Largest `minItems`: the shortest valid value must stay small enough to generate. */
export const MAX_MIN_ITEMS = 1024;
/** Largest number of bytes the shortest valid value may need; a schema demanding more cannot fit any sane token budget. */
export const MAX_MIN_VALUE_BYTES = 1 << 20;
/** Deepest nesting of containers the automaton generates where the schema leaves values free (json_object, untyped values). */
export const MAX_FREE_DEPTH = 32;

/** A literal set (enum/const/boolean/null values, or an object's property keys) as a byte trie. */
export interface LiteralTrie {
  /** children[node]: byte -> child node. Node 0 is the root (nothing matched). */
  readonly children: readonly ReadonlyMap<number, number>[];
  /** valueAt[node]: index of the literal that ends at this node, or -1. */
  readonly valueAt: Int32Array;
  /** ends[node]: every literal reachable from this node, with the bytes still to match (ascending literal index). */
  readonly ends: readonly (readonly { readonly value: number; readonly distance: number }[])[];
}

export interface PropertyNode {
  readonly name: string;
  readonly node: SchemaNode;
  readonly required: boolean;
}

/** The compiled schema; every node knows the length of its shortest valid JSON text. */
export type SchemaNode =
  | { readonly kind: 'any'; readonly id: number; readonly minBytes: number }
  | {
      readonly kind: 'object';
      readonly id: number;
      readonly minBytes: number;
      /** Declared properties, in declared order; empty with `free` = any keys and values. */
      readonly properties: readonly PropertyNode[];
      readonly free: boolean;
      /** Trie of the JSON-encoded keys (`"name"`), value = property index. */
      readonly keys: LiteralTrie;
    }
  | { readonly kind: 'array'; readonly id: number; readonly minBytes: number; readonly items: SchemaNode; readonly minItems: number; readonly maxItems: number }
  | { readonly kind: 'string'; readonly id: number; readonly minBytes: number }
  | { readonly kind: 'number'; readonly id: number; readonly minBytes: number; readonly integer: boolean }
  | { readonly kind: 'literal'; readonly id: number; readonly minBytes: number; readonly values: readonly unknown[]; readonly trie: LiteralTrie }
  | { readonly kind: 'union'; readonly id: number; readonly minBytes: number; readonly options: readonly SchemaNode[] };

const TYPE_NAMES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'] as const;
type TypeName = (typeof TYPE_NAMES)[number];

/** Keywords that describe but never constrain: accepted and ignored. */
const ANNOTATIONS = new Set(['title', 'description', '$schema', '$id', '$comment', 'examples', 'default', 'deprecated', 'readOnly', 'writeOnly']);
const OBJECT_KEYWORDS = new Set(['properties', 'required', 'additionalProperties']);
const ARRAY_KEYWORDS = new Set(['items', 'minItems', 'maxItems']);
const VALUE_KEYWORDS = new Set(['enum', 'const']);

const utf8 = new TextEncoder();

function bad(path: string, message: string, details: Record<string, string | number> = {}): BitNetError {
  return new BitNetError('BAD_ARGUMENT', `responseFormat.schema${path}: ${message}`, { details: { field: `responseFormat.schema${path}`, ...details } });
}

function isPlainObject(v: unknown): v is { readonly [k: string]: unknown } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Builds a byte trie over literals (each a JSON text); duplicates are the caller's to refuse. */
export function buildLiteralTrie(literals: readonly Uint8Array[]): LiteralTrie {
  const children: Map<number, number>[] = [new Map()];
  const valueAt: number[] = [-1];
  const ends: { value: number; distance: number }[][] = [[]];
  literals.forEach((bytes, value) => {
    let node = 0;
    ends[0].push({ value, distance: bytes.length });
    for (let i = 0; i < bytes.length; i++) {
      let next = children[node].get(bytes[i]);
      if (next === undefined) {
        next = children.length;
        children.push(new Map());
        valueAt.push(-1);
        ends.push([]);
        children[node].set(bytes[i], next);
      }
      node = next;
      ends[node].push({ value, distance: bytes.length - i - 1 });
    }
    valueAt[node] = value;
  });
  return { children, valueAt: Int32Array.from(valueAt), ends };
}

/** JSON text of a JSON value, refusing what JSON cannot hold (undefined, functions, non-finite numbers, cycles) and deep values. */
function literalJson(value: unknown, path: string): string {
  const seen = new Set<unknown>();
  const walk = (v: unknown, depth: number): void => {
    if (depth > MAX_SCHEMA_DEPTH) throw bad(path, `a value nests deeper than ${MAX_SCHEMA_DEPTH} levels`);
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw bad(path, `${String(v)} is not a JSON number`);
      return;
    }
    if (typeof v !== 'object') throw bad(path, `a value of type ${typeof v} is not JSON`);
    if (seen.has(v)) throw bad(path, 'a value refers to itself');
    seen.add(v);
    if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
    else for (const x of Object.values(v)) walk(x, depth + 1);
    seen.delete(v);
  };
  walk(value, 0);
  return JSON.stringify(value);
}

/** The JSON type of a value, as schema `type` names it ('integer' for integral numbers). */
function jsonTypeOf(v: unknown): TypeName {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  return 'object';
}

function typeAllows(types: readonly TypeName[] | null, v: unknown): boolean {
  if (types === null) return true;
  const t = jsonTypeOf(v);
  return types.includes(t) || (t === 'integer' && types.includes('number'));
}

/** Compile state: node ids, totals that the named limits bound. */
class Compiler {
  private nextId = 0;
  private literalBytes = 0;

  private newId(path: string): number {
    if (this.nextId >= MAX_SCHEMA_NODES) throw bad(path, `the schema has more than ${MAX_SCHEMA_NODES} nodes`, { limit: MAX_SCHEMA_NODES });
    return this.nextId++;
  }

  private literal(text: string, path: string): Uint8Array {
    const bytes = utf8.encode(text);
    if (bytes.length > MAX_LITERAL_BYTES) throw bad(path, `a literal of ${bytes.length} bytes is over the limit of ${MAX_LITERAL_BYTES}`, { limit: MAX_LITERAL_BYTES });
    this.literalBytes += bytes.length;
    if (this.literalBytes > MAX_SCHEMA_LITERAL_BYTES) throw bad(path, `property names and enum values total more than ${MAX_SCHEMA_LITERAL_BYTES} bytes`, { limit: MAX_SCHEMA_LITERAL_BYTES });
    return bytes;
  }

  anyObject(): SchemaNode {
    return { kind: 'object', id: this.newId(''), minBytes: 2, properties: [], free: true, keys: buildLiteralTrie([]) };
  }

  compile(schema: unknown, path: string, depth: number): SchemaNode {
    if (depth > MAX_SCHEMA_DEPTH) throw bad(path, `schemas nest deeper than ${MAX_SCHEMA_DEPTH} levels`, { limit: MAX_SCHEMA_DEPTH });
    if (schema === true) return { kind: 'any', id: this.newId(path), minBytes: 1 };
    if (schema === false) throw bad(path, 'the schema false admits no value');
    if (!isPlainObject(schema)) throw bad(path, `a schema must be an object or a boolean, got ${Array.isArray(schema) ? 'an array' : typeof schema}`);
    const keys = Object.keys(schema);
    for (const k of keys) {
      if (!ANNOTATIONS.has(k) && !OBJECT_KEYWORDS.has(k) && !ARRAY_KEYWORDS.has(k) && !VALUE_KEYWORDS.has(k) && k !== 'type') {
        throw bad(path, `the keyword '${k}' is not supported (supported: type, properties, required, additionalProperties, items, enum, const, minItems, maxItems)`, { keyword: k });
      }
    }
    const types = this.types(schema.type, path);
    const has = (set: Set<string>): string | undefined => keys.find((k) => set.has(k));

    if (has(VALUE_KEYWORDS) !== undefined) {
      const structural = has(OBJECT_KEYWORDS) ?? has(ARRAY_KEYWORDS);
      if (structural !== undefined) throw bad(path, `'${structural}' together with 'enum'/'const' is not supported`, { keyword: structural });
      return this.literalNode(schema, types, path);
    }
    const objectKw = has(OBJECT_KEYWORDS);
    const arrayKw = has(ARRAY_KEYWORDS);
    let chosen: readonly TypeName[];
    if (types !== null) {
      if (objectKw !== undefined && !types.includes('object')) throw bad(path, `'${objectKw}' applies to objects but 'type' does not allow objects`, { keyword: objectKw });
      if (arrayKw !== undefined && !types.includes('array')) throw bad(path, `'${arrayKw}' applies to arrays but 'type' does not allow arrays`, { keyword: arrayKw });
      chosen = types.includes('number') ? types.filter((t) => t !== 'integer') : types;
    } else if (objectKw !== undefined && arrayKw !== undefined) {
      throw bad(path, `'${objectKw}' and '${arrayKw}' without a 'type' are not supported: give 'type'`);
    } else if (objectKw !== undefined) {
      chosen = ['object'];
    } else if (arrayKw !== undefined) {
      chosen = ['array'];
    } else {
      return { kind: 'any', id: this.newId(path), minBytes: 1 };
    }
    const options = chosen.map((t) => this.typed(t, schema, path, depth));
    if (options.length === 1) return options[0];
    return { kind: 'union', id: this.newId(path), minBytes: Math.min(...options.map((o) => o.minBytes)), options };
  }

  private types(type: unknown, path: string): readonly TypeName[] | null {
    if (type === undefined) return null;
    const list = Array.isArray(type) ? type : [type];
    if (list.length === 0) throw bad(`${path}.type`, 'an empty type list admits no value');
    const out: TypeName[] = [];
    for (const t of list) {
      if (typeof t !== 'string' || !(TYPE_NAMES as readonly string[]).includes(t)) {
        throw bad(`${path}.type`, `unknown type ${JSON.stringify(t) ?? String(t)} (expected one of ${TYPE_NAMES.join(', ')})`);
      }
      if (out.includes(t as TypeName)) throw bad(`${path}.type`, `type '${t}' is listed twice`);
      out.push(t as TypeName);
    }
    return out;
  }

  private literalNode(schema: { readonly [k: string]: unknown }, types: readonly TypeName[] | null, path: string): SchemaNode {
    let values: unknown[];
    if ('enum' in schema) {
      const e = schema.enum;
      if (!Array.isArray(e) || e.length === 0) throw bad(`${path}.enum`, 'must be a non-empty array');
      if (e.length > MAX_ENUM_VALUES) throw bad(`${path}.enum`, `has ${e.length} values; at most ${MAX_ENUM_VALUES} are supported`, { limit: MAX_ENUM_VALUES });
      values = [...(e as unknown[])];
    } else {
      values = [schema.const];
    }
    const texts: string[] = [];
    for (let i = 0; i < values.length; i++) {
      const where = 'enum' in schema ? `${path}.enum[${i}]` : `${path}.const`;
      if (values[i] === undefined) throw bad(where, 'undefined is not a JSON value');
      const text = literalJson(values[i], where);
      if (!typeAllows(types, values[i])) throw bad(where, `the value ${text.slice(0, 80)} does not have the schema's type`);
      texts.push(text);
    }
    if ('const' in schema && 'enum' in schema) {
      const c = literalJson(schema.const, `${path}.const`);
      if (!texts.includes(c)) throw bad(`${path}.const`, "the const value is not in 'enum': no value satisfies both");
      values = [schema.const];
      texts.length = 0;
      texts.push(c);
    }
    // Equal values (by JSON text) collapse to one literal.
    const unique = [...new Set(texts)];
    const kept = unique.map((t) => values[texts.indexOf(t)]);
    const bytes = unique.map((t) => this.literal(t, path));
    return { kind: 'literal', id: this.newId(path), minBytes: Math.min(...bytes.map((b) => b.length)), values: kept, trie: buildLiteralTrie(bytes) };
  }

  private typed(t: TypeName, schema: { readonly [k: string]: unknown }, path: string, depth: number): SchemaNode {
    switch (t) {
      case 'string':
        return { kind: 'string', id: this.newId(path), minBytes: 2 };
      case 'number':
      case 'integer':
        return { kind: 'number', id: this.newId(path), minBytes: 1, integer: t === 'integer' };
      case 'boolean':
        return this.literalNode({ enum: [true, false] }, null, path);
      case 'null':
        return this.literalNode({ const: null }, null, path);
      case 'object':
        return this.objectNode(schema, path, depth);
      case 'array':
        return this.arrayNode(schema, path, depth);
    }
  }

  private objectNode(schema: { readonly [k: string]: unknown }, path: string, depth: number): SchemaNode {
    const ap = schema.additionalProperties;
    if (ap !== undefined && typeof ap !== 'boolean') {
      throw bad(`${path}.additionalProperties`, 'only true or false is supported (a schema for additional properties is not)', { keyword: 'additionalProperties' });
    }
    const props = schema.properties;
    if (props !== undefined && !isPlainObject(props)) throw bad(`${path}.properties`, 'must be an object');
    const required = schema.required;
    const requiredNames = new Set<string>();
    if (required !== undefined) {
      if (!Array.isArray(required)) throw bad(`${path}.required`, 'must be an array of property names');
      for (const [i, r] of (required as unknown[]).entries()) {
        if (typeof r !== 'string') throw bad(`${path}.required[${i}]`, 'must be a string');
        if (requiredNames.has(r)) throw bad(`${path}.required[${i}]`, `'${r}' is listed twice`);
        requiredNames.add(r);
      }
    }
    const entries = props === undefined ? [] : Object.entries(props);
    if (entries.length > MAX_SCHEMA_PROPERTIES) throw bad(`${path}.properties`, `declares ${entries.length} properties; at most ${MAX_SCHEMA_PROPERTIES} are supported`, { limit: MAX_SCHEMA_PROPERTIES });
    for (const r of requiredNames) {
      if (!entries.some(([name]) => name === r)) throw bad(`${path}.required`, `'${r}' is required but not declared in 'properties' (only declared properties are generated)`);
    }
    if (entries.length === 0) {
      if (ap === false) return { kind: 'object', id: this.newId(path), minBytes: 2, properties: [], free: false, keys: buildLiteralTrie([]) };
      return { kind: 'object', id: this.newId(path), minBytes: 2, properties: [], free: true, keys: buildLiteralTrie([]) };
    }
    const properties: PropertyNode[] = entries.map(([name, sub]) => ({
      name,
      node: this.compile(sub, `${path}.properties[${JSON.stringify(name)}]`, depth + 1),
      required: requiredNames.has(name),
    }));
    const keyBytes = properties.map((p) => this.literal(JSON.stringify(p.name), `${path}.properties`));
    // Shortest object: the required members only ('"k":v' each, key in UTF-8 bytes, commas between) and the braces.
    const members = properties.map((p, i) => (p.required ? keyBytes[i].length + 1 + p.node.minBytes : 0)).filter((m) => m > 0);
    const minBytes = 2 + members.reduce((s, m) => s + m, 0) + Math.max(0, members.length - 1);
    if (minBytes > MAX_MIN_VALUE_BYTES) throw bad(path, `its shortest valid value has ${minBytes} bytes; at most ${MAX_MIN_VALUE_BYTES} are supported`, { limit: MAX_MIN_VALUE_BYTES });
    return { kind: 'object', id: this.newId(path), minBytes, properties, free: false, keys: buildLiteralTrie(keyBytes) };
  }

  private arrayNode(schema: { readonly [k: string]: unknown }, path: string, depth: number): SchemaNode {
    const count = (k: 'minItems' | 'maxItems', fallback: number): number => {
      const v = schema[k];
      if (v === undefined) return fallback;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(`${path}.${k}`, `must be a non-negative integer, got ${JSON.stringify(v) ?? String(v)}`);
      return v;
    };
    const minItems = count('minItems', 0);
    const maxItems = count('maxItems', Infinity);
    if (minItems > maxItems) throw bad(path, `minItems ${minItems} > maxItems ${maxItems}: no array satisfies both`);
    if (minItems > MAX_MIN_ITEMS) throw bad(`${path}.minItems`, `${minItems} is over the limit of ${MAX_MIN_ITEMS}`, { limit: MAX_MIN_ITEMS });
    if (Array.isArray(schema.items)) throw bad(`${path}.items`, 'tuple form (an array of schemas) is not supported: give one schema');
    const items = schema.items === undefined ? this.compile(true, `${path}.items`, depth + 1) : this.compile(schema.items, `${path}.items`, depth + 1);
    const minBytes = 2 + minItems * items.minBytes + Math.max(0, minItems - 1);
    if (minBytes > MAX_MIN_VALUE_BYTES) throw bad(path, `its shortest valid value has ${minBytes} bytes; at most ${MAX_MIN_VALUE_BYTES} are supported`, { limit: MAX_MIN_VALUE_BYTES });
    return { kind: 'array', id: this.newId(path), minBytes, items, minItems, maxItems };
  }
}

/** Checks a response format and compiles it; throws BAD_ARGUMENT naming the first problem. */
export function compileResponseFormat(format: ResponseFormat): SchemaNode {
  if (!isPlainObject(format)) throw new BitNetError('BAD_ARGUMENT', 'responseFormat must be an object', { details: { field: 'responseFormat' } });
  const compiler = new Compiler();
  if (format.type === 'json_object') return compiler.anyObject();
  if (format.type === 'json_schema') {
    if (format.strict !== undefined && typeof format.strict !== 'boolean') {
      throw new BitNetError('BAD_ARGUMENT', 'responseFormat.strict must be a boolean', { details: { field: 'responseFormat.strict' } });
    }
    if (!('schema' in format)) throw new BitNetError('BAD_ARGUMENT', 'responseFormat.schema is missing', { details: { field: 'responseFormat.schema' } });
    return compiler.compile(format.schema, '', 0);
  }
  const type: unknown = (format as { type: unknown }).type;
  throw new BitNetError('BAD_ARGUMENT', `responseFormat.type must be 'json_object' or 'json_schema', got ${JSON.stringify(type) ?? String(type)}`, {
    details: { field: 'responseFormat.type' },
  });
}

/** Throws the BAD_ARGUMENT that generating with `format` would throw (servers check a request before queueing it). */
export function checkResponseFormat(format: ResponseFormat): void {
  compileResponseFormat(format);
}
