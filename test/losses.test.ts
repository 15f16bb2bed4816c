import { expect } from 'chai';

import { losses, randn, tensor, type Tensor } from '../lib/index.js';
import { describeEachDevice } from './support/devices.js';
import { expectClose, f64, gradCheck, randomInput } from './support/reference.js';

const ctx = { step: 0, epoch: 0 };
const rows = (v: Float64Array, d: number): Float64Array[] =>
  Array.from({ length: v.length / d }, (_, r) => v.subarray(r * d, (r + 1) * d));
const dot = (a: Float64Array, b: Float64Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: Float64Array): number => Math.sqrt(dot(a, a));

describeEachDevice('losses', (device) => {
  const [a, b] = [randomInput([4, 6], 1, device), randomInput([4, 6], 2, device)];

  it('registers the named losses of the design', () => {
    const names = losses.lossNames().map((l) => l.name);
    for (const name of ['ce', 'sampled-softmax', 'bce', 'mse', 'cosine', 'infonce', 'uniformity', 'distill'])
      expect(names, name).to.include(name);
  });

  it('mse, cosine, normalized-mse and distill match float64 and their gradients', () => {
    const ra = rows(a.values, 6);
    const rb = rows(b.values, 6);
    const mse = a.values.reduce((s, v, i) => s + (v - b.values[i]!) ** 2, 0) / 24;
    const cos = ra.reduce((s, r, i) => s + 1 - dot(r, rb[i]!) / (norm(r) * norm(rb[i]!)), 0) / 4;
    const nmse =
      ra.reduce((s, r, i) => s + r.reduce((t, v, j) => t + (v / norm(r) - rb[i]![j]! / norm(rb[i]!)) ** 2, 0), 0) / 24;
    expectClose([losses.resolveLoss('mse')({ input: a.t, target: b.t }, ctx).item()], [mse], 1e-6);
    expectClose([losses.resolveLoss('cosine')({ input: a.t, target: b.t }, ctx).item()], [cos], 1e-6);
    expectClose([losses.resolveLoss('normalized-mse')({ input: a.t, target: b.t }, ctx).item()], [nmse], 1e-6);
    const distill = losses.resolveLoss({ name: 'distill', options: { kind: 'cosine' } });
    expectClose([distill({ student: a.t, teacher: b.t }, ctx).item()], [cos], 1e-6);
    gradCheck({
      device,
      inputs: [
        { values: a.values, shape: [4, 6] },
        { values: b.values, shape: [4, 6] },
      ],
      forward: ([x, y]) => losses.cosineDistance(x!, y!, 'none'),
      reference: ([x, y]) => {
        const ry = rows(y!, 6);
        return Float64Array.from(rows(x!, 6), (r, i) => 1 - dot(r, ry[i]!) / (norm(r) * norm(ry[i]!)));
      },
    });
    gradCheck({
      device,
      inputs: [{ values: a.values, shape: [4, 6] }],
      forward: ([x]) => losses.l2Normalize(x!),
      reference: ([x]) => Float64Array.from(x!, (v, i) => v / norm(rows(x!, 6)[Math.floor(i / 6)]!)),
    });
  });

  it('bce, ce, sampled-softmax and infonce through the registry agree with float64', () => {
    const logits = a.t;
    const targets = tensor(
      Float32Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? 1 : 0)),
      { shape: [4, 6], device },
    );
    const bce =
      a.values.reduce(
        (s, x, i) => s + Math.max(x, 0) - x * (i % 3 === 0 ? 1 : 0) + Math.log1p(Math.exp(-Math.abs(x))),
        0,
      ) / 24;
    expectClose([losses.resolveLoss('bce')({ logits, targets }, ctx).item()], [bce], 1e-6);
    const labels = tensor(new Int32Array([0, 5, 2, 3]), { dtype: 'i32', device });
    const ce =
      rows(a.values, 6).reduce(
        (s, r, i) => s - r[[0, 5, 2, 3][i]!]! + Math.log(r.reduce((t, v) => t + Math.exp(v), 0)),
        0,
      ) / 4;
    expectClose([losses.resolveLoss('ce')({ logits, labels }, ctx).item()], [ce], 1e-6);
    const positive = logits.sum(1);
    const pv = rows(a.values, 6).map((r) => r.reduce((s, v) => s + v, 0));
    const ss =
      rows(b.values, 6).reduce(
        (s, r, i) => s - pv[i]! + Math.log(Math.exp(pv[i]!) + r.reduce((t, v) => t + Math.exp(v), 0)),
        0,
      ) / 4;
    expectClose([losses.resolveLoss('sampled-softmax')({ positive, negatives: b.t }, ctx).item()], [ss], 1e-5);
    const tau = 0.5;
    const qa = rows(a.values, 6).map((r) => r.map((v) => v / norm(r)));
    const kb = rows(b.values, 6).map((r) => r.map((v) => v / norm(r)));
    const nce =
      qa.reduce((s, q, i) => {
        const z = kb.map((k) => dot(q, k) / tau);
        return s - z[i]! + Math.log(z.reduce((t, v) => t + Math.exp(v), 0));
      }, 0) / 4;
    expectClose(
      [
        losses
          .resolveLoss({ name: 'infonce', options: { temperature: tau } })({ queries: a.t, keys: b.t }, ctx)
          .item(),
      ],
      [nce],
      1e-5,
    );
  });

  it('uniformity matches log mean exp(-t·d²) over distinct pairs, with gradients', () => {
    const reference = ([x]: Float64Array[]): Float64Array => {
      const r = rows(x!, 6).map((row) => row.map((v) => v / norm(row)));
      let sum = 0;
      for (let i = 0; i < 4; i++)
        for (let j = 0; j < 4; j++)
          if (i !== j) sum += Math.exp(-2 * r[i]!.reduce((s, v, e) => s + (v - r[j]![e]!) ** 2, 0));
      return Float64Array.of(Math.log(sum / 12));
    };
    expectClose([losses.uniformity(a.t, 2).item()], reference([a.values]), 1e-5);
    gradCheck({
      device,
      inputs: [{ values: a.values, shape: [4, 6] }],
      forward: ([x]) => losses.uniformity(x!, 2).reshape([1]),
      reference,
    });
  });

  it('takes a user-defined loss anywhere a name goes, with a schedule from the context', () => {
    const tempered: losses.LossFn = ({ queries, keys }, { step }) =>
      losses.resolveLoss({ name: 'infonce', options: { temperature: Math.max(0.05, 0.2 - 0.01 * step) } })(
        { queries, keys },
        { step, epoch: 0 },
      );
    const early = losses.resolveLoss(tempered)({ queries: a.t, keys: b.t }, { step: 0, epoch: 0 }).item();
    const late = losses.resolveLoss(tempered)({ queries: a.t, keys: b.t }, { step: 20, epoch: 0 }).item();
    expect(early).to.not.equal(late);
    const q = randn([4, 6], { seed: 3, device }).requiresGrad_();
    const l: Tensor = tempered({ queries: q, keys: b.t }, ctx);
    l.backward();
    expect(f64(q.grad!).some((g) => g !== 0)).to.equal(true);
  });

  it('reports unknown losses, missing inputs and duplicate names', () => {
    expect(() => losses.resolveLoss('focal')).to.throw(/unknown loss 'focal'; registered: .*mse/);
    expect(() => losses.resolveLoss('mse')({ input: a.t }, ctx)).to.throw(
      /loss 'mse': needs the input 'target'; got input/,
    );
    expect(() => losses.registerLoss('mse', () => () => a.t)).to.throw(/already registered/);
    expect(() => losses.resolveLoss({ name: 'distill', options: { kind: 'kl' } })).to.throw(
      /'kind' must be one of mse, cosine, normalized-mse/,
    );
    expect(() => losses.mse(a.t, randn([3], { device }))).to.throw(
      /mse: 'input' has shape \[4, 6\] but 'target' has \[3\]/,
    );
  });
});
