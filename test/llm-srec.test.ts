// LLM-SRec: each loss term against a float64 reference, no weight gradient on the frozen LM,
// exact resume of the distill stage, and the bad inputs (a SASRec of other data, no timestamps,
// a prompt longer than the context, an LM folder without a tokenizer).
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { manualSeed, noGrad, pipelines, randn, Recommender, tensor, type Tensor } from '../lib/index.js';
import { loadSafetensors, SafetensorsFile } from '../lib/io/safetensors.js';
import { trainByteLevelBpe } from '../lib/llm/bpe-train.js';
import { saveCausalLM } from '../lib/llm/loader.js';
import { CausalLM } from '../lib/llm/model.js';
import { presetConfig } from '../lib/llm/presets.js';
import { SASRec, sasrecConfig } from '../lib/models/sasrec.js';
import { llmSRec } from '../lib/pipelines/index.js';
import type { DataConfig } from '../lib/pipelines/data.js';
import { expectClose, f64, relativeError } from './support/reference.js';
import { erf64 as erf } from './support/module-check.js';

const { llmSRecPipeline, llmSRecConfig, lossTerms, ProjectionMLP, PromptBuilder } = llmSRec;

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');

const TITLES = [
  'red lantern',
  'blue mug',
  'green vase',
  'tea towel',
  'paper chain',
  'glass star',
  'wooden heart',
  'jam jar',
];

