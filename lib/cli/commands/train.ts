// llmrec train sasrec|gru4rec: train on a dataset (default: the embedded Online Retail set),
// select by validation, report test metrics (1+99 sampled and full ranking) and save the model.
import fs from 'node:fs';
import path from 'node:path';

import { manualSeed } from '../../tensor.js';
import { aggregateSeeds, formatMeanStd, writeJsonFile, writeTrainingCurves } from '../../eval/report.js';
import {
  evaluateFullRanking,
  evaluatePopularity,
  evaluateSampled,
  fitSequenceModel,
  flatten,
  GRU4Rec,
  gru4recConfig,
  gru4recPresets,
  SASRec,
  sasrecConfig,
  sasrecPresets,
  saveTrainedModel,
  type SequenceRecommender,
} from '../../models/index.js';
import type { SequenceSplit } from '../../data/index.js';
import { defaultSink, silentSink } from '../../train/progress.js';
import type { EpochRecord } from '../../train/trainer.js';
import { defineCommand, UsageError } from '../args.js';
import { dataOptions, loadDataFromOptions } from '../data-options.js';
import { formatTable, resolveDevice } from './common.js';

const reported = ['hr@10', 'ndcg@10', 'hr@20', 'ndcg@20'] as const;

export interface TrainRunOptions {
  model: 'sasrec' | 'gru4rec';
  preset?: string;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  device: string;
  evalEvery: number;
  patience?: number;
  checkpointDir?: string;
  resume?: boolean;
  quiet?: boolean;
}

export interface TrainRunResult {
  model: SequenceRecommender;
  seconds: number;
  epochs: number;
  /** Training sequences per second of training time (evaluation excluded is not separated). */
  sequencesPerSecond: number;
  history: EpochRecord[];
  sampled: Record<string, number>;
  full: Record<string, number>;
}

/** A preset name the command line can build (LLM2Rec's needs external item embeddings). */
function checkPreset<P extends string>(model: string, preset: string, presets: Record<P, unknown>): P {
  if (!(preset in presets)) throw new UsageError(`--preset for ${model} is one of ${Object.keys(presets).join(', ')}`);
  if (preset === 'llm2rec')
    throw new UsageError('--preset llm2rec needs external item embeddings (the LLM2Rec pipeline provides them)');
  return preset as P;
}

