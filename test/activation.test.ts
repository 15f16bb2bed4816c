import { expect } from 'chai';

import {
  dropout,
  gelu,
  geluTanh,
  leakyRelu,
  manualSeed,
  ones,
  rand,
  randn,
  relu,
  silu,
  swiglu,
  tensor,
  type DType,
  type Tensor,
} from '../lib/index.js';
import { erf, sample } from './dense-reference.js';
import { describeEachDevice, onGpu } from './support/devices.js';
import { bf16Round, expectClose, f64, gradCheck, toleranceFor } from './support/reference.js';

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const pointwise: [string, (x: Tensor) => Tensor, (x: number) => number][] = [
  ['gelu', gelu, (x) => 0.5 * x * (1 + erf(x / Math.SQRT2))],
  ['geluTanh', geluTanh, (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)))],
  ['relu', relu, (x) => Math.max(x, 0)],
  ['leakyRelu', (x) => leakyRelu(x, 0.2), (x) => (x > 0 ? x : 0.2 * x)],
  ['silu', silu, (x) => x * sigmoid(x)],
];
const swigluRef = (x: ArrayLike<number>, h: number): Float64Array => {
  const rows = x.length / (2 * h);
  const out = new Float64Array(rows * h);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < h; j++) {
      const g = x[r * 2 * h + j]!;
      out[r * h + j] = g * sigmoid(g) * x[r * 2 * h + h + j]!;
    }
  return out;
};

describeEachDevice('activation kernels', (device) => {
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    for (const [name, op, ref] of pointwise) {
      it(`${name} ${dtype} matches float64`, () => {
        const x = randn([37, 129], { seed: 5, device, dtype, std: 3 });
        const out = op(x);
        const expected = f64(x).map(ref);
        expectClose(f64(out), dtype === 'bf16' ? expected.map(bf16Round) : expected, toleranceFor(dtype), name);
        if (onGpu(device)) expectClose(f64(out), f64(op(x.to('cpu'))), toleranceFor(dtype), `${name} CUDA vs CPU`);
      });
    }
    it(`swiglu ${dtype} splits [.., 2h] into gate and up`, () => {
      const x = randn([3, 5, 2 * 45], { seed: 6, device, dtype, std: 2 });
      const out = swiglu(x);
      expect(out.shape).to.deep.equal([3, 5, 45]);
      const expected = swigluRef(f64(x), 45);
      expectClose(f64(out), dtype === 'bf16' ? expected.map(bf16Round) : expected, toleranceFor(dtype), 'swiglu');
    });
  }

  for (const [name, op, ref] of pointwise) {
    it(`${name} gradient`, () => {
      // Keep ReLU kinks away from the finite-difference step.
      const input = sample([4, 7], 9, 2);
      input.values = input.values.map((v) => (Math.abs(v) < 1e-3 ? v + 0.01 : v));
      gradCheck({ device, inputs: [input], forward: ([x]) => op(x!), reference: ([x]) => x!.map(ref) });
    });
  }

  it('swiglu gradient reaches both halves', () => {
    gradCheck({
      device,
      inputs: [sample([3, 10], 10, 2)],
      forward: ([x]) => swiglu(x!),
      reference: ([x]) => swigluRef(x!, 5),
    });
  });

  it('activation errors name the op and the shape', () => {
    expect(() => swiglu(randn([2, 7], { device }))).to.throw(
      /swiglu: the last axis of 'x' \[2, 7\] must have even extent/,
    );
    expect(() => gelu(tensor(new Int32Array(4), { device }))).to.throw(/gelu: 'x' must be f32 or bf16 but is i32\[4\]/);
  });
});

describeEachDevice('dropout', (device) => {
  const x = (): Tensor => ones([64, 250], { device });

  it('scales kept elements by 1/(1-p) and zeroes the rest', () => {
    const out = f64(dropout(x(), 0.25, { seed: 7 }));
    const kept = out.filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6)).to.equal(true);
    const rate = 1 - kept.length / out.length;
    expect(rate).to.be.within(0.22, 0.28);
    const mean = out.reduce((a, v) => a + v, 0) / out.length;
    expect(mean).to.be.within(0.95, 1.05);
  });

  it('the mask is a function of seed and offset only', () => {
    const a = f64(dropout(x(), 0.5, { seed: 3, offset: 10 }));
    const b = f64(dropout(x(), 0.5, { seed: 3, offset: 10 }));
    const c = f64(dropout(x(), 0.5, { seed: 3, offset: 11 }));
    const d = f64(dropout(x(), 0.5, { seed: 4, offset: 10 }));
    expect(Array.from(a)).to.deep.equal(Array.from(b));
    expect(Array.from(a)).to.not.deep.equal(Array.from(c));
    expect(Array.from(a)).to.not.deep.equal(Array.from(d));
    // Offset k shifts the stream by k counters of four elements.
    expect(Array.from(c.subarray(0, 400))).to.deep.equal(Array.from(a.subarray(4, 404)));
    if (onGpu(device)) {
      const cpu = f64(dropout(ones([64, 250]), 0.5, { seed: 3, offset: 10 }));
      expect(Array.from(a)).to.deep.equal(Array.from(cpu));
    }
  });

  it('agrees with rand(): element i is kept iff its uniform is >= p', () => {
    const u = f64(rand([1000], { seed: 12, offset: 5, device }));
    const out = f64(dropout(ones([1000], { device }), 0.3, { seed: 12, offset: 5 }));
    out.forEach((v, i) => expect(v !== 0, `element ${i}`).to.equal(u[i]! >= 0.3));
  });

  it('the global generator advances, and manualSeed repeats', () => {
    manualSeed(42);
    const a = f64(dropout(x(), 0.5));
    const b = f64(dropout(x(), 0.5));
    manualSeed(42);
    const c = f64(dropout(x(), 0.5));
    expect(Array.from(a)).to.not.deep.equal(Array.from(b));
    expect(Array.from(a)).to.deep.equal(Array.from(c));
  });

  it('backward applies the same mask', () => {
    const input = randn([20, 30], { seed: 1, device }).requiresGrad_();
    const out = dropout(input, 0.4, { seed: 9 });
    const w = randn([20, 30], { seed: 2, device });
    out.mul(w).sum().backward();
    const weights = f64(w);
    const expected = f64(out).map((v, i) => (v !== 0 ? weights[i]! / 0.6 : 0));
    expectClose(f64(input.grad!), expected, 1e-6, 'dropout gradient');
  });

  it('eval mode and p = 0 are the identity; bad p is rejected', () => {
    const input = randn([10], { seed: 1, device });
    expect(Array.from(f64(dropout(input, 0.5, { training: false })))).to.deep.equal(Array.from(f64(input)));
    expect(Array.from(f64(dropout(input, 0)))).to.deep.equal(Array.from(f64(input)));
    expect(Array.from(f64(dropout(input, 1)))).to.deep.equal(new Array(10).fill(0));
    expect(() => dropout(input, 1.5)).to.throw(/dropout: 'p' must be in \[0, 1\], got 1.5/);
  });
});
