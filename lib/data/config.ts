// Which dataset a run reads and how it is prepared, as one plain config that every command and
// pipeline embeds (and that a --config file can hold), with the one function that loads it and
// the lines that tell the user what the load kept and dropped.
import path from 'node:path';
import { parseItemText, SequenceDataset, type PrepareOptions } from './dataset.js';
import { resolveSource, sourceFiles, type DatasetSource } from './formats.js';
import type { ColumnMap } from './loaders.js';
import { embeddedSource, loadDataset, type EmbeddedPeriod, type LoadDatasetOptions, type LoadedDataset } from './source.js';
import { expectArgs, expectFields } from '../guard.js';

/** The dataset fields of a run's config. Every field is optional; the defaults are below. */
export interface DatasetConfig {
  /** A dataset file or folder; absent: the embedded Online Retail set (`period`). */
  path?: string;
  /** A name from datasetFormats (or an alias), or 'auto' (default) to detect it. */
  format?: string;
  /**
   * Iterative k-core minimum for users and items. Default 5 for raw interactions; a sequence
   * split keeps its own rows and refuses a k-core above 1.
   */
  kCore?: number;
  /** Drop interactions rated below this (sources with ratings only). */
  minRating?: number;
  /** The item fields of an item's text: 'title' (default), 'title+description', ... */
  itemText?: string;
  /** Keep the rows read before a source error (truncated file) instead of failing. */
  allowPartial?: boolean;
  /** An Amazon metadata file that is not the usual meta_<Category> sibling. */
  meta?: string;
  /** A RecBole .item file that is not the usual sibling. */
  itemFile?: string;
  /** Column names of a generic table (csv, tsv, jsonl formats). */
  columns?: ColumnMap;
  /** Session dedupe (default 'session'; 'none' for the embedded set, deduped already). */
  dedupe?: 'session' | 'none';
  /** Online Retail: keep postage, fees and vouchers. */
  keepNonProducts?: boolean;
  /** Amazon 2014/2018: keep items without a title (default: dropped, as the papers do). */
  keepUntitled?: boolean;
  /** The embedded period when `path` is absent (default 2010-2011). */
  period?: EmbeddedPeriod;
  /** The dataset's name in summaries (default: from the files). */
  name?: string;
  /** The cache folder, or false for none (default: defaultCacheDir()). */
  cache?: string | false;
}

export interface LoadDatasetHooks {
  onProgress?: (file: string, bytes: number) => void;
  /** Malformed rows kept as examples (default 20). */
  maxExamples?: number;
}

/** The source a config names (its files detected or given), before anything is read. */
export async function datasetSourceOf(config: DatasetConfig): Promise<DatasetSource> {
  expectArgs('datasetSourceOf', { config }, 'object');
  if (config.path === undefined) {
    if (config.format !== undefined && config.format !== 'auto') {
      throw new Error(`data: --format ${config.format} needs a dataset path (--data FILE|DIR)`);
    }
    return embeddedSource(config.period ?? '2010-2011');
  }
  const source = await resolveSource(config.path, {
    ...(config.format !== undefined ? { format: config.format } : {}),
    ...(config.columns ? { columns: config.columns } : {}),
    ...(config.meta ? { meta: config.meta } : {}),
    ...(config.itemFile ? { itemFile: config.itemFile } : {}),
  });
  if (source.kind === 'online-retail' && config.keepNonProducts) source.dropNonProducts = false;
  if ((source.kind === 'amazon-2014' || source.kind === 'amazon-2018') && config.keepUntitled) source.keepUntitled = true;
  return source;
}

/**
 * Loads the dataset a config names: detects the source, reads it (streamed, through the binary
 * cache), prepares it (k-core, dedupe, rating filter, item text) and refuses what it cannot read
 * correctly. The result's split() is what every model trains and evaluates on.
 */
