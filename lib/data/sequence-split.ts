// Datasets that come split into train/valid/test files, read with the files' own split:
// - RecBole sequence splits, the layout of UniSRec, RecFormer and many LLM-rec papers:
//   `X.train.inter`, `X.valid.inter` and `X.test.inter` with the header
//   `user_id:token  item_id_list:token_seq  item_id:token` (a history and its next item per row),
//   plus `X.item2index` / `X.user2index` (raw id → the id the .inter files use, no header) and
//   `X.text` (`item_id:token  text:token_seq`, keyed by the raw id);
// - the Amazon Reviews 2023 benchmark splits (`X.train.csv`, `X.valid.csv`, `X.test.csv`:
//   user_id, parent_asin, rating, timestamp [, history]) that LLM-SRec starts from.
// Each user's rows are joined back into one sequence, checked row by row, and the valid/test
// rows become the targets and histories every model is evaluated on.
import { columnIndex, parseFile, tabParser, type FileParser, type LoadOptions, type RecBoleColumn } from './file-parser.js';
import {
  checkItemText,
  composeItemText,
  countNonEmpty,
  sequenceStatistics,
  SequenceDataset,
  splitPositionNames,
  type DatasetSummary,
  type ItemTextField,
  type SplitPositions,
} from './dataset.js';
import path from 'node:path';
import { readAmazon2023Meta, recboleNames } from './loaders.js';
import { parseTime } from './log.js';
import { DataFormatError, LoadReportBuilder, stripCompression } from './text.js';
import { expectArgs } from '../guard.js';

export interface RecBoleSplitFiles {
  train: string;
  valid: string;
  test: string;
  /** Item text (`item_id:token  text:token_seq`), keyed by the raw item id or by the index. */
  text?: string;
  /** `raw id<TAB>index` lines: the ids the .inter files use for items. */
  itemIndex?: string;
  /** `raw id<TAB>index` lines for users. */
  userIndex?: string;
}

export interface RecBoleSplitOptions extends LoadOptions {
  /** The dataset's name (default: the files' stem). */
  name?: string;
  /** The fields of `texts`; a sequence split has only a title (its .text). */
  itemText?: ItemTextField[];
}

/** A growable typed array. */
class GrowableArray<T extends Int32Array | Float64Array> {
  length = 0;
  constructor(public data: T) {}
  push(value: number): void {
    if (this.length === this.data.length) this.grow(this.length + 1);
    this.data[this.length++] = value;
  }
  /** Makes room for at least `min` values. */
  grow(min: number): void {
    if (min <= this.data.length) return;
    let size = this.data.length * 2;
    while (size < min) size *= 2;
    const next = new (this.data.constructor as new (n: number) => T)(size);
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
}

class IntList extends GrowableArray<Int32Array> {
  constructor() {
    super(new Int32Array(1024));
  }
}

/** One row of a split file: a user's history and the next item (internal item indices). */
interface SplitRow {
  history: Int32Array;
  target: number;
  /** The target's time (UTC ms), or NaN where the files have none. */
  time: number;
  line: number;
  text: string;
}

/** An id map read from an `X.item2index` or `X.user2index` file: index token → raw id. */
async function readIndex(file: string, reports: LoadReportBuilder, options: LoadOptions): Promise<Map<string, string>> {
  const byIndex = new Map<string, string>();
  const byRaw = new Map<string, number>();
  const parser: FileParser = {
    line: (text, line) => {
      if (parser.fatal !== undefined || text === '') return;
      const fields = text.split('\t');
      if (line === 1 && /:token$/.test(fields[0] ?? '')) return; // a RecBole-style header
      if (fields.length !== 2 || fields[0]!.trim() === '' || fields[1]!.trim() === '') {
        parser.fatal = `recbole-split loader: ${file} line ${line} is ${JSON.stringify(text.slice(0, 80))}; expected 'raw id<TAB>index'`;
        return;
      }
      const raw = fields[0]!.trim();
      const index = fields[1]!.trim();
      const earlier = byRaw.get(raw);
      if (earlier !== undefined) {
        parser.fatal = `recbole-split loader: ${file} maps '${raw}' twice (lines ${earlier} and ${line})`;
        return;
      }
      if (byIndex.has(index)) {
        parser.fatal = `recbole-split loader: ${file} gives index '${index}' to two ids ('${byIndex.get(index)}' and '${raw}', line ${line})`;
        return;
      }
      byRaw.set(raw, line);
      byIndex.set(index, raw);
    },
    end: () => {
      if (byIndex.size === 0 && parser.fatal === undefined) parser.fatal = `recbole-split loader: ${file} is empty`;
    },
  };
  await parseFile(file, parser, reports, options);
  return byIndex;
}

/** Index tokens in numeric order when they are all integers (0- or 1-based), else file order. */
function indexOrder(index: Map<string, string>): string[] {
  const tokens = [...index.keys()];
  if (tokens.every((t) => /^\d+$/.test(t))) tokens.sort((a, b) => Number(a) - Number(b));
  return tokens;
}

/**
 * Joins the rows of each user into one sequence. A row's history must end where the user's
 * sequence so far ends (it may start earlier, then its extra items are prepended; RecBole writes
 * histories cut to their last 50 items, so it may also start later); its target is appended.
 */
class SplitAssembler {
  private readonly pool = new IntList();
  // Each pooled item's time (NaN: unknown), aligned with the pool.
  private readonly timePool = new GrowableArray(new Float64Array(1024));
  // Per user (internal index), positions relative to the chain start.
  private chainStart = new IntList();
  private chainLength = new IntList();
  private trainFrom = new IntList();
  private trainEnd = new IntList();
  private validAt = new IntList();
  private validHistory = new IntList();
  private testAt = new IntList();
  private testHistory = new IntList();

