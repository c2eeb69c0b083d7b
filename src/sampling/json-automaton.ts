// A byte-level pushdown automaton for JSON text that follows a compiled schema: states are interned, transitions memoized, and each state knows the shortest completion.
//
// A state is (kind, schema node, two small integers, parent), where `parent` is the state to continue in once
// the current value is complete — the pushdown stack as a linked list. States are interned by that tuple, so
// equal states are the same object: masks can be cached per state, and each state's byte transitions are
// memoized in a 256-entry table the first time a byte is tried. Whitespace runs are capped (a model that
// loops on newlines cannot stall forever), numbers have bounded digit counts, and containers opened where
// the schema leaves values free nest at most MAX_FREE_DEPTH deep.

import { BitNetError } from '../errors.js';
import { buildLiteralTrie, MAX_FREE_DEPTH, type SchemaNode } from './json-schema.js';

/** Longest whitespace run between two JSON tokens (enough for a newline and deep indentation). */
export const MAX_WHITESPACE_RUN = 24;
/** Most digits in an integer part: 15 keeps every integer exact in a double (and JSON.parse finite). */
export const MAX_INT_DIGITS = 15;
/** Most digits after the decimal point. */
export const MAX_FRAC_DIGITS = 15;
/** Most exponent digits: with 15 integer digits, e+99 stays finite. */
export const MAX_EXP_DIGITS = 2;
/** Most automaton states one generation may create: bounds memory on pathological schemas and outputs. */
export const MAX_AUTOMATON_STATES = 200_000;

// State kinds.
const END = 0; // the whole value is complete; nothing may follow
const VALUE = 1; // a = whitespace run so far
const OBJ_OPEN = 2; // after '{'; a = whitespace
const OBJ_KEYWAIT = 3; // after ','; a = next property index allowed, b = whitespace
const OBJ_COLON = 4; // after a key; a = property index (-1: free key), b = whitespace
const OBJ_AFTER = 5; // after a member's value; a = next property index, b = whitespace
const KEY_LIT = 6; // inside a declared key; a = key trie node, b = lowest property index allowed
const ARR_OPEN = 7; // after '['; a = whitespace
const ARR_AFTER = 8; // after an item; a = items so far (capped at minItems when maxItems is unbounded), b = whitespace
const STR = 9; // inside a free string; a = sub-state (STR_*)
const NUM = 10; // inside a number; a = sub-state (NUM_*), b = digits in the current part
const LIT = 11; // inside a literal value; a = literal trie node

// String sub-states.
const STR_BASE = 0;
const STR_ESC = 1; // after '\\'
const STR_HEX = 2; // 2..5: after '\\u', 4..1 hex digits to go (hex left = 6 - sub)
const STR_CONT = 10; // 11..13: that many UTF-8 continuation bytes (0x80..0xbf) to go
const STR_E0 = 20; // next byte in 0xa0..0xbf, then one more
const STR_ED = 21; // next byte in 0x80..0x9f (no surrogates), then one more
const STR_F0 = 22; // next byte in 0x90..0xbf, then two more
const STR_F4 = 23; // next byte in 0x80..0x8f (<= U+10FFFF), then two more

// Number sub-states (JSON grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?).
const NUM_MINUS = 1;
const NUM_ZERO = 2; // may end
const NUM_INT = 3; // may end
const NUM_DOT = 4;
const NUM_FRAC = 5; // may end
const NUM_E = 6;
const NUM_ESIGN = 7;
const NUM_EXP = 8; // may end

const isWs = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;
const isHex = (b: number): boolean => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);

type ObjectNode = Extract<SchemaNode, { kind: 'object' }>;
type ArrayNode = Extract<SchemaNode, { kind: 'array' }>;
type LiteralNode = Extract<SchemaNode, { kind: 'literal' }>;
type NumberNode = Extract<SchemaNode, { kind: 'number' }>;

