// Preprocessing (chronological order, session dedupe, iterative k-core, id maps) and the
// prepared dataset: per-user item sequences as one Int32Array with offsets, ids from 1 with 0 as
// padding, the item text table and the split into train/valid/test (leave-one-out, or the one a
// sequence-split source gives).
import type { InteractionLog } from './log.js';
import type { LoadReport } from './text.js';
import { expectArgs, expectFields } from '../guard.js';

/** The item fields a source can provide for an item's text. */
export const itemTextFields = ['title', 'description', 'brand', 'category'] as const;
export type ItemTextField = (typeof itemTextFields)[number];

/**
 * Parses an item-text choice such as 'title', 'title+description' or 'title+brand+category'
 * (fields joined by '+', each once).
 */
export function parseItemText(spec: string): ItemTextField[] {
  expectArgs('parseItemText', { spec }, 'string');
  const fields = spec.split('+').map((f) => f.trim());
  for (const f of fields) {
    if (!(itemTextFields as readonly string[]).includes(f)) {
      throw new RangeError(
        `item text: unknown field '${f}' in '${spec}'; use fields from ${itemTextFields.join(', ')} joined by '+' (e.g. title+description)`,
      );
    }
  }
  if (new Set(fields).size !== fields.length) throw new RangeError(`item text: '${spec}' names a field twice`);
  return fields as ItemTextField[];
}

/** The values of `fields` that are not empty, joined by ', ' (A-LLMRec's "{title}, {description}"). */
export function composeItemText(fields: readonly ItemTextField[], values: Partial<Record<ItemTextField, string>>): string {
  expectArgs('composeItemText', { fields }, 'array');
  expectArgs('composeItemText', { values }, 'object');
  const parts: string[] = [];
  for (const f of fields) {
    const v = values[f];
    if (v) parts.push(v);
  }
  return parts.join(', ');
}

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
  /** The item fields that make up `texts` (default ['title']); each must be one the source has. */
  itemText?: ItemTextField[];
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
  /** Items whose title is not empty. */
  itemsWithTitle: number;
  /** What `texts` holds: the item fields joined, e.g. ['title', 'description']. */
  itemText: ItemTextField[];
  /** 'leave-one-out', or 'given' when the source carries its own train/valid/test split. */
  split: SplitKind;
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
  /** The item text by item id, from the fields in summary.itemText (default: the titles). */
  texts?: string[];
  summary: DatasetSummary;
  /** The load report of the source, when the dataset came from files. */
  loadReport?: LoadReport;
  /** The source's own split, when it has one (a sequence-split source); else leave-one-out. */
  givenSplit?: SplitPositions;
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
  readonly texts: string[];
  readonly summary: DatasetSummary;
  readonly loadReport?: LoadReport;
  readonly givenSplit?: SplitPositions;
  private splitMemo: SequenceSplit | undefined;

  constructor(parts: SequenceDatasetParts) {
    expectArgs('new SequenceDataset', { parts }, 'object');
    this.name = parts.name;
    this.userKeys = parts.userKeys;
    this.itemKeys = parts.itemKeys;
    this.offsets = parts.offsets;
    this.items = parts.items;
    this.times = parts.times;
    this.titles = parts.titles;
    this.descriptions = parts.descriptions;
    this.texts = parts.texts ?? parts.titles;
    this.summary = parts.summary;
    if (parts.loadReport) this.loadReport = parts.loadReport;
    if (parts.givenSplit) {
      this.givenSplit = parts.givenSplit;
      checkSplitPositions(this, parts.givenSplit);
    }
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

  /**
   * The split every model trains and evaluates on: the source's own train/valid/test rows when
   * it has them (a RecBole sequence split), else leave-one-out.
   */
  split(): SequenceSplit {
    this.splitMemo ??= this.givenSplit ? new SequenceSplit(this, this.givenSplit, 'given') : new LeaveOneOutSplit(this);
    return this.splitMemo;
  }

  /** The leave-one-out split (last item test, second-to-last validation). */
  leaveOneOut(): LeaveOneOutSplit {
    if (this.givenSplit) {
      throw new Error(
        `dataset ${this.name} comes with its own train/valid/test split; a leave-one-out split of it would ` +
          'evaluate on other rows than the files say. Use dataset.split(), which returns the given split',
      );
    }
    return new LeaveOneOutSplit(this);
  }

  private checkUser(user: number): void {
    if (!(Number.isInteger(user) && user >= 1 && user <= this.numUsers)) {
      throw new RangeError(`dataset ${this.name}: user id must be in 1..${this.numUsers}, got ${user}`);
    }
  }
}