  constructor(private readonly reports: LoadReportBuilder) {}

  addUser(): void {
    for (const list of [this.chainStart, this.chainLength, this.trainFrom, this.trainEnd, this.validHistory, this.testHistory]) {
      list.push(0);
    }
    this.validAt.push(-1);
    this.testAt.push(-1);
  }

  get users(): number {
    return this.chainStart.length;
  }

  chain(user: number): Int32Array {
    const start = this.chainStart.data[user]!;
    return this.pool.data.subarray(start, start + this.chainLength.data[user]!);
  }

  /** The times of chain(user)'s items (NaN where unknown). */
  chainTimes(user: number): Float64Array {
    const start = this.chainStart.data[user]!;
    return this.timePool.data.subarray(start, start + this.chainLength.data[user]!);
  }

  /** One training interaction appended to the user's sequence (files without histories). */
  appendTrain(user: number, item: number, time: number): void {
    this.reports.report.rowsRead++;
    this.reports.report.rowsKept++;
    this.append(user, item, time);
    this.trainEnd.data[user] = this.chainLength.data[user]!;
  }

  /** Training rows of one user, in any order the writers use; rows that do not fit are malformed. */
  addTrainRows(user: number, rows: SplitRow[], file: string): void {
    // RecBole/UniSRec write a user's rows longest history first; others shortest first. Put them
    // shortest first, keeping the writer's order among equal (cut) lengths.
    if (rows.length > 1 && rows[0]!.history.length > rows[rows.length - 1]!.history.length) rows.reverse();
    rows.sort((a, b) => a.history.length - b.history.length);
    for (const row of rows) {
      if (!this.alignHistory(user, row.history, true)) {
        this.reports.report.rowsRead++;
        this.reports.malformed(file, row.line, "history does not continue the user's earlier rows", row.text);
        continue;
      }
      this.reports.report.rowsRead++;
      this.reports.report.rowsKept++;
      this.append(user, row.target, row.time);
      this.trainEnd.data[user] = this.chainLength.data[user]!;
    }
  }

