// Metrics against hand-computed cases (ties, masking, K beyond the candidates), against a
// sort-based float64 reference on random scores, and the reporting helpers.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { data, evaluation } from '../lib/index.js';

const {
  RankingAccumulator,
  fullRankingMetrics,
  sampledMetrics,
  metricsFromRanks,
  ranksFromTopK,
  rankOfTarget,
  titleHit,
  answerSpan,
  generatedHitAt1,
  flattenMetrics,
  meanStd,
  aggregateSeeds,
  formatMeanStd,
  writeJsonFile,
  trainingCurvesSvg,
  writeTrainingCurves,
} = evaluation;

const close = (actual: number, expected: number, message?: string) =>
  expect(Math.abs(actual - expected), `${message ?? ''} ${actual} vs ${expected}`).to.be.lessThan(1e-12);

describe('metrics: hand-computed cases', () => {
  it('ranks a clear winner first', () => {
    const m = sampledMetrics([0.9, 0.5, 0.7, 0.1], 1);
    expect(m.hr[1]).to.equal(1);
    expect(m.ndcg[1]).to.equal(1);
    expect(m.mrr).to.equal(1);
  });

  it('resolves ties optimistically (pmixer), pessimistically or by the mean', () => {
    // Target 0.5 at column 0; above it 0.9 and 0.7; tied with one other 0.5.
    const row = [0.5, 0.9, 0.5, 0.7, 0.1];
    expect(rankOfTarget(row, 0)).to.equal(2);
    expect(rankOfTarget(row, 0, 'pessimistic')).to.equal(3);
    expect(rankOfTarget(row, 0, 'mean')).to.equal(2.5);
    const ks = [1, 3, 5];
    const optimistic = sampledMetrics(row, 1, { ks });
    expect([optimistic.hr[1], optimistic.hr[3], optimistic.hr[5]]).to.deep.equal([0, 1, 1]);
    close(optimistic.ndcg[3]!, 1 / Math.log2(4));
    close(optimistic.mrr, 1 / 3);
    const pessimistic = sampledMetrics(row, 1, { ks, tie: 'pessimistic' });
    expect([pessimistic.hr[1], pessimistic.hr[3], pessimistic.hr[5]]).to.deep.equal([0, 0, 1]);
    close(pessimistic.ndcg[5]!, 1 / Math.log2(5));
    close(pessimistic.mrr, 1 / 4);
    const mean = sampledMetrics(row, 1, { ks, tie: 'mean' });
    expect([mean.hr[1], mean.hr[3], mean.hr[5]]).to.deep.equal([0, 0.5, 1]);
    close(mean.ndcg[3]!, 0.5 / Math.log2(4));
    close(mean.ndcg[5]!, (1 / Math.log2(4) + 1 / Math.log2(5)) / 2);
    close(mean.mrr, (1 / 3 + 1 / 4) / 2);
    close(mean.mrrAt[3]!, 1 / 3 / 2);
  });

  it('counts every target as a hit when K exceeds the candidates', () => {
    const m = sampledMetrics(Float32Array.from([0.1, 0.2, 0.3, 1, 2, 3]), 2, { ks: [20], targetIndex: [0, 1] });
    expect(m.count).to.equal(2);
    expect(m.hr[20]).to.equal(1);
    close(m.ndcg[20]!, (1 / Math.log2(4) + 1 / Math.log2(3)) / 2);
  });

  it('full ranking ignores the padding column and masks history but never the target', () => {
    // Items 1..6; column 0 is padding with a huge score that must not count.
    const scores = Float64Array.from([99, 0.8, 0.3, 0.6, 0.9, 0.6, 0.1]);
    const plain = fullRankingMetrics(scores, 1, [3], { ks: [1, 2, 3] });
    // Above item 3 (0.6): items 1 (0.8) and 4 (0.9); tied: item 5.
    expect(plain.hr[2]).to.equal(0);
    expect(plain.hr[3]).to.equal(1);
    close(plain.mrr, 1 / 3);
    // Masking items 4 and 5 and (repeat purchase) the target 3 itself: only item 1 stays above.
    const masked = fullRankingMetrics(scores, 1, [3], { ks: [1, 2], exclude: () => [4, 3, 5, 4, 0, 17] });
    expect(masked.hr[1]).to.equal(0);
    expect(masked.hr[2]).to.equal(1);
    close(masked.ndcg[2]!, 1 / Math.log2(3));
    const pessimistic = fullRankingMetrics(scores, 1, [3], { ks: [3], tie: 'pessimistic' });
    expect(pessimistic.hr[3]).to.equal(0);
  });

  it('ranks a NaN target score last', () => {
    const m = sampledMetrics([NaN, 0.1, 0.2], 1, { ks: [2, 3] });
    expect([m.hr[2], m.hr[3]]).to.deep.equal([0, 1]);
  });

  it('accepts ranks computed elsewhere, with misses', () => {
    const m = metricsFromRanks([0, 4, Infinity, 19, 20]);
    expect(m.hr).to.deep.equal({ 1: 0.2, 5: 0.4, 10: 0.4, 20: 0.6 });
    expect(m.recall).to.deep.equal(m.hr);
    close(m.ndcg[20]!, (1 + 1 / Math.log2(6) + 1 / Math.log2(21)) / 5);
    close(m.mrr, (1 + 1 / 5 + 1 / 20 + 1 / 21) / 5);
    close(m.mrrAt[5]!, (1 + 1 / 5) / 5);
    close(m.mrrAt[20]!, (1 + 1 / 5 + 1 / 20) / 5);
    const flat = flattenMetrics(m);
    expect(Object.keys(flat).slice(0, 4)).to.deep.equal(['hr@1', 'recall@1', 'ndcg@1', 'mrr@1']);
    expect(flat['hr@5']).to.equal(0.4);
    expect(flat['mrr@20']).to.equal(m.mrrAt[20]);
    expect(flat.mrr).to.equal(m.mrr);
    expect(flat.count).to.equal(5);
    // The pipelines' results.json subset, in the same order.
    expect(Object.keys(flattenMetrics(m, ['hr', 'ndcg', 'mrr']))).to.deep.equal([
      'hr@1',
      'ndcg@1',
      'hr@5',
      'ndcg@5',
      'hr@10',
      'ndcg@10',
      'hr@20',
      'ndcg@20',
      'mrr',
    ]);
    expect(() => flattenMetrics(m, ['HR' as never])).to.throw(/flattenMetrics: 'fields' must list some of hr, recall/);
  });

  it('turns top-k lists into ranks', () => {
    const ranks = ranksFromTopK(Int32Array.from([5, 3, 9, 1, 2, 4]), 3, [9, 7]);
    expect(Array.from(ranks)).to.deep.equal([2, Infinity]);
    expect(() => ranksFromTopK([1, 2, 3], 2, [1])).to.throw(/ranksFromTopK: topK has 3 ids, expected 1 rows × 2/);
  });

  it('names the op and the shapes on bad input', () => {
    expect(() => fullRankingMetrics(new Float32Array(10), 3, [1, 2, 3])).to.throw(
      /fullRankingMetrics: scores has 10 values, not a multiple of 3 rows/,
    );
    expect(() => fullRankingMetrics(new Float32Array(10), 2, [1, 5])).to.throw(
      /fullRankingMetrics: targets\[1\] = 5 is not an item id in 1\.\.4 \(scores are \[2, 5\]\)/,
    );
    expect(() => sampledMetrics([1, 2], 1, { targetIndex: [2] })).to.throw(/sampledMetrics: targetIndex\[0\] = 2/);
    expect(() => new RankingAccumulator({ ks: [0] })).to.throw(/every K must be a positive integer, got 0/);
  });
});

