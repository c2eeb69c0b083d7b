// The Tokenizer a model uses, built from its GGUF metadata: byte-level BPE ('gpt2') or SentencePiece ('llama').
//
// Encoding: special tokens are split out first (vocab.ts), then each text fragment goes through BPE (bpe.ts) or
// SentencePiece (spm.ts). Decoding: each token's bytes (llama.cpp src/llama-vocab.cpp `token_to_piece`) joined and
// read as UTF-8; the stream decoder holds back incomplete UTF-8 sequences between tokens.

import { BitNetError } from '../errors.js';
import { byteLevelToBytes } from './byte-level.js';
import { BpeEncoder } from './bpe.js';
import { choosePreTokenizer, type PreTokenizerChoice } from './pre-tokenizer.js';
import { SPM_SPACE, SpmEncoder, parseByteToken } from './spm.js';
import { TokenType, metaBool, metaNumberArray, metaString, metaStringArray, readVocab, splitSpecialTokens, type Metadata, type Vocab } from './vocab.js';

export interface EncodeOptions {
  /** Put the BOS token first (default: the tokenizer's `addBos`, from `tokenizer.ggml.add_bos_token`). */
  readonly addBos?: boolean;
  /** Put the EOS token last (default: the tokenizer's `addEos`, from `tokenizer.ggml.add_eos_token`). */
  readonly addEos?: boolean;
  /**
   * Turn the literal text of control tokens ('<|eot_id|>') into those tokens (default true, as llama.cpp's CLI and
   * server do for prompts). User-defined tokens are always matched.
   */
  readonly parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Write control tokens as their text ('<|eot_id|>'); false drops them (default true). */
  readonly renderSpecial?: boolean;
}

export interface StreamDecoderOptions extends DecodeOptions {
  /**
   * The first token pushed starts the text (SentencePiece: its space prefix is removed, as `decode` does for the
   * first token). Default false: generated tokens continue a prompt, so their leading space is real.
   */
  readonly atStart?: boolean;
}

/** Turns tokens into text one at a time; every piece it returns is valid UTF-8. */
export interface StreamDecoder {
  /** Text completed by this token ('' while a multi-byte character is still incomplete). */
  push(id: number): string;
  /** Whatever is held back, with incomplete sequences as U+FFFD; the decoder is then empty and reusable. */
  flush(): string;
}

export interface Tokenizer {
  readonly kind: 'bpe' | 'spm';
  readonly vocabSize: number;
  readonly bosTokenId?: number;
  readonly eosTokenId?: number;
  /** End of turn ('<|eot_id|>' ...), from `tokenizer.ggml.eot_token_id` or found in the vocabulary. */
  readonly eotTokenId?: number;
  /** Every token that ends generation: EOS, EOT and EOM ('<|eom_id|>') where present. */
  readonly eogTokenIds: readonly number[];
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** Fallbacks taken while reading the metadata (unknown pre-tokenizer, missing scores ...); strict mode refuses them. */
  readonly warnings: readonly string[];
  /** BPE: the pre-tokenizer rules in effect and why (undefined for SentencePiece, which has none). */
  readonly preTokenizer: PreTokenizerChoice | undefined;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  /** The bytes a token stands for (control tokens: their text), without any space-prefix removal. */
  tokenBytes(id: number): Uint8Array;
  /** The token's vocabulary entry as stored in the GGUF ('Ġthe', '▁the', '<0x0A>', '<|eot_id|>'). */
  tokenText(id: number): string;
  /** True for control tokens (BOS, EOS, '<|eot_id|>' ...); false for other tokens and for ids outside the vocabulary. */
  isControl(id: number): boolean;
  createStreamDecoder(opts?: StreamDecoderOptions): StreamDecoder;
}

interface FragmentEncoder {
  readonly warnings: readonly string[];
  encode(text: string, afterSpecial: boolean, out: number[]): void;
}

const utf8Encoder = new TextEncoder();

/** Token types rendered only with `renderSpecial` (llama.cpp suppresses unknown-attribute tokens like control). */
function isSpecialType(type: number): boolean {
  return type === TokenType.CONTROL || type === TokenType.UNKNOWN || type === TokenType.UNUSED || type === TokenType.UNDEFINED;
}

class GgufTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId?: number;
  readonly eosTokenId?: number;
  readonly eotTokenId?: number;
  readonly eogTokenIds: readonly number[];
  readonly warnings: readonly string[];
  private readonly byteCache: (Uint8Array | undefined)[];

  constructor(
    readonly kind: 'bpe' | 'spm',
    private readonly vocab: Vocab,
    private readonly encoder: FragmentEncoder,
    readonly addBos: boolean,
    readonly addEos: boolean,
    /** SentencePiece with add_space_prefix: the first piece of a text loses its leading space on decode. */
    private readonly stripLeadingSpace: boolean,
    readonly preTokenizer: PreTokenizerChoice | undefined,
  ) {
    this.vocabSize = vocab.tokens.length;
    if (vocab.bosTokenId !== undefined) this.bosTokenId = vocab.bosTokenId;
    if (vocab.eosTokenId !== undefined) this.eosTokenId = vocab.eosTokenId;
    if (vocab.eotTokenId !== undefined) this.eotTokenId = vocab.eotTokenId;
    this.eogTokenIds = [...new Set([vocab.eosTokenId, vocab.eotTokenId, vocab.eomTokenId].filter((id): id is number => id !== undefined))];
    this.warnings = [...vocab.warnings, ...encoder.warnings];
    this.byteCache = new Array<Uint8Array | undefined>(this.vocabSize);
    if (addBos && vocab.bosTokenId === undefined) {
      throw new BitNetError('TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.add_bos_token is true but the vocabulary has no BOS token', {
        details: { field: 'tokenizer.ggml.bos_token_id' },
      });
    }
    if (addEos && vocab.eosTokenId === undefined) {
      throw new BitNetError('TOKENIZER_BAD_VOCAB', 'tokenizer.ggml.add_eos_token is true but the vocabulary has no EOS token', {
        details: { field: 'tokenizer.ggml.eos_token_id' },
      });
    }
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.addBos ?? this.addBos) out.push(this.requireSpecial(this.bosTokenId, 'BOS'));
    let afterSpecial = true;
    for (const fragment of splitSpecialTokens(this.vocab, text, opts.parseSpecial ?? true)) {
      if (fragment.kind === 'token') {
        out.push(fragment.id);
        afterSpecial = true;
      } else {
        this.encoder.encode(fragment.text, afterSpecial, out);
        afterSpecial = false;
      }
    }
    if (opts.addEos ?? this.addEos) out.push(this.requireSpecial(this.eosTokenId, 'EOS'));
    return out;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const decoder = this.createStreamDecoder({ ...opts, atStart: true });
    let text = '';
    for (const id of ids) text += decoder.push(id);
    return text + decoder.flush();
  }

  tokenBytes(id: number): Uint8Array {
    this.checkId(id);
    const cached = this.byteCache[id];
    if (cached !== undefined) return cached;
    const text = this.vocab.tokens[id] ?? '';
    const type = this.vocab.tokenTypes[id] ?? TokenType.NORMAL;
    let bytes: Uint8Array;
    if (isSpecialType(type) || type === TokenType.USER_DEFINED) {
      bytes = utf8Encoder.encode(text);
    } else if (type === TokenType.BYTE) {
      const byte = parseByteToken(text);
      bytes = byte >= 0 ? Uint8Array.of(byte) : utf8Encoder.encode(text);
    } else if (this.kind === 'bpe') {
      bytes = byteLevelToBytes(text);
    } else {
      bytes = utf8Encoder.encode(text.replaceAll(SPM_SPACE, ' '));
    }
    this.byteCache[id] = bytes;
    return bytes;
  }

  tokenText(id: number): string {
    this.checkId(id);
    return this.vocab.tokens[id] ?? '';
  }

  isControl(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize && this.vocab.tokenTypes[id] === TokenType.CONTROL;
  }

  createStreamDecoder(opts: StreamDecoderOptions = {}): StreamDecoder {
    const renderSpecial = opts.renderSpecial ?? true;
    // ignoreBOM: a U+FEFF the model writes is text, not a byte-order mark to drop.
    const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
    // The space prefix is removed from the first piece of text, which may follow a BOS (llama.cpp `detokenize`).
    let stripNext = this.stripLeadingSpace && (opts.atStart ?? false);
    return {
      push: (id: number): string => {
        const type = this.typeOf(id);
        if (isSpecialType(type)) {
          if (id !== this.bosTokenId) stripNext = false;
          if (!renderSpecial) return '';
          return utf8.decode(this.tokenBytes(id), { stream: true });
        }
        let bytes = this.tokenBytes(id);
        if (stripNext) {
          stripNext = false;
          if (bytes[0] === 0x20) bytes = bytes.subarray(1);
        }
        return utf8.decode(bytes, { stream: true });
      },
      flush: (): string => {
        return utf8.decode();
      },
    };
  }

  private typeOf(id: number): number {
    this.checkId(id);
    return this.vocab.tokenTypes[id] ?? TokenType.NORMAL;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new BitNetError('BAD_ARGUMENT', `token id ${id} is outside the vocabulary [0, ${this.vocabSize})`, {
        details: { tokenId: id, vocabSize: this.vocabSize },
      });
    }
  }

  private requireSpecial(id: number | undefined, name: string): number {
    if (id === undefined) {
      throw new BitNetError('BAD_ARGUMENT', `cannot add ${name}: the vocabulary has no ${name} token`, { details: { token: name } });
    }
    return id;
  }
}

/** Choices createTokenizer takes beyond the metadata. */
export interface CreateTokenizerOptions {
  /**
   * BPE pre-tokenizer rules by name (see PRE_TOKENIZER_NAMES), overriding `tokenizer.ggml.pre`; unknown names are
   * BAD_ARGUMENT. Ignored for SentencePiece vocabularies.
   */
  readonly preTokenizer?: string | undefined;
}

