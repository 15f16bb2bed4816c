// Preprocessing (chronological order, session dedupe, iterative k-core, id maps) and the
// prepared dataset: per-user item sequences as one Int32Array with offsets, ids from 1 with 0 as
// padding, the item text table and the leave-one-out split.
import type { InteractionLog } from './log.js';
import type { LoadReport } from './text.js';

export interface PrepareOptions {
  /**
   * Iterative k-core: repeatedly drop users and items with fewer than k interactions until none
   * is left (default 5; 0 or 1 keeps everything).
   */
  kCore?: number;
  /** A separate minimum for users (default kCore). */
  minUserInteractions?: number;
  /** A separate minimum for items (default kCore). */
  minItemInteractions?: number;
  /**
   * 'session' (default) keeps the first of repeated (user, item) rows within one basket, or
   * within one timestamp when the source has no baskets; 'none' keeps every row.
   */
  dedupe?: 'session' | 'none';
  /** A name for summaries. */
  name?: string;
}

/** Counts that describe a prepared dataset. */
export interface DatasetSummary {
  name: string;
  users: number;
  items: number;
  interactions: number;
  /** interactions / (users × items). */
  density: number;
  sequenceLength: { min: number; max: number; mean: number; median: number };
  /** First and last interaction time, ISO 8601 (UTC). */
  timeSpan: [string, string];
  /** Rows removed by preprocessing, by step. */
  removed: { duplicates: number; kCore: number };
  kCoreRounds: number;
}

export interface SequenceDatasetParts {
  name: string;
  /** Raw user keys by user id; index 0 is '' (padding). */
  userKeys: string[];
  /** Raw item keys by item id; index 0 is '' (padding). */
  itemKeys: string[];
  /** offsets[u]..offsets[u+1] delimit user u's interactions; offsets[0] = offsets[1] = 0. */
  offsets: Int32Array;
  /** Item ids in chronological order per user. */
  items: Int32Array;
  /** Interaction times (UTC ms), aligned with `items`. */
  times: Float64Array;
  /** Titles by item id ('' for padding or unknown). */
  titles: string[];
  descriptions: string[];
  summary: DatasetSummary;
  /** The load report of the source, when the dataset came from files. */
  loadReport?: LoadReport;
}

/**
 * A prepared sequential-recommendation dataset. Users are 1..numUsers and items 1..numItems;
 * 0 is padding. `sequence(u)` is a zero-copy view of user u's chronological items.
 */
export class SequenceDataset implements SequenceDatasetParts {
  readonly name: string;
  readonly userKeys: string[];
  readonly itemKeys: string[];
  readonly offsets: Int32Array;
  readonly items: Int32Array;
  readonly times: Float64Array;
  readonly titles: string[];
  readonly descriptions: string[];
  readonly summary: DatasetSummary;
  readonly loadReport?: LoadReport;

  constructor(parts: SequenceDatasetParts) {
    this.name = parts.name;
    this.userKeys = parts.userKeys;
    this.itemKeys = parts.itemKeys;
    this.offsets = parts.offsets;
    this.items = parts.items;
    this.times = parts.times;
    this.titles = parts.titles;
    this.descriptions = parts.descriptions;
    this.summary = parts.summary;
    if (parts.loadReport) this.loadReport = parts.loadReport;
  }

  get numUsers(): number {
    return this.userKeys.length - 1;
  }

  get numItems(): number {
    return this.itemKeys.length - 1;
  }

  get numInteractions(): number {
    return this.items.length;
  }

  /** User u's items, oldest first (a view, not a copy). */
  sequence(user: number): Int32Array {
    this.checkUser(user);
    return this.items.subarray(this.offsets[user]!, this.offsets[user + 1]!);
  }

  /** User u's interaction times (UTC ms), aligned with sequence(u). */
  sequenceTimes(user: number): Float64Array {
    this.checkUser(user);
    return this.times.subarray(this.offsets[user]!, this.offsets[user + 1]!);
  }

