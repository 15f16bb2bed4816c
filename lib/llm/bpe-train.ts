// Byte-level BPE training (the algorithm of HF's BpeTrainer): count pre-tokenized words, start
// from the 256 byte characters, and repeatedly merge the most frequent adjacent pair. The result
// is a Qwen2-style tokenizer.json that Tokenizer (and HF tokenizers) reads.
import { QWEN2_PATTERN, Tokenizer, byteLevelAlphabet } from './tokenizer.js';
import { specialAddedToken } from './tokenizer/added-tokens.js';
import { expectArgs } from '../guard.js';

export interface TrainByteLevelBpeOptions {
  /** Total vocabulary, special tokens included (HF's vocab_size). At least 256 + specials. */
  vocabSize: number;
  /** Added after the BPE vocabulary, in order, as special tokens. Default ['<|endoftext|>']. */
  specialTokens?: readonly string[];
  /** A pair is merged only if it occurs at least this often. Default 2. */
  minFrequency?: number;
  /** Unicode normalization of the text, as Qwen2 (NFC) does. Default 'NFC'; null for none. */
  normalizer?: 'NFC' | 'NFKC' | null;
  /** The pre-tokenizer regex (Oniguruma syntax). Default Qwen2's. */
  pattern?: string;
  /** tokenizer_config.json roles; each must be one of specialTokens. Default: eos and pad are the first special token. */
  eosToken?: string | null;
  padToken?: string | null;
  bosToken?: string | null;
  /** tokenizer_config.json model_max_length. Default 32768. */
  modelMaxLength?: number;
}

const PAIR_STRIDE = 2 ** 21;