/** A TSV of users walking through the catalogue in order (item i is mostly followed by i + 1), with dates and titles. */
function writeDataset(
  file: string,
  options: { users?: number; items?: number; times?: boolean; prefix?: string } = {},
): void {
  const users = options.users ?? 40;
  const items = options.items ?? 150;
  const prefix = options.prefix ?? 'i';
  const lines = [options.times === false ? 'user\titem\ttitle' : 'user\titem\ttime\ttitle'];
  for (let u = 0; u < users; u++) {
    const length = 5 + (u % 6);
    for (let k = 0; k < length; k++) {
      const item = (u * 3 + k + (k % 4 === 3 ? 5 : 0)) % items;
      const title = `${TITLES[item % TITLES.length]} ${item}`;
      const time = Date.UTC(2011, 0, 1 + k, 12) / 1000;
      lines.push(
        options.times === false ? `u${u}\t${prefix}${item}\t${title}` : `u${u}\t${prefix}${item}\t${time}\t${title}`,
      );
    }
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

/** A byte-level BPE tokenizer (at most 320 tokens) trained on the prompts' words. */
function promptTokenizer() {
  const texts = [
    ...TITLES,
    'This user has made a series of purchases in the following order: Item No.1, Time: 2011-01-05, ',
    '. Based on this sequence of purchases, generate user representation token:',
    'The item title and item embedding are as follows: , then generate item representation token:',
  ];
  return trainByteLevelBpe(texts, { vocabSize: 320, minFrequency: 1 });
}

/** A tiny random-weight Qwen2 folder with the prompt tokenizer. */
function writeTinyLM(dir: string, seed = 3): void {
  const tokenizer = promptTokenizer();
  const config = {
    ...presetConfig('tiny', tokenizer.vocabSize),
    hiddenSize: 32,
    intermediateSize: 64,
    numAttentionHeads: 2,
    headDim: 16,
    numKeyValueHeads: 1,
  };
  const lm = new CausalLM(config, { seed });
  try {
    saveCausalLM(dir, lm);
  } finally {
    lm.dispose();
  }
  tokenizer.save(dir);
}

function tsvFlags(file: string, times = true): Record<string, unknown> {
  if (!times)
    return { data: file, format: 'tsv', userColumn: 'user', itemColumn: 'item', titleColumn: 'title', kcore: 0 };
  return {
    data: file,
    format: 'tsv',
    userColumn: 'user',
    itemColumn: 'item',
    timeColumn: 'time',
    titleColumn: 'title',
    kcore: 0,
  };
}

// ---- float64 references of the four terms ----

function rows(t: Tensor): number[][] {
  const [n, d] = [t.shape[0]!, t.shape[1]!];
  const v = t.dataSync();
  return Array.from({ length: n }, (_, r) => Array.from(v.subarray(r * d, (r + 1) * d), Number));
}

const normalise = (v: number[]): number[] => {
  const n = Math.max(Math.sqrt(v.reduce((s, x) => s + x * x, 0)), 1e-12);
  return v.map((x) => x / n);
};

function mlpReference(x: number[][], head: InstanceType<typeof ProjectionMLP>): number[][] {
  const w1 = rows(head.fc1.weight);
  const b1 = Array.from(head.fc1.bias!.dataSync(), Number);
  const g = Array.from(head.norm.weight.dataSync(), Number);
  const beta = Array.from(head.norm.bias!.dataSync(), Number);
  const w2 = rows(head.fc2.weight);
  const b2 = Array.from(head.fc2.bias!.dataSync(), Number);
  return x.map((row) => {
    const pre = w1.map((w, j) => w.reduce((s, wk, k) => s + wk * row[k]!, b1[j]!));
    const mean = pre.reduce((s, v) => s + v, 0) / pre.length;
    const variance = pre.reduce((s, v) => s + (v - mean) ** 2, 0) / pre.length;
    const normed = pre.map((v, j) => ((v - mean) / Math.sqrt(variance + head.norm.eps)) * g[j]! + beta[j]!);
    const act = normed.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
    return w2.map((w, j) => w.reduce((s, wk, k) => s + wk * act[k]!, b2[j]!));
  });
}

function uniformityReference(x: number[][]): number {
  const unit = x.map(normalise);
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < unit.length; i++)
    for (let j = i + 1; j < unit.length; j++) {
      const d2 = unit[i]!.reduce((s, v, k) => s + (v - unit[j]![k]!) ** 2, 0);
      sum += Math.exp(-2 * d2);
      pairs++;
    }
  return sum / pairs;
}

function referenceTerms(u: number[][], items: number[][], cf: number[][], head: InstanceType<typeof ProjectionMLP>) {
  const width = items.length / u.length;
  let retrieval = 0;
  u.forEach((user, r) => {
    const scores = Array.from({ length: width }, (_, j) =>
      user.reduce((s, v, k) => s + v * items[r * width + j]![k]!, 0),
    );
    const max = Math.max(...scores);
    const lse = max + Math.log(scores.reduce((s, v) => s + Math.exp(v - max), 0));
    retrieval += lse - scores[0]!;
  });
  retrieval /= u.length;
  const c = mlpReference(cf, head);
  let mse = 0;
  u.forEach((row, r) => {
    const a = normalise(row);
    const b = normalise(c[r]!);
    a.forEach((v, k) => (mse += (v - b[k]!) ** 2));
  });
  mse /= u.length * u[0]!.length;
  return { retrieval, distillation: mse, uniformityUser: uniformityReference(u), uniformityCF: uniformityReference(c) };
}

describe('llm-srec: the loss', () => {
  it('matches a float64 reference term by term, and its gradient with respect to u', () => {
    manualSeed(11);
    const [b, width, d, cfDim] = [6, 4, 8, 5];
    const u = randn([b, d]).requiresGrad_(true);
    const items = randn([b * width, d]);
    const cf = randn([b, cfDim]);
    const head = new ProjectionMLP([cfDim, 7, d], 'gelu', 'cpu');
    const parts = lossTerms(u, items, cf, head, { distillation: true, uniformity: true });
    const ref = referenceTerms(rows(u), rows(items), rows(cf), head);
    for (const name of ['retrieval', 'distillation', 'uniformityUser', 'uniformityCF'] as const)
      expectClose([parts[name]!.item()], [ref[name]], 1e-5, name);
    const total = ref.retrieval + ref.distillation + ref.uniformityUser + ref.uniformityCF;
    expectClose([parts.total.item()], [total], 1e-5, 'total');
    // d total / d u by central differences of the float64 reference.
    parts.total.backward();
    const base = rows(u);
    const numeric: number[] = [];
    const h = 1e-6;
    for (let r = 0; r < b; r++)
      for (let k = 0; k < d; k++) {
        const at = (delta: number) => {
          const shifted = base.map((row) => [...row]);
          shifted[r]![k]! += delta;
          const t = referenceTerms(shifted, rows(items), rows(cf), head);
          return t.retrieval + t.distillation + t.uniformityUser + t.uniformityCF;
        };
        numeric.push((at(h) - at(-h)) / (2 * h));
      }
    expectClose(u.grad!.dataSync(), numeric, 1e-4, 'd loss / d u');
    head.dispose();
  });

  it('leaves out the switched-off terms (the ablations)', () => {
    manualSeed(12);
    const u = randn([4, 6]);
    const items = randn([8, 6]);
    const cf = randn([4, 3]);
    const head = new ProjectionMLP([3, 5, 6], 'gelu', 'cpu');
    const plain = lossTerms(u, items, cf, head, { distillation: false, uniformity: false });
    expect(plain.distillation).to.equal(undefined);
    expect(plain.uniformityUser).to.equal(undefined);
    expect(plain.total.item()).to.equal(plain.retrieval.item());
    const noUniformity = lossTerms(u, items, cf, head, { distillation: true, uniformity: false });
    expectClose([noUniformity.total.item()], [noUniformity.retrieval.item() + noUniformity.distillation!.item()], 1e-6);
    head.dispose();
  });
});

describe('llm-srec: parity with the PyTorch reference (bench/torch/llm_srec.py on transformers 4.43.4)', () => {
  // test/fixtures/llm-srec/parity: bench/llm-srec-fixtures.ts (the catalogue, batch, prompts and a
  // random SASRec) then bench/torch/llm_srec.py (a random Qwen2 by save_pretrained, the trained
  // modules' initial weights, and the float64 reference's terms and gradients).
  const dir = path.join(fixtures, 'llm-srec', 'parity');
  interface Prompt {
    ids: number[];
    historySlots: number[];
    historyItems: number[];
    outSlot: number;
  }
  const inputs = () =>
    JSON.parse(fs.readFileSync(path.join(dir, 'inputs.json'), 'utf-8')) as {
      catalogue: { titles: string[]; itemKeys: string[] };
      prompt: { historyItems: number; maxTokens: number; dates: boolean };
      sasrec: { numItems: number; hidden: number; blocks: number; heads: number; maxlen: number; ffnDim: number };
      shape: { userHidden: number; cfHidden: number; outDim: number };
      histories: { items: number[]; times: number[] }[];
      candidates: number[][];
      userPrompts: Prompt[];
      itemPrompts: Prompt[];
    };

  it('the four loss terms and the gradient of every trained module match within 1e-4; the LM and SASRec get none', () => {
    const f = inputs();
    const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf-8')) as {
      transformers: string;
      terms: Record<string, number>;
    };
    expect(expected.transformers).to.equal('4.43.4');
    const language = llmSRec.loadLLMSRecLanguageModel(path.join(dir, 'lm'), 'cpu');
    const sasrec = new SASRec(sasrecConfig(f.sasrec.numItems, 'llm-srec', f.sasrec));
    sasrec.loadStateDict(loadSafetensors(path.join(dir, 'sasrec.safetensors')));
    const heads = new llmSRec.LLMSRecHeads({
      cfDim: f.sasrec.hidden,
      lmHidden: language.model.config.hiddenSize,
      ...f.shape,
    });
    heads.loadStateDict(loadSafetensors(path.join(dir, 'heads.safetensors')));
    const model = new llmSRec.LLMSRec(
      language.model,
      sasrec,
      heads,
      new PromptBuilder(language.tokenizer, f.catalogue, f.prompt),
    );
    const grads = SafetensorsFile.open(path.join(dir, 'expected-grads.safetensors'));
    try {
      // The reference consumed the prompts llmrec builds (user 0's history is cut to the last 4).
      expect(f.histories.map((h) => model.prompts.encodeUser(h.items, h.times))).to.deep.equal(f.userPrompts);
      expect(f.candidates.flat().map((item) => model.prompts.encodeItem(item))).to.deep.equal(f.itemPrompts);
      const parts = model.loss(
        { histories: f.histories, candidates: f.candidates },
        { distillation: true, uniformity: true },
      );
      for (const term of ['retrieval', 'distillation', 'uniformityUser', 'uniformityCF', 'total'] as const)
        expect(relativeError([parts[term]!.item()], [expected.terms[term]!]), term).to.be.below(1e-4);
      parts.total.backward();
      const names = heads.namedParameters().map(([name]) => name);
      expect(names.sort()).to.deep.equal([...grads.names].sort());
      for (const [name, p] of heads.namedParameters()) {
        const [got, want] = [f64(p.grad!), f64(grads.read(name))];
        // f_item's last bias shifts every candidate's score by the same u·b, which the softmax
        // ignores: its exact gradient is 0 (torch's float64 leaves ~1e-17), so compare absolutely.
        if (name === 'itemHead.fc2.bias') expect(Math.hypot(...got, ...want), name).to.be.below(1e-6);
        else expect(relativeError(got, want), `gradient of ${name}`).to.be.below(1e-4);
      }
      for (const [name, p] of model.lm.namedParameters()) expect(p.grad, `LM ${name}`).to.equal(null);
      for (const [name, p] of model.sasrec.namedParameters()) expect(p.grad, `SASRec ${name}`).to.equal(null);
    } finally {
      grads.close();
      llmSRec.disposeLLMSRec(model);
    }
  });
});