export type SplitKind = 'leave-one-out' | 'given';

/**
 * Where each user's training items and evaluation histories lie in dataset.items (all indices
 * into it, end exclusive). A stage's target, when the user has one (> 0), is the item right after
 * its history: items[validEnd[u]] === validTarget[u].
 */
export interface SplitPositions {
  trainStart: Int32Array;
  trainEnd: Int32Array;
  validStart: Int32Array;
  validEnd: Int32Array;
  testStart: Int32Array;
  testEnd: Int32Array;
  /** Validation target per user id; 0 when the user has none. */
  validTarget: Int32Array;
  /** Test target per user id; 0 when the user has none. */
  testTarget: Int32Array;
}

export const splitPositionNames = [
  'trainStart',
  'trainEnd',
  'validStart',
  'validEnd',
  'testStart',
  'testEnd',
  'validTarget',
  'testTarget',
] as const satisfies readonly (keyof SplitPositions)[];

/** Throws when positions do not describe `dataset` (a corrupt cache or a builder bug). */
function checkSplitPositions(dataset: SequenceDataset, p: SplitPositions): void {
  const users = dataset.numUsers;
  for (const name of splitPositionNames) {
    if (p[name].length !== users + 1) {
      throw new Error(`dataset ${dataset.name}: split array ${name} has ${p[name].length} entries, expected ${users + 1}`);
    }
  }
  const { offsets, items } = dataset;
  for (let u = 1; u <= users; u++) {
    const lo = offsets[u]!;
    const hi = offsets[u + 1]!;
    const inside = (a: number, b: number) => lo <= a && a <= b && b <= hi;
    const targetOk = (end: number, target: number) => target === 0 || (end < hi && items[end] === target);
    if (
      !inside(p.trainStart[u]!, p.trainEnd[u]!) ||
      !inside(p.validStart[u]!, p.validEnd[u]!) ||
      !inside(p.testStart[u]!, p.testEnd[u]!) ||
      !targetOk(p.validEnd[u]!, p.validTarget[u]!) ||
      !targetOk(p.testEnd[u]!, p.testTarget[u]!)
    ) {
      throw new Error(`dataset ${dataset.name}: the split positions of user ${u} lie outside its sequence`);
    }
  }
}

/**
 * Which items of each user train the model, and which history and target validate and test it.
 * Every model, sampler and metric takes this one type, so a source's own split and
 * leave-one-out are evaluated the same way.
 */
export class SequenceSplit implements SplitPositions {
  readonly trainStart: Int32Array;
  /** End (exclusive, into dataset.items) of each user's training items. */
  readonly trainEnd: Int32Array;
  readonly validStart: Int32Array;
  readonly validEnd: Int32Array;
  readonly testStart: Int32Array;
  readonly testEnd: Int32Array;
  /** Validation target per user id; 0 when the user has none (training-only). */
  readonly validTarget: Int32Array;
  /** Test target per user id; 0 when the user has none (training-only). */
  readonly testTarget: Int32Array;

