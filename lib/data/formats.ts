// The dataset formats llmrec reads, and how a path (a file or a folder) becomes a source: which
// loader, which files. Detection looks at names first and at a file's first line where names
// are not enough; what it cannot place is refused with what it found and what it knows.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parsePythonLiteral } from './pyliteral.js';
import { readFirstLine, recboleInterRefusal, tableFormatOf, type ColumnMap } from './loaders.js';
import type { TimeFormat } from './log.js';
import { stripCompression } from './text.js';
import { expectArgs, kindOf } from '../guard.js';

/** Where interactions come from; `kind` picks the loader. */
export type DatasetSource =
  | { kind: 'online-retail'; file: string; dropNonProducts?: boolean }
  | { kind: 'amazon-2023'; reviews: string; meta?: string }
  | { kind: 'amazon-2018' | 'amazon-2014'; reviews: string; meta?: string; keepUntitled?: boolean }
  | { kind: 'recbole'; inter: string; item?: string }
  | { kind: 'recbole-split'; train: string; valid: string; test: string; text?: string; itemIndex?: string; userIndex?: string }
  | { kind: 'amazon-2023-split'; train: string; valid: string; test: string; meta?: string }
  | { kind: 'movielens'; ratings: string; movies?: string; genres?: string }
  | { kind: 'table'; file: string; columns: ColumnMap; format?: 'csv' | 'tsv' | 'jsonl'; timeFormat?: TimeFormat };

export type SourceKind = DatasetSource['kind'];

/** Every format by the name --format takes, with a one-line description of its files. */
export const datasetFormats = {
  'online-retail': 'Online Retail CSV (UCI 352, or Online Retail II): a header with InvoiceNo/Invoice, StockCode, InvoiceDate',
  'amazon-2023': 'Amazon Reviews 2023: <Category>.jsonl[.gz] + meta_<Category>.jsonl[.gz]',
  'amazon-2023-split':
    'Amazon Reviews 2023 benchmark split (LLM-SRec): <Category>.train.csv, .valid.csv, .test.csv [+ meta_<Category>.jsonl]',
  'amazon-2018': 'Amazon 2018: <Category>.json.gz or <Category>_5.json.gz + meta_<Category>.json.gz',
  'amazon-2014':
    'Amazon 2014: reviews_<Category>[_5].json.gz + meta_<Category>.json.gz (Python-literal metadata)',
  recbole: 'RecBole atomic files: <name>.inter [+ <name>.item]',
  'recbole-split':
    'RecBole/UniSRec sequence split: <name>.train.inter, .valid.inter, .test.inter [+ <name>.text, .item2index, .user2index]',
  movielens: 'MovieLens: ratings.dat + movies.dat (1M, 10M), u.data + u.item (100K), ratings.csv + movies.csv (latest, 20M, 25M)',
  csv: 'any CSV table, with --user-column and --item-column (and --time-column, --title-column, --rating-column)',
  tsv: 'any tab-separated table, with --user-column and --item-column naming its columns',
  jsonl: 'any JSON-lines file, with --user-column and --item-column naming its keys',
} as const;

export type DatasetFormat = keyof typeof datasetFormats;

/** Other names --format accepts ('table': csv, tsv or jsonl by the file's extension). */
export const formatAliases: Record<string, DatasetFormat | 'table'> = { amazon: 'amazon-2023', atomic: 'recbole', table: 'table' };

/** The canonical format for a name (an alias included), or undefined; `file` decides 'table'. */
export function formatByName(name: string, file = ''): DatasetFormat | undefined {
  if (name in datasetFormats) return name as DatasetFormat;
  const alias = formatAliases[name];
  return alias === 'table' ? tableFormatOf(file) : alias;
}

/** The formats as indented lines, for messages. */
export function describeFormats(): string {
  return Object.entries(datasetFormats)
    .map(([name, description]) => `  ${name}: ${description}`)
    .join('\n');
}

/** The files a source reads (for cache keys and messages). */
export function sourceFiles(source: DatasetSource): string[] {
  expectArgs('sourceFiles', { source }, 'object');
  const present = (...files: (string | undefined)[]) => files.filter((f): f is string => f !== undefined);
  switch (source.kind) {
    case 'online-retail':
    case 'table':
      return [source.file];
    case 'amazon-2023':
    case 'amazon-2018':
    case 'amazon-2014':
      return present(source.reviews, source.meta);
    case 'recbole':
      return present(source.inter, source.item);
    case 'recbole-split':
      return present(source.train, source.valid, source.test, source.text, source.itemIndex, source.userIndex);
    case 'amazon-2023-split':
      return present(source.train, source.valid, source.test, source.meta);
    case 'movielens':
      return present(source.ratings, source.movies, source.genres);
  }
  throw new Error(`sourceFiles: 'source.kind' must be a dataset format, got ${kindOf((source as { kind: unknown }).kind)}`);
}