  length(user: number): number {
    this.checkUser(user);
    return this.offsets[user + 1]! - this.offsets[user]!;
  }

  /** Interactions per item id (index 0 is 0). */
  itemCounts(): Int32Array {
    const counts = new Int32Array(this.numItems + 1);
    for (let i = 0; i < this.items.length; i++) counts[this.items[i]!]!++;
    return counts;
  }

  /** The leave-one-out split (last item test, second-to-last validation). */
  leaveOneOut(): LeaveOneOutSplit {
    return new LeaveOneOutSplit(this);
  }

  private checkUser(user: number): void {
    if (!(Number.isInteger(user) && user >= 1 && user <= this.numUsers)) {
      throw new RangeError(`dataset ${this.name}: user id must be in 1..${this.numUsers}, got ${user}`);
    }
  }
}

/**
 * Leave-one-out: for a user with n ≥ 3 items, items[0..n-2) train, item n-2 is the validation
 * target and item n-1 the test target. Users with fewer than 3 items are training-only (their
 * targets are 0), as in SASRec's data partition.
 */
export class LeaveOneOutSplit {
  /** Validation target per user id; 0 when the user is training-only. */
  readonly validTarget: Int32Array;
  /** Test target per user id; 0 when the user is training-only. */
  readonly testTarget: Int32Array;
  /** End (exclusive, into dataset.items) of each user's training items. */
  readonly trainEnd: Int32Array;

  constructor(readonly dataset: SequenceDataset) {
    const users = dataset.numUsers;
    this.validTarget = new Int32Array(users + 1);
    this.testTarget = new Int32Array(users + 1);
    this.trainEnd = new Int32Array(users + 1);
    const { offsets, items } = dataset;
    for (let u = 1; u <= users; u++) {
      const start = offsets[u]!;
      const end = offsets[u + 1]!;
      if (end - start >= 3) {
        this.validTarget[u] = items[end - 2]!;
        this.testTarget[u] = items[end - 1]!;
        this.trainEnd[u] = end - 2;
      } else {
        this.trainEnd[u] = end;
      }
    }
  }

  /** User u's training items (a view). */
  train(user: number): Int32Array {
    return this.dataset.items.subarray(this.dataset.offsets[user]!, this.trainEnd[user]!);
  }

  /**
   * The history a model sees when predicting the `stage` target: the training items for
   * validation, the training items plus the validation item for test (a view).
   */
  history(user: number, stage: 'valid' | 'test'): Int32Array {
    const start = this.dataset.offsets[user]!;
    const end = this.trainEnd[user]! + (stage === 'test' && this.testTarget[user]! > 0 ? 1 : 0);
    return this.dataset.items.subarray(start, end);
  }

  target(user: number, stage: 'valid' | 'test'): number {
    return (stage === 'valid' ? this.validTarget : this.testTarget)[user]!;
  }

  /** Users with a validation/test target, ascending. */
  evaluationUsers(): Int32Array {
    const users: number[] = [];
    for (let u = 1; u <= this.dataset.numUsers; u++) if (this.testTarget[u]! > 0) users.push(u);
    return Int32Array.from(users);
  }
}

/**
 * Orders each user's rows chronologically; rows with equal times keep their file order. Returns
 * row indices grouped by user (in user-index order).
 */
export function chronologicalOrder(log: InteractionLog): { order: Int32Array; userStart: Int32Array } {
  const n = log.user.length;
  const users = log.userKeys.length;
  const userStart = new Int32Array(users + 1);
  for (let r = 0; r < n; r++) userStart[log.user[r]! + 1]!++;
  for (let u = 0; u < users; u++) userStart[u + 1]! += userStart[u]!;
  const cursor = userStart.slice(0, users);
  const order = new Int32Array(n);
  // A counting sort by user keeps file order within a user; then only users whose rows are
  // out of time order need a comparison sort, with the row index as the stable tie-break.
  for (let r = 0; r < n; r++) order[cursor[log.user[r]!]!++] = r;
  const time = log.time;
  for (let u = 0; u < users; u++) {
    const start = userStart[u]!;
    const end = userStart[u + 1]!;
    let sorted = true;
    for (let i = start + 1; i < end && sorted; i++) sorted = time[order[i]!]! >= time[order[i - 1]!]!;
    if (!sorted) order.subarray(start, end).sort((a, b) => time[a]! - time[b]! || a - b);
  }
  return { order, userStart };
}

