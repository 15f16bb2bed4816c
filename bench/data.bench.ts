// Data pipeline throughput on the real Online Retail 2010-2011 file (541,909 rows): parsing,
// preprocessing, the cached reload, candidate sampling and full-ranking metrics. The raw-file
// cases need the shared data ($LLMREC_SHARED_DATA or ../shared/data) and are left out without it.
// The readers of the other formats (Amazon 2014/2018, RecBole sequence splits, MovieLens) run on
// synthetic files of realistic shape written to a temporary folder (read from the page cache).
// Rows per second = notes.rows / medianMs × 1000.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { data, evaluation } from '../lib/index.js';
import type { Benchmark } from './harness.js';

const shared = data.sharedDataDirectory();
const rawFile = shared && path.join(shared, 'online-retail', 'OnlineRetail.csv.xz');

let raw: Buffer | undefined;
const rawBytes = () => (raw ??= data.readDecompressedSync(rawFile!));
let prepared: data.SequenceDataset | undefined;
const preparedDataset = () => (prepared ??= data.prepareDataset(data.parseOnlineRetail(rawBytes()), { kCore: 5 }));

const rawCases: Benchmark[] = [
  {
    name: 'data/parse/online-retail-2010-2011',
    devices: ['cpu'],
    setup() {
      const bytes = rawBytes();
      let rows = 0;
      return {
        run() {
          rows = data.parseOnlineRetail(bytes).report.rowsRead;
        },
        bytes: bytes.length,
        dispose() {},
        notes: () => ({ rows }),
      };
    },
  },
  {
    name: 'data/prepare/online-retail-2010-2011-5core',
    devices: ['cpu'],
    setup() {
      const log = data.parseOnlineRetail(rawBytes());
      return {
        run() {
          data.prepareDataset(log, { kCore: 5 });
        },
        dispose() {},
        notes: () => ({ rows: log.user.length }),
      };
    },
  },
  {
    name: 'data/parse+prepare/online-retail-2010-2011',
    devices: ['cpu'],
    setup() {
      const bytes = rawBytes();
      return {
        run() {
          data.prepareDataset(data.parseOnlineRetail(bytes), { kCore: 5 });
        },
        bytes: bytes.length,
        dispose() {},
        notes: () => ({ rows: 541909 }),
      };
    },
  },
  {
    name: 'data/cache-reload/online-retail-2010-2011',
    devices: ['cpu'],
    setup() {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-bench-'));
      const file = path.join(dir, 'dataset.llmrecds');
      data.writeDatasetCache(file, preparedDataset());
      let interactions = 0;
      return {
        run() {
          interactions = data.readDatasetCache(file)!.numInteractions;
        },
        bytes: data.serializeDataset(preparedDataset()).length,
        dispose() {
          rmSync(dir, { recursive: true, force: true });
        },
        notes: () => ({ interactions }),
      };
    },
  },
];

const evaluationCases: Benchmark[] = [
  {
    name: 'data/candidates/1+99/all-users',
    devices: ['cpu'],
    setup() {
      const split = preparedDataset().leaveOneOut();
      return {
        run() {
          data.candidateSets(split, { stage: 'test', negatives: 99, seed: 1 });
        },
        dispose() {},
        notes: () => ({ users: split.evaluationUsers().length }),
      };
    },
  },
  {
    name: 'metrics/full-ranking/4096x3180',
    devices: ['cpu'],
    setup() {
      const rows = 4096;
      const width = 3180;
      const rng = new data.Rng(1);
      const scores = new Float32Array(rows * width);
      for (let i = 0; i < scores.length; i++) scores[i] = rng.nextFloat();
      const targets = Int32Array.from({ length: rows }, () => 1 + rng.nextInt(width - 1));
      return {
        run() {
          evaluation.fullRankingMetrics(scores, rows, targets);
        },
        bytes: scores.byteLength,
        dispose() {},
      };
    },
  },
];

// ---------------------------------------------------------------------------------------------
// The readers of the papers' formats, on synthetic files: 20,000 users with 5-25 interactions
// each (about 300,000 rows) over 20,000 items, with Zipf-like item popularity.

const synthetic = { users: 20_000, items: 20_000, minLength: 5, maxLength: 25 };

/** Users' item sequences and times, fixed by a seed. */
function syntheticSequences(): { items: number[][]; times: number[][] } {
  const rng = new data.Rng(7);
  const items: number[][] = [];
  const times: number[][] = [];
  for (let u = 0; u < synthetic.users; u++) {
    const length = synthetic.minLength + rng.nextInt(synthetic.maxLength - synthetic.minLength + 1);
    const seq: number[] = [];
    const t: number[] = [];
    let time = 1_300_000_000 + rng.nextInt(100_000_000);
    for (let k = 0; k < length; k++) {
      seq.push(Math.floor(synthetic.items * rng.nextFloat() ** 2));
      time += 1 + rng.nextInt(86_400 * 30);
      t.push(time);
    }
    items.push(seq);
    times.push(t);
  }
  return { items, times };
}

const asin = (i: number) => `B0${String(i).padStart(8, '0')}`;
const title = (i: number) => `Synthetic Product ${i} with a Longer Title, "Deluxe" Edition`;

