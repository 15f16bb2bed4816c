// Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) for the byte-level BPE family
// that Qwen2, Llama-3 and GPT-2 use: reading, encoding, decoding, adding special tokens, saving.
// The pipeline follows the Rust crate step by step (added tokens → normalizer → pre-tokenizer →
// BPE → post-processor), so ids agree with `tokenizers` in Python on the same files; each step
// is a file of this folder, and this one joins them with tokenizer_config.json's special tokens.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { expectArgs } from '../../guard.js';

import { AddedTokenMatcher, parseAddedToken, specialAddedToken } from './added-tokens.js';
import { type BpeModel, bpeWord, parseBpe } from './bpe.js';
import { buildDecoder, type Decoder } from './decoder.js';
import {
  type AddedToken,
  type DecodeOptions,
  describe,
  type EncodeOptions,
  formatError,
  isObject,
  type Json,
  type JsonObject,
  objectAt,
  ROLES,
  type SpecialTokenRole,
  stringAt,
  TokenizerFormatError,
} from './format.js';
import { buildNormalizer, type Normalizer } from './normalizer.js';
import { buildPostProcessor, type PostProcessor } from './post-processor.js';
import { buildPreTokenizer, type PreTokenizer } from './pre-tokenizer.js';

function roleToken(value: Json | undefined, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  // transformers also writes the AddedToken form {"__type": "AddedToken", "content": ...}.
  return stringAt(objectAt(value, field).content, `${field}.content`);
}

const WORD_CACHE_LIMIT = 100_000;

/** A Hugging Face byte-level BPE tokenizer (the tokenizer.json format of Qwen2 / Llama-3 / GPT-2). */
export class Tokenizer {
  private readonly model: BpeModel;
  private readonly normalize: Normalizer | null;
  private readonly preTokenize: PreTokenizer | null;
  private readonly postProcess: PostProcessor | null;
  private readonly decodeTokens: Decoder;
  private readonly addedTokens: AddedToken[];
  private rawMatcher!: AddedTokenMatcher;
  private normalizedMatcher!: AddedTokenMatcher;
  private idToTokenTable: (string | undefined)[] = [];
  private addedById = new Map<number, AddedToken>();
  private addedByContent = new Map<string, AddedToken>();
  private readonly roles = new Map<SpecialTokenRole, string>();
  private readonly wordCache = new Map<string, number[]>();

  private constructor(
    private readonly json: JsonObject,
    private readonly config: JsonObject,
  ) {
    expectArgs('new Tokenizer', { json, config }, 'object');
    this.model = parseBpe(json.model);
    this.normalize = buildNormalizer(json.normalizer, 'normalizer');
    this.preTokenize = buildPreTokenizer(json.pre_tokenizer, 'pre_tokenizer');
    this.postProcess = buildPostProcessor(json.post_processor, 'post_processor');
    this.decodeTokens = buildDecoder(json.decoder, 'decoder');
    const added = json.added_tokens ?? [];
    if (!Array.isArray(added)) formatError('added_tokens', `expected an array, got ${describe(added)}`);
    this.addedTokens = added.map((t, i) => parseAddedToken(t, `added_tokens[${i}]`));
    this.reindex();
    for (const role of ROLES) {
      const content = roleToken(config[`${role}_token`], `tokenizer_config.${role}_token`);
      if (content === null) continue;
      if (this.tokenToId(content) === undefined) {
        formatError(
          `tokenizer_config.${role}_token`,
          `${JSON.stringify(content)} is neither in the vocab nor an added token`,
        );
      }
      this.roles.set(role, content);
    }
  }

