import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  CausalLM,
  concat,
  loadCausalLM,
  manualSeed,
  noGrad,
  pipelines,
  presetConfig,
  Recommender,
  saveCausalLM,
  tensor,
  trainByteLevelBpe,
  type GeneratedRecommendation,
  type Tensor,
} from '../lib/index.js';
import { loadSafetensors } from '../lib/io/safetensors.js';

import * as alignModule from '../lib/pipelines/a-llmrec/align.js';
import * as cfModule from '../lib/pipelines/a-llmrec/cf.js';
import * as compareModule from '../lib/pipelines/a-llmrec/compare.js';
import * as demoModule from '../lib/pipelines/a-llmrec/demo.js';
import * as describeModule from '../lib/pipelines/a-llmrec/describe.js';
import { defaultLanguageModelDir } from '../lib/llm/default-model.js';
import * as languageModelModule from '../lib/pipelines/a-llmrec/language-model.js';
import { readItemTable } from '../lib/pipelines/llm2rec/embed.js';
import * as evaluateModule from '../lib/pipelines/a-llmrec/evaluate.js';
import * as generateModule from '../lib/pipelines/a-llmrec/generate.js';
import * as promptModule from '../lib/pipelines/a-llmrec/prompt.js';
import * as scenariosModule from '../lib/pipelines/a-llmrec/scenarios.js';
import * as softPromptModule from '../lib/pipelines/a-llmrec/soft-prompt.js';

/**
 * Expects every tensor of safetensors file `a` to equal, bit for bit, the tensor of that name in
 * `b` (the assertion labelled `label` + name); with `sameNames` the two hold the same names too.
 */
function expectSameSafetensors(a: string, b: string, label: string, sameNames = false): void {
  const x = loadSafetensors(a);
  const y = loadSafetensors(b);
  if (sameNames) expect([...x.keys()].sort()).to.deep.equal([...y.keys()].sort());
  for (const [name, t] of x) expect([...t.dataSync()], label + name).to.deep.equal([...y.get(name)!.dataSync()]);
  for (const t of [...x.values(), ...y.values()]) t.dispose();
}

// The public surface and the stages' helpers, under one name for these tests.
const aLLMRec = {
  ...pipelines.aLLMRec,
  ...alignModule,
  ...cfModule,
  ...compareModule,
  ...describeModule,
  ...languageModelModule,
  ...evaluateModule,
  ...generateModule,
  ...promptModule,
  ...scenariosModule,
  ...softPromptModule,
};
const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = path.resolve(here, '..', '..', 'test', 'fixtures', 'data', 'formats', 'recbole');

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `llmrec-${prefix}-`));
}

/** A random-weight tiny Qwen2 with a byte-level BPE tokenizer trained on `texts`. */
export function makeTinyLm(dir: string, texts: readonly string[], seed = 0): void {
  const tokenizer = trainByteLevelBpe(texts, { vocabSize: 384 });
  tokenizer.save(dir);
  const config = { ...presetConfig('tiny', tokenizer.vocabSize), eosTokenIds: [tokenizer.eosTokenId!] };
  const model = new CausalLM(config, { seed });
  try {
    saveCausalLM(dir, model);
  } finally {
    model.dispose();
  }
}

const fixtureTitles = () =>
  fs
    .readFileSync(path.join(fixture, 'Retail.item'), 'utf-8')
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t')[1] ?? '');

// ---------------------------------------------------------------------------------------------
// float64 reference of stage 1's loss, from the modules' weights

type Matrix = number[][];
const rowsOf = (t: Tensor): Matrix => {
  const data = [...t.dataSync()];
  const [r, c] = [t.shape[0]!, t.shape.length > 1 ? t.shape[1]! : 1];
  return Array.from({ length: r }, (_, i) => data.slice(i * c, (i + 1) * c));
};
const vectorOf = (t: Tensor): number[] => [...t.dataSync()];
const affine = (x: Matrix, w: Matrix, b: number[]) =>
  x.map((row) => w.map((wr, o) => wr.reduce((s, v, i) => s + v * row[i]!, b[o]!)));
const sigmoid = (x: Matrix) => x.map((row) => row.map((v) => 1 / (1 + Math.exp(-v))));
const mse = (a: Matrix, b: Matrix) => {
  let s = 0;
  let n = 0;
  a.forEach((row, i) => row.forEach((v, j) => ((s += (v - b[i]![j]!) ** 2), n++)));
  return s / n;
};
const bce = (logits: number[], target: number) =>
  logits.reduce((s, x) => s + Math.max(x, 0) - x * target + Math.log1p(Math.exp(-Math.abs(x))), 0) / logits.length;

function referenceTerms(aligner: InstanceType<typeof aLLMRec.ItemTextAligner>, batch: Record<string, Matrix>) {
  const ae = (m: InstanceType<typeof aLLMRec.Autoencoder>, x: Matrix) => {
    const latent = sigmoid(affine(x, rowsOf(m.fc1.weight), vectorOf(m.fc1.bias!)));
    return { latent, recon: affine(latent, rowsOf(m.fc2.weight), vectorOf(m.fc2.bias!)) };
  };
  const pos = ae(aligner.item, batch.positiveItem!);
  const neg = ae(aligner.item, batch.negativeItem!);
  const posText = ae(aligner.text, batch.positiveText!);
  const negText = ae(aligner.text, batch.negativeText!);
  const score = (recon: Matrix) =>
    recon.map((row, r) => row.reduce((s, v, j) => s + v * batch.user![r]![j]!, 0) / row.length);
  const rec = bce(score(pos.recon), 1) + bce(score(neg.recon), 0);
  const matching = mse(pos.latent, posText.latent) + mse(neg.latent, negText.latent);
  const itemRecon = mse(pos.recon, batch.positiveItem!) + mse(neg.recon, batch.negativeItem!);
  const textRecon = mse(posText.recon, batch.positiveText!) + mse(negText.recon, batch.negativeText!);
  return { rec, matching, itemRecon, textRecon, total: rec + matching + 0.5 * itemRecon + 0.2 * textRecon };
}

