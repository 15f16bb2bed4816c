// One entry point from "a file or a named source" to a prepared, cached dataset, plus the
// embedded default dataset (Online Retail, cleaned and 5-core, in the package's data/ folder).
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { loadAmazonReviews2018 } from './amazon.js';
import { cacheKey, defaultCacheDir, readDatasetCache, writeDatasetCache } from './cache.js';
import { prepareDataset, type PrepareOptions, type SequenceDataset } from './dataset.js';
import { resolveSource, sourceFiles, type DatasetSource } from './formats.js';
import type { InteractionLog } from './log.js';
import { loadAmazonReviews, loadOnlineRetail, loadRecBole, loadTable, type LoadOptions } from './loaders.js';
import { loadMovieLens } from './movielens.js';
import { loadAmazon2023Split, loadRecBoleSplit, splitStem } from './sequence-split.js';
import { stripCompression } from './text.js';
import { expectArgs } from '../guard.js';

/**
 * Runs the loader of an interaction-log source. A sequence split is not a log (it carries its
 * own split): loadDataset reads it.
 */
export function loadLog(source: DatasetSource, options: LoadOptions = {}): Promise<InteractionLog> {
  expectArgs('loadLog', { source }, 'object');
  expectArgs('loadLog', { options }, 'options');
  switch (source.kind) {
    case 'online-retail':
      return loadOnlineRetail(source.file, { ...options, dropNonProducts: source.dropNonProducts ?? true });
    case 'amazon-2023':
      return loadAmazonReviews(source.meta ? { reviews: source.reviews, meta: source.meta } : { reviews: source.reviews }, options);
    case 'amazon-2018':
    case 'amazon-2014':
      return loadAmazonReviews2018(source.meta ? { reviews: source.reviews, meta: source.meta } : { reviews: source.reviews }, {
        ...options,
        edition: source.kind === 'amazon-2014' ? '2014' : '2018',
        keepUntitled: source.keepUntitled ?? false,
      });
    case 'recbole':
      return loadRecBole(source.item ? { inter: source.inter, item: source.item } : { inter: source.inter }, options);
    case 'movielens':
      return loadMovieLens(source, options);
    case 'table': {
      const table: Parameters<typeof loadTable>[1] = { ...options, columns: source.columns };
      if (source.format) table.format = source.format;
      if (source.timeFormat) table.timeFormat = source.timeFormat;
      return loadTable(source.file, table);
    }
    case 'recbole-split':
    case 'amazon-2023-split':
      throw new Error(`data: ${source.kind} carries its own train/valid/test split; load it with loadDataset`);
  }
}

export interface LoadDatasetOptions extends LoadOptions {
  prepare?: PrepareOptions;
  /**
   * The cache folder, or false for no cache (default: defaultCacheDir()). The key covers the
   * source files' path, size and mtime and all options.
   */
  cache?: string | false;
}

/** A prepared dataset and whether it came from the cache (and which file). */
export interface LoadedDataset {
  dataset: SequenceDataset;
  source: DatasetSource;
  fromCache: boolean;
  cacheFile?: string;
}

/**
 * Why preparation options cannot apply to a sequence split, or undefined: its rows are already
 * filtered and split, and a k-core over them would change the split the files define.
 */
function splitRefusal(prepare: PrepareOptions | undefined): string | undefined {
  const kCore = Math.max(prepare?.kCore ?? 0, prepare?.minUserInteractions ?? 0, prepare?.minItemInteractions ?? 0);
  if (kCore > 1) {
    return (
      `data: a k-core of ${kCore} does not apply to a dataset split into train/valid/test files: its rows are already filtered and split, ` +
      'and removing rows would change the split the files define. Leave out --kcore (kCore), or start from the raw interactions'
    );
  }
  return undefined;
}