  /** The user's valid or test row (at most one each; the caller checks). */
  addStageRow(user: number, stage: 'valid' | 'test', row: SplitRow, file: string): void {
    this.reports.report.rowsRead++;
    if (!this.alignHistory(user, row.history, false)) {
      this.reports.malformed(
        file,
        row.line,
        `${stage} history does not end with the user's ${stage === 'valid' ? 'training items' : 'training and validation items'}`,
        row.text,
      );
      return;
    }
    this.reports.report.rowsKept++;
    const at = this.chainLength.data[user]!;
    if (stage === 'valid') {
      this.validAt.data[user] = at;
      this.validHistory.data[user] = row.history.length;
    } else {
      this.testAt.data[user] = at;
      this.testHistory.data[user] = row.history.length;
    }
    this.append(user, row.target, row.time);
  }

  hasStage(user: number, stage: 'valid' | 'test'): boolean {
    return (stage === 'valid' ? this.validAt : this.testAt).data[user]! >= 0;
  }

  /**
   * Checks that `history` ends where the user's chain ends; prepends the part of a longer
   * history that the chain lacks (training items for a training row, else history only).
   */
  private alignHistory(user: number, history: Int32Array, training: boolean): boolean {
    const chain = this.chain(user);
    const overlap = Math.min(history.length, chain.length);
    for (let k = 1; k <= overlap; k++) {
      if (history[history.length - k] !== chain[chain.length - k]) return false;
    }
    const extra = history.length - chain.length;
    if (extra > 0) {
      // Stage rows may not reach behind a chain that holds a stage target already.
      if (!training && (this.validAt.data[user]! >= 0 || this.testAt.data[user]! >= 0)) return false;
      this.relocate(user, history.subarray(0, extra));
      if (training) this.trainEnd.data[user]! += extra;
      else {
        this.trainFrom.data[user]! += extra;
        this.trainEnd.data[user]! += extra;
      }
    }
    return true;
  }

  /** Moves the user's chain to the end of the pool, after `prefix` (whose times are unknown). */
  private relocate(user: number, prefix: Int32Array): void {
    const old = this.chain(user).slice();
    const oldTimes = this.chainTimes(user).slice();
    const start = this.pool.length;
    const length = prefix.length + old.length;
    this.pool.grow(start + length + 1);
    this.timePool.grow(start + length + 1);
    this.pool.data.set(prefix, start);
    this.pool.data.set(old, start + prefix.length);
    this.timePool.data.fill(NaN, start, start + prefix.length);
    this.timePool.data.set(oldTimes, start + prefix.length);
    this.pool.length = start + length;
    this.timePool.length = start + length;
    this.chainStart.data[user] = start;
    this.chainLength.data[user] = length;
  }

  private append(user: number, item: number, time: number): void {
    const start = this.chainStart.data[user]!;
    const length = this.chainLength.data[user]!;
    if (start + length !== this.pool.length || length === 0) {
      if (length === 0) this.chainStart.data[user] = this.pool.length;
      else this.relocate(user, new Int32Array(0));
    }
    this.pool.push(item);
    this.timePool.push(time);
    this.chainLength.data[user]!++;
  }