export interface ResolveOptions {
  /** A format name from datasetFormats (or an alias); default: detect. */
  format?: string;
  /** Column names of a generic table (csv, tsv, jsonl). */
  columns?: ColumnMap;
  /** The metadata file of an Amazon source, when it is not the usual sibling. */
  meta?: string;
  /** The .item file of RecBole atomic files, when it is not the usual sibling. */
  itemFile?: string;
}

const compressed = '(?:\\.gz|\\.br|\\.xz)?';
const splitPart = new RegExp(`^(.+)\\.(train|valid|test)\\.inter${compressed}$`);
const splitCompanion = new RegExp(`^(.+)\\.(text|item2index|user2index)${compressed}$`);
const csvSplitPart = new RegExp(`^(.+)\\.(train|valid|test)\\.csv${compressed}$`);
const movieLensNames = /^(ratings\.dat|movies\.dat|users\.dat|tags\.dat|u\.data|u\.item|u\.genre|u\.user|ratings\.csv|movies\.csv)$/;

/** The first existing of `name` plain or compressed in `dir`. */
function existing(dir: string, name: string): string | undefined {
  for (const suffix of ['', '.gz', '.br', '.xz']) {
    const file = path.join(dir, name + suffix);
    if (existsSync(file)) return file;
  }
  return undefined;
}

/**
 * The train, valid and test files of a split stem (`<stem>.train<suffix>`, ...), or a refusal
 * naming the missing ones: the split is the three files' together.
 */
function splitParts(dir: string, stem: string, suffix: string, what: string): { train: string; valid: string; test: string } {
  const [train, valid, test] = (['train', 'valid', 'test'] as const).map((part) => existing(dir, `${stem}.${part}${suffix}`));
  if (!train || !valid || !test) {
    const missing = [!train && 'train', !valid && 'valid', !test && 'test'].filter(Boolean).map((s) => `${stem}.${s}${suffix}`);
    throw new Error(
      `data: ${path.join(dir, stem)} is ${what} without ${missing.join(' and ')}; ` +
        'llmrec reads the train, valid and test files together (the split is theirs)',
    );
  }
  return { train, valid, test };
}

/** The recbole-split source of a stem (dir/Scientific), with the companions that exist. */
function splitSource(dir: string, stem: string): DatasetSource {
  const source: DatasetSource = { kind: 'recbole-split', ...splitParts(dir, stem, '.inter', 'a RecBole sequence split') };
  const part = (name: string) => existing(dir, `${stem}.${name}`);
  const text = part('text');
  const itemIndex = part('item2index');
  const userIndex = part('user2index');
  if (text) source.text = text;
  if (itemIndex) source.itemIndex = itemIndex;
  if (userIndex) source.userIndex = userIndex;
  return source;
}

/** The amazon-2023-split source of a stem (dir/Movies_and_TV), with its metadata when beside it. */
function csvSplitSource(dir: string, stem: string, meta: string | undefined): DatasetSource {
  const source: DatasetSource = {
    kind: 'amazon-2023-split',
    ...splitParts(dir, stem, '.csv', 'an Amazon Reviews 2023 benchmark split'),
  };
  const found = meta ?? existing(dir, `meta_${stem}.jsonl`);
  if (found) source.meta = found;
  return source;
}

/** The keys of the first record of a JSON-lines (or Python-literal-lines) file, and its syntax. */
async function firstRecord(file: string): Promise<{ keys: string[]; syntax: 'json' | 'python' } | undefined> {
  // Metadata lines can be long: read up to 1 MiB of the first one.
  const line = (await readFirstLine(file, 1 << 20)).trim();
  if (!line.startsWith('{')) return undefined;
  try {
    return { keys: Object.keys(JSON.parse(line) as object), syntax: 'json' };
  } catch {
    try {
      const value = parsePythonLiteral(line);
      if (value && typeof value === 'object' && !Array.isArray(value)) return { keys: Object.keys(value), syntax: 'python' };
    } catch {
      // not a record
    }
  }
  return undefined;
}