describe('llm-srec: prompts', () => {
  const tokenizer = () =>
    trainByteLevelBpe(['red lantern blue mug', 'Item No.1, Time: 2011-01-05'], { vocabSize: 300, minFrequency: 1 });
  const catalogue = { titles: ['', 'red lantern', '', 'blue mug'], itemKeys: ['', 'A1', 'B2', 'C3'] };

  it("writes the paper's user and item prompts, with each marker one slot", () => {
    const prompts = new PromptBuilder(tokenizer(), catalogue, { historyItems: 10, maxTokens: 4096, dates: true });
    const day = Date.UTC(2011, 0, 5, 23, 59);
    expect(prompts.userText([1, 2], [day, day + 86_400_000])).to.equal(
      'This user has made a series of purchases in the following order: Item No.1, Time: 2011-01-05, "red lantern"[HistoryEmb],' +
        'Item No.2, Time: 2011-01-06, "item B2"[HistoryEmb]. Based on this sequence of purchases, generate user representation token:[UserOut]',
    );
    expect(prompts.itemText(3)).to.equal(
      'The item title and item embedding are as follows: "blue mug"[HistoryEmb], then generate item representation token:[ItemOut]',
    );
    const encoded = prompts.encodeUser([3, 1, 2], null);
    expect(encoded.historyItems).to.deep.equal([3, 1, 2]);
    expect(encoded.historySlots).to.have.length(3);
    expect(encoded.outSlot).to.equal(encoded.ids.length - 1);
    for (const slot of [...encoded.historySlots, encoded.outSlot]) expect(encoded.ids[slot]).to.equal(0);
  });

  it('leaves out the dates of a dataset without timestamps', () => {
    const prompts = new PromptBuilder(tokenizer(), catalogue, { historyItems: 10, maxTokens: 4096, dates: false });
    expect(prompts.userText([1], [0])).to.not.include('Time:');
  });

  it('keeps the last historyItems items, and drops the oldest ones when the prompt exceeds the context', () => {
    const long = Array.from({ length: 30 }, (_, i) => 1 + (i % 3));
    const prompts = new PromptBuilder(tokenizer(), catalogue, { historyItems: 10, maxTokens: 4096, dates: false });
    expect(prompts.encodeUser(long, null).historyItems).to.deep.equal(long.slice(-10));
    const full = prompts.encodeUser(long, null).ids.length;
    const tight = new PromptBuilder(tokenizer(), catalogue, { historyItems: 10, maxTokens: full - 1, dates: false });
    const cut = tight.encodeUser(long, null);
    expect(cut.ids.length).to.be.at.most(full - 1);
    expect(cut.historyItems).to.deep.equal(long.slice(-cut.historyItems.length));
    expect(cut.historyItems.length).to.be.below(10);
    const impossible = new PromptBuilder(tokenizer(), catalogue, { historyItems: 10, maxTokens: 5, dates: false });
    expect(() => impossible.encodeUser(long, null)).to.throw(
      /user prompt with one item is \d+ tokens, more than the 5 allowed/,
    );
    expect(() => impossible.encodeItem(1)).to.throw(/item prompt of item A1 is \d+ tokens/);
  });
});