  constructor(
    readonly dataset: SequenceDataset,
    positions: SplitPositions,
    readonly kind: SplitKind,
  ) {
    expectArgs('new SequenceSplit', { dataset }, SequenceDataset);
    expectArgs('new SequenceSplit', { positions }, 'object');
    expectArgs('new SequenceSplit', { kind }, 'string');
    this.trainStart = positions.trainStart;
    this.trainEnd = positions.trainEnd;
    this.validStart = positions.validStart;
    this.validEnd = positions.validEnd;
    this.testStart = positions.testStart;
    this.testEnd = positions.testEnd;
    this.validTarget = positions.validTarget;
    this.testTarget = positions.testTarget;
  }

  /** User u's training items (a view). */
  train(user: number): Int32Array {
    return this.dataset.items.subarray(this.trainStart[user]!, this.trainEnd[user]!);
  }

  /**
   * The history a model sees when predicting the `stage` target (a view): for leave-one-out, the
   * training items for validation and the training items plus the validation item for test; for
   * a given split, the history its file holds.
   */
  history(user: number, stage: 'valid' | 'test'): Int32Array {
    return stage === 'valid'
      ? this.dataset.items.subarray(this.validStart[user]!, this.validEnd[user]!)
      : this.dataset.items.subarray(this.testStart[user]!, this.testEnd[user]!);
  }

  target(user: number, stage: 'valid' | 'test'): number {
    return (stage === 'valid' ? this.validTarget : this.testTarget)[user]!;
  }

  /** Users with a test target, ascending. */
  evaluationUsers(): Int32Array {
    const users: number[] = [];
    for (let u = 1; u <= this.dataset.numUsers; u++) if (this.testTarget[u]! > 0) users.push(u);
    return Int32Array.from(users);
  }
}

/**
 * Leave-one-out: for a user with n ≥ 3 items, items[0..n-2) train, item n-2 is the validation
 * target and item n-1 the test target. Users with fewer than 3 items are training-only (their
 * targets are 0), as in SASRec's data partition.
 */
export class LeaveOneOutSplit extends SequenceSplit {
  constructor(dataset: SequenceDataset) {
    super(dataset, leaveOneOutPositions(dataset), 'leave-one-out');
  }
}

function leaveOneOutPositions(dataset: SequenceDataset): SplitPositions {
  expectArgs('new LeaveOneOutSplit', { dataset }, SequenceDataset); // before super() reads it
  const size = dataset.numUsers + 1;
  const p = Object.fromEntries(splitPositionNames.map((name) => [name, new Int32Array(size)])) as unknown as SplitPositions;
  const { offsets, items } = dataset;
  for (let u = 1; u < size; u++) {
    const start = offsets[u]!;
    const end = offsets[u + 1]!;
    const trainEnd = end - start >= 3 ? end - 2 : end;
    p.trainStart[u] = p.validStart[u] = p.testStart[u] = start;
    p.trainEnd[u] = p.validEnd[u] = trainEnd;
    p.testEnd[u] = trainEnd;
    if (end - start >= 3) {
      p.validTarget[u] = items[end - 2]!;
      p.testTarget[u] = items[end - 1]!;
      p.testEnd[u] = end - 1;
    }
  }
  return p;
}

/**
 * Orders each user's rows chronologically; rows with equal times keep their file order. Returns
 * row indices grouped by user (in user-index order).
 */
/** The fields of an InteractionLog that the functions taking one read, for their argument checks. */
const logFields = {
  userKeys: 'array',
  itemKeys: 'array',
  user: Int32Array,
  item: Int32Array,
  time: Float64Array,
  titles: 'array',
} as const;

