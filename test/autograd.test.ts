import { expect } from 'chai';

import { noGrad, randn, tensor, tidy, type Tensor } from '../lib/index.js';
import { describeEachDevice } from './support/devices.js';
import { broadcastBinary, gradCheck, reduceReference } from './support/reference.js';

const sample = (n: number, seed: number, positive = false): Float64Array => {
  let s = seed;
  return Float64Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const v = (s / 2 ** 31) * 2 - 1;
    return positive ? Math.abs(v) + 0.5 : v;
  });
};
const input = (shape: number[], seed: number, positive = false) => ({
  values: sample(
    shape.reduce((a, b) => a * b, 1),
    seed,
    positive,
  ),
  shape,
});

describeEachDevice('autograd', (device) => {
  const binary: [string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number][] = [
    ['add', (a, b) => a.add(b), (x, y) => x + y],
    ['sub', (a, b) => a.sub(b), (x, y) => x - y],
    ['mul', (a, b) => a.mul(b), (x, y) => x * y],
    ['div', (a, b) => a.div(b), (x, y) => x / y],
  ];
  for (const [name, op, ref] of binary) {
    for (const [sa, sb] of [
      [
        [3, 4],
        [3, 4],
      ],
      [[3, 4], [4]],
      [
        [2, 1, 4],
        [3, 1],
      ],
    ] as [number[], number[]][]) {
      it(`${name} gradients with shapes [${sa}] and [${sb}] match finite differences`, () => {
        gradCheck({
          device,
          inputs: [input(sa, 1), input(sb, 2, name === 'div')],
          forward: ([a, b]) => op(a!, b!),
          reference: ([a, b]) => broadcastBinary(a!, sa, b!, sb, ref).values,
        });
      });
    }
  }

  const unary: [string, (x: Tensor) => Tensor, (x: number) => number, boolean][] = [
    ['neg', (x) => x.neg(), (x) => -x, false],
    ['exp', (x) => x.exp(), Math.exp, false],
    ['log', (x) => x.log(), Math.log, true],
    ['sqrt', (x) => x.sqrt(), Math.sqrt, true],
    ['rsqrt', (x) => x.rsqrt(), (x) => 1 / Math.sqrt(x), true],
    ['abs', (x) => x.abs(), Math.abs, true],
    ['square', (x) => x.square(), (x) => x * x, false],
    ['reciprocal', (x) => x.reciprocal(), (x) => 1 / x, true],
    ['tanh', (x) => x.tanh(), Math.tanh, false],
    ['sigmoid', (x) => x.sigmoid(), (x) => 1 / (1 + Math.exp(-x)), false],
    ['affine', (x) => x.affine(3, -1), (x) => 3 * x - 1, false],
  ];
  for (const [name, op, ref, positive] of unary) {
    it(`${name} gradient matches finite differences`, () => {
      gradCheck({
        device,
        inputs: [input([5, 7], 3, positive)],
        forward: ([x]) => op(x!),
        reference: ([x]) => x!.map(ref),
      });
    });
  }

  for (const axis of [undefined, 0, 1, -1]) {
    for (const op of ['sum', 'mean'] as const) {
      it(`${op} over ${axis ?? 'all'} gradient matches finite differences`, () => {
        const shape = [4, 6];
        const fn =
          op === 'sum'
            ? (v: number[]) => v.reduce((a, b) => a + b, 0)
            : (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
        gradCheck({
          device,
          inputs: [input(shape, 5)],
          forward: ([x]) => x![op](axis),
          reference: ([x]) => reduceReference(x!, shape, axis, fn),
        });
      });
    }
  }

  it('reshape, expand and cast pass gradients through', () => {
    gradCheck({
      device,
      inputs: [input([2, 3], 8)],
      forward: ([x]) => x!.reshape(3, 2).expand([4, 3, 2]).cast('bf16').cast('f32'),
      reference: ([x]) => {
        const out = new Float64Array(24);
        for (let i = 0; i < 24; i++) out[i] = x![i % 6]!;
        return out;
      },
      tol: 1e-2, // the gradient itself passes through bf16 on its way back
    });
  });

  it('accumulates a tensor used twice, and across backward calls', () => {
    const x = tensor([1, 2, 3], { device, requiresGrad: true });
    x.mul(x).sum().backward(); // d/dx sum(x^2) = 2x
    expect(Array.from(x.grad!.dataSync())).to.deep.equal([2, 4, 6]);
    x.sum().backward(); // accumulates 1
    expect(Array.from(x.grad!.dataSync())).to.deep.equal([3, 5, 7]);
    x.zeroGrad();
    expect(x.grad).to.equal(null);
  });

  it('flows gradients to inputs while the weights stay frozen', () => {
    const weights = randn([3], { seed: 1, device }); // no requiresGrad: frozen
    const soft = tensor([0.5, -1, 2], { device, requiresGrad: true });
    soft.mul(weights).sum().backward();
    expect(weights.grad).to.equal(null);
    expect(Array.from(soft.grad!.dataSync())).to.deep.equal(Array.from(weights.dataSync()));
  });

  it('records nothing under noGrad() and after detach()', () => {
    const x = tensor([1, 2], { device, requiresGrad: true });
    const y = noGrad(() => x.mul(2));
    expect(y.requiresGrad).to.equal(false);
    expect(x.mul(2).detach().requiresGrad).to.equal(false);
  });

  it('frees saved tensors after backward and refuses a second pass without retainGraph', () => {
    const x = tensor([1, 2], { device, requiresGrad: true });
    const y = x.exp().sum();
    y.backward();
    expect(() => y.backward()).to.throw(/freed by an earlier backward\(\); pass \{ retainGraph: true \}/);
    const z = x.exp().sum();
    z.backward(undefined, { retainGraph: true });
    z.backward();
    expect(x.grad!.dataSync()[0]).to.be.closeTo(Math.E * 3, 1e-5);
  });

  it('keeps the graph of a tidy() result alive for a later backward()', () => {
    const x = tensor([1, 2, 3], { device, requiresGrad: true });
    const loss = tidy(() => x.exp().mul(x).sum());
    loss.backward();
    const expected = [1, 2, 3].map((v) => Math.exp(v) * (1 + v));
    Array.from(x.grad!.dataSync()).forEach((g, i) => expect(g).to.be.closeTo(expected[i]!, 1e-4));
  });

  it('names the problem when backward() is misused', () => {
    expect(() => tensor([1, 2], { device }).sum().backward()).to.throw(/does not require grad/);
    const x = tensor([1, 2], { device, requiresGrad: true });
    expect(() => x.mul(2).backward()).to.throw(/a gradient can be implied only for a one-element output/);
    expect(() => x.max().backward()).to.throw(/max is not differentiable/);
    expect(() => tensor([1], { dtype: 'i32', device }).requiresGrad_()).to.throw(
      /integer tensors cannot require gradients/,
    );
  });
});