/**
 * True for the LLaMA-3 / 3.1 vocabulary: 128256 tokens, the special tokens at their ids, 280147 merges starting with
 * the whitespace merges, and a few well-known pieces where Meta's tokenizer.json has them.
 */
export function isLlama3Vocabulary(tokens: readonly string[], merges: readonly string[]): boolean {
  return (
    tokens.length === 128256 &&
    merges.length === 280147 &&
    tokens[128000] === '<|begin_of_text|>' &&
    tokens[128001] === '<|end_of_text|>' &&
    tokens[128009] === '<|eot_id|>' &&
    tokens[198] === 'Ċ' &&
    tokens[279] === 'Ġthe' &&
    tokens[9906] === 'Hello' &&
    merges[0] === 'Ġ Ġ' &&
    merges[2] === 'ĠĠ ĠĠ'
  );
}

/**
 * Builds the tokenizer a GGUF describes. `tokenizer.ggml.model` 'gpt2' -> byte-level BPE, 'llama' -> SentencePiece;
 * anything else -> TOKENIZER_UNSUPPORTED. Structurally broken vocabularies -> TOKENIZER_BAD_VOCAB.
 */
export function createTokenizer(meta: Metadata, options: CreateTokenizerOptions = {}): Tokenizer {
  const model = metaString(meta, 'tokenizer.ggml.model');
  if (model === undefined) {
    throw new BitNetError('MISSING_METADATA', 'tokenizer.ggml.model: missing (the GGUF does not say which tokenizer it uses)', {
      details: { field: 'tokenizer.ggml.model' },
    });
  }
  if (model === 'gpt2') {
    const vocab = readVocab(meta, {
      bos: ['<|begin_of_text|>', '<|endoftext|>'],
      eos: ['<|end_of_text|>', '<|endoftext|>'],
      unk: [],
    });
    const merges = metaStringArray(meta, 'tokenizer.ggml.merges');
    if (merges === undefined) {
      throw new BitNetError('MISSING_METADATA', "tokenizer.ggml.merges: missing (a 'gpt2' tokenizer needs its BPE merges)", {
        details: { field: 'tokenizer.ggml.merges' },
      });
    }
    // Microsoft's BitNet b1.58 2B-4T GGUF has no `tokenizer.ggml.pre` (its converter never writes one): the choice
    // and its reason are in pre-tokenizer.ts; a guess is a warning, so strict mode refuses it unless the caller names the rules.
    const preTokenizer = choosePreTokenizer({
      filePre: metaString(meta, 'tokenizer.ggml.pre'),
      llama3Vocabulary: isLlama3Vocabulary(vocab.tokens, merges),
      requested: options.preTokenizer,
    });
    const encoder = new BpeEncoder(vocab, merges, preTokenizer.rules);
    const warnings = preTokenizer.origin === 'guessed' ? [preTokenizer.reason] : [];
    const fragmentEncoder: FragmentEncoder = { warnings, encode: (text, _after, out) => encoder.encode(text, out) };
    // llama.cpp: BPE adds BOS by default only for the LLaMA-3 pre-tokenizers; the file's key overrides.
    const addBos = metaBool(meta, 'tokenizer.ggml.add_bos_token') ?? (preTokenizer.rules.addBosByDefault && vocab.bosTokenId !== undefined);
    const addEos = metaBool(meta, 'tokenizer.ggml.add_eos_token') ?? false;
    return new GgufTokenizer('bpe', vocab, fragmentEncoder, addBos, addEos, false, preTokenizer);
  }
  if (model === 'llama') {
    let vocab = readVocab(meta, { bos: ['<s>'], eos: ['</s>'], unk: ['<unk>'] });
    if (!meta.has('tokenizer.ggml.token_type')) {
      // Without token types, recognise '<0xXX>' byte tokens by their text (they are BYTE in every converted file).
      const tokenTypes = Int32Array.from(vocab.tokens, (t) => (parseByteToken(t) >= 0 ? TokenType.BYTE : TokenType.NORMAL));
      vocab = { ...vocab, tokenTypes };
    }
    const addSpacePrefix = metaBool(meta, 'tokenizer.ggml.add_space_prefix') ?? true;
    const encoder = new SpmEncoder(vocab, metaNumberArray(meta, 'tokenizer.ggml.scores'), addSpacePrefix);
    const fragmentEncoder: FragmentEncoder = { warnings: encoder.warnings, encode: (text, after, out) => encoder.encode(text, after, out) };
    const addBos = metaBool(meta, 'tokenizer.ggml.add_bos_token') ?? vocab.bosTokenId !== undefined;
    const addEos = metaBool(meta, 'tokenizer.ggml.add_eos_token') ?? false;
    return new GgufTokenizer('spm', vocab, fragmentEncoder, addBos, addEos, addSpacePrefix, undefined);
  }
  throw new BitNetError('TOKENIZER_UNSUPPORTED', `tokenizer.ggml.model '${model}' is not supported (expected 'gpt2' or 'llama')`, {
    details: { field: 'tokenizer.ggml.model', actual: model },
  });
}
