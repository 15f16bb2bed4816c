// Loaders on small and malformed inputs, preprocessing against brute-force references, the
// binary cache, the RNG and the samplers' determinism.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { data } from '../lib/index.js';

const {
  Rng,
  loadOnlineRetail,
  loadAmazonReviews,
  loadRecBole,
  loadTable,
  loadDataset,
  loadDefaultDataset,
  detectSource,
  prepareDataset,
  kCoreFilter,
  serializeDataset,
  deserializeDataset,
  trainingBatches,
  candidateSets,
  fewShotUsers,
  itemPopularityGroups,
  usersWithLength,
  usersWithTargetIn,
  parseDateTime,
  isProductCode,
} = data;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = (name: string) => path.join(root, 'test', 'fixtures', 'data', name);
const cli = path.join(root, 'dist', 'lib', 'cli', 'main.js');

/** A random interaction log with many ties in time and repeated rows, for reference checks. */
function randomLog(seed: number, rows: number, users: number, items: number): data.InteractionLog {
  const rng = new Rng(seed);
  const log: data.InteractionLog = {
    userKeys: Array.from({ length: users }, (_, i) => `u${i}`),
    itemKeys: Array.from({ length: items }, (_, i) => `i${i}`),
    user: new Int32Array(rows),
    item: new Int32Array(rows),
    time: new Float64Array(rows),
    basket: new Int32Array(rows),
    titles: Array.from({ length: items }, (_, i) => `title ${i}`),
    descriptions: Array.from({ length: items }, () => ''),
    report: {
      files: [],
      rowsRead: rows,
      rowsKept: rows,
      dropped: {},
      malformed: {},
      malformedCount: 0,
      examples: [],
      sourceErrors: [],
    },
  };
  for (let r = 0; r < rows; r++) {
    // Skewed users and items so that k-core needs several rounds.
    log.user[r] = Math.floor(users * rng.nextFloat() ** 2);
    log.item[r] = Math.floor(items * rng.nextFloat() ** 2);
    log.time[r] = rng.nextInt(40) * 1000;
    log.basket[r] = rng.nextInt(3) === 0 ? -1 : rng.nextInt(30);
  }
  return log;
}