/** One interned automaton state. Treat as opaque outside this file except for `id` and `plainLoop`. */
export class AutomatonState {
  /** Memoized transitions: 0 = not tried yet, -1 = dead, else target id + 1. */
  next: Int32Array | undefined = undefined;
  /** Shortest completion in bytes; -1 until computed. */
  minBytes = -1;
  /** True for a free string's base state: every plain character leads back to this very state. */
  readonly plainLoop: boolean;
  constructor(
    readonly id: number,
    readonly kind: number,
    readonly node: SchemaNode | null,
    readonly a: number,
    readonly b: number,
    readonly parent: AutomatonState | null,
    /** Containers open around this state. */
    readonly depth: number,
  ) {
    this.plainLoop = kind === STR && a === STR_BASE;
  }
}

const CONTAINER_KINDS = new Set([OBJ_OPEN, OBJ_KEYWAIT, OBJ_COLON, OBJ_AFTER, KEY_LIT, ARR_OPEN, ARR_AFTER]);

/** The automaton of one schema; one instance per generation (it grows as states are discovered). */
export class JsonAutomaton {
  readonly states: AutomatonState[] = [];
  private readonly interned = new Map<string, AutomatonState>();
  readonly start: AutomatonState;
  private readonly end: AutomatonState;
  // Synthetic nodes for values the schema leaves free (negative ids keep their keys apart from schema nodes).
  private readonly anyNode: SchemaNode = { kind: 'any', id: -1, minBytes: 1 };
  private readonly freeObject: ObjectNode = { kind: 'object', id: -2, minBytes: 2, properties: [], free: true, keys: buildLiteralTrie([]) };
  private readonly freeArray: ArrayNode = { kind: 'array', id: -3, minBytes: 2, items: this.anyNode, minItems: 0, maxItems: Infinity };
  private readonly freeNumber: NumberNode = { kind: 'number', id: -4, minBytes: 1, integer: false };
  private readonly freeLiteral: LiteralNode;
  /** Per object node: restAfter[next] = bytes to close the object from after a member when `next` is the next property index. */
  private readonly restAfterCache = new Map<number, Int32Array>();
  /** Per object node: hiFrom[lo] = highest property index a key may take when `lo` is the lowest (first required at or after lo). */
  private readonly hiCache = new Map<number, Int32Array>();

  constructor(root: SchemaNode) {
    const lits = [true, false, null];
    this.freeLiteral = { kind: 'literal', id: -5, minBytes: 4, values: lits, trie: buildLiteralTrie(lits.map((v) => new TextEncoder().encode(JSON.stringify(v)))) };
    this.end = this.get(END, null, 0, 0, null);
    this.start = this.get(VALUE, root, 0, 0, this.end);
  }

  /** The interned state for this tuple. */
  private get(kind: number, node: SchemaNode | null, a: number, b: number, parent: AutomatonState | null): AutomatonState {
    const key = `${kind},${node === null ? 'x' : node.id},${a},${b},${parent === null ? -1 : parent.id}`;
    let s = this.interned.get(key);
    if (s === undefined) {
      if (this.states.length >= MAX_AUTOMATON_STATES) {
        throw new BitNetError('BAD_ARGUMENT', `constrained decoding needs more than ${MAX_AUTOMATON_STATES} automaton states for this schema and output`, {
          details: { field: 'responseFormat', limit: MAX_AUTOMATON_STATES },
        });
      }
      const parentDepth = parent === null ? 0 : parent.depth;
      s = new AutomatonState(this.states.length, kind, node, a, b, parent, CONTAINER_KINDS.has(kind) ? parentDepth + 1 : parentDepth);
      this.states.push(s);
      this.interned.set(key, s);
    }
    return s;
  }

  /** The state after byte `b`, or null when no valid text continues that way. Memoized. */
  step(s: AutomatonState, b: number): AutomatonState | null {
    let table = s.next;
    if (table === undefined) table = s.next = new Int32Array(256);
    const v = table[b];
    if (v > 0) return this.states[v - 1];
    if (v < 0) return null;
    const r = this.compute(s, b);
    table[b] = r === null ? -1 : r.id + 1;
    return r;
  }

  /** The state after every byte of `bytes`, or null. */
  walk(s: AutomatonState, bytes: Uint8Array): AutomatonState | null {
    let cur: AutomatonState | null = s;
    for (let i = 0; i < bytes.length && cur !== null; i++) cur = this.step(cur, bytes[i]);
    return cur;
  }

