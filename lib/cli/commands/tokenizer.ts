// llmrec tokenizer train|encode: train the demo's byte-level BPE tokenizer on the embedded
// dataset's item titles (written as HF tokenizer.json + tokenizer_config.json), or encode text
// with any HF byte-level BPE tokenizer.
import { defineCommand, UsageError } from '../args.js';
import { loadDefaultDataset } from '../../data/index.js';
import { trainByteLevelBpe } from '../../llm/bpe-train.js';
import { Tokenizer } from '../../llm/tokenizer.js';

const actions = ['train', 'encode'] as const;

export const tokenizerCommand = defineCommand({
  name: 'tokenizer',
  summary: 'Train a byte-level BPE tokenizer on the item titles, or encode text with a tokenizer.json.',
  positionals: 'train|encode [text]',
  options: {
    out: { type: 'string', description: 'train: directory to write tokenizer.json and tokenizer_config.json' },
    'vocab-size': { type: 'integer', description: 'train: vocabulary size, special tokens included', default: 2048 },
    'min-frequency': { type: 'integer', description: 'train: fewest occurrences of a merged pair', default: 2 },
    tokenizer: { type: 'string', description: 'encode: a tokenizer directory or tokenizer.json' },
  },
  async run(options, positionals) {
    const [action, ...rest] = positionals;
    if (!actions.includes(action as (typeof actions)[number])) {
      throw new UsageError(`expected an action (${actions.join(' or ')}), got ${action ?? 'none'}`);
    }
    if (action === 'train') {
      if (rest.length > 0) throw new UsageError(`train takes no text; unexpected: ${rest.join(' ')}`);
      if (!options.out) throw new UsageError('train needs --out DIR');
      const { dataset } = await loadDefaultDataset();
      const titles = dataset.titles.filter((title) => title.length > 0);
      const start = performance.now();
      const tokenizer = trainByteLevelBpe(titles, {
        vocabSize: options['vocab-size'],
        minFrequency: options['min-frequency'],
      });
      const seconds = (performance.now() - start) / 1000;
      tokenizer.save(options.out);
      let tokens = 0;
      let bytes = 0;
      for (const title of titles) {
        tokens += tokenizer.encode(title).length;
        bytes += Buffer.byteLength(title);
      }
      console.log(
        `trained on ${titles.length} titles in ${seconds.toFixed(2)} s: vocab ${tokenizer.vocabSize}, ` +
          `${tokenizer.merges().length} merges, ${(tokens / titles.length).toFixed(1)} tokens per title ` +
          `(${(bytes / tokens).toFixed(2)} bytes per token); wrote ${options.out}`,
      );
      return;
    }
    if (!options.tokenizer) throw new UsageError('encode needs --tokenizer DIR');
    const tokenizer = Tokenizer.fromFile(options.tokenizer);
    const ids = tokenizer.encode(rest.join(' '));
    console.log(JSON.stringify({ ids, tokens: ids.map((id) => tokenizer.idToToken(id)) }));
  },
});