/** The category of an Amazon file name: Toys for reviews_Toys_5.json.gz, Toys_5.json.gz, meta_Toys.json.gz. */
function amazonCategory(file: string): string {
  return path
    .basename(stripCompression(file))
    .replace(/\.(json|jsonl|ndjson)$/, '')
    .replace(/^(reviews_|meta_)/, '')
    .replace(/_5$/, '');
}

/** Amazon 2014/2018 reviews + meta for a reviews file (or a meta file: its reviews sibling). */
async function amazonLegacySource(file: string, meta: string | undefined, kind?: 'amazon-2014' | 'amazon-2018'): Promise<DatasetSource> {
  const dir = path.dirname(file);
  const category = amazonCategory(file);
  let reviews = file;
  if (path.basename(file).startsWith('meta_')) {
    const found = [`reviews_${category}_5.json`, `reviews_${category}.json`, `${category}_5.json`, `${category}.json`]
      .map((name) => existing(dir, name))
      .find(Boolean);
    if (!found) throw new Error(`data: ${file} is Amazon metadata; its reviews file (reviews_${category}[_5].json.gz or ${category}[_5].json.gz) is not beside it`);
    meta = file;
    reviews = found;
  }
  meta ??= existing(dir, `meta_${category}.json`);
  let edition = kind;
  if (!edition) {
    const head = meta ? await firstRecord(meta) : undefined;
    edition = head ? (head.syntax === 'python' ? 'amazon-2014' : 'amazon-2018') : path.basename(reviews).startsWith('reviews_') ? 'amazon-2014' : 'amazon-2018';
  }
  return meta ? { kind: edition, reviews, meta } : { kind: edition, reviews };
}

async function amazon2023Source(file: string, meta: string | undefined): Promise<DatasetSource> {
  const dir = path.dirname(file);
  let reviews = file;
  if (path.basename(file).startsWith('meta_')) {
    const found = existing(dir, `${amazonCategory(file)}.jsonl`);
    if (!found) throw new Error(`data: ${file} is Amazon Reviews 2023 metadata; its reviews file ${amazonCategory(file)}.jsonl is not beside it`);
    meta = file;
    reviews = found;
  }
  meta ??= existing(dir, `meta_${amazonCategory(reviews)}.jsonl`);
  return meta ? { kind: 'amazon-2023', reviews, meta } : { kind: 'amazon-2023', reviews };
}

function movieLensSource(dir: string): DatasetSource | undefined {
  for (const [ratingsName, moviesName] of [
    ['ratings.dat', 'movies.dat'],
    ['u.data', 'u.item'],
    ['ratings.csv', 'movies.csv'],
  ] as const) {
    const ratings = existing(dir, ratingsName);
    if (!ratings) continue;
    const source: DatasetSource = { kind: 'movielens', ratings };
    const movies = existing(dir, moviesName);
    if (movies) source.movies = movies;
    const genres = ratingsName === 'u.data' ? existing(dir, 'u.genre') : undefined;
    if (genres) source.genres = genres;
    return source;
  }
  return undefined;
}

/** A file's source from its name and first line, or undefined when neither says. */
async function classifyFile(file: string, options: ResolveOptions): Promise<DatasetSource | undefined> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  const bare = path.basename(stripCompression(file));
  const split = splitPart.exec(base) ?? splitCompanion.exec(base);
  if (split) return splitSource(dir, split[1]!);
  const csvSplit = csvSplitPart.exec(base);
  if (csvSplit && /^user_id,parent_asin,/.test(await readFirstLine(file))) return csvSplitSource(dir, csvSplit[1]!, options.meta);
  if (bare.endsWith('.inter')) {
    const refusal = recboleInterRefusal(file, headerColumns(await readFirstLine(file)));
    if (refusal) throw new Error(refusal);
    const item = options.itemFile ?? existing(dir, `${bare.slice(0, -'.inter'.length)}.item`);
    return item ? { kind: 'recbole', inter: file, item } : { kind: 'recbole', inter: file };
  }
  if (bare.endsWith('.item')) {
    const inter = existing(dir, `${bare.slice(0, -'.item'.length)}.inter`);
    if (inter) return { kind: 'recbole', inter, item: file };
  }
  if (movieLensNames.test(bare)) {
    const head = await readFirstLine(file);
    // ratings.csv/movies.csv are MovieLens only with MovieLens headers.
    if (!bare.endsWith('.csv') || /^(userId,movieId|movieId,title)/.test(head)) {
      const source = movieLensSource(dir);
      if (source) return source;
    }
  }
  if (options.columns) return { kind: 'table', file, columns: options.columns };
  const format = tableFormatOf(file);
  if (format === 'csv') {
    const head = await readFirstLine(file);
    if (/StockCode/.test(head) && /InvoiceDate/.test(head)) return { kind: 'online-retail', file };
    return undefined;
  }
  if (format === 'jsonl') {
    const record = await firstRecord(file);
    if (!record) return undefined;
    const has = (key: string) => record.keys.includes(key);
    if (has('reviewerID') && has('asin')) return amazonLegacySource(file, options.meta);
    if (has('user_id') && (has('parent_asin') || has('asin'))) return amazon2023Source(file, options.meta);
    if (base.startsWith('meta_') && (has('parent_asin') || has('asin'))) {
      return bare.endsWith('.jsonl') || has('parent_asin') ? amazon2023Source(file, undefined) : amazonLegacySource(file, undefined);
    }
  }
  return undefined;
}