/** Writes the files of one format into a new temporary folder; returns it and the row count. */
function writeFormat(kind: 'amazon-2018' | 'amazon-2014' | 'recbole-split' | 'movielens'): {
  dir: string;
  rows: number;
} {
  const dir = mkdtempSync(path.join(os.tmpdir(), `llmrec-bench-${kind}-`));
  const { items, times } = syntheticSequences();
  const lines: string[] = [];
  const write = (name: string, rows: string[]) => writeFileSync(path.join(dir, name), rows.join('\n') + '\n');
  if (kind === 'amazon-2018' || kind === 'amazon-2014') {
    items.forEach((seq, u) =>
      seq.forEach((i, k) =>
        lines.push(
          JSON.stringify({
            overall: 1 + ((u + i) % 5),
            verified: true,
            reviewerID: `A${u.toString(36).toUpperCase()}X`,
            asin: asin(i),
            reviewerName: 'Someone',
            reviewText: 'Works as described. Would buy again.',
            summary: 'Five Stars',
            unixReviewTime: times[u]![k],
          }),
        ),
      ),
    );
    const reviews = kind === 'amazon-2014' ? 'reviews_Synthetic_5.json' : 'Synthetic_5.json';
    write(reviews, lines);
    const meta: string[] = [];
    for (let i = 0; i < synthetic.items; i++) {
      meta.push(
        kind === 'amazon-2018'
          ? JSON.stringify({
              category: ['Toys', 'Games'],
              description: ['A description.'],
              title: title(i),
              brand: 'Acme',
              asin: asin(i),
            })
          : `{'asin': '${asin(i)}', 'title': 'Synthetic Product ${i} with a Longer Title, "Deluxe" Edition', 'price': 12.99, ` +
              `'related': {'also_bought': ['${asin(i + 1)}', '${asin(i + 2)}']}, 'salesRank': {'Toys & Games': ${i}}, ` +
              `'categories': [['Toys & Games', 'Puzzles']], 'description': 'Caf\\xc3\\xa9 puzzle, it\\'s fun.'}`,
      );
    }
    write('meta_Synthetic.json', meta);
    return { dir, rows: lines.length };
  }
  if (kind === 'movielens') {
    items.forEach((seq, u) =>
      seq.forEach((i, k) => lines.push(`${u + 1}::${i + 1}::${1 + ((u + i) % 5)}::${times[u]![k]}`)),
    );
    write('ratings.dat', lines);
    write(
      'movies.dat',
      Array.from({ length: synthetic.items }, (_, i) => `${i + 1}::${title(i)} (1999)::Comedy|Drama`),
    );
    return { dir, rows: lines.length };
  }
  // RecBole sequence split as UniSRec writes it: every training prefix, histories cut to 50.
  const header = 'user_id:token\titem_id_list:token_seq\titem_id:token';
  const train = [header];
  const valid = [header];
  const test = [header];
  items.forEach((seq, u) => {
    const ids = seq.map(String);
    const trainItems = ids.slice(0, -2);
    for (let back = 1; back < trainItems.length; back++) {
      train.push(`${u}\t${trainItems.slice(0, -back).slice(-50).join(' ')}\t${trainItems[trainItems.length - back]}`);
    }
    valid.push(`${u}\t${trainItems.slice(-50).join(' ')}\t${ids.at(-2)}`);
    test.push(`${u}\t${ids.slice(0, -1).slice(-50).join(' ')}\t${ids.at(-1)}`);
  });
  write('Synthetic.train.inter', train);
  write('Synthetic.valid.inter', valid);
  write('Synthetic.test.inter', test);
  write(
    'Synthetic.item2index',
    Array.from({ length: synthetic.items }, (_, i) => `${asin(i)}\t${i}`),
  );
  write('Synthetic.text', [
    'item_id:token\ttext:token_seq',
    ...Array.from({ length: synthetic.items }, (_, i) => `${asin(i)}\t${title(i)}`),
  ]);
  return { dir, rows: train.length + valid.length + test.length - 3 };
}

const readerCases: Benchmark[] = (['amazon-2018', 'amazon-2014', 'recbole-split', 'movielens'] as const).map(
  (kind) => ({
    name: `data/read/${kind}/synthetic-300k`,
    devices: ['cpu'],
    setup() {
      const { dir, rows } = writeFormat(kind);
      let interactions = 0;
      return {
        async run() {
          // No k-core (a sequence split refuses one): the reader and the id assignment are timed.
          const prepare = kind === 'recbole-split' ? {} : { kCore: 0 };
          interactions = (await data.loadDataset(dir, { cache: false, prepare })).dataset.numInteractions;
        },
        dispose() {
          rmSync(dir, { recursive: true, force: true });
        },
        notes: () => ({ rows, interactions }),
      };
    },
  }),
);

const literalCase: Benchmark = {
  name: 'data/python-literal/amazon-2014-meta-line',
  devices: ['cpu'],
  setup() {
    const line =
      "{'asin': '0000031852', 'title': 'Girls Ballet Tutu Zebra Hot Pink', 'price': 3.17, 'imUrl': " +
      "'http://ecx.images-amazon.com/images/I/51fAmVkTbyL._SY300_.jpg', 'related': {'also_bought': ['B00JHONN1S', " +
      "'B002BZX8Z6', 'B00D2K1M3O', '0000031909', 'B00613WDTQ'], 'bought_together': ['B002BZX8Z6']}, 'salesRank': " +
      "{'Sports &amp; Outdoors': 8547}, 'categories': [['Sports & Outdoors', 'Other Sports', 'Dance']], " +
      "'description': 'A tutu for caf\\xc3\\xa9 ballet, it\\'s pink.'}";
    let rows = 0;
    return {
      run() {
        for (let i = 0; i < 1000; i++) data.parsePythonLiteral(line);
        rows = 1000;
      },
      bytes: line.length * 1000,
      dispose() {},
      notes: () => ({ rows }),
    };
  },
};

export const benchmarks: Benchmark[] = [
  ...(rawFile ? [...rawCases, ...evaluationCases] : [evaluationCases[1]!]),
  ...readerCases,
  literalCase,
];
