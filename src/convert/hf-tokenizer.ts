// Turns a Hugging Face tokenizer.json (+ tokenizer_config.json, chat_template.jinja) into GGUF tokenizer metadata:
// byte-level BPE ('gpt2') or SentencePiece-style BPE with byte fallback ('llama'). Browser-safe.
//
// GGUF keys and token types: gguf-py gguf/constants.py (Keys.Tokenizer, TokenType); how llama.cpp's converter fills
// them (facts, not code): convert_hf_to_gguf.py `get_vocab_base` (holes become '[PAD{id}]' of type UNUSED, added
// special tokens CONTROL, other added tokens USER_DEFINED), `_set_vocab_gpt2`, gguf-py vocab.py `SpecialVocab`
// (bos/eos/unk/pad from tokenizer_config.json, add_bos/add_eos, chat_template string or list of named templates).
// tokenizer.json schema: huggingface/tokenizers (models.BPE: vocab, merges as 'a b' strings or [a, b] pairs,
// byte_fallback; pre_tokenizers Split/ByteLevel/Metaspace/Sequence; processors TemplateProcessing).

import { BitNetError } from '../errors.js';
import { gv } from '../gguf/metadata.js';
import type { GgufValue } from '../gguf/types.js';

/** gguf-py TokenType. */
const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/**
 * The pre-tokenizer regex of Meta's LLaMA-3 tokenizer.json (the Split step before ByteLevel), exactly as stored there.
 * llama.cpp calls these rules 'llama-bpe' (LLAMA_VOCAB_PRE_TYPE_LLAMA3).
 */
export const LLAMA3_SPLIT_REGEX = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

/** `tokenizer.ggml.pre` names the engine's BPE tokenizer implements (tokenizer/bpe.ts). */
export const KNOWN_PRE_TOKENIZERS: readonly string[] = ['llama-bpe', 'llama3', 'llama-v3', 'falcon3', 'dbrx', 'smaug-bpe', 'gpt2', 'gpt-2', 'default'];

/** Most tokens accepted (the engine's vocabulary bound, model/config.ts MAX_VOCAB). */
const MAX_TOKENS = 1 << 22;

/** End-of-turn texts written as tokenizer.ggml.eot_token_id when present (first found wins). */
const EOT_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>'];

export interface HfTokenizerInput {
  readonly tokenizerJson: unknown;
  readonly tokenizerConfig: unknown;
  /** chat_template.jinja, used when tokenizer_config.json has no chat_template. */
  readonly chatTemplateFile?: string | undefined;
  /** Rows of the embedding (config.json vocab_size): the GGUF vocabulary is padded to this. */
  readonly vocabSize: number;
  readonly configBosId?: number | undefined;
  readonly configEosIds?: readonly number[] | undefined;
  /** Pre-tokenizer rules chosen by the user; overrides detection. */
  readonly preTokenizer?: string | undefined;
}

export interface HfTokenizerResult {
  readonly entries: [string, GgufValue][];
  readonly kind: 'gpt2' | 'llama';
  /** tokenizer.ggml.pre written ('gpt2' only). */
  readonly pre: string | undefined;
  /** Tokens that came from the file (the rest are padding). */
  readonly nFileTokens: number;
  /** What was guessed or defaulted, for the user. */
  readonly notes: string[];
}

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(file: string, message: string, field: string): BitNetError {
  return new BitNetError('CHECKPOINT_BAD_CONFIG', `${file}: ${message}`, { details: { file, field } });
}

function unsupported(file: string, message: string, field: string): BitNetError {
  return new BitNetError('CHECKPOINT_UNSUPPORTED', `${file}: ${message}`, { details: { file, field } });
}

/** The content of a special-token entry of tokenizer_config.json: a string or {content: string}. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v['content'] === 'string') return v['content'];
  return undefined;
}

/** Pre-tokenizer steps, flattened out of a Sequence. */
function preSteps(pre: unknown): Json[] {
  if (!isRecord(pre)) return [];
  if (pre['type'] === 'Sequence' && Array.isArray(pre['pretokenizers'])) return pre['pretokenizers'].filter(isRecord);
  return [pre];
}

function decoderSteps(dec: unknown): Json[] {
  if (!isRecord(dec)) return [];
  if (dec['type'] === 'Sequence' && Array.isArray(dec['decoders'])) return dec['decoders'].filter(isRecord);
  return [dec];
}

function splitRegex(step: Json): string | undefined {
  const p = step['pattern'];
  if (!isRecord(p)) return undefined;
  return typeof p['Regex'] === 'string' ? p['Regex'] : typeof p['String'] === 'string' ? `literal:${p['String']}` : undefined;
}

