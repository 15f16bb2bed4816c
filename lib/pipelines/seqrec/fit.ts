// Training of sequential recommenders on a split (leave-one-out or the source's own): the shared
// loop of `llmrec train sasrec|gru4rec`, the demo and the pipelines' CF-SRec pretraining.
import { SequenceSplit } from '../../data/dataset.js';
import { trainingBatches } from '../../data/sampler.js';
import type { SequenceBatch, SequenceRecommender } from '../../models/recommender-model.js';
import { Adam, AdamW } from '../../optim/adam.js';
import { train, type TrainResult } from '../../train/trainer.js';
import type { ProgressSink } from '../../train/progress.js';
import { evaluateFullRanking, evaluateSampled, flatten } from './evaluate.js';
import { Module } from '../../nn/module.js';
import { expectArgs } from '../../guard.js';

export interface FitOptions {
  epochs: number;
  batchSize?: number;
  lr?: number;
  betas?: [number, number];
  weightDecay?: number;
  /** 'adam' (pmixer's SASRec) or 'adamw' (LLM2Rec's downstream models). */
  optimizer?: 'adam' | 'adamw';
  seed?: number;
  /** Evaluate on validation every N epochs (default 5) and at the end. */
  evalEvery?: number;
  /** Stop after this many evaluations without improvement (default: never). */
  patience?: number;
  /** The validation metric that selects the model (default 'ndcg@10', sampled 1+99). */
  metric?: string;
  /** Seed of the fixed 1+99 validation candidates (default 0, the same for every training seed). */
  candidateSeed?: number;
  /** 'sampled' (1+99, SASRec's protocol) or 'full' ranking for validation. */
  validation?: 'sampled' | 'full';
  checkpointDir?: string;
  resume?: boolean;
  progress?: ProgressSink;
  /** Saved with checkpoints so `Recommender.load` can rebuild the model. */
  config?: Record<string, unknown>;
}

/** Batches of an epoch; the same (epoch, seed) gives the same batches, which exact resume needs. */
export function* sequenceBatches(
  split: SequenceSplit,
  maxlen: number,
  batchSize: number,
  epoch: number,
  seed: number,
): Generator<SequenceBatch> {
  for (const b of trainingBatches(split, { maxlen, batchSize, seed, epoch })) {
    yield { rows: b.batchSize, maxlen: b.maxlen, input: b.input, positive: b.positive, negative: b.negative };
  }
}

/** Users with a training sequence (at least two training items): the sequences of an epoch. */
export function trainingSequences(split: SequenceSplit): number {
  expectArgs('trainingSequences', { split }, SequenceSplit);
  let users = 0;
  for (let u = 1; u <= split.dataset.numUsers; u++) if (split.train(u).length >= 2) users++;
  return users;
}

/** Trains `model` on the split's training items; returns the trainer's result. */
export async function fitSequenceModel(
  model: SequenceRecommender,
  split: SequenceSplit,
  options: FitOptions,
): Promise<TrainResult> {
  expectArgs('fitSequenceModel', { model }, Module);
  expectArgs('fitSequenceModel', { split }, SequenceSplit);
  expectArgs('fitSequenceModel', { options }, 'object');
  const batchSize = options.batchSize ?? 128;
  const seed = options.seed ?? 0;
  const params = model.trainableParameters();
  const optimizer =
    (options.optimizer ?? 'adam') === 'adam'
      ? new Adam(params, {
          lr: options.lr ?? 1e-3,
          betas: options.betas ?? [0.9, 0.98],
          weightDecay: options.weightDecay ?? 0,
        })
      : new AdamW(params, {
          lr: options.lr ?? 1e-3,
          betas: options.betas ?? [0.9, 0.999],
          weightDecay: options.weightDecay ?? 1e-4,
        });
  const metric = options.metric ?? 'ndcg@10';
  try {
    return await train({
      model,
      optimizer,
      batches: (epoch, s) => sequenceBatches(split, model.config.maxlen, batchSize, epoch, s),
      batchesPerEpoch: Math.ceil(trainingSequences(split) / batchSize),
      loss: (batch) => model.loss(batch),
      epochs: options.epochs,
      seed,
      evaluate: () => {
        const m =
          options.validation === 'full'
            ? evaluateFullRanking(model, split, 'valid')
            : evaluateSampled(model, split, 'valid', { seed: options.candidateSeed ?? 0 });
        return flatten(m);
      },
      evalEvery: options.evalEvery ?? 5,
      earlyStopping: options.patience ? { metric, patience: options.patience } : undefined,
      checkpoint: options.checkpointDir ? { dir: options.checkpointDir, config: options.config } : undefined,
      resume: options.resume,
      progress: options.progress,
    });
  } finally {
    optimizer.dispose();
  }
}
