import { expect } from 'chai';

import {
  addLayerNorm,
  addRmsNorm,
  gelu,
  layerNorm,
  randn,
  rmsNorm,
  softmax,
  swiglu,
  tensor,
  type DType,
  type Tensor,
} from '../lib/index.js';
import { mapRows, normRow, sample } from './dense-reference.js';
import { describeEachDevice, onGpu } from './support/devices.js';
import { bf16Round, expectClose, f64, gradCheck, toleranceFor } from './support/reference.js';

describeEachDevice('norm kernels', (device) => {
  const shapes: number[][] = [
    [7, 33],
    [3, 5, 896],
    [2, 1000],
  ];
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    for (const rms of [false, true]) {
      const name = rms ? 'rmsNorm' : 'layerNorm';
      for (const shape of shapes) {
        for (const withResidual of [false, true]) {
          it(`${name}${withResidual ? ' + residual' : ''} ${dtype} [${shape.join(',')}] matches float64`, () => {
            const cols = shape[shape.length - 1]!;
            const x = randn(shape, { seed: 11, device, dtype, mean: 0.5, std: 2 });
            const residual = randn(shape, { seed: 12, device, dtype });
            const w = randn([cols], { seed: 13, device, dtype });
            const b = randn([cols], { seed: 14, device, dtype });
            const eps = 1e-5;
            let out: Tensor;
            let sum: Tensor | null = null;
            if (withResidual) {
              ({ out, sum } = rms ? addRmsNorm(x, residual, w, eps) : addLayerNorm(x, residual, w, b, eps));
            } else {
              out = rms ? rmsNorm(x, w, eps) : layerNorm(x, w, b, eps);
            }
            const round = dtype === 'bf16' ? bf16Round : (v: number) => v;
            const xs = f64(x);
            const rs = f64(residual);
            const v = withResidual ? xs.map((xv, i) => round(xv + rs[i]!)) : xs;
            if (sum) expectClose(f64(sum), v, toleranceFor(dtype), 'sum');
            const ref = mapRows(v, cols, (row) => normRow(row, f64(w), rms ? null : f64(b), eps, rms));
            expect(out.shape).to.deep.equal(shape);
            expectClose(f64(out), ref, toleranceFor(dtype), name);
            if (onGpu(device)) {
              const cpu = rms
                ? rmsNorm(x.to('cpu'), w.to('cpu'), eps)
                : layerNorm(x.to('cpu'), w.to('cpu'), b.to('cpu'), eps);
              if (!withResidual) expectClose(f64(out), f64(cpu), toleranceFor(dtype), 'CUDA vs CPU');
            }
          });
        }
      }
    }
  }

  it('layerNorm stays accurate with a large mean (two-pass variance)', () => {
    const x = randn([4, 256], { seed: 3, device, mean: 1000, std: 0.1 });
    const w = randn([256], { seed: 4, device });
    const out = layerNorm(x, w, null);
    expectClose(
      f64(out),
      mapRows(f64(x), 256, (row) => normRow(row, f64(w), null, 1e-5, false)),
      1e-3,
      'large mean',
    );
  });

  it('layerNorm gradients (x, weight, bias)', () => {
    gradCheck({
      device,
      inputs: [sample([3, 8], 1), sample([8], 2), sample([8], 3)],
      forward: ([x, w, b]) => layerNorm(x!, w!, b!),
      reference: ([x, w, b]) => mapRows(x!, 8, (row) => normRow(row, w!, b!, 1e-5, false)),
    });
  });

  it('rmsNorm gradients (x, weight)', () => {
    gradCheck({
      device,
      inputs: [sample([4, 9], 5), sample([9], 6)],
      forward: ([x, w]) => rmsNorm(x!, w!),
      reference: ([x, w]) => mapRows(x!, 9, (row) => normRow(row, w!, null, 1e-6, true)),
    });
  });

  for (const rms of [false, true]) {
    it(`${rms ? 'addRmsNorm' : 'addLayerNorm'} gradients through out and sum (x, residual, weight, bias)`, () => {
      const inputs = [sample([3, 6], 7), sample([3, 6], 8), sample([6], 9), sample([6], 10)];
      gradCheck({
        device,
        inputs: rms ? inputs.slice(0, 3) : inputs,
        forward: ([x, r, w, b]) => {
          const { out, sum } = rms ? addRmsNorm(x!, r!, w!) : addLayerNorm(x!, r!, w!, b!);
          return out.add(sum.scale(0.7));
        },
        reference: ([x, r, w, b]) => {
          const v = x!.map((xv, i) => xv + r![i]!);
          const out = mapRows(v, 6, (row) => normRow(row, w!, rms ? null : b!, rms ? 1e-6 : 1e-5, rms));
          return out.map((o, i) => o + 0.7 * v[i]!);
        },
      });
    });
  }

  it('weight gradients are bit-identical across runs (no atomics)', () => {
    const x = randn([300, 64], { seed: 21, device }).requiresGrad_();
    const w = randn([64], { seed: 22, device }).requiresGrad_();
    const b = randn([64], { seed: 23, device }).requiresGrad_();
    const grads: Float32Array[] = [];
    for (let run = 0; run < 2; run++) {
      w.zeroGrad();
      layerNorm(x, w, b).sum().backward();
      grads.push(Float32Array.from(w.grad!.dataSync()));
    }
    expect(Array.from(grads[0]!)).to.deep.equal(Array.from(grads[1]!));
  });

  it('rejects bad arguments with messages naming the op and the shapes', () => {
    const x = randn([2, 8], { device });
    expect(() => layerNorm(x, randn([7], { device }), null)).to.throw(
      /layerNorm: 'weight' has shape \[7\] but must be \[8\]/,
    );
    expect(() => rmsNorm(x, randn([8], { device, dtype: 'bf16' }))).to.throw(
      /rmsNorm: 'weight' is bf16\[8\] but 'x' is f32/,
    );
    expect(() => rmsNorm(tensor(new Int32Array(8), { shape: [2, 4], device }), randn([4], { device }))).to.throw(
      /rmsNorm: 'x' must be f32 or bf16 but is i32\[2, 4\]/,
    );
    expect(() => addLayerNorm(x, randn([2, 9], { device }), randn([8], { device }), null)).to.throw(
      /layerNorm: 'residual' has shape \[2, 9\] but 'x' has shape \[2, 8\]/,
    );
  });
});

