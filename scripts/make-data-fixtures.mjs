#!/usr/bin/env node
// Writes the committed format excerpts in test/fixtures/data/formats/: the same few hundred
// interactions (50 customers of the embedded Online Retail 2010-2011 set, its 200 most bought
// items, at most 14 purchases each) re-encoded in every layout llmrec reads, written the way each
// layout's own tools write it, plus truth.json (what every reader must return) and the bad cases
// the tests feed the readers. Uses the built package: run `npx tsc -p tsconfig.json` first.
//
//   node scripts/make-data-fixtures.mjs [--out test/fixtures/data/formats]
//
// Deterministic: the same package data gives byte-identical files (gzip without a timestamp).
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

const here = path.dirname(new URL(import.meta.url).pathname);
const packageEntry = path.join(here, '..', 'dist', 'lib', 'index.js');
if (!existsSync(packageEntry)) {
  console.error(`make-data-fixtures: ${packageEntry} is missing; run \`npx tsc -p tsconfig.json\` first`);
  process.exit(1);
}
const { data } = await import(packageEntry);
const { values } = parseArgs({
  options: { out: { type: 'string', default: path.join(here, '..', 'test', 'fixtures', 'data', 'formats') } },
});
const out = path.resolve(values.out);

// ---------------------------------------------------------------------------------------------
// The ground truth: users, their chronological items (no repeats), times, ratings; item text.

const { dataset } = await data.loadDefaultDataset({ cache: false });
const counts = dataset.itemCounts();
const top = [...counts.keys()]
  .filter((i) => i > 0)
  .sort((a, b) => counts[b] - counts[a] || a - b)
  .slice(0, 200);
const inTop = new Set(top);
const itemIndex = new Map();
const items = [];
const users = [];
const hash = (...xs) => xs.reduce((h, x) => (Math.imul(h ^ x, 0x9e3779b1) >>> 0) ^ (h >>> 15), 0x12345) >>> 0;
const genres = ['Action', 'Comedy', 'Drama', 'Romance', 'Sci-Fi', 'Thriller', 'Animation', "Children's"];
for (let u = 1; u <= dataset.numUsers && users.length < 50; u++) {
  const seq = dataset.sequence(u);
  const times = dataset.sequenceTimes(u);
  const seen = new Set();
  const picked = [];
  for (let k = 0; k < seq.length && picked.length < 14; k++) {
    if (!inTop.has(seq[k]) || seen.has(seq[k])) continue;
    seen.add(seq[k]);
    picked.push([seq[k], times[k]]);
  }
  if (picked.length < 6) continue;
  const user = { index: users.length, customer: dataset.userKeys[u], items: [], times: [], ratings: [] };
  picked.forEach(([id, time], k) => {
    if (!itemIndex.has(id)) {
      itemIndex.set(id, items.length);
      items.push({ code: dataset.itemKeys[id], title: dataset.titles[id] });
    }
    const i = itemIndex.get(id);
    user.items.push(i);
    // Distinct times per user (the source has ties within an invoice): + k seconds.
    user.times.push(Math.round(time / 1000) + k);
    user.ratings.push(1 + (hash(users.length, i) % 5));
  });
  users.push(user);
}
// Item text with the characters each writer must escape: quotes of both kinds, a backslash and
// a non-ASCII letter (UTF-8 in JSON, \xNN bytes in Python 2 literals, Latin-1 in MovieLens).
items[0].title = `Children's "Tea" Set`;
items[1].title = 'Café Crème Mug';
items[2].title = 'Back\\slash Tin';
items[3].title = "Dr. Seuss's Lantern";
items.forEach((item, i) => {
  item.index = i;
  item.asin = `B0${item.code.toUpperCase().padStart(8, '0')}`;
  item.movieId = i + 1;
  item.brand = ['Regency', 'Retrospot', 'Paisley Park'][i % 3];
  item.categories = ['Home & Kitchen', ['Decor', 'Kitchen', 'Gifts'][i % 3]];
  item.genres = [genres[i % genres.length], genres[(i * 3 + 1) % genres.length]].filter(
    (g, k, a) => a.indexOf(g) === k,
  );
});
users.forEach((user) => {
  user.reviewerID = `A${(0x1000000 + (hash(user.index) % 0xeffffff)).toString(16).toUpperCase()}X${user.index}`;
  user.movieUser = user.index + 1;
});

// Bad cases by item: 2018 metadata gives items 10 an empty title and 11 none, and has no row
// for 12; 2014 metadata has a line for 10 that is not a literal, none for 11's title, no row for
// 12; the split's .text lacks items 13 and 14.
const untitled = [10, 11, 12];
const withoutSplitText = [13, 14];

