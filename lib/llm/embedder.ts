// Item-text embeddings from any causal LM: one vector per text, pooled from the last hidden
// state over its real tokens (mean, last token, or an appended EOS), with causal or
// bidirectional attention. Texts are deduplicated, sorted by length and batched under a padded
// token budget, so memory stays bounded on large catalogues; an optional on-disk cache keyed by
// the model's weights, the tokenizer, the settings and each text skips work already done.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { noGrad } from '../autograd.js';
import { writeFileAtomicSync } from '../io/atomic.js';
import { tidy } from '../scope.js';
import { configToJson } from './config.js';
import { loadLanguageModel } from './default-model.js';
import type { LoadOptions } from './loader.js';
import { CausalLM, poolHidden } from './model.js';
import { Tokenizer } from './tokenizer.js';

export type TextPooling = 'mean' | 'last' | 'eos';

export interface TextEmbedderOptions {
  /** 'mean' over real tokens (default), the 'last' real token, or an EOS token appended to every text. */
  pooling?: TextPooling;
  /** 'causal' (default) or 'bidirectional' (LLM2Rec's encoder after MNTP). */
  attention?: 'causal' | 'bidirectional';
  /** Tokens kept per text (longer texts are cut; default 128). */
  maxTokens?: number;
  /** Padded tokens per forward pass, rows × longest (default 4096): the memory bound. */
  batchTokens?: number;
  /** Rows per forward pass at most (default 64). */
  maxBatchSize?: number;
  /** Divide each vector by its L2 norm (default false). */
  normalize?: boolean;
  /** A folder for the on-disk cache (default: no cache). */
  cacheDir?: string;
  /** Called after each batch with texts done and texts to compute. */
  onProgress?: (done: number, total: number) => void;
}

/** What the last embed() call did. */
export interface EmbedStats {
  texts: number;
  /** Distinct texts. */
  unique: number;
  /** Distinct texts found in the cache. */
  hits: number;
  /** Distinct texts computed. */
  misses: number;
  /** The cache file existed but could not be read (torn, wrong format); it was rewritten. */
  cacheRebuilt: boolean;
  /** The cache file written, if any. */
  cacheFile?: string;
  seconds: number;
}

const CACHE_MAGIC = Buffer.from('LLMRECE1');
const KEY_BYTES = 16;
const CHECKSUM_BYTES = 32;

/** Vectors by text key (hex of the first 16 bytes of sha256(text)). */
type CacheEntries = Map<string, Float32Array>;

function textKey(text: string): string {
  return createHash('sha256')
    .update(text, 'utf8')
    .digest('hex')
    .slice(0, KEY_BYTES * 2);
}

/**
 * Reads a cache file: magic, dim (u32), count (u32), count keys, count × dim f32, then a sha256
 * of everything before it. Returns null when the file is unreadable as such.
 */
function readCache(file: string, dim: number): CacheEntries | null {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    return null;
  }
  const header = CACHE_MAGIC.length + 8;
  if (bytes.length < header + CHECKSUM_BYTES || !bytes.subarray(0, CACHE_MAGIC.length).equals(CACHE_MAGIC)) return null;
  const fileDim = bytes.readUInt32LE(CACHE_MAGIC.length);
  const count = bytes.readUInt32LE(CACHE_MAGIC.length + 4);
  if (fileDim !== dim || bytes.length !== header + count * (KEY_BYTES + dim * 4) + CHECKSUM_BYTES) return null;
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  if (
    !createHash('sha256')
      .update(body)
      .digest()
      .equals(bytes.subarray(bytes.length - CHECKSUM_BYTES))
  )
    return null;
  const vectorsAt = header + count * KEY_BYTES;
  const vectors = new Float32Array(bytes.buffer.slice(bytes.byteOffset + vectorsAt, bytes.byteOffset + body.length));
  const entries: CacheEntries = new Map();
  for (let i = 0; i < count; i++) {
    const key = bytes.toString('hex', header + i * KEY_BYTES, header + (i + 1) * KEY_BYTES);
    entries.set(key, vectors.subarray(i * dim, (i + 1) * dim));
  }
  return entries;
}

function writeCache(file: string, dim: number, entries: CacheEntries): void {
  const head = Buffer.alloc(CACHE_MAGIC.length + 8);
  CACHE_MAGIC.copy(head);
  head.writeUInt32LE(dim, CACHE_MAGIC.length);
  head.writeUInt32LE(entries.size, CACHE_MAGIC.length + 4);
  const keys = Buffer.alloc(entries.size * KEY_BYTES);
  const vectors = new Float32Array(entries.size * dim);
  let i = 0;
  for (const [key, vector] of entries) {
    keys.write(key, i * KEY_BYTES, 'hex');
    vectors.set(vector, i * dim);
    i++;
  }
  const vectorBytes = Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength);
  const checksum = createHash('sha256').update(head).update(keys).update(vectorBytes).digest();
  writeFileAtomicSync(file, [head, keys, vectorBytes, checksum]);
}