  /** Parses tokenizer.json (and optionally tokenizer_config.json) already read into objects. */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: unknown = {}): Tokenizer {
    expectArgs('Tokenizer.fromJson', { tokenizerJson }, 'object');
    try {
      return new Tokenizer(
        objectAt(tokenizerJson as Json, 'tokenizer.json'),
        objectAt((tokenizerConfig ?? {}) as Json, 'tokenizer_config.json'),
      );
    } catch (error) {
      if (error instanceof TokenizerFormatError) throw new Error(`Tokenizer: ${error.message}`, { cause: error });
      throw error;
    }
  }

  /**
   * Reads a tokenizer from a directory holding tokenizer.json (and tokenizer_config.json when
   * present), or from the path of a tokenizer.json itself.
   */
  static fromFile(location: string): Tokenizer {
    if (!existsSync(location)) throw new Error(`Tokenizer.fromFile: ${location} does not exist`);
    const isDir = statSync(location).isDirectory();
    const dir = isDir ? location : path.dirname(location);
    const file = isDir ? path.join(location, 'tokenizer.json') : location;
    if (!existsSync(file)) throw new Error(`Tokenizer.fromFile: ${dir} has no tokenizer.json`);
    const read = (p: string) => {
      try {
        return JSON.parse(readFileSync(p, 'utf8')) as unknown;
      } catch (error) {
        throw new Error(`Tokenizer.fromFile: ${p} is not valid JSON: ${(error as Error).message}`, { cause: error });
      }
    };
    const configFile = path.join(dir, 'tokenizer_config.json');
    const config = existsSync(configFile) ? read(configFile) : {};
    try {
      return new Tokenizer(
        objectAt(read(file) as Json, 'tokenizer.json'),
        objectAt(config as Json, 'tokenizer_config.json'),
      );
    } catch (error) {
      if (error instanceof TokenizerFormatError)
        throw new Error(`Tokenizer.fromFile: ${file}: ${error.message}`, { cause: error });
      throw error;
    }
  }

  private reindex(): void {
    this.idToTokenTable = [];
    for (const [token, id] of this.model.vocab) this.idToTokenTable[id] = token;
    this.addedById = new Map(this.addedTokens.map((t) => [t.id, t]));
    this.addedByContent = new Map(this.addedTokens.map((t) => [t.content, t]));
    for (const token of this.addedTokens) this.idToTokenTable[token.id] = token.content;
    this.rawMatcher = new AddedTokenMatcher(this.addedTokens.filter((t) => !t.normalized || this.normalize === null));
    this.normalizedMatcher = new AddedTokenMatcher(
      this.addedTokens.filter((t) => t.normalized && this.normalize !== null),
    );
  }

  /** The embedding rows a model needs: one past the largest id (HF's len(tokenizer)). */
  get vocabSize(): number {
    return this.idToTokenTable.length;
  }

  /** The tokens of the BPE vocabulary and the added tokens, as [token, id]. */
  vocab(): Map<string, number> {
    const out = new Map(this.model.vocab);
    for (const token of this.addedTokens) out.set(token.content, token.id);
    return out;
  }

  /** The BPE merges in rank order. */
  merges(): [string, string][] {
    return this.model.merges.map(([a, b]) => [a, b]);
  }

  /** The added tokens (special and normal), as tokenizer.json lists them. */
  get added(): AddedToken[] {
    return this.addedTokens.map((t) => ({ ...t }));
  }

  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.model.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.idToTokenTable[id];
  }

  /** The token playing a role in tokenizer_config.json (bos_token, eos_token, ...), if any. */
  specialToken(role: SpecialTokenRole): string | null {
    return this.roles.get(role) ?? null;
  }

  specialTokenId(role: SpecialTokenRole): number | null {
    const token = this.roles.get(role);
    return token === undefined ? null : this.tokenToId(token)!;
  }

  get bosTokenId(): number | null {
    return this.specialTokenId('bos');
  }
  get eosTokenId(): number | null {
    return this.specialTokenId('eos');
  }
  get padTokenId(): number | null {
    return this.specialTokenId('pad');
  }

  /**
   * Adds special tokens (like HF add_special_tokens): ones already known keep their id (and become
   * special), new ones get ids after the current largest. Returns the id of each token given.
   * The caller resizes its embedding table to `vocabSize`.
   */
  addSpecialTokens(tokens: readonly string[]): number[] {
    const ids = tokens.map((content, i) => {
      if (typeof content !== 'string' || content.length === 0) {
        throw new Error(
          `Tokenizer.addSpecialTokens: tokens[${i}] must be a non-empty string, got ${describe(content)}`,
        );
      }
      const existing = this.addedByContent.get(content);
      if (existing) {
        existing.special = true;
        return existing.id;
      }
      const id = this.model.vocab.get(content) ?? this.vocabSize;
      this.addedTokens.push(specialAddedToken(id, content));
      this.reindex();
      return id;
    });
    this.reindex();
    this.wordCache.clear();
    return ids;
  }

  /** Makes `token` the tokenizer's bos/eos/pad/unk token, adding it as a special token if needed. */
  setSpecialToken(role: SpecialTokenRole, token: string): number {
    if (!ROLES.includes(role))
      throw new Error(`Tokenizer.setSpecialToken: role must be one of ${ROLES.join(', ')}, got ${describe(role)}`);
    const [id] = this.addSpecialTokens([token]);
    this.roles.set(role, token);
    return id!;
  }

  /** Token ids of text. With addSpecialTokens (default true) the post-processor's template applies. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new Error(`Tokenizer.encode: text must be a string, got ${describe(text)}`);
    const ids: number[] = [];
    for (const piece of this.rawMatcher.split(text)) {
      if (typeof piece === 'number') {
        ids.push(piece);
        continue;
      }
      const normalized = this.normalize ? this.normalize(piece) : piece;
      for (const part of this.normalizedMatcher.split(normalized)) {
        if (typeof part === 'number') ids.push(part);
        else this.encodePlain(part, ids);
      }
    }
    return options.addSpecialTokens !== false && this.postProcess ? this.postProcess(ids) : ids;
  }

  /** Encodes many texts; the same as mapping encode. */
  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): number[][] {
    return texts.map((text) => this.encode(text, options));
  }

  /** The tokens (strings) text encodes to. */
  tokenize(text: string, options: EncodeOptions = {}): string[] {
    return this.encode(text, options).map((id) => this.idToTokenTable[id]!);
  }

  /** Forgets the memoised BPE of words seen so far (it holds at most 100k words). */
  clearCache(): void {
    this.wordCache.clear();
  }

  /** The byte-level words BPE sees for text (normalized and pre-tokenized; no added tokens). */
  preTokenizeForTraining(text: string): string[] {
    const normalized = this.normalize ? this.normalize(text) : text;
    return (this.preTokenize ? this.preTokenize(normalized) : [normalized]).filter((w) => w.length > 0);
  }

  private encodePlain(text: string, out: number[]): void {
    const words = this.preTokenize ? this.preTokenize(text) : [text];
    for (const word of words) {
      if (word.length === 0) continue;
      let ids = this.wordCache.get(word);
      if (ids === undefined) {
        ids = bpeWord(this.model, word);
        if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
        this.wordCache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** Text of token ids; exact inverse of encode for text the normalizer leaves unchanged. */
  decode(ids: readonly number[] | Int32Array, options: DecodeOptions = {}): string {
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const token = this.idToTokenTable[id];
      if (token === undefined) {
        throw new Error(`Tokenizer.decode: ids[${i}] = ${id} is not a token id (vocabSize ${this.vocabSize})`);
      }
      if (options.skipSpecialTokens && this.addedById.get(id)?.special) continue;
      tokens.push(token);
    }
    return this.decodeTokens(tokens);
  }

  /** tokenizer.json as an object, in the HF format. */
  toJson(): JsonObject {
    const vocab: JsonObject = {};
    const entries = [...this.model.vocab].sort((a, b) => a[1] - b[1]);
    for (const [token, id] of entries) vocab[token] = id;
    const pairsNeeded = this.model.merges.some(([a, b]) => a.includes(' ') || b.includes(' '));
    const model: JsonObject = isObject(this.json.model) ? { ...this.json.model } : {};
    Object.assign(model, {
      type: 'BPE',
      dropout: model.dropout ?? null,
      unk_token: this.model.unkToken,
      continuing_subword_prefix: model.continuing_subword_prefix ?? null,
      end_of_word_suffix: model.end_of_word_suffix ?? null,
      fuse_unk: this.model.fuseUnk,
      byte_fallback: false,
      ignore_merges: this.model.ignoreMerges,
      vocab,
      // "a b" strings are what every tokenizers version reads; pairs only when a token has a space.
      merges: this.model.merges.map(([a, b]) => (pairsNeeded ? [a, b] : `${a} ${b}`)),
    });
    return {
      version: this.json.version ?? '1.0',
      truncation: this.json.truncation ?? null,
      padding: this.json.padding ?? null,
      added_tokens: [...this.addedTokens].sort((a, b) => a.id - b.id).map((t) => ({ ...t })),
      normalizer: this.json.normalizer ?? null,
      pre_tokenizer: this.json.pre_tokenizer ?? null,
      post_processor: this.json.post_processor ?? null,
      decoder: this.json.decoder ?? null,
      model,
    };
  }

  /** tokenizer_config.json as an object, in the format transformers writes. */
  toConfigJson(): JsonObject {
    const decoderTable: JsonObject = {};
    for (const t of [...this.addedTokens].sort((a, b) => a.id - b.id)) {
      decoderTable[String(t.id)] = {
        content: t.content,
        lstrip: t.lstrip,
        normalized: t.normalized,
        rstrip: t.rstrip,
        single_word: t.single_word,
        special: t.special,
      };
    }
    const roleTokens = new Set(this.roles.values());
    const out: JsonObject = { ...this.config };
    out.added_tokens_decoder = decoderTable;
    out.additional_special_tokens = this.addedTokens
      .filter((t) => t.special && !roleTokens.has(t.content))
      .map((t) => t.content);
    for (const role of ROLES) out[`${role}_token`] = this.roles.get(role) ?? null;
    out.clean_up_tokenization_spaces ??= false;
    out.model_max_length ??= 32768;
    out.tokenizer_class ??= 'PreTrainedTokenizerFast';
    return out;
  }

  /** Writes tokenizer.json and tokenizer_config.json into dir, readable by HF tokenizers/transformers. */
  save(dir: string): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(this.toJson(), null, 2) + '\n');
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(this.toConfigJson(), null, 2) + '\n');
  }
}