  /** True when the text so far is a complete value (generation may end here). */
  accepting(s: AutomatonState): boolean {
    switch (s.kind) {
      case END:
        return true;
      case NUM:
        return (s.a === NUM_ZERO || s.a === NUM_INT || s.a === NUM_FRAC || s.a === NUM_EXP) && s.parent !== null && this.accepting(s.parent);
      case LIT: {
        const node = s.node as LiteralNode;
        return node.trie.valueAt[s.a] >= 0 && s.parent !== null && this.accepting(s.parent);
      }
      default:
        return false;
    }
  }

  /** True when the value is complete and no byte may follow. */
  isFinal(s: AutomatonState): boolean {
    return s.kind === END;
  }

  /** Fewest bytes that complete the value from `s` (0 when it is complete). */
  minCompletion(s: AutomatonState): number {
    if (s.minBytes >= 0) return s.minBytes;
    const up = s.parent === null ? 0 : this.minCompletion(s.parent);
    let local: number;
    switch (s.kind) {
      case END:
        local = 0;
        break;
      case VALUE:
        local = (s.node as SchemaNode).minBytes;
        break;
      case OBJ_OPEN:
      case ARR_OPEN:
        local = (s.node as SchemaNode).minBytes - 1;
        break;
      case OBJ_AFTER:
        local = this.restAfter(s.node as ObjectNode)[s.a];
        break;
      case OBJ_KEYWAIT:
        local = this.keyWaitRest(s.node as ObjectNode, s.a);
        break;
      case OBJ_COLON: {
        const node = s.node as ObjectNode;
        local = s.a < 0 ? 1 + 1 + 1 : 1 + node.properties[s.a].node.minBytes + this.restAfter(node)[s.a + 1];
        break;
      }
      case KEY_LIT:
        local = this.keyLitRest(s.node as ObjectNode, s.a, s.b);
        break;
      case ARR_AFTER: {
        const node = s.node as ArrayNode;
        local = s.a >= node.minItems ? 1 : (node.minItems - s.a) * (1 + node.items.minBytes) + 1;
        break;
      }
      case STR:
        local = s.a === STR_BASE ? 1 : s.a === STR_ESC ? 2 : s.a < STR_CONT ? 6 - s.a + 1 : s.a < STR_E0 ? s.a - STR_CONT + 1 : s.a <= STR_ED ? 3 : 4;
        break;
      case NUM:
        local = s.a === NUM_ZERO || s.a === NUM_INT || s.a === NUM_FRAC || s.a === NUM_EXP ? 0 : 1;
        break;
      case LIT: {
        const ends = (s.node as LiteralNode).trie.ends[s.a];
        local = Infinity;
        for (const e of ends) local = Math.min(local, e.distance);
        break;
      }
      default:
        throw new BitNetError('INTERNAL', `unknown automaton state kind ${s.kind}`);
    }
    s.minBytes = local + up;
    return s.minBytes;
  }

  private hiFrom(node: ObjectNode): Int32Array {
    let hi = this.hiCache.get(node.id);
    if (hi === undefined) {
      const n = node.properties.length;
      hi = new Int32Array(n + 1);
      let firstRequired = n - 1;
      hi[n] = n - 1;
      for (let i = n - 1; i >= 0; i--) {
        if (node.properties[i].required) firstRequired = i;
        hi[i] = firstRequired;
      }
      this.hiCache.set(node.id, hi);
    }
    return hi;
  }

  /** restAfter[next]: bytes to close the object when properties before `next` are settled (',"k":v' per remaining required, then '}'). */
  private restAfter(node: ObjectNode): Int32Array {
    let r = this.restAfterCache.get(node.id);
    if (r === undefined) {
      const n = node.properties.length;
      r = new Int32Array(n + 1);
      r[n] = 1;
      const keyLen = this.keyLengths(node);
      for (let i = n - 1; i >= 0; i--) {
        const p = node.properties[i];
        r[i] = r[i + 1] + (p.required ? 1 + keyLen[i] + 1 + p.node.minBytes : 0);
      }
      this.restAfterCache.set(node.id, r);
    }
    return r;
  }

  private keyLengths(node: ObjectNode): number[] {
    const lengths = new Array<number>(node.properties.length).fill(0);
    for (const e of node.keys.ends[0]) lengths[e.value] = e.distance;
    return lengths;
  }