/** The LLaMA-3 vocabulary by its landmarks (128256 tokens, special tokens at their ids, the whitespace merges first). */
function looksLikeLlama3(tokens: readonly string[], merges: readonly string[]): boolean {
  return tokens.length === 128256 && tokens[128000] === '<|begin_of_text|>' && tokens[128009] === '<|eot_id|>' && tokens[279] === 'Ġthe' && merges[0] === 'Ġ Ġ';
}

/** tokenizer.ggml.pre for a byte-level tokenizer, from its pre_tokenizer steps. */
function detectPre(preTokenizer: unknown, tokens: readonly string[], merges: readonly string[], notes: string[]): string | undefined {
  const steps = preSteps(preTokenizer);
  if (steps.length === 0) {
    if (looksLikeLlama3(tokens, merges)) {
      notes.push("tokenizer.json has no pre_tokenizer; the vocabulary is LLaMA-3's, so 'llama-bpe' (the rules it was trained with) is written");
      return 'llama-bpe';
    }
    return undefined;
  }
  const types = steps.map((s) => s['type']);
  if (types.length === 2 && types[0] === 'Split' && types[1] === 'ByteLevel' && steps[1]?.['use_regex'] === false) {
    const step = steps[0];
    if (step !== undefined && splitRegex(step) === LLAMA3_SPLIT_REGEX) return 'llama-bpe';
  }
  if (types.length === 1 && types[0] === 'ByteLevel' && steps[0]?.['use_regex'] !== false) return 'gpt2';
  return undefined;
}

function describePre(preTokenizer: unknown): string {
  return preSteps(preTokenizer)
    .map((s) => {
      const r = splitRegex(s);
      return r === undefined ? String(s['type']) : `${String(s['type'])}(${r})`;
    })
    .join(' + ') || 'none';
}

/** add_bos / add_eos from the post-processor: TemplateProcessing's `single` starting / ending with a special token. */
function templateAdds(post: unknown, bosText: string | undefined, eosText: string | undefined): { bos: boolean | undefined; eos: boolean | undefined } {
  const procs = isRecord(post) && post['type'] === 'Sequence' && Array.isArray(post['processors']) ? post['processors'].filter(isRecord) : isRecord(post) ? [post] : [];
  const tp = procs.find((p) => p['type'] === 'TemplateProcessing');
  if (tp === undefined || !Array.isArray(tp['single'])) return { bos: undefined, eos: undefined };
  const single = tp['single'].filter(isRecord);
  const specialId = (item: Json | undefined): string | undefined => {
    const st = item?.['SpecialToken'];
    return isRecord(st) && typeof st['id'] === 'string' ? st['id'] : undefined;
  };
  const first = specialId(single[0]);
  const last = specialId(single[single.length - 1]);
  return { bos: first !== undefined && first === bosText, eos: last !== undefined && last === eosText };
}