/** Loads, prepares and caches a dataset from a path (detected: a file or a folder) or an explicit source. */
export async function loadDataset(source: DatasetSource | string, options: LoadDatasetOptions = {}): Promise<LoadedDataset> {
  if (typeof source !== 'string') expectArgs('loadDataset', { source }, 'object');
  expectArgs('loadDataset', { options }, 'options');
  const resolved = typeof source === 'string' ? await resolveSource(source) : source;
  const files = sourceFiles(resolved);
  for (const file of files) if (!existsSync(file)) throw new Error(`data: no such file: ${file}`);
  const given = resolved.kind === 'recbole-split' || resolved.kind === 'amazon-2023-split';
  if (given) {
    const refusal = splitRefusal(options.prepare);
    if (refusal) throw new Error(refusal);
  }
  const prepare = { ...options.prepare, name: options.prepare?.name ?? defaultName(resolved) };
  const cacheDir = options.cache === undefined ? defaultCacheDir() : options.cache;
  let cacheFile: string | undefined;
  if (cacheDir !== false) {
    cacheFile = path.join(
      cacheDir,
      `${cacheKey(files, { source: resolved, prepare, minRating: options.minRating ?? null })}.llmrecds`,
    );
    const cached = readDatasetCache(cacheFile);
    if (cached) return { dataset: cached, source: resolved, fromCache: true, cacheFile };
  }
  const load: LoadOptions = {};
  if (options.onProgress) load.onProgress = options.onProgress;
  if (options.maxExamples !== undefined) load.maxExamples = options.maxExamples;
  if (options.allowPartial) load.allowPartial = true;
  if (options.minRating !== undefined) load.minRating = options.minRating;
  if (options.maxLineBytes !== undefined) load.maxLineBytes = options.maxLineBytes;
  const splitOptions = { ...load, name: prepare.name, ...(prepare.itemText ? { itemText: prepare.itemText } : {}) };
  const dataset =
    resolved.kind === 'recbole-split'
      ? await loadRecBoleSplit(resolved, splitOptions)
      : resolved.kind === 'amazon-2023-split'
        ? await loadAmazon2023Split(resolved, splitOptions)
        : prepareDataset(await loadLog(resolved, load), prepare);
  checkNotEmpty(dataset, resolved);
  // A partial read is never cached: the next run reads the (maybe repaired) file again.
  const partial = (dataset.loadReport?.sourceErrors.length ?? 0) > 0;
  if (cacheFile && !partial) writeDatasetCache(cacheFile, dataset);
  return cacheFile && !partial ? { dataset, source: resolved, fromCache: false, cacheFile } : { dataset, source: resolved, fromCache: false };
}

/** An empty result is a misread (the wrong format, or everything filtered away), never a dataset. */
function checkNotEmpty(dataset: SequenceDataset, source: DatasetSource): void {
  if (dataset.numInteractions > 0) return;
  const report = dataset.loadReport;
  const why: string[] = [];
  if (report) {
    why.push(`${report.rowsRead.toLocaleString('en-US')} rows read, ${report.rowsKept.toLocaleString('en-US')} kept`);
    const malformed = Object.entries(report.malformed).map(([reason, n]) => `${n} ${reason}`);
    if (malformed.length > 0) why.push(`malformed: ${malformed.join(', ')}`);
    const dropped = Object.entries(report.dropped).map(([reason, n]) => `${n} ${reason}`);
    if (dropped.length > 0) why.push(`dropped: ${dropped.join(', ')}`);
  }
  if (dataset.summary.removed.kCore > 0) why.push(`${dataset.summary.removed.kCore} removed by the k-core`);
  throw new Error(
    `data: no interactions left from ${sourceFiles(source).join(', ')} read as ${source.kind} (${why.join('; ')}). ` +
      'Check the format (--format) and the filters (--kcore, --min-rating)',
  );
}

/** A dataset's default name: the files' stem ('Scientific', 'Toys', 'ml-1m'). */
function defaultName(source: DatasetSource): string {
  const first = sourceFiles(source)[0]!;
  switch (source.kind) {
    case 'recbole-split':
    case 'amazon-2023-split':
      return path.basename(splitStem(first));
    case 'movielens':
      return path.basename(path.dirname(path.resolve(first)));
    case 'amazon-2014':
    case 'amazon-2018':
      return path
        .basename(stripCompression(first))
        .replace(/\.json$/, '')
        .replace(/^reviews_/, '')
        .replace(/_5$/, '');
    default:
      return path.basename(stripCompression(first)).replace(/\.[^.]+$/, '');
  }
}

