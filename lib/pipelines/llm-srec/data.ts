// What LLM-SRec reads of a split: histories with their times, the training users and batches
// (each a deterministic function of seed and epoch, which exact resume needs), the negatives of
// the retrieval loss, and the shuffled histories of the paper's sequence test.
import { SequenceSplit } from '../../data/dataset.js';
import { hash32, Rng } from '../../data/rng.js';
import type { LLMSRecBatch, UserHistory } from './model.js';
import { expectArgs, expectFields } from '../../guard.js';

/** Whether the dataset's times are real dates (not only the row order of a file without times). */
export function hasDates(split: SequenceSplit): boolean {
  expectArgs('hasDates', { split }, SequenceSplit);
  return split.dataset.summary.timeSpan[0] !== '';
}

/**
 * The history before a stage's target with its times: for 'train', the training items but the
 * last (the target of the retrieval loss); else the split's history for 'valid' or 'test'.
 */
export function historyOf(split: SequenceSplit, user: number, stage: 'train' | 'valid' | 'test'): UserHistory {
  expectArgs('historyOf', { split }, SequenceSplit);
  expectArgs('historyOf', { user }, 'integer');
  expectArgs('historyOf', { stage }, 'string');
  const { items, times } = split.dataset;
  const [start, end] =
    stage === 'train'
      ? [split.trainStart[user]!, split.trainEnd[user]! - 1]
      : stage === 'valid'
        ? [split.validStart[user]!, split.validEnd[user]!]
        : [split.testStart[user]!, split.testEnd[user]!];
  return { items: items.subarray(start, end), times: hasDates(split) ? times.subarray(start, end) : null };
}

/**
 * The history with its items in a random order (seeded); the k-th slot keeps the k-th time, so
 * the dates do not give the true order away.
 */
export function shuffledHistory(history: UserHistory, rng: Rng): UserHistory {
  expectFields('shuffledHistory', 'history', history, { items: 'arrayLike' });
  expectArgs('shuffledHistory', { rng }, Rng);
  const items = Int32Array.from(history.items);
  rng.shuffle(items);
  return { items, times: history.times };
}

/** Users with a training target and a non-empty history before it: at least 2 training items. */
export function trainableUsers(split: SequenceSplit): Int32Array {
  expectArgs('trainableUsers', { split }, SequenceSplit);
  const users: number[] = [];
  for (let u = 1; u <= split.dataset.numUsers; u++) if (split.trainEnd[u]! - split.trainStart[u]! >= 2) users.push(u);
  return Int32Array.from(users);
}

/** `count` users of `pool` drawn by seed (all when count is 0 or covers the pool), ascending. */
export function sampleUsers(pool: Int32Array, count: number, seed: number, stream: number): Int32Array {
  expectArgs('sampleUsers', { pool }, Int32Array);
  expectArgs('sampleUsers', { count, seed, stream }, 'integer');
  if (count === 0 || count >= pool.length) return pool;
  const copy = Int32Array.from(pool);
  const rng = new Rng(seed, stream);
  for (let i = 0; i < count; i++) {
    const j = i + rng.nextInt(copy.length - i);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, count).sort();
}

/** A training batch before the LLM sees it: its users and the real epoch they belong to. */
export interface UserBatch {
  users: Int32Array;
  epoch: number;
}

/**
 * The batches of one validation period: a real epoch is the users in a seeded order cut into
 * batches (a last batch of one user is dropped: uniformity needs pairs), and each of its
 * `periods` validation periods is a contiguous slice of those batches.
 */
export function periodBatches(
  users: Int32Array,
  options: { batchSize: number; periods: number; period: number; seed: number },
): UserBatch[] {
  expectArgs('periodBatches', { users }, Int32Array);
  expectArgs('periodBatches', { options }, 'object');
  const epoch = Math.floor(options.period / options.periods);
  const part = options.period % options.periods;
  const order = Int32Array.from(users);
  new Rng(options.seed, hash32(epoch, 0x11e5)).shuffle(order);
  const batches: UserBatch[] = [];
  for (let start = 0; start + 1 < order.length; start += options.batchSize)
    batches.push({ users: order.slice(start, start + options.batchSize), epoch });
  const from = Math.floor((part * batches.length) / options.periods);
  const to = Math.floor(((part + 1) * batches.length) / options.periods);
  return batches.slice(from, to);
}

/**
 * The LLM side of a training batch: each user's history before the last training item, the
 * target and `negatives` distinct items outside the user's whole sequence, drawn from (seed,
 * user, epoch); with `shuffle`, histories in a seeded random order.
 */
export function trainingBatch(
  split: SequenceSplit,
  batch: UserBatch,
  options: { negatives: number; seed: number; shuffle: boolean },
): LLMSRecBatch {
  expectArgs('trainingBatch', { split }, SequenceSplit);
  expectFields('trainingBatch', 'batch', batch, { users: Int32Array });
  expectArgs('trainingBatch', { options }, 'object');
  const dataset = split.dataset;
  const histories: UserHistory[] = [];
  const candidates: number[][] = [];
  for (const user of batch.users) {
    let history = historyOf(split, user, 'train');
    if (options.shuffle) history = shuffledHistory(history, new Rng(options.seed, hash32(user, batch.epoch, 0x5f)));
    histories.push(history);
    const seen = new Set(dataset.sequence(user));
    const available = dataset.numItems - seen.size;
    if (available < options.negatives)
      throw new Error(
        `LLM-SRec: user ${user} has ${available} unseen items, fewer than ${options.negatives} negatives`,
      );
    const rng = new Rng(options.seed, hash32(user, batch.epoch, 0x77));
    const row = [split.trainEnd[user]! - 1].map((at) => dataset.items[at]!);
    while (row.length < options.negatives + 1) {
      const item = 1 + rng.nextInt(dataset.numItems);
      if (!seen.has(item)) {
        seen.add(item);
        row.push(item);
      }
    }
    candidates.push(row);
  }
  return { histories, candidates };
}
