import { expect } from 'chai';

import { randn, tensor, type DType, type Tensor } from '../lib/index.js';
import { describeEachDevice } from './support/devices.js';
import { bf16Round, broadcastBinary, expectClose, f64, reduceReference, toleranceFor } from './support/reference.js';
import { crossCheck } from './support/twins.js';

const binaryCases: [string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number][] = [
  ['add', (a, b) => a.add(b), (x, y) => x + y],
  ['sub', (a, b) => a.sub(b), (x, y) => x - y],
  ['mul', (a, b) => a.mul(b), (x, y) => x * y],
  ['div', (a, b) => a.div(b), (x, y) => x / y],
  ['maximum', (a, b) => a.maximum(b), Math.max],
  ['minimum', (a, b) => a.minimum(b), Math.min],
];

const shapePairs: [number[], number[]][] = [
  [[1000], [1000]], // same shape, not a multiple of the vector width
  [[37, 129], [129]], // row bias
  [
    [37, 1],
    [1, 129],
  ], // outer product pattern
  [
    [4, 1, 5, 1],
    [3, 1, 7],
  ], // 4-d, broadcast on both sides
  [[], [6]], // scalar
  [
    [2, 3, 4],
    [2, 3, 4],
  ],
];

const unaryCases: [string, (x: Tensor) => Tensor, (x: number) => number, boolean][] = [
  ['neg', (x) => x.neg(), (x) => -x, false],
  ['exp', (x) => x.exp(), Math.exp, false],
  ['log', (x) => x.log(), Math.log, true],
  ['sqrt', (x) => x.sqrt(), Math.sqrt, true],
  ['rsqrt', (x) => x.rsqrt(), (x) => 1 / Math.sqrt(x), true],
  ['abs', (x) => x.abs(), Math.abs, false],
  ['square', (x) => x.square(), (x) => x * x, false],
  ['reciprocal', (x) => x.reciprocal(), (x) => 1 / x, true],
  ['tanh', (x) => x.tanh(), Math.tanh, false],
  ['sigmoid', (x) => x.sigmoid(), (x) => 1 / (1 + Math.exp(-x)), false],
  ['sign', (x) => x.sign(), Math.sign, false],
  ['affine', (x) => x.affine(-1.5, 0.25), (x) => -1.5 * x + 0.25, false],
];