describe('A-LLMRec stage 1 loss', () => {
  it('matches a float64 reference term by term (L_rec, L_matching, both reconstructions, the total)', () => {
    manualSeed(7);
    const aligner = new aLLMRec.ItemTextAligner(6, 5, 4);
    const draw = (rows: number, cols: number, scale: number): Matrix =>
      Array.from({ length: rows }, () => Array.from({ length: cols }, () => (Math.random() * 2 - 1) * scale));
    const host = {
      user: draw(3, 6, 2),
      positiveItem: draw(3, 6, 1.5),
      negativeItem: draw(3, 6, 1.5),
      positiveText: draw(3, 5, 1),
      negativeText: draw(3, 5, 1),
    };
    const batch = Object.fromEntries(
      Object.entries(host).map(([k, m]) => [
        k,
        tensor(Float32Array.from(m.flat()), { shape: [m.length, m[0]!.length] }),
      ]),
    ) as unknown as Parameters<typeof aLLMRec.alignmentLoss>[1];
    const terms = noGrad(() => aLLMRec.alignmentLoss(aligner, batch, { itemRecon: 0.5, textRecon: 0.2 }));
    const reference = referenceTerms(aligner, host);
    for (const key of ['rec', 'matching', 'itemRecon', 'textRecon', 'total'] as const) {
      const got = terms[key].item();
      expect(Math.abs(got - reference[key]) / Math.abs(reference[key]), key).to.be.below(1e-5);
    }
    aligner.dispose();
  });

  it('sends gradients to both autoencoders but not into the frozen inputs', () => {
    manualSeed(1);
    const aligner = new aLLMRec.ItemTextAligner(4, 3, 2);
    const t = (rows: number, cols: number) =>
      tensor(
        Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i + rows)),
        { shape: [rows, cols] },
      );
    const loss = aLLMRec.alignmentLoss(
      aligner,
      { user: t(2, 4), positiveItem: t(2, 4), negativeItem: t(2, 4), positiveText: t(2, 3), negativeText: t(2, 3) },
      { itemRecon: 0.5, textRecon: 0.2 },
    );
    loss.total.backward();
    for (const [name, p] of aligner.namedParameters()) expect(p.grad, name).to.not.equal(null);
    aligner.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// The stages on a tiny dataset with a tiny LM

describe('A-LLMRec pipeline: cf and align', function () {
  this.timeout(600_000);
  let lmDir: string;
  const base = () =>
    pipelines.resolveConfig(aLLMRec.aLLMRecConfig, {
      values: { data: fixture, kcore: 2, lm: lmDir, cfEpochs: 2, alignEpochs: 2, alignBatchSize: 8 },
    });

  before(() => {
    lmDir = tempDir('allmrec-lm');
    makeTinyLm(lmDir, fixtureTitles());
  });
  after(() => fs.rmSync(lmDir, { recursive: true, force: true }));

  it('trains cf then align, records both in the manifest with finite loss terms', async () => {
    const dir = tempDir('allmrec-run');
    try {
      const config = base();
      await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'cf', { dir, config });
      const outcome = await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'align', { dir, config });
      const terms = (outcome.metrics as { terms: Record<string, number> }).terms;
      for (const key of ['rec', 'matching', 'itemRecon', 'textRecon', 'total'])
        expect(terms[key]).to.be.a('number').and.satisfy(Number.isFinite);
      const manifest = pipelines.readRunManifest(dir)!;
      expect(manifest.stages.cf!.status).to.equal('done');
      expect(manifest.stages.align!.status).to.equal('done');
      const text = loadSafetensors(path.join(dir, 'align', aLLMRec.TEXT_EMBEDDINGS_FILE)).get('text')!;
      expect(text.shape).to.deep.equal([147, 64]); // 146 items + padding, the tiny LM's width
      expect([...text.dataSync().subarray(0, 64)].every((v) => v === 0)).to.equal(true);
      text.dispose();
      const { aligner, textTable } = aLLMRec.loadAlignStage(path.join(dir, 'align'), 'cpu');
      expect(aligner.latentDim).to.equal(128);
      aligner.dispose();
      textTable.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('resumes align exactly: 1 epoch then --resume to 2 equals 2 epochs straight', async () => {
    const straight = tempDir('allmrec-straight');
    const resumed = tempDir('allmrec-resumed');
    try {
      const config = base();
      for (const dir of [straight, resumed]) await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'cf', { dir, config });
      await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'align', { dir: straight, config });
      await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'align', {
        dir: resumed,
        config: { ...config, alignEpochs: 1 },
      });
      await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'align', { dir: resumed, config, resume: true });
      expectSameSafetensors(
        path.join(straight, 'align', 'model.safetensors'),
        path.join(resumed, 'align', 'model.safetensors'),
        '',
        true,
      );
    } finally {
      fs.rmSync(straight, { recursive: true, force: true });
      fs.rmSync(resumed, { recursive: true, force: true });
    }
  });

  it('refuses bad inputs with messages that name them, leaving finished stages alone', async () => {
    const dir = tempDir('allmrec-bad');
    try {
      const config = base();
      await expectReject(
        pipelines.runStage(aLLMRec.aLLMRecPipeline, 'align', { dir, config }),
        /needs stage 'cf' done first/,
      );
      await expectReject(
        pipelines.runStage(aLLMRec.aLLMRecPipeline, 'cf', {
          dir,
          config: { ...config, cf: path.join(dir, 'nowhere') },
        }),
        /nowhere does not exist/,
      );
      await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'cf', { dir, config });
      const cfDigest = pipelines.readRunManifest(dir)!.stages.cf!.outputs;
      const noTokenizer = tempDir('allmrec-notok');
      fs.copyFileSync(path.join(lmDir, 'config.json'), path.join(noTokenizer, 'config.json'));
      await expectReject(
        pipelines.runStage(aLLMRec.aLLMRecPipeline, 'align', { dir, config: { ...config, lm: noTokenizer } }),
        /has no tokenizer.json/,
      );
      if (!fs.existsSync(path.resolve(here, '..', '..', 'data', 'models')))
        await expectReject(
          pipelines.runStage(aLLMRec.aLLMRecPipeline, 'align', { dir, config: { ...config, lm: '' } }),
          /the default language model .* is not built .*lm pretrain/,
        );
      fs.rmSync(noTokenizer, { recursive: true, force: true });
      const manifest = pipelines.readRunManifest(dir)!;
      expect(manifest.stages.align!.status).to.equal('failed');
      expect(manifest.stages.cf!.outputs).to.deep.equal(cfDigest);
      // A SASRec of another vocabulary is refused by --cf.
      const other = tempDir('allmrec-other');
      await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'cf', { dir: other, config: { ...config, kcore: 1 } });
      await expectReject(
        pipelines.runStage(aLLMRec.aLLMRecPipeline, 'cf', {
          dir: tempDir('allmrec-take'),
          config: { ...config, cf: other },
        }),
        /another item vocabulary \(180 items, this dataset has 146\)/,
      );
      fs.rmSync(other, { recursive: true, force: true });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('A-LLMRec pipeline: generate, eval and scenarios', function () {
  this.timeout(600_000);
  let lmDir: string;
  let runDir: string;
  const base = () =>
    pipelines.resolveConfig(aLLMRec.aLLMRecConfig, {
      values: {
        data: fixture,
        kcore: 2,
        lm: lmDir,
        cfEpochs: 2,
        alignEpochs: 1,
        alignBatchSize: 8,
        trainUsers: 12,
        generateEpochs: 2,
        evalUsers: 10,
        maxNewTokens: 8,
      },
    });

  before(async () => {
    lmDir = tempDir('allmrec-lm2');
    makeTinyLm(lmDir, fixtureTitles(), 3);
    runDir = tempDir('allmrec-all');
    await pipelines.runAll(aLLMRec.aLLMRecPipeline, { dir: runDir, config: base() });
  });
  after(() => {
    fs.rmSync(lmDir, { recursive: true, force: true });
    fs.rmSync(runDir, { recursive: true, force: true });
  });

  it('runs every stage and reports Hit@1 of each method per test group, in [0, 1]', () => {
    const manifest = pipelines.readRunManifest(runDir)!;
    for (const stage of ['cf', 'align', 'generate', 'eval'])
      expect(manifest.stages[stage]!.status, stage).to.equal('done');
    const result = JSON.parse(fs.readFileSync(path.join(runDir, 'eval', 'results.json'), 'utf-8')) as aLLMRecEval;
    expect(result.candidates).to.equal(20);
    const all = result.groups.all!;
    expect(all.users).to.equal(10);
    for (const value of [...Object.values(all.hit), all.validRate]) expect(value).to.be.within(0, 1);
    for (const sample of result.samples) {
      expect(sample.candidates).to.have.length(20);
      expect(sample.candidates).to.include(sample.target);
      expect(sample.candidates).to.include(sample.constrained);
      expect(sample.candidates).to.include(sample.sasrec);
    }
  });

  it('constrained decoding always answers one of the candidates, also for prefixes and quoted titles', async () => {
    const config = base();
    const { dataset } = await pipelines.loadConfiguredDataset(config);
    const split = dataset.split();
    const models = await aLLMRec.loadStageTwo(
      config,
      (s) => path.join(runDir, s),
      'cpu',
      path.join(runDir, 'generate'),
    );
    try {
      // Titles that are prefixes of others, and one with a double quote (made a single quote).
      const titles = models.context.titles as string[];
      const saved = [titles[1]!, titles[2]!, titles[3]!];
      titles[1] = 'Tea';
      titles[2] = 'Tea Set';
      titles[3] = aLLMRec.promptTitle('Children\'s "Tea" Set', 'x');
      expect(titles[3]).to.equal("Children's 'Tea' Set");
      const rows = Array.from({ length: 12 }, (_, r) => {
        const candidates = Int32Array.from({ length: 20 }, (_, j) => 1 + ((r * 7 + j * 3) % dataset.numItems));
        candidates[0] = 1;
        candidates[1] = 2;
        candidates[2] = 3;
        return { history: split.train(1 + (r % dataset.numUsers)), candidates, target: candidates[r % 20]! };
      });
      for (const softTokens of [true, false]) {
        const chosen = aLLMRec.constrainedAnswers(models, rows, softTokens);
        expect(chosen).to.have.length(rows.length);
        for (const index of chosen) expect(index).to.be.a('number').and.within(0, 19);
      }
      saved.forEach((title, i) => (titles[i + 1] = title));
    } finally {
      models.dispose();
    }
  });

  it("serves the run folder: candidates ranked with the LM's choice first, and its text; calls batched", async () => {
    const rec = await Recommender.open(runDir);
    try {
      const info = rec.info();
      expect(info.kind).to.equal('a-llmrec');
      expect(info.features).to.deep.equal({ candidates: true, addItems: false, text: true });
      const keys = (
        JSON.parse(fs.readFileSync(path.join(runDir, 'cf', 'config.json'), 'utf-8')) as {
          dataset: { itemKeys: string[] };
        }
      ).dataset.itemKeys;
      const candidates = keys.slice(1, 21);
      const answers = (await Promise.all([
        rec.recommend([keys[30]!, keys[31]!], { candidates }),
        rec.recommend([keys[40]!], { candidates, k: 3 }),
        rec.recommend([keys[50]!, 'no-such-item']),
      ])) as GeneratedRecommendation[];
      expect(answers[0]!.items.map((r) => r.item).sort()).to.deep.equal([...candidates].sort());
      expect(answers[1]!.items).to.have.length(3);
      expect(answers[2]!.items).to.have.length(20); // the SASRec's top 20 as candidates
      for (const a of answers) {
        expect(a.text).to.be.a('string');
        for (const r of a.items) expect(r.score).to.satisfy(Number.isFinite);
      }
      await expectReject(rec.recommend([]), /needs at least one known item in the history/);
      await expectReject(
        rec.recommend([keys[1]!], { candidates: ['x'], unknownItems: 'error' }),
        /candidates has \d+ unknown item id/,
      );
      await expectReject(rec.recommend([keys[1]!], { candidates: ['x'] }), /no known item among the candidates/);
      await rec.warmUp();
    } finally {
      await rec.close();
    }
    await expectReject(Recommender.load(runDir), /does not score every item; open it with Recommender.open/);
  });

  it('compare writes one table: each method per scenario and test group, the later scenarios on the first SASRec', async () => {
    const dir = tempDir('allmrec-compare');
    try {
      await pipelines.runCommand(aLLMRec.aLLMRecPipeline, 'compare', {
        dir,
        config: { ...base(), generateEpochs: 1, trainUsers: 8, evalUsers: 6 },
        commandOptions: { scenarios: 'standard,cold-items', llm2rec: 'off' },
      });
      const table = JSON.parse(fs.readFileSync(path.join(dir, 'compare.json'), 'utf-8')) as {
        rows: { name: string; group: string; metrics: Record<string, { mean: number }> }[];
      };
      const groups = [...new Set(table.rows.map((r) => r.group.split(' (')[0]))];
      expect(groups).to.include.members([
        'standard · all',
        'standard · warm',
        'standard · cold-items',
        'cold-items · cold-items',
      ]);
      for (const g of groups)
        expect(table.rows.filter((r) => r.group.startsWith(`${g} (`)).map((r) => r.name)).to.deep.equal([
          'SASRec',
          'LM, titles only',
          'A-LLMRec (free text)',
          'A-LLMRec (constrained)',
        ]);
      for (const r of table.rows) expect(r.metrics['Hit@1']!.mean).to.be.within(0, 1);
      expect(fs.readFileSync(path.join(dir, 'compare.md'), 'utf-8')).to.match(/\| setting \| model \| Hit@1 \|/);
      expect(fs.existsSync(path.join(dir, 'compare.svg'))).to.equal(true);
      const second = pipelines.readRunManifest(path.join(dir, 'cold-items'))!;
      expect(second.stages.cf!.config.cf).to.equal(path.join(dir, 'standard'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('text-only variant: items below the interaction threshold take their text latent, the others their item latent', async () => {
    const cfDir = path.join(runDir, 'cf');
    const { model: cf, catalogue } = await aLLMRec.loadCfStage(cfDir, 'cpu');
    const { aligner, textTable } = aLLMRec.loadAlignStage(path.join(runDir, 'align'), 'cpu');
    try {
      const counts = catalogue.popularity;
      const threshold = [...counts.slice(1)].sort((a, b) => a - b)[Math.floor(counts.length / 2)]!;
      const mixed = aLLMRec.itemLatentTable(cf, aligner, textTable, counts, threshold).dataSync();
      const items = noGrad(() => aligner.item.encode(cf.itemEmbeddings()).dataSync());
      const texts = noGrad(() => aligner.text.encode(textTable).dataSync());
      const d = aligner.latentDim;
      let fromText = 0;
      for (let i = 1; i < counts.length; i++) {
        const want = counts[i]! < threshold ? texts : items;
        if (counts[i]! < threshold) fromText++;
        expect([...mixed.subarray(i * d, (i + 1) * d)], `item ${i}`).to.deep.equal([
          ...want.subarray(i * d, (i + 1) * d),
        ]);
      }
      expect(fromText).to.be.above(0);
      expect([...aLLMRec.itemLatentTable(cf, aligner, textTable, counts, 0).dataSync()]).to.deep.equal([...items]);
    } finally {
      aligner.dispose();
      textTable.dispose();
      cf.dispose();
    }
  });

  it('resumes generate exactly: 1 epoch then --resume to 2 equals 2 epochs straight', async () => {
    const resumed = tempDir('allmrec-gen-resume');
    try {
      const config = base();
      await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'cf', { dir: resumed, config });
      await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'align', { dir: resumed, config });
      await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'generate', {
        dir: resumed,
        config: { ...config, generateEpochs: 1 },
      });
      await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'generate', { dir: resumed, config, resume: true });
      expectSameSafetensors(
        path.join(runDir, 'generate', 'model.safetensors'),
        path.join(resumed, 'generate', 'model.safetensors'),
        '',
      );
    } finally {
      fs.rmSync(resumed, { recursive: true, force: true });
    }
  });

  it("selects each scenario's users by its rule", async () => {
    const { dataset } = await pipelines.loadConfiguredDataset(
      pipelines.resolveConfig(aLLMRec.aLLMRecConfig, { values: { data: fixture, kcore: 3 } }),
    );
    const split = dataset.split();
    const counts = dataset.itemCounts();
    const order = Array.from({ length: dataset.numItems }, (_, i) => i + 1).sort(
      (a, b) => counts[a]! - counts[b]! || a - b,
    );
    const size = Math.floor(0.35 * dataset.numItems);
    const cold = new Set(order.slice(0, size));
    const warm = new Set(order.slice(order.length - size));
    const select = (scenario: aLLMRecScenario) => aLLMRec.testSelection(split, scenario, 1000, 0);
    const warmUsers = select('warm').get('warm')!;
    expect(warmUsers.length).to.be.above(0);
    for (const u of warmUsers) expect(warm.has(split.target(u, 'test'))).to.equal(true);
    const coldUsers = select('cold-items').get('cold-items')!;
    for (const u of coldUsers) expect(cold.has(split.target(u, 'test'))).to.equal(true);
    // Every test user whose target is cold is selected.
    const expectedCold = [...split.evaluationUsers()].filter((u) => cold.has(split.target(u, 'test')));
    expect([...coldUsers]).to.deep.equal(expectedCold);
    const threes = select('cold-users').get('cold-users')!;
    expect(threes.length).to.be.above(0);
    for (const u of threes) expect(dataset.length(u)).to.equal(3);
    expect([...threes]).to.deep.equal([...split.evaluationUsers()].filter((u) => dataset.length(u) === 3));
    // Few-shot: K distinct users with a training target, the same for the same seed.
    const k = aLLMRec.trainingUsers(split, 'standard', 20, 5);
    expect(k.length).to.equal(20);
    expect(new Set(k).size).to.equal(20);
    expect([...k]).to.deep.equal([...aLLMRec.trainingUsers(split, 'standard', 20, 5)]);
    for (const u of k) expect(split.train(u).length).to.be.at.least(2);
    expect(() => aLLMRec.trainingUsers(split, 'few-shot:256', 0, 5)).to.throw(
      /only 49 users have a training target, fewer than 256/,
    );
    // Sampling caps each group.
    expect(aLLMRec.testSelection(split, 'standard', 7, 0).get('all')!.length).to.equal(7);
  });

  it('refuses a scenario that selects nobody, and too few items for the candidates', async () => {
    const dir = tempDir('allmrec-bad2');
    try {
      for (const stage of ['cf', 'align', 'generate']) {
        const from = path.join(runDir, stage);
        fs.cpSync(from, path.join(dir, stage), { recursive: true });
      }
      const manifest = JSON.parse(fs.readFileSync(path.join(runDir, 'manifest.json'), 'utf-8')) as {
        stages: Record<string, unknown>;
      };
      delete manifest.stages.eval;
      fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
      await expectReject(
        pipelines.runStage(aLLMRec.aLLMRecPipeline, 'eval', { dir, config: { ...base(), scenario: 'cold-users' } }),
        /--scenario cold-users selects no test users .*--kcore 3/,
      );
      await expectReject(
        pipelines.runStage(aLLMRec.aLLMRecPipeline, 'eval', { dir, config: { ...base(), negatives: 200 } }),
        /has 146 items, fewer than the 201 candidates of a question; lower --negatives/,
      );
      expect(pipelines.readRunManifest(dir)!.stages.generate!.status).to.equal('done');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

type aLLMRecEval = import('../lib/pipelines/a-llmrec/evaluate.js').EvalResult;
type aLLMRecScenario = import('../lib/pipelines/a-llmrec/config.js').Scenario;

/** The fixture with every 6th item renamed (a new key and title): items the training never saw. */
function writeCrossFixture(dir: string): Set<string> {
  const renamed = new Set<string>();
  const itemLines = fs.readFileSync(path.join(fixture, 'Retail.item'), 'utf-8').split('\n');
  const rename = new Map<string, string>();
  itemLines.slice(1).forEach((line, i) => {
    const key = line.split('\t')[0];
    if (key && i % 6 === 0) rename.set(key, `${key}-NEXT`);
  });
  const item = itemLines.map((line, i) => {
    const [key, title, ...rest] = line.split('\t');
    if (i === 0 || !key || !rename.has(key)) return line;
    renamed.add(rename.get(key)!);
    return [rename.get(key), `Next season ${title}`, ...rest].join('\t');
  });
  const inter = fs
    .readFileSync(path.join(fixture, 'Retail.inter'), 'utf-8')
    .split('\n')
    .map((line, i) => {
      const cells = line.split('\t');
      if (i > 0 && cells[1] && rename.has(cells[1])) cells[1] = rename.get(cells[1])!;
      return cells.join('\t');
    });
  fs.writeFileSync(path.join(dir, 'RetailNext.item'), item.join('\n'));
  fs.writeFileSync(path.join(dir, 'RetailNext.inter'), inter.join('\n'));
  return renamed;
}

describe('A-LLMRec: the LLM2Rec encoder, a fine-tuned text encoder, cross-domain, describe', function () {
  this.timeout(900_000);
  let root: string;
  let lmDir: string;
  let llm2recDir: string;
  let crossDir: string;
  let renamed: Set<string>;
  let runDir: string;
  const base = (overrides: Record<string, unknown> = {}) =>
    pipelines.resolveConfig(aLLMRec.aLLMRecConfig, {
      values: {
        data: fixture,
        kcore: 2,
        lm: lmDir,
        cfEpochs: 2,
        alignEpochs: 1,
        alignBatchSize: 8,
        trainUsers: 8,
        generateEpochs: 1,
        evalUsers: 8,
        maxNewTokens: 6,
        ...overrides,
      },
    });

  before(async () => {
    root = tempDir('allmrec-more');
    lmDir = path.join(root, 'lm');
    makeTinyLm(lmDir, fixtureTitles(), 5);
    llm2recDir = path.join(root, 'llm2rec');
    await pipelines.runAll(aLLMRec.llm2recEncoderPipeline(), {
      dir: llm2recDir,
      config: pipelines.resolveConfig(pipelines.llm2rec.llm2recConfig, {
        values: {
          data: fixture,
          kcore: 2,
          lm: lmDir,
          csftSteps: 3,
          csftBatch: 4,
          csftWarmup: 1,
          maxTokens: 48,
          mntpSteps: 2,
          mntpBatch: 4,
          simcseSteps: 2,
          simcseBatch: 6,
          simcseWarmup: 1,
          titleTokens: 16,
        },
      }),
    });
    crossDir = path.join(root, 'next');
    fs.mkdirSync(crossDir);
    renamed = writeCrossFixture(crossDir);
    runDir = path.join(root, 'run');
    await pipelines.runAll(aLLMRec.aLLMRecPipeline, {
      dir: runDir,
      config: base({ textEncoder: `llm2rec:${llm2recDir}` }),
    });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("uses an LLM2Rec run's item encoder: its table as stage 1's text table, equal to embedding with its SimCSE model", async () => {
    const spec = aLLMRec.resolveTextEncoder(`llm2rec:${llm2recDir}`, lmDir);
    expect(spec).to.deep.include({
      dir: path.join(llm2recDir, 'simcse'),
      attention: 'bidirectional',
      pooling: 'mean',
      maxTokens: 16,
    });
    const { aligner, textTable, textEncoder } = aLLMRec.loadAlignStage(path.join(runDir, 'align'), 'cpu');
    try {
      const table = readItemTable(path.join(llm2recDir, 'embed'));
      expect(textTable.shape).to.deep.equal([table.numItems + 1, table.dim]);
      expect(aligner.textDim).to.equal(table.dim);
      expect([...textTable.dataSync()]).to.deep.equal([...table.rows]);
      // Embedding the items afresh with the same encoder gives the same table.
      const { dataset } = await pipelines.loadConfiguredDataset(base());
      const fresh = aLLMRec.itemTextVectors(spec, aLLMRec.stageOneTexts(dataset).slice(1), 'cpu').vectors;
      let num = 0;
      let den = 0;
      fresh.forEach((v, i) => ((num += (v - table.rows[table.dim + i]!) ** 2), (den += v * v)));
      expect(Math.sqrt(num / den)).to.be.below(1e-5);
      expect(textEncoder).to.deep.include({ dir: path.resolve(llm2recDir, 'simcse'), attention: 'bidirectional' });
    } finally {
      aligner.dispose();
      textTable.dispose();
    }
    const result = JSON.parse(fs.readFileSync(path.join(runDir, 'eval', 'results.json'), 'utf-8')) as aLLMRecEval;
    expect(result.groups.all!.hit.aLLMRecConstrained).to.be.within(0, 1);
    // The manifest hashes the LLM2Rec run's encoder and table as align's inputs.
    const digest = pipelines.readRunManifest(runDir)!.stages.align!.inputs.textEncoder!;
    const hashed = JSON.stringify(digest);
    expect(hashed).to.include('simcse').and.to.include('item-embeddings.safetensors');
  });

  it('refuses a --text-encoder llm2rec: that is not a finished LLM2Rec run, naming what to do', async () => {
    expect(() => aLLMRec.resolveTextEncoder('llm2rec:', lmDir)).to.throw(/name the LLM2Rec run folder/);
    expect(() => aLLMRec.resolveTextEncoder(`llm2rec:${root}/none`, lmDir)).to.throw(/none does not exist/);
    expect(() => aLLMRec.resolveTextEncoder(`llm2rec:${runDir}`, lmDir)).to.throw(
      /is not an LLM2Rec run folder \(it holds a a-llmrec run\)/,
    );
    const partial = path.join(root, 'llm2rec-partial');
    await pipelines.runStage(pipelines.llm2rec.llm2recPipeline, 'csft', {
      dir: partial,
      config: pipelines.resolveConfig(pipelines.llm2rec.llm2recConfig, {
        values: { data: fixture, kcore: 2, lm: lmDir, csftSteps: 1, csftBatch: 2, csftWarmup: 0, maxTokens: 32 },
      }),
    });
    expect(() => aLLMRec.resolveTextEncoder(`llm2rec:${partial}`, lmDir)).to.throw(
      /simcse stage is not run, so it has no item encoder yet; run `llmrec llm2rec simcse/,
    );
  });

  it('fine-tunes the text encoder with the autoencoders (--tune-text-encoder), saves it, and resumes exactly', async () => {
    const straight = path.join(root, 'tuned-straight');
    const resumed = path.join(root, 'tuned-resumed');
    const config = base({ tuneTextEncoder: true, alignEpochs: 2 });
    for (const dir of [straight, resumed])
      await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'cf', { dir, config: { ...config, cf: runDir } });
    await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'align', { dir: straight, config });
    await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'align', { dir: resumed, config: { ...config, alignEpochs: 1 } });
    await pipelines.runStage(aLLMRec.aLLMRecPipeline, 'align', { dir: resumed, config, resume: true });
    for (const file of ['model.safetensors', 'text-encoder/model.safetensors', 'text-embeddings.safetensors'])
      expectSameSafetensors(path.join(straight, 'align', file), path.join(resumed, 'align', file), `${file} `);
    // The encoder moved away from the LM it started from, and the saved table is the tuned encoder's.
    const before = loadSafetensors(path.join(lmDir, 'model.safetensors'));
    const after = loadSafetensors(path.join(straight, 'align', 'text-encoder', 'model.safetensors'));
    let changed = 0;
    for (const [name, t] of before) {
      const other = after.get(name);
      if (other && [...t.dataSync()].some((v, i) => v !== other.dataSync()[i])) changed++;
    }
    expect(changed).to.be.above(0);
    for (const t of [...before.values(), ...after.values()]) t.dispose();
    const { aligner, textTable, textEncoder } = aLLMRec.loadAlignStage(path.join(straight, 'align'), 'cpu');
    try {
      expect(textEncoder!.dir).to.equal(path.join(straight, 'align', 'text-encoder'));
      const { dataset } = await pipelines.loadConfiguredDataset(config);
      const fresh = aLLMRec.itemTextVectors(textEncoder!, aLLMRec.stageOneTexts(dataset).slice(1), 'cpu').vectors;
      const saved = textTable.dataSync().subarray(textTable.shape[1]!);
      fresh.forEach((v, i) => expect(Math.abs(v - saved[i]!)).to.be.below(1e-5 * (1 + Math.abs(v))));
    } finally {
      aligner.dispose();
      textTable.dispose();
    }
  });

  it('gives a fine-tuned encoder gradients through the text inputs, with the reconstruction target detached', () => {
    manualSeed(3);
    const aligner = new aLLMRec.ItemTextAligner(4, 3, 2);
    const t = (rows: number, cols: number, phase: number) =>
      tensor(
        Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.3 + phase)),
        { shape: [rows, cols] },
      );
    const text = t(2, 3, 0.4).requiresGrad_();
    const fixed = { user: t(2, 4, 1), positiveItem: t(2, 4, 2), negativeItem: t(2, 4, 3), negativeText: t(2, 3, 5) };
    const weights = { itemRecon: 0.5, textRecon: 0.2 };
    aLLMRec.alignmentLoss(aligner, { ...fixed, positiveText: text }, weights).total.backward();
    const grad = [...text.grad!.dataSync()];
    // Finite differences of the loss with the text as the encoder's input and the reconstruction
    // target held at its value: the gradient the detached target gives.
    const x0 = [...text.dataSync()];
    const loss = (x: number[]) =>
      noGrad(() => {
        const input = tensor(Float32Array.from(x), { shape: [2, 3] });
        const enc = aligner.text.forward(input);
        const pos = aligner.item.forward(fixed.positiveItem).latent;
        const target = tensor(Float32Array.from(x0), { shape: [2, 3] });
        const matching = enc.latent.sub(pos).square().mean().item();
        const recon = enc.recon.sub(target).square().mean().item();
        return matching + 0.2 * recon;
      });
    x0.forEach((_, i) => {
      const h = 1e-2;
      const up = [...x0];
      const down = [...x0];
      up[i] = x0[i]! + h;
      down[i] = x0[i]! - h;
      const numeric = (loss(up) - loss(down)) / (2 * h);
      expect(Math.abs(numeric - grad[i]!), `d/dx${i}`).to.be.below(2e-3 * (1 + Math.abs(numeric)));
    });
    aligner.dispose();
  });

  it('cross-domain: unseen items are those whose key the training never had; groups follow the rule', async () => {
    const { dataset: trainData } = await pipelines.loadConfiguredDataset(base());
    const { dataset: next } = await aLLMRec.loadCrossDataset(base({ scenario: 'cross-domain', crossData: crossDir }));
    const view = aLLMRec.crossDomainItems({ itemKeys: trainData.itemKeys }, next);
    const unseenKeys = view.unseen.map((id) => next.itemKeys[id]!);
    expect(new Set(unseenKeys)).to.deep.equal(new Set([...renamed].filter((k) => next.itemKeys.includes(k))));
    expect(unseenKeys.length).to.be.above(0);
    for (let id = 1; id <= next.numItems; id++)
      if (view.cfItems[id]! > 0) expect(trainData.itemKeys[view.cfItems[id]!]).to.equal(next.itemKeys[id]);
    const split = next.split();
    const selection = aLLMRec.testSelection(split, 'cross-domain', 1000, 0, view.cfItems);
    expect([...selection.get('all')!]).to.deep.equal([...split.evaluationUsers()]);
    const unseenUsers = [...split.evaluationUsers()].filter((u) =>
      renamed.has(next.itemKeys[split.target(u, 'test')]!),
    );
    expect(unseenUsers.length).to.be.above(0);
    expect([...selection.get('unseen-items')!]).to.deep.equal(unseenUsers);
    const seen = [...view.cfItems.keys()].filter((id) => view.cfItems[id]! > 0).slice(0, 2);
    expect(aLLMRec.cfHistory(Int32Array.from([seen[0]!, view.unseen[0]!, seen[1]!]), view.cfItems)).to.deep.equal(
      Int32Array.from([view.cfItems[seen[0]!]!, view.cfItems[seen[1]!]!]),
    );
  });

  it('cross-domain: trains on --data, tests on --cross-data; the SASRec never picks an item it never saw', async () => {
    const dir = path.join(root, 'cross');
    const config = base({ scenario: 'cross-domain', crossData: crossDir, cf: runDir, textEncoder: '' });
    await pipelines.runAll(aLLMRec.aLLMRecPipeline, { dir, config });
    const result = JSON.parse(fs.readFileSync(path.join(dir, 'eval', 'results.json'), 'utf-8')) as aLLMRecEval;
    expect(result.dataset).to.equal('RetailNext');
    expect(result.crossDomain!.trainedOn).to.equal('Retail');
    expect(result.crossDomain!.unseenItems).to.be.above(0);
    expect(Object.keys(result.groups)).to.deep.equal(['all', 'unseen-items']);
    const { dataset: next } = await aLLMRec.loadCrossDataset(config);
    const titles = new Set(aLLMRec.promptTitles(next));
    for (const sample of result.samples) {
      for (const title of sample.candidates) expect(titles.has(title), title).to.equal(true);
      const seen = sample.candidates.filter((t) => !t.startsWith('Next season '));
      if (seen.length > 0) expect(sample.sasrec.startsWith('Next season ')).to.equal(false);
    }
    await expectReject(
      pipelines.runStage(aLLMRec.aLLMRecPipeline, 'eval', { dir, config: { ...config, crossData: `${root}/missing` } }),
      /missing/,
    );
  });

  it("describe: the LM words a user's taste from the soft token; unknown users are refused", async () => {
    const config = base({ textEncoder: `llm2rec:${llm2recDir}` });
    const { dataset } = await pipelines.loadConfiguredDataset(config);
    const models = await aLLMRec.loadStageTwo(
      config,
      (s) => path.join(runDir, s),
      'cpu',
      path.join(runDir, 'generate'),
    );
    try {
      const history = dataset.sequence(3);
      const alone = aLLMRec.describeUser(models, history, { historyItems: 0, maxNewTokens: 6, repetitionPenalty: 1.5 });
      expect(alone.prompt).to.equal("[UserRep] is a user representation. In a few words, this user's taste is");
      expect(alone.text).to.be.a('string');
      expect(
        aLLMRec.describeUser(models, history, { historyItems: 0, maxNewTokens: 6, repetitionPenalty: 1.5 }).text,
      ).to.equal(alone.text);
      const shown = aLLMRec.describeUser(models, history, { historyItems: 2, maxNewTokens: 6, repetitionPenalty: 1.5 });
      expect(shown.prompt.match(/\[HistoryEmb\]/g)).to.have.length(2);
      expect(shown.prompt).to.include(`"${models.context.titles[history[history.length - 1]!]}"[HistoryEmb]`);
      expect(() =>
        aLLMRec.describeUser(models, [], { historyItems: 0, maxNewTokens: 4, repetitionPenalty: 1.5 }),
      ).to.throw(/history is empty/);
    } finally {
      models.dispose();
    }
    const user = dataset.userKeys[3]!;
    const printed: string[] = [];
    const log = console.log;
    console.log = (line: string) => printed.push(line);
    try {
      await pipelines.runCommand(aLLMRec.aLLMRecPipeline, 'describe', {
        dir: runDir,
        config,
        commandOptions: { user },
      });
    } finally {
      console.log = log;
    }
    expect(printed.join('\n'))
      .to.match(new RegExp(`^user ${user}: \\d+ items`))
      .and.to.include('answer: ');
    await expectReject(
      pipelines.runCommand(aLLMRec.aLLMRecPipeline, 'describe', {
        dir: runDir,
        config,
        commandOptions: { user: 'nobody' },
      }),
      /--user nobody: no such user in Retail/,
    );
    await expectReject(
      pipelines.runCommand(aLLMRec.aLLMRecPipeline, 'describe', { dir: runDir, config, commandOptions: {} }),
      /describe needs --user ID/,
    );
    await expectReject(
      pipelines.runCommand(aLLMRec.aLLMRecPipeline, 'describe', {
        dir: path.join(root, 'empty'),
        config,
        commandOptions: { user },
      }),
      /its cf stage is not run/,
    );
  });

  it('the demo step (npm start) runs every stage on the shipped LM and gives Hit@1 rows of each method', async function () {
    try {
      defaultLanguageModelDir();
    } catch {
      this.skip(); // the shipped LM is not built in this checkout
    }
    const rows = await demoModule.aLLMRecDemo.run({
      data: { data: fixture, kcore: 2 },
      seed: 0,
      device: 'cpu',
      sasrecEpochs: 1,
    });
    expect(rows.map((r) => r.model)).to.deep.equal([
      'SASRec (a-llmrec preset)',
      'LM, titles only',
      'A-LLMRec (free text)',
      'A-LLMRec (constrained)',
    ]);
    for (const r of rows) {
      expect(r.metric).to.equal('Hit@1 (1+19)');
      expect(r.value).to.be.within(0, 1);
      expect(r.note).to.match(/SASRec 4 epochs, 2 align epochs, 64 stage-2 users, \d+ test users, \d+ s/);
    }
  });

  it('compare adds the LLM2Rec-encoder rows and the cross-domain scenario to the table', async () => {
    const dir = path.join(root, 'compare');
    await pipelines.runCommand(aLLMRec.aLLMRecPipeline, 'compare', {
      dir,
      config: { ...base(), crossData: crossDir, evalUsers: 5 },
      commandOptions: { scenarios: 'standard,cross-domain', llm2rec: llm2recDir },
    });
    const table = JSON.parse(fs.readFileSync(path.join(dir, 'compare.json'), 'utf-8')) as {
      rows: { name: string; group: string; metrics: Record<string, { mean: number }> }[];
    };
    const names = (group: string) => table.rows.filter((r) => r.group.startsWith(`${group} (`)).map((r) => r.name);
    expect(names('standard · all')).to.deep.equal([
      'SASRec',
      'LM, titles only',
      'A-LLMRec (free text)',
      'A-LLMRec (constrained)',
      'A-LLMRec, LLM2Rec encoder (free text)',
      'A-LLMRec, LLM2Rec encoder (constrained)',
    ]);
    expect(names('cross-domain · all')).to.have.length(4);
    const variant = pipelines.readRunManifest(path.join(dir, 'standard-llm2rec'))!;
    expect(variant.stages.align!.config.textEncoder).to.equal(`llm2rec:${llm2recDir}`);
    expect(variant.stages.cf!.config.cf).to.equal(path.join(dir, 'standard'));
    await expectReject(
      pipelines.runCommand(aLLMRec.aLLMRecPipeline, 'compare', {
        dir,
        config: base(),
        commandOptions: { scenarios: 'standard', llm2recScenarios: 'warm' },
      }),
      /--llm2rec-scenarios: 'warm' is not one of --scenarios/,
    );
  });
});

describe('A-LLMRec against the PyTorch reference (bench/torch/a_llmrec.py fixtures)', () => {
  const dir = path.resolve(here, '..', '..', 'test', 'fixtures', 'a-llmrec');
  type Nested = number | Nested[];
  const fixture = () =>
    JSON.parse(fs.readFileSync(path.join(dir, 'parity.json'), 'utf-8')) as {
      stage1: {
        dims: Record<string, number>;
        weights: Record<string, Nested>;
        inputs: Record<string, Nested>;
        terms: Record<string, number>;
        grads: Record<string, Nested>;
      };
      stage2: {
        dims: Record<string, number>;
        ids: number[][];
        labels: number[][];
        lengths: number[];
        slots: [number, number][];
        users: Nested;
        latents: Nested;
        weights: Record<string, Nested>;
        loss: number;
        grads: Record<string, Nested>;
      };
    };
  const shapeOf = (v: Nested): number[] => (Array.isArray(v) ? [v.length, ...shapeOf(v[0]!)] : []);
  const asTensor = (v: Nested) => tensor(Float32Array.from((v as number[]).flat(4) as number[]), { shape: shapeOf(v) });
  const relative = (got: ArrayLike<number>, want: number[]) => {
    let num = 0;
    let den = 0;
    want.forEach((w, i) => ((num += (got[i]! - w) ** 2), (den += w * w)));
    return Math.sqrt(num / Math.max(den, 1e-30));
  };
  // torch's nn.Sequential indices → llmrec's MLP names.
  const mlpName = (name: string) => name.replace('.0.', '.fc0.').replace('.1.', '.norm0.').replace('.3.', '.fc1.');

  it('stage 1: every loss term and every autoencoder gradient within 1e-4', () => {
    const f = fixture().stage1;
    const aligner = new aLLMRec.ItemTextAligner(f.dims.cf!, f.dims.text!, f.dims.latent!);
    aligner.loadStateDict(new Map(Object.entries(f.weights).map(([k, v]) => [k, asTensor(v)])));
    const batch = Object.fromEntries(
      Object.entries(f.inputs).map(([k, v]) => [k, asTensor(v)]),
    ) as unknown as Parameters<typeof aLLMRec.alignmentLoss>[1];
    const terms = aLLMRec.alignmentLoss(aligner, batch, { itemRecon: 0.5, textRecon: 0.2 });
    for (const key of ['rec', 'matching', 'itemRecon', 'textRecon', 'total'] as const)
      expect(relative([terms[key].item()], [f.terms[key]!]), key).to.be.below(1e-4);
    terms.total.backward();
    for (const [name, p] of aligner.namedParameters())
      expect(relative(p.grad!.dataSync(), [f.grads[name]!].flat(4) as number[]), name).to.be.below(1e-4);
    aligner.dispose();
  });

  it("stage 2: the frozen Qwen2's answer loss and F_U/F_I gradients within 1e-4", () => {
    const f = fixture().stage2;
    const lm = loadCausalLM(path.join(dir, 'lm'), { dtype: 'f32' });
    lm.freeze().eval();
    const projectors = new aLLMRec.SoftPromptProjectors(f.dims.cf!, f.dims.latent!, f.dims.lm!);
    projectors.loadStateDict(new Map(Object.entries(f.weights).map(([k, v]) => [mlpName(k), asTensor(v)])));
    const values = concat(
      [projectors.user.forward(asTensor(f.users)), projectors.item.forward(asTensor(f.latents))],
      0,
    );
    const { loss } = lm.forward({
      inputIds: f.ids,
      lengths: f.lengths,
      softEmbeddings: { batch: f.slots.map((s) => s[0]), position: f.slots.map((s) => s[1]), values },
      labels: f.labels,
    });
    expect(relative([loss!.item()], [f.loss])).to.be.below(1e-4);
    loss!.backward();
    for (const [name, p] of projectors.namedParameters()) {
      const want = Object.entries(f.grads).find(([k]) => mlpName(k) === name)![1];
      expect(relative(p.grad!.dataSync(), [want].flat(4) as number[]), name).to.be.below(1e-4);
    }
    for (const p of lm.parameters()) expect(p.grad).to.equal(null);
    projectors.dispose();
    lm.dispose();
  });
});

describe('A-LLMRec with --lm folders written by transformers', function () {
  this.timeout(600_000);
  const python = '/usr/bin/python3';
  const hfSource = path.resolve(here, '..', '..', '..', 'hf-src', 'transformers');

  it('trains stage 2 and evaluates on a random-weight Qwen2 and a Llama folder saved by save_pretrained', async function () {
    if (!fs.existsSync(python) || !fs.existsSync(hfSource)) this.skip(); // transformers' sources are not here
    const root = tempDir('allmrec-hf');
    try {
      const tokenizerDir = path.join(root, 'tokenizer');
      makeTinyLm(tokenizerDir, fixtureTitles());
      const vocab = JSON.parse(fs.readFileSync(path.join(tokenizerDir, 'config.json'), 'utf-8')) as {
        vocab_size: number;
        eos_token_id: number[] | number;
      };
      const eos = Array.isArray(vocab.eos_token_id) ? vocab.eos_token_id[0]! : vocab.eos_token_id;
      const script = path.resolve(here, '..', '..', 'bench', 'torch', 'a_llmrec_hf_folder.py');
      const folders = { qwen2: path.join(root, 'qwen2'), llama: path.join(root, 'llama') };
      const made = spawnSync(
        python,
        [script, String(vocab.vocab_size), String(eos), `qwen2=${folders.qwen2}`, `llama=${folders.llama}`],
        { encoding: 'utf-8' },
      );
      expect(made.status, made.stderr).to.equal(0);
      for (const [kind, dir] of Object.entries(folders)) {
        for (const file of ['tokenizer.json', 'tokenizer_config.json'])
          fs.copyFileSync(path.join(tokenizerDir, file), path.join(dir, file));
        const config = pipelines.resolveConfig(aLLMRec.aLLMRecConfig, {
          values: {
            data: fixture,
            kcore: 2,
            lm: dir,
            cfEpochs: 1,
            alignEpochs: 1,
            alignBatchSize: 16,
            trainUsers: 4,
            evalUsers: 4,
            maxNewTokens: 4,
          },
        });
        const run = path.join(root, `run-${kind}`);
        await pipelines.runAll(aLLMRec.aLLMRecPipeline, { dir: run, config });
        const result = JSON.parse(fs.readFileSync(path.join(run, 'eval', 'results.json'), 'utf-8')) as aLLMRecEval;
        expect(result.groups.all!.users, kind).to.equal(4);
        const projectors = loadSafetensors(path.join(run, 'generate', 'model.safetensors'));
        expect(projectors.get('user.fc0.weight')!.shape, kind).to.deep.equal([48, 50]);
        for (const t of projectors.values()) t.dispose();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

async function expectReject(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect((error as Error).message).to.match(pattern);
    return;
  }
  expect.fail(`expected a rejection matching ${pattern}`);
}
