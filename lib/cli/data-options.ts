// The dataset options of every command that reads data (train, eval, data, demo and the
// pipelines), declared once: spread `dataOptions` into a command's options, then call
// loadDataFromOptions(options), which loads the dataset and prints what was kept and dropped.
import {
  datasetFormats,
  defaultCacheDir,
  describeLoad,
  formatAliases,
  itemTextFields,
  loadDatasetFromConfig,
  type DatasetConfig,
  type EmbeddedPeriod,
  type LoadedDataset,
} from '../data/index.js';
import { UsageError, type OptionSpecs, type ParsedOptions } from './args.js';

export const dataOptions = {
  data: {
    type: 'string',
    description:
      'dataset file or folder: Amazon 2014/2018/2023, RecBole atomic or sequence split, MovieLens, Online Retail, or a table (see --format); default: the embedded Online Retail 2010-2011',
  },
  format: {
    type: 'string',
    description: 'the format, when it should not be detected',
    choices: ['auto', ...Object.keys(datasetFormats), ...Object.keys(formatAliases)],
    default: 'auto',
  },
  kcore: {
    type: 'integer',
    description: 'iterative k-core minimum for users and items (default 5; a sequence split keeps its own rows)',
  },
  'min-rating': { type: 'number', description: 'drop interactions rated below this (e.g. 4)' },
  'item-text': {
    type: 'string',
    description: `item fields that make an item's text, joined by + (${itemTextFields.join(', ')}), e.g. title+description`,
    default: 'title',
  },
  'allow-partial': {
    type: 'boolean',
    description:
      'keep the rows read before a source error (a truncated file) instead of failing; the error is reported',
    default: false,
  },
  meta: {
    type: 'string',
    description: 'Amazon metadata file, when it is not the meta_<Category> file beside the reviews',
  },
  'item-file': { type: 'string', description: 'RecBole .item file, when it is not the one beside the .inter' },
  user: { type: 'string', description: 'user column of a table (csv, tsv, jsonl)' },
  item: { type: 'string', description: 'item column of a table' },
  time: { type: 'string', description: 'time column of a table (Unix s/ms or a date); default: the row order' },
  title: { type: 'string', description: 'item title column of a table' },
  rating: { type: 'string', description: 'rating column of a table (for --min-rating)' },
  dedupe: {
    type: 'string',
    description:
      'merge repeated (user, item) rows within one basket/timestamp (default session; none for the embedded set)',
    choices: ['session', 'none'],
  },
  'keep-non-products': {
    type: 'boolean',
    description: 'Online Retail: keep postage, fees and vouchers',
    default: false,
  },
  'keep-untitled': {
    type: 'boolean',
    description: 'Amazon 2014/2018: keep items without a title in the metadata (dropped by default, as the papers do)',
    default: false,
  },
  period: {
    type: 'string',
    description: 'embedded Online Retail period when no --data is given',
    choices: ['2010-2011', '2009-2010'],
    default: '2010-2011',
  },
  name: { type: 'string', description: 'dataset name in summaries (default: from the files)' },
  'cache-dir': { type: 'string', description: `dataset cache folder (default ${defaultCacheDir()})` },
} as const satisfies OptionSpecs;

export type DataOptions = ParsedOptions<typeof dataOptions>;

/** The DatasetConfig the flags describe (what a pipeline's typed config embeds). */
export function datasetConfigFromOptions(options: DataOptions, path = options.data): DatasetConfig {
  const config: DatasetConfig = {};
  if (path !== undefined) config.path = path;
  if (options.format !== 'auto') config.format = options.format;
  if (options.kcore !== undefined) {
    if (options.kcore < 0) throw new UsageError(`--kcore must be 0 or more, got ${options.kcore}`);
    config.kCore = options.kcore;
  }
  if (options['min-rating'] !== undefined) config.minRating = options['min-rating'];
  if (options['item-text'] !== 'title') config.itemText = options['item-text'];
  if (options['allow-partial']) config.allowPartial = true;
  if (options.meta) config.meta = options.meta;
  if (options['item-file']) config.itemFile = options['item-file'];
  if (options.user || options.item) {
    if (!options.user || !options.item) throw new UsageError('a table needs both --user and --item');
    config.columns = {
      user: options.user,
      item: options.item,
      ...(options.time ? { time: options.time } : {}),
      ...(options.title ? { title: options.title } : {}),
      ...(options.rating ? { rating: options.rating } : {}),
    };
  }
  if (options.dedupe) config.dedupe = options.dedupe as 'session' | 'none';
  if (options['keep-non-products']) config.keepNonProducts = true;
  if (options['keep-untitled']) config.keepUntitled = true;
  if (path === undefined) config.period = options.period as EmbeddedPeriod;
  if (options.name) config.name = options.name;
  if (options['cache-dir']) config.cache = options['cache-dir'];
  return config;
}

export interface LoadDataFromOptions {
  /** A path that overrides --data (the data command's positional file). */
  path?: string;
  /** false: read the files even when a cache exists (data inspect). */
  cache?: boolean;
  /** Where the load summary goes (default: stderr, so stdout stays the command's output). */
  log?: (line: string) => void;
  maxExamples?: number;
}

/** A one-line progress display on a TTY (stderr), silent otherwise. */
function progress(): { update: (file: string, bytes: number) => void; done: () => void } | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return {
    update(file, bytes) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const name = file.split(/[\\/]/).pop();
      process.stderr.write(`\rreading ${name}: ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    },
    done() {
      process.stderr.write('\r\u001b[K');
    },
  };
}

/**
 * Loads the dataset the flags name and prints what was read, kept and dropped (and a prominent
 * warning for a partial read). Every data-reading command calls this.
 */
export async function loadDataFromOptions(options: DataOptions, how: LoadDataFromOptions = {}): Promise<LoadedDataset> {
  const config = datasetConfigFromOptions(options, how.path ?? options.data);
  if (how.cache === false) config.cache = false;
  const display = progress();
  let loaded: LoadedDataset;
  try {
    loaded = await loadDatasetFromConfig(config, {
      ...(display ? { onProgress: display.update } : {}),
      ...(how.maxExamples !== undefined ? { maxExamples: how.maxExamples } : {}),
    });
  } finally {
    display?.done();
  }
  const log = how.log ?? ((line: string) => console.error(line));
  for (const line of describeLoad(loaded)) log(line);
  return loaded;
}
