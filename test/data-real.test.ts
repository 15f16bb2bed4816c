// The loaders on the real Online Retail logs (../shared/data, or $LLMREC_SHARED_DATA): row counts
// after cleaning, and the embedded default dataset rebuilt from the raw file. Each raw file is
// parsed once for the whole suite.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { data } from '../lib/index.js';

const shared = data.sharedDataDirectory();
const retail = shared && path.join(shared, 'online-retail', 'OnlineRetail.csv.xz');
const retailII = shared && path.join(shared, 'online-retail-ii-2009-2010', 'online_retail_II_2009-2010.csv.xz');
const available = retail !== undefined && existsSync(retail) && retailII !== undefined && existsSync(retailII);

/** The rows of a log whose item passes `keep`, as a new log. */
function filterItems(log: data.InteractionLog, keep: (key: string) => boolean): data.InteractionLog {
  const keepItem = log.itemKeys.map(keep);
  const mask = log.item.map((i) => (keepItem[i] ? 1 : 0));
  const take = <T extends Int32Array | Float64Array>(a: T) => a.filter((_, r) => mask[r] === 1) as T;
  return { ...log, user: take(log.user), item: take(log.item), time: take(log.time), basket: take(log.basket) };
}

describe('data: real Online Retail files', function () {
  this.timeout(120_000);
  let log2010: data.InteractionLog;

  before(async function () {
    if (!available) {
      console.log(
        `    (skipped: the shared Online Retail files are not at ${shared ?? '../shared/data'}; set LLMREC_SHARED_DATA)`,
      );
      this.skip();
    }
    log2010 = await data.loadOnlineRetail(retail!, { dropNonProducts: false });
  });

  it('cleans the 2010-2011 file to 397,924 purchases by 4,339 customers of 3,665 items', () => {
    const r = log2010.report;
    expect(r.rowsRead).to.equal(541909);
    expect(r.rowsKept).to.equal(397924);
    expect(r.malformedCount).to.equal(0);
    expect(r.sourceErrors).to.deep.equal([]);
    expect(r.dropped).to.deep.equal({ cancellation: 9288, 'no customer': 133361, 'non-positive quantity': 1336 });
    expect(new Set(log2010.user).size).to.equal(4339);
    expect(new Set(log2010.item).size).to.equal(3665);
    const empty = log2010.titles.filter((t) => t === '').length;
    expect(empty).to.be.lessThan(10);
  });

  it('rebuilds the embedded default dataset exactly from the raw file', async () => {
    const products = filterItems(log2010, data.isProductCode);
    expect(products.user.length).to.equal(397924 - 1554);
    const rebuilt = data.prepareDataset(products, { kCore: 5, name: 'online-retail-2010-2011' });
    const { dataset: embedded } = await data.loadDefaultDataset({ cache: false });
    expect(rebuilt.userKeys).to.deep.equal(embedded.userKeys);
    expect(rebuilt.itemKeys).to.deep.equal(embedded.itemKeys);
    expect(rebuilt.titles).to.deep.equal(embedded.titles);
    expect(Buffer.from(rebuilt.offsets.buffer).equals(Buffer.from(embedded.offsets.buffer))).to.equal(true);
    expect(Buffer.from(rebuilt.items.buffer).equals(Buffer.from(embedded.items.buffer))).to.equal(true);
    expect(Buffer.from(rebuilt.times.buffer).equals(Buffer.from(embedded.times.buffer))).to.equal(true);
    expect(rebuilt.summary.kCoreRounds).to.be.greaterThan(1);
  });

  it('gives the same split and candidate sets on every run', () => {
    const products = filterItems(log2010, data.isProductCode);
    const a = data.prepareDataset(products, { kCore: 5 }).leaveOneOut();
    const b = data.prepareDataset(products, { kCore: 5 }).leaveOneOut();
    expect(Buffer.from(a.testTarget.buffer).equals(Buffer.from(b.testTarget.buffer))).to.equal(true);
    const users = a.evaluationUsers().subarray(0, 500);
    const ca = data.candidateSets(a, { stage: 'test', negatives: 99, seed: 2024, users });
    const cb = data.candidateSets(b, { stage: 'test', negatives: 99, seed: 2024, users });
    expect(Buffer.from(ca.candidates.buffer).equals(Buffer.from(cb.candidates.buffer))).to.equal(true);
  });

  it('cleans the 2009-2010 Online Retail II file to 407,695 purchases, 4,314 customers, 4,017 items', async () => {
    const log = await data.loadOnlineRetail(retailII!, { dropNonProducts: false });
    expect(log.report.rowsRead).to.equal(525461);
    expect(log.report.rowsKept).to.equal(407695);
    expect(log.report.malformedCount).to.equal(0);
    expect(new Set(log.user).size).to.equal(4314);
    expect(new Set(log.item).size).to.equal(4017);
  });
});
