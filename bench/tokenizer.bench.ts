// Tokenizer throughput: BPE training on product-title-like text (the demo's tokenizer) and
// encoding/decoding with the trained vocabulary. Bytes are the UTF-8 text each run reads.
import { Tokenizer } from '../lib/llm/tokenizer.js';
import { trainByteLevelBpe } from '../lib/llm/bpe-train.js';
import type { Benchmark } from './harness.js';

const WORDS = [
  'white', 'hanging', 'heart', 't-light', 'holder', 'cream', 'cupid', 'hearts', 'coat', 'hanger',
  'knitted', 'union', 'flag', 'hot', 'water', 'bottle', 'red', 'woolly', 'hottie', 'set', 'babushka',
  'nesting', 'boxes', 'glass', 'star', 'frosted', 'hand', 'warmer', 'jack', 'polka', 'dot', 'vintage',
  'metal', 'lantern', 'ceramic', 'jar', 'retrospot', 'cake', 'stand', 'lunch', 'bag', 'pink', 'blue',
  'café', 'crème', 'décor', '12', '24', 'pack', 'of', 'small', 'large', 'jumbo', 'paper', 'chain', 'kit',
]; // prettier-ignore

/** Deterministic title-like lines (upper-cased like the Online Retail catalogue). */
function titles(count: number, seed = 1): string[] {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const words: string[] = [];
    for (let k = 3 + (next() % 5); k > 0; k--) words.push(WORDS[next() % WORDS.length]!);
    out.push(words.join(' ').toUpperCase());
  }
  return out;
}

const corpus = titles(3000);
const corpusBytes = corpus.reduce((n, t) => n + Buffer.byteLength(t), 0);
let trained: Tokenizer | undefined;
const demoTokenizer = () => (trained ??= trainByteLevelBpe(corpus, { vocabSize: 2048, minFrequency: 2 }));

export const benchmarks: Benchmark[] = [
  {
    name: 'tokenizer/train-bpe/3000-titles/vocab-2048',
    devices: ['cpu'],
    setup() {
      return {
        run() {
          trainByteLevelBpe(corpus, { vocabSize: 2048, minFrequency: 2 });
        },
        bytes: corpusBytes,
        dispose() {},
      };
    },
  },
  {
    name: 'tokenizer/encode/3000-titles',
    devices: ['cpu'],
    setup() {
      const tok = demoTokenizer();
      return {
        run() {
          // Cold: the word cache would otherwise turn repeated titles into lookups.
          tok.clearCache();
          tok.encodeBatch(corpus);
        },
        bytes: corpusBytes,
        dispose() {},
      };
    },
  },
  {
    name: 'tokenizer/decode/3000-titles',
    devices: ['cpu'],
    setup() {
      const tok = demoTokenizer();
      const ids = tok.encodeBatch(corpus);
      return {
        run() {
          for (const row of ids) tok.decode(row);
        },
        bytes: corpusBytes,
        dispose() {},
      };
    },
  },
];