  /** After ',' (or '{' when a key must come): cheapest allowed member plus closing the rest. */
  private keyWaitRest(node: ObjectNode, lo: number): number {
    if (node.free) return 2 + 1 + 1 + 1; // "":0}
    return this.keyLitRest(node, 0, lo);
  }

  private keyLitRest(node: ObjectNode, trieNode: number, lo: number): number {
    const hi = this.hiFrom(node)[lo];
    const rest = this.restAfter(node);
    let best = Infinity;
    for (const e of node.keys.ends[trieNode]) {
      if (e.value < lo || e.value > hi) continue;
      best = Math.min(best, e.distance + 1 + node.properties[e.value].node.minBytes + rest[e.value + 1]);
    }
    return best;
  }

  private hasRequiredFrom(node: ObjectNode, next: number): boolean {
    return this.restAfter(node)[next] > 1;
  }

  private compute(s: AutomatonState, b: number): AutomatonState | null {
    const parent = s.parent;
    switch (s.kind) {
      case END:
        return null;
      case VALUE:
        if (isWs(b)) return s.a < MAX_WHITESPACE_RUN ? this.get(VALUE, s.node, s.a + 1, 0, parent) : null;
        return this.startValue(s.node as SchemaNode, b, parent as AutomatonState);
      case OBJ_OPEN: {
        const node = s.node as ObjectNode;
        if (isWs(b)) return s.a < MAX_WHITESPACE_RUN ? this.get(OBJ_OPEN, node, s.a + 1, 0, parent) : null;
        if (b === 0x7d) return this.hasRequiredFrom(node, 0) ? null : parent;
        return this.startKey(node, 0, b, parent as AutomatonState);
      }
      case OBJ_KEYWAIT: {
        const node = s.node as ObjectNode;
        if (isWs(b)) return s.b < MAX_WHITESPACE_RUN ? this.get(OBJ_KEYWAIT, node, s.a, s.b + 1, parent) : null;
        return this.startKey(node, s.a, b, parent as AutomatonState);
      }
      case KEY_LIT:
        return this.keyByte(s.node as ObjectNode, s.a, s.b, b, parent as AutomatonState);
      case OBJ_COLON: {
        const node = s.node as ObjectNode;
        if (isWs(b)) return s.b < MAX_WHITESPACE_RUN ? this.get(OBJ_COLON, node, s.a, s.b + 1, parent) : null;
        if (b !== 0x3a) return null;
        if (s.a < 0) return this.get(VALUE, this.anyNode, 0, 0, this.get(OBJ_AFTER, node, 0, 0, parent));
        return this.get(VALUE, node.properties[s.a].node, 0, 0, this.get(OBJ_AFTER, node, s.a + 1, 0, parent));
      }
      case OBJ_AFTER: {
        const node = s.node as ObjectNode;
        if (isWs(b)) return s.b < MAX_WHITESPACE_RUN ? this.get(OBJ_AFTER, node, s.a, s.b + 1, parent) : null;
        if (b === 0x2c) return node.free || s.a < node.properties.length ? this.get(OBJ_KEYWAIT, node, s.a, 0, parent) : null;
        if (b === 0x7d) return this.hasRequiredFrom(node, s.a) ? null : parent;
        return null;
      }
      case ARR_OPEN: {
        const node = s.node as ArrayNode;
        if (isWs(b)) return s.a < MAX_WHITESPACE_RUN ? this.get(ARR_OPEN, node, s.a + 1, 0, parent) : null;
        if (b === 0x5d) return node.minItems === 0 ? parent : null;
        if (node.maxItems < 1) return null;
        return this.startValue(node.items, b, this.arrAfter(node, 1, parent as AutomatonState));
      }
      case ARR_AFTER: {
        const node = s.node as ArrayNode;
        if (isWs(b)) return s.b < MAX_WHITESPACE_RUN ? this.get(ARR_AFTER, node, s.a, s.b + 1, parent) : null;
        if (b === 0x2c) return s.a < node.maxItems ? this.get(VALUE, node.items, 0, 0, this.arrAfter(node, s.a + 1, parent as AutomatonState)) : null;
        if (b === 0x5d) return s.a >= node.minItems ? parent : null;
        return null;
      }
      case STR:
        return this.stringByte(s, b);
      case NUM:
        return this.numberByte(s, b);
      case LIT:
        return this.literalByte(s.node as LiteralNode, s.a, b, parent as AutomatonState);
      default:
        throw new BitNetError('INTERNAL', `unknown automaton state kind ${s.kind}`);
    }
  }

