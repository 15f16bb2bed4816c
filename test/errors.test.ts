import { expect } from 'chai';

import { cudaAvailable, full, rand, randn, tensor, zeros } from '../lib/index.js';
import { describeEachDevice } from './support/devices.js';

describeEachDevice('clear errors for bad input', (device) => {
  it('names mismatched shapes that cannot broadcast', () => {
    const a = zeros([2, 3], { device });
    const b = zeros([4], { device });
    expect(() => a.add(b)).to.throw(/add: shapes \[2, 3\] \(a\) and \[4\] \(b\) cannot be broadcast together/);
  });

  it('names a dtype mismatch and says how to fix it', () => {
    const a = zeros([2], { device });
    const b = zeros([2], { device, dtype: 'i32' });
    expect(() => a.mul(b)).to.throw(/mul: 'a' is f32 but 'b' is i32; cast one of them first/);
    expect(() => b.exp()).to.throw(/exp: needs a floating tensor but got i32/);
    expect(() => b.sum()).to.throw(/sum: needs a floating tensor but got i32/);
  });

  it('rejects a disposed tensor by name', () => {
    const a = zeros([2], { device });
    const b = zeros([2], { device });
    b.dispose();
    expect(() => a.add(b)).to.throw(/add: 'b' was disposed and cannot be used any more/);
    expect(() => b.dataSync()).to.throw(/was disposed/);
  });

  it('rejects non-integer, negative and overflowing sizes', () => {
    expect(() => zeros([2.5], { device })).to.throw(/'shape'\[0\] = 2.5 is not a non-negative integer/);
    expect(() => zeros([-1], { device })).to.throw(/is not a non-negative integer/);
    expect(() => zeros([1e9, 1e9], { device })).to.throw(/more than 2\^53 elements and would overflow memory/);
    expect(() => zeros([2 ** 40], { device })).to.throw(/out of memory/);
  });

  it('rejects a NaN or negative seed', () => {
    expect(() => randn([2], { seed: NaN, device })).to.throw(/randn: seed must be a non-negative integer, got NaN/);
    expect(() => rand([2], { seed: -1, device })).to.throw(/rand: seed must be a non-negative integer/);
  });

  it('rejects a reshape that changes the element count', () => {
    expect(() => zeros([2, 3], { device }).reshape(4, 2)).to.throw(
      /reshape: cannot reshape a tensor of shape \[2, 3\] \(6 elements\) to \[4, 2\]/,
    );
  });

  it('rejects bad values for a dtype', () => {
    expect(() => tensor([1.5], { dtype: 'i32', device })).to.throw(/i32 values must be integers/);
    expect(() => tensor([[1, 2], [3]], { device })).to.throw(/ragged nested array/);
    expect(() => full([2], 1, { dtype: 'f64' as never, device })).to.throw(/'dtype' must be 'f32', 'bf16' or 'i32'/);
  });

  it('rejects an out-of-range axis', () => {
    expect(() => zeros([2, 3], { device }).sum(2)).to.throw(
      /sum: axis 2 is out of range for a tensor of shape \[2, 3\]/,
    );
  });
});

describe('device errors', () => {
  it('rejects unknown device strings', () => {
    expect(() => zeros([2], { device: 'tpu' })).to.throw(/unknown device 'tpu': use 'cpu', 'cuda' or 'cuda:N'/);
  });

  it('explains why CUDA cannot be used when it cannot', function () {
    if (cudaAvailable()) this.skip();
    expect(() => zeros([2], { device: 'cuda' })).to.throw(/cuda:0 is not (usable|available)/);
  });

  it('refuses to mix devices in one op', function () {
    if (!cudaAvailable()) this.skip();
    const a = zeros([2], { device: 'cpu' });
    const b = zeros([2], { device: 'cuda' });
    expect(() => a.add(b)).to.throw(/'b' is on cuda:0 but the op runs on cpu; move it with .to\('cpu'\)/);
  });
});
