// llmrec data inspect|prepare: load a dataset (or the embedded default), show what was read,
// kept and dropped and why, and (prepare) write the binary cache or RecBole files.
import path from 'node:path';
import { defineCommand, UsageError } from '../args.js';
import {
  defaultCacheDir,
  detectSource,
  embeddedSource,
  loadDataset,
  writeRecBole,
  type DatasetSource,
  type EmbeddedPeriod,
  type LoadDatasetOptions,
  type LoadReport,
  type SequenceDataset,
} from '../../data/index.js';

const actions = ['inspect', 'prepare'] as const;

function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

const count = (n: number) => n.toLocaleString('en-US');

function reportRows(report: LoadReport): [string, string][] {
  const rows: [string, string][] = [
    ['files', report.files.join(', ')],
    ['rows read', count(report.rowsRead)],
    ['rows kept', count(report.rowsKept)],
  ];
  for (const [reason, n] of Object.entries(report.dropped)) rows.push([`dropped: ${reason}`, count(n)]);
  for (const [reason, n] of Object.entries(report.malformed)) rows.push([`malformed: ${reason}`, count(n)]);
  for (const error of report.sourceErrors) rows.push(['source error', error]);
  return rows;
}

function summaryRows(dataset: SequenceDataset): [string, string][] {
  const s = dataset.summary;
  return [
    ['dataset', s.name],
    ['users', count(s.users)],
    ['items', count(s.items)],
    ['interactions', count(s.interactions)],
    ['density', s.density.toExponential(3)],
    [
      'sequence length',
      `min ${s.sequenceLength.min}, median ${s.sequenceLength.median}, mean ${s.sequenceLength.mean.toFixed(1)}, max ${s.sequenceLength.max}`,
    ],
    ['time span', `${s.timeSpan[0]} .. ${s.timeSpan[1]}`],
    ['removed duplicates', count(s.removed.duplicates)],
    ['removed by k-core', `${count(s.removed.kCore)} (${s.kCoreRounds} rounds)`],
  ];
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
      process.stderr.write(`\rreading ${path.basename(file)}: ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    },
    done() {
      process.stderr.write('\r\u001b[K');
    },
  };
}

export const dataCommand = defineCommand({
  name: 'data',
  summary:
    'Inspect or prepare a dataset (Online Retail CSV, Amazon Reviews 2023 JSONL, RecBole .inter, or any CSV/TSV/JSONL with --user/--item); the embedded Online Retail set when no file is given.',
  positionals: '<inspect|prepare> [file]',
  options: {
    format: {
      type: 'string',
      description: 'source format',
      choices: ['auto', 'online-retail', 'amazon', 'recbole', 'table'],
      default: 'auto',
    },
    meta: { type: 'string', description: 'Amazon Reviews 2023 meta JSONL (titles, descriptions)' },
    'item-file': { type: 'string', description: 'RecBole .item file (titles)' },
    user: { type: 'string', description: 'user column of a generic table' },
    item: { type: 'string', description: 'item column of a generic table' },
    time: { type: 'string', description: 'time column of a generic table (Unix s/ms or a date)' },
    title: { type: 'string', description: 'item title column of a generic table' },
    kcore: { type: 'integer', description: 'iterative k-core minimum for users and items', default: 5 },
    dedupe: {
      type: 'string',
      description:
        'merge repeated (user, item) rows within one basket/timestamp (default session; none for the embedded set, which is deduped already)',
      choices: ['session', 'none'],
    },
    'keep-non-products': {
      type: 'boolean',
      description: 'Online Retail: keep postage, fees and vouchers',
      default: false,
    },
    period: {
      type: 'string',
      description: 'embedded Online Retail period when no file is given',
      choices: ['2010-2011', '2009-2010'],
      default: '2010-2011',
    },
    name: { type: 'string', description: 'dataset name in summaries (default: the file name)' },
    cache: { type: 'boolean', description: 'read/write the binary cache (prepare)', default: true },
    'cache-dir': { type: 'string', description: `cache folder (default ${defaultCacheDir()})` },
    export: { type: 'string', description: 'prepare: also write RecBole .inter.gz/.item.gz files into this folder' },
    examples: { type: 'integer', description: 'malformed rows to show', default: 5 },
    json: { type: 'boolean', description: 'print JSON instead of tables', default: false },
  },
  async run(options, positionals) {
    const [action, file, ...extra] = positionals;
    if (!actions.includes(action as (typeof actions)[number])) {
      throw new UsageError(
        `expected an action, inspect or prepare; got ${action === undefined ? 'nothing' : `'${action}'`}`,
      );
    }
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    let source: DatasetSource;
    const embedded = file === undefined;
    if (embedded) source = embeddedSource(options.period as EmbeddedPeriod);
    else {
      const columns =
        options.user && options.item
          ? {
              user: options.user,
              item: options.item,
              ...(options.time ? { time: options.time } : {}),
              ...(options.title ? { title: options.title } : {}),
            }
          : undefined;
      switch (options.format) {
        case 'online-retail':
          source = { kind: 'online-retail', file };
          break;
        case 'amazon':
          source = options.meta
            ? { kind: 'amazon', reviews: file, meta: options.meta }
            : { kind: 'amazon', reviews: file };
          break;
        case 'recbole':
          source = options['item-file']
            ? { kind: 'recbole', inter: file, item: options['item-file'] }
            : { kind: 'recbole', inter: file };
          break;
        case 'table':
          if (!columns) throw new UsageError('--format table needs --user and --item');
          source = { kind: 'table', file, columns };
          break;
        default:
          source = await detectSource(file, columns);
          if (source.kind === 'amazon' && options.meta) source.meta = options.meta;
          if (source.kind === 'recbole' && options['item-file']) source.item = options['item-file'];
      }
      if (source.kind === 'online-retail' && options['keep-non-products']) source.dropNonProducts = false;
    }
    const display = progress();
    const load: LoadDatasetOptions = {
      prepare: {
        kCore: options.kcore,
        dedupe: (options.dedupe ?? (embedded ? 'none' : 'session')) as 'session' | 'none',
        ...(options.name ? { name: options.name } : embedded ? { name: `online-retail-${options.period}` } : {}),
      },
      // inspect always reads the source so that its report is fresh; prepare uses the cache.
      cache: action === 'prepare' && options.cache ? (options['cache-dir'] ?? defaultCacheDir()) : false,
      maxExamples: Math.max(options.examples, 0),
    };
    if (display) load.onProgress = display.update;
    const started = performance.now();
    let loaded;
    try {
      loaded = await loadDataset(source, load);
    } finally {
      display?.done();
    }
    const seconds = (performance.now() - started) / 1000;
    const { dataset } = loaded;
    const exported =
      action === 'prepare' && options.export ? writeRecBole(dataset, options.export, dataset.name) : undefined;
    if (options.json) {
      console.log(
        JSON.stringify(
          {
            summary: dataset.summary,
            load: dataset.loadReport,
            fromCache: loaded.fromCache,
            cacheFile: loaded.cacheFile,
            exported,
            seconds,
          },
          null,
          2,
        ),
      );
      return;
    }
    if (dataset.loadReport && !loaded.fromCache) {
      console.log('load');
      console.log(table(reportRows(dataset.loadReport)));
      const examples = dataset.loadReport.examples;
      if (examples.length > 0) {
        console.log('malformed rows (first shown)');
        for (const e of examples) console.log(`  ${e.file}:${e.line}: ${e.reason}: ${JSON.stringify(e.text)}`);
      }
    }
    console.log('dataset');
    console.log(table(summaryRows(dataset)));
    const where = loaded.fromCache
      ? `read from cache ${loaded.cacheFile}`
      : loaded.cacheFile
        ? `cached to ${loaded.cacheFile}`
        : 'not cached';
    console.log(`${seconds.toFixed(2)} s, ${where}`);
    if (exported) console.log(`wrote ${exported.inter} and ${exported.item}`);
  },
});