  private arrAfter(node: ArrayNode, count: number, parent: AutomatonState): AutomatonState {
    // With no maxItems, counts past minItems behave alike: one state for them all.
    const c = node.maxItems === Infinity ? Math.min(count, node.minItems) : count;
    return this.get(ARR_AFTER, node, c, 0, parent);
  }

  /** The first byte of a value of `node`, continuing in `parent` once the value is complete. */
  private startValue(node: SchemaNode, b: number, parent: AutomatonState): AutomatonState | null {
    switch (node.kind) {
      case 'any':
        if (b === 0x7b) return parent.depth < MAX_FREE_DEPTH ? this.get(OBJ_OPEN, this.freeObject, 0, 0, parent) : null;
        if (b === 0x5b) return parent.depth < MAX_FREE_DEPTH ? this.get(ARR_OPEN, this.freeArray, 0, 0, parent) : null;
        if (b === 0x22) return this.get(STR, null, STR_BASE, 0, parent);
        if (b === 0x2d || isDigit(b)) return this.numberStart(this.freeNumber, b, parent);
        return this.literalByte(this.freeLiteral, 0, b, parent);
      case 'object':
        return b === 0x7b ? this.get(OBJ_OPEN, node, 0, 0, parent) : null;
      case 'array':
        return b === 0x5b ? this.get(ARR_OPEN, node, 0, 0, parent) : null;
      case 'string':
        return b === 0x22 ? this.get(STR, null, STR_BASE, 0, parent) : null;
      case 'number':
        return this.numberStart(node, b, parent);
      case 'literal':
        return this.literalByte(node, 0, b, parent);
      case 'union':
        // Options start with distinct bytes ('{', '[', '"', '-'/digits, 't'/'f', 'n'): at most one accepts b.
        for (const option of node.options) {
          const r = this.startValue(option, b, parent);
          if (r !== null) return r;
        }
        return null;
    }
  }

  private startKey(node: ObjectNode, lo: number, b: number, parent: AutomatonState): AutomatonState | null {
    if (node.free) return b === 0x22 ? this.get(STR, null, STR_BASE, 0, this.get(OBJ_COLON, node, -1, 0, parent)) : null;
    return this.keyByte(node, 0, lo, b, parent);
  }

  private keyByte(node: ObjectNode, trieNode: number, lo: number, b: number, parent: AutomatonState): AutomatonState | null {
    const child = node.keys.children[trieNode].get(b);
    if (child === undefined) return null;
    const hi = this.hiFrom(node)[lo];
    const value = node.keys.valueAt[child];
    // Keys are JSON strings, so no key is a prefix of another: a key that ends here has no continuation.
    if (value >= 0) return value >= lo && value <= hi ? this.get(OBJ_COLON, node, value, 0, parent) : null;
    for (const e of node.keys.ends[child]) if (e.value >= lo && e.value <= hi) return this.get(KEY_LIT, node, child, lo, parent);
    return null;
  }

  private literalByte(node: LiteralNode, trieNode: number, b: number, parent: AutomatonState): AutomatonState | null {
    const trie = node.trie;
    const child = trie.children[trieNode].get(b);
    if (child === undefined) {
      // A literal that is complete here (and is the prefix of a longer one, e.g. 1 and 12) hands the byte on.
      return trieNode !== 0 && trie.valueAt[trieNode] >= 0 ? this.step(parent, b) : null;
    }
    if (trie.valueAt[child] >= 0 && trie.children[child].size === 0) return parent;
    return this.get(LIT, node, child, 0, parent);
  }