describe('llm-srec: the pipeline on a tiny LM', function () {
  this.timeout(240_000);
  let root: string;
  let lmDir: string;
  let dataFile: string;
  const flags = (extra: Record<string, unknown> = {}) =>
    pipelines.resolveConfig(llmSRecConfig, {
      flags: Object.fromEntries(
        Object.entries({
          ...tsvFlags(dataFile),
          lm: lmDir,
          cfEpochs: 2,
          trainUsers: 24,
          batchSize: 6,
          validationsPerEpoch: 2,
          validUsers: 12,
          evalUsers: 20,
          userHidden: 16,
          cfHidden: 8,
          outDim: 8,
          itemBatch: 16,
          ...extra,
        }).filter(([, value]) => value !== undefined),
      ),
    });

  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'llmsrec-'));
    lmDir = path.join(root, 'lm');
    writeTinyLM(lmDir);
    dataFile = path.join(root, 'walks.tsv');
    writeDataset(dataFile);
  });
  after(() => {
    if (!process.env.LLMSREC_KEEP) fs.rmSync(root, { recursive: true, force: true });
    else console.log(root);
  });

  it('trains end to end: the LM and the SASRec get no gradient, every trained module does', async () => {
    const dir = path.join(root, 'run');
    const config = flags();
    await pipelines.runStage(llmSRecPipeline, 'cf', { dir, config });
    const { dataset } = await pipelines.loadConfiguredDataset(config);
    const split = dataset.split();
    const sasrec = await llmSRec.loadCheckedSASRec(path.join(dir, 'cf'), dataset, 'cpu');
    const language = llmSRec.loadLLMSRecLanguageModel(lmDir, 'cpu');
    const model = llmSRec.assembleLLMSRec(language, sasrec, dataset, {
      prompt: llmSRec.promptOptions(config, language.model, true),
      userHidden: 16,
      cfHidden: 8,
      outDim: 8,
      device: 'cpu',
    });
    try {
      const users = llmSRec.trainableUsers(split).slice(0, 4);
      const batch = llmSRec.trainingBatch(split, { users, epoch: 0 }, { negatives: 3, seed: 0, shuffle: false });
      const parts = model.loss(batch, { distillation: true, uniformity: true });
      for (const term of [parts.retrieval, parts.distillation!, parts.uniformityUser!, parts.uniformityCF!])
        expect(Number.isFinite(term.item())).to.equal(true);
      parts.total.backward();
      for (const [name, p] of model.lm.namedParameters()) expect(p.grad, `LM ${name}`).to.equal(null);
      for (const [name, p] of model.sasrec.namedParameters()) expect(p.grad, `SASRec ${name}`).to.equal(null);
      for (const [name, p] of model.heads.namedParameters()) {
        expect(p.grad, `trained ${name}`).to.not.equal(null);
        expect(p.grad!.abs().sum().item(), `trained ${name}`).to.be.above(0);
      }
      // Without gradients, prompts go through the LM in passes of similar length (at most
      // passTokens padded tokens): the same representations as one pass, in the callers' order.
      const histories = Array.from(llmSRec.trainableUsers(split).slice(0, 12), (user) =>
        llmSRec.historyOf(split, user, 'train'),
      );
      const lengths = histories.map((h) => model.prompts.encodeUser(h.items, h.times).ids.length);
      const groups = llmSRec.lengthGroups(lengths, 2 * Math.max(...lengths));
      expect(groups.flat().sort((a, b) => a - b)).to.deep.equal(lengths.map((_, i) => i));
      for (const g of groups)
        expect(g.length * Math.max(...g.map((i) => lengths[i]!))).to.be.at.most(2 * Math.max(...lengths));
      const onePass = noGrad(() => model.userRepresentations(histories).dataSync());
      model.passTokens = 2 * Math.max(...lengths);
      const passes = noGrad(() => model.userRepresentations(histories).dataSync());
      model.passTokens = llmSRec.PASS_TOKENS;
      expect(groups.length).to.be.above(2);
      expectClose(passes, onePass, 1e-5, 'representations in passes of similar length');
    } finally {
      llmSRec.disposeLLMSRec(model);
    }
    await pipelines.runAll(llmSRecPipeline, { dir, config });
    const manifest = pipelines.readRunManifest(dir)!;
    for (const stage of ['cf', 'distill', 'eval']) expect(manifest.stages[stage]!.status).to.equal('done');
    const results = JSON.parse(fs.readFileSync(path.join(dir, 'eval', 'results.json'), 'utf-8')) as {
      test: Record<string, number>;
      users: number;
    };
    expect(results.users).to.equal(20);
    for (const value of Object.values(results.test)) expect(value).to.be.within(0, 1);
    expect(fs.existsSync(path.join(dir, 'eval', llmSRec.ITEM_TABLE_FILE))).to.equal(true);

    // Serving: Recommender.load scores a test user's candidates as the offline evaluation does.
    const rec = await Recommender.load(dir);
    const offline = await llmSRec.loadLLMSRecRun(dir, 'cpu');
    try {
      expect(rec.info().kind).to.equal('llm-srec');
      const keys = dataset.itemKeys;
      for (const user of llmSRec.evaluationUsers(split, 'test').slice(0, 3)) {
        const history = llmSRec.historyOf(split, user, 'test');
        const candidates = [
          split.target(user, 'test'),
          ...[1, 2, 3, 4, 5].filter((i) => !Array.from(history.items).includes(i)),
        ];
        const u = offline.model.llmSRec.userRepresentations([history]).dataSync();
        const table = offline.model.table.dataSync();
        const dim = offline.model.config.hidden;
        const expected = new Map(
          candidates.map((item) => [keys[item]!, Array.from(u).reduce((s, v, c) => s + v * table[item * dim + c]!, 0)]),
        );
        const served = await rec.recommend(
          Array.from(history.items, (i) => keys[i]!),
          {
            times: Array.from(history.times!),
            candidates: [...expected.keys()],
            k: candidates.length,
            excludeHistory: false,
          },
        );
        expect(served.map((r) => r.item).sort()).to.deep.equal([...expected.keys()].sort());
        expectClose(
          served.map((r) => r.score),
          served.map((r) => expected.get(r.item)!),
          1e-5,
          `user ${user}`,
        );
      }
      let message = '';
      await rec.recommend([keys[1]!], { times: ['not a date'] }).catch((e: Error) => (message = e.message));
      expect(message).to.match(/times\[0\] = "not a date" is not a time/);

      // addItems: a new item's representation is f_item of its item prompt, with the mean SASRec
      // item embedding in its [HistoryEmb] slot; it is recommendable at once, scored as offline.
      expect(rec.info().features.addItems).to.equal(true);
      const n = rec.info().numItems;
      const added = { 'NEW-1': 'glass star lantern', 'NEW-2': 'blue mug gift set' };
      expect(await rec.addItems(Object.entries(added).map(([id, title]) => ({ id, title })))).to.equal(2);
      expect(rec.info().numItems).to.equal(n + 2);
      const core = offline.model.llmSRec;
      const dim = offline.model.config.hidden;
      const cfDim = core.cfItems.shape[1]!;
      const cf = core.cfItems.dataSync();
      const mean = new Float32Array(cfDim);
      for (let r = 1; r <= n; r++) for (let c = 0; c < cfDim; c++) mean[c] = mean[c]! + cf[r * cfDim + c]! / n;
      const cold = tensor(mean, { shape: [1, cfDim] });
      Object.entries(added).forEach(([key, title], i) => {
        core.prompts.catalogue.titles[n + 1 + i] = title;
        core.prompts.catalogue.itemKeys[n + 1 + i] = key;
      });
      const newRows = core.itemRepresentations([n + 1, n + 2], () => cold).dataSync();
      const table = offline.model.table.dataSync();
      const row = (item: number) =>
        item > n
          ? newRows.subarray((item - n - 1) * dim, (item - n) * dim)
          : table.subarray(item * dim, (item + 1) * dim);
      const user = llmSRec.evaluationUsers(split, 'test')[0]!;
      const history = llmSRec.historyOf(split, user, 'test');
      const u = core.userRepresentations([history]).dataSync();
      const dot = (item: number) => Array.from(u).reduce((s, v, c) => s + v * row(item)[c]!, 0);
      // The whole catalogue (k = every item): the new items are there, with the offline scores.
      const everything = await rec.recommend(
        Array.from(history.items, (i) => keys[i]!),
        { times: Array.from(history.times!), k: n + 2, excludeHistory: false },
      );
      expect(everything).to.have.length(n + 2);
      const keyOf = (item: number) => (item > n ? Object.keys(added)[item - n - 1]! : keys[item]!);
      const served = new Map(everything.map((r) => [r.item, r.score]));
      const items = [n + 1, n + 2, 1, 2, split.target(user, 'test')];
      expectClose(
        items.map((item) => served.get(keyOf(item))!),
        items.map(dot),
        1e-5,
        'scores after addItems',
      );
      expect(everything.find((r) => r.item === 'NEW-1')!.title).to.equal('glass star lantern');
      // A new item in a history: its prompt slot takes the same stand-in row.
      const withNew = [...Array.from(history.items), n + 1];
      const uNew = core.userRepresentations([{ items: withNew, times: null }], () => cold).dataSync();
      const ranked = await rec.recommend(withNew.map(keyOf), { candidates: ['NEW-2', keys[1]!], k: 2 });
      expectClose(
        ranked.map((r) => r.score),
        ranked.map((r) => {
          const item = r.item === 'NEW-2' ? n + 2 : 1;
          return Array.from(uNew).reduce((s, v, c) => s + v * row(item)[c]!, 0);
        }),
        1e-5,
        'a history with a new item',
      );
      cold.dispose();
      message = '';
      await rec.addItems([{ id: 'NEW-3', title: '' }]).catch((e: Error) => (message = e.message));
      expect(message).to.match(/items\[0\]\.title must be a non-empty string/);
      expect(rec.info().numItems).to.equal(n + 2);
    } finally {
      await rec.close();
      offline.model.dispose();
    }
  });

  it('the demo step (npm start) runs every stage in a temporary folder and returns LLM-SRec beside its SASRec', async () => {
    const before = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('llmrec-demo-llm-srec-'));
    const { llmSRecDemo, llmSRecDemoRows } = await import('../lib/pipelines/llm-srec/demo.js');
    expect(llmSRecDemo.pipeline).to.equal('llm-srec');
    const rows = await llmSRecDemoRows(
      { data: tsvFlags(dataFile) as Partial<DataConfig>, device: 'cpu', seed: 0, sasrecEpochs: 1 },
      { lm: lmDir, trainUsers: 12, batchSize: 6, validUsers: 6, evalUsers: 10, userHidden: 16, cfHidden: 8, outDim: 8 },
    );
    expect(rows.map((r) => `${r.model}: ${r.metric}`)).to.deep.equal([
      'LLM-SRec (its SASRec): NDCG@10 (1+99)',
      'LLM-SRec: NDCG@10 (1+99)',
      'LLM-SRec: HR@10 (1+99)',
    ]);
    for (const r of rows) {
      expect(r.value).to.be.within(0, 1);
      expect(r.note).to.match(/^10 users, 1\+99; SASRec 1 epoch, 2 distill steps, \d+ s$/);
    }
    const after = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('llmrec-demo-llm-srec-'));
    expect(after.filter((f) => !before.includes(f))).to.deep.equal([]);
  });

  it('resumes the distill stage exactly from a checkpoint', async () => {
    // One trained SASRec (taken with --cf) for both runs, so only the distill stage differs.
    const base = path.join(root, 'base');
    await pipelines.runStage(llmSRecPipeline, 'cf', { dir: base, config: flags() });
    const config = flags({ cf: base });
    const reference = path.join(root, 'reference');
    await pipelines.runAll(llmSRecPipeline, { dir: reference, config });
    // Interrupt a second run right after its first checkpoint (the end of the first validation period).
    const broken = path.join(root, 'broken');
    await pipelines.runStage(llmSRecPipeline, 'cf', { dir: broken, config });
    let saved = 0;
    const crashing = () => ({
      emit(event: { event: string }) {
        if (event.event === 'checkpoint' && ++saved === 1) throw new Error('simulated crash');
      },
    });
    let message = '';
    try {
      await pipelines.runStage(llmSRecPipeline, 'distill', { dir: broken, config, progress: crashing });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).to.equal('simulated crash');
    expect(pipelines.readRunManifest(broken)!.stages.distill!.status).to.equal('failed');
    await pipelines.runStage(llmSRecPipeline, 'distill', { dir: broken, config, resume: true });
    const a = fs.readFileSync(path.join(reference, 'distill', 'model.safetensors'));
    const b = fs.readFileSync(path.join(broken, 'distill', 'model.safetensors'));
    expect(b.equals(a)).to.equal(true);
  });

  it('refuses a SASRec trained on other data, naming the mismatch, and keeps the run folder', async () => {
    const config = flags();
    const dir = path.join(root, 'mismatch');
    await pipelines.runStage(llmSRecPipeline, 'cf', { dir, config });
    const before = fs.readFileSync(path.join(dir, 'cf', 'model.safetensors'));
    const otherData = path.join(root, 'other.tsv');
    writeDataset(otherData, { prefix: 'j' });
    const other = path.join(root, 'other-run');
    await pipelines.runStage(llmSRecPipeline, 'cf', { dir: other, config: { ...config, ...tsvFlags(otherData) } });
    let message = '';
    try {
      await pipelines.runStage(llmSRecPipeline, 'cf', { dir, config: { ...config, cf: other } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).to.match(
      /the SASRec in .* numbers its items differently from the dataset .*: it was trained on other data/,
    );
    expect(fs.readFileSync(path.join(dir, 'cf', 'model.safetensors')).equals(before)).to.equal(true);
  });

  it('runs with --lm a random-weight Llama folder written by transformers', async () => {
    // test/fixtures/llm-srec/hf-llama: bench/torch/llm_srec_hf_lm.py OUT 320 (save_pretrained).
    const hf = path.join(root, 'hf-llama');
    fs.cpSync(path.join(fixtures, 'llm-srec', 'hf-llama'), hf, { recursive: true });
    promptTokenizer().save(hf);
    const dir = path.join(root, 'hf-run');
    await pipelines.runAll(llmSRecPipeline, { dir, config: flags({ lm: hf, epochs: 1, validationsPerEpoch: 1 }) });
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'distill', 'config.json'), 'utf-8')) as {
      shape: { lmHidden: number };
    };
    expect(saved.shape.lmHidden).to.equal(32);
    expect(pipelines.readRunManifest(dir)!.stages.eval!.status).to.equal('done');
  });

  it('refuses an LM folder without tokenizer.json', async () => {
    const bare = path.join(root, 'bare-lm');
    fs.mkdirSync(bare);
    for (const file of ['config.json', 'model.safetensors'])
      fs.copyFileSync(path.join(lmDir, file), path.join(bare, file));
    const dir = path.join(root, 'bare-run');
    const config = flags({ lm: bare });
    await pipelines.runStage(llmSRecPipeline, 'cf', { dir, config });
    let message = '';
    try {
      await pipelines.runStage(llmSRecPipeline, 'distill', { dir, config });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).to.match(/bare-lm has no tokenizer\.json/);
  });

  it('trains on a dataset without timestamps (the prompts have no dates)', async () => {
    const file = path.join(root, 'untimed.tsv');
    writeDataset(file, { times: false });
    const config = flags({
      ...tsvFlags(file, false),
      timeColumn: undefined,
      epochs: 1,
      validationsPerEpoch: 1,
      trainUsers: 12,
    });
    const dir = path.join(root, 'untimed-run');
    await pipelines.runAll(llmSRecPipeline, { dir, config });
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'distill', 'config.json'), 'utf-8')) as {
      prompt: { dates: boolean };
    };
    expect(saved.prompt.dates).to.equal(false);
  });
});
