// The paper's scenarios as user selections: which users train stage 2, and which test groups
// the evaluation reports (papers.md, "Scenarios").
import type { SequenceDataset, SequenceSplit } from '../../data/dataset.js';
import { hash32, Rng } from '../../data/rng.js';
import { itemPopularityGroups, stageTarget, usersWithLength, usersWithTargetIn } from '../../data/sampler.js';
import { ConfigError } from '../config.js';
import type { Scenario } from './config.js';

/**
 * A test group: all test users, those whose target is a warm or a cold item, cold users, or
 * (cross-domain) those whose target the SASRec never saw in training.
 */
export type TestGroup = 'all' | 'warm' | 'cold-items' | 'cold-users' | 'unseen-items';

/** `count` of `users` drawn by seed without replacement (all of them when fewer), ascending. */
export function sampleUsers(users: Int32Array, count: number, seed: number, salt: number): Int32Array {
  if (count <= 0 || count >= users.length) return users.slice();
  const pool = users.slice();
  const rng = new Rng(seed, hash32(salt, 0x5ce));
  for (let i = 0; i < count; i++) {
    const j = i + rng.nextInt(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count).sort();
}

/** The K of 'few-shot:K', or undefined for other scenarios. */
export function fewShotCount(scenario: Scenario): number | undefined {
  const match = /^few-shot:(\d+)$/.exec(scenario);
  return match ? Number(match[1]) : undefined;
}

/**
 * Stage 2's training users: those with a training target (at least two training items), all of
 * them or `trainUsers` drawn by seed; the few-shot scenarios draw K of them instead.
 */
export function trainingUsers(split: SequenceSplit, scenario: Scenario, trainUsers: number, seed: number): Int32Array {
  const shots = fewShotCount(scenario);
  const pool: number[] = [];
  for (let u = 1; u <= split.dataset.numUsers; u++) if (stageTarget(split, u, 'train').target > 0) pool.push(u);
  const users = Int32Array.from(pool);
  if (shots !== undefined) {
    if (shots > users.length)
      throw new ConfigError(
        `--scenario ${scenario}: only ${users.length} users have a training target, fewer than ${shots}`,
      );
    return sampleUsers(users, shots, seed, 0xf5);
  }
  if (users.length === 0)
    throw new ConfigError('a-llmrec: no user has two training items, so stage 2 has nothing to learn from');
  return sampleUsers(users, trainUsers, seed, 0x7a);
}

/**
 * The test users of one group (before sampling). `cfItems` (cross-domain) maps each item of the
 * split's dataset to the SASRec's id, 0 for an item unseen in training.
 */
export function groupUsers(split: SequenceSplit, group: TestGroup, cfItems?: Int32Array): Int32Array {
  const dataset: SequenceDataset = split.dataset;
  switch (group) {
    case 'unseen-items':
      if (!cfItems) throw new Error("groupUsers: the 'unseen-items' group needs the cross-domain item map");
      return split.evaluationUsers().filter((u) => cfItems[split.target(u, 'test')] === 0);
    case 'all':
      return split.evaluationUsers();
    case 'warm':
    case 'cold-items': {
      const groups = itemPopularityGroups(dataset);
      return usersWithTargetIn(split, 'test', group === 'warm' ? groups.warm : groups.cold);
    }
    case 'cold-users':
      return usersWithLength(dataset, 3).filter((u) => split.target(u, 'test') > 0);
  }
}

/** The groups a scenario reports: the standard run reports every group that has users. */
export function testGroups(scenario: Scenario): TestGroup[] {
  switch (scenario) {
    case 'warm':
    case 'cold-items':
    case 'cold-users':
      return [scenario];
    case 'cross-domain':
      return ['all', 'unseen-items'];
    default:
      return ['all', 'warm', 'cold-items', 'cold-users'];
  }
}

/** Each reported group's sampled test users; a scenario that selects nobody is an error. */
export function testSelection(
  split: SequenceSplit,
  scenario: Scenario,
  evalUsers: number,
  seed: number,
  cfItems?: Int32Array,
): Map<TestGroup, Int32Array> {
  const out = new Map<TestGroup, Int32Array>();
  const salts: TestGroup[] = ['all', 'warm', 'cold-items', 'cold-users', 'unseen-items'];
  for (const group of testGroups(scenario)) {
    const users = groupUsers(split, group, cfItems);
    if (users.length > 0) out.set(group, sampleUsers(users, evalUsers, seed, hash32(salts.indexOf(group), 0xe7)));
  }
  if (out.size === 0 || (testGroups(scenario).length === 1 && !out.has(testGroups(scenario)[0]!)))
    throw new ConfigError(
      `--scenario ${scenario} selects no test users in ${split.dataset.name}${scenario === 'cold-users' ? ' (cold users have exactly 3 interactions; a 5-core dataset has none: prepare it with --kcore 3)' : ''}`,
    );
  return out;
}
