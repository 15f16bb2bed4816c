// llmrec eval: test metrics of a saved model on its dataset.
import { sampledNegatives } from '../../data/sampler.js';
import { evaluateFullRanking, evaluateSampled, flatten } from '../../pipelines/seqrec/index.js';
import { Recommender } from '../../serve/recommender.js';
import { defineCommand, UsageError } from '../args.js';
import { dataConfigFromFlags, dataOptions, loadCliDataset } from '../data-options.js';
import { formatTable, resolveDevice } from './common.js';

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'Evaluate a trained model (1+99 sampled and full ranking) on its dataset.',
  options: {
    model: { type: 'string', description: 'model directory written by llmrec train', default: 'runs/sasrec' },
    ...dataOptions,
    stage: { type: 'string', description: 'which held-out item to rank', choices: ['valid', 'test'], default: 'test' },
    seed: { type: 'integer', description: 'seed of the 1+99 candidate sets (training uses 0 too)', default: 0 },
    device: { type: 'string', description: 'cpu, cuda or cuda:N', default: 'cpu' },
    'exclude-history': { type: 'boolean', description: 'leave the history out of the full ranking', default: false },
  },
  async run(options, _positionals, given) {
    const data = dataConfigFromFlags(options, given);
    const rec = await Recommender.load(options.model, { device: resolveDevice(options.device) });
    try {
      const { dataset } = await loadCliDataset(data);
      const keys = rec.config.dataset!.itemKeys;
      if (dataset.numItems !== rec.numItems || dataset.itemKeys.some((k, i) => k !== keys[i]))
        throw new UsageError(
          `the model in ${options.model} was trained on ${rec.config.dataset!.name}, whose items differ from ${dataset.name}; pass the same --data and dataset options (--format, --kcore, --min-rating) as for training`,
        );
      const split = dataset.split();
      const stage = options.stage as 'valid' | 'test';
      const negatives = sampledNegatives(split);
      if (negatives < 99)
        console.error(`${dataset.name}: too few items for 1+99 sampled candidates; ranking 1+${negatives} instead`);
      const sampled = flatten(evaluateSampled(rec.model, split, stage, { seed: options.seed, negatives }));
      const full = flatten(
        evaluateFullRanking(rec.model, split, stage, { excludeHistory: options['exclude-history'] }),
      );
      const ks = [1, 5, 10, 20];
      console.log(
        formatTable(
          ['protocol', ...ks.flatMap((k) => [`hr@${k}`, `ndcg@${k}`]), 'mrr'],
          [
            [
              `1+${negatives} sampled`,
              ...ks.flatMap((k) => [sampled[`hr@${k}`]!, sampled[`ndcg@${k}`]!]),
              sampled.mrr!,
            ],
            ['full ranking', ...ks.flatMap((k) => [full[`hr@${k}`]!, full[`ndcg@${k}`]!]), full.mrr!],
          ],
        ),
      );
    } finally {
      await rec.close();
    }
  },
});