const rows = users.flatMap((user) =>
  user.items.map((item, k) => ({ user, item: items[item], time: user.times[k], rating: user.ratings[k] })),
);
// The raw Amazon files list reviews by product, as McAuley's dumps do, not by user.
const byItem = [...rows].sort((a, b) => a.item.asin.localeCompare(b.item.asin) || a.time - b.time);

// ---------------------------------------------------------------------------------------------
// Writers

rmSync(out, { recursive: true, force: true });
const write = (file, content) => {
  const full = path.join(out, file);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, content);
};
const gzip = (text) => zlib.gzipSync(Buffer.from(text, 'utf8'), { level: 9 });
const lines = (list) => list.join('\n') + '\n';
const day = (seconds) => {
  const d = new Date(seconds * 1000);
  return `${String(d.getUTCMonth() + 1).padStart(2, '0')} ${d.getUTCDate()}, ${d.getUTCFullYear()}`;
};

/** Python 2's repr of a UTF-8 byte string: non-ASCII bytes as \xNN. */
function pyStr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let s = quote;
  for (const b of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(b);
    if (c === quote || c === '\\') s += `\\${c}`;
    else if (c === '\n') s += '\\n';
    else if (c === '\t') s += '\\t';
    else if (b < 32 || b >= 127) s += `\\x${b.toString(16).padStart(2, '0')}`;
    else s += c;
  }
  return s + quote;
}
/** Python 2's repr of a value; {tuple: [...]} marks a tuple. */
function pyRepr(v) {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return pyStr(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (v.tuple) return v.tuple.length === 1 ? `(${pyRepr(v.tuple[0])},)` : `(${v.tuple.map(pyRepr).join(', ')})`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${pyStr(k)}: ${pyRepr(x)}`)
    .join(', ')}}`;
}

// Amazon 2018: <Category>_5.json.gz (JSON reviews) + meta_<Category>.json.gz (JSON).
const review2018 = (r) =>
  JSON.stringify({
    overall: r.rating,
    verified: true,
    reviewTime: day(r.time),
    reviewerID: r.user.reviewerID,
    asin: r.item.asin,
    reviewerName: `Customer ${r.user.customer}`,
    reviewText: `Bought ${r.item.title.toLowerCase()} again.`,
    summary: 'Five Stars',
    unixReviewTime: r.time,
  });
write('amazon-2018/Retail_5.json.gz', gzip(lines(byItem.map(review2018))));
const meta2018 = [];
for (const item of items) {
  if (item.index === 12) continue;
  const record = {
    category: item.categories,
    description: [`The ${item.title.toLowerCase()}.`, 'A shop favourite.'],
    title: item.index === 10 ? '' : item.title,
    also_buy: [items[(item.index + 1) % items.length].asin],
    brand: item.brand,
    asin: item.asin,
  };
  if (item.index === 11) delete record.title;
  meta2018.push(JSON.stringify(record));
}
meta2018.push(JSON.stringify({ title: 'Never Reviewed Clock', brand: 'Regency', asin: 'B0NOREVIEW1' }));
write('amazon-2018/meta_Retail.json.gz', gzip(lines(meta2018)));

// Amazon 2014: reviews_<Category>_5.json.gz (JSON) + meta_<Category>.json.gz (Python literals).
write(
  'amazon-2014/reviews_Retail_5.json.gz',
  gzip(
    lines(
      byItem.map((r) =>
        JSON.stringify({
          reviewerID: r.user.reviewerID,
          asin: r.item.asin,
          reviewerName: `Customer ${r.user.customer}`,
          helpful: [0, 0],
          reviewText: `Bought ${r.item.title.toLowerCase()} again.`,
          overall: r.rating,
          summary: 'Nice',
          unixReviewTime: r.time,
          reviewTime: day(r.time),
        }),
      ),
    ),
  ),
);
const meta2014 = [];
for (const item of items) {
  if (item.index === 12) continue;
  if (item.index === 10) {
    meta2014.push(`{'asin': '${item.asin}', 'title': 'Broken line, 'price': 1.0}`);
    continue;
  }
  const record = {
    asin: item.asin,
    description: `The ${item.title.toLowerCase()}.`,
    title: item.title,
    price: Number((1 + (item.index % 7) * 1.25).toFixed(2)),
    imUrl: `http://ecx.images-amazon.com/images/I/${item.asin}.jpg`,
    related: { also_bought: [items[(item.index + 1) % items.length].asin], bought_together: [] },
    salesRank: { 'Home & Kitchen': 1000 + item.index },
    categories: [item.categories],
    brand: item.brand,
    dims: { tuple: [10, 20.5] },
    prime: item.index % 2 === 0,
    discontinued: null,
  };
  if (item.index === 11) delete record.title;
  meta2014.push(pyRepr(record));
}
write('amazon-2014/meta_Retail.json.gz', gzip(lines(meta2014)));

// Amazon Reviews 2023: <Category>.jsonl + meta_<Category>.jsonl.
write(
  'amazon-2023/Retail.jsonl.gz',
  gzip(
    lines(
      byItem.map((r) =>
        JSON.stringify({
          rating: r.rating,
          title: 'Five stars',
          text: `Bought ${r.item.title.toLowerCase()} again.`,
          images: [],
          asin: r.item.asin,
          parent_asin: r.item.asin,
          user_id: r.user.reviewerID,
          timestamp: r.time * 1000,
          helpful_vote: 0,
          verified_purchase: true,
        }),
      ),
    ),
  ),
);
write(
  'amazon-2023/meta_Retail.jsonl.gz',
  gzip(
    lines(
      items.map((item) =>
        JSON.stringify({
          main_category: 'Home',
          title: item.title,
          average_rating: 4.5,
          features: [],
          description: [`The ${item.title.toLowerCase()}.`],
          store: item.brand,
          categories: item.categories,
          parent_asin: item.asin,
        }),
      ),
    ),
  ),
);

// Amazon Reviews 2023 benchmark splits (benchmark/5core/last_out_w_his and last_out):
// <Category>.train.csv (every training interaction; rows of all users by time), .valid.csv and
// .test.csv (one row per user), gzip, beside meta_<Category>.jsonl.gz.
const benchmarkSplit = (withHistory) => {
  const header = `user_id,parent_asin,rating,timestamp${withHistory ? ',history' : ''}`;
  const row = (user, k) =>
    [
      user.reviewerID,
      items[user.items[k]].asin,
      user.ratings[k].toFixed(1),
      user.times[k] * 1000,
      ...(withHistory
        ? [
            user.items
              .slice(0, k)
              .map((i) => items[i].asin)
              .join(' '),
          ]
        : []),
    ].join(',');
  const train = users
    .flatMap((user) => user.items.slice(0, -2).map((_, k) => ({ time: user.times[k], text: row(user, k) })))
    .sort((a, b) => a.time - b.time)
    .map((r) => r.text);
  const dir = withHistory ? 'amazon-2023-split' : 'amazon-2023-split-nohis';
  write(`${dir}/Retail.train.csv.gz`, gzip(lines([header, ...train])));
  write(`${dir}/Retail.valid.csv.gz`, gzip(lines([header, ...users.map((u) => row(u, u.items.length - 2))])));
  write(`${dir}/Retail.test.csv.gz`, gzip(lines([header, ...users.map((u) => row(u, u.items.length - 1))])));
  write(
    `${dir}/meta_Retail.jsonl.gz`,
    gzip(lines(items.map((item) => JSON.stringify({ title: item.title, store: item.brand, parent_asin: item.asin })))),
  );
};
benchmarkSplit(true);
benchmarkSplit(false);

// RecBole atomic files.
const tsv = (text) => text.replace(/[\t\r\n]+/g, ' ');
write(
  'recbole/Retail.inter',
  lines([
    'user_id:token\titem_id:token\trating:float\ttimestamp:float',
    ...rows.map((r) => `${r.user.reviewerID}\t${r.item.asin}\t${r.rating}\t${r.time}`),
  ]),
);
write(
  'recbole/Retail.item',
  lines([
    'item_id:token\ttitle:token_seq\tbrand:token\tcategories:token_seq',
    ...items.map((item) => `${item.asin}\t${tsv(item.title)}\t${item.brand}\t${item.categories.join(', ')}`),
  ]),
);

// RecBole/UniSRec sequence split, written as UniSRec's process_amazon.py does: ids are indices
// (item2index, user2index: 0-based, by first appearance), train rows are every prefix of the
// training items, longest first, histories cut to the last `cap` items (50 there; 10 here, so the
// excerpt has cut histories), then one valid and one test row per user.
const cap = 10;
const splitRows = { train: [], valid: [], test: [] };
const splitItemIndex = new Map();
for (const user of users)
  for (const i of user.items) if (!splitItemIndex.has(i)) splitItemIndex.set(i, splitItemIndex.size);
for (const user of users) {
  const seq = user.items.map((i) => String(splitItemIndex.get(i)));
  const train = seq.slice(0, -2);
  const uid = String(user.index);
  for (let back = 1; back < train.length; back++) {
    splitRows.train.push(`${uid}\t${train.slice(0, -back).slice(-cap).join(' ')}\t${train[train.length - back]}`);
  }
  splitRows.valid.push(`${uid}\t${train.slice(-cap).join(' ')}\t${seq[seq.length - 2]}`);
  splitRows.test.push(`${uid}\t${seq.slice(0, -1).slice(-cap).join(' ')}\t${seq[seq.length - 1]}`);
}
const splitHeader = 'user_id:token\titem_id_list:token_seq\titem_id:token';
const writeSplit = (dir, options = {}) => {
  for (const stage of ['train', 'valid', 'test'])
    write(`${dir}/Retail.${stage}.inter`, lines([splitHeader, ...splitRows[stage]]));
  const entries = [...splitItemIndex].filter(([i]) => !(options.dropIndexOf ?? []).includes(i));
  write(`${dir}/Retail.item2index`, lines(entries.map(([i, index]) => `${items[i].asin}\t${index}`)));
  write(`${dir}/Retail.user2index`, lines(users.map((u) => `${u.reviewerID}\t${u.index}`)));
  write(
    `${dir}/Retail.text`,
    lines([
      'item_id:token\ttext:token_seq',
      ...[...splitItemIndex.keys()]
        .filter((i) => !withoutSplitText.includes(i))
        .map((i) => `${items[i].asin}\t${tsv(items[i].title)}`),
    ]),
  );
};
writeSplit('recbole-split');
// Bad case: an item that the .inter files use is missing from item2index.
const lastTest = users[users.length - 1].items.at(-1);
writeSplit('bad/split-unknown-id', { dropIndexOf: [lastTest] });
// Bad case: a training file without its valid and test files.
write('bad/split-train-only/Retail.train.inter', lines([splitHeader, ...splitRows.train]));

// MovieLens 1M: ratings.dat, movies.dat (Latin-1), users.dat; '::'-separated.
write(
  'movielens-1m/ratings.dat',
  lines(rows.map((r) => `${r.user.movieUser}::${r.item.movieId}::${r.rating}::${r.time}`)),
);
write(
  'movielens-1m/movies.dat',
  Buffer.from(lines(items.map((item) => `${item.movieId}::${item.title} (2010)::${item.genres.join('|')}`)), 'latin1'),
);
write('movielens-1m/users.dat', lines(users.map((u) => `${u.movieUser}::F::25::10::48067`)));

// MovieLens 100K: u.data (tab-separated), u.item ('|', 19 genre flags, Latin-1), u.genre.
write(
  'movielens-100k/u.data',
  lines(rows.map((r) => `${r.user.movieUser}\t${r.item.movieId}\t${r.rating}\t${r.time}`)),
);
const names100k = data.movieLens100kGenres;
write('movielens-100k/u.genre', lines(names100k.map((g, k) => `${g}|${k}`)) + '\n');
write(
  'movielens-100k/u.item',
  Buffer.from(
    lines(
      items.map((item) => {
        const flags = names100k.map((g) => (item.genres.includes(g) ? '1' : '0'));
        return `${item.movieId}|${item.title} (2010)|01-Jan-2010||http://us.imdb.com/M/title-exact?${item.movieId}|${flags.join('|')}`;
      }),
    ),
    'latin1',
  ),
);

// MovieLens latest/20M/25M: ratings.csv and movies.csv (UTF-8, titles quoted when they hold a
// comma or a quote).
const csvField = (text) => (/[",]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
write(
  'movielens-latest/ratings.csv',
  lines([
    'userId,movieId,rating,timestamp',
    ...rows.map((r) => `${r.user.movieUser},${r.item.movieId},${r.rating}.0,${r.time}`),
  ]),
);
write(
  'movielens-latest/movies.csv',
  lines([
    'movieId,title,genres',
    ...items.map((item) => `${item.movieId},${csvField(`${item.title}, The (2010)`)},${item.genres.join('|')}`),
  ]),
);

// Bad case: a truncated gzip (the first 60% of the 2018 reviews).
const full = gzip(lines(byItem.map(review2018)));
write('bad/truncated/Retail_5.json.gz', full.subarray(0, Math.floor(full.length * 0.6)));

// What every reader must return.
write(
  'truth.json',
  JSON.stringify({
    note: 'written by scripts/make-data-fixtures.mjs; what each format in this folder encodes',
    untitled,
    withoutSplitText,
    splitHistoryCap: cap,
    users: users.map(({ index, customer, reviewerID, movieUser, items: seq, times, ratings }) => ({
      index,
      customer,
      reviewerID,
      movieUser,
      items: seq,
      times,
      ratings,
    })),
    items: items.map(({ index, code, asin, movieId, title, brand, categories, genres: g }) => ({
      index,
      code,
      asin,
      movieId,
      title,
      brand,
      categories,
      genres: g,
    })),
  }) + '\n',
);
console.log(`wrote ${rows.length} interactions of ${users.length} users and ${items.length} items to ${out}`);