/** One training run: build, fit, test. Shared by `train` and `demo`. */
export async function trainAndTest(split: SequenceSplit, o: TrainRunOptions): Promise<TrainRunResult> {
  manualSeed(o.seed);
  const numItems = split.dataset.numItems;
  const model: SequenceRecommender =
    o.model === 'sasrec'
      ? new SASRec(sasrecConfig(numItems, checkPreset('sasrec', o.preset ?? 'a-llmrec', sasrecPresets)), {
          device: o.device,
        })
      : new GRU4Rec(gru4recConfig(numItems, checkPreset('gru4rec', o.preset ?? 'demo', gru4recPresets)), {
          device: o.device,
        });
  const started = Date.now();
  const result = await fitSequenceModel(model, split, {
    epochs: o.epochs,
    batchSize: o.batchSize,
    lr: o.lr,
    seed: o.seed,
    evalEvery: o.evalEvery,
    patience: o.patience,
    optimizer: o.model === 'sasrec' ? 'adam' : 'adamw',
    checkpointDir: o.checkpointDir,
    resume: o.resume,
    progress: o.quiet ? silentSink : defaultSink(o.model),
  });
  const seconds = (Date.now() - started) / 1000;
  let sequences = 0;
  for (let u = 1; u <= split.dataset.numUsers; u++) if (split.train(u).length >= 2) sequences++;
  return {
    model,
    seconds,
    epochs: result.epochs,
    sequencesPerSecond: (sequences * result.epochs) / seconds,
    history: result.history,
    sampled: flatten(evaluateSampled(model, split, 'test', { seed: 0 })),
    full: flatten(evaluateFullRanking(model, split, 'test')),
  };
}

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'Train SASRec or GRU4Rec and report test metrics (default: the embedded dataset).',
  positionals: '<sasrec|gru4rec>',
  options: {
    ...dataOptions,
    preset: {
      type: 'string',
      description: 'sasrec: a-llmrec (d 50, maxlen 50) | llm-srec (d 64, maxlen 128); gru4rec: demo',
    },
    epochs: { type: 'integer', description: 'training epochs', default: 20 },
    'batch-size': { type: 'integer', description: 'sequences per batch', default: 128 },
    lr: { type: 'number', description: 'learning rate', default: 1e-3 },
    seed: { type: 'integer', description: 'random seed (the first of --seeds)', default: 0 },
    seeds: { type: 'integer', description: 'repeat with this many seeds and report mean ± std', default: 1 },
    device: { type: 'string', description: 'cpu, cuda or cuda:N', default: 'cpu' },
    'eval-every': { type: 'integer', description: 'validate every N epochs', default: 5 },
    patience: { type: 'integer', description: 'stop after N validations without improvement (0: never)', default: 0 },
    out: { type: 'string', description: 'where to save the model (default runs/<model>)' },
    resume: { type: 'boolean', description: 'continue from the checkpoint in <out>/checkpoints', default: false },
    json: { type: 'string', description: 'also write the results to this JSON file' },
    curves: { type: 'string', description: 'also plot the training loss and validation NDCG@10 to this SVG file' },
    results: {
      type: 'string',
      description:
        'append one JSON line per seed in the schema of bench/torch/seqrec_common.py (side-by-side with PyTorch)',
    },
  },
  async run(options, positionals) {
    const kind = positionals[0];
    if (kind !== 'sasrec' && kind !== 'gru4rec')
      throw new UsageError(`train needs a model: sasrec or gru4rec, got '${kind ?? ''}'`);
    if (options.seeds < 1) throw new UsageError('--seeds must be at least 1');
    const device = resolveDevice(options.device);
    const { dataset } = await loadDataFromOptions(options);
    const split = dataset.split();
    const out = options.out ?? path.join('runs', kind);
    const runs: TrainRunResult[] = [];
    for (let s = 0; s < options.seeds; s++) {
      const seed = options.seed + s;
      const run = await trainAndTest(split, {
        model: kind,
        preset: options.preset,
        epochs: options.epochs,
        batchSize: options['batch-size'],
        lr: options.lr,
        seed,
        device,
        evalEvery: options['eval-every'],
        patience: options.patience || undefined,
        checkpointDir: options.seeds === 1 ? path.join(out, 'checkpoints') : undefined,
        resume: options.resume,
      });
      runs.push(run);
      if (options.results) appendResultLine(options.results, kind, seed, run, split, device);
      if (s === 0) saveTrainedModel(out, run.model, split);
      if (s > 0) run.model.dispose();
    }
    const popularity = {
      sampled: flatten(evaluatePopularity(split, 'test', 'sampled')),
      full: flatten(evaluatePopularity(split, 'test', 'full')),
    };
    const sampled = aggregateSeeds(runs.map((r) => r.sampled));
    const full = aggregateSeeds(runs.map((r) => r.full));
    console.log(
      formatTable(
        ['model', ...reported.map((m) => `${m} (1+99)`), 'recall@10 (full)', 'ndcg@10 (full)', 'epoch s'],
        [
          [
            kind,
            ...reported.map((m) => formatMeanStd(sampled[m]!)),
            formatMeanStd(full['hr@10']!),
            formatMeanStd(full['ndcg@10']!),
            (runs[0]!.seconds / runs[0]!.epochs).toFixed(2),
          ],
          [
            'popularity',
            ...reported.map((m) => popularity.sampled[m]!),
            popularity.full['hr@10']!,
            popularity.full['ndcg@10']!,
            '-',
          ],
        ],
      ),
    );
    console.error(
      `saved ${kind} to ${out} (load it with Recommender.load('${out}') or \`llmrec recommend --model ${out}\`)`,
    );
    if (options.json)
      writeJsonFile(options.json, {
        model: kind,
        dataset: dataset.name,
        seeds: options.seeds,
        runs: runs.map(({ model: _m, ...r }) => r),
        sampled,
        full,
        popularity,
      });
    if (options.curves) {
      const history = runs[0]!.history;
      writeTrainingCurves(
        options.curves,
        [
          { name: 'training loss', points: history.map((h) => [h.epoch + 1, h.loss] as const) },
          {
            name: 'validation NDCG@10 (1+99)',
            points: history.flatMap((h) => (h.metrics ? [[h.epoch + 1, h.metrics['ndcg@10']!] as const] : [])),
          },
        ],
        { title: `${kind} on ${dataset.name}`, xLabel: 'epoch' },
      );
      console.error(`wrote ${options.curves}`);
    }
    runs[0]!.model.dispose();
  },
});

/** One line in the schema bench/torch/seqrec_common.py summarises, so both sides print together. */
function appendResultLine(
  file: string,
  kind: string,
  seed: number,
  run: TrainRunResult,
  split: SequenceSplit,
  device: string,
): void {
  const stage = (name: 'valid' | 'test', sampled: Record<string, number>) => {
    const full = flatten(evaluateFullRanking(run.model, split, name));
    return {
      'hr@10': sampled['hr@10'],
      'ndcg@10': sampled['ndcg@10'],
      'recall@10_full': full['hr@10'],
      'ndcg@10_full': full['ndcg@10'],
    };
  };
  const line = {
    model: kind,
    impl: 'llmrec',
    seed,
    epochs: run.epochs,
    epoch_seconds: run.seconds / run.epochs,
    seqs_per_second: run.sequencesPerSecond,
    train_seconds: run.seconds,
    device,
    valid: stage('valid', flatten(evaluateSampled(run.model, split, 'valid', { seed: 0 }))),
    test: { ...stage('test', run.sampled) },
  };
  fs.appendFileSync(file, `${JSON.stringify(line)}\n`);
}