// ---------------------------------------------------------------------------------------------
// The embedded default dataset

/** The embedded Online Retail periods: 2010–2011 (the default) and 2009–2010 (next-period). */
export type EmbeddedPeriod = '2010-2011' | '2009-2010';

/** The package's data/ folder (works from lib/ and from dist/lib/). */
export function dataDirectory(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'data');
    if (existsSync(path.join(candidate, 'ATTRIBUTION.md'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('data: cannot find the package data/ folder (with ATTRIBUTION.md) above lib/data');
}

/** The RecBole files of an embedded period. */
export function embeddedSource(period: EmbeddedPeriod = '2010-2011'): DatasetSource {
  const dir = dataDirectory();
  return {
    kind: 'recbole',
    inter: path.join(dir, `online-retail-${period}.inter.gz`),
    item: path.join(dir, `online-retail-${period}.item.gz`),
  };
}

/**
 * The dataset every command uses when none is named: Online Retail 2010–2011 from data/,
 * already cleaned, deduped per invoice and 5-core (so it is prepared with no further dedupe).
 */
export function loadDefaultDataset(
  options: Omit<LoadDatasetOptions, 'prepare'> & { period?: EmbeddedPeriod } = {},
): Promise<LoadedDataset> {
  expectArgs('loadDefaultDataset', { options }, 'options');
  const period = options.period ?? '2010-2011';
  return loadDataset(embeddedSource(period), {
    ...options,
    prepare: { kCore: 5, dedupe: 'none', name: `online-retail-${period}` },
  });
}

/** RecBole text fields cannot hold tabs or newlines. */
const clean = (s: string) => s.replace(/[\t\r\n]+/g, ' ').trim();

/**
 * Writes a prepared dataset as RecBole atomic files `<dir>/<stem>.inter.gz` and `.item.gz`
 * (raw user/item keys, Unix seconds, rows by user then time), the format of the embedded data.
 */
export function writeRecBole(dataset: SequenceDataset, dir: string, stem: string): { inter: string; item: string } {
  expectArgs('writeRecBole', { dir, stem }, 'string');
  mkdirSync(dir, { recursive: true });
  const inter: string[] = ['user_id:token\titem_id:token\ttimestamp:float'];
  for (let u = 1; u <= dataset.numUsers; u++) {
    const seq = dataset.sequence(u);
    const times = dataset.sequenceTimes(u);
    const user = dataset.userKeys[u]!;
    for (let i = 0; i < seq.length; i++) {
      inter.push(`${user}\t${dataset.itemKeys[seq[i]!]!}\t${Math.round(times[i]! / 1000)}`);
    }
  }
  const items: string[] = ['item_id:token\ttitle:token_seq\tdescription:token_seq'];
  for (let i = 1; i <= dataset.numItems; i++) {
    items.push(`${dataset.itemKeys[i]!}\t${clean(dataset.titles[i]!)}\t${clean(dataset.descriptions[i]!)}`);
  }
  const write = (file: string, lines: string[]) => {
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, zlib.gzipSync(Buffer.from(lines.join('\n') + '\n'), { level: 9 }));
    renameSync(temporary, file);
    return file;
  };
  return {
    inter: write(path.join(dir, `${stem}.inter.gz`), inter),
    item: write(path.join(dir, `${stem}.item.gz`), items),
  };
}

/**
 * The folder of the shared raw development data (the two Online Retail logs): $LLMREC_SHARED_DATA,
 * else ../shared/data relative to the package root (also tried one level further up, for a
 * worktree nested one folder deeper), or undefined when none exists.
 */
export function sharedDataDirectory(): string | undefined {
  const env = process.env.LLMREC_SHARED_DATA;
  if (env) return existsSync(env) ? path.resolve(env) : undefined;
  const root = path.dirname(dataDirectory());
  for (const candidate of [path.join(root, '..', 'shared', 'data'), path.join(root, '..', '..', 'shared', 'data')]) {
    if (existsSync(candidate)) return path.resolve(candidate);
  }
  return undefined;
}
