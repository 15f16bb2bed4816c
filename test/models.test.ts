import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { data, manualSeed, models, pipelines, randn, Recommender } from '../lib/index.js';

const { seqrec } = pipelines;

// One small model trained once on the embedded dataset serves the tests below.
describe('SASRec and GRU4Rec on the embedded dataset', function () {
  this.timeout(300_000);
  let split: data.LeaveOneOutSplit;
  let sasrec: models.SASRec;
  let dir: string;

  before(async () => {
    const { dataset } = await data.loadDefaultDataset();
    split = dataset.leaveOneOut();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-models-'));
    manualSeed(0);
    sasrec = new models.SASRec(models.sasrecConfig(dataset.numItems, 'a-llmrec', { dropout: 0.2 }));
    await seqrec.fitSequenceModel(sasrec, split, { epochs: 4, evalEvery: 100, lr: 2e-3 });
    models.saveTrainedModel(dir, sasrec, split);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('beats the popularity baseline by a clear margin (full-ranking Recall@10 and 1+99 NDCG@10)', () => {
    const full = seqrec.flatten(seqrec.evaluateFullRanking(sasrec, split, 'test'));
    const popFull = seqrec.flatten(models.evaluatePopularity(split, 'test', 'full'));
    const sampled = seqrec.flatten(seqrec.evaluateSampled(sasrec, split, 'test'));
    const popSampled = seqrec.flatten(models.evaluatePopularity(split, 'test', 'sampled'));
    expect(full['hr@10']).to.be.greaterThan(popFull['hr@10']! * 1.15);
    expect(sampled['ndcg@10']).to.be.greaterThan(popSampled['ndcg@10']! * 1.05);
  });

  it('a reloaded checkpoint gives the same scores, and Recommender answers from it', async () => {
    const rec = await Recommender.load(dir);
    try {
      const user = 5;
      const history = split.history(user, 'test');
      const keys = split.dataset.itemKeys;
      const direct = sasrec.eval().scoreAll(
        (() => {
          const ids = new Int32Array(sasrec.config.maxlen);
          models.leftPad(history, sasrec.config.maxlen, ids, 0);
          return ids;
        })(),
        1,
      );
      const scores = direct.dataSync();
      const best = [...scores.keys()]
        .filter((id) => id > 0 && !history.includes(id))
        .sort((a, b) => scores[b]! - scores[a]! || a - b)
        .slice(0, 5);
      const answer = await rec.recommend(
        [...history].map((id) => keys[id]!),
        { k: 5 },
      );
      expect(answer.map((r) => r.item)).to.deep.equal(best.map((id) => keys[id]));
      answer.forEach((r, i) => expect(r.score).to.be.closeTo(scores[best[i]!]!, 1e-4));
      expect(answer[0]!.title).to.equal(split.dataset.titles[best[0]!]);
    } finally {
      await rec.close();
    }
  });

  it('batches 64 concurrent callers with per-caller results identical to unbatched calls', async () => {
    const rec = await Recommender.load(dir, { maxBatch: 16 });
    try {
      const keys = split.dataset.itemKeys;
      const histories = Array.from({ length: 64 }, (_, i) => [...split.history(i + 1, 'test')].map((id) => keys[id]!));
      const single = [];
      for (const h of histories.slice(0, 8)) single.push(await rec.recommend(h, { k: 10 }));
      const together = await Promise.all(histories.map((h, i) => rec.recommend(h, { k: i % 2 ? 10 : 3 })));
      for (let i = 0; i < 8; i++) expect(together[i], `caller ${i}`).to.deep.equal(single[i]!.slice(0, i % 2 ? 10 : 3));
      expect(together.map((r) => r.length)).to.deep.equal(histories.map((_, i) => (i % 2 ? 10 : 3)));
    } finally {
      await rec.close();
    }
  });

  it('handles unknown ids, empty histories and bad arguments as documented', async () => {
    const rec = await Recommender.load(dir);
    try {
      const popular = await rec.recommend([], { k: 3 });
      const counts = models.trainingPopularity(split);
      const top = [...counts.keys()].filter((i) => i > 0).sort((a, b) => counts[b]! - counts[a]! || a - b);
      expect(popular.map((r) => r.item)).to.deep.equal(top.slice(0, 3).map((id) => split.dataset.itemKeys[id]));
      const known = split.dataset.itemKeys[10]!;
      expect(await rec.recommend([known, 'NO-SUCH-ITEM'], { k: 4 })).to.deep.equal(
        await rec.recommend([known], { k: 4 }),
      );
      let message = '';
      await rec.recommend(['NO-SUCH-ITEM'], { unknownItems: 'error' }).catch((e: Error) => (message = e.message));
      expect(message).to.equal('recommend: history has 1 unknown item id(s): NO-SUCH-ITEM');
      await rec.recommend([known], { k: 0 }).catch((e: Error) => (message = e.message));
      expect(message).to.match(/k must be an integer in 1\.\.1024, got 0/);
      expect(
        (await rec.recommend([known], { k: 5, excludeHistory: false, exclude: [known] })).map((r) => r.item),
      ).to.not.include(known);
    } finally {
      await rec.close();
    }
    let loadError = '';
    await Recommender.load(path.join(dir, 'missing')).catch((e: Error) => (loadError = e.message));
    expect(loadError).to.match(/is not a model directory/);
    const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-broken-'));
    fs.copyFileSync(path.join(dir, 'config.json'), path.join(broken, 'config.json'));
    fs.writeFileSync(path.join(broken, 'model.safetensors'), Buffer.alloc(4));
    await Recommender.load(broken).catch((e: Error) => (loadError = e.message));
    expect(loadError).to.match(/not a valid safetensors file/);
    fs.rmSync(broken, { recursive: true, force: true });
  });

  it('GRU4Rec trains and evaluates through the same loop', async () => {
    manualSeed(1);
    const gru = new models.GRU4Rec(models.gru4recConfig(split.dataset.numItems, 'demo', { maxlen: 8, hidden: 32 }));
    const result = await seqrec.fitSequenceModel(gru, split, { epochs: 1, evalEvery: 1, optimizer: 'adamw' });
    expect(result.history[0]!.loss).to.be.lessThan(Math.log(split.dataset.numItems));
    expect(result.history[0]!.metrics!['hr@10']).to.be.greaterThan(0.1);
    gru.dispose();
  });

  it('the LLM2Rec variant trains its adapter on a frozen external item table', async () => {
    const n = split.dataset.numItems;
    manualSeed(4);
    const external = randn([n + 1, 24], { seed: 9 });
    const before = [...external.dataSync().slice(0, 48)];
    const model = new models.SASRec(
      models.sasrecConfig(n, 'llm2rec', { externalDim: 24, hidden: 16, ffnDim: 32, maxlen: 6 }),
      {
        externalItems: external,
      },
    );
    expect(model.items.table.weight.requiresGrad).to.equal(false);
    expect(model.trainableParameters().map((p) => p.shape.join('x'))).to.include('16x24');
    const result = await seqrec.fitSequenceModel(model, split, {
      epochs: 3,
      evalEvery: 3,
      optimizer: 'adamw',
      batchSize: 256,
      lr: 5e-3,
    });
    expect(result.history[2]!.loss).to.be.lessThan(result.history[0]!.loss - 0.05);
    expect([...model.items.table.weight.dataSync().slice(0, 48)]).to.deep.equal(before);
    expect(() => new models.SASRec(models.sasrecConfig(n, 'llm2rec'))).to.throw(/needs 'externalItems' \[3180, 896\]/);
    model.dispose();
  });

  it('a resumed SASRec run equals an uninterrupted one', async () => {
    const small = { hidden: 16, maxlen: 8, blocks: 1, dropout: 0.1 };
    const users = split.dataset;
    const make = () => {
      manualSeed(3);
      return new models.SASRec(models.sasrecConfig(users.numItems, 'a-llmrec', small));
    };
    const straight = make();
    await seqrec.fitSequenceModel(straight, split, { epochs: 2, evalEvery: 100, batchSize: 512 });
    const ckpt = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-resume-'));
    const first = make();
    await seqrec.fitSequenceModel(first, split, { epochs: 1, evalEvery: 100, batchSize: 512, checkpointDir: ckpt });
    const resumed = make();
    await seqrec.fitSequenceModel(resumed, split, {
      epochs: 2,
      evalEvery: 100,
      batchSize: 512,
      checkpointDir: ckpt,
      resume: true,
    });
    const a = straight.stateDict();
    const b = resumed.stateDict();
    for (const [name, t] of a) expect([...b.get(name)!.dataSync()], name).to.deep.equal([...t.dataSync()]);
    fs.rmSync(ckpt, { recursive: true, force: true });
  });
});