/** A max-heap of pairs by count, ties to the smaller (left, right), as HF's trainer orders them. */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  private above(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    return ci !== cj ? ci > cj : this.keys[i]! < this.keys[j]!;
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j]!, this.counts[i]!];
    [this.keys[i], this.keys[j]] = [this.keys[j]!, this.keys[i]!];
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): [count: number, key: number] {
    const top: [number, number] = [this.counts[0]!, this.keys[0]!];
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.keys.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let best = i;
        if (left < this.keys.length && this.above(left, best)) best = left;
        if (right < this.keys.length && this.above(right, best)) best = right;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

/**
 * Trains a byte-level BPE tokenizer on texts. Deterministic: the same texts and options give the
 * same vocabulary and merges, whatever the order of equal-frequency pairs in memory.
 */
export function trainByteLevelBpe(texts: Iterable<string>, options: TrainByteLevelBpeOptions): Tokenizer {
  expectArgs('trainByteLevelBpe', { texts }, 'iterable');
  expectArgs('trainByteLevelBpe', { options }, 'object');
  const specialTokens = [...(options.specialTokens ?? ['<|endoftext|>'])];
  const minFrequency = options.minFrequency ?? 2;
  const normalizer = options.normalizer === undefined ? 'NFC' : options.normalizer;
  const pattern = options.pattern ?? QWEN2_PATTERN;
  const alphabet = byteLevelAlphabet();
  const minimum = alphabet.length + specialTokens.length;
  if (!Number.isInteger(options.vocabSize) || options.vocabSize < minimum) {
    throw new Error(
      `trainByteLevelBpe: vocabSize must be an integer >= ${minimum} (256 bytes + ${specialTokens.length} special tokens), got ${options.vocabSize}`,
    );
  }
  if (!Number.isInteger(minFrequency) || minFrequency < 1) {
    throw new Error(`trainByteLevelBpe: minFrequency must be a positive integer, got ${minFrequency}`);
  }
  specialTokens.forEach((token, i) => {
    if (typeof token !== 'string' || token.length === 0) {
      throw new Error(`trainByteLevelBpe: specialTokens[${i}] must be a non-empty string`);
    }
    if (specialTokens.indexOf(token) !== i) throw new Error(`trainByteLevelBpe: specialTokens has ${token} twice`);
  });

  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [] as unknown[],
    normalizer: normalizer === null ? null : { type: normalizer },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(alphabet.map((ch, id) => [ch, id])) as Record<string, number>,
      merges: [] as string[],
    },
  };

  // The untrained tokenizer pre-tokenizes exactly as the trained one will, so words match encode's.
  const splitter = Tokenizer.fromJson(json);
  const wordCounts = new Map<string, number>();
  for (const text of texts) {
    if (typeof text !== 'string') throw new Error(`trainByteLevelBpe: texts must be strings, got ${typeof text}`);
    for (const word of splitter.preTokenizeForTraining(text)) wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
  }

  const vocab = json.model.vocab;
  const tokens = [...alphabet];
  // Sorted words make the pair bookkeeping independent of the texts' order.
  const sortedWords = [...wordCounts.keys()].sort();
  const words: number[][] = sortedWords.map((w) => [...w].map((ch) => vocab[ch]!));
  const counts: number[] = sortedWords.map((w) => wordCounts.get(w)!);

  const pairCounts = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: number, delta: Map<number, number> | null) => {
    const symbols = words[w]!;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = symbols[i]! * PAIR_STRIDE + symbols[i + 1]!;
      const change = sign * counts[w]!;
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + change);
      if (delta) delta.set(key, (delta.get(key) ?? 0) + change);
      if (sign > 0) {
        let set = where.get(key);
        if (!set) where.set(key, (set = new Set()));
        set.add(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1, null);
  const heap = new PairHeap();
  for (const [key, count] of pairCounts) heap.push(count, key);

  const mergeBudget = options.vocabSize - specialTokens.length - tokens.length;
  const merges: string[] = [];
  while (merges.length < mergeBudget && heap.size > 0) {
    const [count, key] = heap.pop();
    const actual = pairCounts.get(key) ?? 0;
    if (actual !== count) {
      // Counts of existing pairs only fall, so a stale entry is re-queued with its true count.
      if (actual > 0) heap.push(actual, key);
      continue;
    }
    if (count < minFrequency) break;
    const left = Math.floor(key / PAIR_STRIDE);
    const right = key % PAIR_STRIDE;
    const merged = tokens[left]! + tokens[right]!;
    const newId = tokens.length;
    tokens.push(merged);
    vocab[merged] = newId;
    merges.push(`${tokens[left]!} ${tokens[right]!}`);
    const delta = new Map<number, number>();
    for (const w of where.get(key) ?? []) {
      const symbols = words[w]!;
      let found = false;
      for (let i = 0; i + 1 < symbols.length; i++) {
        if (symbols[i] === left && symbols[i + 1] === right) {
          found = true;
          break;
        }
      }
      if (!found) continue;
      addPairs(w, -1, delta);
      const next: number[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
          next.push(newId);
          i++;
        } else next.push(symbols[i]!);
      }
      words[w] = next;
      addPairs(w, 1, delta);
    }
    where.delete(key);
    pairCounts.delete(key);
    for (const [pair, change] of delta) {
      const now = pairCounts.get(pair) ?? 0;
      if (now <= 0) pairCounts.delete(pair);
      if (change > 0 && pair !== key) heap.push(now, pair);
    }
  }

  json.model.merges = merges;
  json.added_tokens = specialTokens.map((content, i) => specialAddedToken(tokens.length + i, content));
  const role = (value: string | null | undefined, fallback: string | null, name: string) => {
    const token = value === undefined ? fallback : value;
    if (token !== null && !specialTokens.includes(token)) {
      throw new Error(`trainByteLevelBpe: ${name} ${JSON.stringify(token)} is not one of specialTokens`);
    }
    return token;
  };
  const first = specialTokens[0] ?? null;
  const config = {
    add_prefix_space: false,
    bos_token: role(options.bosToken, null, 'bosToken'),
    eos_token: role(options.eosToken, first, 'eosToken'),
    pad_token: role(options.padToken, first, 'padToken'),
    unk_token: null,
    clean_up_tokenization_spaces: false,
    errors: 'replace',
    model_max_length: options.modelMaxLength ?? 32768,
    split_special_tokens: false,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  return Tokenizer.fromJson(json, config);
}