/** On CUDA, the CPU twin must give the same answer as the device. */
describeEachDevice('elementwise kernels against a float64 reference', (device) => {
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    for (const [name, op, ref] of binaryCases) {
      for (const [sa, sb] of shapePairs) {
        it(`${name} ${dtype} [${sa.join(',')}] with [${sb.join(',')}]`, () => {
          const a = randn(sa, { seed: 1, device, dtype });
          // Keep divisors away from zero so the relative error measures the kernel, not cancellation.
          const b =
            name === 'div'
              ? randn(sb, { seed: 2, device, dtype }).abs().add(0.5)
              : randn(sb, { seed: 2, device, dtype });
          const out = op(a, b);
          const expected = broadcastBinary(f64(a), sa, f64(b), sb, ref);
          expect(out.shape).to.deep.equal(expected.shape);
          const reference = dtype === 'bf16' ? expected.values.map(bf16Round) : expected.values;
          expectClose(f64(out), reference, toleranceFor(dtype), `${name} ${dtype}`);
          crossCheck(device, out, () => op(a.to('cpu'), b.to('cpu')), toleranceFor(dtype), name);
        });
      }
    }
    for (const [name, op, ref, positive] of unaryCases) {
      it(`${name} ${dtype}`, () => {
        let x = randn([3, 333], { seed: 4, device, dtype });
        if (positive) x = x.abs().add(0.1);
        const out = op(x);
        const expected = f64(x).map(ref);
        expectClose(
          f64(out),
          dtype === 'bf16' ? expected.map(bf16Round) : expected,
          toleranceFor(dtype),
          `${name} ${dtype}`,
        );
        crossCheck(device, out, () => op(x.to('cpu')), toleranceFor(dtype), name);
      });
    }
  }

  it('computes exact integer arithmetic on i32', () => {
    const a = tensor(Int32Array.of(7, -7, 100000, 3), { device });
    const b = tensor(Int32Array.of(2, 2, 100000, 0), { device });
    expect(Array.from(a.add(b).dataSync())).to.deep.equal([9, -5, 200000, 3]);
    expect(Array.from(a.mul(b).dataSync())).to.deep.equal([14, -14, 1410065408, 0]); // wraps like int32
    expect(Array.from(a.div(b).dataSync())).to.deep.equal([3, -3, 1, 0]); // truncates; x/0 gives 0
    expect(Array.from(a.neg().dataSync())).to.deep.equal([-7, 7, -100000, -3]);
  });

  it('casts between every pair of dtypes', () => {
    const x = tensor([1.7, -1.7, 2.5, -0.2, 3e9, NaN], { device });
    expect(Array.from(x.cast('i32').dataSync())).to.deep.equal([1, -1, 2, 0, 2147483647, 0]);
    const back = tensor(Int32Array.of(1, -5, 16777217), { device }).cast('f32');
    expect(Array.from(back.dataSync())).to.deep.equal([1, -5, 16777216]);
    const viaBf16 = x.cast('bf16').cast('f32').dataSync();
    expect(viaBf16[0]).to.equal(1.703125);
    expect(Number.isNaN(viaBf16[5])).to.equal(true);
  });

  const reduceShapes: [number[], number | undefined][] = [
    [[1000], undefined],
    [[200003], undefined], // long enough to split across blocks
    [[7, 13], 0],
    [[7, 13], 1],
    [[7, 13], -1],
    [[3, 70000], 1], // few long rows
    [[5, 4, 300], 1], // middle axis, inner > 1
    [[2, 9000, 3], 1],
  ];
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    for (const [shape, axis] of reduceShapes) {
      for (const op of ['sum', 'mean', 'max', 'min'] as const) {
        it(`${op} ${dtype} of [${shape.join(',')}] over ${axis ?? 'all'}`, () => {
          const x = randn(shape, { seed: 9, device, dtype });
          const out = x[op](axis);
          const fn = {
            sum: (v: number[]) => v.reduce((a, b) => a + b, 0),
            mean: (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length,
            max: (v: number[]) => v.reduce((a, b) => Math.max(a, b), -Infinity),
            min: (v: number[]) => v.reduce((a, b) => Math.min(a, b), Infinity),
          }[op];
          const expected = reduceReference(f64(x), shape, axis, fn);
          expectClose(f64(out), dtype === 'bf16' ? expected.map(bf16Round) : expected, toleranceFor(dtype), `${op}`);
          crossCheck(device, out, () => x.to('cpu')[op](axis), toleranceFor(dtype), op);
        });
      }
    }
  }

  it('keeps reduced axes when asked, and handles empty extents', () => {
    const x = randn([4, 5, 6], { seed: 1, device });
    expect(x.sum(1, true).shape).to.deep.equal([4, 1, 6]);
    expect(x.mean(undefined, true).shape).to.deep.equal([1, 1, 1]);
    const e = randn([3, 0], { seed: 1, device });
    expect(Array.from(e.sum(1).dataSync())).to.deep.equal([0, 0, 0]);
    expect(() => e.max(1)).to.throw(/cannot reduce over an empty axis/);
  });

  it('propagates NaN through max and min', () => {
    const x = tensor([1, NaN, 3], { device });
    expect(Number.isNaN(x.max().item())).to.equal(true);
    expect(Number.isNaN(x.min().item())).to.equal(true);
  });

  it('expands by broadcasting', () => {
    const x = tensor([[1], [2]], { device });
    expect(Array.from(x.expand([2, 3]).dataSync())).to.deep.equal([1, 1, 1, 2, 2, 2]);
    expect(() => x.expand([3, 3])).to.throw(/cannot be broadcast together|cannot be expanded/);
  });
});