/**
 * Iterative k-core over a row mask: clears `alive[r]` for rows whose user has fewer than
 * `minUser` or whose item has fewer than `minItem` alive rows, until nothing changes. Returns
 * the rounds taken.
 */
export function kCoreFilter(
  user: Int32Array,
  item: Int32Array,
  alive: Uint8Array,
  numUsers: number,
  numItems: number,
  minUser: number,
  minItem: number,
): number {
  const userCount = new Int32Array(numUsers);
  const itemCount = new Int32Array(numItems);
  const n = user.length;
  let rounds = 0;
  for (;;) {
    userCount.fill(0);
    itemCount.fill(0);
    for (let r = 0; r < n; r++) {
      if (alive[r]) {
        userCount[user[r]!]!++;
        itemCount[item[r]!]!++;
      }
    }
    let removed = 0;
    for (let r = 0; r < n; r++) {
      if (alive[r] && (userCount[user[r]!]! < minUser || itemCount[item[r]!]! < minItem)) {
        alive[r] = 0;
        removed++;
      }
    }
    rounds++;
    if (removed === 0) return rounds;
  }
}

function median(sorted: Int32Array): number {
  if (sorted.length === 0) return 0;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function checkMinimum(name: string, value: number): number {
  if (!(Number.isInteger(value) && value >= 0)) {
    throw new RangeError(`prepare: ${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/**
 * Turns a raw log into a SequenceDataset: chronological order (stable ties), session dedupe,
 * iterative k-core, then ids from 1 by first interaction time (ties by key).
 */
export function prepareDataset(log: InteractionLog, options: PrepareOptions = {}): SequenceDataset {
  const k = checkMinimum('kCore', options.kCore ?? 5);
  const minUser = checkMinimum('minUserInteractions', options.minUserInteractions ?? k);
  const minItem = checkMinimum('minItemInteractions', options.minItemInteractions ?? k);
  const n = log.user.length;
  const { order, userStart } = chronologicalOrder(log);
  const alive = new Uint8Array(n).fill(1);

  let duplicates = 0;
  if ((options.dedupe ?? 'session') === 'session') {
    // Key (session, item) within a user, where the session is the basket or, lacking one,
    // the timestamp; a Set per user keeps memory bounded by the longest history.
    const seen = new Set<number>();
    const sessionOfBasket = new Map<number, number>();
    const sessionOfTime = new Map<number, number>();
    const numItems = log.itemKeys.length;
    for (let u = 0; u + 1 < userStart.length; u++) {
      seen.clear();
      sessionOfBasket.clear();
      sessionOfTime.clear();
      for (let i = userStart[u]!; i < userStart[u + 1]!; i++) {
        const r = order[i]!;
        const byBasket = log.basket[r]! >= 0;
        const sessions = byBasket ? sessionOfBasket : sessionOfTime;
        const sessionKey = byBasket ? log.basket[r]! : log.time[r]!;
        let session = sessions.get(sessionKey);
        if (session === undefined) {
          session = sessionOfBasket.size + sessionOfTime.size;
          sessions.set(sessionKey, session);
        }
        const key = session * numItems + log.item[r]!;
        if (seen.has(key)) {
          alive[r] = 0;
          duplicates++;
        } else seen.add(key);
      }
    }
  }

  const beforeCore = n - duplicates;
  const rounds = kCoreFilter(log.user, log.item, alive, log.userKeys.length, log.itemKeys.length, minUser, minItem);
  let kept = 0;
  for (let r = 0; r < n; r++) kept += alive[r]!;

  // Ids by first interaction time, ties by key: canonical, so the same interactions give the
  // same ids whatever the row order of the file (a re-exported dataset reloads identically).
  const userFirst = new Float64Array(log.userKeys.length).fill(Infinity);
  const itemFirst = new Float64Array(log.itemKeys.length).fill(Infinity);
  for (let r = 0; r < n; r++) {
    if (!alive[r]) continue;
    const t = log.time[r]!;
    if (t < userFirst[log.user[r]!]!) userFirst[log.user[r]!] = t;
    if (t < itemFirst[log.item[r]!]!) itemFirst[log.item[r]!] = t;
  }
  const rankKeys = (first: Float64Array, keys: string[]) => {
    const present: number[] = [];
    first.forEach((t, i) => {
      if (t !== Infinity) present.push(i);
    });
    return present.sort((a, b) => first[a]! - first[b]! || (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  };
  const userId = new Int32Array(log.userKeys.length);
  const itemId = new Int32Array(log.itemKeys.length);
  const userKeys = [''];
  const itemKeys = [''];
  const titles = [''];
  const descriptions = [''];
  for (const u of rankKeys(userFirst, log.userKeys)) {
    userId[u] = userKeys.length;
    userKeys.push(log.userKeys[u]!);
  }
  for (const i of rankKeys(itemFirst, log.itemKeys)) {
    itemId[i] = itemKeys.length;
    itemKeys.push(log.itemKeys[i]!);
    titles.push(log.titles[i] ?? '');
    descriptions.push(log.descriptions[i] ?? '');
  }

  const numUsers = userKeys.length - 1;
  const offsets = new Int32Array(numUsers + 2);
  for (let u = 0; u + 1 < userStart.length; u++) {
    if (userId[u] === 0) continue;
    let count = 0;
    for (let i = userStart[u]!; i < userStart[u + 1]!; i++) count += alive[order[i]!]!;
    offsets[userId[u]! + 1] = count;
  }
  for (let u = 1; u <= numUsers; u++) offsets[u + 1]! += offsets[u]!;
  const items = new Int32Array(kept);
  const times = new Float64Array(kept);
  for (let u = 0; u + 1 < userStart.length; u++) {
    if (userId[u] === 0) continue;
    let w = offsets[userId[u]!]!;
    for (let i = userStart[u]!; i < userStart[u + 1]!; i++) {
      const r = order[i]!;
      if (!alive[r]) continue;
      items[w] = itemId[log.item[r]!]!;
      times[w++] = log.time[r]!;
    }
  }

  const lengths = new Int32Array(numUsers);
  for (let u = 1; u <= numUsers; u++) lengths[u - 1] = offsets[u + 1]! - offsets[u]!;
  lengths.sort();
  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < kept; i++) {
    if (times[i]! < first) first = times[i]!;
    if (times[i]! > last) last = times[i]!;
  }
  const numItems = itemKeys.length - 1;
  const iso = (t: number) => (Number.isFinite(t) && Math.abs(t) < 8.64e15 ? new Date(t).toISOString() : '');
  const summary: DatasetSummary = {
    name: options.name ?? 'dataset',
    users: numUsers,
    items: numItems,
    interactions: kept,
    density: numUsers && numItems ? kept / (numUsers * numItems) : 0,
    sequenceLength: {
      min: numUsers ? lengths[0]! : 0,
      max: numUsers ? lengths[numUsers - 1]! : 0,
      mean: numUsers ? kept / numUsers : 0,
      median: median(lengths),
    },
    timeSpan: [iso(first), iso(last)],
    removed: { duplicates, kCore: beforeCore - kept },
    kCoreRounds: rounds,
  };
  return new SequenceDataset({
    name: summary.name,
    userKeys,
    itemKeys,
    offsets,
    items,
    times,
    titles,
    descriptions,
    summary,
    loadReport: log.report,
  });
}
