// Byte-level BPE pre-tokenizer rules (the regexes that cut text into words) and the choice of rules for a GGUF file.
//
// A GGUF names its rules in `tokenizer.ggml.pre`; llama.cpp maps the name to a pre-type and the pre-type to a list
// of regexes (src/llama-vocab.cpp: `llama_vocab::impl::load` for the names, the `llm_tokenizer_bpe` constructor for
// the regexes; read at ggml-org/llama.cpp commit 00ad355e009e83abf98f96a6ded7193b95763681). Each regex splits the
// pieces the previous one left, keeping the text between matches as pieces too (src/unicode.cpp
// `unicode_regex_split`, `unicode_regex_split_stl`).

import { BitNetError } from '../errors.js';

// `\s` is written as \p{White_Space} (Unicode White_Space, what llama.cpp's unicode.cpp and the Rust/Oniguruma
// engines use; JavaScript's `\s` differs on U+0085 and U+FEFF). The case-insensitive contraction group
// `(?i:'s|...)` of tokenizer.json is spelled out per letter, as llama.cpp does.
const WS = String.raw`\p{White_Space}`;
const NOT_WS = String.raw`\P{White_Space}`;

/** LLaMA-3 (tokenizer.json of Meta-Llama-3; llama.cpp LLAMA_VOCAB_PRE_TYPE_LLAMA3). Digits split in runs of 1-3. */
const LLAMA3_PATTERN =
  String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^${WS}\p{L}\p{N}]+[\r\n]*|${WS}*[\r\n]+|${WS}+(?!${NOT_WS})|${WS}+`;

/** GPT-2 (openai/gpt-2 src/encoder.py; llama.cpp LLAMA_VOCAB_PRE_TYPE_GPT2). */
const GPT2_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^${WS}\p{L}\p{N}]+|${WS}+(?!${NOT_WS})|${WS}+`;

/**
 * The GPT-2 rule as llama.cpp runs it. llama.cpp does not hand that regex to a regex engine: src/unicode.cpp
 * `unicode_regex_split_custom_gpt2` walks the code points, and its `[^\s\p{L}\p{N}]+` step also stops at code points
 * with no Unicode category (unassigned, flags 0), which then fall through to its "no matches" branch one code point at
 * a time. The last two alternatives reproduce that; on assigned text this is GPT2_PATTERN.
 */