/** The whole preprocessing, written the slow obvious way. */
function referencePrepare(log: data.InteractionLog, k: number, dedupe: boolean) {
  let rows = Array.from(log.user, (_, r) => r);
  rows.sort((a, b) => log.user[a]! - log.user[b]! || log.time[a]! - log.time[b]! || a - b);
  if (dedupe) {
    const seen = new Set<string>();
    rows = rows.filter((r) => {
      const session = log.basket[r]! >= 0 ? `b${log.basket[r]}` : `t${log.time[r]}`;
      const key = `${log.user[r]}|${session}|${log.item[r]}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
  for (;;) {
    const users = new Map<number, number>();
    const items = new Map<number, number>();
    for (const r of rows) {
      users.set(log.user[r]!, (users.get(log.user[r]!) ?? 0) + 1);
      items.set(log.item[r]!, (items.get(log.item[r]!) ?? 0) + 1);
    }
    const next = rows.filter((r) => users.get(log.user[r]!)! >= k && items.get(log.item[r]!)! >= k);
    if (next.length === rows.length) break;
    rows = next;
  }
  const canonical = (keyOf: (r: number) => number, names: string[]) => {
    const first = new Map<number, number>();
    for (const r of rows) first.set(keyOf(r), Math.min(first.get(keyOf(r)) ?? Infinity, log.time[r]!));
    const order = [...first.keys()].sort((a, b) => first.get(a)! - first.get(b)! || (names[a]! < names[b]! ? -1 : 1));
    return new Map(order.map((key, index) => [key, index + 1]));
  };
  const userIds = canonical((r) => log.user[r]!, log.userKeys);
  const itemIds = canonical((r) => log.item[r]!, log.itemKeys);
  const sequences = new Map<number, number[]>();
  for (const r of rows) {
    const u = userIds.get(log.user[r]!)!;
    if (!sequences.has(u)) sequences.set(u, []);
    sequences.get(u)!.push(itemIds.get(log.item[r]!)!);
  }
  return { sequences, users: userIds.size, items: itemIds.size };
}

describe('data: loaders', () => {
  it('loads the Online Retail schema, cleans rows and reports malformed ones with their lines', async () => {
    const log = await loadOnlineRetail(fixture('online-retail-small.csv'));
    const r = log.report;
    expect(r.rowsRead).to.equal(13);
    expect(r.rowsKept).to.equal(6);
    expect(r.dropped).to.deep.equal({
      cancellation: 1,
      'non-positive quantity': 1,
      'no customer': 1,
      'non-product code': 1,
    });
    expect(r.malformed).to.deep.equal({ 'bad date': 1, 'expected 8 fields, got 7': 1, 'bad quantity': 1 });
    expect(r.examples.map((e) => [e.line, e.reason])).to.deep.equal([
      [11, 'bad date'],
      [12, 'expected 8 fields, got 7'],
      [13, 'bad quantity'],
    ]);
    expect(r.examples[0]!.file).to.equal(fixture('online-retail-small.csv'));
    expect(log.userKeys).to.deep.equal(['17850', '12583']);
    expect(log.itemKeys).to.deep.equal(['85123A', '71053', '22633', '22139']);
    expect(log.titles).to.deep.equal([
      'WHITE HANGING HEART T-LIGHT HOLDER',
      'WHITE METAL LANTERN',
      'HAND WARMER UNION JACK, RED',
      'RETROSPOT "TEA" SET',
    ]);
    expect(log.time[5]).to.equal(Date.UTC(2010, 11, 3, 9, 5));
    expect(Array.from(log.basket)).to.deep.equal([0, 0, 0, 1, 2, 3]);
  });

  it('reads the Online Retail II schema and drops gift vouchers as non-products', async () => {
    const log = await loadOnlineRetail(fixture('online-retail-ii-small.csv'));
    expect(log.itemKeys).to.deep.equal(['85048', '79323P']);
    expect(log.report.dropped).to.deep.equal({ 'non-product code': 1 });
    const kept = await loadOnlineRetail(fixture('online-retail-ii-small.csv'), { dropNonProducts: false });
    expect(kept.itemKeys).to.include('gift_0001_20');
    expect(kept.titles[2]).to.equal('Dotcomgiftshop Gift Voucher £20.00');
  });

  it('classifies stock codes', () => {
    for (const code of ['85123A', '22633', 'DCGS0058', 'DCGSSGIRL', 'SP1002'])
      expect(isProductCode(code), code).to.equal(true);
    for (const code of [
      'POST',
      'DOT',
      'M',
      'm',
      'C2',
      'BANK CHARGES',
      'gift_0001_20',
      'TEST001',
      'ADJUST2',
      'AMAZONFEE',
    ]) {
      expect(isProductCode(code), code).to.equal(false);
    }
  });

  it('reports a file cut inside a quoted field without losing the rows before it', async () => {
    const log = await loadOnlineRetail(fixture('online-retail-truncated.csv'));
    expect(log.report.rowsKept).to.equal(2);
    expect(log.report.malformed).to.deep.equal({ 'unterminated quoted field at end of file': 1 });
    expect(log.report.examples[0]!.line).to.equal(4);
  });

  it('loses only the row with a stray quote, not the rows after it', async () => {
    const log = await loadOnlineRetail(fixture('online-retail-stray-quote.csv'));
    expect(log.report.malformed).to.deep.equal({ 'unbalanced quote': 1 });
    expect(log.report.examples[0]!.line).to.equal(5);
    expect(log.report.rowsRead).to.equal(6);
    expect(log.report.rowsKept).to.equal(4);
    expect(log.titles[log.itemKeys.indexOf('22633')]).to.equal('HAND WARMER UNION JACK, RED');
  });

  it('names a missing file', async () => {
    let message = '';
    try {
      await loadOnlineRetail(fixture('no-such-file.csv'));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.match(/data: no such file: .*no-such-file\.csv/);
  });

  it('fails on a truncated compressed file, or with allowPartial keeps the complete rows and reports it', async () => {
    let message = '';
    try {
      await loadOnlineRetail(fixture('online-retail-cut.csv.gz'));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.match(/online-retail-cut\.csv\.gz could not be read to the end .*unexpected end of file/);
    const log = await loadOnlineRetail(fixture('online-retail-cut.csv.gz'), { allowPartial: true });
    expect(log.report.sourceErrors).to.have.length(1);
    expect(log.report.sourceErrors[0]).to.match(/online-retail-cut\.csv\.gz: unexpected end of file/);
    expect(log.report.rowsKept).to.be.greaterThan(0);
  });

  it('rejects lines that are not UTF-8 with their line number', async () => {
    const log = await loadOnlineRetail(fixture('online-retail-latin1.csv'));
    expect(log.report.malformed).to.deep.equal({ 'invalid UTF-8': 1 });
    expect(log.report.examples[0]!.line).to.equal(3);
    expect(log.report.rowsKept).to.equal(3);
  });

  it('throws an error naming the file and the missing columns for a wrong header', async () => {
    let message = '';
    try {
      await loadOnlineRetail(fixture('wrong-columns.csv'));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.match(
      /online-retail loader: .*wrong-columns\.csv line 1 has columns \[Invoice, Item, Qty, When, Customer\]/,
    );
    expect(message).to.match(/missing StockCode, Description, Quantity, InvoiceDate, CustomerID\|Customer ID/);
  });

  it('loads Amazon Reviews 2023 reviews and meta', async () => {
    const log = await loadAmazonReviews({ reviews: fixture('reviews.jsonl'), meta: fixture('meta_reviews.jsonl') });
    expect(log.report.rowsRead).to.equal(6);
    expect(log.report.malformed).to.deep.equal({ 'invalid JSON': 1, 'missing user_id': 1 });
    expect(log.report.examples.map((e) => e.line)).to.deep.equal([3, 6]);
    expect(log.itemKeys).to.deep.equal(['P1', 'P2', 'B04']);
    expect(log.titles).to.deep.equal(['Lip Balm "Cherry"', 'Hand Cream', '']);
    expect(log.descriptions[0]).to.equal('Soft. Lasts long.');
    expect(log.report.dropped).to.deep.equal({ 'meta row for an item without reviews': 1 });
    expect(log.time[0]).to.equal(1588687728923);
    const source = await detectSource(fixture('reviews.jsonl'));
    expect(source).to.deep.equal({
      kind: 'amazon-2023',
      reviews: fixture('reviews.jsonl'),
      meta: fixture('meta_reviews.jsonl'),
    });
  });

  it('loads RecBole atomic files', async () => {
    const log = await loadRecBole({ inter: fixture('small.inter'), item: fixture('small.item') });
    expect(log.report.rowsRead).to.equal(5);
    expect(log.report.malformed).to.deep.equal({ 'bad timestamp': 1, 'expected 4 fields, got 2': 1 });
    expect(Array.from(log.time)).to.deep.equal([100000, 90000, 50000]);
    expect(log.titles).to.deep.equal(['The "Best" Item', 'Second']);
    const source = await detectSource(fixture('small.inter'));
    expect(source).to.deep.equal({ kind: 'recbole', inter: fixture('small.inter'), item: fixture('small.item') });
  });

  it('loads a generic TSV through a column map, reading mixed time formats', async () => {
    const log = await loadTable(fixture('generic.tsv'), {
      columns: { user: 'visitor', item: 'product', time: 'when', title: 'name' },
    });
    const t = Date.UTC(2020, 0, 2, 3, 4, 5);
    expect(Array.from(log.time)).to.deep.equal([t, t, t]);
    expect(log.report.malformed).to.deep.equal({ 'empty product': 1 });
    expect(log.titles).to.deep.equal(['Ex', 'Why']);
    let message = '';
    try {
      await loadTable(fixture('generic.tsv'), { columns: { user: 'visitor', item: 'sku' } });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.match(/table loader: .*generic\.tsv has columns \[visitor, product, when, name\]; missing sku/);
  });

  it('parses dates strictly', () => {
    expect(parseDateTime('2010-12-01 08:26:00')).to.equal(Date.UTC(2010, 11, 1, 8, 26));
    expect(parseDateTime('2011-12-09T12:50:00.250Z')).to.equal(Date.UTC(2011, 11, 9, 12, 50, 0, 250));
    expect(parseDateTime('2/29/2012 23:59')).to.equal(Date.UTC(2012, 1, 29, 23, 59));
    for (const bad of ['2011-02-29 10:00', '2010-13-01', '12/1/2010 25:00', 'yesterday', '']) {
      expect(Number.isNaN(parseDateTime(bad)), bad).to.equal(true);
    }
  });
});

describe('data: preprocessing', () => {
  it('matches a brute-force reference for order, dedupe, k-core and ids', () => {
    for (const [seed, k, dedupe] of [
      [1, 3, true],
      [2, 5, true],
      [3, 4, false],
      [4, 1, true],
    ] as const) {
      const log = randomLog(seed, 3000, 120, 150);
      const dataset = prepareDataset(log, { kCore: k, dedupe: dedupe ? 'session' : 'none' });
      const reference = referencePrepare(log, k, dedupe);
      expect(dataset.numUsers, `seed ${seed}`).to.equal(reference.users);
      expect(dataset.numItems).to.equal(reference.items);
      for (let u = 1; u <= dataset.numUsers; u++) {
        expect(Array.from(dataset.sequence(u)), `seed ${seed} user ${u}`).to.deep.equal(reference.sequences.get(u));
      }
      for (let i = 1; i <= dataset.numItems; i++)
        expect(dataset.titles[i]).to.equal(`title ${dataset.itemKeys[i]!.slice(1)}`);
      expect(dataset.summary.interactions).to.equal(dataset.items.length);
      expect(dataset.offsets[0]).to.equal(0);
      expect(dataset.offsets[1]).to.equal(0);
    }
  });

  it('k-core leaves every user and item with at least k rows, and took several rounds', () => {
    const log = randomLog(7, 4000, 200, 300);
    const alive = new Uint8Array(log.user.length).fill(1);
    const rounds = kCoreFilter(log.user, log.item, alive, 200, 300, 8, 8);
    expect(rounds).to.be.greaterThan(2);
    const users = new Int32Array(200);
    const items = new Int32Array(300);
    alive.forEach((a, r) => {
      if (a) {
        users[log.user[r]!]!++;
        items[log.item[r]!]!++;
      }
    });
    for (const c of [...users, ...items]) expect(c === 0 || c >= 8).to.equal(true);
  });

  it('prepares the small Online Retail file: invoice dedupe, chronological sequences, leave-one-out', async () => {
    const dataset = prepareDataset(await loadOnlineRetail(fixture('online-retail-small.csv')), { kCore: 1 });
    expect(dataset.userKeys).to.deep.equal(['', '17850', '12583']);
    // Items by first time, ties by key: 71053 and 85123A share 08:26.
    expect(dataset.itemKeys).to.deep.equal(['', '71053', '85123A', '22633', '22139']);
    expect(Array.from(dataset.sequence(1))).to.deep.equal([2, 1, 3]);
    expect(Array.from(dataset.sequence(2))).to.deep.equal([4, 1]);
    expect(dataset.summary.removed.duplicates).to.equal(1);
    const split = dataset.leaveOneOut();
    expect(Array.from(split.train(1))).to.deep.equal([2]);
    expect(split.target(1, 'valid')).to.equal(1);
    expect(split.target(1, 'test')).to.equal(3);
    expect(Array.from(split.history(1, 'test'))).to.deep.equal([2, 1]);
    expect(split.target(2, 'test')).to.equal(0);
    expect(Array.from(split.train(2))).to.deep.equal([4, 1]);
    expect(Array.from(split.evaluationUsers())).to.deep.equal([1]);
  });

  it('keeps file order for equal timestamps', () => {
    const log = randomLog(11, 500, 5, 40);
    log.time.fill(0);
    const dataset = prepareDataset(log, { kCore: 0, dedupe: 'none' });
    for (let u = 1; u <= dataset.numUsers; u++) {
      const key = Number(dataset.userKeys[u]!.slice(1));
      const expected = Array.from(log.user.keys())
        .filter((r) => log.user[r] === key)
        .map((r) => dataset.itemKeys.indexOf(`i${log.item[r]}`));
      expect(Array.from(dataset.sequence(u))).to.deep.equal(expected);
    }
  });

  it('rejects bad options and user ids with messages naming them', () => {
    const dataset = prepareDataset(randomLog(3, 300, 10, 10), { kCore: 2 });
    expect(() => prepareDataset(randomLog(3, 30, 3, 3), { kCore: -1 })).to.throw(
      /prepare: kCore must be a non-negative integer, got -1/,
    );
    expect(() => dataset.sequence(0)).to.throw(/user id must be in 1\.\.\d+, got 0/);
  });
});

describe('data: cache', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-data-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips a dataset through the binary format', () => {
    const dataset = prepareDataset(randomLog(5, 2000, 50, 60), { kCore: 2, name: 'random' });
    const back = deserializeDataset(serializeDataset(dataset));
    expect(back.name).to.equal('random');
    expect(back.summary).to.deep.equal(dataset.summary);
    expect(Array.from(back.offsets)).to.deep.equal(Array.from(dataset.offsets));
    expect(Array.from(back.items)).to.deep.equal(Array.from(dataset.items));
    expect(Array.from(back.times)).to.deep.equal(Array.from(dataset.times));
    expect(back.titles).to.deep.equal(dataset.titles);
    expect(back.itemKeys).to.deep.equal(dataset.itemKeys);
    expect(() => deserializeDataset(Buffer.from('not a cache at all'), 'x.bin')).to.throw(
      /x\.bin is not an llmrec dataset cache/,
    );
    const bytes = serializeDataset(dataset);
    expect(() => deserializeDataset(bytes.subarray(0, bytes.length - 8), 'cut.bin')).to.throw(/cut\.bin is truncated/);
  });

  it('reloads from the cache and misses when the file or the options change', async () => {
    const file = path.join(dir, 'retail.csv');
    writeFileSync(file, (await import('node:fs')).readFileSync(fixture('online-retail-small.csv')));
    const first = await loadDataset(file, { cache: dir, prepare: { kCore: 1 } });
    expect(first.fromCache).to.equal(false);
    const second = await loadDataset(file, { cache: dir, prepare: { kCore: 1 } });
    expect(second.fromCache).to.equal(true);
    expect(second.cacheFile).to.equal(first.cacheFile);
    expect(Array.from(second.dataset.items)).to.deep.equal(Array.from(first.dataset.items));
    expect(second.dataset.loadReport?.rowsRead).to.equal(13);
    const other = await loadDataset(file, { cache: dir, prepare: { kCore: 0 } });
    expect(other.fromCache).to.equal(false);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const touched = await loadDataset(file, { cache: dir, prepare: { kCore: 1 } });
    expect(touched.fromCache).to.equal(false);
    writeFileSync(touched.cacheFile!, 'garbage');
    expect((await loadDataset(file, { cache: dir, prepare: { kCore: 1 } })).fromCache).to.equal(false);
  });
});

describe('data: RecBole export', () => {
  it('writes a dataset that reloads with the same ids, sequences, times and titles', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-export-'));
    try {
      const dataset = prepareDataset(randomLog(13, 2000, 60, 80), { kCore: 3 });
      const files = data.writeRecBole(dataset, dir, 'random');
      const back = prepareDataset(await loadRecBole(files), { kCore: 3, dedupe: 'none' });
      expect(back.userKeys).to.deep.equal(dataset.userKeys);
      expect(back.itemKeys).to.deep.equal(dataset.itemKeys);
      expect(back.titles).to.deep.equal(dataset.titles);
      expect(Array.from(back.items)).to.deep.equal(Array.from(dataset.items));
      expect(Array.from(back.times)).to.deep.equal(Array.from(dataset.times));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('data: embedded default dataset', () => {
  it('loads Online Retail 2010-2011 (5-core) and the 2009-2010 next-period set', async () => {
    const { dataset } = await loadDefaultDataset({ cache: false });
    expect(dataset.numUsers).to.equal(4104);
    expect(dataset.numItems).to.equal(3179);
    expect(dataset.numInteractions).to.equal(384776);
    expect(dataset.summary.sequenceLength.min).to.equal(5);
    expect(
      dataset
        .itemCounts()
        .subarray(1)
        .every((c) => c >= 5),
    ).to.equal(true);
    expect(dataset.titles[1]).to.equal('GLASS STAR FROSTED T-LIGHT HOLDER');
    const previous = await loadDefaultDataset({ cache: false, period: '2009-2010' });
    expect(previous.dataset.numUsers).to.equal(4067);
    expect(previous.dataset.numItems).to.equal(3492);
  });
});

describe('data: rng', () => {
  it('is a fixed sequence for a seed (same on every platform)', () => {
    const a = new Rng(42);
    const first = [a.nextU32(), a.nextU32(), a.nextU32(), a.nextU32()];
    expect(first).to.deep.equal([1164654270, 251743681, 208786549, 1408819808]);
    const b = new Rng(42, 1);
    expect(b.nextU32()).to.not.equal(first[0]);
  });

  it('draws unbiased integers', () => {
    const rng = new Rng(9);
    const n = 7;
    const counts = new Array<number>(n).fill(0);
    const draws = 70000;
    for (let i = 0; i < draws; i++) counts[rng.nextInt(n)]!++;
    const expected = draws / n;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi2).to.be.lessThan(22.5); // p = 0.001 for 6 degrees of freedom
    expect(() => rng.nextInt(0)).to.throw(/Rng\.nextInt: n must be an integer/);
  });
});

describe('data: samplers', () => {
  const dataset = prepareDataset(randomLog(21, 5000, 80, 600), { kCore: 3 });
  const split = dataset.leaveOneOut();

  it('builds left- and right-padded batches with negatives outside the history, the same for a seed', () => {
    const left = [...trainingBatches(split, { maxlen: 6, batchSize: 16, seed: 3 })];
    const again = [...trainingBatches(split, { maxlen: 6, batchSize: 16, seed: 3 })];
    expect(left.map((b) => Array.from(b.negative))).to.deep.equal(again.map((b) => Array.from(b.negative)));
    const otherEpoch = [...trainingBatches(split, { maxlen: 6, batchSize: 16, seed: 3, epoch: 1 })];
    expect(Array.from(otherEpoch[0]!.users)).to.not.deep.equal(Array.from(left[0]!.users));
    const right = [...trainingBatches(split, { maxlen: 6, batchSize: 16, seed: 3, padding: 'right' })];
    let users = 0;
    left.forEach((batch, b) => {
      for (let row = 0; row < batch.batchSize; row++) {
        users++;
        const u = batch.users[row]!;
        const train = Array.from(split.train(u));
        const pairs = Math.min(train.length - 1, 6);
        const input = train.slice(train.length - 1 - pairs, train.length - 1);
        const positive = train.slice(train.length - pairs);
        const pad = new Array<number>(6 - pairs).fill(0);
        expect(Array.from(batch.input.subarray(row * 6, row * 6 + 6))).to.deep.equal([...pad, ...input]);
        expect(Array.from(batch.positive.subarray(row * 6, row * 6 + 6))).to.deep.equal([...pad, ...positive]);
        const r = right[b]!;
        expect(Array.from(r.input.subarray(row * 6, row * 6 + 6))).to.deep.equal([...input, ...pad]);
        for (let p = 0; p < 6; p++) {
          const negative = batch.negative[row * 6 + p]!;
          if (p < 6 - pairs) expect(negative).to.equal(0);
          else {
            expect(negative).to.be.within(1, dataset.numItems);
            expect(train).to.not.include(negative);
          }
        }
      }
    });
    let trainable = 0;
    for (let u = 1; u <= dataset.numUsers; u++) if (split.train(u).length >= 2) trainable++;
    expect(users).to.equal(trainable);
  });

  it('draws candidate sets fixed by the seed, independent of the other users', () => {
    for (const negatives of [3, 19, 99]) {
      const sets = candidateSets(split, { stage: 'test', negatives, seed: 5 });
      expect(sets.width).to.equal(negatives + 1);
      const again = candidateSets(split, { stage: 'test', negatives, seed: 5 });
      expect(Array.from(again.candidates)).to.deep.equal(Array.from(sets.candidates));
      const other = candidateSets(split, { stage: 'test', negatives, seed: 6 });
      expect(Array.from(other.candidates)).to.not.deep.equal(Array.from(sets.candidates));
      for (let r = 0; r < sets.users.length; r++) {
        const u = sets.users[r]!;
        const row = Array.from(sets.candidates.subarray(r * sets.width, (r + 1) * sets.width));
        expect(row[0]).to.equal(split.target(u, 'test'));
        expect(new Set(row).size).to.equal(row.length);
        const history = new Set(dataset.sequence(u));
        for (const item of row.slice(1)) expect(history.has(item)).to.equal(false);
      }
      const some = candidateSets(split, { stage: 'test', negatives, seed: 5, users: [sets.users[2]!] });
      expect(Array.from(some.candidates)).to.deep.equal(
        Array.from(sets.candidates.subarray(2 * sets.width, 3 * sets.width)),
      );
    }
    const shuffled = candidateSets(split, { stage: 'valid', negatives: 19, seed: 1, shuffle: true });
    const positions = new Set<number>();
    for (let r = 0; r < shuffled.users.length; r++) {
      const t = shuffled.targetIndex[r]!;
      positions.add(t);
      expect(shuffled.candidates[r * 20 + t]).to.equal(split.target(shuffled.users[r]!, 'valid'));
    }
    expect(positions.size).to.be.greaterThan(5);
    const train = candidateSets(split, { stage: 'train', negatives: 3, seed: 1 });
    const u = train.users[0]!;
    expect(train.candidates[0]).to.equal(split.train(u)[split.train(u).length - 1]);
    expect(() => candidateSets(split, { stage: 'test', negatives: dataset.numItems, seed: 1 })).to.throw(
      /candidateSets: user \d+ has only \d+ items outside the history; cannot draw/,
    );
  });

  it('samples few-shot users, cold/warm items and cold users deterministically', () => {
    const few = fewShotUsers(split, 16, 4);
    expect(Array.from(few)).to.deep.equal(Array.from(fewShotUsers(split, 16, 4)));
    expect(new Set(few).size).to.equal(16);
    for (const u of few) expect(split.target(u, 'test')).to.be.greaterThan(0);
    expect(() => fewShotUsers(split, 100000, 1)).to.throw(/fewShotUsers: count must be in 0\.\.\d+/);

    const groups = itemPopularityGroups(dataset);
    const size = Math.floor(0.35 * dataset.numItems);
    expect(groups.cold.length).to.equal(size);
    expect(groups.warm.length).to.equal(size);
    const maxCold = Math.max(...Array.from(groups.cold, (i) => groups.counts[i]!));
    const minWarm = Math.min(...Array.from(groups.warm, (i) => groups.counts[i]!));
    expect(maxCold).to.be.at.most(minWarm);
    const coldSet = new Set(groups.cold);
    let fewerOutside = 0;
    for (let i = 1; i <= dataset.numItems; i++) if (!coldSet.has(i) && groups.counts[i]! < maxCold) fewerOutside++;
    expect(fewerOutside).to.equal(0);
    const coldTargets = usersWithTargetIn(split, 'test', groups.cold);
    for (const u of coldTargets) expect(coldSet.has(split.target(u, 'test'))).to.equal(true);

    const small = prepareDataset(randomLog(8, 400, 60, 30), { kCore: 0 });
    const three = usersWithLength(small, 3);
    expect(three.length).to.be.greaterThan(0);
    for (const u of three) expect(small.length(u)).to.equal(3);
  });
});

describe('data: command line', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

  it('documents inspect and prepare with --help', () => {
    const r = run('data', '--help');
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/usage: llmrec data <inspect\|prepare> \[file\|folder\]/);
    expect(r.stdout).to.match(/--kcore <integer>/);
  });

  it('inspects a file: the load summary and malformed rows with file:line', () => {
    const r = run('data', 'inspect', fixture('online-retail-small.csv'), '--kcore', '1');
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/rows read\s+13/);
    expect(r.stdout).to.match(/dropped: cancellation\s+1/);
    expect(r.stdout).to.match(/online-retail-small\.csv:11: bad date/);
    expect(r.stdout).to.match(/users\s+2/);
  });

  it('prints JSON and rejects a missing action with exit code 2', () => {
    const r = run('data', 'inspect', fixture('small.inter'), '--kcore', '0', '--json');
    expect(r.status, r.stderr).to.equal(0);
    const parsed = JSON.parse(r.stdout) as { summary: { users: number; interactions: number } };
    expect(parsed.summary).to.include({ users: 2, interactions: 3 });
    const bad = run('data', 'frobnicate');
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/expected an action, inspect or prepare; got 'frobnicate'/);
  });
});