/** Reads tokenizer.json and friends into GGUF tokenizer metadata. */
export function convertHfTokenizer(input: HfTokenizerInput): HfTokenizerResult {
  const tj = input.tokenizerJson;
  if (!isRecord(tj)) throw bad('tokenizer.json', 'not a JSON object', '(root)');
  const model = tj['model'];
  if (!isRecord(model)) throw bad('tokenizer.json', "has no 'model' object", 'model');
  if (model['type'] !== 'BPE') {
    throw unsupported('tokenizer.json', `model type '${String(model['type'])}' is not supported (only BPE: byte-level or SentencePiece-style)`, 'model.type');
  }
  const vocabObj = model['vocab'];
  if (!isRecord(vocabObj)) throw bad('tokenizer.json', 'model.vocab is not an object', 'model.vocab');
  const notes: string[] = [];

  // Tokens by id: the BPE vocabulary, then added tokens (which may repeat or extend it).
  const byId = new Map<number, string>();
  const setToken = (id: unknown, text: string, where: string): number => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= MAX_TOKENS) throw bad('tokenizer.json', `${where}: id ${JSON.stringify(id)} for '${text}' is not an integer in [0, ${MAX_TOKENS})`, where);
    const prev = byId.get(id);
    if (prev !== undefined && prev !== text) throw bad('tokenizer.json', `${where}: id ${id} is both '${prev}' and '${text}'`, where);
    byId.set(id, text);
    return id;
  };
  for (const [text, id] of Object.entries(vocabObj)) setToken(id, text, 'model.vocab');
  const added = Array.isArray(tj['added_tokens']) ? tj['added_tokens'].filter(isRecord) : [];
  const addedKind = new Map<number, 'control' | 'user'>();
  for (const a of added) {
    const content = a['content'];
    if (typeof content !== 'string' || content === '') throw bad('tokenizer.json', 'an added token has no content', 'added_tokens');
    const id = setToken(a['id'], content, 'added_tokens');
    addedKind.set(id, a['special'] === true ? 'control' : 'user');
  }
  let maxId = -1;
  for (const id of byId.keys()) maxId = Math.max(maxId, id);
  if (maxId + 1 > input.vocabSize) {
    throw bad('tokenizer.json', `token id ${maxId} is outside the model's vocab_size ${input.vocabSize} (config.json): the embedding has no row for it`, 'vocab_size');
  }
  const nTokens = input.vocabSize;

  // Merges: 'a b' strings or [a, b] pairs.
  const rawMerges = Array.isArray(model['merges']) ? model['merges'] : [];
  const merges: string[] = rawMerges.map((m, i) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      if (m[0].includes(' ') || m[1].includes(' ')) throw unsupported('tokenizer.json', `merge ${i} [${JSON.stringify(m[0])}, ${JSON.stringify(m[1])}] contains a space, which GGUF's 'a b' merge format cannot hold`, 'model.merges');
      return `${m[0]} ${m[1]}`;
    }
    throw bad('tokenizer.json', `merge ${i} is neither 'a b' nor [a, b]`, 'model.merges');
  });

  const decoders = decoderSteps(tj['decoder']);
  const pres = preSteps(tj['pre_tokenizer']);
  const byteLevel = decoders.some((d) => d['type'] === 'ByteLevel') || pres.some((p) => p['type'] === 'ByteLevel');
  const spmStyle = !byteLevel && (model['byte_fallback'] === true || decoders.some((d) => d['type'] === 'Metaspace' || (d['type'] === 'Replace' && isRecord(d['pattern']) && d['pattern']['String'] === '▁')));
  if (!byteLevel && !spmStyle) {
    throw unsupported('tokenizer.json', 'BPE without ByteLevel or SentencePiece-style (byte_fallback / ▁) decoding is not supported', 'decoder');
  }
  const kind: 'gpt2' | 'llama' = byteLevel ? 'gpt2' : 'llama';

  const tokens: string[] = new Array<string>(nTokens);
  const types = new Int32Array(nTokens);
  const unkText = typeof model['unk_token'] === 'string' ? model['unk_token'] : undefined;
  let nPad = 0;
  const seen = new Map<string, number>();
  for (let id = 0; id < nTokens; id++) {
    let text = byId.get(id);
    let type: number = TOKEN_TYPE.NORMAL;
    if (text === undefined) {
      text = `[PAD${id}]`;
      type = TOKEN_TYPE.UNUSED;
      nPad++;
    } else {
      const ak = addedKind.get(id);
      if (ak === 'control') type = TOKEN_TYPE.CONTROL;
      else if (ak === 'user') type = TOKEN_TYPE.USER_DEFINED;
      else if (kind === 'llama' && /^<0x[0-9A-Fa-f]{2}>$/.test(text)) type = TOKEN_TYPE.BYTE;
      if (kind === 'llama' && text === unkText) type = TOKEN_TYPE.UNKNOWN;
    }
    const dup = seen.get(text);
    if (dup !== undefined) throw bad('tokenizer.json', `token text '${text}' appears at ids ${dup} and ${id}`, 'model.vocab');
    seen.set(text, id);
    tokens[id] = text;
    types[id] = type;
  }
  if (nPad > 0) notes.push(`${nPad} ids between the tokenizer's ${maxId + 1} tokens and vocab_size ${nTokens} are padding tokens '[PAD<id>]' (UNUSED)`);

  const idOf = (text: string | undefined): number | undefined => (text === undefined ? undefined : seen.get(text));
  const tc = isRecord(input.tokenizerConfig) ? input.tokenizerConfig : {};
  const bosText = tokenContent(tc['bos_token']);
  const eosText = tokenContent(tc['eos_token']);
  const bosId = idOf(bosText) ?? input.configBosId;
  const eosId = idOf(eosText) ?? input.configEosIds?.[0];
  const eotId = EOT_TEXTS.map((t) => seen.get(t)).find((id) => id !== undefined);
  const padId = idOf(tokenContent(tc['pad_token']));
  const unkId = kind === 'llama' ? idOf(unkText) : undefined;

  const entries: [string, GgufValue][] = [['tokenizer.ggml.model', gv.str(kind)]];
  let pre: string | undefined;
  if (kind === 'gpt2') {
    const detected = detectPre(tj['pre_tokenizer'], tokens, merges, notes);
    if (input.preTokenizer !== undefined) {
      if (!KNOWN_PRE_TOKENIZERS.includes(input.preTokenizer)) {
        throw new BitNetError('BAD_ARGUMENT', `pre-tokenizer '${input.preTokenizer}' is unknown; expected one of ${KNOWN_PRE_TOKENIZERS.join(', ')}`, { details: { field: 'preTokenizer', actual: input.preTokenizer } });
      }
      if (detected !== undefined && detected !== input.preTokenizer) notes.push(`pre-tokenizer '${input.preTokenizer}' chosen by the user; tokenizer.json looks like '${detected}'`);
      pre = input.preTokenizer;
    } else if (detected !== undefined) {
      pre = detected;
    } else {
      throw unsupported('tokenizer.json', `pre-tokenizer ${describePre(tj['pre_tokenizer'])} is not one this converter recognises; name the rules with --pre-tokenizer (${KNOWN_PRE_TOKENIZERS.join(', ')}) if you know them`, 'pre_tokenizer');
    }
    entries.push(['tokenizer.ggml.pre', gv.str(pre)]);
  }
  entries.push(['tokenizer.ggml.tokens', gv.arrStr(tokens)], ['tokenizer.ggml.token_type', gv.arrI32(types)]);
  if (kind === 'llama') {
    // tokenizer.json keeps no SentencePiece scores; the engine (like llama.cpp) merges the highest-scoring piece
    // first, so each piece scores minus the rank of the merge that makes it: the merge order of tokenizers' BPE.
    const scores = new Float32Array(nTokens).fill(-1e9);
    for (let r = merges.length - 1; r >= 0; r--) {
      const id = seen.get((merges[r] ?? '').replace(' ', ''));
      if (id !== undefined) scores[id] = -r;
    }
    entries.push(['tokenizer.ggml.scores', gv.arrF32(scores)]);
    notes.push('SentencePiece scores are derived from the merge ranks (tokenizer.json stores none)');
  }
  entries.push(['tokenizer.ggml.merges', gv.arrStr(merges)]);
  if (bosId !== undefined) entries.push(['tokenizer.ggml.bos_token_id', gv.u32(bosId)]);
  if (eosId !== undefined) entries.push(['tokenizer.ggml.eos_token_id', gv.u32(eosId)]);
  if (eotId !== undefined && eotId !== eosId) {
    entries.push(['tokenizer.ggml.eot_token_id', gv.u32(eotId)]);
    notes.push(`end of turn: '${tokens[eotId] ?? ''}' (id ${eotId}) stops generation besides EOS`);
  }
  if (unkId !== undefined) entries.push(['tokenizer.ggml.unknown_token_id', gv.u32(unkId)]);
  if (padId !== undefined) entries.push(['tokenizer.ggml.padding_token_id', gv.u32(padId)]);

  const fromTemplate = templateAdds(tj['post_processor'], bosText ?? (bosId === undefined ? undefined : tokens[bosId]), eosText ?? (eosId === undefined ? undefined : tokens[eosId]));
  const addBos = typeof tc['add_bos_token'] === 'boolean' ? tc['add_bos_token'] : (fromTemplate.bos ?? (kind === 'llama' && bosId !== undefined));
  const addEos = typeof tc['add_eos_token'] === 'boolean' ? tc['add_eos_token'] : (fromTemplate.eos ?? false);
  entries.push(['tokenizer.ggml.add_bos_token', gv.bool(addBos)], ['tokenizer.ggml.add_eos_token', gv.bool(addEos)]);
  if (kind === 'llama') {
    const prependsSpace =
      decoderSteps(tj['normalizer']).some((n) => n['type'] === 'Prepend' && n['prepend'] === '▁') ||
      (isRecord(tj['normalizer']) && Array.isArray(tj['normalizer']['normalizers']) && tj['normalizer']['normalizers'].some((n) => isRecord(n) && n['type'] === 'Prepend' && n['prepend'] === '▁')) ||
      pres.some((p) => p['type'] === 'Metaspace' && (p['add_prefix_space'] === true || p['prepend_scheme'] === 'first' || p['prepend_scheme'] === 'always'));
    entries.push(['tokenizer.ggml.add_space_prefix', gv.bool(prependsSpace)]);
  }

  // Chat templates: a string, or a list of {name, template} (the one named 'default' is the main template).
  const ct = tc['chat_template'] ?? input.chatTemplateFile;
  if (typeof ct === 'string') {
    entries.push(['tokenizer.chat_template', gv.str(ct)]);
  } else if (Array.isArray(ct)) {
    const names: string[] = [];
    for (const t of ct) {
      if (!isRecord(t) || typeof t['name'] !== 'string' || typeof t['template'] !== 'string') throw bad('tokenizer_config.json', 'chat_template list entries need a name and a template', 'chat_template');
      if (t['name'] === 'default') entries.push(['tokenizer.chat_template', gv.str(t['template'])]);
      else {
        entries.push([`tokenizer.chat_template.${t['name']}`, gv.str(t['template'])]);
        names.push(t['name']);
      }
    }
    if (names.length > 0) entries.push(['tokenizer.chat_templates', gv.arrStr(names)]);
  } else if (ct !== undefined && ct !== null) {
    throw bad('tokenizer_config.json', 'chat_template is neither a string nor a list', 'chat_template');
  }
  return { entries, kind, pre, nFileTokens: maxId + 1, notes };
}
