// The popularity baseline: every user gets the items bought most often in training.
import { SequenceSplit } from '../data/dataset.js';
import { candidateSets, sampledNegatives } from '../data/sampler.js';
import { fullRankingMetrics, sampledMetrics, type RankingMetrics } from '../eval/metrics.js';
import { expectArgs } from '../guard.js';

/** Training interactions per item id (index 0 is 0). */
export function trainingPopularity(split: SequenceSplit): Float32Array {
  expectArgs('trainingPopularity', { split }, SequenceSplit);
  const counts = new Float32Array(split.dataset.numItems + 1);
  for (let u = 1; u <= split.dataset.numUsers; u++) for (const item of split.train(u)) counts[item]! += 1;
  return counts;
}

/** The popularity baseline under SASRec's 1+99 protocol (fewer on a small catalogue) or full ranking. */
export function evaluatePopularity(
  split: SequenceSplit,
  stage: 'valid' | 'test',
  protocol: 'sampled' | 'full',
  seed = 0,
): RankingMetrics {
  expectArgs('evaluatePopularity', { split }, SequenceSplit);
  expectArgs('evaluatePopularity', { stage, protocol }, 'string');
  expectArgs('evaluatePopularity', { seed }, 'integer');
  const popularity = trainingPopularity(split);
  if (protocol === 'sampled') {
    const sets = candidateSets(split, { stage, negatives: sampledNegatives(split), seed });
    const scores = Float32Array.from(sets.candidates, (item) => popularity[item]!);
    return sampledMetrics(scores, sets.users.length, { targetIndex: sets.targetIndex });
  }
  const users: number[] = [];
  for (let u = 1; u <= split.dataset.numUsers; u++) if (split.target(u, stage) > 0) users.push(u);
  const width = popularity.length;
  const scores = new Float32Array(users.length * width);
  for (let r = 0; r < users.length; r++) scores.set(popularity, r * width);
  return fullRankingMetrics(
    scores,
    users.length,
    users.map((u) => split.target(u, stage)),
  );
}