const GPT2_LLAMA_CPP_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^${WS}\p{L}\p{N}\p{Cn}]+|${WS}+(?!${NOT_WS})|${WS}+|\p{Cn}`;

/**
 * llama.cpp's 'default' pre-tokenizer (LLAMA_VOCAB_PRE_TYPE_DEFAULT, the `default:` case of the `llm_tokenizer_bpe`
 * constructor), used when `tokenizer.ggml.pre` is missing or 'default': four regexes in turn. 1: runs of punctuation
 * (`\p{P}`) and the ASCII symbols $ + < = > ^ ~ | (not the backtick) become their own pieces, so "don't" is
 * "don" "'" "t" and contractions never survive; 2: GPT-2's rule inside each remaining piece; 3: digit runs; 4: groups
 * of three ASCII digits from the left of each run (what is left of the run stays one piece). llama.cpp runs 1, 3 and
 * 4 through std::regex on a text where each non-ASCII code point is replaced by a byte for its category and each
 * `\p{X}` by that byte plus the ASCII members of X (unicode.cpp `k_ucat_map`); for ASCII those members are exactly
 * JavaScript's `\p{P}` / `\p{N}`, for other code points both read the Unicode category.
 */
const DEFAULT_PATTERNS = [String.raw`[\p{P}\$\+<=>\^~\|]+`, GPT2_LLAMA_CPP_PATTERN, String.raw`\p{N}+`, '[0-9][0-9][0-9]'];

/** One set of pre-tokenizer rules. */
export interface PreTokenizerRules {
  /** Regexes (JavaScript source, used with the 'gu' flags), applied one after another. */
  readonly patterns: readonly string[];
  /** Look a whole word up in the vocabulary before merging (llama.cpp `ignore_merges`, the LLaMA-3 pre-types). */
  readonly ignoreMerges: boolean;
  /** BPE adds BOS by default with these rules (llama.cpp sets `add_bos` for the LLaMA-3 pre-types only). */
  readonly addBosByDefault: boolean;
}

const LLAMA3_RULES: PreTokenizerRules = { patterns: [LLAMA3_PATTERN], ignoreMerges: true, addBosByDefault: true };

/** `tokenizer.ggml.pre` values this engine implements, by the llama.cpp pre-type they select. */
const RULES_BY_NAME: ReadonlyMap<string, PreTokenizerRules> = new Map([
  ...['llama-bpe', 'llama3', 'llama-v3', 'falcon3'].map((name): [string, PreTokenizerRules] => [name, LLAMA3_RULES]),
  ...['dbrx', 'smaug-bpe'].map((name): [string, PreTokenizerRules] => [name, { patterns: [LLAMA3_PATTERN], ignoreMerges: false, addBosByDefault: false }]),
  ...['gpt2', 'gpt-2', 'phi-2', 'mpt', 'olmo', 'jais'].map((name): [string, PreTokenizerRules] => [name, { patterns: [GPT2_PATTERN], ignoreMerges: false, addBosByDefault: false }]),
  ['default', { patterns: DEFAULT_PATTERNS, ignoreMerges: false, addBosByDefault: false }],
]);

/** The names `LoadOptions.preTokenizer` and `--pre-tokenizer` accept, 'llama-bpe' and 'default' first. */
// Code-unit order, not localeCompare: the names are ASCII (same order), and the first localeCompare call loads ICU's
// collator, ~50 ms of every model load that imports this module.
export const PRE_TOKENIZER_NAMES: readonly string[] = [...RULES_BY_NAME.keys()].sort((a, b) => rankName(a) - rankName(b) || (a < b ? -1 : a > b ? 1 : 0));

function rankName(name: string): number {
  return name === 'llama-bpe' ? 0 : name === 'default' ? 1 : 2;
}

/** Where the rules in effect came from. */
export type PreTokenizerOrigin =
  /** `tokenizer.ggml.pre` names rules this engine implements. */
  | 'file'
  /** The caller named them (`LoadOptions.preTokenizer`, `--pre-tokenizer`). */
  | 'option'
  /** The file names none, or names unknown rules: a guess (see `reason`). */
  | 'guessed';

/** The pre-tokenizer a BPE tokenizer uses, and why. */
export interface PreTokenizerChoice {
  /** The rules' name ('llama-bpe', 'default', ...). */
  readonly name: string;
  readonly origin: PreTokenizerOrigin;
  /** `tokenizer.ggml.pre` as stored (undefined when the key is missing). */
  readonly fileValue: string | undefined;
  /** One sentence on why these rules; for a guess this is the warning strict mode refuses. */
  readonly reason: string;
  readonly rules: PreTokenizerRules;
}

/** What the choice needs from the file. */
export interface PreTokenizerInputs {
  /** `tokenizer.ggml.pre`, undefined when missing. */
  readonly filePre: string | undefined;
  /** True when the vocabulary is exactly LLaMA-3's (tokenizer.ts `isLlama3Vocabulary`). */
  readonly llama3Vocabulary: boolean;
  /** The caller's choice, if any (a name from PRE_TOKENIZER_NAMES). */
  readonly requested?: string | undefined;
}

/** Throws BAD_ARGUMENT unless `name` is one of PRE_TOKENIZER_NAMES. */
export function checkPreTokenizerName(name: string): PreTokenizerRules {
  const rules = RULES_BY_NAME.get(name);
  if (rules === undefined) {
    throw new BitNetError('BAD_ARGUMENT', `preTokenizer must be one of ${PRE_TOKENIZER_NAMES.map((n) => `'${n}'`).join(', ')}; got '${name}'`, {
      details: { field: 'preTokenizer', allowed: PRE_TOKENIZER_NAMES.join(', '), actual: name },
    });
  }
  return rules;
}

/**
 * Picks the rules: the caller's, else the file's, else a guess with the reason spelled out. A missing key with the
 * LLaMA-3 vocabulary (Microsoft's BitNet b1.58 2B-4T GGUF: its converter never writes the key) gets the LLaMA-3 rules
 * the model was trained with, not the 'default' llama.cpp and bitnet.cpp fall back to, and says so.
 */
export function choosePreTokenizer(inputs: PreTokenizerInputs): PreTokenizerChoice {
  const { filePre, requested } = inputs;
  const stored = filePre === undefined ? 'is missing' : `is '${filePre}'`;
  if (requested !== undefined) {
    const rules = checkPreTokenizerName(requested);
    return { name: requested, origin: 'option', fileValue: filePre, reason: `'${requested}' as requested (tokenizer.ggml.pre ${stored})`, rules };
  }
  if (filePre !== undefined) {
    const rules = RULES_BY_NAME.get(filePre);
    if (rules !== undefined) return { name: filePre, origin: 'file', fileValue: filePre, reason: `tokenizer.ggml.pre is '${filePre}'`, rules };
    return {
      name: 'llama-bpe',
      origin: 'guessed',
      fileValue: filePre,
      reason: `tokenizer.ggml.pre '${filePre}' is not known; using the LLaMA-3 ('llama-bpe') pre-tokenizer (name the rules with the preTokenizer option / --pre-tokenizer)`,
      rules: LLAMA3_RULES,
    };
  }
  if (inputs.llama3Vocabulary) {
    return {
      name: 'llama-bpe',
      origin: 'guessed',
      fileValue: undefined,
      reason:
        "tokenizer.ggml.pre is missing; using the LLaMA-3 rules ('llama-bpe') because the vocabulary is LLaMA-3's and " +
        "those are the rules it was trained with; llama.cpp and bitnet.cpp use their 'default' rules for this file, which " +
        'split contractions, punctuation and whitespace differently (name the rules with the preTokenizer option / --pre-tokenizer)',
      rules: LLAMA3_RULES,
    };
  }
  return {
    name: 'default',
    origin: 'guessed',
    fileValue: undefined,
    reason: "tokenizer.ggml.pre is missing; using llama.cpp's 'default' pre-tokenizer, as llama.cpp does (name the rules with the preTokenizer option / --pre-tokenizer)",
    rules: checkPreTokenizerName('default'),
  };
}