  /** The user's positions, relative to the chain start. */
  positions(user: number) {
    return {
      length: this.chainLength.data[user]!,
      trainFrom: this.trainFrom.data[user]!,
      trainEnd: this.trainEnd.data[user]!,
      validAt: this.validAt.data[user]!,
      validHistory: this.validHistory.data[user]!,
      testAt: this.testAt.data[user]!,
      testHistory: this.testHistory.data[user]!,
    };
  }
}

const knownSplitColumns = ['item_length', 'timestamp', 'timestamp_list', 'rating'];

/** The user, history and target columns of a split file's header, or a refusal. */
function splitColumns(file: string, columns: readonly RecBoleColumn[]): { user: number; list: number; target: number } | string {
  const names = columns.map((c) => c.name);
  const user = columnIndex(names, ['user_id', 'session_id']);
  const list = columnIndex(names, ['item_id_list']);
  const target = columnIndex(names, recboleNames.item);
  if (list < 0 || user < 0 || target < 0) {
    return (
      `recbole-split loader: ${file} has columns [${columns.map((c) => `${c.name}:${c.type}`).join(', ')}]; a sequence-split ` +
      'file needs user_id (or session_id), item_id_list:token_seq and item_id' +
      (list < 0 && user >= 0 && target >= 0 ? ' (this is an atomic .inter file: use --format recbole)' : '')
    );
  }
  const unknown = columns.filter(
    (c, i) => i !== list && (c.type.endsWith('_seq') || c.name.endsWith('_list')) && !knownSplitColumns.includes(c.name),
  );
  if (unknown.length > 0) {
    return `recbole-split loader: ${file} has sequence columns llmrec does not understand (${unknown.map((c) => `${c.name}:${c.type}`).join(', ')})`;
  }
  return { user, list, target };
}

/** The files' common stem: 'Scientific' for Scientific.train.inter. */
export function splitStem(file: string): string {
  expectArgs('splitStem', { file }, 'string');
  return stripCompression(file).replace(/\.(train|valid|test)\.(inter|csv)$|\.(text|item2index|user2index)$/, '');
}

/**
 * Loads a RecBole sequence split as a dataset whose split() is the files' own: training items
 * from the .train rows (histories and targets, joined per user), the .valid and .test rows as
 * the targets and histories every model is evaluated on. Ids go through .item2index and
 * .user2index when given (an id missing from them is refused: the files do not belong together),
 * and .text gives each item's title. There is no k-core or rating filter: the split is final.
 */
export async function loadRecBoleSplit(files: RecBoleSplitFiles, options: RecBoleSplitOptions = {}): Promise<SequenceDataset> {
  expectArgs('loadRecBoleSplit', { files }, 'object');
  expectArgs('loadRecBoleSplit', { options }, 'options');
  if (options.minRating !== undefined) {
    throw new Error('recbole-split loader: a sequence split has no ratings, so a minimum rating cannot apply');
  }
  const reports = new LoadReportBuilder(options.maxExamples);
  const itemIndex = files.itemIndex ? await readIndex(files.itemIndex, reports, options) : undefined;
  const userIndex = files.userIndex ? await readIndex(files.userIndex, reports, options) : undefined;

  // Items and users by internal index; with an index file, in its order, so that ids match the
  // index files (and any embedding table written in that order).
  const itemKeys: string[] = [];
  const itemOfToken = new Map<string, number>();
  if (itemIndex) {
    for (const token of indexOrder(itemIndex)) {
      itemOfToken.set(token, itemKeys.length);
      itemKeys.push(itemIndex.get(token)!);
    }
  }
  const userKeys: string[] = [];
  const userOfToken = new Map<string, number>();
  const assembler = new SplitAssembler(reports);
  if (userIndex) {
    for (const token of indexOrder(userIndex)) {
      userOfToken.set(token, userKeys.length);
      userKeys.push(userIndex.get(token)!);
      assembler.addUser();
    }
  }
  const unknownId = (kind: 'item' | 'user', token: string, file: string, line: number, indexFile: string, size: number) =>
    new DataFormatError(
      `recbole-split loader: ${file} line ${line} has ${kind} id '${token}', which is not in ${indexFile} ` +
        `(${size.toLocaleString('en-US')} ids); the .inter and index files do not belong together`,
    );
  const item = (token: string, file: string, line: number): number => {
    let i = itemOfToken.get(token);
    if (i === undefined) {
      if (itemIndex) throw unknownId('item', token, file, line, files.itemIndex!, itemIndex.size);
      i = itemKeys.length;
      itemOfToken.set(token, i);
      itemKeys.push(token);
    }
    return i;
  };
  const user = (token: string, file: string, line: number): number => {
    let u = userOfToken.get(token);
    if (u === undefined) {
      if (userIndex) throw unknownId('user', token, file, line, files.userIndex!, userIndex.size);
      u = userKeys.length;
      userOfToken.set(token, u);
      userKeys.push(token);
      assembler.addUser();
    }
    return u;
  };

  const readSplitFile = async (file: string, onRow: (user: number, row: SplitRow) => void, onEnd: () => void) => {
    let columns: { user: number; list: number; target: number } | undefined;
    const parser = tabParser(
      file,
      reports,
      (header) => {
        const found = splitColumns(file, header);
        if (typeof found === 'string') return found;
        columns = found;
        return undefined;
      },
      (fields, line, text) => {
        const c = columns!;
        const tokens = fields[c.list]!.trim();
        const list = tokens === '' ? [] : tokens.split(' ');
        const history = new Int32Array(list.length);
        for (let k = 0; k < list.length; k++) {
          if (list[k] === '') throw new DataFormatError(`recbole-split loader: ${file} line ${line} has an empty id in item_id_list`);
          history[k] = item(list[k]!, file, line);
        }
        const target = fields[c.target]!.trim();
        if (target === '') {
          reports.report.rowsRead++;
          return reports.malformed(file, line, 'empty item_id', text);
        }
        onRow(user(fields[c.user]!.trim(), file, line), {
          history,
          target: item(target, file, line),
          time: NaN,
          line,
          text,
        });
      },
    );
    const end = parser.end;
    parser.end = () => {
      end();
      if (parser.fatal === undefined) onEnd();
    };
    await parseFile(file, parser, reports, options);
  };

  // Training rows: buffered per run of one user's rows, then joined.
  let current = -1;
  let rows: SplitRow[] = [];
  const flush = () => {
    if (current >= 0) assembler.addTrainRows(current, rows, files.train);
    rows = [];
  };
  await readSplitFile(
    files.train,
    (u, row) => {
      if (u !== current) {
        flush();
        current = u;
      }
      rows.push(row);
    },
    flush,
  );
  for (const stage of ['valid', 'test'] as const) {
    const file = files[stage];
    const lines = new Map<number, number>();
    await readSplitFile(
      file,
      (u, row) => {
        if (assembler.hasStage(u, stage) || lines.has(u)) {
          throw new DataFormatError(
            `recbole-split loader: ${file} has more than one row for user '${userKeys[u]}' (lines ${lines.get(u)} and ${row.line}); ` +
              `llmrec evaluates one ${stage} target per user`,
          );
        }
        lines.set(u, row.line);
        assembler.addStageRow(u, stage, row, file);
      },
      () => {},
    );
  }

  const titles = new Array<string>(itemKeys.length).fill('');
  const descriptions = new Array<string>(itemKeys.length).fill('');
  if (files.text) {
    const byIndexToken = itemIndex ? (token: string) => itemOfToken.get(token) : undefined;
    await readItemText(files.text, itemKeys, byIndexToken, titles, descriptions, reports, options);
  }

  const dataset = assemble(assembler, userKeys, itemKeys, { titles, descriptions }, {
    name: options.name ?? splitStem(files.train).split(/[\\/]/).pop()!,
    itemText: options.itemText ? checkItemText({ textFields: files.text ? ['title'] : [] }, options.itemText) : ['title'],
    report: reports,
  });
  return dataset;
}

/**
 * Reads X.text into titles (and descriptions, when it has that column), by internal item index.
 * UniSRec keys it by the raw id; a file keyed by the index ids instead is recognised and said so.
 */
async function readItemText(
  file: string,
  itemKeys: readonly string[],
  itemOfIndexToken: ((token: string) => number | undefined) | undefined,
  titles: string[],
  descriptions: string[],
  reports: LoadReportBuilder,
  options: LoadOptions,
): Promise<void> {
  const rows = new Map<string, [string, string]>();
  let id = -1;
  let text = -1;
  let description = -1;
  await parseFile(
    file,
    tabParser(
      file,
      reports,
      (columns) => {
        const names = columns.map((c) => c.name);
        id = columnIndex(names, recboleNames.item);
        text = columnIndex(names, ['text', ...recboleNames.title]);
        description = columnIndex(names, recboleNames.description);
        if (id < 0 || text < 0) {
          return `recbole-split loader: ${file} has columns [${names.join(', ')}]; an item text file needs item_id and text (or title)`;
        }
        return undefined;
      },
      (fields) => {
        const key = fields[id]!.trim();
        if (rows.has(key)) return reports.drop('repeated text row');
        rows.set(key, [fields[text]!.trim(), description >= 0 ? fields[description]!.trim() : '']);
      },
    ),
    reports,
    options,
  );
  const itemOfRaw = new Map(itemKeys.map((key, i) => [key, i]));
  let byRaw = 0;
  let byIndex = 0;
  for (const key of rows.keys()) {
    if (itemOfRaw.has(key)) byRaw++;
    if (itemOfIndexToken?.(key) !== undefined) byIndex++;
  }
  const keyedByIndex = byRaw === 0 && byIndex > 0;
  if (keyedByIndex) reports.note(`${file} is keyed by the index ids of the .inter files, not by the raw ids`);
  for (const [key, [title, desc]] of rows) {
    const item = keyedByIndex ? itemOfIndexToken!(key) : itemOfRaw.get(key);
    if (item === undefined) {
      reports.drop('text row for an item not in the split');
      continue;
    }
    titles[item] = title;
    descriptions[item] = desc;
  }
  const missing: string[] = [];
  let missingCount = 0;
  for (let i = 0; i < itemKeys.length; i++) {
    if (titles[i] === '') {
      missingCount++;
      if (missing.length < 3) missing.push(itemKeys[i]!);
    }
  }
  if (missingCount > 0) {
    reports.note(
      `${missingCount.toLocaleString('en-US')} of ${itemKeys.length.toLocaleString('en-US')} items have no text in ${file} ` +
        `(e.g. ${missing.join(', ')}); their titles are empty`,
    );
  }
}

/** Item text fields by internal item index; brands and categories where the source has them. */
interface ItemTextColumns {
  titles: string[];
  descriptions: string[];
  brands?: string[];
  categories?: string[];
}

/**
 * The dataset and its given split from the assembled chains (users without rows are left out).
 * The items' times are the files' when every item has one, else their positions.
 */
function assemble(
  assembler: SplitAssembler,
  rawUserKeys: readonly string[],
  rawItemKeys: readonly string[],
  text: ItemTextColumns,
  meta: { name: string; itemText: ItemTextField[]; report: LoadReportBuilder },
): SequenceDataset {
  const present: number[] = [];
  let total = 0;
  for (let u = 0; u < assembler.users; u++) {
    const length = assembler.positions(u).length;
    if (length > 0) {
      present.push(u);
      total += length;
    }
  }
  const numUsers = present.length;
  const offsets = new Int32Array(numUsers + 2);
  const items = new Int32Array(total);
  const times = new Float64Array(total);
  let timed = true;
  for (const internal of present) for (const t of assembler.chainTimes(internal)) if (!Number.isFinite(t)) timed = false;
  const p = Object.fromEntries(splitPositionNames.map((name) => [name, new Int32Array(numUsers + 1)])) as unknown as SplitPositions;
  let w = 0;
  present.forEach((internal, k) => {
    const u = k + 1;
    const chain = assembler.chain(internal);
    const chainTimes = assembler.chainTimes(internal);
    const at = assembler.positions(internal);
    offsets[u] = w;
    for (let i = 0; i < chain.length; i++) {
      items[w + i] = chain[i]! + 1;
      // Without times (a RecBole split), the position in the sequence stands for them.
      times[w + i] = timed ? chainTimes[i]! : i;
    }
    p.trainStart[u] = w + at.trainFrom;
    p.trainEnd[u] = w + at.trainEnd;
    if (at.validAt >= 0) {
      p.validStart[u] = w + at.validAt - at.validHistory;
      p.validEnd[u] = w + at.validAt;
      p.validTarget[u] = chain[at.validAt]! + 1;
    } else {
      p.validStart[u] = p.trainStart[u]!;
      p.validEnd[u] = p.trainEnd[u]!;
    }
    if (at.testAt >= 0) {
      p.testStart[u] = w + at.testAt - at.testHistory;
      p.testEnd[u] = w + at.testAt;
      p.testTarget[u] = chain[at.testAt]! + 1;
    } else {
      p.testStart[u] = p.validStart[u]!;
      p.testEnd[u] = at.validAt >= 0 ? w + at.validAt + 1 : p.trainEnd[u]!;
    }
    w += chain.length;
  });
  offsets[numUsers + 1] = w;
  const userKeys = ['', ...present.map((u) => rawUserKeys[u]!)];
  const itemKeys = ['', ...rawItemKeys];
  const titles = ['', ...text.titles];
  const descriptions = ['', ...text.descriptions];
  const texts = titles.map((title, i) =>
    composeItemText(meta.itemText, {
      title,
      description: descriptions[i],
      brand: text.brands?.[i - 1],
      category: text.categories?.[i - 1],
    }),
  );
  let first = Infinity;
  let last = -Infinity;
  if (timed) {
    for (const t of times) {
      if (t < first) first = t;
      if (t > last) last = t;
    }
  }
  const iso = (t: number) => (Number.isFinite(t) ? new Date(t).toISOString() : '');
  const summary: DatasetSummary = {
    name: meta.name,
    ...sequenceStatistics(offsets, rawItemKeys.length),
    timeSpan: [iso(first), iso(last)],
    removed: { duplicates: 0, kCore: 0 },
    kCoreRounds: 0,
    itemsWithTitle: countNonEmpty(titles),
    itemText: meta.itemText,
    split: 'given',
  };
  return new SequenceDataset({
    name: meta.name,
    userKeys,
    itemKeys,
    offsets,
    items,
    times,
    titles,
    descriptions,
    texts,
    summary,
    loadReport: meta.report.report,
    givenSplit: p,
  });
}

export interface Amazon2023SplitFiles {
  train: string;
  valid: string;
  test: string;
  /** meta_<Category>.jsonl: titles, descriptions, stores, categories. */
  meta?: string;
}

/**
 * Loads an Amazon Reviews 2023 benchmark split (`<Category>.train.csv`, `.valid.csv`,
 * `.test.csv`, from `benchmark/<k>core/last_out[_w_his]`): user_id, parent_asin, rating,
 * timestamp (ms) and, in the `_w_his` files, the history (space-separated parent_asins), which
 * is checked against the user's earlier rows. Training rows are ordered by time per user; the
 * valid and test rows are the targets, their history the user's items before them. The meta
 * file gives the item text. As with every given split, no k-core or rating filter applies.
 */
export async function loadAmazon2023Split(files: Amazon2023SplitFiles, options: RecBoleSplitOptions = {}): Promise<SequenceDataset> {
  expectArgs('loadAmazon2023Split', { files }, 'object');
  expectArgs('loadAmazon2023Split', { options }, 'options');
  if (options.minRating !== undefined) {
    throw new Error(
      'amazon-2023-split loader: the split is final, so a minimum rating cannot apply (filtering rows would change it)',
    );
  }
  const reports = new LoadReportBuilder(options.maxExamples);
  const assembler = new SplitAssembler(reports);
  const userKeys: string[] = [];
  const userOf = new Map<string, number>();
  const itemKeys: string[] = [];
  const itemOf = new Map<string, number>();
  const user = (key: string) => {
    let u = userOf.get(key);
    if (u === undefined) {
      u = userKeys.length;
      userOf.set(key, u);
      userKeys.push(key);
      assembler.addUser();
    }
    return u;
  };
  const item = (key: string) => {
    let i = itemOf.get(key);
    if (i === undefined) {
      i = itemKeys.length;
      itemOf.set(key, i);
      itemKeys.push(key);
    }
    return i;
  };

  /** Reads one split file; rows go to onRow with the history when the file has one. */
  const readCsv = async (
    file: string,
    onRow: (u: number, target: number, time: number, history: Int32Array | undefined, line: number, text: string) => void,
  ) => {
    let columns: { user: number; item: number; time: number; history: number; width: number } | undefined;
    const parser: FileParser = {
      line: (text, line) => {
        if (parser.fatal !== undefined || text === '') return;
        const fields = text.split(',');
        if (!columns) {
          const names = fields.map((f) => f.trim());
          const at = (name: string) => names.indexOf(name);
          if (at('user_id') < 0 || at('parent_asin') < 0 || at('timestamp') < 0) {
            parser.fatal =
              `amazon-2023-split loader: ${file} starts with ${JSON.stringify(text.slice(0, 80))}; ` +
              'expected the header user_id,parent_asin,rating,timestamp[,history] of the Amazon Reviews 2023 benchmark files';
            return;
          }
          columns = { user: at('user_id'), item: at('parent_asin'), time: at('timestamp'), history: at('history'), width: names.length };
          return;
        }
        if (fields.length !== columns.width) {
          reports.report.rowsRead++;
          return reports.malformed(file, line, `expected ${columns.width} fields, got ${fields.length}`, text);
        }
        const userKey = fields[columns.user]!.trim();
        const itemKey = fields[columns.item]!.trim();
        const time = parseTime(fields[columns.time]!, 'auto');
        if (userKey === '' || itemKey === '' || !Number.isFinite(time)) {
          reports.report.rowsRead++;
          return reports.malformed(file, line, 'empty user_id or parent_asin, or a bad timestamp', text);
        }
        let history: Int32Array | undefined;
        if (columns.history >= 0) {
          const tokens = fields[columns.history]!.trim();
          history = Int32Array.from(tokens === '' ? [] : tokens.split(' ').filter(Boolean), item);
        }
        onRow(user(userKey), item(itemKey), time, history, line, text);
      },
      end: () => {
        if (!columns && parser.fatal === undefined) parser.fatal = `amazon-2023-split loader: ${file} is empty (no header)`;
      },
    };
    await parseFile(file, parser, reports, options);
  };

  // Training rows, per user, in time order (ties in file order); with histories, checked.
  const training = new Map<number, { rows: SplitRow[]; plain: { item: number; time: number }[] }>();
  await readCsv(files.train, (u, target, time, history, line, text) => {
    let entry = training.get(u);
    if (!entry) training.set(u, (entry = { rows: [], plain: [] }));
    if (history) entry.rows.push({ history, target, time, line, text });
    else entry.plain.push({ item: target, time });
  });
  for (const [u, { rows, plain }] of training) {
    // Rows with histories are put in time order; the histories must then grow row by row.
    if (rows.length > 0) assembler.addTrainRows(u, rows.sort((a, b) => a.time - b.time), files.train);
    plain.sort((a, b) => a.time - b.time);
    for (const { item: i, time } of plain) assembler.appendTrain(u, i, time);
  }
  for (const stage of ['valid', 'test'] as const) {
    const file = files[stage];
    const lines = new Map<number, number>();
    await readCsv(file, (u, target, time, history, line, text) => {
      if (lines.has(u)) {
        throw new DataFormatError(
          `amazon-2023-split loader: ${file} has more than one row for user '${userKeys[u]}' (lines ${lines.get(u)} and ${line}); ` +
            `llmrec evaluates one ${stage} target per user`,
        );
      }
      lines.set(u, line);
      // Without a history column, the history is every earlier item of the user.
      assembler.addStageRow(u, stage, { history: history ?? assembler.chain(u).slice(), target, time, line, text }, file);
    });
  }

  const text: ItemTextColumns = {
    titles: new Array<string>(itemKeys.length).fill(''),
    descriptions: new Array<string>(itemKeys.length).fill(''),
    brands: new Array<string>(itemKeys.length).fill(''),
    categories: new Array<string>(itemKeys.length).fill(''),
  };
  if (files.meta) {
    await readAmazon2023Meta(
      files.meta,
      (key) => itemOf.get(key),
      (i, values) => {
        text.titles[i] = values.title;
        text.descriptions[i] = values.description;
        text.brands![i] = values.brand;
        text.categories![i] = values.category;
      },
      reports,
      options,
    );
  }
  const textFields: ItemTextField[] = files.meta ? ['title', 'description', 'brand', 'category'] : [];
  return assemble(assembler, userKeys, itemKeys, text, {
    name: options.name ?? path.basename(splitStem(files.train)),
    itemText: options.itemText ? checkItemText({ textFields }, options.itemText) : ['title'],
    report: reports,
  });
}
