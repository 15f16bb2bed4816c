import { expect } from 'chai';

import { optim, randn, tensor, tidy, type Tensor } from '../lib/index.js';
import { describeEachDevice } from './support/devices.js';
import { expectClose, f64, tolerance } from './support/reference.js';

interface AdamRef {
  w: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/** torch.optim.Adam / AdamW in float64, one step. */
function adamReference(
  state: AdamRef,
  grad: Float64Array,
  step: number,
  o: { lr: number; b1: number; b2: number; eps: number; wd: number; decoupled: boolean; scale?: number },
): void {
  const bc1 = 1 - o.b1 ** step;
  const bc2 = 1 - o.b2 ** step;
  for (let i = 0; i < grad.length; i++) {
    let w = state.w[i]!;
    const g = grad[i]! * (o.scale ?? 1) + (o.decoupled ? 0 : o.wd * w);
    if (o.decoupled) w *= 1 - o.lr * o.wd;
    const m = o.b1 * state.m[i]! + (1 - o.b1) * g;
    const v = o.b2 * state.v[i]! + (1 - o.b2) * g * g;
    state.m[i] = m;
    state.v[i] = v;
    state.w[i] = w - (o.lr * (m / bc1)) / (Math.sqrt(v / bc2) + o.eps);
  }
}

function withGrad(param: Tensor, grad: Tensor): void {
  param.grad?.dispose();
  param.grad = grad;
}

describeEachDevice('optim', (device) => {
  for (const decoupled of [true, false]) {
    const name = decoupled ? 'AdamW' : 'Adam';
    it(`${name} matches a float64 reference over several steps, across two groups`, () => {
      const a = randn([257], { seed: 1, device }).requiresGrad_();
      const b = randn([3, 5], { seed: 2, device }).requiresGrad_();
      const opts = { lr: 0.01, betas: [0.8, 0.95] as [number, number], eps: 1e-6, weightDecay: 0.1 };
      const opt = decoupled
        ? new optim.AdamW([{ params: [a] }, { params: [b], lr: 0.05 }], opts)
        : new optim.Adam([{ params: [a] }, { params: [b], lr: 0.05 }], opts);
      const refs = [a, b].map((p) => ({ w: f64(p), m: new Float64Array(p.size), v: new Float64Array(p.size) }));
      for (let step = 1; step <= 4; step++) {
        [a, b].forEach((p, i) => {
          const g = randn(p.shape, { seed: 100 + 10 * step + i, device });
          adamReference(refs[i]!, f64(g), step, {
            lr: i === 0 ? 0.01 : 0.05,
            b1: 0.8,
            b2: 0.95,
            eps: 1e-6,
            wd: 0.1,
            decoupled,
          });
          withGrad(p, g);
        });
        opt.step();
      }
      expectClose(f64(a), refs[0]!.w, tolerance.f32, 'group 0');
      expectClose(f64(b), refs[1]!.w, tolerance.f32, 'group 1');
      expect(opt.stepCount).to.equal(4);
      opt.dispose();
    });
  }

  it('keeps f32 master weights for bf16 parameters, so tiny steps accumulate', () => {
    const p = tensor([1, 2, 3, 4], { dtype: 'bf16', device }).requiresGrad_();
    const opt = new optim.AdamW([p], { lr: 1e-4, weightDecay: 0 });
    for (let i = 0; i < 50; i++) {
      withGrad(p, tensor([1, 1, 1, 1], { dtype: 'bf16', device }));
      opt.step();
    }
    // Each step moves w by ~lr; 50 steps of 1e-4 are far below bf16's spacing near 1 (2^-7)
    // one at a time, yet the master weights carry them: 1 - 0.005 rounds to 0.99609375 in bf16
    // (and 3 - 0.005 still rounds to 3, where the spacing is 2^-6).
    expect([...p.dataSync()]).to.deep.equal([0.99609375, 1.9921875, 3, 4]);
    const master = opt.stateDict().tensors.get('state.0.master')!;
    expectClose(f64(master), [0.995, 1.995, 2.995, 3.995], 1e-5, 'master weights');
    opt.dispose();
  });

  it('clipGradNorm scales gradients to the maximum norm and returns the norm before clipping', () => {
    const a = randn([100], { seed: 5, device }).requiresGrad_();
    const b = randn([7, 9], { seed: 6, device }).requiresGrad_();
    withGrad(a, randn([100], { seed: 7, device, std: 3 }));
    withGrad(b, randn([7, 9], { seed: 8, device, std: 3 }));
    const before = [...f64(a.grad!), ...f64(b.grad!)];
    const norm = Math.hypot(...before);
    const returned = optim.clipGradNorm([a, b], 1.5)!;
    expectClose([returned.item()], [norm], 1e-5, 'norm');
    const after = [...f64(a.grad!), ...f64(b.grad!)];
    expectClose(
      after,
      before.map((g) => (g * 1.5) / (norm + 1e-6)),
      1e-5,
      'clipped gradients',
    );
    // Below the threshold nothing changes.
    const small = optim.clipGradNorm([a, b], 1e6)!;
    expectClose([...f64(a.grad!), ...f64(b.grad!)], after, 1e-7, 'unclipped');
    returned.dispose();
    small.dispose();
  });

  it('fused maxGradNorm equals clipping first and then stepping', () => {
    const make = (): Tensor => randn([64], { seed: 9, device }).requiresGrad_();
    const [p1, p2] = [make(), make()];
    withGrad(p1, randn([64], { seed: 10, device, std: 5 }));
    withGrad(p2, randn([64], { seed: 10, device, std: 5 }));
    const fused = new optim.AdamW([p1], { lr: 0.1, maxGradNorm: 0.5 });
    const plain = new optim.AdamW([p2], { lr: 0.1 });
    fused.step();
    optim.clipGradNorm([p2], 0.5)!.dispose();
    plain.step();
    expectClose(f64(p1), f64(p2), 1e-6, 'parameters');
    expect(fused.lastGradNorm!.item()).to.be.greaterThan(0.5);
    fused.dispose();
    plain.dispose();
  });

  it('a restored state dict continues exactly like an uninterrupted run', () => {
    const grads = (step: number, p: Tensor): Tensor => randn(p.shape, { seed: 50 + step, device });
    const run = (steps: number, p: Tensor, opt: optim.Optimizer, from = 1): void => {
      for (let s = from; s < from + steps; s++) {
        withGrad(p, grads(s, p));
        opt.step();
      }
    };
    const straight = randn([33], { seed: 3, device }).requiresGrad_();
    const straightOpt = new optim.AdamW([straight], { lr: 0.02 });
    run(5, straight, straightOpt);

    const first = randn([33], { seed: 3, device }).requiresGrad_();
    const firstOpt = new optim.AdamW([first], { lr: 0.02 });
    run(3, first, firstOpt);
    const saved = firstOpt.stateDict();
    const resumed = first.clone().requiresGrad_();
    const resumedOpt = new optim.AdamW([resumed], { lr: 0.5 });
    resumedOpt.loadStateDict(saved);
    expect(resumedOpt.paramGroups[0]!.options.lr).to.equal(0.02);
    run(2, resumed, resumedOpt, 4);
    expect([...resumed.dataSync()]).to.deep.equal([...straight.dataSync()]);
    for (const o of [straightOpt, firstOpt, resumedOpt]) o.dispose();
  });

  it('schedules follow warm-up then linear or cosine decay', () => {
    const p = randn([2], { seed: 1, device }).requiresGrad_();
    const opt = new optim.AdamW([p], { lr: 1 });
    const linear = optim.linearWarmupDecay({ warmupSteps: 2, totalSteps: 6 });
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(linear)).to.deep.equal([0.5, 1, 1, 0.75, 0.5, 0.25, 0, 0]);
    const cosine = optim.cosineWarmupDecay({ warmupSteps: 0, totalSteps: 4, minFactor: 0.2 });
    expectClose([0, 2, 4].map(cosine), [1, 0.6, 0.2], 1e-12, 'cosine');
    const scheduler = new optim.LrScheduler(opt, linear);
    expect(opt.paramGroups[0]!.options.lr).to.equal(0.5);
    scheduler.step();
    scheduler.step();
    scheduler.step();
    expect(opt.paramGroups[0]!.options.lr).to.equal(0.75);
    opt.dispose();
  });

  it('rejects bad hyperparameters and bad gradients without updating anything', () => {
    const a = randn([4], { seed: 1, device }).requiresGrad_();
    const b = randn([4], { seed: 2, device }).requiresGrad_();
    expect(() => new optim.AdamW([a], { lr: -1 })).to.throw(
      /AdamW: group 0: 'lr' must be a finite number >= 0, got -1/,
    );
    expect(() => new optim.Adam([a], { betas: [0.9, 1] })).to.throw(/'betas' must be two numbers in \[0, 1\)/);
    expect(() => new optim.AdamW([a, a])).to.throw(/appears in more than one group/);
    expect(() => new optim.AdamW([])).to.throw(/got no parameters/);
    const opt = new optim.AdamW([a, b], { lr: 0.1 });
    withGrad(a, randn([4], { seed: 3, device }));
    withGrad(b, randn([5], { seed: 4, device }));
    const before = f64(a);
    expect(() => opt.step()).to.throw(/adamStep: 'grads\[1\]' is f32\[5\] on .* but params\[1\] is f32\[4\]/);
    expect([...f64(a)]).to.deep.equal([...before]);
    expect(opt.stepCount).to.equal(0);
    opt.dispose();
  });

  it('computes squared norms of f32 and bf16 tensors in one call', () => {
    tidy(() => {
      const x = randn([10000], { seed: 11, device });
      const y = randn([3, 7], { seed: 12, device, dtype: 'bf16' });
      const expected = [f64(x), f64(y)].map((v) => v.reduce((s, e) => s + e * e, 0));
      const p = x.requiresGrad_();
      const q = y.requiresGrad_();
      withGrad(p, x.clone());
      withGrad(q, y.clone());
      const norm = optim.gradNorm([p, q])!;
      expectClose([norm.totalNorm.item()], [Math.sqrt(expected[0]! + expected[1]!)], 1e-5, 'norm');
      p.zeroGrad();
      q.zeroGrad();
    });
  });
});
