import { expect } from 'chai';

import { memory, randn, synchronize, tidy } from '../lib/index.js';
import { describeEachDevice } from './support/devices.js';

const gc = (globalThis as { gc?: () => void }).gc;

function cycle(device: string, i: number): number {
  const a = randn([256], { seed: i, device });
  const b = a.mul(2);
  const c = b.add(1);
  const s = c.sum();
  const value = s.item();
  for (const t of [a, b, c, s]) t.dispose();
  return value;
}

describeEachDevice('memory stays flat', (device) => {
  it('over 10,000 create/dispose cycles, by allocator statistics and by RSS', () => {
    for (let i = 0; i < 500; i++) cycle(device, i); // warm caches and the allocator
    synchronize(device);
    gc?.();
    const before = memory(device);
    const rssBefore = process.memoryUsage().rss;
    let checksum = 0;
    for (let i = 0; i < 10_000; i++) checksum += cycle(device, i);
    synchronize(device);
    gc?.();
    const after = memory(device);
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    expect(Number.isFinite(checksum)).to.equal(true);
    expect(after.bytesInUse, 'bytes held by live tensors').to.equal(before.bytesInUse);
    expect(after.liveBlocks, 'live blocks').to.equal(before.liveBlocks);
    expect(after.totalAllocations - before.totalAllocations).to.equal(40_000);
    expect(rssGrowth, `RSS grew by ${(rssGrowth / 2 ** 20).toFixed(1)} MiB`).to.be.below(32 * 2 ** 20);
  });

  it('with tidy() doing the disposing', () => {
    const run = () =>
      tidy(() => {
        const x = randn([64, 64], { seed: 1, device });
        return x.mul(x).sum().add(1).item();
      });
    for (let i = 0; i < 100; i++) run();
    synchronize(device);
    const before = memory(device).bytesInUse;
    for (let i = 0; i < 2000; i++) run();
    synchronize(device);
    expect(memory(device).bytesInUse).to.equal(before);
  });
});
