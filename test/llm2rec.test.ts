import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Recommender } from '../lib/index.js';
import { noGrad } from '../lib/autograd.js';
import { Rng } from '../lib/data/rng.js';
import { resolveConfig } from '../lib/pipelines/config.js';
import { loadConfiguredDataset } from '../lib/pipelines/data.js';
import * as llm2rec from '../lib/pipelines/llm2rec/index.js';
import { readRunManifest, RunFolder } from '../lib/pipelines/run-folder.js';
import { runAll, runCommand, runStage } from '../lib/pipelines/stage.js';
import { SafetensorsFile } from '../lib/io/safetensors.js';
import { createServer } from '../lib/serve/http/server.js';
import { tidy } from '../lib/scope.js';
import { tensor } from '../lib/tensor.js';
import type { ProgressEvent } from '../lib/train/progress.js';
import { f64, relativeError } from './support/reference.js';
import { call } from './support/serving.js';

const { llm2recConfig, llm2recPipeline } = llm2rec;

/** The error a promise rejects with (undefined when it resolves). */
const failure = (p: Promise<unknown>): Promise<Error | undefined> =>
  p.then(
    () => undefined,
    (e: Error) => e,
  );

// A catalogue with structure: four themes of six items; each user buys within one theme in
// order, so the next item is predictable from the history and from the titles.
const themes = ['red lantern', 'blue mug', 'green candle', 'paper star'];
const variants = ['small', 'large', 'vintage', 'glass', 'heart', 'gift set'];

