// One entry point from "a file or a named source" to a prepared, cached dataset, plus the
// embedded default dataset (Online Retail, cleaned and 5-core, in the package's data/ folder).
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { cacheKey, defaultCacheDir, readDatasetCache, writeDatasetCache } from './cache.js';
import { prepareDataset, type PrepareOptions, type SequenceDataset } from './dataset.js';
import type { InteractionLog, TimeFormat } from './log.js';
import {
  loadAmazonReviews,
  loadOnlineRetail,
  loadRecBole,
  loadTable,
  readFirstLine,
  tableFormatOf,
  type ColumnMap,
  type LoadOptions,
} from './loaders.js';
import { stripCompression } from './text.js';

/** Where interactions come from; `kind` picks the loader. */
export type DatasetSource =
  | { kind: 'online-retail'; file: string; dropNonProducts?: boolean }
  | { kind: 'amazon'; reviews: string; meta?: string }
  | { kind: 'recbole'; inter: string; item?: string }
  | { kind: 'table'; file: string; columns: ColumnMap; format?: 'csv' | 'tsv' | 'jsonl'; timeFormat?: TimeFormat };

/** The files a source reads (for cache keys and messages). */
export function sourceFiles(source: DatasetSource): string[] {
  switch (source.kind) {
    case 'online-retail':
    case 'table':
      return [source.file];
    case 'amazon':
      return source.meta ? [source.reviews, source.meta] : [source.reviews];
    case 'recbole':
      return source.item ? [source.inter, source.item] : [source.inter];
  }
}

function sibling(file: string, fromExt: string, toExt: string): string | undefined {
  const base = stripCompression(file);
  const suffix = file.slice(base.length);
  if (!base.endsWith(fromExt)) return undefined;
  const stem = base.slice(0, -fromExt.length);
  for (const candidate of [`${stem}${toExt}${suffix}`, `${stem}${toExt}`, `${stem}${toExt}.gz`, `${stem}${toExt}.br`]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Guesses a file's source kind: .inter (with a sibling .item) is RecBole; a CSV whose header
 * has StockCode and InvoiceDate is Online Retail; JSONL with user_id and parent_asin/asin is
 * Amazon Reviews 2023 (with a sibling meta_*.jsonl if present). Anything else needs `columns`.
 */
export async function detectSource(file: string, columns?: ColumnMap): Promise<DatasetSource> {
  if (!existsSync(file)) throw new Error(`data: no such file: ${file}`);
  const base = stripCompression(file);
  if (base.endsWith('.inter')) {
    const item = sibling(file, '.inter', '.item');
    return item ? { kind: 'recbole', inter: file, item } : { kind: 'recbole', inter: file };
  }
  if (columns) return { kind: 'table', file, columns };
  const format = tableFormatOf(file);
  const head = await readFirstLine(file);
  if (format === 'csv' && /StockCode/.test(head) && /InvoiceDate/.test(head)) return { kind: 'online-retail', file };
  if (format === 'jsonl' && /"user_id"/.test(head) && /"(parent_)?asin"/.test(head)) {
    const dir = path.dirname(file);
    const meta = path.join(dir, `meta_${path.basename(file)}`);
    return existsSync(meta) ? { kind: 'amazon', reviews: file, meta } : { kind: 'amazon', reviews: file };
  }
  throw new Error(
    `data: cannot tell the format of ${file} (first line: ${JSON.stringify(head.slice(0, 100))}); ` +
      'give a column map (--user, --item, --time) for a generic CSV/TSV/JSONL',
  );
}

/** Runs the loader for `source`. */
export function loadLog(source: DatasetSource, options: LoadOptions = {}): Promise<InteractionLog> {
  switch (source.kind) {
    case 'online-retail':
      return loadOnlineRetail(source.file, { ...options, dropNonProducts: source.dropNonProducts ?? true });
    case 'amazon':
      return loadAmazonReviews(source.meta ? { reviews: source.reviews, meta: source.meta } : source, options);
    case 'recbole':
      return loadRecBole(source.item ? { inter: source.inter, item: source.item } : source, options);
    case 'table': {
      const table: Parameters<typeof loadTable>[1] = { ...options, columns: source.columns };
      if (source.format) table.format = source.format;
      if (source.timeFormat) table.timeFormat = source.timeFormat;
      return loadTable(source.file, table);
    }
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
  fromCache: boolean;
  cacheFile?: string;
}

/** Loads, prepares and caches a dataset from a file name (detected) or an explicit source. */
export async function loadDataset(source: DatasetSource | string, options: LoadDatasetOptions = {}): Promise<LoadedDataset> {
  const resolved = typeof source === 'string' ? await detectSource(source) : source;
  const files = sourceFiles(resolved);
  for (const file of files) if (!existsSync(file)) throw new Error(`data: no such file: ${file}`);
  const prepare = { ...options.prepare, name: options.prepare?.name ?? defaultName(files[0]!) };
  const cacheDir = options.cache === undefined ? defaultCacheDir() : options.cache;
  let cacheFile: string | undefined;
  if (cacheDir !== false) {
    cacheFile = path.join(cacheDir, `${cacheKey(files, { source: resolved, prepare })}.llmrecds`);
    const cached = readDatasetCache(cacheFile);
    if (cached) return { dataset: cached, fromCache: true, cacheFile };
  }
  const load: LoadOptions = {};
  if (options.onProgress) load.onProgress = options.onProgress;
  if (options.maxExamples !== undefined) load.maxExamples = options.maxExamples;
  const dataset = prepareDataset(await loadLog(resolved, load), prepare);
  if (cacheFile) writeDatasetCache(cacheFile, dataset);
  return cacheFile ? { dataset, fromCache: false, cacheFile } : { dataset, fromCache: false };
}

function defaultName(file: string): string {
  return path.basename(stripCompression(file)).replace(/\.[^.]+$/, '');
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