function positiveInteger(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`TextEmbedder: '${what}' must be a positive integer, got ${v}`);
  return v;
}

export class TextEmbedder {
  readonly pooling: TextPooling;
  readonly attention: 'causal' | 'bidirectional';
  readonly maxTokens: number;
  readonly batchTokens: number;
  readonly maxBatchSize: number;
  readonly normalize: boolean;
  readonly cacheDir: string | undefined;
  /** What the last embed() call did. */
  lastStats: EmbedStats | null = null;
  readonly #eosId: number | null;
  readonly #ownsModel: boolean;
  readonly #onProgress: TextEmbedderOptions['onProgress'];

  constructor(
    readonly model: CausalLM,
    readonly tokenizer: Tokenizer,
    options: TextEmbedderOptions = {},
    /** Internal: load() hands over a model that dispose() then frees. */
    ownsModel = false,
  ) {
    if (!(model instanceof CausalLM)) throw new Error("TextEmbedder: 'model' must be a CausalLM");
    if (!(tokenizer instanceof Tokenizer)) throw new Error("TextEmbedder: 'tokenizer' must be a Tokenizer");
    if (typeof options !== 'object' || options === null) throw new Error("TextEmbedder: 'options' must be an object");
    const pooling = options.pooling ?? 'mean';
    if (!['mean', 'last', 'eos'].includes(pooling))
      throw new Error(`TextEmbedder: 'pooling' must be mean, last or eos, got ${JSON.stringify(pooling)}`);
    const attention = options.attention ?? 'causal';
    if (attention !== 'causal' && attention !== 'bidirectional')
      throw new Error(`TextEmbedder: 'attention' must be causal or bidirectional, got ${JSON.stringify(attention)}`);
    this.pooling = pooling;
    this.attention = attention;
    this.maxTokens = positiveInteger(options.maxTokens, 128, 'maxTokens');
    this.batchTokens = positiveInteger(options.batchTokens, 4096, 'batchTokens');
    this.maxBatchSize = positiveInteger(options.maxBatchSize, 64, 'maxBatchSize');
    if (this.batchTokens < this.maxTokens)
      throw new Error(
        `TextEmbedder: 'batchTokens' (${this.batchTokens}) must be at least 'maxTokens' (${this.maxTokens})`,
      );
    this.normalize = options.normalize ?? false;
    this.cacheDir = options.cacheDir;
    this.#onProgress = options.onProgress;
    this.#ownsModel = ownsModel;
    this.#eosId = tokenizer.eosTokenId ?? model.config.eosTokenIds[0] ?? null;
    if (pooling === 'eos' && this.#eosId === null)
      throw new Error(
        'TextEmbedder: eos pooling needs an EOS token, but neither the tokenizer nor config.json names one',
      );
    if (pooling === 'eos' && this.maxTokens < 2)
      throw new Error("TextEmbedder: eos pooling needs 'maxTokens' of at least 2");
  }

  /** Loads a HF folder (the shipped default model when `dir` is not given); dispose() frees the model. */
  static load(dir?: string, options: TextEmbedderOptions & LoadOptions = {}): TextEmbedder {
    if (typeof options !== 'object' || options === null)
      throw new Error("TextEmbedder.load: 'options' must be an object");
    const { model, tokenizer } = loadLanguageModel(dir, { device: options.device, dtype: options.dtype });
    return new TextEmbedder(model, tokenizer, options, true);
  }

  /** The length of every vector: the model's hidden size. */
  get dimension(): number {
    return this.model.config.hiddenSize;
  }

  /** The token ids a text is embedded from (special tokens as the tokenizer adds them, cut, EOS appended for eos pooling). */
  tokens(text: string): number[] {
    if (typeof text !== 'string') throw new Error(`TextEmbedder.tokens: 'text' must be a string, got ${typeof text}`);
    const ids = this.tokenizer.encode(text);
    if (this.pooling !== 'eos') return ids.slice(0, this.maxTokens);
    const body = ids.at(-1) === this.#eosId ? ids.slice(0, -1) : ids;
    return [...body.slice(0, this.maxTokens - 1), this.#eosId!];
  }

  /**
   * sha256 over everything a vector depends on: the weights (names, dtypes, shapes, bytes), the
   * config, the tokenizer and the settings. Computed from the weights as they are now, so a
   * model fine-tuned in place gets a new key.
   */
  cacheKey(): string {
    const hash = createHash('sha256');
    hash.update(JSON.stringify(configToJson(this.model.config)));
    noGrad(() => {
      for (const [name, p] of this.model.namedParameters()) {
        hash.update(`\0${name}\0${p.dtype}\0${p.shape.join(',')}\0`);
        const data = p.rawDataSync();
        hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      }
    });
    hash.update(JSON.stringify(this.tokenizer.toJson()));
    const settings = {
      pooling: this.pooling,
      attention: this.attention,
      maxTokens: this.maxTokens,
      normalize: this.normalize,
    };
    hash.update(JSON.stringify(settings));
    return hash.digest('hex');
  }

  /** One row of `dimension` floats per text, in order: [texts.length × dimension], row-major. */
  embed(texts: readonly string[]): Float32Array {
    const start = performance.now();
    if (!Array.isArray(texts)) throw new Error('TextEmbedder.embed: expects an array of strings');
    texts.forEach((text, i) => {
      if (typeof text !== 'string')
        throw new Error(`TextEmbedder.embed: text ${i} is ${text === null ? 'null' : typeof text}, not a string`);
    });
    const dim = this.dimension;
    const keys = texts.map(textKey);
    const unique = new Map<string, string>();
    keys.forEach((key, i) => unique.set(key, texts[i]!));
    const cacheFile = this.cacheDir ? path.join(this.cacheDir, `${this.cacheKey()}.emb`) : undefined;
    let cached: CacheEntries = new Map();
    let cacheRebuilt = false;
    if (cacheFile && fs.existsSync(cacheFile)) {
      const read = readCache(cacheFile, dim);
      if (read) cached = read;
      else cacheRebuilt = true;
    }
    const missing = [...unique].filter(([key]) => !cached.has(key));
    const computed = this.#compute(missing.map(([, text]) => text));
    missing.forEach(([key], i) => cached.set(key, computed.subarray(i * dim, (i + 1) * dim)));
    if (cacheFile && (missing.length > 0 || cacheRebuilt)) writeCache(cacheFile, dim, cached);
    const out = new Float32Array(texts.length * dim);
    keys.forEach((key, i) => out.set(cached.get(key)!, i * dim));
    this.lastStats = {
      texts: texts.length,
      unique: unique.size,
      hits: unique.size - missing.length,
      misses: missing.length,
      cacheRebuilt,
      ...(cacheFile ? { cacheFile } : {}),
      seconds: (performance.now() - start) / 1000,
    };
    return out;
  }

  /** Vectors of distinct texts, computed in length-sorted batches under the token budget. */
  #compute(texts: readonly string[]): Float32Array {
    const dim = this.dimension;
    const out = new Float32Array(texts.length * dim);
    if (texts.length === 0) return out;
    const tokens = texts.map((text, i) => {
      const ids = this.tokens(text);
      if (ids.length === 0) throw new Error(`TextEmbedder.embed: text ${i} (${JSON.stringify(text)}) has no tokens`);
      return ids;
    });
    const order = tokens.map((_, i) => i).sort((a, b) => tokens[b]!.length - tokens[a]!.length);
    const wasTraining = this.model.training;
    this.model.eval();
    try {
      let done = 0;
      while (done < order.length) {
        const longest = tokens[order[done]!]!.length;
        const rows = Math.min(this.maxBatchSize, Math.floor(this.batchTokens / longest), order.length - done);
        const batch = order.slice(done, done + rows);
        const pooled = this.#forward(
          batch.map((i) => tokens[i]!),
          longest,
        );
        batch.forEach((i, r) => out.set(pooled.subarray(r * dim, (r + 1) * dim), i * dim));
        done += rows;
        this.#onProgress?.(done, order.length);
      }
    } finally {
      this.model.train(wasTraining);
    }
    return out;
  }