describe('metrics: against a sort-based reference', () => {
  /** Sorts candidates by score (descending), target first among equals, as a stable argsort. */
  function referenceRank(
    row: number[],
    target: number,
    exclude: Set<number>,
    tie: 'optimistic' | 'pessimistic',
  ): number {
    const order = row
      .map((s, i) => ({ s, i }))
      .filter(({ i }) => i !== 0 && (i === target || !exclude.has(i)))
      .sort(
        (a, b) =>
          b.s - a.s ||
          (tie === 'optimistic'
            ? a.i === target
              ? -1
              : b.i === target
                ? 1
                : 0
            : a.i === target
              ? 1
              : b.i === target
                ? -1
                : 0),
      );
    return order.findIndex(({ i }) => i === target);
  }

  it('matches on random scores with many exact ties, with and without masking', () => {
    const rng = new data.Rng(17);
    const rows = 60;
    const width = 41;
    const scores = new Float32Array(rows * width);
    // Scores quantised to 8 levels so ties are common.
    for (let i = 0; i < scores.length; i++) scores[i] = rng.nextInt(8) / 8 - 0.5;
    const targets = Array.from({ length: rows }, () => 1 + rng.nextInt(width - 1));
    const histories = Array.from({ length: rows }, () => Array.from({ length: 6 }, () => 1 + rng.nextInt(width - 1)));
    for (const tie of ['optimistic', 'pessimistic'] as const) {
      for (const masked of [false, true]) {
        const ks = [1, 5, 10, 20];
        const got = fullRankingMetrics(
          scores,
          rows,
          targets,
          masked ? { ks, tie, exclude: (r) => histories[r] } : { ks, tie },
        );
        const expected = new RankingAccumulator({ ks });
        for (let r = 0; r < rows; r++) {
          const row = Array.from(scores.subarray(r * width, (r + 1) * width));
          expected.addRank(referenceRank(row, targets[r]!, new Set(masked ? histories[r] : []), tie));
        }
        const want = expected.result();
        for (const k of ks) {
          close(got.hr[k]!, want.hr[k]!, `${tie} masked=${masked} HR@${k}`);
          close(got.ndcg[k]!, want.ndcg[k]!, `${tie} masked=${masked} NDCG@${k}`);
          close(got.mrrAt[k]!, want.mrrAt[k]!, `${tie} masked=${masked} MRR@${k}`);
        }
        close(got.mrr, want.mrr, `${tie} masked=${masked} MRR`);
      }
    }
  });

  it('gives the mean rule as the average of all tie placements', () => {
    const rng = new data.Rng(3);
    const row = Array.from({ length: 30 }, () => rng.nextInt(4));
    const target = row.findIndex((v, i) => i > 0 && v === row[0]);
    const ties = row.filter((v, i) => i !== 0 && v === row[0]).length;
    expect(target).to.be.greaterThan(0);
    const greater = row.filter((v) => v > row[0]!).length;
    const ks = [1, 5, 10];
    const average = new RankingAccumulator({ ks });
    for (let p = greater; p <= greater + ties; p++) average.addRank(p);
    const want = average.result();
    const got = sampledMetrics(row, 1, { ks, tie: 'mean' });
    for (const k of ks) {
      close(got.hr[k]!, want.hr[k]!);
      close(got.ndcg[k]!, want.ndcg[k]!);
    }
    close(got.mrr, want.mrr);
  });
});

