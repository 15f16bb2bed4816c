// A checkpoint's trainer.json and a run folder's manifest.json damaged field by field (by hand
// or by a flipped byte): each is refused with an Error that names the file and the field, before
// anything is loaded, instead of resuming with a NaN step, failing later inside BigInt() or the
// scheduler, or setting the learning rate to a string (issue 12, the fields left unvalidated).
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { losses, manualSeed, nn, optim, pipelines, randn, training, type Tensor } from '../../lib/index.js';
import { tempDir } from './support.js';

describe('robustness: damaged trainer.json and manifest.json fields are refused by name', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => (dir = tempDir('damaged')));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A linear model, AdamW, a scheduler and two batches: a real run that checkpoints every step. */
  function setup() {
    manualSeed(7);
    const model = new nn.Linear(4, 2);
    const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-2 });
    const scheduler = new optim.LrScheduler(optimizer, optim.linearWarmupDecay({ warmupSteps: 1, totalSteps: 10 }));
    const batches = [0, 1].map((i) => ({ x: randn([3, 4], { seed: i }), y: randn([3, 2], { seed: 10 + i }) }));
    const config = {
      model,
      optimizer,
      scheduler,
      epochs: 1,
      batches: () => batches,
      loss: (b: { x: Tensor; y: Tensor }) => losses.mse(model.forward(b.x), b.y),
    };
    return { model, optimizer, batches, config };
  }

  it('trainer.json: each field with a wrong value is named, and the model is left as it was', async () => {
    const root = path.join(dir, 'checkpoints');
    const first = setup();
    await training.train({ ...first.config, checkpoint: { dir: root, everySteps: 1 } });
    const latest = training.latestCheckpoint(root)!;
    const stateFile = path.join(latest, 'trainer.json');
    const good = JSON.parse(fs.readFileSync(stateFile, 'utf-8')) as Record<string, unknown>;

    const cases: [string, (s: Record<string, unknown>) => void, RegExp][] = [
      ['step', (s) => (s.step = 'two'), /"step" must be an integer >= 0, got "two"/],
      ['epoch', (s) => (s.epoch = -1), /"epoch" must be an integer >= 0, got -1/],
      ['batchInEpoch', (s) => delete s.batchInEpoch, /"batchInEpoch" must be an integer >= 0, got nothing/],
      ['lossSum', (s) => (s.lossSum = '0.5'), /"lossSum" must be a number \(or null\)/],
      ['lossCount', (s) => (s.lossCount = 1.5), /"lossCount" must be an integer >= 0/],
      ['history', (s) => (s.history = {}), /"history" must be an array/],
      ['history[0]', (s) => (s.history = [{ epoch: 0, loss: 'x' }]), /"history\[0\]\.loss" must be a number/],
      ['badEvaluations', (s) => (s.badEvaluations = null), /"badEvaluations" must be an integer >= 0, got null/],
      ['generator', (s) => (s.generator = 'seed'), /"generator" must be an object/],
      [
        'generator.seed',
        (s) => (s.generator = { seed: 'abc', offset: '0' }),
        /"generator\.seed" must be a string of decimal digits, got "abc"/,
      ],
      ['best', (s) => (s.best = { epoch: 0, value: 'high' }), /"best\.value" must be a number/],
      ['nonFinite', (s) => (s.nonFinite = 3), /"nonFinite" must be a string/],
      ['scheduler.step', (s) => (s.scheduler = { step: -3 }), /"scheduler\.step" must be an integer >= 0, got -3/],
      [
        'optimizer lr',
        (s) => ((s.optimizer as { groups: Record<string, unknown>[] }).groups[0]!.lr = 'fast'),
        /groups\[0\]\.lr must be a number, got "fast"/,
      ],
      [
        'optimizer unknown option',
        (s) => ((s.optimizer as { groups: Record<string, unknown>[] }).groups[0]!.momentum = 0.9),
        /groups\[0\] has an unknown option 'momentum'/,
      ],
      [
        'optimizer betas',
        (s) => ((s.optimizer as { groups: Record<string, unknown>[] }).groups[0]!.betas = [0.9]),
        /groups\[0\]\.betas must be an array of 2 numbers/,
      ],
      ['not an object', (s) => Object.assign(s, { __array: true }), /does not hold a JSON object/],
    ];
    for (const [field, damage, message] of cases) {
      const state = structuredClone(good);
      damage(state);
      const text = state.__array ? '[]' : JSON.stringify(state);
      fs.writeFileSync(stateFile, text);
      const run = setup();
      const before = run.model.parameters().map((p) => [...p.dataSync()]);
      let error: Error | undefined;
      try {
        await training.train({ ...run.config, checkpoint: { dir: root }, resume: true });
      } catch (e) {
        error = e as Error;
      }
      expect(error, field).to.be.instanceOf(Error);
      expect(error!.message, field).to.match(message);
      expect(error!.message, field).to.include(latest);
      if (!field.startsWith('optimizer'))
        expect(
          run.model.parameters().map((p) => [...p.dataSync()]),
          `${field}: the model is untouched`,
        ).to.deep.equal(before);
      run.optimizer.dispose();
      run.model.dispose();
    }

    // The undamaged file resumes (the run is already complete, so nothing more is trained).
    fs.writeFileSync(stateFile, JSON.stringify(good));
    const again = setup();
    const result = await training.train({ ...again.config, checkpoint: { dir: root }, resume: true });
    expect(result.steps).to.equal(good.step);
    again.optimizer.dispose();
    again.model.dispose();
    first.optimizer.dispose();
    first.model.dispose();
  });

  it('manifest.json: each stage field with a wrong value is named', () => {
    const runDir = path.join(dir, 'run');
    fs.mkdirSync(runDir);
    const file = path.join(runDir, 'manifest.json');
    const stage = {
      status: 'done',
      config: { epochs: 1 },
      inputs: {},
      outputs: { 'model.safetensors': { path: 'model.safetensors', bytes: 10, mtimeMs: 1, sha256: 'ab' } },
      started: '2026-12-02T00:00:00.000Z',
      ended: '2026-12-02T00:00:01.000Z',
      seconds: 1,
    };
    const manifest = {
      format: 'llmrec-run',
      version: 1,
      pipeline: 'seqrec',
      created: { llmrec: '0.1.0', time: '2026-12-02T00:00:00.000Z' },
      llmrec: '0.1.0',
      stages: { train: stage },
    };
    fs.writeFileSync(file, JSON.stringify(manifest));
    expect(pipelines.readRunManifest(runDir)!.stages.train!.status).to.equal('done');

    const cases: [(m: typeof manifest & Record<string, unknown>) => void, RegExp][] = [
      [
        (m) => ((m.stages.train as Record<string, unknown>).status = 'finished'),
        /"stages\.train\.status" must be "running", "done" or "failed", got "finished"/,
      ],
      [
        (m) => ((m.stages.train as Record<string, unknown>).config = null),
        /"stages\.train\.config" must be an object, got null/,
      ],
      [
        (m) => ((m.stages.train as Record<string, unknown>).outputs = { a: 'x' }),
        /"stages\.train\.outputs\.a" must be a file digest/,
      ],
      [
        (m) => ((m.stages.train as Record<string, unknown>).started = 5),
        /"stages\.train\.started" must be a time string, got 5/,
      ],
      [(m) => ((m.stages.train as Record<string, unknown>).seconds = '1'), /"stages\.train\.seconds" must be a number/],
      [
        (m) => ((m.stages.train as Record<string, unknown>).lastDone = { status: 'done' }),
        /"stages\.train\.lastDone\.config" must be an object/,
      ],
      [(m) => ((m.stages as Record<string, unknown>).eval = 'done'), /"stages\.eval" must be an object, got "done"/],
      [(m) => (m.created = { llmrec: '0.1.0' } as typeof m.created), /"created" must be an object \{ llmrec, time \}/],
      [(m) => (m.llmrec = 1 as unknown as string), /"llmrec" must be a version string, got 1/],
    ];
    for (const [damage, message] of cases) {
      const m = structuredClone(manifest) as typeof manifest & Record<string, unknown>;
      damage(m);
      fs.writeFileSync(file, JSON.stringify(m));
      expect(() => pipelines.readRunManifest(runDir), String(message)).to.throw(Error, message);
      expect(() => pipelines.readRunManifest(runDir)).to.throw(Error, file);
    }
  });
});
