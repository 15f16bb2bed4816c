// The dataset formats the papers' users have, on the committed excerpts in
// test/fixtures/data/formats (written by scripts/make-data-fixtures.mjs from the embedded data):
// every reader returns what truth.json says the files encode, every reader fed another format's
// files refuses them or reads them correctly, and the bad cases (a truncated gzip, ids missing
// from item2index, a .text without some items, a 2014 metadata line that is not a literal, an
// endless file) fail or are reported, never read silently wrong.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { data } from '../lib/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const formats = path.join(root, 'test', 'fixtures', 'data', 'formats');
const at = (...parts: string[]) => path.join(formats, ...parts);
const cli = path.join(root, 'dist', 'lib', 'cli', 'main.js');

interface TruthUser {
  index: number;
  reviewerID: string;
  movieUser: number;
  items: number[];
  times: number[];
  ratings: number[];
}
interface TruthItem {
  index: number;
  asin: string;
  movieId: number;
  title: string;
  brand: string;
  categories: string[];
  genres: string[];
}
const truth = JSON.parse(readFileSync(at('truth.json'), 'utf8')) as {
  untitled: number[];
  withoutSplitText: number[];
  splitHistoryCap: number;
  users: TruthUser[];
  items: TruthItem[];
};

/** Each user's items by key, as a dataset holds them, users in key order. */
function sequencesOf(dataset: data.SequenceDataset): Map<string, string[]> {
  const out: [string, string[]][] = [];
  for (let u = 1; u <= dataset.numUsers; u++) {
    out.push([dataset.userKeys[u]!, [...dataset.sequence(u)].map((i) => dataset.itemKeys[i]!)]);
  }
  return new Map(out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

type Keys = 'amazon' | 'movielens';
/** What truth.json says, keyed as a format keys it; optionally without some items' rows. */
function expectedSequences(keys: Keys, without: readonly number[] = [], minRating = -Infinity): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const user of truth.users) {
    const seq = user.items
      .filter((i, k) => !without.includes(i) && user.ratings[k]! >= minRating)
      .map((i) => (keys === 'amazon' ? truth.items[i]!.asin : String(truth.items[i]!.movieId)));
    if (seq.length > 0) out.set(keys === 'amazon' ? user.reviewerID : String(user.movieUser), seq);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const noCache = { cache: false as const, prepare: { kCore: 0 } };

async function refusal(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (e) {
    expect(e).to.be.instanceOf(Error);
    return (e as Error).message;
  }
  throw new Error('expected a refusal, but the load succeeded');
}

describe('data formats: Python literals', () => {
  const p = data.parsePythonLiteral;

  it('reads every literal kind, nested, with both quote styles and their escapes', () => {
    const v = p(
      `{'a': 'it\\'s', "b": "say \\"hi\\"", 'n': -12, 'f': 1.5e3, 'l': 12L, 'h': 0x1F, 'o': 017, 't': True, 'x': False,` +
        ` 'z': None, 'tuple': (1, 'two',), 'one': (3,), 'empty': (), 'paren': (4), 'set': {1, 2}, 'list': [[1], [2, [3]]],` +
        ` 'dict': {'k': {'m': []}}, 1: 'int key', 'cat': 'a' "b", 'esc': 'tab\\there\\nnl \\\\ \\x41\\101', 'raw': r'\\d+'}`,
    ) as data.PyDict;
    expect(JSON.parse(JSON.stringify(v))).to.deep.equal({
      '1': 'int key',
      a: "it's",
      b: 'say "hi"',
      n: -12,
      f: 1500,
      l: 12,
      h: 31,
      o: 15,
      t: true,
      x: false,
      z: null,
      tuple: [1, 'two'],
      one: [3],
      empty: [],
      paren: 4,
      set: [1, 2],
      list: [[1], [2, [3]]],
      dict: { k: { m: [] } },
      cat: 'ab',
      esc: 'tab\there\nnl \\ AA',
      raw: '\\d+',
    });
  });

  it("decodes Python 2 byte strings' \\xNN escapes as UTF-8, and u'' strings as code points", () => {
    expect(p(`'Caf\\xc3\\xa9 Cr\\xc3\\xa8me'`)).to.equal('Café Crème');
    expect(p(`u'Caf\\xe9 \\u2019 \\U0001F600'`)).to.equal('Café \u2019 \u{1F600}');
    // Not UTF-8 as bytes: read as Python 3 would (code points).
    expect(p(`'a\\xa0b'`)).to.equal('a\u00a0b');
    expect(p(`'naïve'`)).to.equal('naïve');
  });

  it('never evaluates: names, calls and other expressions are errors with a column', () => {
    for (const [text, pattern] of [
      [`__import__('os').system('true')`, /'__import__' is not a literal.*nothing is evaluated.*column 1/],
      [`{'a': open('/etc/passwd')}`, /'open' is not a literal/],
      [`{'a': 1 + 2}`, /expected ',' or '}'/],
      [`{'a': 'unterminated}`, /unterminated string/],
      [`{'a': 1} trailing`, /unexpected text after the literal/],
      [`{'a': 1`, /expected ',' or '}'|unexpected end/],
      [`[1j]`, /complex numbers are not supported/],
      [`{'a': float('inf')}`, /'float' is not a literal/],
    ] as const) {
      expect(() => p(text), text).to.throw(data.PythonLiteralError, pattern);
    }
    expect(() => p('['.repeat(10_000))).to.throw(data.PythonLiteralError, /nested deeper than 200/);
  });

  it('gives dicts no prototype, so a __proto__ key is plain data', () => {
    const v = p(`{'__proto__': {'polluted': True}, 'constructor': 1}`) as data.PyDict;
    expect(Object.getPrototypeOf(v)).to.equal(null);
    expect(v.__proto__).to.deep.equal(Object.assign(Object.create(null), { polluted: true }));
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });
});

describe('data formats: each reader against the truth', () => {
  it('Amazon 2018: reviews + JSON metadata; items without a title dropped and counted, or kept on request', async () => {
    const { dataset, source } = await data.loadDataset(at('amazon-2018'), noCache);
    expect(source.kind).to.equal('amazon-2018');
    expect(sequencesOf(dataset)).to.deep.equal(expectedSequences('amazon', truth.untitled));
    const report = dataset.loadReport!;
    const untitledRows = truth.users.flatMap((u) => u.items).filter((i) => truth.untitled.includes(i)).length;
    expect(report.dropped['item without a title in the metadata']).to.equal(untitledRows);
    expect(report.notes!.join('\n')).to.match(/3 of 180 items have no title/);
    for (let i = 1; i <= dataset.numItems; i++) {
      const item = truth.items.find((t) => t.asin === dataset.itemKeys[i])!;
      expect(dataset.titles[i]).to.equal(item.title);
    }
    const kept = await data.loadDataset(
      { ...(source as { kind: 'amazon-2018'; reviews: string }), keepUntitled: true },
      noCache,
    );
    expect(sequencesOf(kept.dataset)).to.deep.equal(expectedSequences('amazon'));
    expect(kept.dataset.summary.itemsWithTitle).to.equal(177);
  });

  it('Amazon 2014: Python-literal metadata parsed (quotes, backslashes, UTF-8 bytes); a broken line is malformed with its line', async () => {
    const { dataset, source } = await data.loadDataset(at('amazon-2014'), noCache);
    expect(source.kind).to.equal('amazon-2014');
    expect(sequencesOf(dataset)).to.deep.equal(expectedSequences('amazon', truth.untitled));
    const title = (asin: string) => dataset.titles[dataset.itemKeys.indexOf(asin)];
    expect(title(truth.items[0]!.asin)).to.equal(`Children's "Tea" Set`);
    expect(title(truth.items[1]!.asin)).to.equal('Café Crème Mug');
    expect(title(truth.items[2]!.asin)).to.equal('Back\\slash Tin');
    const report = dataset.loadReport!;
    expect(report.malformedCount).to.equal(1);
    expect(report.examples[0]!.line).to.equal(11);
    expect(report.examples[0]!.reason).to.match(/neither JSON nor a Python literal/);
    // The description and categories come through for the item text.
    const withText = await data.loadDataset(source, {
      ...noCache,
      prepare: { kCore: 0, itemText: ['title', 'description', 'category'] },
    });
    const i = withText.dataset.itemKeys.indexOf(truth.items[1]!.asin);
    expect(withText.dataset.texts[i]).to.equal('Café Crème Mug, The café crème mug., Home & Kitchen, Kitchen');
  });

  it('Amazon 2023 and RecBole atomic files: every interaction, and a rating threshold counted', async () => {
    for (const folder of ['amazon-2023', 'recbole']) {
      const { dataset } = await data.loadDataset(at(folder), noCache);
      expect(sequencesOf(dataset), folder).to.deep.equal(expectedSequences('amazon'));
      const high = await data.loadDataset(at(folder), { ...noCache, minRating: 4 });
      expect(sequencesOf(high.dataset), folder).to.deep.equal(expectedSequences('amazon', [], 4));
      const below = truth.users.flatMap((u) => u.ratings).filter((r) => r < 4).length;
      expect(high.dataset.loadReport!.dropped['rating below 4'], folder).to.equal(below);
    }
  });

  it('MovieLens 1M (::, Latin-1), 100K (u.data, u.item genre flags) and latest (CSV, quoted titles)', async () => {
    for (const folder of ['movielens-1m', 'movielens-100k', 'movielens-latest']) {
      const { dataset, source } = await data.loadDataset(at(folder), {
        ...noCache,
        prepare: { kCore: 0, itemText: ['title', 'category'] },
      });
      expect(source.kind).to.equal('movielens');
      expect(sequencesOf(dataset), folder).to.deep.equal(expectedSequences('movielens'));
      const cafe = dataset.itemKeys.indexOf(String(truth.items[1]!.movieId));
      const title = folder === 'movielens-latest' ? 'Café Crème Mug, The (2010)' : 'Café Crème Mug (2010)';
      expect(dataset.titles[cafe], folder).to.equal(title);
      expect(dataset.texts[cafe], folder).to.equal(`${title}, ${truth.items[1]!.genres.join(', ')}`);
      if (folder === 'movielens-latest') {
        expect(dataset.titles[dataset.itemKeys.indexOf(String(truth.items[0]!.movieId))]).to.equal(
          `Children's "Tea" Set, The (2010)`,
        );
      }
    }
  });

  it("RecBole sequence split: the files' own train/valid/test, ids through item2index, titles from .text", async () => {
    const { dataset, source } = await data.loadDataset(at('recbole-split'), { cache: false });
    expect(source.kind).to.equal('recbole-split');
    expect(sequencesOf(dataset)).to.deep.equal(expectedSequences('amazon'));
    // Item ids follow item2index: id k+1 is index k.
    const index = readFileSync(at('recbole-split', 'Retail.item2index'), 'utf8').trim().split('\n');
    for (const line of index) {
      const [asin, k] = line.split('\t') as [string, string];
      expect(dataset.itemKeys[Number(k) + 1]).to.equal(asin);
    }
    const split = dataset.split();
    expect(split.kind).to.equal('given');
    const cap = truth.splitHistoryCap;
    const key = (ids: Int32Array) => [...ids].map((i) => dataset.itemKeys[i]);
    for (const user of truth.users) {
      const u = dataset.userKeys.indexOf(user.reviewerID);
      const seq = user.items.map((i) => truth.items[i]!.asin);
      expect(key(split.train(u))).to.deep.equal(seq.slice(0, -2));
      expect(key(split.history(u, 'valid'))).to.deep.equal(seq.slice(0, -2).slice(-cap));
      expect(key(split.history(u, 'test'))).to.deep.equal(seq.slice(0, -1).slice(-cap));
      expect(dataset.itemKeys[split.target(u, 'valid')]).to.equal(seq.at(-2));
      expect(dataset.itemKeys[split.target(u, 'test')]).to.equal(seq.at(-1));
    }
    // A .text without some items: their titles are empty, and the report says so.
    expect(dataset.summary.itemsWithTitle).to.equal(truth.items.length - truth.withoutSplitText.length);
    expect(dataset.loadReport!.notes!.join('\n')).to.match(/2 of 180 items have no text in .*Retail\.text/);
    expect(() => dataset.leaveOneOut()).to.throw(/its own train\/valid\/test split.*dataset\.split\(\)/);
    // The same targets as leave-one-out on the raw interactions.
    const raw = (await data.loadDataset(at('amazon-2023'), noCache)).dataset;
    const loo = raw.split();
    for (let u = 1; u <= raw.numUsers; u++) {
      const v = dataset.userKeys.indexOf(raw.userKeys[u]!);
      expect(dataset.itemKeys[split.target(v, 'test')]).to.equal(raw.itemKeys[loo.target(u, 'test')]);
    }
  });

  it('Amazon 2023 benchmark splits, with and without histories: the files’ split, with their times and titles', async () => {
    for (const folder of ['amazon-2023-split', 'amazon-2023-split-nohis']) {
      const { dataset, source } = await data.loadDataset(at(folder), { cache: false });
      expect(source.kind, folder).to.equal('amazon-2023-split');
      expect(sequencesOf(dataset), folder).to.deep.equal(expectedSequences('amazon'));
      const split = dataset.split();
      expect(split.kind).to.equal('given');
      const key = (ids: Int32Array) => [...ids].map((i) => dataset.itemKeys[i]);
      for (const user of truth.users) {
        const u = dataset.userKeys.indexOf(user.reviewerID);
        const seq = user.items.map((i) => truth.items[i]!.asin);
        expect(key(split.train(u))).to.deep.equal(seq.slice(0, -2));
        expect(key(split.history(u, 'valid'))).to.deep.equal(seq.slice(0, -2));
        expect(key(split.history(u, 'test'))).to.deep.equal(seq.slice(0, -1));
        expect(dataset.itemKeys[split.target(u, 'test')]).to.equal(seq.at(-1));
        expect([...dataset.sequenceTimes(u)]).to.deep.equal(user.times.map((t) => t * 1000));
      }
      expect(dataset.summary.itemsWithTitle).to.equal(truth.items.length);
      expect(dataset.summary.timeSpan[0]).to.match(/^2010-12-01T/);
      const brands = await data.loadDataset(at(folder), { cache: false, prepare: { itemText: ['title', 'brand'] } });
      const i = brands.dataset.itemKeys.indexOf(truth.items[1]!.asin);
      expect(brands.dataset.texts[i]).to.equal(`Café Crème Mug, ${truth.items[1]!.brand}`);
    }
  });

  it('finds a sequence split from any of its files, and refuses a k-core or a rating filter on it', async () => {
    for (const file of readdirSync(at('recbole-split'))) {
      const source = await data.resolveSource(at('recbole-split', file));
      expect(source.kind, file).to.equal('recbole-split');
    }
    expect(
      await refusal(() => data.loadDataset(at('recbole-split'), { cache: false, prepare: { kCore: 5 } })),
    ).to.match(/k-core of 5 does not apply to a dataset split into train\/valid\/test files/);
    expect(await refusal(() => data.loadDataset(at('recbole-split'), { cache: false, minRating: 4 }))).to.match(
      /has no ratings/,
    );
  });

  it('round-trips a sequence split through the binary cache, split and texts included', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-formats-'));
    try {
      const first = await data.loadDataset(at('recbole-split'), { cache: dir });
      const second = await data.loadDataset(at('recbole-split'), { cache: dir });
      expect(first.fromCache).to.equal(false);
      expect(second.fromCache).to.equal(true);
      const a = first.dataset.split();
      const b = second.dataset.split();
      expect(b.kind).to.equal('given');
      for (const name of data.splitPositionNames) expect([...b[name]], name).to.deep.equal([...a[name]]);
      expect(second.dataset.titles).to.deep.equal(first.dataset.titles);
      const prepare = { kCore: 0, itemText: ['title' as const, 'category' as const] };
      const texts = await data.loadDataset(at('movielens-1m'), { cache: dir, prepare });
      const again = await data.loadDataset(at('movielens-1m'), { cache: dir, prepare });
      expect(again.fromCache).to.equal(true);
      expect(again.dataset.texts).to.deep.equal(texts.dataset.texts);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('data formats: sequence-split assembly', () => {
  const header = 'user_id:token\titem_id_list:token_seq\titem_id:token';
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-split-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const writeSplit = (train: string[], valid: string[], test: string[], extra: Record<string, string> = {}) => {
    writeFileSync(path.join(dir, 'S.train.inter'), [header, ...train].join('\n') + '\n');
    writeFileSync(path.join(dir, 'S.valid.inter'), [header, ...valid].join('\n') + '\n');
    writeFileSync(path.join(dir, 'S.test.inter'), [header, ...test].join('\n') + '\n');
    for (const [name, text] of Object.entries(extra)) writeFileSync(path.join(dir, name), text);
  };
  const load = async () => (await data.loadDataset(dir, { cache: false })).dataset;
  const keys = (d: data.SequenceDataset, ids: Int32Array) => [...ids].map((i) => d.itemKeys[i]).join(' ');

  it('joins rows written shortest first or interleaved across users, and users seen only in valid/test', async () => {
    writeSplit(
      ['u1\ta\tb', 'u2\tx\ty', 'u1\ta b\tc', 'u2\tx y\tz', 'u1\ta b c\td'],
      ['u1\ta b c d\te', 'u2\tx y z\tw', 'u3\tp q\tr'],
      ['u1\tb c d e\tf', 'u2\tx y z w\tv', 'u3\tp q r\ts'],
    );
    const d = await load();
    const split = d.split();
    const u = (key: string) => d.userKeys.indexOf(key);
    expect(keys(d, d.sequence(u('u1')))).to.equal('a b c d e f');
    expect(keys(d, split.train(u('u1')))).to.equal('a b c d');
    expect(keys(d, split.history(u('u1'), 'test'))).to.equal('b c d e');
    expect(keys(d, d.sequence(u('u2')))).to.equal('x y z w v');
    // u3 has no training rows: its valid history is history only, not training data.
    expect(keys(d, split.train(u('u3')))).to.equal('');
    expect(keys(d, split.history(u('u3'), 'valid'))).to.equal('p q');
    expect(d.itemKeys[split.target(u('u3'), 'test')]).to.equal('s');
    expect(d.loadReport!.malformedCount).to.equal(0);
  });

  it('reports rows that do not continue their user, with their lines, and keeps the rest', async () => {
    writeSplit(['u1\ta\tb', 'u1\tZZ b\tc', 'u2\tx\ty'], ['u1\ta b\tc', 'u2\tq\ty'], ['u1\ta b c\td', 'u2\tx y\tz']);
    const d = await load();
    const report = d.loadReport!;
    expect(report.examples.map((e) => [path.basename(e.file), e.line])).to.deep.equal([
      ['S.train.inter', 3],
      ['S.valid.inter', 3],
    ]);
    expect(report.malformed).to.deep.equal({
      "history does not continue the user's earlier rows": 1,
      "valid history does not end with the user's training items": 1,
    });
    const split = d.split();
    expect(split.target(d.userKeys.indexOf('u2'), 'valid')).to.equal(0);
    expect(d.itemKeys[split.target(d.userKeys.indexOf('u2'), 'test')]).to.equal('z');
  });

  it('refuses a second valid row for a user, and reads a .text keyed by the index ids', async () => {
    writeSplit(['0\t0\t1'], ['0\t0 1\t2', '0\t0 1\t2'], ['0\t0 1 2\t3']);
    expect(await refusal(load)).to.match(/S\.valid\.inter has more than one row for user '0' \(lines 2 and 3\)/);
    writeSplit(['0\t0\t1'], ['0\t0 1\t2'], ['0\t0 1 2\t3'], {
      'S.item2index': 'A\t0\nB\t1\nC\t2\nD\t3\n',
      'S.text': 'item_id:token\ttext:token_seq\n0\tApple\n1\tBanana\n2\tCherry\n3\tDate\n',
    });
    const d = await load();
    expect(d.itemKeys.slice(1)).to.deep.equal(['A', 'B', 'C', 'D']);
    expect(d.titles.slice(1)).to.deep.equal(['Apple', 'Banana', 'Cherry', 'Date']);
    expect(d.loadReport!.notes!.join('\n')).to.match(/S\.text is keyed by the index ids/);
  });
});

describe('data formats: no reader misreads another format', () => {
  const folders: Record<string, { keys: Keys; without?: number[] }> = {
    'amazon-2018': { keys: 'amazon', without: truth.untitled },
    'amazon-2014': { keys: 'amazon', without: truth.untitled },
    'amazon-2023': { keys: 'amazon' },
    recbole: { keys: 'amazon' },
    'recbole-split': { keys: 'amazon' },
    'amazon-2023-split': { keys: 'amazon' },
    'amazon-2023-split-nohis': { keys: 'amazon' },
    'movielens-1m': { keys: 'movielens' },
    'movielens-100k': { keys: 'movielens' },
    'movielens-latest': { keys: 'movielens' },
  };
  const readers = ['auto', ...Object.keys(data.datasetFormats), ...Object.keys(data.formatAliases)];

  it('every reader given every folder and every file refuses it or reads exactly what it encodes', async function () {
    this.timeout(60_000);
    let refused = 0;
    let read = 0;
    for (const [folder, truthOf] of Object.entries(folders)) {
      const expected = expectedSequences(truthOf.keys, truthOf.without ?? []);
      const targets = [at(folder), ...readdirSync(at(folder)).map((f) => at(folder, f))];
      for (const target of targets) {
        for (const format of readers) {
          let dataset: data.SequenceDataset | undefined;
          try {
            const source = await data.resolveSource(target, { format });
            const given = source.kind === 'recbole-split' || source.kind === 'amazon-2023-split';
            const prepare = given ? {} : { kCore: 0 };
            dataset = (await data.loadDataset(source, { cache: false, prepare })).dataset;
          } catch (e) {
            expect(e, `${format} on ${target}`).to.be.instanceOf(Error);
            expect((e as Error).message, `${format} on ${target}`).to.match(/\S/);
            refused++;
            continue;
          }
          read++;
          const got = sequencesOf(dataset);
          // A reader that accepts files reads them whole: the truth, with the papers' drop of
          // untitled items where the reader applies it (Amazon 2014/2018 metadata).
          const candidates = [
            expected,
            expectedSequences(truthOf.keys, truth.untitled),
            expectedSequences(truthOf.keys),
          ];
          const matches = candidates.some((c) => JSON.stringify([...c]) === JSON.stringify([...got]));
          expect(matches, `${format} on ${target} read something other than the files hold`).to.equal(true);
        }
      }
    }
    expect(refused).to.be.greaterThan(100);
    expect(read).to.be.greaterThan(40);
  });

  it('detects the format of each folder', async () => {
    const kinds: Record<string, string> = {
      'amazon-2018': 'amazon-2018',
      'amazon-2014': 'amazon-2014',
      'amazon-2023': 'amazon-2023',
      recbole: 'recbole',
      'recbole-split': 'recbole-split',
      'amazon-2023-split': 'amazon-2023-split',
      'amazon-2023-split-nohis': 'amazon-2023-split',
      'movielens-1m': 'movielens',
      'movielens-100k': 'movielens',
      'movielens-latest': 'movielens',
    };
    for (const [folder, kind] of Object.entries(kinds))
      expect((await data.resolveSource(at(folder))).kind, folder).to.equal(kind);
  });
});

describe('data formats: bad input fails or is reported, never read silently', () => {
  it('a truncated gzip fails the load naming the file, or with allowPartial is kept, reported and not cached', async () => {
    const message = await refusal(() => data.loadDataset(at('bad', 'truncated'), noCache));
    expect(message).to.match(/truncated[\\/]Retail_5\.json\.gz could not be read to the end .*unexpected end of file/);
    expect(message).to.match(/--allow-partial/);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-partial-'));
    try {
      const partial = await data.loadDataset(at('bad', 'truncated'), {
        cache: dir,
        prepare: { kCore: 0 },
        allowPartial: true,
      });
      expect(partial.dataset.loadReport!.sourceErrors[0]).to.match(/unexpected end of file/);
      expect(partial.dataset.numInteractions).to.be.greaterThan(0).and.lessThan(624);
      expect(partial.cacheFile).to.equal(undefined);
      expect(readdirSync(dir)).to.deep.equal([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a sequence split whose ids are not in item2index is refused with the file, line and id', async () => {
    const message = await refusal(() => data.loadDataset(at('bad', 'split-unknown-id'), { cache: false }));
    expect(message).to.match(
      /Retail\.\w+\.inter line \d+ has item id '\d+', which is not in .*Retail\.item2index \(179 ids\)/,
    );
  });

  it('a lone .train.inter, an atomic .inter holding id lists, and unknown token_seq columns are refused', async () => {
    expect(await refusal(() => data.resolveSource(at('bad', 'split-train-only')))).to.match(
      /sequence split without Retail\.valid\.inter and Retail\.test\.inter/,
    );
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-tokenseq-'));
    try {
      writeFileSync(path.join(dir, 'x.inter'), 'user_id:token\titem_id_list:token_seq\titem_id:token\n1\t1 2\t3\n');
      expect(await refusal(() => data.resolveSource(path.join(dir, 'x.inter')))).to.match(
        /holds id sequences .*item_id_list/,
      );
      expect(
        await refusal(() => data.loadDataset({ kind: 'recbole', inter: path.join(dir, 'x.inter') }, { cache: false })),
      ).to.match(/holds id sequences/);
      writeFileSync(path.join(dir, 'y.inter'), 'user_id:token\titem_id:token\ttags:token_seq\n1\t2\ta b\n');
      expect(await refusal(() => data.loadDataset(path.join(dir, 'y.inter'), { cache: false }))).to.match(
        /sequence columns llmrec does not understand \(tags:token_seq\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unknown folder is refused with what it holds and the formats llmrec reads', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-unknown-'));
    try {
      writeFileSync(path.join(dir, 'notes.txt'), 'hello\n');
      writeFileSync(path.join(dir, 'table.csv'), 'a,b\n1,2\n');
      const message = await refusal(() => data.resolveSource(dir));
      expect(message).to.match(/cannot tell which dataset the folder .* holds; it has notes\.txt, table\.csv/);
      for (const name of Object.keys(data.datasetFormats)) expect(message).to.include(`${name}:`);
      expect(await refusal(() => data.resolveSource(path.join(dir, 'table.csv')))).to.match(/first line: "a,b"/);
      expect(await refusal(() => data.resolveSource(path.join(dir, 'table.csv'), { format: 'tsv' }))).to.match(
        /--format tsv needs the column names/,
      );
      expect(await refusal(() => data.resolveSource(dir, { format: 'nonsense' }))).to.match(
        /unknown format 'nonsense'/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an endless file (a link to /dev/zero) ends with a line-length error instead of reading forever', async function () {
    if (!statSync('/dev/zero', { throwIfNoEntry: false })) this.skip();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-zero-'));
    try {
      const zero = path.join(dir, 'zero.csv');
      symlinkSync('/dev/zero', zero);
      expect(await refusal(() => data.resolveSource(zero))).to.match(/first line: binary data/);
      const started = Date.now();
      const message = await refusal(() =>
        data.loadDataset({ kind: 'online-retail', file: zero }, { cache: false, maxLineBytes: 1 << 20 }),
      );
      expect(message).to.match(/zero\.csv could not be read to the end .*longer than 1 MiB without a line break/);
      expect(Date.now() - started).to.be.lessThan(10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an explicit item-text field the source lacks, and a minimum rating on a source without ratings, are refused', async () => {
    expect(
      await refusal(() =>
        data.loadDataset(at('movielens-1m'), { cache: false, prepare: { itemText: ['title', 'brand'] } }),
      ),
    ).to.match(/this source has no brand field; it provides title, category/);
    expect(() => data.parseItemText('title+colour')).to.throw(/unknown field 'colour'/);
    expect(await refusal(() => data.loadDefaultDataset({ cache: false, minRating: 4 }))).to.match(/has no ratings/);
  });

  it('a read that keeps nothing is a refusal, not an empty dataset', async () => {
    const message = await refusal(() =>
      data.loadDataset({ kind: 'amazon-2023', reviews: at('movielens-1m', 'ratings.dat') }, { cache: false }),
    );
    expect(message).to.match(
      /no interactions left from .*ratings\.dat read as amazon-2023 .*malformed: 624 invalid JSON/,
    );
  });
});

describe('data formats: the command line', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });

  it('data inspect DIR prints users, items, interactions and titles joined for each layout', () => {
    for (const [folder, items, titled] of [
      ['recbole-split', 180, 178],
      ['amazon-2014', 177, 177],
      ['movielens-1m', 180, 180],
    ] as const) {
      const r = run('data', 'inspect', at(folder), '--kcore', folder === 'recbole-split' ? '1' : '0');
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout, folder).to.match(/users\s+50\n/);
      expect(r.stdout, folder).to.match(new RegExp(`items\\s+${items}\\n`));
      expect(r.stdout, folder).to.match(new RegExp(`items with a title\\s+${titled} of ${items}`));
    }
  });

  it('train on a truncated gzip fails before training, naming the file; data inspect --allow-partial warns', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'llmrec-train-truncated-'));
    const r = run('train', 'sasrec', '--data', at('bad', 'truncated'), '--epochs', '1', '--out', path.join(out, 'run'));
    rmSync(out, { recursive: true, force: true });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/Retail_5\.json\.gz could not be read to the end .*unexpected end of file/);
    const partial = run('data', 'inspect', at('bad', 'truncated'), '--allow-partial', '--kcore', '0');
    expect(partial.status, partial.stderr).to.equal(0);
    expect(partial.stderr).to.match(/WARNING data: .*unexpected end of file: the file was read only in part/);
    expect(partial.stdout).to.match(/SOURCE ERROR \(partial read\)/);
  });

  it('train on a sequence split prints what was read and evaluates on the files’ own targets', function () {
    this.timeout(120_000);
    const out = mkdtempSync(path.join(os.tmpdir(), 'llmrec-train-split-'));
    try {
      const r = run(
        'train',
        'sasrec',
        '--data',
        at('recbole-split'),
        '--epochs',
        '1',
        '--eval-every',
        '1',
        '--out',
        path.join(out, 'model'),
        '--cache-dir',
        path.join(out, 'cache'),
      );
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.match(
        /data: Retail \(recbole-split: .*\): 50 users, 180 items \(178 with a title\), 624 interactions; train\/valid\/test as the files give them/,
      );
      expect(r.stdout).to.match(/sasrec/);
      const kcore = run('train', 'sasrec', '--data', at('recbole-split'), '--kcore', '5', '--out', path.join(out, 'k'));
      expect(kcore.status).to.equal(1);
      expect(kcore.stderr).to.match(/k-core of 5 does not apply to a dataset split into train\/valid\/test files/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('train prints the rows it dropped: rating filter, untitled items, malformed rows with their lines', () => {
    const r = run('data', 'inspect', '--data', at('amazon-2014'), '--min-rating', '4', '--kcore', '0', '--json');
    expect(r.status, r.stderr).to.equal(0);
    const parsed = JSON.parse(r.stdout) as { load: data.LoadReport };
    expect(parsed.load.dropped).to.have.property('rating below 4');
    const out = mkdtempSync(path.join(os.tmpdir(), 'llmrec-train-dropped-'));
    // One epoch on the excerpt (131 items once ratings below 4 are dropped).
    const t = run(
      'train',
      'sasrec',
      '--data',
      at('amazon-2014'),
      '--min-rating',
      '4',
      '--kcore',
      '0',
      '--epochs',
      '1',
      '--out',
      path.join(out, 'run'),
    );
    rmSync(out, { recursive: true, force: true });
    expect(t.status, t.stderr).to.equal(0);
    expect(t.stderr).to.match(
      /data: read \d+ rows, kept \d+; dropped: rating below 4 \(\d+\), .*item without a title in the metadata \(\d+\); malformed: 1 \(.*\), e\.g\. meta_Retail\.json\.gz:11/,
    );
    expect(t.stderr).to.match(/data: note: 3 of \d+ items have no title/);
  });
});
