import { expect } from 'chai';

import { concat, narrow, permute, split, stack, transpose } from '../lib/index.js';
import { describeEachDevice } from './support/devices.js';
import { gradCheck, randomInput } from './support/reference.js';

/** Reference permute over a flat row-major array. */
function permuteRef(values: Float64Array, shape: number[], dims: number[]): Float64Array {
  const outShape = dims.map((d) => shape[d]!);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float64Array(values.length);
  for (let flat = 0; flat < values.length; flat++) {
    let rest = flat;
    let src = 0;
    for (let d = outShape.length - 1; d >= 0; d--) {
      const i = rest % outShape[d]!;
      rest = Math.floor(rest / outShape[d]!);
      src += i * strides[dims[d]!]!;
    }
    out[flat] = values[src]!;
  }
  return out;
}

function narrowRef(values: Float64Array, shape: number[], axis: number, start: number, length: number): Float64Array {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let o = 0; o < outer; o++)
    for (let i = start; i < start + length; i++)
      for (let j = 0; j < inner; j++) out.push(values[(o * shape[axis]! + i) * inner + j]!);
  return Float64Array.from(out);
}

describeEachDevice('layout', (device) => {
  for (const dtype of ['f32', 'bf16', 'i32'] as const)
    it(`permutes ${dtype} tensors exactly`, () => {
      const { t, values } = randomInput([2, 3, 4, 5], 1, device, dtype === 'i32' ? 'f32' : dtype, 10);
      const x = dtype === 'i32' ? t.cast('i32') : t;
      const exact = dtype === 'i32' ? Float64Array.from(x.dataSync()) : values;
      const dims = [2, 0, 3, 1];
      const out = permute(x, dims);
      expect(out.shape).to.deep.equal([4, 2, 5, 3]);
      expect(out.dtype).to.equal(x.dtype);
      expect([...out.dataSync()]).to.deep.equal([...permuteRef(exact, [2, 3, 4, 5], dims)]);
      expect([...transpose(x, 1, -1).dataSync()]).to.deep.equal([...permuteRef(exact, [2, 3, 4, 5], [0, 3, 2, 1])]);
    });

  it('narrows, splits and concatenates along any axis', () => {
    const { t, values } = randomInput([3, 7, 4], 2, device);
    expect([...narrow(t, 1, 2, 3).dataSync()]).to.deep.equal(
      [...narrowRef(values, [3, 7, 4], 1, 2, 3)].map(Math.fround),
    );
    const parts = split(t, [2, 5], 1);
    expect(parts.map((p) => p.shape)).to.deep.equal([
      [3, 2, 4],
      [3, 5, 4],
    ]);
    expect([...concat(parts, 1).dataSync()]).to.deep.equal([...t.dataSync()]);
    expect(split(t, 3, 1).map((p) => p.shape[1])).to.deep.equal([3, 3, 1]);
    const stacked = stack([t, t], 1);
    expect(stacked.shape).to.deep.equal([3, 2, 7, 4]);
  });

  it('gradients of permute, narrow and concat match finite differences', () => {
    const a = randomInput([2, 3, 4], 3, device);
    const b = randomInput([2, 2, 4], 4, device);
    gradCheck({
      device,
      inputs: [{ values: a.values, shape: [2, 3, 4] }],
      forward: ([x]) => permute(x!, [2, 0, 1]).square(),
      reference: ([x]) => permuteRef(x!, [2, 3, 4], [2, 0, 1]).map((v) => v * v),
    });
    gradCheck({
      device,
      inputs: [{ values: a.values, shape: [2, 3, 4] }],
      forward: ([x]) => narrow(x!, 1, 1, 2).square(),
      reference: ([x]) => narrowRef(x!, [2, 3, 4], 1, 1, 2).map((v) => v * v),
    });
    gradCheck({
      device,
      inputs: [
        { values: a.values, shape: [2, 3, 4] },
        { values: b.values, shape: [2, 2, 4] },
      ],
      forward: ([x, y]) => concat([x!, y!], 1).square(),
      reference: ([x, y]) => {
        const out: number[] = [];
        for (let i = 0; i < 2; i++) {
          out.push(...x!.subarray(i * 12, i * 12 + 12));
          out.push(...y!.subarray(i * 8, i * 8 + 8));
        }
        return Float64Array.from(out, (v) => v * v);
      },
    });
  });

  it('rejects bad axes, ranges and mismatched tensors', () => {
    const { t } = randomInput([2, 3], 5, device);
    const { t: u } = randomInput([3, 3], 6, device);
    expect(() => permute(t, [0, 0])).to.throw(/permute: 'dims' names axis 0 twice/);
    expect(() => permute(t, [0])).to.throw(/'dims' has 1 entries but the tensor \[2, 3\] has 2 axes/);
    expect(() => narrow(t, 1, 2, 2)).to.throw(/narrow: \[2, 4\) is outside axis 1 of \[2, 3\] \(extent 3\)/);
    expect(() => concat([t, u], 1)).to.throw(
      /concat: 'tensors\[1\]' \[3, 3\] differs from tensors\[0\] \[2, 3\] on axis 0/,
    );
    expect(() => split(t, [1, 1], 1)).to.throw(/add up to 2, not the extent 3/);
  });
});
