// Samplers over a split (leave-one-out or the source's own): padded training batches with
// uniform negatives, candidate sets fixed by a seed, and the user/item subsets of the papers'
// scenarios (few-shot users, cold/warm items, cold users). All randomness comes from Rng, so a
// seed reproduces a run.
import { SequenceSplit, SequenceDataset } from './dataset.js';
import { hash32, Rng } from './rng.js';
import { expectArgs } from '../guard.js';

/**
 * Marks a set of item ids so that membership is one array read; reusing one stamp array across
 * users avoids clearing it (each user gets a fresh stamp value).
 */
class ItemMarks {
  private readonly stamp: Int32Array;
  private current = 0;
  constructor(numItems: number) {
    this.stamp = new Int32Array(numItems + 1);
  }
  /** Starts a new set holding `items` (and the padding id 0). */
  reset(items: ArrayLike<number>): void {
    if (++this.current === 0x7fffffff) {
      this.stamp.fill(0);
      this.current = 1;
    }
    this.stamp[0] = this.current;
    for (let i = 0; i < items.length; i++) this.stamp[items[i]!] = this.current;
  }
  add(item: number): void {
    this.stamp[item] = this.current;
  }
  has(item: number): boolean {
    return this.stamp[item] === this.current;
  }
}

/** Distinct items outside a user's history; rejection sampling with a guaranteed exit. */
function drawNegative(rng: Rng, numItems: number, marks: ItemMarks): number {
  for (;;) {
    const item = 1 + rng.nextInt(numItems);
    if (!marks.has(item)) return item;
  }
}

function distinctCount(items: ArrayLike<number>, marks: ItemMarks): number {
  marks.reset([]);
  let count = 0;
  for (let i = 0; i < items.length; i++) {
    if (!marks.has(items[i]!)) {
      marks.add(items[i]!);
      count++;
    }
  }
  return count;
}

/** One training batch, row-major [batchSize × maxlen]; 0 is padding everywhere. */
export interface TrainingBatch {
  users: Int32Array;
  /** The input items: training items except the last. */
  input: Int32Array;
  /** The next item at each position (the training items shifted by one). */
  positive: Int32Array;
  /** One uniform negative outside the user's training items at each non-pad position. */
  negative: Int32Array;
  batchSize: number;
  maxlen: number;
}

export interface TrainingBatchOptions {
  maxlen: number;
  batchSize?: number;
  /** 'left' (default, as in SASRec) puts the most recent item at the last position. */
  padding?: 'left' | 'right';
  seed?: number;
  /** Each epoch shuffles the users differently and draws fresh negatives. */
  epoch?: number;
  /** Keep the last, smaller batch (default true). */
  keepLast?: boolean;
}

/**
 * Yields SASRec-style training batches for one epoch: every user with at least 2 training items,
 * in a seeded shuffled order; the last `maxlen` (input, next item) pairs of each user.
 */