export function chronologicalOrder(log: InteractionLog): { order: Int32Array; userStart: Int32Array } {
  expectFields('chronologicalOrder', 'log', log, logFields);
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
  expectArgs('kCoreFilter', { user, item }, Int32Array);
  expectArgs('kCoreFilter', { alive }, Uint8Array);
  expectArgs('kCoreFilter', { numUsers, numItems, minUser, minItem }, 'integer');
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
  expectFields('prepareDataset', 'log', log, logFields);
  expectArgs('prepareDataset', { options }, 'options');
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
  // The default (titles) is what every source offers, even with no titles at all; an explicit
  // choice must name fields the source has.
  const itemText: ItemTextField[] = options.itemText ? checkItemText(log, options.itemText) : ['title'];
  const userId = new Int32Array(log.userKeys.length);
  const itemId = new Int32Array(log.itemKeys.length);
  const userKeys = [''];
  const itemKeys = [''];
  const titles = [''];
  const descriptions = [''];
  const texts = [''];
  for (const u of rankKeys(userFirst, log.userKeys)) {
    userId[u] = userKeys.length;
    userKeys.push(log.userKeys[u]!);
  }
  for (const i of rankKeys(itemFirst, log.itemKeys)) {
    itemId[i] = itemKeys.length;
    itemKeys.push(log.itemKeys[i]!);
    titles.push(log.titles[i] ?? '');
    descriptions.push(log.descriptions[i] ?? '');
    texts.push(
      composeItemText(itemText, {
        title: log.titles[i],
        description: log.descriptions[i],
        brand: log.brands?.[i],
        category: log.categories?.[i],
      }),
    );
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

  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < kept; i++) {
    if (times[i]! < first) first = times[i]!;
    if (times[i]! > last) last = times[i]!;
  }
  const iso = (t: number) =>
    !log.timeIsOrder && Number.isFinite(t) && Math.abs(t) < 8.64e15 ? new Date(t).toISOString() : '';
  const summary: DatasetSummary = {
    name: options.name ?? 'dataset',
    ...sequenceStatistics(offsets, itemKeys.length - 1),
    timeSpan: [iso(first), iso(last)],
    removed: { duplicates, kCore: beforeCore - kept },
    kCoreRounds: rounds,
    itemsWithTitle: countNonEmpty(titles),
    itemText,
    split: 'leave-one-out',
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
    texts,
    summary,
    loadReport: log.report,
  });
}

/** The counts of a summary that follow from the per-user offsets alone. */
export function sequenceStatistics(
  offsets: Int32Array,
  numItems: number,
): Pick<DatasetSummary, 'users' | 'items' | 'interactions' | 'density' | 'sequenceLength'> {
  expectArgs('sequenceStatistics', { offsets }, Int32Array);
  expectArgs('sequenceStatistics', { numItems }, 'integer');
  const numUsers = offsets.length - 2;
  const total = offsets[numUsers + 1]!;
  const lengths = new Int32Array(numUsers);
  for (let u = 1; u <= numUsers; u++) lengths[u - 1] = offsets[u + 1]! - offsets[u]!;
  lengths.sort();
  return {
    users: numUsers,
    items: numItems,
    interactions: total,
    density: numUsers && numItems ? total / (numUsers * numItems) : 0,
    sequenceLength: {
      min: numUsers ? lengths[0]! : 0,
      max: numUsers ? lengths[numUsers - 1]! : 0,
      mean: numUsers ? total / numUsers : 0,
      median: median(lengths),
    },
  };
}

export function countNonEmpty(strings: readonly string[]): number {
  expectArgs('countNonEmpty', { strings }, 'array');
  let n = 0;
  for (const s of strings) if (s !== '') n++;
  return n;
}

/** The item-text fields, checked against the fields the source provides. */
export function checkItemText(
  source: { textFields?: readonly ItemTextField[] },
  fields: readonly ItemTextField[],
): ItemTextField[] {
  expectArgs('checkItemText', { source }, 'object');
  expectArgs('checkItemText', { fields }, 'array');
  if (fields.length === 0) throw new RangeError('item text: name at least one field (e.g. title)');
  const available = source.textFields ?? ['title', 'description'];
  const missing = fields.filter((f) => !available.includes(f));
  if (missing.length > 0) {
    throw new RangeError(
      `item text: this source has no ${missing.join(' or ')} field; it provides ${available.join(', ')}`,
    );
  }
  return [...fields];
}