  private stringByte(s: AutomatonState, b: number): AutomatonState | null {
    const parent = s.parent as AutomatonState;
    const sub = s.a;
    const to = (next: number): AutomatonState => (next === sub ? s : this.get(STR, null, next, 0, parent));
    if (sub === STR_BASE) {
      if (b === 0x22) return parent;
      if (b === 0x5c) return to(STR_ESC);
      if (b < 0x20) return null;
      if (b < 0x80) return s;
      if (b >= 0xc2 && b <= 0xdf) return to(STR_CONT + 1);
      if (b === 0xe0) return to(STR_E0);
      if (b === 0xed) return to(STR_ED);
      if (b >= 0xe1 && b <= 0xef) return to(STR_CONT + 2);
      if (b === 0xf0) return to(STR_F0);
      if (b >= 0xf1 && b <= 0xf3) return to(STR_CONT + 3);
      if (b === 0xf4) return to(STR_F4);
      return null;
    }
    if (sub === STR_ESC) {
      // '"', '\\', '/', 'b', 'f', 'n', 'r', 't', or 'u' and four hex digits.
      if (b === 0x22 || b === 0x5c || b === 0x2f || b === 0x62 || b === 0x66 || b === 0x6e || b === 0x72 || b === 0x74) return to(STR_BASE);
      return b === 0x75 ? to(STR_HEX) : null;
    }
    if (sub < STR_CONT) {
      if (!isHex(b)) return null;
      return sub === STR_HEX + 3 ? to(STR_BASE) : to(sub + 1);
    }
    const inRange = (lo: number, hi: number): boolean => b >= lo && b <= hi;
    if (sub < STR_E0) {
      if (!inRange(0x80, 0xbf)) return null;
      return sub === STR_CONT + 1 ? to(STR_BASE) : to(sub - 1);
    }
    if (sub === STR_E0) return inRange(0xa0, 0xbf) ? to(STR_CONT + 1) : null;
    if (sub === STR_ED) return inRange(0x80, 0x9f) ? to(STR_CONT + 1) : null;
    if (sub === STR_F0) return inRange(0x90, 0xbf) ? to(STR_CONT + 2) : null;
    return inRange(0x80, 0x8f) ? to(STR_CONT + 2) : null; // STR_F4
  }

  private numberStart(node: NumberNode, b: number, parent: AutomatonState): AutomatonState | null {
    if (b === 0x2d) return this.get(NUM, node, NUM_MINUS, 0, parent);
    if (b === 0x30) return this.get(NUM, node, NUM_ZERO, 1, parent);
    if (b >= 0x31 && b <= 0x39) return this.get(NUM, node, NUM_INT, 1, parent);
    return null;
  }

  private numberByte(s: AutomatonState, b: number): AutomatonState | null {
    const node = s.node as NumberNode;
    const parent = s.parent as AutomatonState;
    const num = (sub: number, digits: number): AutomatonState => this.get(NUM, node, sub, digits, parent);
    const digit = isDigit(b);
    switch (s.a) {
      case NUM_MINUS:
        if (b === 0x30) return num(NUM_ZERO, 1);
        return digit ? num(NUM_INT, 1) : null;
      case NUM_ZERO:
      case NUM_INT:
        if (digit) return s.a === NUM_INT && s.b < MAX_INT_DIGITS ? num(NUM_INT, s.b + 1) : s.a === NUM_ZERO ? null : this.step(parent, b);
        if (!node.integer && b === 0x2e) return num(NUM_DOT, 0);
        if (!node.integer && (b === 0x65 || b === 0x45)) return num(NUM_E, 0);
        return this.step(parent, b);
      case NUM_DOT:
        return digit ? num(NUM_FRAC, 1) : null;
      case NUM_FRAC:
        if (digit) return s.b < MAX_FRAC_DIGITS ? num(NUM_FRAC, s.b + 1) : this.step(parent, b);
        if (b === 0x65 || b === 0x45) return num(NUM_E, 0);
        return this.step(parent, b);
      case NUM_E:
        if (b === 0x2b || b === 0x2d) return num(NUM_ESIGN, 0);
        return digit ? num(NUM_EXP, 1) : null;
      case NUM_ESIGN:
        return digit ? num(NUM_EXP, 1) : null;
      case NUM_EXP:
        if (digit) return s.b < MAX_EXP_DIGITS ? num(NUM_EXP, s.b + 1) : this.step(parent, b);
        return this.step(parent, b);
      default:
        return null;
    }
  }
}
