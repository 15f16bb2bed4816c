// Evaluation of sequential recommenders on a split (leave-one-out or the source's own): 1+99
// sampled candidates (SASRec's protocol) and full ranking over every item (LLM2Rec's).
import { noGrad } from '../../autograd.js';
import { SequenceSplit } from '../../data/dataset.js';
import { candidateSets, sampledNegatives, type Stage } from '../../data/sampler.js';
import { flattenMetrics, fullRankingMetrics, sampledMetrics, type RankingMetrics } from '../../eval/metrics.js';
import { leftPad, type SequenceRecommender } from '../../models/recommender-model.js';
import { embedding } from '../../ops/embedding.js';
import { linear } from '../../ops/linalg.js';
import { tidy } from '../../scope.js';
import { tensor, type Tensor } from '../../tensor.js';
import { expectArgs, expectArrayOf } from '../../guard.js';

/** 'hr@10', 'ndcg@10', ..., 'mrr': the metrics the pipelines write to results.json. */
export function flatten(m: RankingMetrics): Record<string, number> {
  return flattenMetrics(m, ['hr', 'ndcg', 'mrr']);
}

/** Left-padded histories (the model input before a stage's target) of `users`. */
export function stageInputs(split: SequenceSplit, users: ArrayLike<number>, stage: Stage, maxlen: number): Int32Array {
  expectArgs('stageInputs', { split }, SequenceSplit);
  expectArgs('stageInputs', { users }, 'arrayLike');
  expectArgs('stageInputs', { stage }, 'string');
  expectArgs('stageInputs', { maxlen }, 'integer');
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
  /** Negatives per sampled candidate set (default 99, fewer on a catalogue too small: see sampledNegatives). */
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
  expectArgs('evaluateSampled', { model }, 'object');
  expectArgs('evaluateSampled', { split }, SequenceSplit);
  expectArgs('evaluateSampled', { stage }, 'string');
  expectArgs('evaluateSampled', { options }, 'options');
  const negatives = options.negatives ?? sampledNegatives(split);
  const sets = candidateSets(split, { stage, negatives, seed: options.seed ?? 0 });
  const rows = sets.users.length;
  const chunk = options.chunk ?? 512;
  const scores = new Float32Array(rows * sets.width);
  withItemTable(model, (table) => {
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
  });
  return sampledMetrics(scores, rows, { targetIndex: sets.targetIndex });
}

/**
 * Runs `score` in eval mode without gradients, with the item table computed once (the external
 * variant maps every row through its adapter) and freed after, then restores the model's mode.
 */
function withItemTable(model: SequenceRecommender, score: (table: Tensor) => void): void {
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => tidy(() => score(model.itemEmbeddings())));
  } finally {
    model.train(wasTraining);
  }
}

/** Full-ranking metrics over every item (evaluation users: those with a target). */
export function evaluateFullRanking(
  model: SequenceRecommender,
  split: SequenceSplit,
  stage: 'valid' | 'test',
  options: EvalOptions = {},
): RankingMetrics {
  expectArgs('evaluateFullRanking', { model }, 'object');
  expectArgs('evaluateFullRanking', { split }, SequenceSplit);
  expectArgs('evaluateFullRanking', { stage }, 'string');
  expectArgs('evaluateFullRanking', { options }, 'options');
  const users: number[] = [];
  for (let u = 1; u <= split.dataset.numUsers; u++) if (split.target(u, stage) > 0) users.push(u);
  const chunk = options.chunk ?? 512;
  const parts: RankingMetrics[] = [];
  withItemTable(model, (table) => {
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
  });
  return mergeMetrics(parts);
}

/** Combines per-chunk metrics (each a mean over its targets) into the overall means. */
export function mergeMetrics(parts: readonly RankingMetrics[]): RankingMetrics {
  expectArrayOf('mergeMetrics', { parts }, 'object');
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
