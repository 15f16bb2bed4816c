// Data pipeline throughput on the real Online Retail 2010-2011 file (541,909 rows): parsing,
// preprocessing, the cached reload, candidate sampling and full-ranking metrics. The raw-file
// cases need the shared data ($LLMREC_SHARED_DATA or ../shared/data) and are left out without it.
// Rows per second = notes.rows / medianMs × 1000.
import { mkdtempSync, rmSync } from 'node:fs';
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

export const benchmarks: Benchmark[] = rawFile ? [...rawCases, ...evaluationCases] : [evaluationCases[1]!];