describe('metrics: leave-one-out protocol', () => {
  it('ranks each user against all items with the history masked', () => {
    const rng = new data.Rng(4);
    const rows = 400;
    const log: data.InteractionLog = {
      userKeys: Array.from({ length: 20 }, (_, i) => `u${i}`),
      itemKeys: Array.from({ length: 30 }, (_, i) => `i${i}`),
      user: Int32Array.from({ length: rows }, () => rng.nextInt(20)),
      item: Int32Array.from({ length: rows }, () => rng.nextInt(30)),
      time: Float64Array.from({ length: rows }, (_, r) => r),
      basket: new Int32Array(rows).fill(-1),
      titles: Array.from({ length: 30 }, () => ''),
      descriptions: Array.from({ length: 30 }, () => ''),
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
    const split = data.prepareDataset(log, { kCore: 2 }).leaveOneOut();
    const users = split.evaluationUsers();
    const targets = evaluation.stageTargets(split, 'test', users);
    const width = split.dataset.numItems + 1;
    const scores = Float64Array.from({ length: users.length * width }, () => rng.nextFloat());
    const got = evaluation.fullRankingMetrics(scores, users.length, targets, {
      exclude: evaluation.historyExclusion(split, 'test', users),
    });
    const ranks = Array.from(users, (u, r) => {
      const row = scores.subarray(r * width, (r + 1) * width);
      const seen = new Set(split.history(u, 'test'));
      let above = 0;
      for (let i = 1; i < width; i++) if (i !== targets[r] && !seen.has(i) && row[i]! > row[targets[r]!]!) above++;
      return above;
    });
    const want = evaluation.metricsFromRanks(ranks);
    expect(got).to.deep.equal(want);
  });
});

describe('metrics: Hit@1 of generated titles (A-LLMRec rule)', () => {
  it('matches the answer inside the first and last quotes, case-insensitively', () => {
    expect(titleHit('The recommendation is "Wireless Mouse X200" for this user.', 'wireless mouse')).to.equal(true);
    expect(titleHit('"item title" : "Lip Balm"', 'LIP BALM')).to.equal(true);
    expect(answerSpan('A "b" c "d" e')).to.equal('b" c "d');
    expect(titleHit('Keyboard "Wireless Mouse"', 'keyboard')).to.equal(false);
    // One quote: empty span. No quote: the reference's text[0:-1] drops the last character.
    expect(titleHit('"Wireless Mouse', 'wireless mouse')).to.equal(false);
    expect(answerSpan('wireless mouse')).to.equal('wireless mous');
    expect(titleHit('wireless mouse!', 'wireless mouse')).to.equal(true);
    expect(generatedHitAt1(['"a b"', '"c"', 'x "d e" y', '""'], ['A', 'b', 'D E', 'z'])).to.equal(0.5);
    expect(() => titleHit('"x"', '  ')).to.throw(/titleHit: the answer title is empty/);
  });
});

describe('metrics: seeds and reports', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-metrics-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gives mean ± sample std over seeds', () => {
    const s = meanStd([1, 2, 3, 4]);
    expect(s.mean).to.equal(2.5);
    close(s.std, Math.sqrt(5 / 3));
    expect(meanStd([0.3]).std).to.equal(0);
    const runs = [0.1, 0.2, 0.3].map((v) => flattenMetrics(metricsFromRanks([0, v > 0.15 ? 3 : 30], { ks: [5] })));
    const agg = aggregateSeeds(runs);
    close(agg['hr@5']!.mean, (0.5 + 1 + 1) / 3);
    expect(formatMeanStd(meanStd([0.25, 0.35]))).to.equal('0.3000 ± 0.0707');
    expect(formatMeanStd(meanStd([0.25]))).to.equal('0.2500');
    expect(() => aggregateSeeds([{ a: 1 }, { b: 2 }])).to.throw(/aggregateSeeds: run 1 has no 'a'/);
  });

  it('writes JSON results and an SVG of training curves', () => {
    const file = path.join(dir, 'results', 'run.json');
    const result = { metrics: flattenMetrics(metricsFromRanks([1, 2])), seed: 3 };
    writeJsonFile(file, result);
    expect(JSON.parse(readFileSync(file, 'utf8'))).to.deep.equal(result);
    const svg = trainingCurvesSvg(
      [
        {
          name: 'train loss',
          points: [
            [0, 1.2],
            [1, 0.8],
            [2, Infinity],
            [3, 0.5],
          ],
        },
        {
          name: 'valid NDCG@10 <best>',
          points: [
            [0, 0.1],
            [3, 0.3],
          ],
        },
      ],
      { title: 'SASRec on Online Retail', xLabel: 'epoch', yLabel: 'value' },
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).to.equal(true);
    const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1]!);
    expect(paths).to.have.length(2);
    // The infinite loss breaks the first line into two pieces: M L M.
    expect(paths[0]!.match(/[ML]/g)).to.deep.equal(['M', 'L', 'M']);
    expect(svg).to.include('valid NDCG@10 &lt;best&gt;');
    const out = path.join(dir, 'curves.svg');
    writeTrainingCurves(out, [{ name: 'loss', points: [[1, 2]] }]);
    expect(readFileSync(out, 'utf8')).to.match(/<\/svg>\n$/);
    expect(() => trainingCurvesSvg([{ name: 'empty', points: [] }])).to.throw(/trainingCurvesSvg: no finite points/);
  });
});
