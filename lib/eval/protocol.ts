// Glue between a split and the metrics: the targets of a list of users, and the
// history each user's full ranking may leave out.
import { SequenceSplit } from '../data/dataset.js';
import { expectArgs } from '../guard.js';

/** The `stage` target of each user, aligned with `users` (0 for a training-only user). */
export function stageTargets(split: SequenceSplit, stage: 'valid' | 'test', users: ArrayLike<number>): Int32Array {
  expectArgs('stageTargets', { split }, SequenceSplit);
  expectArgs('stageTargets', { stage }, 'string');
  expectArgs('stageTargets', { users }, 'arrayLike');
  const targets = new Int32Array(users.length);
  for (let r = 0; r < users.length; r++) targets[r] = split.target(users[r]!, stage);
  return targets;
}

/**
 * An `exclude` callback for fullRankingMetrics: row r masks the items users[r] saw before the
 * `stage` target (its model input). The target itself is never masked by the metric.
 */
export function historyExclusion(
  split: SequenceSplit,
  stage: 'valid' | 'test',
  users: ArrayLike<number>,
): (row: number) => Int32Array {
  return (row) => split.history(users[row]!, stage);
}
