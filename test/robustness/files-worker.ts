// The file fuzz's child process (files.test.ts starts it with a scratch folder as its cwd):
// mutates real files (truncation, flipped bytes, inserted garbage, zeroed and duplicated runs)
// and reads each through its reader: safetensors, tokenizer.json, CSV, JSON lines, RecBole
// (plain and gzip), and a training checkpoint. A reader may accept a mutation that leaves the
// file valid, or refuse it with an Error; it must never crash, hang or fail inside itself.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import { data, io, nn, optim, Tokenizer, training } from '../../lib/index.js';
import { runCases, type WorkerCase } from './case-runner.js';

const fixtures = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..', 'test', 'fixtures');
const mutationsPerFile = Number(process.env.LLMREC_FILE_MUTATIONS ?? 40);
const scratch = process.cwd();

/** A deterministic generator per (file, mutation), so a failing case can be replayed. */
function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

const mutations: [string, (b: Buffer, r: () => number) => Buffer][] = [
  ['truncate', (b, r) => b.subarray(0, Math.floor(r() * b.length))],
  [
    'flip bytes',
    (b, r) => {
      const c = Buffer.from(b);
      for (let i = 0; i < 1 + Math.floor(r() * 8); i++) {
        const at = Math.floor(r() * c.length);
        c[at] = c[at]! ^ (1 << Math.floor(r() * 8));
      }
      return c;
    },
  ],
  [
    'insert garbage',
    (b, r) => {
      const at = Math.floor(r() * b.length);
      const junk = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256)));
      return Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
    },
  ],
  [
    'zero a run',
    (b, r) => {
      const c = Buffer.from(b);
      const at = Math.floor(r() * c.length);
      c.fill(0, at, Math.min(c.length, at + 1 + Math.floor(r() * 256)));
      return c;
    },
  ],
  [
    'duplicate a run',
    (b, r) => {
      const at = Math.floor(r() * b.length);
      const run = b.subarray(at, at + 1 + Math.floor(r() * 512));
      return Buffer.concat([b.subarray(0, at), run, b.subarray(at)]);
    },
  ],
];

interface Reader {
  name: string;
  /** The real file's bytes and the name the mutated copy gets (its extension picks the format). */
  original: () => Buffer;
  fileName: string;
  read: (file: string) => unknown;
}

/** A real safetensors file and checkpoint, written by the library from a small model. */
function modelFiles(): {
  safetensors: Buffer;
  checkpointState: Buffer;
  checkpointModel: Buffer;
  checkpointOptimizer: Buffer;
} {
  const dir = path.join(scratch, 'originals');
  const model = new nn.MLP([8, 16, 4]);
  const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-3 });
  training.saveCheckpoint(dir, 'step-1', { model, optimizer, state: { epoch: 0, step: 1 } });
  optimizer.dispose();
  model.dispose();
  const read = (name: string) => fs.readFileSync(path.join(dir, 'step-1', name));
  return {
    safetensors: read(training.MODEL_FILE),
    checkpointState: read(training.STATE_FILE),
    checkpointModel: read(training.MODEL_FILE),
    checkpointOptimizer: read(training.OPTIMIZER_FILE),
  };
}

/** Loads a mutated checkpoint: `file` replaces one of its files, the rest stay valid. */
function readCheckpoint(file: string, replaced: string, originals: ReturnType<typeof modelFiles>): unknown {
  const dir = path.join(path.dirname(file), `ckpt-${path.basename(file)}`);
  fs.mkdirSync(path.join(dir, 'step-1'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'step-1', training.STATE_FILE), originals.checkpointState);
  fs.writeFileSync(path.join(dir, 'step-1', training.MODEL_FILE), originals.checkpointModel);
  fs.writeFileSync(path.join(dir, 'step-1', training.OPTIMIZER_FILE), originals.checkpointOptimizer);
  fs.copyFileSync(file, path.join(dir, 'step-1', replaced));
  fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify({ checkpoint: 'step-1' }));
  const model = new nn.MLP([8, 16, 4]);
  const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-3 });
  try {
    const latest = training.latestCheckpoint(dir);
    return latest && training.loadCheckpoint(latest, model, optimizer);
  } finally {
    optimizer.dispose();
    model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function readers(): Reader[] {
  const originals = modelFiles();
  const fixture =
    (...p: string[]) =>
    () =>
      fs.readFileSync(path.join(fixtures, ...p));
  const table = { columns: { user: 'user_id', item: 'parent_asin', time: 'timestamp' } };
  return [
    {
      name: 'safetensors',
      original: () => originals.safetensors,
      fileName: 'weights.safetensors',
      read: (file) => {
        const tensors = io.loadSafetensors(file);
        for (const t of tensors.values()) t.dispose();
      },
    },
    {
      name: 'tokenizer.json',
      original: fixture('tokenizer', 'qwen2-tiny', 'tokenizer.json'),
      fileName: 'tokenizer.json',
      read: (file) => Tokenizer.fromFile(file).encode('a mutated tokenizer reads this'),
    },
    {
      name: 'CSV (Online Retail)',
      original: fixture('data', 'online-retail-small.csv'),
      fileName: 'retail.csv',
      read: (file) => data.loadOnlineRetail(file),
    },
    {
      name: 'JSON lines',
      original: fixture('data', 'reviews.jsonl'),
      fileName: 'reviews.jsonl',
      read: (file) => data.loadTable(file, table),
    },
    {
      name: 'RecBole .inter',
      original: fixture('data', 'small.inter'),
      fileName: 'small.inter',
      read: (file) => data.loadRecBole({ inter: file }),
    },
    {
      name: 'RecBole .inter.gz',
      original: () => zlib.gzipSync(fs.readFileSync(path.join(fixtures, 'data', 'small.inter'))),
      fileName: 'small.inter.gz',
      read: (file) => data.loadRecBole({ inter: file }),
    },
    {
      name: 'checkpoint trainer.json',
      original: () => originals.checkpointState,
      fileName: 'trainer.json',
      read: (file) => readCheckpoint(file, training.STATE_FILE, originals),
    },
    {
      name: 'checkpoint optimizer.safetensors',
      original: () => originals.checkpointOptimizer,
      fileName: 'optimizer.safetensors',
      read: (file) => readCheckpoint(file, training.OPTIMIZER_FILE, originals),
    },
  ];
}

const cases: WorkerCase[] = [];
readers().forEach((reader, r) => {
  const original = reader.original();
  for (let m = 0; m < mutationsPerFile; m++) {
    const [kind, mutate] = mutations[m % mutations.length]!;
    cases.push({
      name: reader.name,
      args: `${kind} #${m}`,
      run: () => {
        const dir = path.join(scratch, `case-${r}-${m}`);
        fs.mkdirSync(dir, { recursive: true });
        const file = path.join(dir, reader.fileName);
        fs.writeFileSync(file, mutate(original, rng(1 + r * 7919 + m * 104729)));
        const done = () => fs.rmSync(dir, { recursive: true, force: true });
        try {
          const value = reader.read(file);
          if (value instanceof Promise) return value.finally(done);
          done();
          return value;
        } catch (error) {
          done();
          throw error;
        }
      },
    });
  }
});
await runCases(cases);
