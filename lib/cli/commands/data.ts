// llmrec data inspect|prepare: load a dataset (a file, a folder, or the embedded default), show
// what was read, kept and dropped and why, and (prepare) write the binary cache or RecBole files.
import { defineCommand, UsageError } from '../args.js';
import { writeRecBole, type LoadReport, type SequenceDataset } from '../../data/index.js';
import { dataConfigFromFlags, dataOptions, loadCliDataset } from '../data-options.js';

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
  for (const error of report.sourceErrors) rows.push(['SOURCE ERROR (partial read)', error]);
  for (const note of report.notes ?? []) rows.push(['note', note]);
  return rows;
}

function summaryRows(dataset: SequenceDataset, format: string): [string, string][] {
  const s = dataset.summary;
  const split = dataset.split();
  const evaluated = split.evaluationUsers().length;
  return [
    ['dataset', s.name],
    ['format', format],
    ['users', count(s.users)],
    ['items', count(s.items)],
    ['items with a title', `${count(s.itemsWithTitle)} of ${count(s.items)}`],
    ['item text', s.itemText.join(' + ')],
    ['interactions', count(s.interactions)],
    ['density', s.density.toExponential(3)],
    [
      'sequence length',
      `min ${s.sequenceLength.min}, median ${s.sequenceLength.median}, mean ${s.sequenceLength.mean.toFixed(1)}, max ${s.sequenceLength.max}`,
    ],
    [
      'time span',
      s.timeSpan[0] ? `${s.timeSpan[0]} .. ${s.timeSpan[1]}` : 'none (the source has no times; its order is used)',
    ],
    ['removed duplicates', count(s.removed.duplicates)],
    ['removed by k-core', `${count(s.removed.kCore)} (${s.kCoreRounds} rounds)`],
    [
      'split',
      `${s.split === 'given' ? "the files' own train/valid/test" : 'leave-one-out'}: ${count(evaluated)} users with a test target`,
    ],
  ];
}

export const dataCommand = defineCommand({
  name: 'data',
  summary:
    'Inspect or prepare a dataset: a file or folder in any format llmrec reads (Amazon 2014/2018/2023, RecBole atomic or sequence split, MovieLens, Online Retail, tables), or the embedded Online Retail set.',
  positionals: '<inspect|prepare> [file|folder]',
  options: {
    ...dataOptions,
    cache: { type: 'boolean', description: 'read/write the binary cache (prepare)', default: true },
    export: { type: 'string', description: 'prepare: also write RecBole .inter.gz/.item.gz files into this folder' },
    examples: { type: 'integer', description: 'malformed rows to show', default: 5 },
    json: { type: 'boolean', description: 'print JSON instead of tables', default: false },
  },
  async run(options, positionals, given) {
    const [action, file, ...extra] = positionals;
    if (!actions.includes(action as (typeof actions)[number])) {
      throw new UsageError(
        `expected an action, inspect or prepare; got ${action === undefined ? 'nothing' : `'${action}'`}`,
      );
    }
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const flagged = (options as Record<string, unknown>).data as string | undefined;
    if (file !== undefined && flagged !== undefined && file !== flagged) {
      throw new UsageError(`give the dataset once: either '${file}' or --data ${flagged}`);
    }
    if (options.examples < 0) throw new UsageError(`--examples must be 0 or more, got ${options.examples}`);
    const started = performance.now();
    const config = dataConfigFromFlags(options, given, file !== undefined ? { data: file } : {});
    const loaded = await loadCliDataset(config, {
      // inspect always reads the source so that its report is fresh; prepare uses the cache.
      ...(action === 'prepare' && options.cache ? {} : { cache: false as const }),
      maxExamples: options.examples,
      // The tables below say it all; only a partial read's warning also goes to stderr.
      log: (line) => {
        if (line.startsWith('WARNING')) console.error(line);
      },
    });
    const seconds = (performance.now() - started) / 1000;
    const { dataset } = loaded;
    const exported =
      action === 'prepare' && options.export ? writeRecBole(dataset, options.export, dataset.name) : undefined;
    if (options.json) {
      console.log(
        JSON.stringify(
          {
            source: loaded.source,
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
    if (dataset.loadReport) {
      console.log(loaded.fromCache ? 'load (when the cache was written)' : 'load');
      console.log(table(reportRows(dataset.loadReport)));
      const examples = dataset.loadReport.examples.slice(0, options.examples);
      if (examples.length > 0) {
        console.log('malformed rows (first shown)');
        for (const e of examples) console.log(`  ${e.file}:${e.line}: ${e.reason}: ${JSON.stringify(e.text)}`);
      }
    }
    console.log('dataset');
    console.log(table(summaryRows(dataset, loaded.source.kind)));
    const where = loaded.fromCache
      ? `read from cache ${loaded.cacheFile}`
      : loaded.cacheFile
        ? `cached to ${loaded.cacheFile}`
        : 'not cached';
    console.log(`${seconds.toFixed(2)} s, ${where}`);
    if (exported) console.log(`wrote ${exported.inter} and ${exported.item}`);
  },
});
