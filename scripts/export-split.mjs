#!/usr/bin/env node
// Writes a leave-one-out split and its fixed 1+N candidate sets as .npy files plus meta.json, so
// the PyTorch references (bench/torch/sasrec.py, gru4rec.py) train and evaluate on exactly the
// data llmrec's own models see. Uses the built package: run `npx tsc -p tsconfig.json` first.
//
//   node scripts/export-split.mjs --out /tmp/split [--data FILE] [--seed 0] [--negatives 99]
//
// Layout (all little-endian int32, users are 1-based ids, 0 is padding):
//   train_offsets.npy   [numUsers + 2]; user u's training items are
//                       train_items[train_offsets[u] : train_offsets[u + 1]] (row 0 is empty)
//   train_items.npy     all training items, user by user, chronological
//   valid_target.npy    [numUsers + 1] the validation item per user (0: training-only user)
//   test_target.npy     [numUsers + 1] the test item per user (0: training-only user)
//   {valid,test}_users.npy       [rows] the users evaluated at that stage
//   {valid,test}_candidates.npy  [rows, 1 + negatives]; column 0 is the target
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const here = path.dirname(new URL(import.meta.url).pathname);
const packageEntry = path.join(here, '..', 'dist', 'lib', 'index.js');
if (!existsSync(packageEntry)) {
  console.error(`export-split: ${packageEntry} is missing; run \`npx tsc -p tsconfig.json\` first`);
  process.exit(1);
}
const { data } = await import(packageEntry);

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    data: { type: 'string' },
    seed: { type: 'string', default: '0' },
    negatives: { type: 'string', default: '99' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help || !values.out) {
  console.error('usage: node scripts/export-split.mjs --out DIR [--data FILE] [--seed 0] [--negatives 99]');
  process.exit(values.help ? 0 : 1);
}
const seed = Number(values.seed);
const negatives = Number(values.negatives);
if (!Number.isInteger(seed) || seed < 0)
  throw new Error(`export-split: --seed must be a non-negative integer, got ${values.seed}`);
if (!Number.isInteger(negatives) || negatives < 0) {
  throw new Error(`export-split: --negatives must be a non-negative integer, got ${values.negatives}`);
}

/** numpy's .npy v1.0: magic, header length, a Python dict literal padded so data starts 64-aligned. */
function npy(array, shape) {
  const dict = `{'descr': '<i4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const body = Buffer.from(array.buffer, array.byteOffset, array.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('export-split: needs a little-endian host');
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), body]);
}

const loaded = values.data ? await data.loadDataset(values.data) : await data.loadDefaultDataset();
const dataset = loaded.dataset;
const split = dataset.split();
const numUsers = dataset.numUsers;

const trainOffsets = new Int32Array(numUsers + 2);
for (let u = 1; u <= numUsers; u++) trainOffsets[u + 1] = trainOffsets[u] + split.train(u).length;
const trainItems = new Int32Array(trainOffsets[numUsers + 1]);
for (let u = 1; u <= numUsers; u++) trainItems.set(split.train(u), trainOffsets[u]);

const out = values.out;
mkdirSync(out, { recursive: true });
const files = {
  train_offsets: [trainOffsets, [trainOffsets.length]],
  train_items: [trainItems, [trainItems.length]],
  valid_target: [split.validTarget, [split.validTarget.length]],
  test_target: [split.testTarget, [split.testTarget.length]],
};
const stages = {};
for (const stage of ['valid', 'test']) {
  const sets = data.candidateSets(split, { stage, negatives, seed });
  files[`${stage}_users`] = [sets.users, [sets.users.length]];
  files[`${stage}_candidates`] = [sets.candidates, [sets.users.length, sets.width]];
  stages[stage] = { users: sets.users.length, width: sets.width };
}
for (const [name, [array, shape]] of Object.entries(files))
  writeFileSync(path.join(out, `${name}.npy`), npy(array, shape));

const meta = {
  format: 'llmrec-split/1',
  dataset: dataset.name,
  source: values.data ?? 'embedded',
  num_users: numUsers,
  num_items: dataset.numItems,
  interactions: dataset.items.length,
  train_interactions: trainItems.length,
  candidate_seed: seed,
  negatives,
  target_column: 0,
  stages,
  files: Object.keys(files).map((name) => `${name}.npy`),
};
writeFileSync(path.join(out, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
console.log(JSON.stringify(meta));
