import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { losses, manualSeed, memory, narrow, nn, optim, randn, tensor, training, type Tensor } from '../lib/index.js';
import { expectClose, f64 } from './support/reference.js';

/** y = tanh(x·w1 + b1)·w2 + b2, elementwise: a model built only from ops, with real gradients. */
class TinyNet extends nn.Module {
  declare readonly w1: Tensor;
  declare readonly b1: Tensor;
  declare readonly w2: Tensor;
  declare readonly b2: Tensor;
  constructor(n: number) {
    super();
    this.registerParameter('w1', nn.init.normal([n], 0, 1));
    this.registerParameter('b1', nn.init.zerosInit([n]));
    this.registerParameter('w2', nn.init.normal([n], 0, 1));
    this.registerParameter('b2', nn.init.zerosInit([n]));
  }
  forward(x: Tensor): Tensor {
    return x.mul(this.w1).add(this.b1).tanh().mul(this.w2).add(this.b2);
  }
}

interface Batch {
  x: Tensor;
  y: Tensor;
}

const N = 8;
function dataset(count: number): Batch[] {
  return Array.from({ length: count }, (_, i) => {
    const x = randn([4, N], { seed: 1000 + i });
    return { x, y: x.mul(0.7).tanh().mul(1.5) };
  });
}