describeEachDevice('bf16 backward of the dense ops agrees with f32 on the same values', (device) => {
  const cases: [string, number[][], (xs: Tensor[]) => Tensor][] = [
    ['layerNorm', [[16, 96], [96], [96]], ([x, w, b]) => layerNorm(x!, w!, b!)],
    ['addRmsNorm', [[16, 96], [16, 96], [96]], ([x, r, w]) => addRmsNorm(x!, r!, w!).out],
    ['softmax', [[16, 96]], ([x]) => softmax(x!)],
    ['swiglu', [[16, 96]], ([x]) => swiglu(x!)],
    ['gelu', [[16, 96]], ([x]) => gelu(x!)],
  ];
  for (const [name, shapes, op] of cases) {
    it(name, () => {
      const grads = (['bf16', 'f32'] as DType[]).map((dtype) => {
        const xs = shapes.map((s, i) =>
          randn(s, { seed: 40 + i, device, dtype: 'bf16' })
            .cast(dtype)
            .requiresGrad_(),
        );
        const out = op(xs);
        out.backward(randn(out.shape, { seed: 50, device, dtype: 'bf16' }).cast(dtype));
        return xs.map((x) => f64(x.grad!));
      });
      grads[0]!.forEach((g, i) => expectClose(g, grads[1]![i]!, 2e-2, `${name} input ${i}`));
    });
  }
});