/** RecBole header columns from a header line. */
function headerColumns(line: string): { name: string; type: string }[] {
  return line.split('\t').map((f) => {
    const m = /^(.*?)(?::([a-z_]+))?$/.exec(f.trim())!;
    return { name: m[1]!, type: m[2] ?? '' };
  });
}

/** The datasets a folder holds, by format; what it holds besides. */
async function classifyFolder(
  dir: string,
  options: ResolveOptions,
): Promise<{ sources: DatasetSource[]; files: string[]; refusals: string[] }> {
  const files = readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .sort();
  const sources: DatasetSource[] = [];
  const refusals = new Set<string>();
  const seen = new Set<string>();
  const add = (source: DatasetSource) => {
    const key = sourceFiles(source).join('|');
    if (!seen.has(key)) {
      seen.add(key);
      sources.push(source);
    }
  };
  for (const name of files) {
    const file = path.join(dir, name);
    if (!statSync(file).isFile()) continue;
    let source: DatasetSource | undefined;
    try {
      source = await classifyFile(file, { ...options, columns: undefined });
    } catch (e) {
      // A file refused on its own does not stop the folder; the reason is told if nothing fits.
      refusals.add((e as Error).message);
      continue;
    }
    if (source) add(source);
  }
  return { sources, files, refusals: [...refusals] };
}

function describeSource(source: DatasetSource): string {
  return `${source.kind} (${sourceFiles(source)
    .map((f) => path.basename(f))
    .join(', ')})`;
}