function writeDataset(dir: string, options: { untitled?: boolean } = {}): string {
  const lines = ['user\titem\ttime\ttitle'];
  for (let u = 0; u < 40; u++) {
    const theme = u % themes.length;
    for (let j = 0; j < 8; j++) {
      const v = (j + u) % variants.length;
      const untitled = options.untitled && theme === 0 && v === 0;
      lines.push(
        `u${u}\ti${theme}-${v}\t${1_600_000_000 + u * 1000 + j}\t${untitled ? '' : `${variants[v]} ${themes[theme]}`}`,
      );
    }
  }
  const file = path.join(dir, 'shop.tsv');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The parity fixtures (bench/llm2rec-fixtures.ts): a tiny Qwen2 with a tokenizer, batches, torch's losses and gradients. */
const fixtures = path.resolve(here, '..', '..', 'test', 'fixtures', 'llm2rec');

const tiny = {
  csftSteps: 4,
  csftBatch: 4,
  csftWarmup: 1,
  maxTokens: 48,
  mntpSteps: 3,
  mntpBatch: 4,
  simcseSteps: 3,
  simcseBatch: 6,
  simcseWarmup: 1,
  titleTokens: 16,
  epochs: 2,
  evalEvery: 1,
  seeds: 1,
  checkpointEvery: 2,
  batchSize: 16,
};

describe('llm2rec', function () {
  this.timeout(600_000);
  let root: string;
  let data: string;
  let lm: string;
  const config = (overrides: Record<string, unknown> = {}): llm2rec.LLM2RecConfig =>
    resolveConfig(llm2recConfig, {
      values: {
        data,
        format: 'tsv',
        userColumn: 'user',
        itemColumn: 'item',
        timeColumn: 'time',
        titleColumn: 'title',
        lm,
        cacheDir: path.join(root, 'cache'),
        ...tiny,
        ...overrides,
      },
    });
  const dataset = async (overrides: Record<string, unknown> = {}) =>
    (await loadConfiguredDataset(config(overrides))).dataset;

  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-llm2rec-'));
    data = writeDataset(root);
    lm = path.join(fixtures, 'lm');
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("configs/llm2rec-paper.json holds the paper's values and is a valid config", () => {
    const paper = resolveConfig(llm2recConfig, { file: path.resolve(here, '../../configs/llm2rec-paper.json') });
    expect(paper).to.include({
      csftSteps: 10000,
      csftBatch: 128,
      maxTokens: 1024,
      simcseBatch: 256,
      tau: 0.1,
      gru4recLr: 1e-4,
    });
    const cpu = resolveConfig(llm2recConfig);
    expect(cpu.csftSteps).to.be.lessThan(paper.csftSteps);
  });

  it('CSFT examples: labels on the target only, ending in EOS, left-truncated', () => {
    const { tokenizer, model, eosId } = llm2rec.openLanguageModel(lm, 'cpu');
    model.dispose();
    const full = llm2rec.csftExample(tokenizer, ['red lantern', 'blue mug'], 'paper star', eosId, 1000);
    const prompt = tokenizer.encode('red lantern, blue mug,').length;
    expect(full.ids.slice(0, prompt)).to.deep.equal(tokenizer.encode('red lantern, blue mug,'));
    expect(full.labels.slice(0, prompt).every((v) => v === llm2rec.IGNORE)).to.equal(true);
    expect(full.labels.slice(prompt)).to.deep.equal(full.ids.slice(prompt));
    expect(full.ids.at(-1)).to.equal(eosId);
    expect(tokenizer.decode(full.ids.slice(prompt, -1))).to.equal(' paper star\n');
    const cut = llm2rec.csftExample(tokenizer, ['red lantern', 'blue mug'], 'paper star', eosId, 6);
    expect(cut.ids).to.deep.equal(full.ids.slice(-6));
    expect(cut.labels).to.deep.equal(full.labels.slice(-6));
  });

  it('CSFT and MNTP losses match a float64 cross-entropy over the shifted labelled positions', () => {
    const opened = llm2rec.openLanguageModel(lm, 'cpu');
    const { model, tokenizer, eosId, padId } = opened;
    try {
      const rows = [
        llm2rec.csftExample(tokenizer, ['red lantern', 'blue mug'], 'paper star', eosId, 64),
        llm2rec.csftExample(tokenizer, ['small green candle'], 'large green candle', eosId, 64),
      ];
      const masked = llm2rec.mntpBatch(
        llm2rec.tokenizeTexts(tokenizer, ['', 'vintage blue mug', 'gift set paper star', 'glass heart'], 16),
        {
          seed: 1,
          step: 0,
          batch: 3,
          probability: 0.5,
          maskId: 95,
          vocabSize: tokenizer.vocabSize,
          special: new Set(),
        },
      );
      for (const [batch, attention] of [
        [rows, 'causal'],
        [masked, 'bidirectional'],
      ] as const) {
        const loss = noGrad(() => tidy(() => llm2rec.labelledLoss(model, batch, padId, attention).item()));
        // Reference: the model's hidden states, then logits and log-softmax in float64.
        const { ids, lengths, b, l } = llm2rec.padRows(
          batch.map((r) => r.ids),
          padId,
        );
        const hidden = noGrad(() =>
          tidy(() =>
            f64(
              model.forward({
                inputIds: tensor(ids, { shape: [b, l], dtype: 'i32' }),
                lengths,
                attention,
                logits: 'none',
              }).lastHiddenState,
            ),
          ),
        );
        const table = f64(model.model.embed_tokens.weight);
        const [d, v] = [model.config.hiddenSize, model.config.vocabSize];
        let sum = 0;
        let count = 0;
        batch.forEach((row, r) => {
          for (let j = 0; j + 1 < row.ids.length; j++) {
            const label = row.labels[j + 1]!;
            if (label === llm2rec.IGNORE) continue;
            const logits = Array.from({ length: v }, (_, t) => {
              let s = 0;
              for (let k = 0; k < d; k++) s += hidden[(r * l + j) * d + k]! * table[t * d + k]!;
              return s;
            });
            const max = Math.max(...logits);
            const lse = max + Math.log(logits.reduce((a, x) => a + Math.exp(x - max), 0));
            sum += lse - logits[label]!;
            count++;
          }
        });
        expect(count).to.be.greaterThan(0);
        expect(relativeError([loss], [sum / count])).to.be.lessThan(1e-5);
      }
    } finally {
      model.dispose();
    }
  });

  it('MNTP masks about the asked share: 80% mask token, 10% random, 10% kept, never special tokens', () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => 10 + (i % 50));
    ids[0] = 7;
    const rows = llm2rec.maskTokens(ids, new Rng(5), {
      probability: 0.2,
      maskId: 3,
      vocabSize: 300,
      special: new Set([7]),
    });
    const chosen = rows.labels.filter((v) => v !== llm2rec.IGNORE).length;
    expect(chosen / ids.length).to.be.closeTo(0.2, 0.01);
    const masked = rows.ids.filter((v) => v === 3).length;
    const kept = rows.labels.filter((v, i) => v !== llm2rec.IGNORE && rows.ids[i] === v).length;
    expect(masked / chosen).to.be.closeTo(0.8, 0.02);
    expect(kept / chosen).to.be.closeTo(0.1 + 0.1 / 300, 0.02);
    expect(rows.labels[0]).to.equal(llm2rec.IGNORE);
  });

  it('SimCSE loss matches a float64 InfoNCE over cosine / τ (τ = 0.5) of the mean-pooled views', () => {
    const { model, tokenizer, padId } = llm2rec.openLanguageModel(lm, 'cpu');
    try {
      model.eval(); // no dropout: both views are the same vectors, the loss is still InfoNCE's
      const rows = llm2rec.tokenizeTexts(
        tokenizer,
        ['vintage blue mug', 'glass heart red lantern', 'paper star', 'small mug'],
        16,
      );
      const keys = [1, 2, 3, 1]; // the last item has the first one's text: not its negative
      const loss = noGrad(() => tidy(() => llm2rec.simcseLoss(model, rows, keys, { tau: 0.5, padId }).item()));
      const pooled = noGrad(() =>
        tidy(() => f64(llm2rec.poolRows(model, rows, { attention: 'bidirectional', pooling: 'mean', padId }))),
      );
      const d = model.config.hiddenSize;
      const unit = rows.map((_, r) => {
        const x = Array.from(pooled.subarray(r * d, (r + 1) * d));
        const n = Math.hypot(...x);
        return x.map((v) => v / n);
      });
      let sum = 0;
      for (let i = 0; i < rows.length; i++) {
        const logits = unit
          .map((k, j) => ({ j, s: k.reduce((a, v, t) => a + v * unit[i]![t]!, 0) / 0.5 }))
          .filter(({ j }) => j === i || keys[j] !== keys[i]);
        const max = Math.max(...logits.map((x) => x.s));
        const lse = max + Math.log(logits.reduce((a, x) => a + Math.exp(x.s - max), 0));
        sum += lse - logits.find((x) => x.j === i)!.s;
      }
      expect(relativeError([loss], [sum / rows.length])).to.be.lessThan(1e-5);
      // In training mode with dropout, the two views differ and the loss is above the eval one.
      (model.config as { attentionDropout: number }).attentionDropout = 0.2;
      model.train();
      const noisy = noGrad(() => tidy(() => llm2rec.simcseLoss(model, rows, keys, { tau: 0.5, padId }).item()));
      expect(noisy).to.not.equal(loss);
    } finally {
      model.dispose();
    }
  });

  it('each stage loss and every gradient match the PyTorch reference (committed fixtures)', () => {
    const inputs = JSON.parse(fs.readFileSync(path.join(fixtures, 'inputs.json'), 'utf-8'));
    const expected = JSON.parse(fs.readFileSync(path.join(fixtures, 'expected.json'), 'utf-8')).losses;
    const grads = SafetensorsFile.open(path.join(fixtures, 'expected-grads.safetensors'));
    try {
      const stages = {
        csft: (m: llm2rec.StageLanguageModel) => llm2rec.labelledLoss(m.model, inputs.csft, inputs.padId, 'causal'),
        mntp: (m: llm2rec.StageLanguageModel) =>
          llm2rec.labelledLoss(m.model, inputs.mntp, inputs.padId, 'bidirectional'),
        simcse: (m: llm2rec.StageLanguageModel) =>
          llm2rec.simcseLoss(m.model, inputs.simcse.rows, inputs.simcse.keys, {
            tau: inputs.simcse.tau,
            padId: inputs.padId,
          }),
      };
      for (const [stage, lossOf] of Object.entries(stages)) {
        const opened = llm2rec.openLanguageModel(lm, 'cpu');
        try {
          const loss = tidy(() => {
            const l = lossOf(opened);
            l.backward();
            return l.item();
          });
          expect(relativeError([loss], [expected[stage]]), `${stage} loss`).to.be.lessThan(1e-4);
          for (const [name, p] of opened.model.namedParameters()) {
            const want = grads.read(`${stage}/${name}`);
            expect(relativeError(f64(p.grad!), f64(want)), `${stage} gradient of ${name}`).to.be.lessThan(1e-4);
            want.dispose();
          }
        } finally {
          opened.model.dispose();
        }
      }
    } finally {
      grads.close();
    }
  });

  it('runs on random-weight Qwen2 and Llama folders written by transformers; the CSFT loss matches transformers', async () => {
    const expected = JSON.parse(fs.readFileSync(path.join(fixtures, 'hf-expected.json'), 'utf-8')).csftLoss;
    const inputs = JSON.parse(fs.readFileSync(path.join(fixtures, 'inputs.json'), 'utf-8'));
    for (const kind of ['qwen2', 'llama']) {
      const folder = path.join(fixtures, `hf-${kind}`);
      const { model } = llm2rec.openLanguageModel(folder, 'cpu');
      try {
        const loss = noGrad(() => tidy(() => llm2rec.labelledLoss(model, inputs.csft, inputs.padId, 'causal').item()));
        expect(relativeError([loss], [expected[kind]]), `${kind} CSFT loss`).to.be.lessThan(1e-4);
      } finally {
        model.dispose();
      }
    }
    const dir = path.join(root, 'hf-llama-run');
    const result = await runAll(llm2recPipeline, {
      dir,
      config: config({ lm: path.join(fixtures, 'hf-llama'), models: ['sasrec'], epochs: 1 }),
    });
    expect(result.ran).to.deep.equal(['csft', 'mntp', 'simcse', 'embed', 'downstream']);
  });

  let runDir: string;
  it('all: every stage runs on a tiny LM; the LM folders load, the item table is readable, downstream is tested', async () => {
    runDir = path.join(root, 'run');
    const result = await runAll(llm2recPipeline, { dir: runDir, config: config() });
    expect(result.ran).to.deep.equal(['csft', 'mntp', 'simcse', 'embed', 'downstream']);
    const manifest = readRunManifest(runDir)!;
    for (const stage of result.ran) expect(manifest.stages[stage]!.status).to.equal('done');
    const csftMetrics = manifest.stages.csft!.metrics as { steps: number; meanLoss: number };
    expect(csftMetrics.steps).to.equal(4);
    expect(Number.isFinite(csftMetrics.meanLoss)).to.equal(true);
    // Each LM stage's folder is a Hugging Face folder llm2rec (and --lm) can open.
    for (const stage of ['csft', 'mntp', 'simcse'])
      llm2rec.openLanguageModel(path.join(runDir, stage), 'cpu').model.dispose();
    const ds = await dataset();
    const file = SafetensorsFile.open(path.join(runDir, 'embed', llm2rec.EMBEDDINGS_FILE));
    try {
      const t = file.read('embeddings');
      expect(t.shape).to.deep.equal([ds.numItems + 1, 32]);
      const rows = t.dataSync();
      expect(Array.from(rows.subarray(0, 32)).every((v) => v === 0)).to.equal(true);
      expect(Array.from(rows).every(Number.isFinite)).to.equal(true);
      t.dispose();
    } finally {
      file.close();
    }
    const ids = JSON.parse(fs.readFileSync(path.join(runDir, 'embed', llm2rec.ITEM_IDS_FILE), 'utf-8'));
    expect(ids.itemKeys).to.deep.equal(ds.itemKeys);
    const results = JSON.parse(fs.readFileSync(path.join(runDir, 'downstream', 'results.json'), 'utf-8'));
    expect(results.inDomain.map((r: { model: string }) => r.model)).to.deep.equal(['sasrec', 'gru4rec']);
    for (const r of results.inDomain) expect(r.test['recall@10'].mean).to.be.within(0, 1);
    // Nothing changed: all skips every stage.
    const again = await runAll(llm2recPipeline, { dir: runDir, config: config() });
    expect(again.skipped).to.deep.equal(['csft', 'mntp', 'simcse', 'embed', 'downstream']);
  });

  it('a stage resumed from a mid-stage checkpoint ends bit-identical to an uninterrupted run', async () => {
    for (const stage of ['csft', 'simcse'] as const) {
      const dir = path.join(root, `resume-${stage}`);
      fs.cpSync(runDir, dir, { recursive: true });
      const overrides = { csftSteps: 6, simcseSteps: 6, checkpointEvery: 3 };
      await runStage(llm2recPipeline, stage, { dir, config: config(overrides) });
      const whole = fs.readFileSync(path.join(dir, stage, 'model.safetensors'));
      // As if killed after step 3: only that checkpoint is left, and the stage is not done.
      const checkpoints = path.join(dir, stage, 'checkpoints');
      const kept = fs.readdirSync(checkpoints).filter((n) => n.startsWith('step-'));
      expect(kept).to.include('step-00000003');
      for (const name of kept)
        if (name !== 'step-00000003') fs.rmSync(path.join(checkpoints, name), { recursive: true });
      fs.writeFileSync(path.join(checkpoints, 'latest.json'), JSON.stringify({ checkpoint: 'step-00000003' }));
      fs.rmSync(path.join(dir, stage, 'model.safetensors'));
      const events: ProgressEvent[] = [];
      await runStage(llm2recPipeline, stage, {
        dir,
        config: config(overrides),
        resume: true,
        progress: () => ({ emit: (e) => events.push(e) }),
      });
      // It went on from step 3 (three steps run, not six) and ended where the whole run did.
      expect(events.filter((e) => e.event === 'resume').map((e) => e.step)).to.deep.equal([3]);
      expect(events.filter((e) => e.event === 'step').map((e) => e.step)).to.deep.equal([4, 5, 6]);
      expect(fs.readFileSync(path.join(dir, stage, 'model.safetensors')).equals(whole)).to.equal(true);
    }
  });

  it('serves the downstream model, and addItems makes a new item recommendable at once', async () => {
    const rec = await Recommender.load(runDir);
    try {
      expect(rec.info()).to.include({ kind: 'sasrec' });
      expect(rec.info().features.addItems).to.equal(true);
      const before = rec.info().numItems;
      const history = ['i1-0', 'i1-1', 'i1-2'];
      const answer = await rec.recommend(history, { k: 5 });
      expect(answer).to.have.length(5);
      const added = await rec.addItems([
        { id: 'new-mug', title: 'gift set blue mug' },
        { id: 'i1-0', title: 'small blue mug' }, // known: re-embedded, not counted
      ]);
      expect(added).to.equal(1);
      expect(rec.info().numItems).to.equal(before + 1);
      const ranked = await rec.recommend(history, { k: before + 1 - history.length, excludeHistory: true });
      const entry = ranked.find((r) => r.item === 'new-mug');
      expect(entry, 'the new item is ranked').to.not.equal(undefined);
      expect(entry!.title).to.equal('gift set blue mug');
      expect(Number.isFinite(entry!.score)).to.equal(true);
      const only = await rec.recommend(history, { k: 1, candidates: ['new-mug'] });
      expect(only.map((r) => r.item)).to.deep.equal(['new-mug']);
      // The new item works in a history too.
      expect(await rec.recommend(['new-mug'], { k: 3, unknownItems: 'error' })).to.have.length(3);
      await rec.addItems([{ id: 'x', title: '' }]).then(
        () => expect.fail('an empty title was accepted'),
        (e: Error) => expect(e.message).to.match(/items\[0\]\.title must be a non-empty string/),
      );
    } finally {
      await rec.close();
    }
  });

  it('llmrec serve: POST /v1/models/:name/items adds items that the next recommend can return', async () => {
    const server = createServer({ models: [{ name: 'llm2rec', dir: runDir }], device: 'cpu' });
    try {
      const base = await server.listen({ host: '127.0.0.1', port: 0 });
      await server.loaded;
      const models = await call(base, 'GET', '/v1/models');
      const described = (models.body.models as { features: { addItems: boolean }; numItems: number }[])[0]!;
      expect(described.features.addItems).to.equal(true);
      const added = await call(base, 'POST', '/v1/models/llm2rec/items', {
        items: [{ id: 'lamp-9', title: 'vintage paper star lamp' }],
      });
      expect(added.status).to.equal(200);
      expect(added.body).to.include({ model: 'llm2rec', added: 1, numItems: described.numItems + 1 });
      const answer = await call(base, 'POST', '/v1/models/llm2rec/recommend', {
        history: ['i3-1', 'i3-2'],
        candidates: ['lamp-9', 'i0-1'],
        k: 2,
      });
      expect(answer.status).to.equal(200);
      expect((answer.body.items as { item: string }[]).map((r) => r.item).sort()).to.deep.equal(['i0-1', 'lamp-9']);
      const bad = await call(base, 'POST', '/v1/models/llm2rec/items', { items: [{ id: 'x', title: ' ' }] });
      expect(bad.status).to.equal(400);
    } finally {
      await server.close();
    }
  });

  it('bad inputs: a message that says what to do, and nothing already written is lost', async () => {
    const noTokenizer = path.join(root, 'lm-no-tokenizer');
    fs.mkdirSync(noTokenizer);
    for (const file of ['config.json', 'model.safetensors'])
      fs.copyFileSync(path.join(lm, file), path.join(noTokenizer, file));
    const dir = path.join(root, 'bad');
    let error = await failure(runStage(llm2recPipeline, 'csft', { dir, config: config({ lm: noTokenizer }) }));
    expect(error?.message).to.match(/has no tokenizer\.json; .*copy its tokenizer\.json/);
    error = await failure(runStage(llm2recPipeline, 'mntp', { dir, config: config() }));
    expect(error?.message).to.match(/needs stage 'csft' done first.*\n.*llmrec llm2rec csft/s);
    const untitled = writeDataset(fs.mkdtempSync(path.join(root, 'untitled-')), { untitled: true });
    error = await failure(runStage(llm2recPipeline, 'csft', { dir, config: config({ data: untitled }) }));
    expect(error?.message).to.match(/1 of \d+ items of .* have no text \(e\.g\. 'i0-0'\); .*--item-text/);
    // A done run folder keeps its outputs when a later stage fails.
    const before = fs.readFileSync(path.join(runDir, 'embed', llm2rec.EMBEDDINGS_FILE));
    error = await failure(
      runStage(llm2recPipeline, 'downstream', { dir: runDir, config: config({ models: ['bert4rec'] }) }),
    );
    expect(error?.message).to.match(/--models takes sasrec, gru4rec; got 'bert4rec'/);
    expect(fs.readFileSync(path.join(runDir, 'embed', llm2rec.EMBEDDINGS_FILE)).equals(before)).to.equal(true);
    // A run folder of another pipeline is refused.
    const other = path.join(root, 'other');
    RunFolder.open(other, 'seqrec').close();
    error = await failure(runStage(llm2recPipeline, 'csft', { dir: other, config: config() }));
    expect(error?.message).to.match(/seqrec/);
    expect(fs.readdirSync(other).sort()).to.deep.equal(['manifest.json']);
  });

  it('ablation writes the comparison (JSON, Markdown, SVG) with every row', async () => {
    const dir = path.join(root, 'ablation');
    fs.cpSync(runDir, path.join(dir, 'llm2rec'), { recursive: true });
    await runCommand(llm2recPipeline, 'ablation', {
      dir,
      config: config({ models: ['sasrec'], epochs: 1 }),
      commandOptions: { ood: false },
    });
    const table = JSON.parse(fs.readFileSync(path.join(dir, 'ablation.json'), 'utf-8'));
    expect(table.rows.map((r: { name: string }) => r.name)).to.deep.equal(
      Object.values(llm2rec.ablationVariants).map((v) => v.name),
    );
    expect(fs.readFileSync(path.join(dir, 'ablation.md'), 'utf-8')).to.match(/\| SASRec, in-domain \| ID-only \|/);
    expect(fs.existsSync(path.join(dir, 'ablation.svg'))).to.equal(true);
  });
});