export async function loadDatasetFromConfig(config: DatasetConfig = {}, hooks: LoadDatasetHooks = {}): Promise<LoadedDataset> {
  expectArgs('loadDatasetFromConfig', { config, hooks }, 'options');
  const source = await datasetSourceOf(config);
  const embedded = config.path === undefined;
  const prepare: PrepareOptions = {};
  // The embedded set is 5-core and deduped already; preparing it again keeps it as shipped.
  if (config.kCore !== undefined) prepare.kCore = config.kCore;
  else if (embedded) prepare.kCore = 5;
  const dedupe = config.dedupe ?? (embedded ? 'none' : undefined);
  if (dedupe) prepare.dedupe = dedupe;
  if (config.name) prepare.name = config.name;
  else if (embedded) prepare.name = `online-retail-${config.period ?? '2010-2011'}`;
  // 'title' is the default and every source has it (perhaps empty); other fields are checked.
  if (config.itemText !== undefined && config.itemText !== 'title') prepare.itemText = parseItemText(config.itemText);
  const options: LoadDatasetOptions = { prepare };
  if (config.cache !== undefined) options.cache = config.cache;
  if (config.minRating !== undefined) options.minRating = config.minRating;
  if (config.allowPartial) options.allowPartial = true;
  if (hooks.onProgress) options.onProgress = hooks.onProgress;
  if (hooks.maxExamples !== undefined) options.maxExamples = hooks.maxExamples;
  return loadDataset(source, options);
}

const count = (n: number) => n.toLocaleString('en-US');

function reasons(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([reason, n]) => `${reason} (${count(n)})`)
    .join(', ');
}

/**
 * What a load read, kept and dropped, as lines for a command's stderr: the dataset, dropped and
 * malformed rows (with a few file:line examples), k-core removals, notes, and any source error
 * of a partial read as a warning.
 */
export function describeLoad(loaded: LoadedDataset, maxExamples = 3): string[] {
  expectFields('describeLoad', 'loaded', loaded, { dataset: SequenceDataset, source: 'object' });
  const { dataset, source } = loaded;
  const s = dataset.summary;
  const files = sourceFiles(source)
    .map((f) => path.basename(f))
    .join(', ');
  const lines = [
    `data: ${s.name} (${source.kind}: ${files}${loaded.fromCache ? '; from the cache' : ''}): ${count(s.users)} users, ` +
      `${count(s.items)} items (${count(s.itemsWithTitle)} with a title), ${count(s.interactions)} interactions; ` +
      (s.split === 'given' ? 'train/valid/test as the files give them' : 'leave-one-out split'),
  ];
  const report = dataset.loadReport;
  if (report) {
    let line = `data: read ${count(report.rowsRead)} rows, kept ${count(report.rowsKept)}`;
    if (Object.keys(report.dropped).length > 0) line += `; dropped: ${reasons(report.dropped)}`;
    if (report.malformedCount > 0) {
      const examples = report.examples.slice(0, maxExamples).map((e) => `${path.basename(e.file)}:${e.line}`);
      line += `; malformed: ${count(report.malformedCount)} (${reasons(report.malformed)}), e.g. ${examples.join(', ')}`;
    }
    lines.push(line);
  }
  if (s.removed.kCore > 0 || s.removed.duplicates > 0) {
    const parts: string[] = [];
    if (s.removed.duplicates > 0) parts.push(`${count(s.removed.duplicates)} repeated rows in one session removed`);
    if (s.removed.kCore > 0) parts.push(`the k-core removed ${count(s.removed.kCore)} interactions in ${s.kCoreRounds} rounds`);
    lines.push(`data: ${parts.join('; ')}`);
  }
  for (const note of report?.notes ?? []) lines.push(`data: note: ${note}`);
  for (const error of report?.sourceErrors ?? []) {
    lines.push(
      `WARNING data: ${error}: the file was read only in part (--allow-partial); the dataset holds only the rows before the error`,
    );
  }
  return lines;
}