/** The files of an explicit format, starting from a file or a folder. */
async function sourceOfFormat(target: string, isDir: boolean, format: DatasetFormat, options: ResolveOptions): Promise<DatasetSource> {
  const pick = async (accept: (s: DatasetSource) => boolean): Promise<DatasetSource> => {
    if (!isDir) {
      const found = await classifyFile(target, { ...options, columns: undefined }).catch(() => undefined);
      if (found && accept(found)) return found;
      return fromFile();
    }
    const { sources, files } = await classifyFolder(target, options);
    const matching = sources.filter(accept);
    if (matching.length === 1) return matching[0]!;
    if (matching.length > 1) {
      throw new Error(
        `data: ${target} holds several ${format} datasets: ${matching.map(describeSource).join('; ')}; pass one of their files`,
      );
    }
    throw new Error(`data: found no ${format} dataset in ${target} (${datasetFormats[format]}); it holds ${listing(files)}`);
  };
  // An explicit format on a file reads that file as that format; its loader refuses it if it is not.
  const fromFile = async (): Promise<DatasetSource> => {
    const dir = path.dirname(target);
    switch (format) {
      case 'online-retail':
        return { kind: 'online-retail', file: target };
      case 'amazon-2023':
        return amazon2023Source(target, options.meta);
      case 'amazon-2018':
      case 'amazon-2014':
        return amazonLegacySource(target, options.meta, format);
      case 'recbole': {
        const bare = path.basename(stripCompression(target));
        const item = options.itemFile ?? (bare.endsWith('.inter') ? existing(dir, `${bare.slice(0, -6)}.item`) : undefined);
        return item ? { kind: 'recbole', inter: target, item } : { kind: 'recbole', inter: target };
      }
      case 'amazon-2023-split': {
        const m = csvSplitPart.exec(path.basename(target));
        if (!m) {
          throw new Error(
            `data: ${target} is not part of an Amazon Reviews 2023 benchmark split (<Category>.train.csv, .valid.csv, .test.csv)`,
          );
        }
        return csvSplitSource(dir, m[1]!, options.meta);
      }
      case 'recbole-split': {
        const base = path.basename(target);
        const m = splitPart.exec(base) ?? splitCompanion.exec(base);
        if (!m) {
          throw new Error(
            `data: ${target} is not part of a RecBole sequence split (<name>.train.inter, .valid.inter, .test.inter, .text, .item2index, .user2index)`,
          );
        }
        return splitSource(dir, m[1]!);
      }
      case 'movielens': {
        const source = movieLensSource(dir);
        if (source && sourceFiles(source).includes(target)) return source;
        return { kind: 'movielens', ratings: target };
      }
      case 'csv':
      case 'tsv':
      case 'jsonl':
        if (!options.columns) {
          throw new Error(`data: --format ${format} needs the column names: --user-column and --item-column (and --time-column, --title-column, --rating-column as the file has them; columns: { user, item, ... } from code)`);
        }
        return { kind: 'table', file: target, columns: options.columns, format };
    }
  };
  switch (format) {
    case 'amazon-2018':
    case 'amazon-2014': {
      // The two releases are read alike; the name given wins over the detected one.
      const s = await pick((found) => found.kind === 'amazon-2018' || found.kind === 'amazon-2014');
      return s.kind === 'amazon-2018' || s.kind === 'amazon-2014' ? { ...s, kind: format } : s;
    }
    case 'csv':
    case 'tsv':
    case 'jsonl':
      if (isDir) throw new Error(`data: --format ${format} reads one file; give the file, not the folder ${target}`);
      return fromFile();
    default:
      return pick((s) => s.kind === format);
  }
}

function listing(files: string[]): string {
  if (files.length === 0) return 'no files';
  const shown = files.slice(0, 12).join(', ');
  return files.length > 12 ? `${shown} and ${files.length - 12} more` : shown;
}

/**
 * The source that `target` (a file or a folder) holds. With options.format, the files of that
 * format; otherwise detected from names and first lines: a RecBole split from any of its files
 * or its folder, RecBole atomic files, MovieLens, Amazon 2014/2018/2023 with their metadata,
 * Online Retail, or a generic table when options.columns names its columns. Anything else is
 * refused with what was found and the formats llmrec reads.
 */
export async function resolveSource(target: string, options: ResolveOptions = {}): Promise<DatasetSource> {
  if (!existsSync(target)) throw new Error(`data: no such file or folder: ${target}`);
  const isDir = statSync(target).isDirectory();
  if (options.format !== undefined && options.format !== 'auto') {
    const format = formatByName(options.format, target);
    if (!format) {
      if (options.format === 'table') {
        throw new Error(`data: --format table reads .csv, .tsv and .jsonl files; name the format of ${target}: csv, tsv or jsonl`);
      }
      throw new Error(`data: unknown format '${options.format}'; llmrec reads:\n${describeFormats()}`);
    }
    return sourceOfFormat(target, isDir, format, options);
  }
  if (isDir) {
    const { sources, files, refusals } = await classifyFolder(target, options);
    if (sources.length === 1) return sources[0]!;
    if (sources.length > 1) {
      throw new Error(
        `data: ${target} holds several datasets: ${sources.map(describeSource).join('; ')}; pass one of their files, or --format`,
      );
    }
    // A file that looked like a dataset but was refused says the most: its reason comes first.
    if (refusals.length > 0) throw new Error(refusals.join('\n'));
    throw new Error(
      `data: cannot tell which dataset the folder ${target} holds; it has ${listing(files)}. llmrec reads:\n${describeFormats()}`,
    );
  }
  const source = await classifyFile(target, options);
  if (source) return source;
  const head = await readFirstLine(target);
  const shown = head.includes('\u0000') ? 'binary data' : JSON.stringify(head.slice(0, 100));
  throw new Error(
    `data: cannot tell the format of ${target} (first line: ${shown}). Pass --format with one of:\n${describeFormats()}`,
  );
}

/** resolveSource for a file, with an optional column map (the former entry point). */
export function detectSource(file: string, columns?: ColumnMap): Promise<DatasetSource> {
  return resolveSource(file, columns ? { columns } : {});
}
