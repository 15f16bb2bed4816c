// The seqrec pipeline's one stage, `train`: build the model from the model registry, fit it,
// select by validation, test it (1+99 sampled, fewer on a small catalogue, and full ranking) for each seed, and save the
// first seed's model as `<run>/train/model.safetensors` + `config.json` beside `results.json`.
import * as path from 'node:path';

import { SequenceSplit } from '../../data/dataset.js';
import { sampledNegatives } from '../../data/sampler.js';
import { aggregateSeeds, type MeanStd } from '../../eval/report.js';
import { saveTrainedModel } from '../../models/factory.js';
import { evaluatePopularity } from '../../models/popularity.js';
import { divergedModel, type SequenceRecommender } from '../../models/recommender-model.js';
import { noGrad } from '../../autograd.js';
import { modelEntry } from '../../models/registry.js';
import { manualSeed } from '../../tensor.js';
import { silentSink, type ProgressSink } from '../../train/progress.js';
import type { EpochRecord, TrainResult } from '../../train/trainer.js';
import { ConfigError } from '../config.js';
import { defineStage } from '../stage.js';
import type { SeqrecConfig } from './config.js';
import { evaluateFullRanking, evaluateSampled, flatten } from './evaluate.js';
import { fitSequenceModel, trainingSequences } from './fit.js';
import { expectArgs } from '../../guard.js';

export interface TrainRunOptions {
  /** A registered model name ('sasrec', 'gru4rec', ...). */
  model: string;
  /** One of the model's presets (default: its own default). */
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
  progress?: ProgressSink;
}

export interface TrainRunResult {
  model: SequenceRecommender;
  seconds: number;
  epochs: number;
  /** Training sequences per second of the fit (validation included). */
  sequencesPerSecond: number;
  history: EpochRecord[];
  stopReason: TrainResult['stopReason'];
  /** Test metrics. */
  sampled: Record<string, number>;
  full: Record<string, number>;
}

/** One training run: build, fit, test. Shared by the `train` stage and the demo. */
export async function trainAndTest(split: SequenceSplit, o: TrainRunOptions): Promise<TrainRunResult> {
  expectArgs('trainAndTest', { split }, SequenceSplit);
  expectArgs('trainAndTest', { o }, 'object');
  manualSeed(o.seed);
  const entry = modelEntry(o.model);
  const preset = o.preset ?? entry.defaultPreset;
  if (!(preset in entry.presets))
    throw new ConfigError(
      `--preset for ${o.model} is one of ${Object.keys(entry.presets).join(', ')}; got '${preset}'`,
    );
  const config = entry.configure(split.dataset.numItems, preset);
  if (config.externalDim > 0)
    throw new ConfigError(
      `--preset ${preset} needs external item embeddings (the LLM2Rec pipeline provides them); choose another preset`,
    );
  const model = entry.build(config, o.device);
  const started = Date.now();
  try {
    const result = await fitSequenceModel(model, split, {
      epochs: o.epochs,
      batchSize: o.batchSize,
      lr: o.lr,
      seed: o.seed,
      evalEvery: o.evalEvery,
      patience: o.patience,
      optimizer: entry.optimizer,
      checkpointDir: o.checkpointDir,
      resume: o.resume,
      progress: o.progress ?? silentSink,
    });
    // The trainer stops at a non-finite loss or gradient; the last update can still leave
    // non-finite (or overflowing) weights behind a finite loss, so the model itself is checked.
    const diverged =
      result.stopReason === 'non-finite' ? result.nonFinite : noGrad(() => divergedModel(model as SequenceRecommender));
    if (diverged) throw new Error(`${o.model} diverged (${diverged}); nothing was saved: try a lower --lr`);
    const seconds = (Date.now() - started) / 1000;
    return {
      model,
      seconds,
      epochs: result.epochs,
      sequencesPerSecond: (trainingSequences(split) * result.epochs) / seconds,
      history: result.history,
      stopReason: result.stopReason,
      sampled: flatten(evaluateSampled(model, split, 'test', { seed: 0 })),
      full: flatten(evaluateFullRanking(model, split, 'test')),
    };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** One seed's run as `results.json` records it. */
export interface SeedRun extends Omit<TrainRunResult, 'model'> {
  seed: number;
  /** Validation metrics of the selected model (for side-by-side runs with PyTorch). */
  valid: { sampled: Record<string, number>; full: Record<string, number> };
}

export interface TrainStageResult {
  model: string;
  dataset: string;
  /** Negatives per sampled candidate set: 99, fewer on a catalogue too small for 1+99. */
  negatives: number;
  seeds: number;
  runs: SeedRun[];
  /** Test metrics, mean ± std over seeds. */
  sampled: Record<string, MeanStd>;
  full: Record<string, MeanStd>;
  popularity: { sampled: Record<string, number>; full: Record<string, number> };
}

export const trainStage = defineStage<SeqrecConfig, TrainStageResult>({
  name: 'train',
  summary: 'train the model for each seed, select by validation, test it, save the first seed',
  requires: [],
  async run(ctx) {
    const c = ctx.config;
    const { dataset } = await ctx.dataset();
    // The source's own split when it has one (a sequence split), else leave-one-out.
    const split = dataset.split();
    const negatives = sampledNegatives(split);
    if (negatives < 99)
      ctx.log(
        `${dataset.name}: ${dataset.numItems} items are too few for 1+99 sampled candidates; ` +
          `the sampled metrics rank 1+${negatives} instead (not comparable with 1+99 figures)`,
      );
    const runs: SeedRun[] = [];
    for (let s = 0; s < c.seeds; s++) {
      const seed = ctx.seed + s;
      const { model, ...run } = await trainAndTest(split, {
        model: c.model,
        preset: c.preset,
        epochs: c.epochs,
        batchSize: c.batchSize,
        lr: c.lr,
        seed,
        device: ctx.device,
        evalEvery: c.evalEvery,
        patience: c.patience || undefined,
        checkpointDir: path.join(ctx.checkpoints, `seed-${seed}`),
        resume: ctx.resume,
        progress: ctx.progress,
      });
      try {
        const valid = {
          sampled: flatten(evaluateSampled(model, split, 'valid', { seed: 0 })),
          full: flatten(evaluateFullRanking(model, split, 'valid')),
        };
        runs.push({ seed, ...run, valid });
        if (s === 0) saveTrainedModel(ctx.dir, model, split);
      } finally {
        model.dispose();
      }
    }
    const result: TrainStageResult = {
      model: c.model,
      dataset: dataset.name,
      negatives,
      seeds: c.seeds,
      runs,
      sampled: aggregateSeeds(runs.map((r) => r.sampled)),
      full: aggregateSeeds(runs.map((r) => r.full)),
      popularity: {
        sampled: flatten(evaluatePopularity(split, 'test', 'sampled')),
        full: flatten(evaluatePopularity(split, 'test', 'full')),
      },
    };
    ctx.writeJson('results.json', result);
    const means = (m: Record<string, MeanStd>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.mean]));
    return {
      metrics: { test: { sampled: means(result.sampled), full: means(result.full) }, epochs: runs[0]!.epochs },
      outputs: ['model.safetensors', 'config.json', 'results.json'],
      result,
    };
  },
});
