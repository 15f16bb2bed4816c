// Training and evaluation of sequential recommenders on a split (leave-one-out or the source's
// own): the shared loop of `llmrec train sasrec|gru4rec`, the demo and the pipelines' CF-SRec
// pretraining.
import { noGrad } from '../autograd.js';
import type { SequenceSplit } from '../data/dataset.js';
import { candidateSets, trainingBatches, type Stage } from '../data/sampler.js';
import { fullRankingMetrics, sampledMetrics, type RankingMetrics } from '../eval/metrics.js';
import { embedding } from '../ops/embedding.js';
import { linear } from '../ops/linalg.js';
import { Adam, AdamW } from '../optim/adam.js';
import { tidy } from '../scope.js';
import { tensor } from '../tensor.js';
import { train, type TrainResult } from '../train/trainer.js';
import type { ProgressSink } from '../train/progress.js';
import { leftPad, type SequenceBatch, type SequenceRecommender } from './recommender-model.js';

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

function countBatches(split: SequenceSplit, batchSize: number): number {
  let users = 0;
  for (let u = 1; u <= split.dataset.numUsers; u++) if (split.train(u).length >= 2) users++;
  return Math.ceil(users / batchSize);
}

/** Trains `model` on the split's training items; returns the trainer's result. */
export async function fitSequenceModel(
  model: SequenceRecommender,
  split: SequenceSplit,
  options: FitOptions,
): Promise<TrainResult> {
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
      batchesPerEpoch: countBatches(split, batchSize),
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

/** 'hr@10', 'ndcg@10', 'mrr' ... from RankingMetrics. */
export function flatten(m: RankingMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of m.ks) {
    out[`hr@${k}`] = m.hr[k]!;
    out[`ndcg@${k}`] = m.ndcg[k]!;
  }
  out.mrr = m.mrr;
  return out;
}

/** Left-padded histories (the model input before a stage's target) of `users`. */
export function stageInputs(
  split: SequenceSplit,
  users: ArrayLike<number>,
  stage: Stage,
  maxlen: number,
): Int32Array {
  const ids = new Int32Array(users.length * maxlen);
  for (let r = 0; r < users.length; r++) {
    const user = users[r]!;
    const history = stage === 'train' ? split.train(user) : split.history(user, stage);
    leftPad(history, maxlen, ids, r);
  }
  return ids;
}

export interface EvalOptions {
  /** Users per forward pass (default 512). */
  chunk?: number;
  seed?: number;
  negatives?: number;
  /** Leave the user's history out of the full ranking (default false, as LLM2Rec). */
  excludeHistory?: boolean;
}

/** Sampled-candidate metrics (target + `negatives` items the user never saw; SASRec's 1+99). */
export function evaluateSampled(
  model: SequenceRecommender,
  split: SequenceSplit,
  stage: 'valid' | 'test',
  options: EvalOptions = {},
): RankingMetrics {
  const sets = candidateSets(split, { stage, negatives: options.negatives ?? 99, seed: options.seed ?? 0 });
  const rows = sets.users.length;
  const chunk = options.chunk ?? 512;
  const scores = new Float32Array(rows * sets.width);
  const wasTraining = model.training;
  model.eval();
  try {
    // One tidy scope frees a computed item table (the external variant's adapter output).
    noGrad(() =>
      tidy(() => {
        const table = model.itemEmbeddings();
        for (let start = 0; start < rows; start += chunk) {
          const n = Math.min(chunk, rows - start);
          tidy(() => {
            const users = model.userRepresentation(
              stageInputs(split, sets.users.subarray(start, start + n), stage, model.config.maxlen),
              n,
            );
            const ids = tensor(sets.candidates.subarray(start * sets.width, (start + n) * sets.width), {
              shape: [n, sets.width],
              dtype: 'i32',
              device: model.device,
            });
            const candidates = embedding(ids, table);
            scores.set(candidates.mul(users.unsqueeze(1)).sum(2).dataSync(), start * sets.width);
          });
        }
      }),
    );
  } finally {
    model.train(wasTraining);
  }
  return sampledMetrics(scores, rows, { targetIndex: sets.targetIndex });
}

/** Full-ranking metrics over every item (evaluation users: those with a target). */
export function evaluateFullRanking(
  model: SequenceRecommender,
  split: SequenceSplit,
  stage: 'valid' | 'test',
  options: EvalOptions = {},
): RankingMetrics {
  const users: number[] = [];
  for (let u = 1; u <= split.dataset.numUsers; u++) if (split.target(u, stage) > 0) users.push(u);
  const chunk = options.chunk ?? 512;
  const parts: RankingMetrics[] = [];
  const wasTraining = model.training;
  model.eval();
  try {
    // The item table is computed once (the external variant maps every row through its adapter).
    noGrad(() =>
      tidy(() => {
        const table = model.itemEmbeddings();
        for (let start = 0; start < users.length; start += chunk) {
          const batch = users.slice(start, start + chunk);
          const scores = tidy(() =>
            linear(
              model.userRepresentation(stageInputs(split, batch, stage, model.config.maxlen), batch.length),
              table,
            ).dataSync(),
          );
          const targets = batch.map((u) => split.target(u, stage));
          parts.push(
            fullRankingMetrics(scores, batch.length, targets, {
              exclude: options.excludeHistory ? (r) => split.history(batch[r]!, stage) : undefined,
            }),
          );
        }
      }),
    );
  } finally {
    model.train(wasTraining);
  }
  return mergeMetrics(parts);
}

/** Combines per-chunk metrics (each a mean over its targets) into the overall means. */
export function mergeMetrics(parts: readonly RankingMetrics[]): RankingMetrics {
  const count = parts.reduce((n, p) => n + p.count, 0);
  const first = parts[0];
  if (!first) throw new Error('mergeMetrics: nothing to merge');
  const weighted = (pick: (p: RankingMetrics) => number): number =>
    count ? parts.reduce((s, p) => s + pick(p) * p.count, 0) / count : 0;
  const per = (field: 'hr' | 'recall' | 'ndcg' | 'mrrAt'): Record<number, number> =>
    Object.fromEntries(first.ks.map((k) => [k, weighted((p) => p[field][k]!)]));
  return {
    count,
    ks: [...first.ks],
    hr: per('hr'),
    recall: per('recall'),
    ndcg: per('ndcg'),
    mrrAt: per('mrrAt'),
    mrr: weighted((p) => p.mrr),
  };
}
