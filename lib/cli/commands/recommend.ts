// llmrec recommend: the top items for a history, from a saved model.
import { Recommender } from '../../serve/recommender.js';
import { defineCommand, UsageError } from '../args.js';
import { formatTable, resolveDevice } from './common.js';

export const recommendCommand = defineCommand({
  name: 'recommend',
  summary: 'Recommend items for a purchase history with a trained model.',
  positionals: '<item id> [item id ...]',
  options: {
    model: { type: 'string', description: 'model directory written by llmrec train', default: 'runs/sasrec' },
    k: { type: 'integer', short: 'k', description: 'how many items', default: 10 },
    device: { type: 'string', description: 'cpu, cuda or cuda:N', default: 'cpu' },
    'keep-history': { type: 'boolean', description: 'allow items already in the history', default: false },
    strict: {
      type: 'boolean',
      description: 'fail on item ids the model does not know (default: ignore them)',
      default: false,
    },
    json: { type: 'boolean', description: 'print JSON instead of a table', default: false },
  },
  async run(options, positionals) {
    const history = positionals.flatMap((p) => p.split(',')).filter((s) => s.length > 0);
    if (history.length === 0) console.error('no history given: showing the most popular items');
    const rec = await Recommender.load(options.model, { device: resolveDevice(options.device) });
    try {
      if (options.k < 1) throw new UsageError('-k must be at least 1');
      const items = await rec.recommend(history, {
        k: options.k,
        excludeHistory: !options['keep-history'],
        unknownItems: options.strict ? 'error' : 'ignore',
      });
      if (options.json) console.log(JSON.stringify(items, null, 2));
      else
        console.log(
          formatTable(
            ['rank', 'item', 'title', 'score'],
            items.map((r, i) => [String(i + 1), r.item, r.title, r.score]),
          ),
        );
    } finally {
      await rec.close();
    }
  },
});