/** Deterministic per-epoch shuffles: what makes resume exact. */
function* shuffled(data: Batch[], epoch: number, seed: number): Iterable<Batch> {
  const order = data.map((_, i) => i);
  let state = (seed * 7919 + epoch * 104729 + 1) >>> 0;
  for (let i = order.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const j = state % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (const i of order) yield data[i]!;
}

function setup(seed = 3): { model: TinyNet; optimizer: optim.AdamW; scheduler: optim.LrScheduler } {
  manualSeed(seed);
  const model = new TinyNet(N);
  const optimizer = new optim.AdamW(model.parameters(), { lr: 0.05, weightDecay: 0.01 });
  const scheduler = new optim.LrScheduler(optimizer, optim.linearWarmupDecay({ warmupSteps: 3, totalSteps: 40 }));
  return { model, optimizer, scheduler };
}

// Injected noise draws from the global generator, like dropout does: resume must restore it too.
const noisyMse = (model: TinyNet) => (b: Batch) =>
  losses.mse(model.forward(b.x.add(randn(b.x.shape, { std: 0.01 }))), b.y);

describe('training loop', () => {
  let dir: string;
  const data = dataset(6);
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-train-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('fits a tiny batch with a user-defined loss built from ops', async () => {
    manualSeed(3);
    const model = new TinyNet(N);
    const optimizer = new optim.AdamW(model.parameters(), { lr: 0.05, weightDecay: 0.01 });
    // A custom loss: MSE plus an L1 penalty on w2, written in TypeScript with no native code.
    const custom: losses.LossFn = ({ input, target }) =>
      losses.mse(input!, target!).add(model.w2.abs().mean().scale(1e-3));
    const batch = data[0]!;
    const result = await training.train({
      model,
      optimizer,
      batches: () => [batch],
      loss: (b, ctx) => custom({ input: model.forward(b.x), target: b.y }, ctx),
      epochs: 300,
    });
    expect(result.stopReason).to.equal('completed');
    expect(result.steps).to.equal(300);
    expect(result.history[0]!.loss).to.be.greaterThan(0.1);
    expect(result.history.at(-1)!.loss).to.be.lessThan(0.005);
    optimizer.dispose();
    model.dispose();
  });

  it('a run resumed from a mid-epoch checkpoint equals an uninterrupted one, bit for bit', async () => {
    const straight = setup();
    const straightResult = await training.train({
      ...straight,
      batches: (e, s) => shuffled(data, e, s),
      loss: noisyMse(straight.model),
      epochs: 3,
      seed: 11,
    });

    const first = setup();
    let calls = 0;
    const crash = noisyMse(first.model);
    await training
      .train({
        ...first,
        batches: (e, s) => shuffled(data, e, s),
        loss: (b) => {
          if (++calls === 11) throw new Error('simulated crash');
          return crash(b);
        },
        epochs: 3,
        seed: 11,
        checkpoint: { dir, everySteps: 4 },
      })
      .then(
        () => expect.fail('the simulated crash should propagate'),
        (error: Error) => expect(error.message).to.equal('simulated crash'),
      );
    // Step 8 (mid-epoch 1) is the newest complete checkpoint.
    expect(fs.readFileSync(path.join(dir, 'latest.json'), 'utf-8')).to.contain('step-00000008');

    const resumed = setup(99); // different init: everything must come from the checkpoint
    randn([5]); // and a different generator position
    const resumedResult = await training.train({
      ...resumed,
      batches: (e, s) => shuffled(data, e, s),
      loss: noisyMse(resumed.model),
      epochs: 3,
      seed: 11,
      checkpoint: { dir, everySteps: 4 },
      resume: true,
    });
    expect(resumedResult.steps).to.equal(straightResult.steps);
    for (const [[name, a], [, b]] of straight.model
      .namedParameters()
      .map((e, i) => [e, resumed.model.namedParameters()[i]!] as const))
      expect([...b.dataSync()], name).to.deep.equal([...a.dataSync()]);
    expect(resumedResult.history.map((h) => h.loss)).to.deep.equal(straightResult.history.map((h) => h.loss));
    for (const r of [straight, first, resumed]) {
      r.optimizer.dispose();
      r.model.dispose();
    }
  });

  it('accumulates gradients over micro-batches like one large batch', async () => {
    const x = randn([8, N], { seed: 77 });
    const y = x.mul(0.5).tanh();
    const halves = [0, 4].map((start) => ({ x: narrow(x, 0, start, 4), y: narrow(y, 0, start, 4) }));
    manualSeed(5);
    const whole = new TinyNet(N);
    const wholeOpt = new optim.AdamW(whole.parameters(), { lr: 0.01 });
    await training.train({
      model: whole,
      optimizer: wholeOpt,
      batches: () => [{ x, y }],
      loss: (b) => losses.mse(whole.forward(b.x), b.y),
      epochs: 3,
    });
    manualSeed(5);
    const split = new TinyNet(N);
    const splitOpt = new optim.AdamW(split.parameters(), { lr: 0.01 });
    const result = await training.train({
      model: split,
      optimizer: splitOpt,
      batches: () => halves,
      loss: (b) => losses.mse(split.forward(b.x), b.y),
      epochs: 3,
      accumulate: 2,
    });
    expect(result.steps).to.equal(3);
    for (const [[name, a], [, b]] of whole.namedParameters().map((e, i) => [e, split.namedParameters()[i]!] as const))
      expectClose(f64(b), f64(a), 1e-5, name);
    for (const o of [wholeOpt, splitOpt]) o.dispose();
    whole.dispose();
    split.dispose();
  });

  it('stops early, restores the best weights, and says so', async () => {
    const { model, optimizer } = setup();
    const metrics = [0.1, 0.3, 0.2, 0.25, 0.15, 0.5];
    let bestW1: number[] = [];
    const result = await training.train({
      model,
      optimizer,
      batches: () => data.slice(0, 2),
      loss: noisyMse(model),
      epochs: 6,
      evaluate: (epoch) => {
        if (epoch === 1) bestW1 = [...model.w1.dataSync()];
        return { 'ndcg@10': metrics[epoch]! };
      },
      earlyStopping: { metric: 'ndcg@10', patience: 2 },
      checkpoint: { dir },
    });
    expect(result.stopReason).to.equal('early-stopping');
    expect(result.epochs).to.equal(4);
    expect(result.best).to.deep.include({ epoch: 1, value: 0.3 });
    expect([...model.w1.dataSync()]).to.deep.equal(bestW1);
    optimizer.dispose();
    model.dispose();
  });

  it('stops at the first non-finite loss or gradient and names where, or skips it on request', async () => {
    for (const action of ['stop', 'skip'] as const) {
      const { model, optimizer } = setup();
      const events: training.ProgressEvent[] = [];
      let n = 0;
      const result = await training.train({
        model,
        optimizer,
        batches: () => data.slice(0, 3),
        loss: (b) => {
          const loss = losses.mse(model.forward(b.x), b.y);
          return ++n === 2 ? loss.mul(tensor([NaN])).sum() : loss;
        },
        epochs: 2,
        onNonFinite: action,
        progress: { emit: (e) => events.push(e) },
      });
      expect(result.nonFinite).to.equal('the loss is NaN at epoch 0, batch 1, step 1');
      expect(result.stopReason).to.equal(action === 'stop' ? 'non-finite' : 'completed');
      expect(result.steps).to.equal(action === 'stop' ? 1 : 5);
      expect(events.filter((e) => e.event === 'nonfinite')).to.have.length(1);
      expect(model.parameters().every((p) => p.dataSync().every(Number.isFinite))).to.equal(true);
      optimizer.dispose();
      model.dispose();
    }
  });

  it('reports a non-finite gradient by parameter name', async () => {
    const { model, optimizer } = setup();
    const result = await training.train({
      model,
      optimizer,
      batches: () => [data[0]!],
      // sqrt'(0) is infinite: the loss is finite, the gradient of w1 is not.
      loss: (b) => model.forward(b.x).mul(model.w1.mul(0).sqrt()).mean(),
      epochs: 1,
    });
    expect(result.nonFinite).to.match(/^non-finite gradients in w1 at epoch 0/);
    optimizer.dispose();
    model.dispose();
  });

  it('lets timers run between steps, so the event loop never stalls for a whole epoch', async () => {
    const { model, optimizer } = setup();
    let step = 0;
    let stepWhenTimerRan: number | null = null;
    const timer = setTimeout(() => (stepWhenTimerRan = step), 0);
    const result = await training.train({
      model,
      optimizer,
      batches: () => data,
      loss: (b) => {
        const until = performance.now() + 2; // a step of at least 2 ms: 60 of them far exceed a yield interval
        while (performance.now() < until);
        return noisyMse(model)(b);
      },
      epochs: 10,
      progress: { emit: (e) => void (e.event === 'step' && (step = e.step)) },
    });
    clearTimeout(timer);
    expect(result.steps).to.equal(60);
    expect(stepWhenTimerRan, 'the timer ran only after training').to.be.a('number').and.below(30);
    optimizer.dispose();
    model.dispose();
  });

  it('keeps memory flat over 1,000 steps and logs JSON lines', async () => {
    const { model, optimizer, scheduler } = setup();
    const lines: string[] = [];
    const sink = training.jsonLinesSink({ write: (chunk: string) => lines.push(chunk) });
    let inUseAfterWarmup = 0;
    await training.train({
      model,
      optimizer,
      scheduler,
      batches: () => data,
      loss: noisyMse(model),
      epochs: 170,
      progress: sink,
      evaluate: (epoch) => {
        if (epoch === 4) inUseAfterWarmup = memory('cpu').bytesInUse;
        return { loss: 0 };
      },
      evalEvery: 5,
    });
    expect(lines.filter((l) => l.includes('"event":"step"'))).to.have.length(1020);
    const first = JSON.parse(lines[0]!) as training.ProgressEvent;
    expect(first).to.include({ event: 'step', epoch: 0, step: 1 });
    expect(memory('cpu').bytesInUse).to.equal(inUseAfterWarmup);
    optimizer.dispose();
    model.dispose();
  });

  it('rejects bad configurations and corrupt checkpoints clearly', async () => {
    const { model, optimizer } = setup();
    const base = { model, optimizer, batches: () => data, loss: noisyMse(model) };
    await expectReject(training.train({ ...base, epochs: 0 }), /'epochs' must be a positive integer, got 0/);
    await expectReject(training.train({ ...base, epochs: 1, resume: true }), /resume needs checkpoint.dir/);
    fs.writeFileSync(path.join(dir, 'latest.json'), '{"checkpoint": "step-1"}');
    await expectReject(
      training.train({ ...base, epochs: 1, resume: true, checkpoint: { dir } }),
      /incomplete or missing/,
    );
    fs.mkdirSync(path.join(dir, 'step-1'));
    fs.writeFileSync(path.join(dir, 'step-1', 'trainer.json'), '{}');
    await expectReject(
      training.train({ ...base, epochs: 1, resume: true, checkpoint: { dir } }),
      /trainer\.json is damaged: "history" must be an array, got nothing/,
    );
    const state = { epoch: 0, batchInEpoch: 1, step: 1, lossSum: 0, lossCount: 1, history: [], badEvaluations: 0 };
    const generator = { seed: '0', offset: '0' };
    fs.writeFileSync(
      path.join(dir, 'step-1', 'trainer.json'),
      JSON.stringify({ ...state, generator, optimizer: null }),
    );
    fs.writeFileSync(path.join(dir, 'step-1', 'model.safetensors'), 'garbage!');
    await expectReject(
      training.train({ ...base, epochs: 1, resume: true, checkpoint: { dir } }),
      /not a valid safetensors file/,
    );
    optimizer.dispose();
    model.dispose();
  });
});

async function expectReject(promise: Promise<unknown>, message: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect((error as Error).message).to.match(message);
    return;
  }
  expect.fail(`expected a rejection matching ${message}`);
}