export function* trainingBatches(split: SequenceSplit, options: TrainingBatchOptions): Generator<TrainingBatch> {
  const maxlen = options.maxlen;
  const batchSize = options.batchSize ?? 128;
  if (!(Number.isInteger(maxlen) && maxlen >= 1)) throw new RangeError(`trainingBatches: maxlen must be ≥ 1, got ${maxlen}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new RangeError(`trainingBatches: batchSize must be ≥ 1, got ${batchSize}`);
  }
  const left = (options.padding ?? 'left') === 'left';
  const dataset = split.dataset;
  const users: number[] = [];
  for (let u = 1; u <= dataset.numUsers; u++) if (split.train(u).length >= 2) users.push(u);
  const rng = new Rng(options.seed ?? 0, hash32(options.epoch ?? 0, 0x7a11));
  rng.shuffle(users);
  const marks = new ItemMarks(dataset.numItems);
  for (let start = 0; start < users.length; start += batchSize) {
    const rows = Math.min(batchSize, users.length - start);
    if (rows < batchSize && options.keepLast === false) return;
    const batch: TrainingBatch = {
      users: new Int32Array(rows),
      input: new Int32Array(rows * maxlen),
      positive: new Int32Array(rows * maxlen),
      negative: new Int32Array(rows * maxlen),
      batchSize: rows,
      maxlen,
    };
    for (let row = 0; row < rows; row++) {
      const user = users[start + row]!;
      const train = split.train(user);
      batch.users[row] = user;
      marks.reset(train);
      if (distinctCount(train, marks) >= dataset.numItems) {
        throw new Error(`trainingBatches: user ${user} has interacted with all ${dataset.numItems} items; no negative exists`);
      }
      marks.reset(train);
      const pairs = Math.min(train.length - 1, maxlen);
      const first = left ? maxlen - pairs : 0;
      for (let p = 0; p < pairs; p++) {
        const source = train.length - 1 - pairs + p;
        const at = row * maxlen + first + p;
        batch.input[at] = train[source]!;
        batch.positive[at] = train[source + 1]!;
        batch.negative[at] = drawNegative(rng, dataset.numItems, marks);
      }
    }
    yield batch;
  }
}

export type Stage = 'train' | 'valid' | 'test';

/** Candidate lists: row r is users[r]'s candidates; the target sits at targetIndex[r]. */
export interface CandidateSets {
  users: Int32Array;
  /** Row-major [users × width] item ids. */
  candidates: Int32Array;
  /** 1 + negatives. */
  width: number;
  targetIndex: Int32Array;
}

export interface CandidateOptions {
  /** 'train' uses the last training item as target (LLM-SRec's retrieval loss). */
  stage: Stage;
  /** Negatives per user: 3 (LLM-SRec training), 19 (A-LLMRec), 99 (SASRec/LLM-SRec eval). */
  negatives: number;
  seed: number;
  /** Default: every user that has a target for the stage. */
  users?: ArrayLike<number>;
  /** Shuffle each row (A-LLMRec shows the 20 candidates in random order); else target first. */
  shuffle?: boolean;
}

/** The papers' candidate-set sizes, as negatives per target. */
export const candidateNegatives = { llmSRecTrain: 3, aLLMRec: 19, sampledEval: 99 } as const;

/** The target and the history before it, for a stage. */
export function stageTarget(split: SequenceSplit, user: number, stage: Stage): { target: number; history: Int32Array } {
  expectArgs('stageTarget', { split }, SequenceSplit);
  expectArgs('stageTarget', { user }, 'integer');
  expectArgs('stageTarget', { stage }, 'string');
  if (stage === 'train') {
    const train = split.train(user);
    return train.length >= 2
      ? { target: train[train.length - 1]!, history: train.subarray(0, train.length - 1) }
      : { target: 0, history: train };
  }
  return { target: split.target(user, stage), history: split.history(user, stage) };
}

/**
 * Draws fixed candidate sets: the target plus `negatives` distinct items drawn uniformly from
 * items the user never interacted with (train, validation and test alike). Each user's draw
 * depends only on (seed, user, stage), not on which other users are included.
 */
export function candidateSets(split: SequenceSplit, options: CandidateOptions): CandidateSets {
  expectArgs('candidateSets', { split }, SequenceSplit);
  expectArgs('candidateSets', { options }, 'object');
  const { stage, negatives, seed } = options;
  if (!(Number.isInteger(negatives) && negatives >= 0)) {
    throw new RangeError(`candidateSets: negatives must be a non-negative integer, got ${negatives}`);
  }
  const dataset = split.dataset;
  let users: Int32Array;
  if (options.users) users = Int32Array.from(options.users);
  else {
    const list: number[] = [];
    for (let u = 1; u <= dataset.numUsers; u++) if (stageTarget(split, u, stage).target > 0) list.push(u);
    users = Int32Array.from(list);
  }
  const width = negatives + 1;
  const candidates = new Int32Array(users.length * width);
  const targetIndex = new Int32Array(users.length);
  const marks = new ItemMarks(dataset.numItems);
  const stageTag = stage === 'train' ? 1 : stage === 'valid' ? 2 : 3;
  for (let r = 0; r < users.length; r++) {
    const user = users[r]!;
    if (!(user >= 1 && user <= dataset.numUsers)) {
      throw new RangeError(`candidateSets: user ${user} is not in 1..${dataset.numUsers}`);
    }
    const { target } = stageTarget(split, user, stage);
    if (target === 0) throw new Error(`candidateSets: user ${user} has no ${stage} target`);
    const all = dataset.sequence(user);
    const available = dataset.numItems - distinctCount(all, marks);
    if (available < negatives) {
      throw new Error(
        `candidateSets: user ${user} has only ${available} items outside the history; cannot draw ${negatives} negatives`,
      );
    }
    marks.reset(all);
    const rng = new Rng(seed, hash32(user, stageTag, negatives));
    const row = candidates.subarray(r * width, (r + 1) * width);
    row[0] = target;
    for (let j = 1; j < width; j++) {
      const item = drawNegative(rng, dataset.numItems, marks);
      marks.add(item);
      row[j] = item;
    }
    if (options.shuffle) {
      rng.shuffle(row);
      targetIndex[r] = row.indexOf(target);
    }
  }
  return { users, candidates, width, targetIndex };
}

/**
 * How many negatives a sampled evaluation can draw for every user: `wanted` (SASRec's 99), or
 * fewer on a catalogue too small for it, where some user has seen all but a few items.
 */
export function sampledNegatives(split: SequenceSplit, wanted = 99): number {
  expectArgs('sampledNegatives', { split }, SequenceSplit);
  expectArgs('sampledNegatives', { wanted }, 'integer');
  const dataset = split.dataset;
  const marks = new ItemMarks(dataset.numItems);
  let fewest = wanted;
  for (let u = 1; u <= dataset.numUsers; u++)
    fewest = Math.min(fewest, dataset.numItems - distinctCount(dataset.sequence(u), marks));
  return Math.max(0, fewest);
}

/** `count` distinct evaluation users (those with a test target), drawn by seed, ascending. */
export function fewShotUsers(split: SequenceSplit, count: number, seed: number): Int32Array {
  expectArgs('fewShotUsers', { split }, SequenceSplit);
  expectArgs('fewShotUsers', { count, seed }, 'integer');
  const pool = split.evaluationUsers();
  if (!(Number.isInteger(count) && count >= 0 && count <= pool.length)) {
    throw new RangeError(`fewShotUsers: count must be in 0..${pool.length} (users with a test target), got ${count}`);
  }
  const rng = new Rng(seed, 0xf5);
  // Partial Fisher–Yates: the first `count` slots are a uniform sample without replacement.
  for (let i = 0; i < count; i++) {
    const j = i + rng.nextInt(pool.length - i);
    const t = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = t;
  }
  return pool.slice(0, count).sort();
}

export interface PopularityGroups {
  /** The least interacted items (the bottom `fraction` by count), ascending id. */
  cold: Int32Array;
  /** The most interacted items (the top `fraction` by count), ascending id. */
  warm: Int32Array;
  /** Interactions per item id used for the grouping. */
  counts: Int32Array;
}

/**
 * Cold and warm items as in A-LLMRec: the bottom and top `fraction` (default 35%) of items by
 * interaction count; ties in count are broken by item id so the groups are deterministic.
 * `counts` defaults to counts over the whole dataset.
 */
export function itemPopularityGroups(
  dataset: SequenceDataset,
  options: { fraction?: number; counts?: Int32Array } = {},
): PopularityGroups {
  expectArgs('itemPopularityGroups', { dataset }, SequenceDataset);
  expectArgs('itemPopularityGroups', { options }, 'options');
  const fraction = options.fraction ?? 0.35;
  if (!(fraction > 0 && fraction <= 0.5)) throw new RangeError(`itemPopularityGroups: fraction must be in (0, 0.5], got ${fraction}`);
  const counts = options.counts ?? dataset.itemCounts();
  const ids = new Int32Array(dataset.numItems);
  for (let i = 0; i < ids.length; i++) ids[i] = i + 1;
  ids.sort((a, b) => counts[a]! - counts[b]! || a - b);
  const size = Math.floor(fraction * ids.length);
  return {
    cold: ids.slice(0, size).sort(),
    warm: ids.slice(ids.length - size).sort(),
    counts,
  };
}

/** Users whose `stage` target is in `items` (e.g. cold-item test users). */
export function usersWithTargetIn(split: SequenceSplit, stage: 'valid' | 'test', items: ArrayLike<number>): Int32Array {
  expectArgs('usersWithTargetIn', { split }, SequenceSplit);
  expectArgs('usersWithTargetIn', { stage }, 'string');
  expectArgs('usersWithTargetIn', { items }, 'arrayLike');
  const marks = new ItemMarks(split.dataset.numItems);
  marks.reset(items);
  const users: number[] = [];
  for (let u = 1; u <= split.dataset.numUsers; u++) {
    const target = split.target(u, stage);
    if (target > 0 && marks.has(target)) users.push(u);
  }
  return Int32Array.from(users);
}

/**
 * Users with exactly `length` interactions (A-LLMRec's cold users: 3). A 5-core dataset has
 * none; prepare with kCore ≤ 3 for that scenario.
 */
export function usersWithLength(dataset: SequenceDataset, length = 3): Int32Array {
  expectArgs('usersWithLength', { dataset }, SequenceDataset);
  expectArgs('usersWithLength', { length }, 'integer');
  const users: number[] = [];
  for (let u = 1; u <= dataset.numUsers; u++) if (dataset.length(u) === length) users.push(u);
  return Int32Array.from(users);
}