  /** Pooled vectors [rows × dim] of one right-padded batch. */
  #forward(rows: readonly number[][], longest: number): Float32Array {
    const dim = this.dimension;
    const ids = new Int32Array(rows.length * longest);
    const lengths = Int32Array.from(rows, (row) => row.length);
    rows.forEach((row, r) => ids.set(row, r * longest));
    const pooled = noGrad(() =>
      tidy(() => {
        const { lastHiddenState } = this.model.forward({
          inputIds: ids,
          shape: [rows.length, longest],
          lengths,
          attention: this.attention,
          logits: 'none',
        });
        const mode = this.pooling === 'mean' ? 'mean' : 'last';
        const vectors = poolHidden(lastHiddenState, { mode, lengths });
        return (vectors.dtype === 'f32' ? vectors : vectors.cast('f32')).dataSync() as Float32Array;
      }),
    );
    if (this.normalize)
      for (let r = 0; r < rows.length; r++) {
        const v = pooled.subarray(r * dim, (r + 1) * dim);
        let norm = 0;
        for (const x of v) norm += x * x;
        const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
        for (let k = 0; k < dim; k++) v[k] = v[k]! * scale;
      }
    return pooled;
  }

  /** Frees the model when load() created it. */
  dispose(): void {
    if (this.#ownsModel) this.model.dispose();
  }
}
