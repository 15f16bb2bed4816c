// The dataset keys every pipeline config starts with, and the dataset they load. Declared once
// here: their command-line flags (--data, --format, --kcore, --min-rating, --item-text,
// --allow-partial, ...) come from this schema for `train`, every pipeline command and, through
// lib/cli/data-options.ts, for `eval`, `data` and `demo`. The files a dataset is read from are a
// stage input: they are hashed into the manifest.
import { datasetFormats, formatAliases, resolveSource, sourceFiles } from '../data/formats.js';
import { itemTextFields } from '../data/dataset.js';
import { loadDatasetFromConfig, type DatasetConfig } from '../data/config.js';
import type { LoadedDataset } from '../data/source.js';
import { embeddedSource } from '../data/source.js';
import { defineConfig, type ConfigOf } from './config.js';
import { expectArgs } from '../guard.js';

/** The keys of the dataset block (shared by every pipeline; spread it into a pipeline's schema). */
export const dataConfig = defineConfig({
  data: {
    type: 'string',
    help: 'dataset file or folder: Amazon 2014/2018/2023, RecBole atomic or sequence split, MovieLens, Online Retail, or a table (see --format); default: the embedded Online Retail 2010-2011',
    input: async (path: string | undefined) => {
      if (!path) return sourceFiles(embeddedSource());
      try {
        return sourceFiles(await resolveSource(path));
      } catch {
        return []; // nothing to hash: the load itself refuses the path and says why
      }
    },
  },
  format: {
    type: 'enum',
    choices: ['auto', ...Object.keys(datasetFormats), ...Object.keys(formatAliases)],
    default: 'auto',
    help: 'the dataset format, when it should not be detected',
  },
  kcore: {
    type: 'int',
    min: 0,
    help: 'iterative k-core minimum for users and items (default 5; a sequence split keeps its own rows)',
  },
  minRating: { type: 'float', help: 'drop interactions rated below this (e.g. 4)' },
  itemText: {
    type: 'string',
    default: 'title',
    help: `item fields that make an item's text, joined by + (${itemTextFields.join(', ')}), e.g. title+description`,
  },
  allowPartial: {
    type: 'bool',
    default: false,
    help: 'keep the rows read before a source error (a truncated file) instead of failing; the error is reported',
  },
  meta: {
    type: 'string',
    help: 'Amazon metadata file, when it is not the meta_<Category> file beside the reviews',
    input: true,
  },
  itemFile: { type: 'string', help: 'RecBole .item file, when it is not the one beside the .inter', input: true },
  userColumn: { type: 'string', help: 'user column of a table (--format csv, tsv or jsonl)' },
  itemColumn: { type: 'string', help: 'item column of a table' },
  timeColumn: { type: 'string', help: 'time column of a table (Unix s/ms or a date); default: the row order' },
  titleColumn: { type: 'string', help: 'item title column of a table' },
  ratingColumn: { type: 'string', help: 'rating column of a table (for --min-rating)' },
  dedupe: {
    type: 'enum',
    choices: ['session', 'none'],
    help: 'merge repeated (user, item) rows within one basket/timestamp (default session; none for the embedded set)',
  },
  keepNonProducts: { type: 'bool', default: false, help: 'Online Retail: keep postage, fees and vouchers' },
  keepUntitled: {
    type: 'bool',
    default: false,
    help: 'Amazon 2014/2018: keep items without a title in the metadata (dropped by default, as the papers do)',
  },
  period: {
    type: 'enum',
    choices: ['2010-2011', '2009-2010'],
    default: '2010-2011',
    help: 'the embedded Online Retail period, when no --data is given',
  },
  dataName: { type: 'string', help: 'the dataset name in summaries (default: from the files)' },
  // Where the binary cache lives changes no result: it is in no stage's recorded config.
  cacheDir: {
    type: 'string',
    help: 'the dataset cache folder (default $LLMREC_CACHE_DIR or ~/.cache/llmrec/datasets)',
    stages: [],
  },
});

export type DataConfig = ConfigOf<typeof dataConfig>;

/** What every pipeline config has: the dataset block and the seed. */
export const commonConfig = defineConfig({
  ...dataConfig,
  seed: { type: 'int', default: 0, min: 0, help: 'random seed' },
});

export type CommonConfig = ConfigOf<typeof commonConfig>;

/** The library's DatasetConfig for the dataset keys of a pipeline config. */
export function datasetConfigOf(config: DataConfig): DatasetConfig {
  expectArgs('datasetConfigOf', { config }, 'object');
  const out: DatasetConfig = {};
  if (config.data) out.path = config.data;
  else out.period = config.period as '2010-2011' | '2009-2010';
  if (config.format !== 'auto') out.format = config.format;
  if (config.kcore !== undefined) out.kCore = config.kcore;
  if (config.minRating !== undefined) out.minRating = config.minRating;
  if (config.itemText !== 'title') out.itemText = config.itemText;
  if (config.allowPartial) out.allowPartial = true;
  if (config.meta) out.meta = config.meta;
  if (config.itemFile) out.itemFile = config.itemFile;
  if (config.userColumn || config.itemColumn) {
    if (!config.userColumn || !config.itemColumn) {
      throw new Error('data: a table needs both --user-column and --item-column (userColumn, itemColumn)');
    }
    out.columns = {
      user: config.userColumn,
      item: config.itemColumn,
      ...(config.timeColumn ? { time: config.timeColumn } : {}),
      ...(config.titleColumn ? { title: config.titleColumn } : {}),
      ...(config.ratingColumn ? { rating: config.ratingColumn } : {}),
    };
  }
  if (config.dedupe) out.dedupe = config.dedupe as 'session' | 'none';
  if (config.keepNonProducts) out.keepNonProducts = true;
  if (config.keepUntitled) out.keepUntitled = true;
  if (config.dataName) out.name = config.dataName;
  if (config.cacheDir) out.cache = config.cacheDir;
  return out;
}

/** Loads the dataset a config names (the embedded one when none). */
export type DatasetLoader = (config: CommonConfig) => Promise<LoadedDataset>;

/** The loader of library runs: silent (a command-line loader also prints describeLoad's lines). */
export const loadConfiguredDataset: DatasetLoader = (config) => loadDatasetFromConfig(datasetConfigOf(config));
