import { expect } from 'chai';

import { logSoftmax, randn, softmax, tensor, type DType } from '../lib/index.js';
import { mapRows, sample, softmaxRow } from './dense-reference.js';
import { describeEachDevice, onGpu } from './support/devices.js';
import { bf16Round, expectClose, f64, gradCheck, toleranceFor } from './support/reference.js';

describeEachDevice('softmax kernels', (device) => {
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    for (const log of [false, true]) {
      const name = log ? 'logSoftmax' : 'softmax';
      const op = log ? logSoftmax : softmax;
      for (const shape of [
        [9, 17],
        [2, 3, 1000],
        [4, 5000],
      ]) {
        it(`${name} ${dtype} [${shape.join(',')}] matches float64`, () => {
          const x = randn(shape, { seed: 3, device, dtype, std: 4 });
          const out = op(x);
          const cols = shape[shape.length - 1]!;
          const expected = mapRows(f64(x), cols, (row) => softmaxRow(row, log));
          expectClose(f64(out), dtype === 'bf16' ? expected.map(bf16Round) : expected, toleranceFor(dtype), name);
          if (onGpu(device)) expectClose(f64(out), f64(op(x.to('cpu'))), toleranceFor(dtype), `${name} CUDA vs CPU`);
        });
      }
    }
  }

  it('large magnitudes (|x| ~ 1e4) do not overflow', () => {
    const x = randn([8, 300], { seed: 4, device, std: 1e4 });
    const expected = mapRows(f64(x), 300, (row) => softmaxRow(row, false));
    expectClose(f64(softmax(x)), expected, 1e-5, 'softmax');
    const expectedLog = mapRows(f64(x), 300, (row) => softmaxRow(row, true));
    expectClose(f64(logSoftmax(x)), expectedLog, 1e-5, 'logSoftmax');
    expect(f64(softmax(x)).every(Number.isFinite)).to.equal(true);
  });

  it('a fully masked row (all -inf) gives zeros, not NaN; a partly masked one ignores the -inf', () => {
    const x = tensor(
      [
        [-Infinity, -Infinity, -Infinity],
        [0, -Infinity, Math.log(3)],
      ],
      { device },
    );
    expectClose(f64(softmax(x)), [0, 0, 0, 0.25, 0, 0.75], 1e-6, 'masked softmax');
  });

  for (const log of [false, true]) {
    it(`${log ? 'logSoftmax' : 'softmax'} gradient`, () => {
      gradCheck({
        device,
        inputs: [sample([3, 7], 5, 2)],
        forward: ([x]) => (log ? logSoftmax(x!) : softmax(x!)),
        reference: ([x]) => mapRows(x!, 7, (row) => softmaxRow(row, log)),
      });
    });
  }

  it('errors name the op and the shapes', () => {
    expect(() => softmax(tensor(new Int32Array(6), { shape: [2, 3], device }))).to.throw(
      /softmax: 'x' must be f32 or bf16 but is i32\[2, 3\]/,
    );
  });
});
