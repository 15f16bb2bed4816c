import { expect } from 'chai';

import {
  arange,
  empty,
  full,
  keep,
  manualSeed,
  memory,
  ones,
  rand,
  randn,
  synchronize,
  tensor,
  tidy,
  zeros,
  type Tensor,
} from '../lib/index.js';
import { describeEachDevice, onGpu } from './support/devices.js';

describeEachDevice('tensor lifecycle', (device) => {
  it('creates from nested arrays, typed arrays and scalars with the right shape and dtype', async () => {
    const a = tensor(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { device },
    );
    expect(a.shape).to.deep.equal([2, 3]);
    expect(a.dtype).to.equal('f32');
    expect(a.device).to.equal(device === 'cuda' ? 'cuda:0' : device);
    expect(Array.from(await a.data())).to.deep.equal([1, 2, 3, 4, 5, 6]);

    const b = tensor(Int32Array.of(7, -8, 9), { device });
    expect(b.dtype).to.equal('i32');
    expect(Array.from(b.dataSync())).to.deep.equal([7, -8, 9]);

    const c = tensor(Float32Array.of(1, 2, 3, 4), { shape: [2, 2], device });
    expect(c.shape).to.deep.equal([2, 2]);

    const s = tensor(3.5, { device });
    expect(s.shape).to.deep.equal([]);
    expect(s.item()).to.equal(3.5);
    expect(await a.array()).to.deep.equal([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    for (const t of [a, b, c, s]) t.dispose();
  });

  it('stores bf16 rounded to nearest-even and reads it back as f32', () => {
    const values = [
      1, 1.00390625 /* 1 + 2^-8: a tie, rounds to 1 */, 1.01171875 /* 1 + 3*2^-8: rounds up */, -3.3, 65504,
    ];
    const t = tensor(values, { dtype: 'bf16', device });
    const back = Array.from(t.dataSync());
    expect(back[0]).to.equal(1);
    expect(back[1]).to.equal(1);
    expect(back[2]).to.equal(1.015625);
    expect(back[3]).to.be.closeTo(-3.3, 0.02);
    const raw = t.rawDataSync();
    expect(raw).to.be.instanceOf(Uint16Array);
    expect(raw[0]).to.equal(0x3f80);
    t.dispose();
  });

  it('builds zeros, ones, full, empty and arange', () => {
    expect(Array.from(zeros([2, 2], { device }).dataSync())).to.deep.equal([0, 0, 0, 0]);
    expect(Array.from(ones([3], { device, dtype: 'bf16' }).dataSync())).to.deep.equal([1, 1, 1]);
    expect(Array.from(full([2], -7, { device, dtype: 'i32' }).dataSync())).to.deep.equal([-7, -7]);
    expect(empty([0, 5], { device }).size).to.equal(0);
    expect(Array.from(arange(4, undefined, 1, { device }).dataSync())).to.deep.equal([0, 1, 2, 3]);
  });

  it('draws repeatable seeded samples, and the global generator advances', () => {
    const a = Array.from(randn([1000], { seed: 7, device }).dataSync());
    const b = randn([1000], { seed: 7, device }).dataSync();
    expect(Array.from(a)).to.deep.equal(Array.from(b));
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    expect(mean).to.be.closeTo(0, 0.1);
    expect(variance).to.be.closeTo(1, 0.15);
    const u = rand([4096], { seed: 3, device, low: -2, high: 2 }).dataSync();
    expect(Math.min(...u)).to.be.at.least(-2);
    expect(Math.max(...u)).to.be.below(2);

    manualSeed(11);
    const first = rand([8], { device }).dataSync();
    const second = rand([8], { device }).dataSync();
    manualSeed(11);
    expect(Array.from(rand([8], { device }).dataSync())).to.deep.equal(Array.from(first));
    expect(Array.from(second)).to.not.deep.equal(Array.from(first));
    // An offset continues the same stream: the second half of a draw equals a draw at that offset.
    const whole = rand([16], { seed: 5, device }).dataSync();
    const tail = rand([8], { seed: 5, offset: 2, device }).dataSync();
    expect(Array.from(tail)).to.deep.equal(Array.from(whole.subarray(8)));
  });

  it('reshapes as a view, with -1 inference', () => {
    const t = arange(12, undefined, 1, { device, dtype: 'f32' });
    const v = t.reshape(3, -1);
    expect(v.shape).to.deep.equal([3, 4]);
    expect(Array.from(v.dataSync())).to.deep.equal(Array.from(t.dataSync()));
    expect(t.reshape([2, 2, 3]).unsqueeze(0).shape).to.deep.equal([1, 2, 2, 3]);
    expect(t.reshape(1, 12).squeeze(0).shape).to.deep.equal([12]);
  });

  it('keeps storage alive while another handle shares it', () => {
    const t = tensor([1, 2, 3], { device });
    const shared = t.share();
    t.dispose();
    expect(t.isDisposed).to.equal(true);
    expect(Array.from(shared.dataSync())).to.deep.equal([1, 2, 3]);
    shared.dispose();
  });

  it('moves between devices and clones independently', () => {
    const t = tensor([1, 2, 3], { device });
    const c = t.clone();
    c.fill(9);
    expect(Array.from(t.dataSync())).to.deep.equal([1, 2, 3]);
    const onCpu = t.to('cpu');
    expect(onCpu.device).to.equal('cpu');
    expect(Array.from(onCpu.dataSync())).to.deep.equal([1, 2, 3]);
    if (onGpu(device)) {
      const back = onCpu.to(device);
      expect(Array.from(back.dataSync())).to.deep.equal([1, 2, 3]);
    }
  });

  it('overwrites elements in stream order with write()', async () => {
    const t = zeros([3], { device });
    const doubled = t.add(1);
    t.write(Float32Array.of(4, 5, 6));
    // `doubled` was queued before the write and must not see it.
    expect(Array.from(await doubled.data())).to.deep.equal([1, 1, 1]);
    expect(Array.from(await t.data())).to.deep.equal([4, 5, 6]);
  });

  it('tidy() disposes what the function created and keeps what it returns', () => {
    const outer = tensor([1, 2], { device });
    let inner: Tensor | undefined;
    let kept: Tensor | undefined;
    const result = tidy(() => {
      inner = outer.add(1);
      kept = keep(outer.mul(3));
      return { sum: inner.add(outer), list: [inner.neg()] };
    });
    expect(inner!.isDisposed).to.equal(true);
    expect(kept!.isDisposed).to.equal(false);
    expect(result.sum.isDisposed).to.equal(false);
    expect(result.list[0]!.isDisposed).to.equal(false);
    expect(outer.isDisposed).to.equal(false);
    expect(Array.from(result.sum.dataSync())).to.deep.equal([3, 5]);
  });

  it('tidy() disposes everything when the function throws', () => {
    let created: Tensor | undefined;
    expect(() =>
      tidy(() => {
        created = ones([2], { device });
        throw new Error('boom');
      }),
    ).to.throw('boom');
    expect(created!.isDisposed).to.equal(true);
  });

  it('reports allocator statistics', () => {
    // Queued work holds its tensors until it has run, so measure at synchronisation points.
    synchronize(device);
    const before = memory(device).bytesInUse;
    const t = zeros([1024], { device });
    expect(memory(device).bytesInUse).to.be.at.least(before + 4096);
    t.dispose();
    synchronize(device);
    expect(memory(device).bytesInUse).to.equal(before);
  });
});
